"""Behaviour-cloning training speed in frames/s (one frame = one agent step of one lane), split
into its two halves and measured together:

  pipeline:   batches from the lane stream (numpy alone, then through tf.data), nothing else;
  train step: forward, backward and Adam step on one fixed batch, already in memory;
  together:   the training loop as run_supervised_learning.py runs it (the pipeline prefetches
              the next batch while the step computes, carrying the LSTM state).

    python bench/sl_speed.py                     # default model and batch, synthetic movies
    python bench/sl_speed.py --dataset_path datasets/Airstriker-Genesis-v0_fs4_obs84_rgb_full

Synthetic movies are random frames (the pipeline's cost does not depend on what they show).
"""

import argparse
import os
import sys
import time

import numpy as np

from retro_rl.bc import data, train
from retro_rl.demos.dataset import Episode, load_dataset
from retro_rl.model.config import NetworkConfig


def synthetic_episodes(movies, steps, obs_size, rng):
    episodes = []
    for movie in range(movies):
        dones = np.zeros(steps, bool)
        dones[-1] = True
        episodes.append(Episode(
            f"movie{movie}", rng.integers(0, 256, (steps, obs_size, obs_size, 3), dtype=np.uint8),
            rng.integers(0, 23, steps).astype(np.int32), np.zeros(steps, np.float32), dones,
            np.zeros(steps, np.int32), dones.copy()))
    return episodes


def report(label, steps, frames_per_step, seconds):
    print(f"{label:<30}{steps * frames_per_step / seconds:8.0f} frames/s  "
          f"({seconds / steps * 1000:6.1f} ms per step)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset_path", default=None,
                        help="a parsed dataset to stream (default: synthetic random movies)")
    parser.add_argument("--batch_size", type=int, default=32, help="lanes per batch")
    parser.add_argument("--seq_len", type=int, default=20, help="agent steps per chunk")
    parser.add_argument("--obs_size", type=int, default=84, help="synthetic observation size")
    parser.add_argument("--torso", default="nature", choices=("nature", "impala"),
                        help="image network")
    parser.add_argument("--lstm_units", type=int, default=256, help="LSTM size")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (tracing)")
    args = parser.parse_args()
    frames_per_step = args.batch_size * args.seq_len
    rng = np.random.default_rng(0)

    if args.dataset_path:
        episodes = load_dataset(args.dataset_path)
    else:
        episodes = synthetic_episodes(10, 1350, args.obs_size, rng)  # ~ the shipped demos
    movies = data.Movies(episodes)
    observation_shape = movies.observations.shape[1:]
    config = NetworkConfig(torso=args.torso, lstm_units=args.lstm_units)
    network, optimizer, variables, _ = train.build_learner(config, observation_shape, 3e-4, seed=0)
    train_step = train.make_train_step(network, optimizer, variables)
    print(f"{len(movies)} movies, {movies.num_steps} steps of {observation_shape}; torso "
          f"{args.torso}, LSTM {args.lstm_units}, batch {args.batch_size} x seq_len "
          f"{args.seq_len}; "
          f"{os.cpu_count()} CPU cores")
    total = args.warmup + args.steps

    def dataset():
        stream = data.LaneStream(movies, args.batch_size, args.seq_len, seed=0)
        return iter(data.training_dataset(stream, observation_shape))

    stream = data.LaneStream(movies, args.batch_size, args.seq_len, seed=0)
    for _ in range(args.warmup):
        next(stream)
    started = time.perf_counter()
    for _ in range(args.steps):
        next(stream)
    report("pipeline, numpy gather only:", args.steps, frames_per_step,
           time.perf_counter() - started)

    batches = dataset()
    for step in range(total):
        if step == args.warmup:
            started = time.perf_counter()
        batch = next(batches)
    batch.observations.numpy()
    report("pipeline, through tf.data:", args.steps, frames_per_step,
           time.perf_counter() - started)

    fixed = batch
    state = network.initial_state(args.batch_size)
    for step in range(total):
        if step == args.warmup:
            started = time.perf_counter()
        loss, _, _, state = train_step(fixed, state)
    float(loss)
    report("train step, fixed batch:", args.steps, frames_per_step,
           time.perf_counter() - started)

    batches = dataset()
    state = network.initial_state(args.batch_size)
    for step in range(total):
        if step == args.warmup:
            started = time.perf_counter()
        loss, _, confusion, state = train_step(next(batches), state)
        confusion.numpy()  # the training loop reads these every step
    float(loss)
    report("together (training loop):", args.steps, frames_per_step,
           time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
