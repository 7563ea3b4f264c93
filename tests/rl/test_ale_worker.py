"""A real worker on an ALE game with the training setup, through shared memory to the inference
server: what the learner's unrolls hold."""

import numpy as np

from retro_rl.envs import EnvConfig
from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network
from retro_rl.rl import transport
from retro_rl.rl.channels import ConnectionLost, LocalChannel
from retro_rl.rl.inference import InferenceServer
from retro_rl.rl.unroll import UnrollSpec
from retro_rl.rl.worker import Player
from tests.support import CheckedThread


def test_the_learner_gets_clipped_rewards_and_lives_as_episodes_and_the_games_score():
    """Space Invaders: 5 to 30 points an invader, three lives."""
    env_config = EnvConfig(game="ALE/SpaceInvaders-v5", obs_size=36).with_training_defaults()
    network_config = NetworkConfig(num_actions=env_config.num_actions, lstm_units=16)
    network = create_network(network_config, env_config.observation_shape, seed=0)
    spec = UnrollSpec(50, env_config.observation_shape, network_config.num_actions,
                      network_config.lstm_units)
    server = InferenceServer(network, spec, seed=0, queue_size=1000, local_folder=True).start()
    service = transport.LearnerService({}, server)
    env = env_config.make()
    channel = LocalChannel(server.local_address, 0, env_config.observation_shape, 30)
    player = Player(env, [None], seed=0)

    def play():
        try:
            player.play(channel)
        except ConnectionLost:
            pass  # the server closed once it had a whole game

    thread = CheckedThread(play)
    thread.start()
    unrolls = []
    while not any(item["episodes"] for item in unrolls) and len(unrolls) < 60:
        unrolls.append(server.unroll_queue.get(timeout=60))
    server.close()
    thread.join(timeout=30)
    service.close()
    env.close()

    (game,) = [episode for item in unrolls for episode in item["episodes"]]
    rewards = np.concatenate([item["rewards"] for item in unrolls])
    terminated = np.concatenate([item["terminated"] for item in unrolls])
    assert set(rewards) == {0.0, 1.0}  # each hit's sign
    assert terminated.sum() == 3  # each life lost ended an episode for learning ...
    # ... while the statistics are the one whole game, in the game's points.
    assert game["return"] % 5 == 0 and game["return"] > 5 * rewards.sum()
