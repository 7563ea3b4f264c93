"""Plays a trained model for a number of episodes, measures it, and optionally shows it.

    python run_evaluation.py --model_name sl-airstriker --episodes 10 --baseline random
    python run_evaluation.py --baseline random --game Airstriker-Genesis-v0   # baseline only

The model folder (behaviour cloning or IMPALA alike) carries the environment settings it was
trained with, so each episode sees exactly the observations and actions of training. Episode i
(counting from 0) resets the environment and seeds the action sampling with seed + i, so the
same seed gives the same report, and the random baseline plays the very same episodes.

The report is printed and saved as JSON in <workspace>/results/.
"""

import json
import os
import sys
import time

import imageio
import numpy as np
from tqdm import tqdm

import cli
import display
import env_wrappers
import network as nw
from agent import Agent
from cli import UserError

VIDEO_EXTENSIONS = (".mp4", ".gif")


def build_parser():
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace_path", default=".",
                        help="folder holding model/ (read) and results/ (written)")
    parser.add_argument("--model_name", default=None,
                        help="model folder under <workspace>/model/ to evaluate; may be left out "
                             "with --baseline random to measure the baseline alone")
    parser.add_argument("--game", default=None,
                        help="stable-retro game id; default: the model's game, or "
                             f"{env_wrappers.DEFAULT_GAME} without a model")
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
    if args.video_episode is not None:
        if args.video is None:
            raise UserError("--video_episode chooses the episode for --video; give --video too")
        if not 0 <= args.video_episode < args.episodes:
            raise UserError(f"--video_episode must be in 0..{args.episodes - 1}")
    return args


# ----------------------------------------------------------------------------------------------
# Environment


def resolve_environment(args, model_folder):
    """The EnvConfig to play (the model's, with --game and --max_steps applied) and the list of
    states the episodes cycle through (None: the game's default). Checks the game, its ROM and
    every state before anything slow happens."""
    if model_folder is not None:
        env_config = env_wrappers.EnvConfig.from_dict(nw.read_config(model_folder)["env"])
    else:
        env_config = env_wrappers.EnvConfig()
    if args.game is not None:
        # Another game's start state means nothing here.
        env_config = env_config.replace(game=args.game, state=None)
    game = env_wrappers.resolve_game(env_config.game)
    env_wrappers.check_rom(game)
    env_config = env_config.replace(game=game, max_episode_steps=args.max_steps)

    states = env_wrappers.resolve_states(game, args.state, default=env_config.state)
    return env_config, states


class OneEmulator:
    """Gives every episode a freshly made environment. An episode is then a function of its
    seed alone, whatever played before it (so the baseline's episodes are the model's, and the
    video's replay is the episode), for ~0.15 s per episode. stable-retro allows one emulator
    per process, so the previous one is closed first; closing also finishes its .bk2 movie."""

    def __init__(self, env_config):
        self.env_config = env_config
        self.env = None

    def fresh(self, state, record_path=None):
        self.close()
        self.env = self.env_config.replace(state=state).make(record_path=record_path)
        return self.env

    def close(self):
        if self.env is not None:
            self.env.close()
        self.env = None


def state_label(env):
    """The start state's name as stable-retro loaded it, e.g. 'EmeraldHillZone.Act1'."""
    return os.path.splitext(os.path.basename(env.unwrapped.statename))[0]


# ----------------------------------------------------------------------------------------------
# Policies


class RandomPolicy:
    """The uniform-random baseline, with Agent's verbs so one loop plays both."""

    def __init__(self, num_actions, seed):
        self.num_actions = num_actions
        self.rng = np.random.default_rng(seed)

    def act(self, observations):
        return self.rng.integers(self.num_actions, size=len(observations))

    def observe(self, actions, rewards, dones):
        pass


def find_model(args):
    """The model folder named by --model_name (None without one); an unknown name lists the
    models there are."""
    if args.model_name is None:
        return None
    return nw.find_model_folder(args.workspace_path, args.model_name)


# ----------------------------------------------------------------------------------------------
# Playing


def play_episode(env, policy, seed, on_step=None):
    """Plays one episode from env.reset(seed=seed); returns env's info["episode"].
    on_step(action, info) runs after every agent step."""
    observation, _ = env.reset(seed=seed)
    while True:
        action = int(policy.act(observation[None])[0])
        observation, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        policy.observe([action], [reward], [done])
        if on_step is not None:
            on_step(action, info)
        if done:
            return info["episode"]


class LiveView:
    """--render: each agent step's full screen in a window, with the action and the return.
    The window opens here, before the progress bar, so a no-display notice stays one line."""

    def __init__(self, title, env_config, screen_shape, scale, fps):
        self.action_names = env_wrappers.action_names(env_config.action_set)
        self.fps = 60.0 / env_config.frame_skip if fps is None else fps
        self.window = display.open_window(title, screen_shape, scale)

    def start(self, env, heading):
        self.env, self.heading = env, heading

    def step(self, action, info):
        if self.window is None:
            return
        lines = [self.heading,
                 f"action {self.action_names[action]}    return {info['episode_return']:g}"]
        if not self.window.show(self.env.unwrapped.get_screen(), lines):
            tqdm.write("window closed; the evaluation goes on without it", file=sys.stderr)
            self.window = None
            return
        self.window.tick(self.fps)


def play_episodes(args, label, make_policy, states, emulator, live, progress):
    """Plays --episodes episodes of one policy; returns their report rows."""
    record_path = args.record_path
    if record_path is not None and label == "random" and args.model_name is not None:
        record_path = os.path.join(record_path, "random")
    rows = []
    for episode in range(args.episodes):
        seed = args.seed + episode
        env = emulator.fresh(states[episode % len(states)], record_path)
        movie = None
        if record_path is not None:
            # A fresh environment numbers its movies from 0; name this one after the episode.
            env.unwrapped.movie_id = episode
            movie = os.path.join(
                record_path, f"{env.unwrapped.gamename}-{state_label(env)}-{episode:06d}.bk2")
        if live is not None:
            live.start(env, f"{label}  episode {episode}  {state_label(env)}")
        statistics = play_episode(env, make_policy(seed), seed, live.step if live else None)
        rows.append(episode_row(episode, seed, state_label(env), statistics, movie))
        progress.set_postfix({f"{label} return": f"{statistics['return']:g}"})
        progress.update()
    return rows


def write_video(path, chosen, label, rows, make_policy, states, emulator, env_config):
    """Plays episode `chosen` (default: the best) again, as deterministic as it was given its
    seed, streaming every agent step's full-resolution screen to `path`, so no episode's frames
    pile up in memory. Returns the report's "video" entry."""
    if chosen is None:
        chosen = max(range(len(rows)), key=lambda i: (rows[i]["return"], -i))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fps = 60.0 / env_config.frame_skip  # real time
    if path.lower().endswith(".gif"):
        writer = imageio.get_writer(path, duration=1000.0 / fps, loop=0)
    else:
        writer = imageio.get_writer(path, fps=fps)
    env = emulator.fresh(states[chosen % len(states)])
    seed = rows[chosen]["seed"]
    with writer:
        replay = play_episode(env, make_policy(seed), seed,
                              lambda action, info: writer.append_data(env.unwrapped.get_screen()))
    if replay["return"] != rows[chosen]["return"]:
        print(f"warning: the video's replay of episode {chosen} scored {replay['return']:g}, "
              f"not {rows[chosen]['return']:g}", file=sys.stderr)
    return {"path": path, "policy": label, "episode": chosen, "frames": int(replay["length"])}


# ----------------------------------------------------------------------------------------------
# Report


def describe(values):
    values = np.asarray(values, np.float64)
    return {"mean": float(values.mean()), "median": float(np.median(values)),
            "std": float(values.std()), "min": float(values.min()), "max": float(values.max())}


def summarize(episodes, sonic):
    summary = {key: describe([e[key] for e in episodes]) for key in ("return", "length", "frames")}
    if sonic:
        summary["x_progress"] = describe([e["x_progress"] for e in episodes])
        summary["completed_fraction"] = float(np.mean([e["level_complete"] for e in episodes]))
    return summary


def episode_row(episode, seed, act, statistics, movie):
    row = {"episode": episode, "seed": seed, "act": act,
           "return": float(statistics["return"]), "length": int(statistics["length"]),
           "frames": int(statistics["frames"])}
    if "x_progress" in statistics:
        row["x_progress"] = float(statistics["x_progress"])
        row["level_complete"] = bool(statistics["level_complete"])
    if movie is not None:
        row["movie"] = movie
    return row


def print_report(report):
    policies = report["policies"]
    first = next(iter(policies))
    sonic = "x_progress" in policies[first]["summary"]
    header = f"{'episode':>7}  {'act':<22}{'seed':>6}"
    for label in policies:
        header += f"{label[:12]:>14}{'length':>8}" + (f"{'progress':>9}{'done':>5}" if sonic else "")
    print(header)
    for index, row in enumerate(policies[first]["episodes"]):
        line = f"{row['episode']:>7}  {row['act'][:21]:<22}{row['seed']:>6}"
        for result in policies.values():
            other = result["episodes"][index]
            line += f"{other['return']:>14.1f}{other['length']:>8}"
            if sonic:
                line += f"{other['x_progress']:>9.2f}{'yes' if other['level_complete'] else '-':>5}"
        print(line)
    print(f"\n{'':<24}{'mean':>10}{'median':>10}{'std':>10}{'min':>10}{'max':>10}")
    for label, result in policies.items():
        for key in ["return", "length"] + (["x_progress"] if sonic else []):
            stats = result["summary"][key]
            print(f"{label[:14]:<14}{key:<10}" + "".join(
                f"{stats[name]:>10.2f}" for name in ("mean", "median", "std", "min", "max")))
        if sonic:
            print(f"{label[:14]:<14}completed the act in "
                  f"{result['summary']['completed_fraction']:.0%} of episodes")
    if "ratio_to_random" in report:
        ratio = report["ratio_to_random"]
        shown = "n/a (the random policy's mean return is not positive)" if ratio is None \
            else f"{ratio:.2f}x"
        print(f"mean return of the model / random baseline: {shown}")


def save_report(report, workspace_path, name):
    """Writes <workspace>/results/<name>-seed<seed>-<time>.json; returns its path."""
    folder = os.path.join(workspace_path, "results")
    os.makedirs(folder, exist_ok=True)
    stem = f"{name}-seed{report['settings']['seed']}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, copy = os.path.join(folder, f"{stem}.json"), 1
    while os.path.exists(path):
        path, copy = os.path.join(folder, f"{stem}-{copy}.json"), copy + 1
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    return path


# ----------------------------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    model_folder = find_model(args)
    env_config, states = resolve_environment(args, model_folder)
    sonic = env_wrappers.is_sonic(env_config.game)

    # Network: only now that the game and ROM are known to be there.
    policies, model_config = {}, {}
    if model_folder is not None:
        network, _, model_config = nw.load_model(model_folder)
        if tuple(network.observation_shape) != env_config.observation_shape:
            raise UserError(f"{model_folder}: its network and environment settings disagree "
                            "on the observation shape; the folder is damaged")
        policies["model"] = lambda seed: Agent(network, 1, seed=seed, greedy=args.greedy)
    if args.baseline == "random":
        policies["random"] = lambda seed: RandomPolicy(env_config.num_actions, seed)
    name = args.model_name or "random"

    emulator = OneEmulator(env_config)
    live = None
    try:
        if args.render:
            screen_shape = emulator.fresh(states[0]).unwrapped.get_screen().shape
            live = LiveView(f"{name} on {env_config.game}", env_config, screen_shape,
                            args.render_scale, args.render_fps)
        with tqdm(total=args.episodes * len(policies), unit="episode", desc=name) as progress:
            results = {label: play_episodes(args, label, make_policy, states, emulator, live,
                                            progress)
                       for label, make_policy in policies.items()}
        report = {
            "settings": {
                "model_name": args.model_name, "game": env_config.game,
                "states": [state or "default" for state in states], "episodes": args.episodes,
                "max_steps": args.max_steps, "greedy": args.greedy, "seed": args.seed,
                "baseline": args.baseline, "env": env_config.to_dict(),
                "model_config": {k: v for k, v in model_config.items() if k != "env"},
            },
            "policies": {label: {"episodes": rows, "summary": summarize(rows, sonic)}
                         for label, rows in results.items()},
        }
        if "model" in results and "random" in results:
            random_mean = report["policies"]["random"]["summary"]["return"]["mean"]
            model_mean = report["policies"]["model"]["summary"]["return"]["mean"]
            report["ratio_to_random"] = model_mean / random_mean if random_mean > 0 else None
        if args.video is not None:
            # The model's episode; the baseline's when it plays alone.
            label = next(iter(policies))
            report["video"] = write_video(args.video, args.video_episode, label, results[label],
                                          policies[label], states, emulator, env_config)
    finally:
        emulator.close()
        if live is not None and live.window is not None:
            live.window.close()

    print_report(report)
    if "video" in report:
        video = report["video"]
        print(f"video of {video['policy']} episode {video['episode']}: {video['path']}")
    print(f"report saved to {save_report(report, args.workspace_path, name)}")
    return 0


if __name__ == "__main__":
    cli.run(main)
