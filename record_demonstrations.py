"""Records demonstration movies (.bk2) for behaviour cloning: by look-ahead search, or by you.

    python record_demonstrations.py --output demos/Airstriker-Genesis-v0 --movies 10
    python record_demonstrations.py --mode human --output demos/mine

--mode search (an automatic demonstrator for any game whose scenario has a reward) plays out
random plans from emulator save states and records the best one's first steps (the package's
retro_rl/demos/search.py says exactly how). --mode human shows the game in a window: arrows are
the pad, Z/X/C are A/B/C, Enter is START; the movie is written when the game ends, at Esc, or
when the window is closed.

Movies are named <game>-<state>-<NNNN>.bk2 after the highest number already in --output, each
is replayed once after recording to check the score it claims, and their frames and scores are
merged into --output/demos.json with the random-play baseline (`--baseline_episodes` episodes
of uniformly random actions, as run_evaluation.py's --baseline random plays them).
"""

import dataclasses

import numpy as np

from retro_rl import cli
from retro_rl.demos import recording
from retro_rl.demos.search import SearchConfig
from retro_rl.envs import EnvConfig, games
from retro_rl.envs.actions import ACTION_SETS
from retro_rl.errors import UserError
from retro_rl.evaluation.episodes import random_baseline_scores


def build_parser():
    defaults = SearchConfig()
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--mode", choices=("search", "human"), default="search",
        help="search: automatic look-ahead demonstrator; human: play with the keyboard")
    add("--game", default=games.DEFAULT_GAME, help="stable-retro game id")
    add("--state", default=None, help="start state (default: the game's own)")
    add("--output", required=True, help="folder for the .bk2 movies and demos.json")
    add("--movies", type=int, default=10, help="search: movies to record")
    add("--frames", type=int, default=defaults.frames,
        help="search: emulator frames per movie (fewer if the game ends)")
    add("--seed", type=int, default=0, help="search: seed of the random plans and the baseline")
    add("--frame_skip", type=int, default=defaults.frame_skip,
        help="search: emulator frames each plan step holds its buttons")
    add("--horizon", type=int, default=defaults.horizon,
        help="search: look-ahead of each plan, in agent steps")
    add("--candidates", type=int, default=defaults.candidates, help="search: plans per decision")
    add("--commit", type=int, default=defaults.commit,
        help="search: agent steps of the best plan recorded per decision")
    add("--mean_hold", type=int, default=defaults.mean_hold,
        help="search: mean agent steps a random plan keeps one action")
    add("--retries", type=int, default=defaults.retries,
        help="search: extra batches of plans when every plan loses a life")
    add("--death_penalty", type=float, default=defaults.death_penalty,
        help="search: value lost per life lost (and for a game over)")
    add("--action_set", default=None, choices=sorted(ACTION_SETS),
        help="search: rows the plans are made of; also the baseline's actions (default: the "
             "game's platform's table)")
    add("--baseline_episodes", type=int, default=20,
        help="search: random-play episodes measured for demos.json (0: keep the baseline "
             "already there)")
    add("--scale", type=int, default=3, help="human: window pixels per screen pixel")
    add("--fps", type=int, default=60,
        help="human: frames per second (60 is the console's speed; 0: no limit)")
    add("--max_frames", type=int, default=None, help="human: stop recording after this many frames")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.movies < 1 or args.scale < 1:
        raise UserError(f"--movies and --scale must be >= 1 (got {args.movies}, {args.scale})")
    if games.platform(games.resolve_game(args.game)) == "Gymnasium":
        raise UserError(f"{args.game} is a Gymnasium environment: demonstrations are .bk2 "
                        "movies, which only stable-retro games record")
    if args.mode == "human" and games.platform(games.resolve_game(args.game)) != "Genesis":
        raise UserError("--mode human plays with a Genesis pad's keys; choose a Genesis game")
    args.action_set = args.action_set or games.default_action_set(games.resolve_game(args.game))
    search_config = SearchConfig(**{field.name: getattr(args, field.name)
                                    for field in dataclasses.fields(SearchConfig)})
    baseline = None
    if args.mode == "search" and args.baseline_episodes > 0:
        env_config = EnvConfig(game=games.resolve_game(args.game), state=args.state,
                               frame_skip=args.frame_skip, action_set=args.action_set)
        scores = random_baseline_scores(env_config, args.baseline_episodes, args.seed)
        baseline = {"scores": scores,
                    "policy": f"uniformly random {args.action_set}-table actions, frame skip "
                              f"{args.frame_skip}, START never pressed, each episode to game "
                              f"over (run_evaluation.py's baseline, seeds {args.seed}..)"}
        print(f"random baseline: mean score {np.mean(scores):.1f} over {len(scores)} episodes")
    recording.record(args.output, args.game, args.state, args.mode, args.movies, search_config,
                     args.seed, {"scale": args.scale, "fps": args.fps,
                                 "max_frames": args.max_frames}, baseline)
    return 0


if __name__ == "__main__":
    cli.run(main)
