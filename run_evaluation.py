"""Plays a trained model for a number of episodes, measures it, and optionally shows it.

    python run_evaluation.py --model_name sl-airstriker --episodes 10 --baseline random
    python run_evaluation.py --baseline random --game Airstriker-Genesis-v0   # baseline only

The model folder (behaviour cloning or reinforcement learning alike) carries the environment
settings it was trained with, so each episode sees exactly the observations and actions of
training. Episode i (counting from 0) resets the environment and seeds the action sampling with
seed + i, so the same seed gives the same report, and the random baseline plays the very same
episodes. Episodes are spread over --workers processes, one emulator each, and the report does not
depend on their number.

The report is printed and saved as JSON in <workspace>/results/.
"""

import os
import sys

from tqdm import tqdm

from retro_rl import cli, fileio
from retro_rl.envs import EnvConfig, games
from retro_rl.envs.gymnasium_games import is_gymnasium_id, screen
from retro_rl.errors import UserError
from retro_rl.evaluation import report as reports
from retro_rl.evaluation.episodes import evaluation_env, state_label
from retro_rl.evaluation.video import VIDEO_EXTENSIONS, LiveView
from retro_rl.evaluation.workers import Player, PolicySource, WorkerPool
from retro_rl.model import folders
from retro_rl.runtime import start_tensorflow


def build_parser():
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace_path", default=".",
                        help="folder holding model/ (read) and results/ (written)")
    parser.add_argument("--model_name", default=None,
                        help="model folder under <workspace>/model/ to evaluate; may be left out "
                             "with --baseline random to measure the baseline alone")
    parser.add_argument("--game", default=None,
                        help="stable-retro game id, or a registered Gymnasium id such as "
                             "ALE/Pong-v5; default: the model's game, or "
                             f"{games.DEFAULT_GAME} without a model")
    parser.add_argument("--state", default=None,
                        help="start state: a Sonic act such as EmeraldHillZone.Act1, a comma-"
                             "separated list, or 'all' (the 18 Sonic 2 acts; every state of "
                             "other games); episodes cycle through them. Default: the model's")
    parser.add_argument("--episodes", type=int, default=10, help="episodes per policy")
    parser.add_argument("--max_steps", type=int, default=4500,
                        help="agent steps before an episode is cut off (the Sonic contest's 4,500)")
    parser.add_argument("--greedy", action="store_true",
                        help="always take the most likely action instead of sampling one")
    parser.add_argument("--seed", type=int, default=0,
                        help="episode i uses seed + i for the environment and the sampling")
    parser.add_argument("--baseline", choices=["random"], default=None,
                        help="also play a uniform-random policy on the same episodes and report "
                             "the model's ratio of mean returns to it")
    parser.add_argument("--render", action="store_true",
                        help="show the play live in a window (headless without a display)")
    parser.add_argument("--render_scale", type=int, default=2,
                        help="window pixels per screen pixel")
    parser.add_argument("--render_fps", type=float, default=None,
                        help="agent steps shown per second; default: real time "
                             "(60 / frame skip), 0: as fast as it plays")
    parser.add_argument("--video", default=None,
                        help="write one episode at full resolution to this .mp4 or .gif file")
    parser.add_argument("--video_episode", type=int, default=None,
                        help="which episode (from 0) the video shows; default: the best one")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes that play episodes side by side, one emulator each "
                             "(the report is the same for any number); default: the machine's "
                             "cores, 1 with --render")
    parser.add_argument("--record_path", default=None,
                        help="record every episode as a .bk2 movie in this folder (with a model, "
                             "the random baseline's go to its random/ subfolder)")
    return parser


def parse_args(argv):
    args = build_parser().parse_args(argv)
    if args.model_name is None and args.baseline is None:
        raise UserError("nothing to evaluate: give --model_name, or --baseline random alone")
    if args.episodes < 1 or args.max_steps < 1:
        raise UserError("--episodes and --max_steps must be at least 1")
    if args.render_scale < 1 or (args.render_fps is not None and args.render_fps < 0):
        raise UserError("--render_scale must be at least 1 and --render_fps at least 0")
    if args.video is not None and not args.video.lower().endswith(VIDEO_EXTENSIONS):
        raise UserError(f"--video {args.video!r}: name a .mp4 or .gif file")
    if args.workers is None:
        args.workers = 1 if args.render else os.cpu_count() or 1
    if args.workers < 1:
        raise UserError(f"--workers must be at least 1 (got {args.workers})")
    if args.render and args.workers > 1:
        raise UserError("--render shows one window: play with --workers 1")
    if args.video_episode is not None:
        if args.video is None:
            raise UserError("--video_episode chooses the episode for --video; give --video too")
        if not 0 <= args.video_episode < args.episodes:
            raise UserError(f"--video_episode must be in 0..{args.episodes - 1}")
    return args


def resolve_environment(args, model_folder):
    """The EnvConfig to play (the model's, with --game and --max_steps applied) and the list of
    states the episodes cycle through (None: the game's default). Checks the game, its ROM and
    every state before anything slow happens."""
    if model_folder is not None:
        env_config = folders.read_env_config(model_folder)
        if args.game is not None:
            # Another game's start state means nothing here.
            env_config = env_config.replace(game=args.game, state=None)
    else:
        # The game's own defaults (the ALE's setup for an ALE id).
        env_config = EnvConfig(game=games.resolve_game(args.game or games.DEFAULT_GAME))
    game = games.resolve_game(env_config.game)
    games.check_rom(game)
    if args.record_path is not None and is_gymnasium_id(game):
        raise UserError(f"--record_path records .bk2 movies, which only stable-retro games "
                        f"have; {game} is a Gymnasium environment")
    env_config = evaluation_env(env_config.replace(game=game), args.max_steps)
    states = games.resolve_states(game, args.state, default=env_config.state)
    return env_config, states


def build_report(args, env_config, states, model_config, results, partial=False):
    """The report of the episodes in `results` ({policy: rows}); `partial` marks a run that
    was interrupted before every episode was played."""
    report = {
        "settings": {
            "model_name": args.model_name, "game": env_config.game,
            "states": [state or "default" for state in states], "episodes": args.episodes,
            "max_steps": args.max_steps, "greedy": args.greedy, "seed": args.seed,
            "baseline": args.baseline, "env": env_config.to_dict(),
            "model_config": {k: v for k, v in model_config.items() if k != "env"},
        },
        "policies": {label: {"episodes": rows, "summary": reports.summarize(rows)}
                     for label, rows in results.items() if rows},
    }
    if partial:
        report["partial"] = True
    policies = report["policies"]
    if "model" in policies and "random" in policies:
        random_mean = policies["random"]["summary"]["return"]["mean"]
        model_mean = policies["model"]["summary"]["return"]["mean"]
        report["ratio_to_random"] = model_mean / random_mean if random_mean > 0 else None
    return report


def play_here(player, states, jobs, seed, live):
    """Plays `jobs` one after another in this process, as WorkerPool.play yields them."""
    for label, source, episode, record_path in jobs:
        on_start = None
        if live is not None:
            def on_start(episode, env, label=label):
                live.start(env, f"{label}  episode {episode}  {state_label(env)}")
        act, statistics, movie = player.play(states, source, episode, seed,
                                             record_path, on_start,
                                             live.step if live else None)
        yield label, episode, act, statistics, movie


def in_order(results):
    """{label: {episode: row}} -> {label: rows in episode order}."""
    return {label: [rows[episode] for episode in sorted(rows)]
            for label, rows in results.items()}


def main(argv=None):
    args = parse_args(argv)
    model_folder = None
    if args.model_name is not None:
        model_folder = folders.find_model_folder(args.workspace_path, args.model_name)
    env_config, states = resolve_environment(args, model_folder)
    fileio.check_writable(os.path.join(args.workspace_path, "results"))
    if args.video is not None:
        fileio.check_writable(os.path.dirname(os.path.abspath(args.video)))

    sources = {}
    if model_folder is not None:
        sources["model"] = PolicySource(model_folder, args.greedy)
    if args.baseline == "random":
        sources["random"] = PolicySource()
    model_config = folders.read_config(model_folder) if model_folder is not None else {}
    name = args.model_name or "random"
    record_paths = {label: args.record_path for label in sources}
    if args.record_path is not None and "model" in sources and "random" in sources:
        record_paths["random"] = os.path.join(args.record_path, "random")
    jobs = [(label, source, episode, record_paths[label])
            for label, source in sources.items() for episode in range(args.episodes)]
    workers = min(args.workers, len(jobs))

    player = pool = live = None
    results = {label: {} for label in sources}  # {label: {episode: row}}
    try:
        if workers > 1:
            pool = WorkerPool(env_config, states, workers)
            pool.load(sources.values())
            played = pool.play(jobs, args.seed)
        else:
            # The network: only now that the game, its ROM and the output folders are known to
            # be there.
            if model_folder is not None:
                start_tensorflow()
            player = Player(env_config, tensorflow_started=True)
            for source in sources.values():
                player.policy_maker(source)  # a damaged model stops here, before any episode
            if args.render:
                first = player.emulator.fresh(states[0])
                first.reset(seed=args.seed)
                screen_shape = screen(first).shape
                live = LiveView(f"{name} on {env_config.game}", env_config, screen_shape,
                                args.render_scale, args.render_fps)
            played = play_here(player, states, jobs, args.seed, live)
        with tqdm(total=len(jobs), unit="episode", desc=name) as progress:
            for label, episode, act, statistics, movie in played:
                results[label][episode] = reports.episode_row(
                    episode, args.seed + episode, act, statistics, movie)
                progress.set_postfix({f"{label} return": f"{statistics['return']:g}"})
                progress.update()
        rows = in_order(results)
        report = build_report(args, env_config, states, model_config, rows)
        if args.video is not None:
            # The model's episode; the baseline's when it plays alone.
            label = next(iter(sources))
            make_video = pool.video if pool is not None else (
                lambda *video_args: player.video(*video_args, states))
            try:
                report["video"] = make_video(args.video, args.video_episode, label, rows[label],
                                             sources[label])
            except (OSError, RuntimeError, ValueError) as error:
                print(f"warning: could not write the video {args.video} ({error}); the report "
                      "is saved without it", file=sys.stderr)
    except KeyboardInterrupt:
        rows = in_order(results)
        if any(rows.values()):
            report = build_report(args, env_config, states, model_config, rows, partial=True)
            finished = sum(len(episodes) for episodes in rows.values())
            path = reports.save_report(report, args.workspace_path, name)
            print(f"interrupted: the report of the {finished} episodes played is saved to "
                  f"{path}", file=sys.stderr)
        raise
    finally:
        if pool is not None:
            pool.close()
        if player is not None:
            player.close()
        if live is not None:
            live.close()

    reports.print_report(report)
    if "video" in report:
        video = report["video"]
        print(f"video of {video['policy']} episode {video['episode']}: {video['path']}")
    print(f"report saved to {reports.save_report(report, args.workspace_path, name)}")
    return 0


if __name__ == "__main__":
    cli.run(main)
