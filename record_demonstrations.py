"""Records demonstration movies (.bk2) for behaviour cloning: by look-ahead search, or by you.

    python record_demonstrations.py --output demos/Airstriker-Genesis-v0 --movies 10
    python record_demonstrations.py --mode human --output demos/mine

--mode search (an automatic demonstrator for any game whose scenario has a reward): at every
decision point the emulator's state is saved and `--candidates` plans, each `--horizon` agent
steps of action-table rows (every row held for `--frame_skip` frames, rows kept for a few steps
at a time), are played out from it. A plan's value is its reward minus `--death_penalty` per
life lost and for a game over. The best plan's first `--commit` steps are replayed from the saved
state and recorded; the rest of it is the first candidate at the next decision. On Airstriker
a death reaches `lives` only after an ~80-frame explosion, so the horizon (160 frames by
default) must see past it; when every plan loses a life, up to `--retries` fresh batches are
tried. Only committed frames reach the movie, so it replays exactly; each movie is replayed
once more after recording to check the score it claims.

--mode human: a window shows the game; arrows are the pad, Z/X/C are A/B/C, Enter is START.
The movie is written when the game ends, at Esc, or when the window is closed.

Movies are named <game>-<state>-<NNNN>.bk2 after the highest number already in --output, and
their frames and scores are merged into --output/demos.json, with the random-play baseline
(`--baseline_episodes` episodes of uniformly random actions from the action table, to game over).
"""

import json
import os
import pathlib
import shutil

import numpy as np
import tqdm

import cli
import env_wrappers
import replay_parser

DEMOS_FILE = "demos.json"


# ----------------------------------------------------------------------------------------------
# Emulator helpers


def lives(retro_env):
    """The game's `lives` variable, or 0 for a game without one."""
    return retro_env.data.lookup_all().get("lives", 0)


def restore(retro_env, state):
    retro_env.em.set_state(state)
    retro_env.data.update_ram()


def random_plan(rng, steps, num_actions, mean_hold):
    """int [steps] action indices; each action is kept for 1..2*mean_hold-1 agent steps."""
    plan = []
    while len(plan) < steps:
        plan += [int(rng.integers(num_actions))] * int(rng.integers(1, 2 * mean_hold))
    return plan[:steps]


def plan_value(retro_env, plan, table, frame_skip, death_penalty):
    """Plays `plan` (agent steps) from the current state; returns reward - penalties."""
    start_lives, total = lives(retro_env), 0.0
    for action in plan:
        for _ in range(frame_skip):
            env_wrappers.emulate_frame(retro_env, table[action])
            total += retro_env.data.current_reward()
            if retro_env.data.is_done():
                return total - death_penalty * (1 + max(start_lives - lives(retro_env), 0))
    return total - death_penalty * max(start_lives - lives(retro_env), 0)


# ----------------------------------------------------------------------------------------------
# Search mode


def search_movie(retro_env, path, args, rng, bar):
    """Records one movie of up to args.frames frames by look-ahead search: (score, frames)."""
    table = env_wrappers.action_table(args.action_set)
    retro_env.record_movie(str(path))
    retro_env.reset()
    movie = retro_env.movie
    plan = random_plan(rng, args.horizon, len(table), args.mean_hold)
    frames, score = 0, 0.0
    try:
        while frames < args.frames and not retro_env.data.is_done():
            root = retro_env.em.get_state()
            retro_env.movie = None  # look-ahead frames must not reach the movie
            best_value, best_plan = -np.inf, plan
            for attempt in range(1 + args.retries):
                candidates = [plan] if attempt == 0 else []
                while len(candidates) < args.candidates:
                    candidates.append(random_plan(rng, args.horizon, len(table), args.mean_hold))
                for candidate in candidates:
                    restore(retro_env, root)
                    value = plan_value(retro_env, candidate, table, args.frame_skip, args.death_penalty)
                    if value > best_value:
                        best_value, best_plan = value, candidate
                if best_value > -args.death_penalty / 2:
                    break  # some plan survives the horizon
            restore(retro_env, root)
            retro_env.movie = movie
            committed = [table[action] for action in best_plan[:args.commit]
                         for _ in range(args.frame_skip)]
            for pad in committed[:args.frames - frames]:
                env_wrappers.emulate_frame(retro_env, pad)
                score += retro_env.data.current_reward()
                frames += 1
                bar.update(1)
                if retro_env.data.is_done():
                    break
            plan = best_plan[args.commit:]
            plan += random_plan(rng, args.horizon - len(plan), len(table), args.mean_hold)
    finally:
        retro_env.movie = movie
        retro_env.stop_record()
    return score, frames


def replayed_score(retro_env, path):
    """Replays a recorded movie; returns (score, frames) to check what the recorder claims."""
    inputs = replay_parser.read_movie(path)
    retro_env.initial_state = inputs.start_state
    retro_env.reset()
    score = 0.0
    for pad in inputs.pads:
        env_wrappers.emulate_frame(retro_env, pad)
        score += retro_env.data.current_reward()
    return score, len(inputs.pads)


def random_baseline(args, episodes):
    """Scores of `episodes` episodes of uniformly random actions, each to game over."""
    env = env_wrappers.make_env(args.game, args.state, frame_skip=args.frame_skip,
                                action_set=args.action_set)
    rng, scores = np.random.default_rng(args.seed), []
    try:
        for episode in tqdm.trange(episodes, desc="random baseline", unit="episode"):
            env.reset(seed=args.seed + episode)
            while True:
                _, _, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
                if terminated or truncated:
                    scores.append(float(info["episode"]["return"]))
                    break
    finally:
        env.close()
    return scores


# ----------------------------------------------------------------------------------------------
# Human mode

# pygame key name -> pad button (BUTTONS names).
KEYS = {"up": "UP", "down": "DOWN", "left": "LEFT", "right": "RIGHT",
        "z": "A", "x": "B", "c": "C", "return": "START"}


def play_human(retro_env, path, scale=3, fps=60, max_frames=None, before_frame=None):
    """Shows the game in a pygame window and records the pad into `path` until the game ends,
    Esc, the window closes, or `max_frames` frames. Returns (score, frames).

    Keys are read from pygame's event queue (KEYDOWN/KEYUP), so a test can drive it headless
    (SDL_VIDEODRIVER=dummy) by posting events from `before_frame(frame_index)`. fps 0 runs
    as fast as the emulator can.
    """
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    pygame.init()
    keymap = {pygame.key.key_code(name): button for name, button in KEYS.items()}
    height, width = retro_env.get_screen().shape[:2]
    window = pygame.display.set_mode((width * scale, height * scale))
    clock = pygame.time.Clock()
    retro_env.record_movie(str(path))
    retro_env.reset()
    held, frames, score, playing = set(), 0, 0.0, True
    try:
        while playing and (max_frames is None or frames < max_frames):
            if before_frame:
                before_frame(frames)
            for event in pygame.event.get():
                if event.type == pygame.QUIT or (
                        event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
                    playing = False
                elif event.type == pygame.KEYDOWN and event.key in keymap:
                    held.add(keymap[event.key])
                elif event.type == pygame.KEYUP and event.key in keymap:
                    held.discard(keymap[event.key])
            if not playing:
                break
            env_wrappers.emulate_frame(
                retro_env, np.array([b in held for b in env_wrappers.BUTTONS], np.uint8))
            score += retro_env.data.current_reward()
            frames += 1
            image = pygame.surfarray.make_surface(retro_env.get_screen().swapaxes(0, 1))
            window.blit(pygame.transform.scale(image, window.get_size()), (0, 0))
            pygame.display.flip()
            if frames % 30 == 0:
                pygame.display.set_caption(f"score {score:.0f}  frame {frames}  (Esc saves)")
            playing = not retro_env.data.is_done()
            if fps:
                clock.tick(fps)
    finally:
        retro_env.stop_record()
        pygame.quit()
    return score, frames


# ----------------------------------------------------------------------------------------------
# Movie files and demos.json


def next_movie_path(output, game, state):
    """<output>/<game>-<state>-<NNNN>.bk2, numbered after the highest one already there."""
    prefix = f"{game}-{state}-"
    numbers = [int(path.stem[len(prefix):]) for path in output.glob(prefix + "*.bk2")
               if path.stem[len(prefix):].isdigit()]
    return output / f"{prefix}{max(numbers, default=-1) + 1:04d}.bk2"


def update_demos_file(output, game, state, args, movies, baseline):
    """Merges the new movies (and a new baseline, if measured) into <output>/demos.json."""
    path = output / DEMOS_FILE
    demos = json.loads(path.read_text()) if path.exists() else {}
    demos.update(game=game, state=state)
    if baseline:
        demos["random_baseline"] = {
            "episodes": len(baseline), "mean_score": float(np.mean(baseline)), "scores": baseline,
            "policy": f"uniformly random {args.action_set}-table actions, frame skip "
                      f"{args.frame_skip}, START never pressed, each episode to game over",
        }
    entries = {movie["file"]: movie for movie in demos.get("movies", []) + movies}
    demos["movies"] = [entries[name] for name in sorted(entries)]
    demos["total_frames"] = sum(movie["frames"] for movie in demos["movies"])
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(demos, indent=1) + "\n")
    os.replace(temporary, path)
    return demos


# ----------------------------------------------------------------------------------------------
# Main


def build_parser():
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("search", "human"), default="search",
                        help="search: automatic look-ahead demonstrator; human: play with the "
                             "keyboard")
    parser.add_argument("--game", default=env_wrappers.DEFAULT_GAME, help="stable-retro game id")
    parser.add_argument("--state", default=None, help="start state (default: the game's own)")
    parser.add_argument("--output", required=True, help="folder for the .bk2 movies and demos.json")
    parser.add_argument("--movies", type=int, default=10, help="search: movies to record")
    parser.add_argument("--frames", type=int, default=5400,
                        help="search: emulator frames per movie (fewer if the game ends)")
    parser.add_argument("--seed", type=int, default=0, help="search: seed of the random plans")
    parser.add_argument("--frame_skip", type=int, default=4,
                        help="search: emulator frames each plan step holds its buttons")
    parser.add_argument("--horizon", type=int, default=40,
                        help="search: look-ahead of each plan, in agent steps")
    parser.add_argument("--candidates", type=int, default=8, help="search: plans per decision")
    parser.add_argument("--commit", type=int, default=8,
                        help="search: agent steps of the best plan recorded per decision")
    parser.add_argument("--mean_hold", type=int, default=4,
                        help="search: mean agent steps a random plan keeps one action")
    parser.add_argument("--retries", type=int, default=4,
                        help="search: extra batches of plans when every plan loses a life")
    parser.add_argument("--death_penalty", type=float, default=1000.0,
                        help="search: value lost per life lost (and for a game over)")
    parser.add_argument("--action_set", default="full", choices=sorted(env_wrappers.ACTION_SETS),
                        help="search: rows the plans are made of; also the baseline's actions")
    parser.add_argument("--baseline_episodes", type=int, default=20,
                        help="search: random-play episodes measured for demos.json (0: keep the "
                             "baseline already there)")
    parser.add_argument("--scale", type=int, default=3, help="human: window pixels per screen pixel")
    parser.add_argument("--fps", type=int, default=60,
                        help="human: frames per second (60 is the console's speed; 0: no limit)")
    parser.add_argument("--max_frames", type=int, default=None,
                        help="human: stop recording after this many frames")
    return parser


def main():
    args = build_parser().parse_args()
    for name in ("movies", "frames", "frame_skip", "horizon", "candidates", "commit", "mean_hold", "scale"):
        if getattr(args, name) < 1:
            raise cli.UserError(f"--{name} must be >= 1 (got {getattr(args, name)})")
    if args.commit > args.horizon:
        raise cli.UserError(f"--commit ({args.commit}) must not exceed --horizon ({args.horizon})")

    output = pathlib.Path(args.output)
    baseline = []
    if args.mode == "search" and args.baseline_episodes > 0:
        baseline = random_baseline(args, args.baseline_episodes)
        print(f"random baseline: mean score {np.mean(baseline):.1f} over {len(baseline)} episodes")
    retro_env = env_wrappers.make_retro(args.game, args.state)
    game = retro_env.gamename
    state = os.path.splitext(os.path.basename(retro_env.statename))[0]
    output.mkdir(parents=True, exist_ok=True)
    # stable-retro writes a movie only when it is closed, and reads only names ending in .bk2:
    # record into a private folder and move each finished, checked movie into place.
    recording = output / f".recording-{os.getpid()}"
    recording.mkdir(exist_ok=True)
    recorded = []
    try:
        for index in range(args.movies if args.mode == "search" else 1):
            path = next_movie_path(output, game, state)
            if args.mode == "search":
                rng = np.random.default_rng([args.seed, index])
                with tqdm.tqdm(total=args.frames, unit="frame", desc=path.name) as bar:
                    score, frames = search_movie(retro_env, recording / path.name, args, rng, bar)
            else:
                score, frames = play_human(retro_env, recording / path.name, args.scale, args.fps,
                                           args.max_frames)
            if frames == 0:
                print("nothing recorded")
                continue
            replayed, replayed_frames = replayed_score(retro_env, recording / path.name)
            if (replayed, replayed_frames) != (score, frames):
                raise cli.UserError(
                    f"{path.name} replays to score {replayed} over {replayed_frames} frames, not "
                    f"{score} over {frames}: this game's emulation is not deterministic from save "
                    "states; record with --mode human instead")
            os.replace(recording / path.name, path)
            recorded.append({"file": path.name, "frames": frames, "score": score, "mode": args.mode})
            print(f"{path}: score {score:.0f} in {frames} frames")
            update_demos_file(output, game, state, args, recorded, baseline)
    finally:
        retro_env.close()
        shutil.rmtree(recording, ignore_errors=True)
    demos = update_demos_file(output, game, state, args, recorded, baseline)
    if "random_baseline" in demos and recorded:
        mean = demos["random_baseline"]["mean_score"]
        scores = [movie["score"] for movie in recorded]
        print(f"recorded {len(recorded)} movies: scores {min(scores):.0f}..{max(scores):.0f}, "
              f"{min(scores) / max(mean, 1e-9):.1f}x..{max(scores) / max(mean, 1e-9):.1f}x the "
              f"random baseline ({mean:.1f})")
    return 0


if __name__ == "__main__":
    cli.run(main)
