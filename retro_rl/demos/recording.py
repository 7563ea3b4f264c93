"""Recording demonstrations to disk: movies named after those already there, each checked by
replaying it before it is moved into place, and demos.json, which lists them with their scores
beside the random-play baseline."""

import json
import os
import pathlib
import shutil

import numpy as np
import tqdm

from retro_rl import fileio
from retro_rl.demos import human, movies, search
from retro_rl.envs.emulator import make_retro, run_frames
from retro_rl.errors import UserError

DEMOS_FILE = "demos.json"


def next_movie_path(output, game, state):
    """<output>/<game>-<state>-<NNNN>.bk2, numbered after the highest one already there."""
    prefix = f"{game}-{state}-"
    numbers = [int(path.stem[len(prefix):]) for path in output.glob(prefix + "*.bk2")
               if path.stem[len(prefix):].isdigit()]
    return output / f"{prefix}{max(numbers, default=-1) + 1:04d}.bk2"


def replayed_score(retro_env, path):
    """Replays a recorded movie; returns (score, frames) to check what the recorder claims."""
    inputs = movies.read_movie(path)
    retro_env.initial_state = inputs.start_state
    retro_env.reset()
    score, frames, _ = run_frames(retro_env, inputs.pads)
    return score, frames


def update_demos_file(output, game, state, recorded, baseline=None):
    """Merges the new movies (and a new baseline {"scores", "policy"}, if measured) into
    <output>/demos.json; returns its contents."""
    path = output / DEMOS_FILE
    demos = json.loads(path.read_text()) if path.exists() else {}
    demos.update(game=game, state=state)
    if baseline:
        scores = baseline["scores"]
        demos["random_baseline"] = {"episodes": len(scores), "mean_score": float(np.mean(scores)),
                                    "scores": scores, "policy": baseline["policy"]}
    entries = {movie["file"]: movie for movie in demos.get("movies", []) + recorded}
    demos["movies"] = [entries[name] for name in sorted(entries)]
    demos["total_frames"] = sum(movie["frames"] for movie in demos["movies"])
    fileio.write_json_atomic(path, demos)
    return demos


def record(output, game, state, mode, count, search_config=None, seed=0, human_settings=None,
           baseline=None):
    """Records `count` movies (search mode) or one (human mode) into `output`, each checked by
    replaying it, and merges them into demos.json. Returns the demos.json contents."""
    output = pathlib.Path(output)
    retro_env = make_retro(game, state)
    game = retro_env.gamename
    state = os.path.splitext(os.path.basename(retro_env.statename))[0]
    output.mkdir(parents=True, exist_ok=True)
    # stable-retro writes a movie only when it is closed, and reads only names ending in .bk2:
    # record into a private folder and move each finished, checked movie into place.
    recording = output / f".recording-{os.getpid()}"
    recording.mkdir(exist_ok=True)
    recorded = []
    try:
        for index in range(count if mode == "search" else 1):
            path = next_movie_path(output, game, state)
            if mode == "search":
                rng = np.random.default_rng([seed, index])
                with tqdm.tqdm(total=search_config.frames, unit="frame", desc=path.name) as bar:
                    score, frames = search.search_movie(retro_env, recording / path.name,
                                                        search_config, rng, bar.update)
            else:
                score, frames = human.play_human(retro_env, recording / path.name,
                                                 **(human_settings or {}))
            if frames == 0:
                print("nothing recorded")
                continue
            replayed, replayed_frames = replayed_score(retro_env, recording / path.name)
            if (replayed, replayed_frames) != (score, frames):
                raise UserError(
                    f"{path.name} replays to score {replayed} over {replayed_frames} frames, not "
                    f"{score} over {frames}: this game's emulation is not deterministic from save "
                    "states; record with --mode human instead")
            os.replace(recording / path.name, path)
            recorded.append({"file": path.name, "frames": frames, "score": score, "mode": mode})
            print(f"{path}: score {score:.0f} in {frames} frames")
            update_demos_file(output, game, state, recorded, baseline)
    finally:
        retro_env.close()
        shutil.rmtree(recording, ignore_errors=True)
    demos = update_demos_file(output, game, state, recorded, baseline)
    if "random_baseline" in demos and recorded:
        mean = demos["random_baseline"]["mean_score"]
        scores = [movie["score"] for movie in recorded]
        print(f"recorded {len(recorded)} movies: scores {min(scores):.0f}..{max(scores):.0f}, "
              f"{min(scores) / max(mean, 1e-9):.1f}x..{max(scores) / max(mean, 1e-9):.1f}x the "
              f"random baseline ({mean:.1f})")
    return demos
