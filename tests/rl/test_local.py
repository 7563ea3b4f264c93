"""The learner in one process (local.train_in_process) on the real emulator: it trains, and each
of its updates is the launcher's update (update.make_update, as learning.train uses it) on the
same batch."""

import numpy as np
import pytest

from retro_rl.envs import EnvConfig
from retro_rl.errors import UserError
from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network
from retro_rl.rl.config import LearnerConfig
from retro_rl.rl.local import train_in_process
from retro_rl.rl.optimizer import make_optimizer
from retro_rl.rl.update import make_update

ENV = EnvConfig(obs_size=36).with_training_defaults()


def small_network():
    return create_network(NetworkConfig(num_actions=ENV.num_actions, lstm_units=16),
                          ENV.observation_shape, seed=3)


@pytest.mark.parametrize("algorithm, overlap", [("impala", False), ("ppo", False),
                                                ("ppo", True)])
def test_updates_in_one_process_are_the_launchers_on_the_same_batches(algorithm, overlap):
    config = LearnerConfig(algorithm=algorithm, unroll_length=10, batch_size=2,
                           num_minibatches=1, ppo_epochs=2, overlap_rounds=overlap)
    network = small_network()
    initial = network.get_weights()
    seen = []
    run = train_in_process(config, ENV, updates=3, network=network,
                           on_update=lambda batch, metrics: seen.append((batch, metrics)))
    unrolls = 2 if algorithm == "impala" else 1  # ppo: one unroll from each environment
    assert (run.updates, run.frames, len(run.metrics)) == (3, 3 * unrolls * 10 * 4, 3)
    assert seen[0][0]["observations"].shape == (11, unrolls, 36, 36, 3)
    assert not all(np.array_equal(a, b) for a, b in zip(initial, network.get_weights()))

    twin = small_network()
    twin.set_weights(initial)
    launcher_update = make_update(twin, make_optimizer(twin, config), config)
    for batch, metrics in seen:
        assert np.isfinite(metrics["losses/total"]) and metrics["losses/total"] != 0
        assert float(launcher_update(batch)["losses/total"]) == metrics["losses/total"]
    for a, b in zip(twin.get_weights(), network.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_more_than_one_stable_retro_environment_is_refused_in_one_line():
    with pytest.raises(UserError, match="one emulator per process"):
        train_in_process(LearnerConfig(unroll_length=5, batch_size=1), ENV, num_envs=2,
                         updates=1, network=small_network())
    # The environment it made first is closed: another run can make one.
    run = train_in_process(LearnerConfig(unroll_length=5, batch_size=1), ENV, updates=1,
                           network=small_network())
    assert run.updates == 1
