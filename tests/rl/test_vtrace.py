"""V-trace against a slow numpy transcription of the paper's formula."""

import numpy as np
import pytest
import tensorflow as tf

from retro_rl.rl import vtrace

try:  # Keep the shared CI machine responsive; fails harmlessly if TF is already running.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
except RuntimeError:
    pass


def reference_vtrace(log_rhos, discounts, rewards, values, bootstrap_value,
                     clip_rho_threshold, clip_pg_rho_threshold, lambda_):
    """Section 4.1 of the IMPALA paper with explicit sums and products, per-step discounts.

    v_s = V_s + sum_{t=s}^{T-1} (prod_{i=s}^{t-1} gamma_i c_i) rho_t (r_t + gamma_t V_{t+1} - V_t)
    All inputs [T, B] float64 except bootstrap_value [B]; returns (vs, pg_advantages) [T, B].
    """
    num_steps, batch_size = values.shape
    ratios = np.exp(log_rhos)
    rhos = ratios if clip_rho_threshold is None else np.minimum(clip_rho_threshold, ratios)
    cs = lambda_ * np.minimum(1.0, ratios)
    pg_rhos = ratios if clip_pg_rho_threshold is None else np.minimum(clip_pg_rho_threshold, ratios)
    values_with_bootstrap = np.concatenate([values, bootstrap_value[None]], axis=0)

    vs = np.zeros((num_steps, batch_size))
    for b in range(batch_size):
        for s in range(num_steps):
            total = values[s, b]
            for t in range(s, num_steps):
                coefficient = 1.0
                for i in range(s, t):
                    coefficient *= discounts[i, b] * cs[i, b]
                target = rewards[t, b] + discounts[t, b] * values_with_bootstrap[t + 1, b]
                delta = rhos[t, b] * (target - values[t, b])
                total += coefficient * delta
            vs[s, b] = total

    pg_advantages = np.zeros((num_steps, batch_size))
    for b in range(batch_size):
        for s in range(num_steps):
            next_target = vs[s + 1, b] if s + 1 < num_steps else bootstrap_value[b]
            pg_advantages[s, b] = pg_rhos[s, b] * (
                rewards[s, b] + discounts[s, b] * next_target - values[s, b])
    return vs, pg_advantages


def make_inputs(num_steps, batch_size, seed):
    """Random [T, B] inputs whose ratios lie in [e^-1.5, e^1.5] and cross every threshold used."""
    rng = np.random.default_rng(seed)
    log_rhos = rng.uniform(-1.5, 1.5, size=(num_steps, batch_size))
    # A different discount per batch element, and episode ends (discount 0) inside the unroll.
    discounts = np.tile(np.linspace(0.9, 0.99, batch_size), (num_steps, 1))
    discounts[rng.random((num_steps, batch_size)) < 0.15] = 0.0
    discounts[num_steps // 2, 0] = 0.0
    rewards = rng.normal(size=(num_steps, batch_size))
    values = rng.normal(size=(num_steps, batch_size))
    bootstrap_value = rng.normal(size=(batch_size,))
    return log_rhos, discounts, rewards, values, bootstrap_value


@pytest.mark.parametrize("batch_size", [1, 5])
@pytest.mark.parametrize("num_steps", [1, 7, 20])
@pytest.mark.parametrize("lambda_", [1.0, 0.9])
@pytest.mark.parametrize("clip_rho_threshold,clip_pg_rho_threshold",
                         [(1.0, 1.0), (2.0, 0.7), (None, None)])
def test_matches_paper_formula(batch_size, num_steps, lambda_, clip_rho_threshold,
                               clip_pg_rho_threshold):
    log_rhos, discounts, rewards, values, bootstrap_value = make_inputs(
        num_steps, batch_size, seed=num_steps * 10 + batch_size)
    ratios = np.exp(log_rhos)
    for threshold in (clip_rho_threshold, clip_pg_rho_threshold, 1.0):
        if threshold is not None and num_steps * batch_size >= 5:
            assert (ratios > threshold).any() and (ratios < threshold).any()

    expected_vs, expected_pg = reference_vtrace(
        log_rhos, discounts, rewards, values, bootstrap_value,
        clip_rho_threshold, clip_pg_rho_threshold, lambda_)
    returns = vtrace.from_importance_weights(
        log_rhos.astype(np.float32), discounts.astype(np.float32), rewards.astype(np.float32),
        values.astype(np.float32), bootstrap_value.astype(np.float32),
        clip_rho_threshold=clip_rho_threshold, clip_pg_rho_threshold=clip_pg_rho_threshold,
        lambda_=lambda_)

    assert returns.vs.shape == (num_steps, batch_size)
    assert returns.vs.dtype == tf.float32
    np.testing.assert_allclose(returns.vs.numpy(), expected_vs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(returns.pg_advantages.numpy(), expected_pg, rtol=1e-5, atol=1e-5)


def test_float64_inputs_keep_their_precision():
    inputs = make_inputs(num_steps=20, batch_size=5, seed=3)
    expected_vs, expected_pg = reference_vtrace(*inputs, 1.0, 1.0, 0.9)
    returns = vtrace.from_importance_weights(*inputs, lambda_=0.9)
    assert returns.vs.dtype == tf.float64
    np.testing.assert_allclose(returns.vs.numpy(), expected_vs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(returns.pg_advantages.numpy(), expected_pg, rtol=1e-12, atol=1e-12)


def test_on_policy_with_lambda_one_gives_discounted_returns():
    # With pi == mu and lambda 1, v_s is the n-step discounted return bootstrapped at the end,
    # cut at episode ends: the quantity a user expects a value function to learn.
    num_steps, batch_size = 6, 2
    rewards = np.arange(1, num_steps * batch_size + 1, dtype=np.float32).reshape(num_steps,
                                                                                 batch_size)
    discounts = np.full((num_steps, batch_size), 0.5, np.float32)
    discounts[2, 1] = 0.0
    values = np.full((num_steps, batch_size), 100.0, np.float32)
    bootstrap_value = np.array([8.0, 16.0], np.float32)
    returns = vtrace.from_importance_weights(
        np.zeros((num_steps, batch_size), np.float32), discounts, rewards, values,
        bootstrap_value)
    expected = np.zeros((num_steps, batch_size))
    following = bootstrap_value.astype(np.float64)
    for t in reversed(range(num_steps)):
        following = rewards[t] + discounts[t] * following
        expected[t] = following
    np.testing.assert_allclose(returns.vs.numpy(), expected, rtol=1e-6)
    # The episode that ended at step 2 of element 1 gets nothing from later steps.
    assert returns.vs.numpy()[2, 1] == pytest.approx(rewards[2, 1])


def test_gradients_are_stopped():
    log_rhos, discounts, rewards, values, bootstrap_value = (
        tf.constant(array, tf.float32) for array in make_inputs(5, 3, seed=0))
    with tf.GradientTape(persistent=True) as tape:
        for tensor in (log_rhos, rewards, values, bootstrap_value):
            tape.watch(tensor)
        returns = vtrace.from_importance_weights(log_rhos, discounts, rewards, values,
                                                 bootstrap_value)
        total = tf.reduce_sum(returns.vs) + tf.reduce_sum(returns.pg_advantages)
    for tensor in (log_rhos, rewards, values, bootstrap_value):
        assert tape.gradient(total, tensor) is None


def test_works_inside_tf_function_with_unknown_time_dimension():
    inputs = [array.astype(np.float32) for array in make_inputs(11, 3, seed=5)]
    spec_2d = tf.TensorSpec([None, 3], tf.float32)
    traced = tf.function(
        lambda *args: vtrace.from_importance_weights(*args, lambda_=0.9),
        input_signature=[spec_2d] * 4 + [tf.TensorSpec([3], tf.float32)])
    expected_vs, _ = reference_vtrace(*(array.astype(np.float64) for array in inputs),
                                      1.0, 1.0, 0.9)
    np.testing.assert_allclose(traced(*inputs).vs.numpy(), expected_vs, rtol=1e-5, atol=1e-5)


def test_wrong_ranks_raise():
    log_rhos, discounts, rewards, values, bootstrap_value = (
        array.astype(np.float32) for array in make_inputs(5, 2, seed=2))
    with pytest.raises(ValueError, match="rewards must have rank 2"):
        vtrace.from_importance_weights(log_rhos, discounts, rewards[:, 0], values,
                                       bootstrap_value)
    with pytest.raises(ValueError, match="bootstrap_value must have rank 1"):
        vtrace.from_importance_weights(log_rhos, discounts, rewards, values,
                                       bootstrap_value[None])
    with pytest.raises(ValueError, match="discounts has shape"):
        vtrace.from_importance_weights(log_rhos, discounts[:4], rewards, values,
                                       bootstrap_value)
