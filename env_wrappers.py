"""Shows what an agent sees and does in a game: its action table, its observation, the RAM
variables stable-retro reads, and a few random steps.

    python env_wrappers.py                                  # Airstriker, the default settings
    python env_wrappers.py --game SonicTheHedgehog2-Genesis-v0 --state EmeraldHillZone.Act1
    python env_wrappers.py --grayscale --obs_size 64 --image image/observation.png
    python env_wrappers.py --game ALE/Pong-v5               # any registered Gymnasium id

The environment itself is built by the package (retro_rl/envs: actions, games, emulator,
observations, wrappers, config); every command uses the same `make_env`.
"""

import numpy as np

from retro_rl import cli, fields
from retro_rl.envs import EnvConfig, games
from retro_rl.envs.actions import (action_names, action_table, button_masks, buttons_of,
                                   combination_name)
from retro_rl.envs.gymnasium_games import NATIVE
from retro_rl.errors import UserError


def build_parser():
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    fields.add_flags(parser, EnvConfig, describe=fields.help_with_default)  # all of them
    parser.add_argument("--steps", type=int, default=100,
                        help="random agent steps to play after the reset")
    parser.add_argument("--seed", type=int, default=0, help="seed of the reset and the actions")
    parser.add_argument("--image", default=None,
                        help="write the last observation, scaled up 4x, to this .png file")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.steps < 0:
        raise UserError(f"--steps must be at least 0 (got {args.steps})")
    if args.image is not None and not args.image.lower().endswith(".png"):
        raise UserError(f"--image {args.image!r}: name a .png file")
    given = fields.given_settings(args, EnvConfig)  # left out: EnvConfig's default for the game
    config = EnvConfig(**{**given, "game": games.resolve_game(given.get("game",
                                                                        games.DEFAULT_GAME))})
    env = config.make()
    try:
        observation, info = env.reset(seed=args.seed)
        print(f"game {config.game}, state {config.state or 'default'}, one agent step = "
              f"{config.frame_skip} frames")
        print(f"observation: uint8 {observation.shape}")
        print(f"actions ({config.action_set}, {config.num_actions}):")
        if config.action_set == NATIVE:
            for index, name in enumerate(config.action_names):
                print(f"  {index:>3}  {name}")
        else:
            masks = button_masks(action_table(config.action_set))
            for index, (name, mask) in enumerate(zip(action_names(config.action_set), masks)):
                pad = combination_name(int(mask), buttons_of(config.action_set))
                print(f"  {index:>3}  {name:<18} pad {pad}")
        what = "info" if config.action_set == NATIVE else "RAM variables"
        print(f"{what} at reset: " + ", ".join(
            f"{name}={value}" for name, value in sorted(info.items())))
        rng = np.random.default_rng(args.seed)
        total, frames, steps = 0.0, 0, 0
        for steps in range(1, args.steps + 1):  # noqa: B007 (the count is reported after)
            observation, reward, terminated, truncated, info = env.step(
                int(rng.integers(config.num_actions)))
            total, frames = total + reward, frames + info["frames"]
            if terminated or truncated:
                break
        if args.steps:
            print(f"{steps} random steps ({frames} frames): reward {total:g}"
                  + (", the episode ended" if terminated or truncated else ""))
    finally:
        env.close()
    if args.image is not None:
        import cv2

        scaled = np.kron(observation, np.ones((4, 4, 1), np.uint8))
        cv2.imwrite(args.image, scaled[..., ::-1] if scaled.shape[-1] == 3 else scaled)
        print(f"wrote {args.image}")
    return 0


if __name__ == "__main__":
    cli.run(main)
