"""The policy's action distribution: a categorical over the action table, from logits.

`categorical(logits)` is the distribution every loss uses (behaviour cloning's log-likelihood,
the policy gradient's log-probabilities, the entropy bonus, the KL to a pretrained policy);
`sample_actions` draws from the same distribution in numpy with a seeded Generator, so that an
episode is a function of its seed.
"""

import numpy as np


def categorical(logits):
    """tfp Categorical over the last axis of float logits [..., A]."""
    # Imported here: acting and the random baseline sample in numpy and need none of it.
    import tensorflow_probability as tfp

    return tfp.distributions.Categorical(logits=logits)


def sample_actions(logits, rng, greedy=False):
    """Actions int32 [B] from policy logits float [B, A]: the argmax when greedy, else a draw
    from the softmax by inverting its cumulative sum at one uniform number per row of `rng`."""
    logits = np.asarray(logits, np.float64)
    if greedy:
        return logits.argmax(axis=-1).astype(np.int32)
    probabilities = np.exp(logits - logits.max(axis=-1, keepdims=True))
    cumulative = np.cumsum(probabilities, axis=-1)
    draws = rng.random(len(logits))[:, None] * cumulative[:, -1:]
    return np.minimum((cumulative < draws).sum(axis=-1), logits.shape[-1] - 1).astype(np.int32)
