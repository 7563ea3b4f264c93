"""The learner's update on one batch: every term trains, the value warm-up and the value head's
own step size, V-trace's bootstrap at game overs and truncations."""

import keras
import numpy as np
import pytest

from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network
from retro_rl.rl import unroll
from retro_rl.rl.config import LearnerConfig
from retro_rl.rl.unroll import FIELD_NAMES, UnrollSpec
from retro_rl.rl.losses import unroll_network
from retro_rl.rl.optimizer import make_optimizer
from retro_rl.rl.update import make_update
from tests.rl.unrolls import make_unroll

OBS_SHAPE = (36, 36, 3)
NUM_ACTIONS = 5
TINY = NetworkConfig(num_actions=NUM_ACTIONS, lstm_units=16, use_prev_action=True,
                     use_prev_reward=True)
SPEC6 = UnrollSpec(6, OBS_SHAPE, NUM_ACTIONS, TINY.lstm_units)


def test_value_warmup_trains_the_value_head_alone_then_everything():
    config = LearnerConfig(unroll_length=6, batch_size=2, learning_rate=1e-3)
    network = create_network(TINY, OBS_SHAPE, seed=0)
    update = make_update(network, make_optimizer(network, config), config)
    value_head = {id(v) for v in network.value_head.trainable_variables}
    is_value = [id(v) in value_head for v in network.trainable_variables]
    assert any(is_value) and not all(is_value)
    rng = np.random.default_rng(2)

    def changed_by(train_policy):
        before = [v.numpy().copy() for v in network.trainable_variables]
        update(unroll.stack([make_unroll(SPEC6, rng.integers(1 << 30)) for _ in range(2)]),
               train_policy)
        return [not np.array_equal(b, v.numpy())
                for b, v in zip(before, network.trainable_variables)]

    for _ in range(2):  # frozen stays frozen after Adam has moments for the value head
        assert changed_by(train_policy=False) == is_value
    assert all(changed_by(train_policy=True))


def test_the_value_head_steps_at_its_own_learning_rate():
    """Adam's first step moves each weight by about its step size, whatever the gradient's
    scale: the value head's by value_learning_rate, every other weight's by learning_rate."""
    config = LearnerConfig(unroll_length=6, batch_size=2, learning_rate=1e-6,
                           value_learning_rate=1e-2)
    network = create_network(TINY, OBS_SHAPE, seed=0)
    update = make_update(network, make_optimizer(network, config), config)
    before = [v.numpy().copy() for v in network.trainable_variables]
    update(unroll.stack([make_unroll(SPEC6, seed) for seed in (3, 4)]))
    value_head = {id(v) for v in network.value_head.trainable_variables}
    steps = {True: [], False: []}
    for old, variable in zip(before, network.trainable_variables):
        steps[id(variable) in value_head].append(np.abs(variable.numpy() - old).max())
    assert 0.5e-2 < max(steps[True]) <= 1.05e-2  # float32 rounding of the weights
    assert 0 < max(steps[False]) <= 1.05e-6


def test_stacked_batch_is_time_major():
    unrolls = [make_unroll(SPEC6, seed) for seed in range(3)]
    batch = unroll.stack(unrolls)
    assert set(batch) == set(FIELD_NAMES) | {"worker_id"}
    assert batch["observations"].shape == (7, 3, *OBS_SHAPE)
    assert batch["behaviour_logits"].shape == (6, 3, NUM_ACTIONS)
    assert batch["initial_state_h"].shape == (3, TINY.lstm_units)
    np.testing.assert_array_equal(batch["actions"][:, 2], unrolls[2]["actions"])
    np.testing.assert_array_equal(batch["last_action"], [3, 3, 3])


def test_one_update_trains_every_term_and_leaves_the_anchor_alone():
    config = LearnerConfig(unroll_length=6, batch_size=2, kl_cost=0.5, learning_rate=1e-3)
    network = create_network(TINY, OBS_SHAPE, seed=0)
    anchor = create_network(TINY, OBS_SHAPE, seed=1)  # a different "pretrained" policy
    anchor_before = [w.copy() for w in anchor.get_weights()]
    before = [w.copy() for w in network.get_weights()]
    update = make_update(network, keras.optimizers.Adam(config.learning_rate), config, anchor)
    rng = np.random.default_rng(1)
    metrics = update(unroll.stack([make_unroll(SPEC6, rng.integers(1 << 30)) for _ in range(2)]))
    metrics = {name: float(value) for name, value in metrics.items()}

    for name in ("losses/policy", "losses/value", "losses/entropy", "losses/kl", "losses/total"):
        assert np.isfinite(metrics[name]) and metrics[name] != 0.0, (name, metrics[name])
    assert metrics["losses/entropy"] < 0  # a bonus: more entropy lowers the loss
    assert 0 < metrics["charts/entropy"] <= np.log(NUM_ACTIONS) + 1e-5
    assert metrics["charts/kl_to_pretrained"] > 0
    assert 0 <= metrics["vtrace/rho_clip_fraction"] <= 1
    after = network.get_weights()
    changed = [not np.array_equal(b, a) for b, a in zip(before, after)]
    assert all(changed), f"{changed.count(False)} weight arrays did not change"
    for frozen, now in zip(anchor_before, anchor.get_weights()):
        np.testing.assert_array_equal(frozen, now)


def test_a_game_over_bootstraps_from_nothing_and_a_truncation_from_its_value():
    """With one step per unroll the value target is exactly r + gamma * (bootstrap)."""
    config = LearnerConfig(unroll_length=1, batch_size=3, discount=0.5, learning_rate=1e-9)
    network = create_network(TINY, OBS_SHAPE, seed=0)
    spec = UnrollSpec(1, OBS_SHAPE, NUM_ACTIONS, TINY.lstm_units)
    unrolls = []
    for seed, (done, terminated, truncation_value) in enumerate(
            [(False, False, 0.0), (True, True, 0.0), (True, False, 8.0)]):
        item = make_unroll(spec, seed, game_overs=[0] if terminated else [],
                           truncations=[0] if done and not terminated else [])
        item["rewards"][:] = 1.0
        item["truncation_values"][:] = truncation_value
        unrolls.append(item)
    batch = unroll.stack(unrolls)
    logits, values, _ = unroll_network(network, batch)
    # Greedy behaviour logits equal to the learner's: on-policy, every ratio is 1.
    batch["behaviour_logits"] = logits.numpy()[:1]
    update = make_update(network, keras.optimizers.SGD(1e-9), config)
    metrics = update(batch)
    assert float(metrics["vtrace/importance_ratio"]) == pytest.approx(1.0, abs=1e-5)
    v0, bootstrap = values.numpy()[0], values.numpy()[1]
    expected_targets = [1.0 + 0.5 * bootstrap[0], 1.0, 1.0 + 0.5 * 8.0]
    expected_loss = 0.5 * 0.5 * np.mean((np.array(expected_targets) - v0) ** 2)
    assert float(metrics["losses/value"]) == pytest.approx(expected_loss, rel=1e-4)


def test_a_step_whose_loss_is_not_finite_is_skipped_and_counted():
    """Rewards of 1e20 pass as finite floats but overflow the loss: nothing may change."""
    config = LearnerConfig(unroll_length=6, batch_size=2, learning_rate=1e-3)
    network = create_network(TINY, OBS_SHAPE, seed=0)
    optimizer = make_optimizer(network, config)
    update = make_update(network, optimizer, config)
    unrolls = [make_unroll(SPEC6, seed) for seed in (7, 8)]
    for item in unrolls:
        item["rewards"][:] = 1e20
    before = [w.copy() for w in network.get_weights()]
    metrics = update(unroll.stack(unrolls))
    assert float(metrics["losses/skipped_update"]) == 1.0
    for old, new in zip(before, network.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert int(optimizer.policy.iterations.numpy()) == 0  # Adam's moments untouched too
    metrics = update(unroll.stack([make_unroll(SPEC6, seed) for seed in (9, 10)]))
    assert float(metrics["losses/skipped_update"]) == 0.0
    assert all(np.isfinite(w).all() for w in network.get_weights())
