"""Generalized advantage estimation against a slow, obvious reference."""

import numpy as np

from retro_rl.rl import gae


def reference(rewards, values, bootstrap, discounts, lambda_):
    """Step by step, one column at a time, straight from the definition."""
    time, width = rewards.shape
    advantages = np.zeros((time, width))
    for column in range(width):
        following = 0.0
        for t in reversed(range(time)):
            next_value = values[t + 1, column] if t + 1 < time else bootstrap[column]
            delta = rewards[t, column] + discounts[t, column] * next_value - values[t, column]
            following = delta + discounts[t, column] * lambda_ * following
            advantages[t, column] = following
    return advantages, advantages + values


def test_gae_matches_the_reference_across_episode_ends_and_the_bootstrap():
    rng = np.random.default_rng(0)
    time, width, discount = 9, 3, 0.97
    rewards, values = rng.normal(size=(time, width)), rng.normal(size=(time, width))
    bootstrap = rng.normal(size=width)
    discounts = np.full((time, width), discount)
    discounts[2, 0] = discounts[5, 1] = discounts[8, 2] = 0.0  # episodes end there
    for lambda_ in (0.0, 0.95, 1.0):
        result = gae.advantages(rewards, values, bootstrap, discounts, lambda_)
        advantages, returns = reference(rewards, values, bootstrap, discounts, lambda_)
        np.testing.assert_allclose(result.advantages.numpy(), advantages, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(result.returns.numpy(), returns, rtol=1e-5, atol=1e-5)
    # The column that ended at its last step ignores its bootstrap value; the others use it.
    moved = gae.advantages(rewards, values, bootstrap + 10.0, discounts, 0.95).advantages.numpy()
    same = gae.advantages(rewards, values, bootstrap, discounts, 0.95).advantages.numpy()
    np.testing.assert_allclose(moved[:, 2], same[:, 2], atol=1e-5)
    assert np.all(moved[-1, :2] > same[-1, :2] + 9.0)
    # lambda 1 with no ends: the discounted return to the bootstrap, minus the value.
    ones = np.full((time, 1), discount)
    total = gae.advantages(rewards[:, :1], values[:, :1], bootstrap[:1], ones, 1.0).returns
    expected = (sum(discount ** t * rewards[t, 0] for t in range(time))
                + discount ** time * bootstrap[0])
    np.testing.assert_allclose(total.numpy()[0, 0], expected, rtol=1e-5)
