"""Behaviour cloning's sequences: lanes that continue movies across chunks, whole-movie splits,
validation that covers every held-out step once, and the tf.data pipeline's order."""

import numpy as np

from retro_rl.bc import data
from tests.bc.episodes import origins, synthetic_episodes


def test_validation_split_never_shares_a_movie():
    episodes = synthetic_episodes([30 + 7 * i for i in range(10)])
    train, val = data.split_by_movie(episodes, 0.3, seed=5)
    assert len(val) == 3 and len(train) == 7
    assert {e.name for e in train}.isdisjoint({e.name for e in val})
    assert {e.name for e in train} | {e.name for e in val} == {e.name for e in episodes}
    # A resumed run keeps its predecessor's validation set whatever the seed.
    _, val_again = data.split_by_movie(episodes, 0.3, seed=99,
                                          val_names=[e.name for e in val])
    assert [e.name for e in val_again] == [e.name for e in val]

    val_ids = {int(e.name[-2:]) for e in val}
    stream = data.LaneStream(data.Movies(train), batch_size=6, seq_len=9, seed=0)
    seen_train = set()
    for _ in range(40):
        movie, _ = origins(next(stream))
        seen_train |= set(np.unique(movie).tolist())
    assert seen_train == {int(e.name[-2:]) for e in train}  # all of them, and only them
    # Validation covers every step of every held-out movie exactly once.
    val_movies = data.Movies(val)
    seen = []
    for batch in data.evaluation_batches(val_movies, batch_size=2, seq_len=7):
        movie, step = origins(batch)
        seen += [(f"movie{m:02d}", s) for m, s in zip(movie[batch.mask], step[batch.mask])]
    assert sorted(seen) == sorted((e.name, s) for e in val for s in range(len(e.actions)))
    assert {int(name[-2:]) for name, _ in seen} == val_ids


def test_lanes_continue_movies_across_chunks_with_episode_starts():
    episodes = synthetic_episodes([7, 12, 4, 9, 15])
    movies = data.Movies(episodes)
    stream = data.LaneStream(movies, batch_size=3, seq_len=5, seed=3)
    batches = [next(stream) for _ in range(30)]
    for lane in range(3):
        movie = np.concatenate([origins(b)[0][:, lane] for b in batches])
        step = np.concatenate([origins(b)[1][:, lane] for b in batches])
        start = np.concatenate([b.episode_start[:, lane] for b in batches])
        prev_action = np.concatenate([b.prev_actions[:, lane] for b in batches])
        prev_reward = np.concatenate([b.prev_rewards[:, lane] for b in batches])
        action = np.concatenate([b.actions[:, lane] for b in batches])
        assert start[0]  # a lane begins anywhere in its first movie, with a fresh state
        for t in range(1, len(step)):
            if start[t]:  # a new movie, from its first step, after the last one ended
                assert step[t] == 0 and step[t - 1] == len(episodes[movie[t - 1]].actions) - 1
                assert prev_action[t] == 0 and prev_reward[t] == 0
            else:  # the same movie, next step, with the step before's action and reward
                assert movie[t] == movie[t - 1] and step[t] == step[t - 1] + 1
                assert prev_action[t] == action[t - 1] and prev_reward[t] == 0.5 * step[t - 1]
        assert (action == (movie + step) % 23).all()


def test_tf_data_pipeline_delivers_the_chunks_in_order():
    movies = data.Movies(synthetic_episodes([13, 8, 21]))
    plain = data.LaneStream(movies, batch_size=3, seq_len=4, seed=7)
    expected = [next(plain) for _ in range(6)]
    dataset = data.training_dataset(data.LaneStream(movies, 3, 4, seed=7), (4, 4, 3))
    for want, got in zip(expected, dataset.take(6)):
        for field in data.Batch._fields:
            np.testing.assert_array_equal(getattr(got, field).numpy(), getattr(want, field))
