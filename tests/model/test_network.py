"""The CNN-LSTM: shapes, carried state, episode starts, and the acting step."""

import numpy as np
import pytest

from retro_rl.errors import UserError
from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network

OBS_SHAPE = (84, 84, 3)


def random_inputs(network, time, batch, seed=0, starts=()):
    rng = np.random.default_rng(seed)
    observations = rng.integers(0, 256, (time, batch, *OBS_SHAPE), dtype=np.uint8)
    episode_start = np.zeros((time, batch), bool)
    for t, b in starts:
        episode_start[t, b] = True
    prev_actions = rng.integers(0, network.config.num_actions, (time, batch)).astype(np.int32)
    prev_rewards = rng.normal(size=(time, batch)).astype(np.float32)
    return observations, episode_start, prev_actions, prev_rewards


@pytest.fixture(scope="module")
def network():
    config = NetworkConfig(use_prev_action=True, use_prev_reward=True)
    return create_network(config, OBS_SHAPE, seed=0)


def test_unroll_shapes(network):
    inputs = random_inputs(network, 5, 3)
    logits, values, (h, c) = network.unroll(*inputs, network.initial_state(3))
    assert logits.shape == (5, 3, 23) and values.shape == (5, 3)
    assert h.shape == c.shape == (3, 256)
    assert np.isfinite(logits.numpy()).all()


def test_two_chunks_with_carried_state_equal_one(network):
    observations, starts, actions, rewards = random_inputs(network, 12, 2, starts=[(7, 1)])
    whole, whole_values, whole_state = network.unroll(
        observations, starts, actions, rewards, network.initial_state(2))
    first, first_values, state = network.unroll(
        observations[:5], starts[:5], actions[:5], rewards[:5], network.initial_state(2))
    second, second_values, end_state = network.unroll(
        observations[5:], starts[5:], actions[5:], rewards[5:], state)
    np.testing.assert_allclose(np.concatenate([first, second]), whole, atol=1e-5)
    np.testing.assert_allclose(np.concatenate([first_values, second_values]), whole_values,
                               atol=1e-5)
    np.testing.assert_allclose(end_state[0], whole_state[0], atol=1e-5)


def test_episode_start_resets_the_state(network):
    observations, starts, actions, rewards = random_inputs(network, 6, 1, starts=[(3, 0)])
    logits, _, _ = network.unroll(observations, starts, actions, rewards, network.initial_state(1))
    # From the episode start on, the outputs are those of a fresh unroll of the tail alone,
    # whatever came before and whatever the previous action and reward at the start were.
    tail_actions, tail_rewards = actions[3:].copy(), rewards[3:].copy()
    tail_actions[0], tail_rewards[0] = (tail_actions[0] + 1) % 23, tail_rewards[0] + 7
    tail, _, _ = network.unroll(
        observations[3:], starts[3:], tail_actions, tail_rewards, network.initial_state(1))
    np.testing.assert_allclose(logits[3:], tail, atol=1e-5)
    # Without the start flag the history matters.
    no_start, _, _ = network.unroll(
        observations, np.zeros_like(starts), actions, rewards, network.initial_state(1))
    assert not np.allclose(no_start[3:], tail, atol=1e-4)


def test_step_matches_unroll(network):
    observations, starts, actions, rewards = random_inputs(network, 4, 3,
                                                           starts=[(0, 0), (0, 1), (0, 2)])
    logits, values, _ = network.unroll(observations, starts, actions, rewards,
                                       network.initial_state(3))
    state = network.initial_state(3)
    for t in range(4):
        step_logits, step_values, state = network.step(
            observations[t], starts[t], actions[t], rewards[t], state)
        np.testing.assert_allclose(step_logits, logits[t], atol=1e-5)
        np.testing.assert_allclose(step_values, values[t], atol=1e-5)


def test_bad_settings_fail_when_made():
    with pytest.raises(UserError, match="torso"):
        NetworkConfig(torso="transformer")
