"""V-trace off-policy targets (Espeholt et al. 2018, "IMPALA", section 4.1).

Actors act with slightly stale parameters (the behaviour policy mu); the learner updates the
current ones (the target policy pi). V-trace corrects for that lag with truncated importance
weights so the value targets and policy-gradient advantages stay close to on-policy ones.

Every tensor is time-major: T is time (unroll length), B is batch (number of unrolls).
Index t of every [T, B] tensor refers to the same agent step: the observation x_t the action
a_t was chosen from, the reward r_t received after it, and the discount gamma_t applied to
what follows it (0 where the episode ended at step t).

With ratio_t = pi(a_t|x_t) / mu(a_t|x_t):
    rho_t = min(clip_rho_threshold, ratio_t)
    c_t   = lambda_ * min(1, ratio_t)
    delta_t = rho_t * (r_t + gamma_t * V(x_{t+1}) - V(x_t))
    v_s = V(x_s) + sum_{t=s}^{T-1} (prod_{i=s}^{t-1} gamma_i * c_i) * delta_t
which is computed backwards as v_s - V(x_s) = delta_s + gamma_s * c_s * (v_{s+1} - V(x_{s+1})),
with V(x_T) the bootstrap value and v_T = V(x_T).
"""

import collections

import tensorflow as tf

VTraceReturns = collections.namedtuple("VTraceReturns", ["vs", "pg_advantages"])
VTraceReturns.__doc__ = """V-trace targets, both [T, B] float, gradients stopped.

vs: value targets v_s for the baseline loss 0.5 * (vs - V(x_s))^2.
pg_advantages: rho^pg_s * (r_s + gamma_s * v_{s+1} - V(x_s)), the weight of
    grad log pi(a_s|x_s) in the policy-gradient loss.
"""

def _check_rank(tensor, rank, name):
    """Raises ValueError when `tensor` has a known rank other than `rank`."""
    if tensor.shape.rank is not None and tensor.shape.rank != rank:
        raise ValueError(
            f"{name} must have rank {rank}, got shape {tensor.shape} (T is time, B is batch)")


def _check_same_shape(first, first_name, second, second_name):
    """Raises ValueError when two tensors' known shapes disagree."""
    if not first.shape.is_compatible_with(second.shape):
        raise ValueError(
            f"{first_name} has shape {first.shape} but {second_name} has shape {second.shape}")


def from_importance_weights(log_rhos, discounts, rewards, values, bootstrap_value,
                            clip_rho_threshold=1.0, clip_pg_rho_threshold=1.0, lambda_=1.0):
    """V-trace targets from log importance ratios. T is time, B is batch.

    Args:
        log_rhos: float [T, B], log(pi(a_t|x_t) / mu(a_t|x_t)), unclipped.
        discounts: float [T, B], gamma_t; 0 where the episode ended at step t, so nothing after
            step t is credited to it. May differ per batch element.
        rewards: float [T, B], r_t, the reward received after action a_t.
        values: float [T, B], the learner's V(x_t).
        bootstrap_value: float [B], the learner's V(x_T) for the observation after the last step.
        clip_rho_threshold: rho-bar, upper clip of the ratio in delta_t; None for no clipping.
        clip_pg_rho_threshold: upper clip of the ratio weighting the policy-gradient advantage;
            None for no clipping.
        lambda_: python float in [0, 1], the trace-cutting factor multiplying every c_t.

    Every float argument is converted to the dtype of `values` (float32 or float64).

    Returns:
        VTraceReturns(vs, pg_advantages), both [T, B] with gradients stopped.

    Raises:
        ValueError: an argument has the wrong rank or the [T, B] shapes disagree.
    """
    values = tf.convert_to_tensor(values)
    if not values.dtype.is_floating:
        raise ValueError(f"values must be a float tensor, got {values.dtype.name}")
    dtype = values.dtype
    log_rhos = tf.cast(tf.convert_to_tensor(log_rhos), dtype)
    discounts = tf.cast(tf.convert_to_tensor(discounts), dtype)
    rewards = tf.cast(tf.convert_to_tensor(rewards), dtype)
    bootstrap_value = tf.cast(tf.convert_to_tensor(bootstrap_value), dtype)

    for tensor, name in [(log_rhos, "log_rhos"), (discounts, "discounts"),
                         (rewards, "rewards"), (values, "values")]:
        _check_rank(tensor, 2, name)
        _check_same_shape(tensor, name, values, "values")
    _check_rank(bootstrap_value, 1, "bootstrap_value")
    _check_same_shape(bootstrap_value, "bootstrap_value", values[0], "values[0]")

    # The targets are regression labels and advantage weights: no gradient may flow into them.
    log_rhos, discounts, rewards, values, bootstrap_value = (
        tf.stop_gradient(tensor)
        for tensor in (log_rhos, discounts, rewards, values, bootstrap_value))

    ratios = tf.exp(log_rhos)
    clipped_rhos = ratios if clip_rho_threshold is None else tf.minimum(
        tf.constant(clip_rho_threshold, dtype), ratios)
    # c_t is always clipped at 1: it only controls how far back a TD error is propagated.
    cs = tf.constant(lambda_, dtype) * tf.minimum(tf.ones_like(ratios), ratios)

    # V(x_{t+1}) for every t, ending with the bootstrap value.
    values_next = tf.concat([values[1:], bootstrap_value[tf.newaxis]], axis=0)
    deltas = clipped_rhos * (rewards + discounts * values_next - values)

    def backward_step(vs_minus_v_next, step):
        delta, discount_times_c = step
        return delta + discount_times_c * vs_minus_v_next

    vs_minus_values = tf.scan(
        backward_step, (deltas, discounts * cs), initializer=tf.zeros_like(bootstrap_value),
        reverse=True)
    vs = vs_minus_values + values

    vs_next = tf.concat([vs[1:], bootstrap_value[tf.newaxis]], axis=0)
    clipped_pg_rhos = ratios if clip_pg_rho_threshold is None else tf.minimum(
        tf.constant(clip_pg_rho_threshold, dtype), ratios)
    pg_advantages = clipped_pg_rhos * (rewards + discounts * vs_next - values)

    return VTraceReturns(vs=tf.stop_gradient(vs), pg_advantages=tf.stop_gradient(pg_advantages))
