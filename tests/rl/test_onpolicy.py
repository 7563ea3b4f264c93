"""A2C and PPO updates: PPO's clipped objective, whole-unroll minibatches, every head trains,
and RND's pieces inside the on-policy update."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network
from retro_rl.rl import onpolicy, unroll
from retro_rl.rl.config import LearnerConfig
from retro_rl.rl.optimizer import make_optimizer
from retro_rl.rl.rnd import RND
from retro_rl.rl.unroll import UnrollSpec
from retro_rl.rl.update import make_update
from tests.rl.unrolls import make_unroll

OBS_SHAPE = (36, 36, 3)
TINY = NetworkConfig(num_actions=5, lstm_units=16)
SPEC = UnrollSpec(6, OBS_SHAPE, TINY.num_actions, TINY.lstm_units)


def surrogate_gradient(ratio, advantage, clip_ratio=0.2):
    log_probs = tf.Variable([np.log(ratio)], dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = onpolicy.clipped_surrogate(log_probs, tf.zeros([1]), tf.constant([advantage]),
                                          clip_ratio)
    return float(tape.gradient(loss, log_probs)[0])


@pytest.mark.parametrize("ratio, advantage", [(1.5, 1.0), (1.21, 2.0), (0.5, -1.0), (0.79, -3.0)])
def test_no_gradient_flows_through_a_ratio_beyond_the_clip_on_the_advantages_side(ratio,
                                                                                   advantage):
    assert surrogate_gradient(ratio, advantage) == 0.0


@pytest.mark.parametrize("ratio, advantage", [(1.1, 1.0), (0.9, -1.0), (1.5, -1.0), (0.5, 1.0)])
def test_the_gradient_flows_inside_the_clip_and_where_the_step_would_undo_itself(ratio,
                                                                                  advantage):
    # d/dlogp of -ratio * A is -ratio * A.
    assert surrogate_gradient(ratio, advantage) == pytest.approx(-ratio * advantage, rel=1e-5)


def test_value_clipping_is_pessimistic():
    old, returns = tf.constant([0.0]), tf.constant([1.0])
    # The new value 0.9 is near the return, but clipped at 0.2 from the old it is 0.2: the
    # larger error wins.
    assert float(onpolicy.value_loss(tf.constant([0.9]), returns, old, 0.2)) == pytest.approx(
        0.5 * 0.8 ** 2)
    assert float(onpolicy.value_loss(tf.constant([0.9]), returns, old, 0.0)) == pytest.approx(
        0.5 * 0.1 ** 2)


def batch_of(count, seed=0):
    unrolls = [make_unroll(SPEC, seed + index) for index in range(count)]
    for worker, item in enumerate(unrolls):
        item["worker_id"] = worker
    return unroll.stack(unrolls)


@pytest.mark.parametrize("settings", [
    {"algorithm": "a2c"},
    {"algorithm": "ppo", "ppo_epochs": 2, "num_minibatches": 2, "value_clip": 0.2},
])
def test_each_update_trains_every_weight_and_reports_its_charts(settings):
    config = LearnerConfig(unroll_length=6, batch_size=4, learning_rate=1e-3, **settings)
    network = create_network(TINY, OBS_SHAPE, seed=0)
    update = make_update(network, make_optimizer(network, config), config)
    before = [v.numpy().copy() for v in network.trainable_variables]
    metrics = update(batch_of(4))
    assert all(not np.array_equal(b, v.numpy())
               for b, v in zip(before, network.trainable_variables))
    assert metrics["losses/skipped_update"] == 0.0
    assert all(np.isfinite(value) for value in metrics.values())
    assert -1.0 <= metrics["ppo/clip_fraction"] <= 1.0 and metrics["ppo/approx_kl"] >= -1e-6
    assert "gae/explained_variance" in metrics


def test_ppo_minibatches_are_whole_unrolls_from_their_stored_state(monkeypatch):
    config = LearnerConfig(unroll_length=6, batch_size=4, algorithm="ppo", ppo_epochs=3,
                           num_minibatches=2)
    network = create_network(TINY, OBS_SHAPE, seed=0)
    chosen = []
    original = unroll.select

    def recording_select(batch, columns):
        chosen.append(sorted(columns.tolist()))
        return original(batch, columns)

    monkeypatch.setattr(unroll, "select", recording_select)
    batch = batch_of(4)
    update = make_update(network, make_optimizer(network, config), config)
    update(batch)
    # 3 epochs x 2 minibatches of 2 unrolls; each epoch covers every unroll once.
    assert len(chosen) == 6
    for epoch in range(3):
        assert sorted(chosen[2 * epoch] + chosen[2 * epoch + 1]) == [0, 1, 2, 3]
    minibatch = original(batch, np.array([2, 0]))
    np.testing.assert_array_equal(minibatch["initial_state_h"][0], batch["initial_state_h"][2])
    np.testing.assert_array_equal(minibatch["observations"][:, 1], batch["observations"][:, 0])


@pytest.mark.parametrize("algorithm", ["impala", "a2c", "ppo"])
def test_with_rnd_the_predictor_and_the_intrinsic_head_train(algorithm):
    config = LearnerConfig(unroll_length=6, batch_size=2, learning_rate=1e-3,
                           algorithm=algorithm, rnd_coef=1.0, num_minibatches=2)
    network = create_network(dataclasses.replace(TINY, intrinsic_value=True), OBS_SHAPE, seed=0)
    rnd = RND(OBS_SHAPE, 3, learning_rate=1e-3, seed=0)
    update = make_update(network, make_optimizer(network, config), config, rnd=rnd)
    head = [v.numpy().copy() for v in network.intrinsic_value_head.trainable_variables]
    predictor = [v.numpy().copy() for v in rnd.predictor.trainable_variables]
    target = [v.numpy().copy() for v in rnd.target.weights]
    metrics = update(batch_of(2))
    assert metrics["rnd/intrinsic_reward"] > 0 and metrics["rnd/predictor_loss"] > 0
    assert all(not np.array_equal(b, v.numpy())
               for b, v in zip(head, network.intrinsic_value_head.trainable_variables))
    assert all(not np.array_equal(b, v.numpy())
               for b, v in zip(predictor, rnd.predictor.trainable_variables))
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(target, rnd.target.weights))
    assert set(rnd.running_returns) == {0, 1}


def test_rnd_needs_the_intrinsic_head():
    config = LearnerConfig(unroll_length=6, batch_size=2, algorithm="ppo", rnd_coef=1.0)
    network = create_network(TINY, OBS_SHAPE, seed=0)
    with pytest.raises(ValueError, match="intrinsic value head"):
        make_update(network, make_optimizer(network, config), config,
                    rnd=RND(OBS_SHAPE, 3, learning_rate=1e-3))
