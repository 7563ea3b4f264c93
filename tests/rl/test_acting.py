"""The actor's unrolls on the real emulator: what the learner recomputes from them matches what
the actor did, episode ends inside an unroll included."""

import numpy as np
import pytest

from retro_rl.agent import Agent
from retro_rl.envs import EnvConfig
from retro_rl.errors import UserError
from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network
from retro_rl.rl import transport, unroll
from retro_rl.rl.acting import UnrollCollector
from retro_rl.rl.config import RunSettings
from retro_rl.rl.unroll import UnrollSpec
from retro_rl.rl.update import unroll_network

UNROLL_LENGTH = 10
# Episodes of 7 agent steps: every unroll holds a time-limit truncation and a reset.
ENV = EnvConfig(obs_size=36, max_episode_steps=7)
NETWORK = NetworkConfig(num_actions=ENV.num_actions, lstm_units=16, use_prev_action=True,
                        use_prev_reward=True)


@pytest.fixture(scope="module")
def played():
    """Four consecutive unrolls, sent through the wire format, and the network that chose them."""
    network = create_network(NETWORK, ENV.observation_shape, seed=3)
    env = ENV.make()
    try:
        # Two names for the one Airstriker state: exercises drawing a start state per episode.
        collector = UnrollCollector(env, Agent(network, 1, seed=0), UNROLL_LENGTH,
                                    ["Level1", "Level1"], seed=0)
        spec = UnrollSpec(UNROLL_LENGTH, ENV.observation_shape, ENV.num_actions,
                          NETWORK.lstm_units)
        unrolls = []
        for _ in range(4):
            sent = transport.decode_unroll(transport.encode_unroll(collector.collect(0)))
            spec.validate(sent, latest_version=0)
            unrolls.append(sent)
    finally:
        env.close()
    return network, unrolls


def test_learner_recomputes_the_behaviour_logits(played):
    network, unrolls = played
    assert sum(item["dones"].sum() for item in unrolls) >= 4
    assert not any(item["terminated"].any() for item in unrolls)  # only the time limit
    batch = unroll.stack(unrolls)
    logits, _, _ = unroll_network(network, batch)
    # Same weights, so the learner's policy is the behaviour policy at every step: initial
    # state, resets at episode starts and previous action/reward all agree with the actor's.
    np.testing.assert_allclose(logits.numpy()[:-1], batch["behaviour_logits"], atol=1e-4)


def test_unrolls_continue_each_other_with_real_observations(played):
    network, unrolls = played
    for previous, current in zip(unrolls, unrolls[1:]):
        # Observation T of one unroll is a real frame and the next unroll's observation 0.
        assert previous["observations"][-1].any()
        np.testing.assert_array_equal(previous["observations"][-1], current["observations"][0])
        assert current["episode_start"][0] == previous["dones"][-1]
        assert current["last_action"] == previous["actions"][-1]
        assert current["last_reward"] == pytest.approx(previous["rewards"][-1])
        # The state carried into the next unroll is the state after this one's T steps.
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


def test_settings_that_are_not_this_projects_are_refused():
    with pytest.raises(UserError, match="settings are incomplete"):
        RunSettings.from_dict({"env": {"game": "Airstriker-Genesis-v0"}})
    with pytest.raises(UserError, match="unknown network settings"):
        RunSettings.from_dict({"env": {}, "network": {"layers": 3}, "states": [None],
                               "unroll_length": 5, "observation_shape": [36, 36, 3]})
