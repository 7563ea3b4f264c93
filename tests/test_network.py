import numpy as np
import pytest
import keras

import network as nw
from cli import UserError
from env_wrappers import EnvConfig

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
    config = nw.NetworkConfig(use_prev_action=True, use_prev_reward=True)
    return nw.create_network(config, OBS_SHAPE, seed=0)


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
    np.testing.assert_allclose(np.concatenate([first_values, second_values]), whole_values, atol=1e-5)
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
    observations, starts, actions, rewards = random_inputs(network, 4, 3, starts=[(0, 0), (0, 1), (0, 2)])
    logits, values, _ = network.unroll(observations, starts, actions, rewards, network.initial_state(3))
    state = network.initial_state(3)
    for t in range(4):
        step_logits, step_values, state = network.step(
            observations[t], starts[t], actions[t], rewards[t], state)
        np.testing.assert_allclose(step_logits, logits[t], atol=1e-5)
        np.testing.assert_allclose(step_values, values[t], atol=1e-5)


@pytest.mark.parametrize("torso", ["nature", "impala"])
def test_model_folder_round_trip(tmp_path, torso):
    config = nw.NetworkConfig(torso=torso, lstm_units=32)
    network = nw.create_network(config, OBS_SHAPE, seed=1)
    env_config = EnvConfig(frame_skip=3)
    inputs = random_inputs(network, 3, 2)
    before, _, _ = network.unroll(*inputs, network.initial_state(2))
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(network.trainable_variables)
    optimizer.iterations.assign(17)
    path = tmp_path / "model" / "supervised_model_5"
    nw.save_model(path, network, env_config, {"kind": "supervised", "step": 5}, optimizer)

    loaded, loaded_env_config, config_dict = nw.load_model(path)
    assert loaded_env_config == env_config and loaded.config == config
    assert config_dict["step"] == 5
    after, _, _ = loaded.unroll(*inputs, loaded.initial_state(2))
    np.testing.assert_array_equal(before, after)

    restored = keras.optimizers.Adam(1e-3)
    assert nw.load_optimizer_state(path, restored, loaded.trainable_variables)
    assert int(restored.iterations.numpy()) == 17

    # Perturbed weights give other outputs: the comparison above is not vacuous.
    loaded.set_weights([w + 0.01 for w in loaded.get_weights()])
    perturbed, _, _ = loaded.unroll(*inputs, loaded.initial_state(2))
    assert not np.allclose(before, perturbed)

    assert nw.list_models(tmp_path) == ["supervised_model_5"]
    nw.save_model(tmp_path / "model" / "supervised_model_12", network, env_config)
    assert nw.newest_checkpoint(tmp_path, "supervised_model_").endswith("supervised_model_12")


def test_not_a_model_folder(tmp_path):
    with pytest.raises(UserError, match="not a model folder"):
        nw.load_model(tmp_path)
    with pytest.raises(UserError, match="torso"):
        nw.NetworkConfig(torso="transformer")
