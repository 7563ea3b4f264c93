"""The inference server with real channels: batched actions equal an unbatched agent's for
every worker, and the unrolls it builds from a real emulator are what the learner recomputes."""

import dataclasses
import time

import numpy as np
import pytest

from retro_rl.agent import Agent
from retro_rl.envs import EnvConfig
from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network
from retro_rl.rl import transport, unroll
from retro_rl.rl.channels import ConnectionLost, LocalChannel, StepReport
from retro_rl.rl.inference import InferenceServer
from retro_rl.rl.unroll import UnrollSpec
from retro_rl.rl.losses import unroll_network
from retro_rl.rl.worker import Player
from tests.support import CheckedThread

OBS_SHAPE = (36, 36, 3)
NETWORK = NetworkConfig(num_actions=6, lstm_units=16, use_prev_action=True, use_prev_reward=True)


class SlowNetwork:
    """The real network, 50 ms slower per step: reports pile up during a pass, so the next
    pass is a batch of several workers whatever the machine's speed."""

    def __init__(self, network):
        self.network = network

    def step(self, *inputs):
        time.sleep(0.05)
        return self.network.step(*inputs)


def serve(network, spec):
    server = InferenceServer(network, spec, seed=5, queue_size=1000, local_folder=True).start()
    return server, transport.LearnerService({}, server)


def scripted_worker(channel, observations, rewards, ends, actions):
    """Reports `observations` in order: ends[i] means step i-1 ended an episode by game over."""
    report = StepReport(observations[0], first=True)
    for step in range(1, len(observations)):
        action, stop = channel.step(report)
        assert not stop
        actions.append(action)
        done = bool(ends[step])
        episode = {"return": 1.0, "length": 3, "frames": 12, "level_complete": 0.0,
                   "rooms": 2.0} if done else None
        report = StepReport(observations[step], float(rewards[step]), done, done, None, episode)
    actions.append(channel.step(report)[0])  # the last report: its step completes an unroll
    channel.close()


def test_three_workers_batched_act_as_three_unbatched_agents(tmp_path):
    network = create_network(NETWORK, OBS_SHAPE, seed=1)
    spec = UnrollSpec(5, OBS_SHAPE, NETWORK.num_actions, NETWORK.lstm_units)
    server, service = serve(SlowNetwork(network), spec)
    rng = np.random.default_rng(0)
    steps = 16  # reports: their 15 steps make three unrolls of 5, the last answer starts a 4th
    scripts = []
    for worker in range(3):
        observations = rng.integers(0, 256, (steps, *OBS_SHAPE), dtype=np.uint8)
        ends = np.zeros(steps, bool)
        if worker == 1:
            ends[[7, 11]] = True  # worker 1 starts two new episodes; the others never do
        scripts.append((observations, rng.normal(size=steps).astype(np.float32), ends, []))
    client = transport.WorkerClient(service.address, worker_id=2)
    channels = [LocalChannel(server.local_address, worker, OBS_SHAPE, 30)
                for worker in (0, 1)] + [client.remote_channel()]  # worker 2 over gRPC
    threads = [CheckedThread(scripted_worker, (channel, *script))
               for channel, script in zip(channels, scripts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    unrolls = [server.unroll_queue.get(timeout=10) for _ in range(9)]
    assert server.counters["forward_rows"] > server.counters["forward_passes"]  # batched
    server.close()
    service.close()
    client.close()

    for worker, (observations, rewards, ends, actions) in enumerate(scripts):
        mine = [item for item in unrolls if item["worker_id"] == worker]
        assert len(mine) == 3
        logits = np.concatenate([item["behaviour_logits"] for item in mine])
        sent = np.concatenate([item["actions"] for item in mine])
        np.testing.assert_array_equal(sent, actions[:15])
        # The reference: one unbatched agent per worker, seeded as the server seeds it.
        agent = Agent(network, 1, seed=5 + worker)
        for step in range(15):
            if step > 0:
                agent.observe([actions[step - 1]], [rewards[step]], [ends[step]])
            action = agent.act(observations[step][None])
            np.testing.assert_allclose(logits[step], agent.logits[0], atol=1e-4)
            assert action[0] == actions[step], (worker, step)
        starts = np.concatenate([item["episode_start"][:-1] for item in mine])
        np.testing.assert_array_equal(starts, np.concatenate([[True], ends[1:15]]))


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    """Four unrolls a real worker played on Airstriker through shared memory, with episodes of
    7 agent steps (every unroll of 10 holds a time-limit truncation and a reset)."""
    env_config = EnvConfig(obs_size=36, max_episode_steps=7)
    network = create_network(dataclasses.replace(NETWORK, num_actions=23),
                             env_config.observation_shape, seed=3)
    spec = UnrollSpec(10, env_config.observation_shape, 23, NETWORK.lstm_units)
    server, service = serve(network, spec)
    env = env_config.make()
    channel = LocalChannel(server.local_address, 0, env_config.observation_shape, 30)
    # Two names for the one Airstriker state: exercises drawing a start state per episode.
    player = Player(env, ["Level1", "Level1"], seed=0)
    def play():
        try:
            player.play(channel)
        except ConnectionLost:
            pass  # the server closed once it had what the tests need

    thread = CheckedThread(play)
    thread.start()
    unrolls = [server.unroll_queue.get(timeout=60) for _ in range(4)]
    server.close()  # the worker's channel closes with it
    thread.join(timeout=30)
    service.close()
    env.close()
    return network, unrolls


def test_the_learner_recomputes_the_behaviour_logits(played):
    network, unrolls = played
    assert sum(item["dones"].sum() for item in unrolls) >= 4
    assert not any(item["terminated"].any() for item in unrolls)  # only the time limit
    batch = unroll.stack(unrolls)
    logits, _, _ = unroll_network(network, batch)
    # Same weights, so the learner's policy is the behaviour policy at every step: initial
    # state, resets at episode starts and previous action/reward all agree with inference.
    np.testing.assert_allclose(logits.numpy()[:-1], batch["behaviour_logits"], atol=1e-4)


def test_unrolls_continue_each_other_with_real_observations(played):
    network, unrolls = played
    for previous, current in zip(unrolls, unrolls[1:]):
        assert previous["observations"][-1].any()
        np.testing.assert_array_equal(previous["observations"][-1], current["observations"][0])
        assert current["episode_start"][0] == previous["dones"][-1]
        assert current["last_action"] == previous["actions"][-1]
        assert current["last_reward"] == pytest.approx(previous["rewards"][-1])
        batch = unroll.stack([previous])
        _, _, state = network.unroll(
            batch["observations"][:-1], batch["episode_start"][:-1],
            np.concatenate([batch["last_action"][None], batch["actions"][:-1]]),
            np.concatenate([batch["last_reward"][None], batch["rewards"][:-1]]),
            (batch["initial_state_h"], batch["initial_state_c"]))
        np.testing.assert_allclose(state[0].numpy()[0], current["initial_state_h"], atol=1e-5)
        np.testing.assert_allclose(state[1].numpy()[0], current["initial_state_c"], atol=1e-5)


def test_truncated_steps_carry_the_value_of_the_last_observation(played):
    _, unrolls = played
    for item in unrolls:
        truncated = item["dones"] & ~item["terminated"]
        assert (item["truncation_values"][truncated] != 0).all()
        assert (item["truncation_values"][~truncated] == 0).all()
        assert [episode["length"] for episode in item["episodes"]] == [7] * truncated.sum()
        assert all(episode["frames"] == 28 for episode in item["episodes"])
        np.testing.assert_array_equal(item["episode_start"][1:], item["dones"])
