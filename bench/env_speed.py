"""Emulator frames/s: raw stable-retro against make_env(), measured in the same run.

Raw: stable-retro's own env stepped one frame at a time with random buttons (what any user of the
library pays). make_env: the default pipeline (frame skip 4, 84x84 RGB, Discrete actions) with
random actions, counted in emulator frames. A ratio >= 1 means the wrappers cost nothing.

    python bench/env_speed.py [--frames 20000] [--game Airstriker-Genesis-v0]
"""

import argparse
import time

import numpy as np

from retro_rl.envs import games, make_env
from retro_rl.envs.actions import BUTTONS, NUM_BUTTONS
from retro_rl.envs.emulator import make_retro


def raw_frames_per_second(game, frames, rng):
    env = make_retro(game)
    env.reset()
    masks = rng.integers(0, 2, size=(frames, NUM_BUTTONS), dtype=np.uint8)
    masks[:, BUTTONS.index("START")] = 0  # START pauses: keep the game running
    start = time.perf_counter()
    for mask in masks:
        _, _, terminated, truncated, _ = env.step(mask)
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return frames / elapsed


def wrapped_frames_per_second(game, frames, rng):
    env = make_env(game=game)
    env.reset(seed=0)
    actions = rng.integers(0, env.action_space.n, size=frames // 4)
    emulated = 0
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, info = env.step(action)
        emulated += info["frames"]
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return emulated / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000,
                        help="emulator frames per measurement")
    parser.add_argument("--game", default=games.DEFAULT_GAME, help="stable-retro game id")
    parser.add_argument("--repeats", type=int, default=3, help="measurements of each; best is kept")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    raw = max(raw_frames_per_second(args.game, args.frames, rng) for _ in range(args.repeats))
    wrapped = max(wrapped_frames_per_second(args.game, args.frames, rng)
                  for _ in range(args.repeats))
    print(f"raw stable-retro : {raw:8.0f} frames/s")
    print(f"make_env()       : {wrapped:8.0f} frames/s  (frame skip 4, 84x84 RGB)")
    print(f"ratio            : {wrapped / raw:8.2f}")


if __name__ == "__main__":
    main()
