"""Evaluation while training (--eval_every): the current weights play evaluation episodes in a
process of their own, so the learner loses no more than that process's share of the CPU.

Every --eval_every env frames the learner saves its weights as a model folder under
<workspace>/evaluation/ and hands it over; the evaluator plays --eval_episodes episodes with it
as run_evaluation.py does with its defaults (sampled actions, episode i from the game's start
with seed i, the same episodes every time, so the points of the curve are comparable), and
writes the report to the folder's evaluation.json. A policy whose mean return beats every
earlier one becomes <workspace>/model/best_model, with a video of its first episode's first
minute (episode_0.mp4). While the evaluator is busy, the next evaluation point is skipped
rather than queued: the learner never waits for it, but at the end of a run, where the final
weights are evaluated too.

The learner charts each result at the frames of the weights it measured: eval/return,
eval/length (agent steps) and eval/completion_rate (the share of episodes that beat the level).
"""

import json
import logging
import math
import multiprocessing
import os
import queue
import shutil
import signal


BEST_MODEL = "best_model"
EVALUATION_FILE = "evaluation.json"
VIDEO_FILE = "episode_0.mp4"
MAX_STEPS = 4500  # run_evaluation.py's default: the points compare with its reports
SEED = 0  # run_evaluation.py's default
VIDEO_SECONDS = 60
log = logging.getLogger("learner")


def best_model_folder(workspace_path):
    return os.path.join(workspace_path, "model", BEST_MODEL)


def best_return(workspace_path):
    """The mean return of the best model an earlier part of this run kept (-inf: none)."""
    try:
        with open(os.path.join(best_model_folder(workspace_path), EVALUATION_FILE)) as f:
            return float(json.load(f)["policies"]["model"]["summary"]["return"]["mean"])
    except (OSError, ValueError, KeyError, TypeError):
        return -math.inf


class Evaluator:
    """The learner's side: `after_update(frames, save)` after every update, `close(frames, save,
    final)` at the end. `save(path)` writes the current weights as a model folder at `path`;
    each returns the results that came back: dicts with frames, update, summary (evaluation/
    report.summarize's), best (it became best_model) and error (None, or why it failed)."""

    def __init__(self, workspace_path, env_config, states, episodes, every_frames,
                 start_frames=0):
        self.workspace_path, self.every_frames = workspace_path, every_frames
        self.folder = os.path.join(workspace_path, "evaluation")
        shutil.rmtree(self.folder, ignore_errors=True)  # an earlier run's unfinished ones
        os.makedirs(self.folder)
        self.next_frames = (start_frames // every_frames + 1) * every_frames
        self.last_frames = None  # of the last weights handed over
        self.busy = False
        context = multiprocessing.get_context("spawn")  # TensorFlow does not survive a fork
        self.jobs, self.results = context.Queue(), context.Queue()
        self.process = context.Process(
            target=_serve, name="evaluator", daemon=True,
            args=(self.jobs, self.results, workspace_path, env_config, list(states), episodes,
                  best_return(workspace_path)))
        self.process.start()

    def after_update(self, frames, update, save):
        results = self._collect(block=False)
        if frames >= self.next_frames and self.process.is_alive():
            self.next_frames = (frames // self.every_frames + 1) * self.every_frames
            if self.busy:
                log.info(f"evaluation: the one before is still playing; frames {frames} are "
                         "not evaluated")
            else:
                self._hand_over(frames, update, save)
        return results

    def close(self, frames, update, save, final=True):
        """final: evaluate the final weights too and wait for every evaluation (a run that
        reached --total_frames); otherwise stop the evaluator at once."""
        results = []
        try:
            if final and self.process.is_alive():
                if self.last_frames != frames:
                    results += self._collect(block=True)  # the one playing, first
                    self._hand_over(frames, update, save)
                results += self._collect(block=True)
        finally:
            if self.process.is_alive():
                self.jobs.put(None)
                self.process.join(timeout=5 if final else 0.5)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join()
            shutil.rmtree(self.folder, ignore_errors=True)
        return results

    def _hand_over(self, frames, update, save):
        path = os.path.join(self.folder, f"frames_{frames}")
        try:
            save(path)
        except ValueError as error:  # checkpoints.NonFiniteWeights
            log.warning(f"warning: evaluation at frames {frames} skipped: {error}")
            return
        self.jobs.put((path, frames, update))
        self.busy, self.last_frames = True, frames

    def _collect(self, block):
        results = []
        while self.busy:
            try:
                result = self.results.get(timeout=1.0) if block else self.results.get_nowait()
            except queue.Empty:
                if self.process.is_alive():
                    if block:
                        continue
                    break
                self.busy = False  # it died; the learner goes on without it
                log.warning(f"warning: the evaluator stopped (exit status "
                            f"{self.process.exitcode}); no more evaluations this run")
                break
            self.busy = False
            results.append(result)
        return results


def report_results(writer, results, tracked=None):
    """Charts evaluation results at the frames of the weights they measured, and logs them;
    `tracked` (tracking.Tracking) also gets each new best policy's video."""
    import tensorflow as tf

    for result in results:
        if result["summary"] is None:
            log.warning(f"warning: the evaluation at frames {result['frames']} failed: "
                        f"{result['error']}")
            continue
        summary = result["summary"]
        with writer.as_default(step=result["frames"]):
            tf.summary.scalar("eval/return", summary["return"]["mean"])
            tf.summary.scalar("eval/length", summary["length"]["mean"])
            tf.summary.scalar("eval/completion_rate", summary["completed_fraction"])
        log.info(f"evaluation at frames {result['frames']}: return "
                 f"{summary['return']['mean']:.1f} +- {summary['return']['std']:.1f}, length "
                 f"{summary['length']['mean']:.0f}, completed "
                 f"{summary['completed_fraction']:.0%}"
                 + (f"; the best so far, kept as model/{BEST_MODEL}" if result["best"] else "")
                 + (f" ({result['error']})" if result["error"] else ""))
        video = os.path.join(best_model_folder(result["workspace_path"]), VIDEO_FILE)
        if result["best"] and tracked is not None and os.path.isfile(video):
            tracked.video("eval/video", video, f"best policy at frames {result['frames']}: "
                                               f"return {summary['return']['mean']:g}")


def _serve(jobs, results, workspace_path, env_config, states, episodes, best):
    """The evaluator process: plays each model folder it is handed, until it gets None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the learner decides when it stops
    from retro_rl.evaluation import report as reports
    from retro_rl.evaluation.episodes import evaluation_env
    from retro_rl.evaluation.workers import Player, PolicySource
    from retro_rl.runtime import start_tensorflow

    start_tensorflow(gpu=False, threads=1)  # one core's share, beside the learner's
    env_config = evaluation_env(env_config, MAX_STEPS)
    player = Player(env_config, tensorflow_started=True)
    try:
        while (job := jobs.get()) is not None:
            path, frames, update = job
            source = PolicySource(path)
            result = {"frames": frames, "update": update, "summary": None, "best": False,
                      "error": None, "workspace_path": workspace_path}
            try:
                rows = []
                for episode in range(episodes):
                    act, statistics, _ = player.play(states, source, episode, SEED)
                    rows.append(reports.episode_row(episode, SEED + episode, act, statistics,
                                                    None))
                summary = result["summary"] = reports.summarize(rows)
                report = {
                    "settings": {"frames": frames, "update": update, "game": env_config.game,
                                 "states": [state or "default" for state in states],
                                 "episodes": episodes, "max_steps": MAX_STEPS, "greedy": False,
                                 "seed": SEED, "env": env_config.to_dict()},
                    "policies": {"model": {"episodes": rows, "summary": summary}}}
                with open(os.path.join(path, EVALUATION_FILE), "w") as f:
                    json.dump(report, f, indent=2)
                if summary["return"]["mean"] > best:
                    try:
                        player.video(os.path.join(path, VIDEO_FILE), 0, "model", rows, source,
                                     states, max_steps=int(VIDEO_SECONDS * 60
                                                           / env_config.frame_skip))
                    except (OSError, RuntimeError, ValueError) as error:
                        result["error"] = f"no video ({error})"
                    _replace(path, best_model_folder(workspace_path))
                    best, result["best"] = summary["return"]["mean"], True
            except Exception as error:  # an evaluation that fails must not stop training
                result["error"] = f"{type(error).__name__}: {error}"
            finally:
                player.forget(source)
                player.emulator.close()
                shutil.rmtree(path, ignore_errors=True)
            results.put(result)
    finally:
        player.close()


def _replace(source, target):
    """Moves the folder `source` to `target`, replacing what was there; `target` is never
    missing for longer than the two renames."""
    old = target + ".replaced"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(target):
        os.rename(target, old)
    os.rename(source, target)
    shutil.rmtree(old, ignore_errors=True)
