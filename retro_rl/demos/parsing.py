"""Parsing many movies into a dataset folder: one emulator process per worker, atomic writes,
movies already parsed skipped, a bad movie reported in one line while the others go on."""

import multiprocessing
import pathlib
import queue
import signal
import sys

import tqdm

from retro_rl import fileio
from retro_rl.demos import dataset, movies, replay
from retro_rl.envs import EnvConfig, games
from retro_rl.errors import UserError


def _parse_one(inputs, digest, settings, dataset_path, progress):
    """Replays one movie and writes its .npz: the manifest entry, or {"error": message}."""
    name = inputs.path.stem
    try:
        arrays, stats = replay.replay_movie(inputs, settings, progress)
        path = pathlib.Path(dataset_path) / f"{name}.npz"
        stats.update(dataset.write_npz(path, arrays))
    except UserError as error:
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
            replay.close_emulator()  # the caller may want an environment of its own afterwards
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
        pending = [pool.apply_async(_worker_parse_one, (*job, settings, dataset_path))
                   for job in jobs]
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
                 action_set=None, workers=2, progress=True):
    """Parses movies (a file, a folder, or a list of them) into `dataset_path`.

    Movies already in the dataset with the same sha256 are skipped (the settings are the
    dataset's: a dataset parsed with other settings is refused). Bad movies are reported one
    line each and the others still parsed. `progress` shows a progress bar over frames and a
    summary table. action_set None is the movies' platform's table. Returns the manifest, plus
    "errors": this run's one-line messages for the movies it could not use. Raises UserError
    when no movie is usable.
    """
    folder = pathlib.Path(dataset_path)
    manifest = dataset.read_manifest(folder) if (folder / dataset.MANIFEST).exists() else None
    game = manifest["game"] if manifest else movies.replay_game(replay_path)
    action_set = EnvConfig(game=game or games.DEFAULT_GAME, frame_skip=frame_skip,
                           obs_size=obs_size, grayscale=grayscale,
                           action_set=action_set).action_set  # validates the settings
    if workers < 1:
        raise UserError(f"workers must be >= 1 (got {workers})")
    settings = dict(frame_skip=frame_skip, obs_size=obs_size, grayscale=grayscale,
                    action_set=action_set)
    if manifest and manifest["settings"] != settings:
        raise UserError(
            f"{folder} was parsed with {manifest['settings']}, not {settings}; "
            "choose another --dataset_path or delete that folder")
    entries = {}
    if manifest and manifest.get("format") == dataset.FORMAT_VERSION:
        entries = {entry["name"]: entry for entry in manifest["movies"]}
    elif manifest and progress:
        tqdm.tqdm.write(f"{folder} was written by an older version: parsing every movie again")
    table, errors = [], []

    def error(path, message):
        errors.append((pathlib.Path(path).name, message))
        if progress:
            tqdm.tqdm.write(f"error: {message}", file=sys.stderr)

    paths, problems = movies.find_some_movies(replay_path)
    for path, reason in problems:
        error(path, f"{path}: {reason}")
    jobs, stems = [], set()
    for path in paths:
        try:
            inputs = movies.read_movie(path)
            movies.check_movie_rom(path, inputs.game)
            game = game or inputs.game
            if inputs.game != game:
                raise UserError(f"{path}: a {inputs.game} movie, but this dataset holds "
                                f"{game}; parse it into another --dataset_path")
            if path.stem in stems:
                raise UserError(f"{path}: another movie already has the name {path.stem}")
            stems.add(path.stem)
            digest = fileio.sha256_file(path)
        except UserError as problem:
            error(path, str(problem))
            continue
        known = entries.get(path.stem)
        if known and known["sha256"] == digest:
            problem = dataset.npz_problem(folder, known)
            if problem is None:
                table.append(("skipped (already parsed)", known))
                continue
            if progress:
                tqdm.tqdm.write(f"{problem}: parsing {path.name} again")
        jobs.append((inputs, digest))

    if jobs:
        created = not folder.exists()
        fileio.check_writable(folder)
        fileio.remove_stale_temporaries(folder)
        bar = tqdm.tqdm(total=sum(len(inputs.pads) for inputs, _ in jobs), unit="frame",
                        desc="replaying", disable=not progress, smoothing=0.1)
        results = _run_jobs(jobs, settings, folder, workers, bar.update)
        try:
            for result in results:
                if "error" in result:
                    error(result["path"], result["error"])
                    continue
                entries[result["name"]] = result
                table.append(("parsed", result))
                manifest = dataset.build_manifest(game, settings, entries)
                dataset.write_manifest(folder, manifest)
        finally:
            results.close()  # stops the workers first, so that none writes after the cleanup
            bar.close()
            fileio.remove_stale_temporaries(folder)
            _remove_unrecorded(folder, jobs, entries, game, settings)
            if created and not any(folder.iterdir()):
                folder.rmdir()
    if progress:
        print_summary(table, errors)
    if not table:
        reasons = "see above" if progress else "; ".join(message for _, message in errors)
        raise UserError(f"no usable movie: {len(errors)} failed ({reasons})")
    return dict(manifest, errors=[message for _, message in errors])


def _remove_unrecorded(folder, jobs, entries, game, settings):
    """After an interrupted parse: a job's .npz that its manifest entry does not describe (its
    result never came back) is removed with that entry, so the next run parses it again."""
    stale = [inputs.path.stem for inputs, digest in jobs
             if entries.get(inputs.path.stem, {}).get("sha256") != digest]
    for name in stale:
        (folder / f"{name}.npz").unlink(missing_ok=True)
        if entries.pop(name, None) is not None:
            dataset.write_manifest(folder, dataset.build_manifest(game, settings, entries))


def print_summary(table, errors):
    """One line per movie: parsed, skipped or failed, with its frames, steps and score."""
    print(f"\n{'movie':<58} {'status':<24} {'frames':>8} {'steps':>7} {'score':>9}")
    for status, entry in table:
        print(f"{entry['name']:<58} {status:<24} {entry['frames_used']:>8} {entry['steps']:>7} "
              f"{entry['score']:>9.0f}")
    for name, _ in errors:
        print(f"{name:<58} {'failed (error above)':<24} {'-':>8} {'-':>7} {'-':>9}")
    print(f"{len(table)} usable, {len(errors)} failed")
