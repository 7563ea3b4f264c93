"""Generalized advantage estimation (Schulman et al. 2016), a pure function of tensors.

Time-major: T is time (unroll length), B is batch. Index t of every [T, B] tensor is one agent
step: the observation x_t the action was chosen from, the reward r_t after it and the discount
gamma_t applied to what follows it (0 where the episode ended at step t, for episodic returns):

    delta_t = r_t + gamma_t * V(x_{t+1}) - V(x_t)
    A_t     = delta_t + gamma_t * lambda * A_{t+1},   A_T = 0
    returns = A + V, the value targets

with V(x_T) the bootstrap value. Gradients are stopped on both outputs.
"""

import collections

import tensorflow as tf

GAEReturns = collections.namedtuple("GAEReturns", ["advantages", "returns"])


def advantages(rewards, values, bootstrap_value, discounts, lambda_):
    """GAE advantages and value targets, both float [T, B].

    Args:
        rewards: float [T, B], r_t.
        values: float [T, B], V(x_t).
        bootstrap_value: float [B], V(x_T).
        discounts: float [T, B], gamma_t (0 after an episode's end, for episodic returns).
        lambda_: python float in [0, 1].
    """
    rewards, values, bootstrap_value, discounts = (
        tf.stop_gradient(tf.convert_to_tensor(tensor, tf.float32))
        for tensor in (rewards, values, bootstrap_value, discounts))
    values_next = tf.concat([values[1:], bootstrap_value[None]], axis=0)
    deltas = rewards + discounts * values_next - values

    def backward(following, step):
        delta, discount = step
        return delta + discount * lambda_ * following

    result = tf.scan(backward, (deltas, discounts), initializer=tf.zeros_like(bootstrap_value),
                     reverse=True)
    return GAEReturns(tf.stop_gradient(result), tf.stop_gradient(result + values))
