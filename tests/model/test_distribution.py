"""The policy's distribution: numpy sampling follows the softmax and the seed; the TensorFlow
side gives the log-probabilities, entropy and KL the losses use."""

import numpy as np
import tensorflow as tf

from retro_rl.model.distribution import categorical, sample_actions


def test_sampling_follows_the_softmax_and_the_seed():
    logits = np.log(np.array([[0.1, 0.6, 0.3]] * 20_000))
    actions = sample_actions(logits, np.random.default_rng(0))
    np.testing.assert_allclose(np.bincount(actions, minlength=3) / 20_000, [0.1, 0.6, 0.3],
                               atol=0.01)
    again = sample_actions(logits, np.random.default_rng(0))
    np.testing.assert_array_equal(actions, again)
    assert (sample_actions(logits[:4], None, greedy=True) == 1).all()


def test_log_prob_entropy_and_kl_match_their_formulas():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 4, 5)).astype(np.float32)
    other = rng.normal(size=(3, 4, 5)).astype(np.float32)
    actions = rng.integers(0, 5, (3, 4)).astype(np.int32)

    def log_softmax(x):
        return x - np.log(np.exp(x).sum(-1, keepdims=True))

    log_p, log_q = log_softmax(logits.astype(np.float64)), log_softmax(other.astype(np.float64))
    policy = categorical(tf.constant(logits))
    np.testing.assert_allclose(policy.log_prob(actions).numpy(),
                               np.take_along_axis(log_p, actions[..., None], -1)[..., 0],
                               rtol=1e-5)
    np.testing.assert_allclose(policy.entropy().numpy(), -(np.exp(log_p) * log_p).sum(-1),
                               rtol=1e-5)
    np.testing.assert_allclose(categorical(tf.constant(other)).kl_divergence(policy).numpy(),
                               (np.exp(log_q) * (log_q - log_p)).sum(-1), rtol=1e-4, atol=1e-6)
