"""The train step carries each lane's LSTM state into its next chunk; validation's scores do not
depend on how the movies are chunked; balanced accuracy weighs every action alike."""

import keras
import numpy as np
import pytest

from retro_rl.bc import data, metrics, train
from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network
from tests.bc.episodes import synthetic_episodes


@pytest.fixture(scope="module")
def tiny_network():
    return create_network(NetworkConfig(lstm_units=8), (36, 36, 3), seed=0)


def test_training_step_hands_the_lanes_state_to_the_next_chunk(tiny_network):
    rng = np.random.default_rng(0)
    episodes = [e._replace(observations=rng.integers(0, 256, (len(e.actions), 36, 36, 3),
                                                     dtype=np.uint8))
                for e in synthetic_episodes([11, 6, 9])]
    stream = data.LaneStream(data.Movies(episodes), batch_size=2, seq_len=4, seed=1)
    first, second = next(stream), next(stream)
    optimizer = keras.optimizers.Adam(0.0)  # no update: the weights stay comparable
    variables = tiny_network.policy_variables
    optimizer.build(variables)
    train_step = train.make_train_step(tiny_network, optimizer, variables)
    _, _, state = train_step(first, tiny_network.initial_state(2))
    _, _, state = train_step(second, state)
    both = [np.concatenate([a, b]) for a, b in zip(first[:4], second[:4])]
    _, _, whole_state = tiny_network.unroll(*both, tiny_network.initial_state(2))
    for carried, whole in zip(state, whole_state):
        np.testing.assert_allclose(carried.numpy(), whole.numpy(), atol=1e-5)


def test_validation_scores_do_not_depend_on_the_chunk_length(tiny_network):
    rng = np.random.default_rng(1)
    episodes = [e._replace(observations=rng.integers(0, 256, (len(e.actions), 36, 36, 3),
                                                     dtype=np.uint8))
                for e in synthetic_episodes([23, 9, 14])]
    movies = data.Movies(episodes)
    short = train.evaluate(tiny_network, movies, batch_size=2, seq_len=3)
    whole = train.evaluate(tiny_network, movies, batch_size=2, seq_len=40)
    assert short["cross_entropy"] == pytest.approx(whole["cross_entropy"], rel=1e-5)
    np.testing.assert_array_equal(short["confusion"], whole["confusion"])
    assert short["confusion"].sum() == 23 + 9 + 14


def test_balanced_accuracy_weighs_every_demonstrated_action_alike():
    labels = np.array([0] * 90 + [2] * 10)
    always_none = metrics.confusion_counts(labels, np.zeros(100, int), np.ones(100, bool), 23)
    assert metrics.accuracy(always_none) == pytest.approx(0.9)
    assert metrics.balanced_accuracy(always_none) == pytest.approx(0.5)
