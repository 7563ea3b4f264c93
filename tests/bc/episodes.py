"""Synthetic episodes for the behaviour-cloning tests: each frame says where it comes from."""

import numpy as np

from retro_rl.demos.dataset import Episode


def synthetic_episodes(lengths, num_actions=23):
    """Episodes whose frames say where they come from: pixel (0, 0) holds [movie, step % 256,
    step // 256]; action at step t is (movie + t) % num_actions."""
    episodes = []
    for movie, length in enumerate(lengths):
        steps = np.arange(length)
        observations = np.zeros((length, 4, 4, 3), np.uint8)
        observations[:, 0, 0] = np.stack([np.full(length, movie), steps % 256, steps // 256], -1)
        dones = np.zeros(length, bool)
        dones[-1] = True
        episodes.append(Episode(
            f"movie{movie:02d}", observations, ((movie + steps) % num_actions).astype(np.int32),
            (steps * 0.5).astype(np.float32), dones, np.zeros(length, np.int32), dones.copy()))
    return episodes


def origins(batch):
    """(movie, step) of every [t, b] of a batch."""
    pixel = batch.observations[:, :, 0, 0].astype(np.int64)
    return pixel[..., 0], pixel[..., 1] + 256 * pixel[..., 2]
