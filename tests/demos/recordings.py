"""Movies made for the tests with the real emulator."""

import pathlib

import numpy as np

from retro_rl.envs import make_env


def record_live(directory, seed, steps=None, **settings):
    """Plays seeded random actions in make_env while it records; returns the movie and what the
    agent lived: observations [N, ...], actions [N], rewards [N], frames emulated."""
    env = make_env(record_path=directory, max_episode_steps=steps, **settings)
    rng = np.random.default_rng(seed)
    observation, _ = env.reset(seed=seed)
    observations, actions, rewards = [], [], []
    while True:
        observations.append(observation)
        actions.append(int(rng.integers(env.action_space.n)))
        observation, reward, terminated, truncated, info = env.step(actions[-1])
        rewards.append(reward)
        if terminated or truncated:
            break
    env.close()
    movie, = pathlib.Path(directory).glob("*.bk2")
    return movie, np.array(observations), np.array(actions), np.array(rewards), info
