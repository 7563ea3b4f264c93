"""The train step carries each lane's LSTM state into its next chunk; validation's scores do not
depend on how the movies are chunked; balanced accuracy weighs every action alike."""

import keras
import numpy as np
import pytest

from retro_rl.bc import data, metrics, train, values
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
    _, _, _, state = train_step(first, tiny_network.initial_state(2))
    _, _, _, state = train_step(second, state)
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


def test_value_targets_of_a_life_lost_a_level_end_and_a_cut_off():
    settings = values.RewardSettings(reward_scale=0.5, life_loss_penalty=10.0, discount=0.5,
                                     cutoff_weight=0.2)
    rewards = np.array([2.0, 0.0, 4.0, 0.0])
    lives_lost = np.array([0, 1, 0, 0])
    # Shaped: [1, -5, 2, 0]. Terminal end: G_3 = 0, G_2 = 2, G_1 = -5 + 1 = -4, G_0 = 1 - 2 = -1.
    targets, mask = values.value_targets(rewards, lives_lost, True, settings)
    np.testing.assert_allclose(targets, [-1.0, -4.0, 2.0, 0.0])
    assert mask.all()
    # Cut off: the same returns (the unknown future counts as 0), but the last steps, where
    # that future weighs more than 0.2 (0.5^1, 0.5^2), have no target: 3 steps (0.5^3 > 0.2?
    # no: 0.125), so exactly ceil(log 0.2 / log 0.5) = 3.
    targets, mask = values.value_targets(rewards, lives_lost, False, settings)
    np.testing.assert_allclose(targets, [-1.0, -4.0, 2.0, 0.0])
    assert settings.masked_steps == 3 and mask.tolist() == [True, False, False, False]


def test_cloning_fits_the_value_head_to_the_returns(tiny_network):
    """A reward of 1 every step to a game's end, on screens whose brightness says how many steps
    are left: the returns can be read off the screen, and cloning must learn to read them."""
    episodes = []
    for e in synthetic_episodes([40, 30]):
        left = len(e.actions) - np.arange(len(e.actions))
        screens = np.broadcast_to((255 * left / 40).astype(np.uint8)[:, None, None, None],
                                  (len(left), 36, 36, 3)).copy()
        episodes.append(e._replace(observations=screens,
                                   rewards=np.full(len(left), 0.1, np.float32)))
    movies = data.Movies(episodes, values.RewardSettings(discount=0.999))
    network = create_network(NetworkConfig(lstm_units=8), (36, 36, 3), seed=1)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(network.trainable_variables)
    train_step = train.make_train_step(network, optimizer, network.trainable_variables,
                                       value_cost=1.0)
    before = train.evaluate(network, movies, batch_size=2, seq_len=10)
    stream = data.LaneStream(movies, batch_size=2, seq_len=10, seed=0)
    state = network.initial_state(2)
    for _ in range(150):
        _, _, _, state = train_step(next(stream), state)
    after = train.evaluate(network, movies, batch_size=2, seq_len=10)
    assert after["value_loss"] < 0.5 * before["value_loss"]
    assert after["explained_variance"] > 0.7 > 0.1 > before["explained_variance"]
