"""Demonstrations -> time-major sequences for behaviour cloning with truncated back-propagation
through time.

Shapes: T is time (agent steps, `seq_len`), B is batch (lanes), H, W, C an observation's size,
A the number of actions.

Training data is B *lanes*. Each lane streams through whole movies in order, T steps at a time;
when a movie ends the lane goes straight on with the next one, inside the same chunk. The LSTM
state a chunk ends with is the state the lane's next chunk starts from, so the network learns
from (and is scored on) the same long sequences it sees when it plays; `episode_start` is true at
the first step of every movie, which zeroes the state and the previous action and reward there.
Movies are dealt to lanes from a shuffled queue that is refilled when empty. Each lane starts its
very first movie at a random step (marked as a start too): otherwise, with fewer movies than
lanes, several lanes would replay the same movie in lockstep.

Validation streams every held-out movie exactly once, from its first step, each movie in one
lane; lanes that run out of movies are padded (`mask` false).
"""

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from retro_rl.bc import values


class Batch(NamedTuple):
    """One chunk of T steps for B lanes."""

    observations: np.ndarray  # uint8 [T, B, H, W, C]: what action t was chosen from
    episode_start: np.ndarray  # bool [T, B]: step t is the first of a movie (zero the state)
    prev_actions: np.ndarray  # int32 [T, B]: the demonstrated action before step t (0 at a start)
    prev_rewards: np.ndarray  # float32 [T, B]: the reward of the step before t (0 at a start)
    actions: np.ndarray  # int32 [T, B]: the demonstrated action at step t (the label)
    mask: np.ndarray  # bool [T, B]: false on padding after a lane's last movie
    value_targets: np.ndarray  # float32 [T, B]: the discounted return from step t (values.py)
    value_mask: np.ndarray  # bool [T, B]: step t has a value target (and is not padding)


class Movies:
    """Episodes (demos.dataset.Episode) concatenated into flat arrays, so a batch is one gather.

    A *step index* i addresses step i of the concatenation; movie m covers
    [offsets[m], offsets[m] + lengths[m]).
    """

    def __init__(self, episodes, reward_settings=None):
        """reward_settings: values.RewardSettings the value targets are computed with; None
        gives no step a value target."""
        if not episodes:
            raise ValueError("no episodes")
        self.names = [episode.name for episode in episodes]
        self.lengths = np.array([len(episode.actions) for episode in episodes], np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        self.observations = np.concatenate([episode.observations for episode in episodes])
        self.actions = np.concatenate([episode.actions for episode in episodes]).astype(np.int32)
        self.rewards = np.concatenate([episode.rewards for episode in episodes]).astype(np.float32)
        self.is_start = np.zeros(len(self.actions), bool)
        self.is_start[self.offsets] = True
        self.value_targets = np.zeros(len(self.actions), np.float32)
        self.value_mask = np.zeros(len(self.actions), bool)
        if reward_settings is not None:
            for offset, episode in zip(self.offsets, episodes):
                targets, mask = values.value_targets(episode.rewards, episode.lives_lost,
                                                     bool(episode.terminal[-1]), reward_settings)
                self.value_targets[offset:offset + len(targets)] = targets
                self.value_mask[offset:offset + len(targets)] = mask

    def __len__(self):
        return len(self.names)

    @property
    def num_steps(self):
        return len(self.actions)

    def movie_steps(self, movie, first=0):
        """Step indices of movie `movie` from its step `first` to its end."""
        return np.arange(self.offsets[movie] + first, self.offsets[movie] + self.lengths[movie])

    def gather(self, indices, starts, mask):
        """Batch for step indices int [T, B]; `starts` marks where a lane's state is zeroed."""
        previous = np.where(starts, 0, indices - 1)
        return Batch(
            observations=self.observations[indices],
            episode_start=starts,
            prev_actions=np.where(starts, 0, self.actions[previous]).astype(np.int32),
            prev_rewards=np.where(starts, 0.0, self.rewards[previous]).astype(np.float32),
            actions=self.actions[indices],
            mask=mask,
            value_targets=self.value_targets[indices],
            value_mask=self.value_mask[indices] & mask,
        )


def split_by_movie(episodes, val_fraction, seed, val_names=None):
    """Splits episodes into (train, validation) lists; no movie is in both.

    val_fraction of the movies (rounded, at least one when val_fraction > 0, never all of them)
    are drawn with `seed`. `val_names`, when given, is a previous run's validation set, kept as it
    was so that resuming never trains on what it validated on before.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1) (got {val_fraction})")
    names = sorted(episode.name for episode in episodes)
    if val_names is None:
        count = 0
        if val_fraction > 0 and len(names) > 1:
            count = min(len(names) - 1, max(1, round(val_fraction * len(names))))
        order = np.random.default_rng(seed).permutation(len(names))
        val_names = {names[i] for i in order[:count]}
    val_names = set(val_names)
    train = [episode for episode in episodes if episode.name not in val_names]
    val = [episode for episode in episodes if episode.name in val_names]
    return train, val


class LaneStream:
    """Endless training batches: B lanes, each streaming whole movies T steps at a time."""

    def __init__(self, movies, batch_size, seq_len, seed):
        self.movies = movies
        self.batch_size, self.seq_len = batch_size, seq_len
        self.rng = np.random.default_rng(seed)
        self.queue = []
        # Per lane: the step indices it has yet to play, and which of them zero the state.
        self.pending = []
        for _ in range(batch_size):
            movie = self._next_movie()
            first = int(self.rng.integers(movies.lengths[movie]))
            steps = movies.movie_steps(movie, first)
            starts = np.zeros(len(steps), bool)
            starts[0] = True
            self.pending.append((steps, starts))

    def _next_movie(self):
        if not self.queue:
            self.queue = list(self.rng.permutation(len(self.movies)))
        return self.queue.pop()

    def __iter__(self):
        return self

    def __next__(self):
        indices = np.empty((self.seq_len, self.batch_size), np.int64)
        starts = np.empty((self.seq_len, self.batch_size), bool)
        for lane in range(self.batch_size):
            steps, lane_starts = self.pending[lane]
            while len(steps) < self.seq_len:
                movie = self._next_movie()
                steps = np.concatenate([steps, self.movies.movie_steps(movie)])
                lane_starts = np.concatenate([lane_starts, self.movies.is_start[
                    self.movies.movie_steps(movie)]])
            indices[:, lane], starts[:, lane] = steps[:self.seq_len], lane_starts[:self.seq_len]
            self.pending[lane] = (steps[self.seq_len:], lane_starts[self.seq_len:])
        return self.movies.gather(indices, starts, np.ones_like(starts))


def evaluation_batches(movies, batch_size, seq_len):
    """Finite batches covering every movie once from its first step, one movie per lane at a
    time (longest first, each to the lane with the least work), padded where lanes run dry."""
    lanes = min(batch_size, len(movies))
    work, plan = np.zeros(lanes, np.int64), [[] for _ in range(lanes)]
    for movie in np.argsort(-movies.lengths, kind="stable"):
        lane = int(np.argmin(work))
        plan[lane].append(movies.movie_steps(movie))
        work[lane] += movies.lengths[movie]
    total = int(work.max())
    chunks = -(-total // seq_len)
    indices = np.zeros((chunks * seq_len, lanes), np.int64)
    mask = np.zeros((chunks * seq_len, lanes), bool)
    for lane, steps in enumerate(plan):
        steps = np.concatenate(steps)
        indices[:len(steps), lane], mask[:len(steps), lane] = steps, True
    # Padding restarts the state too, so it cannot leak into anything (it is masked anyway).
    starts = movies.is_start[indices] | ~mask
    for chunk in range(chunks):
        rows = slice(chunk * seq_len, (chunk + 1) * seq_len)
        yield movies.gather(indices[rows], starts[rows], mask[rows])


def training_dataset(stream, observation_shape):
    """A tf.data pipeline over a LaneStream: batches are gathered in a background thread and
    prefetched, so the next chunk is ready when the train step finishes. Order is kept: lane b
    of batch k+1 continues lane b of batch k."""
    time, batch = stream.seq_len, stream.batch_size
    signature = Batch(
        tf.TensorSpec([time, batch, *observation_shape], tf.uint8),
        tf.TensorSpec([time, batch], tf.bool),
        tf.TensorSpec([time, batch], tf.int32),
        tf.TensorSpec([time, batch], tf.float32),
        tf.TensorSpec([time, batch], tf.int32),
        tf.TensorSpec([time, batch], tf.bool),
        tf.TensorSpec([time, batch], tf.float32),
        tf.TensorSpec([time, batch], tf.bool),
    )
    dataset = tf.data.Dataset.from_generator(lambda: stream, output_signature=signature)
    return dataset.prefetch(2)
