"""Replays .bk2 movies in the emulator and writes a behaviour-cloning dataset.

    python replay_parser.py --replay_path demos/Airstriker-Genesis-v0 --dataset_path datasets/air
    python replay_parser.py --replay_path ../shared/retro-movies --stats

Each movie is replayed from its own start state with the buttons it recorded, frame by frame
(`env_wrappers.emulate_frame`, exactly as the environment steps). Frames are grouped into agent
steps of `frame_skip` frames, as `make_env` does:

  * label: the action (`buttons_to_action`) held on most of the step's frames, the earliest of
    them on a tie. A movie recorded through `make_env` holds one action per step, so its labels
    are exactly the actions taken; a human's movie may change buttons inside a step.
  * a trailing partial step (fewer than `frame_skip` frames) is dropped, unless the game ended
    inside it: then, like the environment, the step ends on the game's last frame and is kept.
  * the episode ends where the game ends (the scenario's done, e.g. Airstriker's game over);
    later frames of the movie are counted in the manifest but not used.

Dataset folder: one `<movie stem>.npz` per movie and `manifest.json`. In each .npz, for a movie
of N agent steps:
    observations uint8 [N, obs_size, obs_size, 1 or 3]: what the agent saw when it chose step
        t's action: the reset screen for t = 0, then the screen after step t-1's frames
        (`preprocess_frame`, as in `make_env`).
    actions int32 [N]: action index of step t in `action_set`.
    rewards float32 [N]: the game's unscaled reward summed over step t's frames (the
        scenario's reward, before AllowBacktracking or reward scaling).
    dones bool [N]: true at the last step (the movie's end, or where the game ended).
"""

import functools
import hashlib
import json
import multiprocessing
import os
import pathlib
import queue
import signal
import sys
import zipfile
from typing import NamedTuple

import numpy as np
import stable_retro as retro
import tqdm

import cli
import env_wrappers

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


class Episode(NamedTuple):
    """One parsed movie; arrays as in the module docstring, N agent steps each."""

    name: str
    observations: np.ndarray  # uint8 [N, H, W, C]
    actions: np.ndarray  # int32 [N]
    rewards: np.ndarray  # float32 [N]
    dones: np.ndarray  # bool [N]


class MovieInputs(NamedTuple):
    """What a .bk2 holds, read without the ROM."""

    path: pathlib.Path
    game: str  # stable-retro 1.0.1's id (legacy ids resolved)
    state: str | None  # start state's name, from the file name; None when it does not say
    start_state: bytes  # emulator state the movie starts from
    pads: np.ndarray  # uint8 [F, 12]: buttons held on each of the F frames, BUTTONS order


# ----------------------------------------------------------------------------------------------
# Reading movies (no ROM needed)


def read_movie(path):
    """Reads a movie's game, start state and buttons; raises UserError('<path>: <reason>')."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise cli.UserError(f"{path}: no such file")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":
        raise cli.UserError(f"{path}: not a .bk2 movie (not a zip archive)")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError):
        raise cli.UserError(f"{path}: truncated or corrupt zip archive; copy or record it again") from None
    if broken is not None:
        raise cli.UserError(f"{path}: corrupt zip archive ({broken} fails its checksum)")
    if "Input Log.txt" not in names:
        raise cli.UserError(f"{path}: not a .bk2 movie (no Input Log.txt inside)")
    try:
        movie = retro.Movie(str(path))
    except RuntimeError:
        raise cli.UserError(f"{path}: stable-retro cannot load this movie") from None
    # The first movie step is the reset frame (stable-retro records the released pad there);
    # the frames the player controlled follow it.
    has_frames = movie.step()
    start_state = movie.get_state()
    pads = []
    while movie.step():
        pads.append([movie.get_key(button, 0) for button in range(env_wrappers.NUM_BUTTONS)])
    if not has_frames or not pads:
        raise cli.UserError(f"{path}: the movie has zero frames")
    if not start_state:
        raise cli.UserError(f"{path}: the movie has no start state (Core.bin); it cannot be replayed")
    header_game = movie.get_game()
    try:
        game = _resolve_game(header_game)
    except cli.UserError as error:
        raise cli.UserError(f"{path}: {error}") from None
    return MovieInputs(path, game, _state_name(path.stem, (header_game, game)), start_state,
                       np.array(pads, np.uint8))


_resolve_game = functools.cache(env_wrappers.resolve_game)  # it scans every game: 40 ms a call


def _state_name(stem, games):
    """'Airstriker-Genesis-v0-Level1-000000' -> 'Level1' (stable-retro's recording names)."""
    for game in games:
        if stem.startswith(game + "-"):
            state, _, number = stem[len(game) + 1:].rpartition("-")
            return state if state and number.isdigit() else None
    return None


def find_movies(replay_paths):
    """Files and folders (searched recursively for *.bk2) -> (movie paths, [(path, reason)])."""
    if isinstance(replay_paths, (str, os.PathLike)):
        replay_paths = [replay_paths]
    movies, problems = [], []
    for replay_path in map(pathlib.Path, replay_paths):
        if replay_path.is_dir():
            found = sorted(replay_path.rglob("*.bk2"))
            if not found:
                problems.append((replay_path, "folder holds no .bk2 movies"))
            movies.extend(found)
        elif replay_path.exists():
            movies.append(replay_path)
        else:
            problems.append((replay_path, "no such file or folder"))
    return movies, problems


def _find_some_movies(replay_paths):
    """find_movies, but finding none at all is one UserError."""
    movies, problems = find_movies(replay_paths)
    if not movies:
        raise cli.UserError("; ".join(f"{path}: {reason}" for path, reason in problems))
    return movies, problems


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------
# Labelling


def step_label(frame_actions):
    """The action of one agent step: int [k] per-frame action indices -> int.

    The action held on most frames wins; among equally frequent actions, the one held first.
    """
    if (frame_actions == frame_actions[0]).all():
        return int(frame_actions[0])  # the common case, and 10x cheaper than np.unique
    values, first_frame, counts = np.unique(frame_actions, return_index=True, return_counts=True)
    best = np.lexsort((first_frame, -counts))[0]
    return int(values[best])


_BIT_WEIGHTS = 1 << np.arange(env_wrappers.NUM_BUTTONS)


def combination_name(mask):
    """Button bit mask -> 'B+UP+RIGHT' (BUTTONS order), 'none' for a released pad."""
    return "+".join(b for i, b in enumerate(env_wrappers.BUTTONS) if mask >> i & 1) or "none"


def projection_stats(pads, action_set):
    """How the frames of uint8 [F, 12] pads map onto an action table (inputs only, no ROM).

    Returns a dict: frames; exact_frames (buttons are exactly a row of the table);
    projected_frames (the others, mapped by `buttons_to_action`'s documented projection);
    mapped_frames (frames that got a valid action index: all of them, by construction);
    combinations {name: frames}; projected_to {name of a projected combination: action name}.
    """
    masks = pads.astype(bool) @ _BIT_WEIGHTS
    indices = env_wrappers.buttons_to_actions(pads, action_set)
    rows = set((env_wrappers.action_table(action_set).astype(bool) @ _BIT_WEIGHTS).tolist())
    names = env_wrappers.action_names(action_set)
    values, counts = np.unique(masks, return_counts=True)
    exact = int(sum(count for value, count in zip(values, counts) if value in rows))
    return {
        "frames": len(pads),
        "exact_frames": exact,
        "projected_frames": len(pads) - exact,
        "mapped_frames": int(((indices >= 0) & (indices < len(names))).sum()),
        "combinations": {combination_name(v): int(c) for v, c in zip(values, counts)},
        "projected_to": {
            combination_name(v): names[env_wrappers.buttons_to_action(int(v), action_set)]
            for v in values if v not in rows
        },
    }


# ----------------------------------------------------------------------------------------------
# Replay


_EMULATOR = {}  # this process's environment, by game: stable-retro allows one emulator each


def _retro_env(game, settings):
    """The raw RetroEnv under a `make_env` with these settings (same scenario, same reward)."""
    if game not in _EMULATOR:
        for env in _EMULATOR.values():
            env.close()
        _EMULATOR.clear()
        _EMULATOR[game] = env_wrappers.make_env(game, **settings)
    return _EMULATOR[game].unwrapped


def close_emulator():
    for env in _EMULATOR.values():
        env.close()
    _EMULATOR.clear()


def replay_movie(inputs, settings, progress=lambda frames: None):
    """Replays one movie; returns (arrays for the .npz, statistics for the manifest).

    settings: frame_skip, obs_size, grayscale, action_set. `progress(frames)` is told how many
    emulator frames were replayed since its last call.
    """
    frame_skip, action_set = settings["frame_skip"], settings["action_set"]
    retro_env = _retro_env(inputs.game, settings)
    if not retro_env.em.set_state(inputs.start_state):  # RetroEnv.reset would ignore this
        raise cli.UserError(f"{inputs.path}: its start state does not load in the emulator "
                            "(corrupt Core.bin?); record or copy it again")
    retro_env.initial_state = inputs.start_state
    retro_env.reset()

    def observe():
        return env_wrappers.preprocess_frame(
            retro_env.get_screen(), settings["obs_size"], settings["grayscale"])

    num_frames = len(inputs.pads)
    frame_actions = env_wrappers.buttons_to_actions(inputs.pads, action_set)
    first = observe()
    observations = np.empty((num_frames // frame_skip + 1,) + first.shape, np.uint8)
    observations[0] = first
    actions, rewards = [], []
    frame, game_ended, reported, mixed_steps = 0, False, 0, 0
    while not game_ended and frame < num_frames:
        block_end = min(frame + frame_skip, num_frames)
        block_start, reward = frame, 0.0
        while frame < block_end and not game_ended:
            env_wrappers.emulate_frame(retro_env, inputs.pads[frame])
            reward += retro_env.data.current_reward()
            game_ended = retro_env.data.is_done()
            frame += 1
        if frame - block_start < frame_skip and not game_ended:
            break  # trailing partial step
        actions.append(step_label(frame_actions[block_start:frame]))
        mixed_steps += bool((frame_actions[block_start:frame] != actions[-1]).any())
        rewards.append(reward)
        observations[len(actions)] = observe()
        if frame - reported >= 1000:
            progress(frame - reported)
            reported = frame
    progress(num_frames - reported)

    steps = len(actions)
    frames_used = frame if game_ended else steps * frame_skip
    dones = np.zeros(steps, bool)
    dones[-1:] = True
    arrays = {
        "observations": observations[:steps],
        "actions": np.array(actions, np.int32),
        "rewards": np.array(rewards, np.float32),
        "dones": dones,
    }
    stats = {
        "frames": num_frames,
        "frames_used": frames_used,
        "steps": steps,
        "score": float(np.sum(rewards)),
        "game_ended": bool(game_ended),
        "projection": dict(projection_stats(inputs.pads[:frames_used], action_set),
                           mixed_steps=mixed_steps),
    }
    return arrays, stats


# ----------------------------------------------------------------------------------------------
# Dataset folder


def _write_atomic(path, write):
    """Calls write(file object) on a hidden temporary file beside `path`, then renames it into
    place, so a reader (or a second run) never sees a half-written file."""
    path = pathlib.Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as f:
            write(f)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _write_npz(file, arrays):
    """np.savez_compressed at zlib level 1 instead of 6: 4x faster, files ~35% larger."""
    with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array))


def _write_manifest(dataset_path, manifest):
    text = json.dumps(manifest, indent=1).encode()
    _write_atomic(pathlib.Path(dataset_path) / MANIFEST, lambda f: f.write(text))


def read_manifest(dataset_path):
    path = pathlib.Path(dataset_path) / MANIFEST
    if not path.is_file():
        raise cli.UserError(f"{dataset_path} holds no {MANIFEST}; create it with replay_parser.py")
    try:
        with open(path) as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise cli.UserError(f"{path} is not valid JSON; delete the dataset and parse again") from None


def dataset_settings(dataset_path):
    """{frame_skip, obs_size, grayscale, action_set, game} the dataset was parsed with."""
    manifest = read_manifest(dataset_path)
    return dict(manifest["settings"], game=manifest["game"])


def load_dataset(dataset_path):
    """All episodes of a dataset folder, in manifest order: list[Episode]."""
    episodes = []
    for entry in read_manifest(dataset_path)["movies"]:
        path = pathlib.Path(dataset_path) / entry["file"]
        try:
            with np.load(path) as arrays:
                episodes.append(Episode(entry["name"], *(arrays[key] for key in Episode._fields[1:])))
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
            raise cli.UserError(f"{path}: cannot read ({error}); parse the movies again") from None
    return episodes


def _remove_temporaries(dataset_path):
    """Temporary files a killed worker could not remove (os.replace never ran for them)."""
    for path in pathlib.Path(dataset_path).glob(".*.tmp"):
        path.unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------------
# Parsing many movies


def _parse_one(inputs, digest, settings, dataset_path, progress):
    """Replays one movie and writes its .npz: the manifest entry, or {"error": message}."""
    name = inputs.path.stem
    try:
        arrays, stats = replay_movie(inputs, settings, progress)
        path = pathlib.Path(dataset_path) / f"{name}.npz"
        _write_atomic(path, lambda f: _write_npz(f, arrays))
    except cli.UserError as error:
        return {"error": str(error), "path": str(inputs.path)}
    except Exception as error:  # one broken movie must not stop the others
        return {"error": f"{inputs.path}: replay failed ({type(error).__name__}: {error})",
                "path": str(inputs.path)}
    return dict(name=name, file=path.name, source=str(inputs.path), sha256=digest,
                game=inputs.game, state=inputs.state, **stats)


_PROGRESS = None  # a worker process's queue of replayed-frame counts


def _init_worker(progress_queue):
    global _PROGRESS
    _PROGRESS = progress_queue


def _worker_parse_one(inputs, digest, settings, dataset_path):
    try:
        return _parse_one(inputs, digest, settings, dataset_path, _PROGRESS.put)
    finally:
        _PROGRESS.put(0)  # wakes the parent to collect this result


def _run_jobs(jobs, settings, dataset_path, workers, progress):
    """Yields each job's result as it finishes; `progress(frames)` as frames are replayed."""
    if workers == 1 or len(jobs) == 1:
        try:
            for inputs, digest in jobs:
                yield _parse_one(inputs, digest, settings, dataset_path, progress)
        finally:
            close_emulator()  # the caller may want an environment of its own afterwards
        return
    # One emulator per process (stable-retro's rule); 'spawn' starts each worker clean.
    context = multiprocessing.get_context("spawn")
    progress_queue = context.Queue()
    # Ctrl-C is the parent's to handle (it terminates the pool and removes temporary files):
    # workers start with SIGINT ignored, a disposition that survives their exec.
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        pool = context.Pool(min(workers, len(jobs)), _init_worker, (progress_queue,))
    finally:
        signal.signal(signal.SIGINT, handler)
    try:
        pending = [pool.apply_async(_worker_parse_one, (*job, settings, dataset_path)) for job in jobs]
        while pending:
            try:
                progress(progress_queue.get(timeout=0.5))
            except queue.Empty:
                pass
            for result in [result for result in pending if result.ready()]:
                pending.remove(result)
                yield result.get()
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def parse_movies(replay_path, dataset_path, frame_skip=4, obs_size=84, grayscale=False,
                 action_set="full", workers=2, progress=True):
    """Parses movies (a file, a folder, or a list of them) into `dataset_path`.

    Movies already in the dataset with the same sha256 are skipped (the settings are the
    dataset's: a dataset parsed with other settings is refused). Bad movies are reported one
    line each and the others still parsed. `progress` shows a progress bar over frames and a
    summary table. Returns the manifest, plus "errors": this run's one-line messages for the
    movies it could not use. Raises UserError when no movie is usable.
    """
    env_wrappers.EnvConfig(frame_skip=frame_skip, obs_size=obs_size, grayscale=grayscale,
                           action_set=action_set)  # validates the settings
    if workers < 1:
        raise cli.UserError(f"workers must be >= 1 (got {workers})")
    settings = dict(frame_skip=frame_skip, obs_size=obs_size, grayscale=grayscale,
                    action_set=action_set)
    dataset = pathlib.Path(dataset_path)
    manifest = read_manifest(dataset) if (dataset / MANIFEST).exists() else None
    if manifest and manifest["settings"] != settings:
        raise cli.UserError(
            f"{dataset} was parsed with {manifest['settings']}, not {settings}; "
            "choose another --dataset_path or delete that folder")
    entries = {entry["name"]: entry for entry in manifest["movies"]} if manifest else {}
    game = manifest["game"] if manifest else None
    table, errors = [], []

    def error(path, message):
        errors.append((pathlib.Path(path).name, message))
        if progress:
            tqdm.tqdm.write(f"error: {message}", file=sys.stderr)

    movies, problems = _find_some_movies(replay_path)
    for path, reason in problems:
        error(path, f"{path}: {reason}")
    jobs, stems = [], set()
    for path in movies:
        try:
            inputs = read_movie(path)
            try:
                env_wrappers.check_rom(inputs.game)
            except cli.UserError as missing:
                raise cli.UserError(f"{path}: {missing}") from None
            game = game or inputs.game
            if inputs.game != game:
                raise cli.UserError(f"{path}: a {inputs.game} movie, but this dataset holds "
                                    f"{game}; parse it into another --dataset_path")
            if path.stem in stems:
                raise cli.UserError(f"{path}: another movie already has the name {path.stem}")
            stems.add(path.stem)
            digest = sha256(path)
        except cli.UserError as problem:
            error(path, str(problem))
            continue
        known = entries.get(path.stem)
        if known and known["sha256"] == digest and (dataset / known["file"]).is_file():
            table.append(("skipped (already parsed)", known))
        else:
            jobs.append((inputs, digest))

    if jobs:
        created = not dataset.exists()
        dataset.mkdir(parents=True, exist_ok=True)
        bar = tqdm.tqdm(total=sum(len(inputs.pads) for inputs, _ in jobs), unit="frame",
                        desc="replaying", disable=not progress, smoothing=0.1)
        results = _run_jobs(jobs, settings, dataset, workers, bar.update)
        try:
            for result in results:
                if "error" in result:
                    error(result["path"], result["error"])
                    continue
                entries[result["name"]] = result
                table.append(("parsed", result))
                manifest = _manifest(game, settings, entries)
                _write_manifest(dataset, manifest)
        finally:
            results.close()  # stops the workers first, so that none writes after the cleanup
            bar.close()
            _remove_temporaries(dataset)
            if created and not any(dataset.iterdir()):
                dataset.rmdir()
    if progress:
        _print_summary(table, errors)
    if not table:
        reasons = "see above" if progress else "; ".join(message for _, message in errors)
        raise cli.UserError(f"no usable movie: {len(errors)} failed ({reasons})")
    return dict(manifest, errors=[message for _, message in errors])


def _manifest(game, settings, entries):
    movies = [entries[name] for name in sorted(entries)]
    totals = {key: sum(movie[key] for movie in movies) for key in ("frames", "frames_used", "steps")}
    for key in ("exact_frames", "projected_frames", "mixed_steps"):
        totals[key] = sum(movie["projection"][key] for movie in movies)
    states = sorted({movie["state"] for movie in movies if movie["state"]})
    return {"format": FORMAT_VERSION, "game": game, "states": states, "settings": settings,
            "totals": totals, "movies": movies}


def _print_summary(table, errors):
    print(f"\n{'movie':<58} {'status':<24} {'frames':>8} {'steps':>7} {'score':>9}")
    for status, entry in table:
        print(f"{entry['name']:<58} {status:<24} {entry['frames_used']:>8} {entry['steps']:>7} "
              f"{entry['score']:>9.0f}")
    for name, _ in errors:
        print(f"{name:<58} {'failed (error above)':<24} {'-':>8} {'-':>7} {'-':>9}")
    print(f"{len(table)} usable, {len(errors)} failed")


# ----------------------------------------------------------------------------------------------
# Inputs-only statistics


def print_statistics(replay_path, action_set="full"):
    """Prints, per movie, its frames and how they map onto `action_set`; then the combinations
    that needed projection. Needs no ROM. Returns ({movie stem: projection_stats}, errors)."""
    movies, problems = _find_some_movies(replay_path)
    errors = [f"{path}: {reason}" for path, reason in problems]
    stats = {}
    for path in movies:
        try:
            inputs = read_movie(path)
        except cli.UserError as problem:
            errors.append(str(problem))
            continue
        stats[path.stem] = dict(projection_stats(inputs.pads, action_set), game=inputs.game)
    for message in errors:
        print(f"error: {message}", file=sys.stderr)
    # A movie's first step is the reset frame; the frames after it are the ones played.
    print(f"{'movie':<58} {'movie_steps':>11} {'frames':>7} {'combos':>6} {'projected':>9} {'mapped':>7}")
    for name, movie in stats.items():
        print(f"{name:<58} {movie['frames'] + 1:>11} {movie['frames']:>7} "
              f"{len(movie['combinations']):>6} {movie['projected_frames']:>9} "
              f"{movie['mapped_frames'] / movie['frames']:>7.2%}")
    frames = sum(movie["frames"] for movie in stats.values())
    combinations, projected_to = {}, {}
    for movie in stats.values():
        for name, count in movie["combinations"].items():
            combinations[name] = combinations.get(name, 0) + count
        projected_to.update(movie["projected_to"])
    projected = sum(combinations[name] for name in projected_to)
    mapped = sum(movie["mapped_frames"] for movie in stats.values())
    print(f"{'total: ' + str(len(stats)) + ' movies':<58} {frames + len(stats):>11} {frames:>7} "
          f"{len(combinations):>6} {projected:>9} {mapped / max(frames, 1):>7.2%}")
    if projected_to:
        print(f"\n{'combination not in the ' + action_set + ' table':<40} {'frames':>8}  action")
        for name in sorted(projected_to, key=lambda name: -combinations[name]):
            print(f"{name:<40} {combinations[name]:>8}  {projected_to[name]}")
    return stats, errors


def build_parser():
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replay_path", nargs="+", required=True,
                        help=".bk2 movie files and/or folders searched recursively for *.bk2")
    parser.add_argument("--dataset_path",
                        help="output folder: one .npz per movie and manifest.json "
                             "(required unless --stats)")
    env_wrappers.add_observation_flags(parser)
    parser.add_argument("--workers", type=int, default=2,
                        help="movies replayed in parallel, one emulator process each")
    parser.add_argument("--stats", action="store_true",
                        help="only print frames and button-combination statistics per movie "
                             "(reads inputs only; needs no ROM, writes nothing)")
    return parser


def main():
    args = build_parser().parse_args()
    if args.stats:
        stats, _ = print_statistics(args.replay_path, args.action_set)
        if not stats:
            raise cli.UserError(f"no readable movie in {' '.join(args.replay_path)}")
        return 0
    if args.dataset_path is None:
        raise cli.UserError("--dataset_path is required (unless --stats): the folder to write to")
    parse_movies(args.replay_path, args.dataset_path, args.frame_skip, args.obs_size,
                 args.grayscale, args.action_set, args.workers, progress=True)
    return 0


if __name__ == "__main__":
    cli.run(main)
