"""Replays .bk2 movies in the emulator and writes a behaviour-cloning dataset.

    python replay_parser.py --replay_path demos/Airstriker-Genesis-v0 --dataset_path datasets/air
    python replay_parser.py --replay_path ../shared/retro-movies --stats

Each movie is replayed from its own start state with the buttons it recorded; each agent step
of --frame_skip frames is labelled with the action held on most of its frames (the package's
retro_rl/demos/replay.py says exactly how). The dataset folder gets one .npz per movie and a
manifest.json (retro_rl/demos/dataset.py describes both). --stats reads only the movies'
inputs (no ROM needed) and prints their frames and button combinations.
"""

import sys

from retro_rl import cli
from retro_rl.demos import movies
from retro_rl.demos.parsing import parse_movies
from retro_rl.demos.replay import projection_stats
from retro_rl.envs import add_observation_flags, games
from retro_rl.errors import UserError


def build_parser():
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replay_path", nargs="+", required=True,
                        help=".bk2 movie files and/or folders searched recursively for *.bk2")
    parser.add_argument("--dataset_path",
                        help="output folder: one .npz per movie and manifest.json "
                             "(required unless --stats)")
    add_observation_flags(parser)
    parser.add_argument("--workers", type=int, default=2,
                        help="movies replayed in parallel, one emulator process each")
    parser.add_argument("--stats", action="store_true",
                        help="only print frames and button-combination statistics per movie "
                             "(reads inputs only; needs no ROM, writes nothing)")
    return parser


def print_statistics(replay_path, action_set=None):
    """Prints, per movie, its frames and how they map onto `action_set` (None: the movie's
    platform's table); then the combinations that needed projection. Needs no ROM. Returns
    ({movie stem: projection_stats}, errors)."""
    paths, problems = movies.find_some_movies(replay_path)
    errors = [f"{path}: {reason}" for path, reason in problems]
    stats, tables = {}, set()
    for path in paths:
        try:
            inputs = movies.read_movie(path)
        except UserError as problem:
            errors.append(str(problem))
            continue
        table = action_set or games.default_action_set(inputs.game)
        tables.add(table)
        stats[path.stem] = dict(projection_stats(inputs.pads, table), game=inputs.game)
    for message in errors:
        print(f"error: {message}", file=sys.stderr)
    # A movie's first step is the reset frame; the frames after it are the ones played.
    print(f"{'movie':<58} {'movie_steps':>11} {'frames':>7} {'combos':>6} {'projected':>9} "
          f"{'exact':>7}")
    for name, movie in stats.items():
        print(f"{name:<58} {movie['frames'] + 1:>11} {movie['frames']:>7} "
              f"{len(movie['combinations']):>6} {movie['projected_frames']:>9} "
              f"{movie['exact_frames'] / movie['frames']:>7.2%}")
    frames = sum(movie["frames"] for movie in stats.values())
    combinations, projected_to = {}, {}
    for movie in stats.values():
        for name, count in movie["combinations"].items():
            combinations[name] = combinations.get(name, 0) + count
        projected_to.update(movie["projected_to"])
    projected = sum(combinations[name] for name in projected_to)
    print(f"{'total: ' + str(len(stats)) + ' movies':<58} {frames + len(stats):>11} {frames:>7} "
          f"{len(combinations):>6} {projected:>9} {1 - projected / max(frames, 1):>7.2%}")
    if projected_to:
        print(f"\n{'combination not in the ' + '/'.join(sorted(tables)) + ' table':<40} "
              f"{'frames':>8}  action")
        for name in sorted(projected_to, key=lambda name: -combinations[name]):
            print(f"{name:<40} {combinations[name]:>8}  {projected_to[name]}")
    return stats, errors


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.stats:
        stats, _ = print_statistics(args.replay_path, args.action_set)
        if not stats:
            raise UserError(f"no readable movie in {' '.join(args.replay_path)}")
        return 0
    if args.dataset_path is None:
        raise UserError("--dataset_path is required (unless --stats): the folder to write to")
    parse_movies(args.replay_path, args.dataset_path, args.frame_skip, args.obs_size,
                 args.grayscale, args.action_set, args.workers, progress=True)
    return 0


if __name__ == "__main__":
    cli.run(main)
