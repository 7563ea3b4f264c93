"""The learner's step sizes over a run: constant, or annealed linearly as cleanrl's PPO."""

import pytest

from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network
from retro_rl.rl.config import PRESETS, LearnerConfig
from retro_rl.rl.optimizer import anneal_learning_rates, make_optimizer


def step_sizes(config, frames):
    network = create_network(NetworkConfig(num_actions=6, lstm_units=8), (36, 36, 4), seed=0)
    optimizer = make_optimizer(network, config)
    anneal_learning_rates(optimizer, config, frames)
    return (float(optimizer.policy.learning_rate.numpy()),
            float(optimizer.value.learning_rate.numpy()))


def test_ppo_atari_anneals_both_learning_rates_to_zero_over_the_run():
    config = LearnerConfig(**PRESETS["ppo_atari"])
    assert step_sizes(config, 0) == pytest.approx((2.5e-4, 2.5e-4))
    assert step_sizes(config, 10_000_000) == pytest.approx((1.875e-4, 1.875e-4))
    assert step_sizes(config, config.total_frames) == (0.0, 0.0)


def test_by_default_the_learning_rates_stay_where_they_start():
    config = LearnerConfig(learning_rate=1e-3, value_learning_rate=2e-3, total_frames=1000)
    assert step_sizes(config, 900) == pytest.approx((1e-3, 2e-3))
