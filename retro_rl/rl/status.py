"""What the learner tells of its run as it goes: after every update, its losses and the
episodes that ended in its unrolls, charted at the frames axis; every STATUS_EVERY_S seconds,
the throughput charts and one console line; and the progress bar on a terminal (progress.py).
"""

import logging
import time

import numpy as np
import tensorflow as tf

from retro_rl.envs import statistics
from retro_rl.rl.progress import LearnerProgress

STATUS_EVERY_S = 10.0  # console line and throughput charts
log = logging.getLogger("learner")


class Status:
    """`after_update(meta, metrics, lag, unrolls)` after every update; `close(meta)` at the end,
    which writes the last window's line. meta is the learner's: update, frames, and the run's
    statistics totals it keeps (run_statistics)."""

    def __init__(self, writer, inference, env_config, total_frames, meta):
        self.writer, self.inference, self.env_config = writer, inference, env_config
        self.progress = LearnerProgress(total_frames, meta["frames"])
        self.window = {"time": time.monotonic(), "frames": meta["frames"],
                       "update": meta["update"], "returns": [], "passes": 0, "rows": 0}
        self.latest_return, self.last = None, None  # last: (metrics, lag) of the last update

    def after_update(self, meta, metrics, lag, unrolls):
        write_step_summaries(self.writer, meta, metrics, lag, unrolls, self.window)
        if self.window["returns"]:
            self.latest_return = self.window["returns"][-1]
        self.progress.update(meta["frames"], self.latest_return)
        first, self.last = self.last is None, (metrics, lag)
        if first:  # throughput counts from here, after waiting and compiling
            self.window.update(time=time.monotonic(), frames=meta["frames"],
                               update=meta["update"])
        elif time.monotonic() - self.window["time"] >= STATUS_EVERY_S:
            self.window = report(self.writer, self.inference, meta, self.window, *self.last,
                                 self.env_config)

    def close(self, meta):
        self.progress.close()
        if self.last is not None and meta["update"] > self.window["update"]:
            report(self.writer, self.inference, meta, self.window, *self.last, self.env_config)


def report(writer, inference, meta, window, metrics, lag, env_config):
    """Throughput charts and one console line; returns the next window."""
    now = time.monotonic()
    elapsed = now - window["time"]
    fps = (meta["frames"] - window["frames"]) / elapsed
    updates_per_s = (meta["update"] - window["update"]) / elapsed
    counters = inference.counters
    received = counters["steps_queued"] * env_config.frame_skip
    passes = counters["forward_passes"] - window["passes"]
    batch = (counters["forward_rows"] - window["rows"]) / max(passes, 1)
    workers = len(inference.workers())
    with writer.as_default(step=meta["frames"]):
        tf.summary.scalar("charts/fps", fps)
        tf.summary.scalar("charts/updates_per_second", updates_per_s)
        tf.summary.scalar("charts/frames_received", received)
        tf.summary.scalar("charts/queued_unrolls", inference.unroll_queue.qsize())
        tf.summary.scalar("charts/inference_batch", batch)
        tf.summary.scalar("charts/workers", workers)
    returns = window["returns"]
    mean_return = f"{np.mean(returns):.1f} over {len(returns)}" if returns else "-"
    log.info(f"update {meta['update']} | frames {meta['frames']} (received {received}) | "
             f"{fps:.0f} frames/s | {updates_per_s:.2f} updates/s | return {mean_return} | "
             f"lag {lag:.1f} | batch {batch:.1f} | workers {workers} | "
             f"loss {metrics['losses/total']:.3f} | entropy {metrics['charts/entropy']:.2f}"
             + "".join(f" | {label} {value:g}" for label, value in run_totals(meta)))
    return {"time": now, "frames": meta["frames"], "update": meta["update"], "returns": [],
            "passes": counters["forward_passes"], "rows": counters["forward_rows"]}


def write_episode_summaries(episode, run_statistics):
    """Charts every statistic of one episode (envs/statistics.py says how each is charted) to
    the default writer, and the run's totals of those that have one, kept in
    `run_statistics` {name: total}."""
    for name, value in episode.items():
        chart = statistics.chart(name)
        tf.summary.scalar(chart.tag, chart.value(value))
        if chart.run_tag is not None:
            total = run_statistics[name] = (chart.combine(run_statistics[name], value)
                                            if name in run_statistics else value)
            tf.summary.scalar(chart.run_tag, chart.value(total))


def run_totals(meta):
    """(label, charted value) of each run total so far, for the console line."""
    for name, total in meta.get("run_statistics", {}).items():
        chart = statistics.chart(name)
        yield chart.run_label or name, chart.value(total)


def write_step_summaries(writer, meta, metrics, lag, unrolls, window):
    """One update's losses and the episodes that ended in its unrolls, at the frames axis."""
    with writer.as_default(step=meta["frames"]):
        for name, value in metrics.items():
            tf.summary.scalar(name, value)
        tf.summary.scalar("charts/policy_lag", lag)
        for episode in (episode for item in unrolls for episode in item["episodes"]):
            write_episode_summaries(episode, meta.setdefault("run_statistics", {}))
            window["returns"].append(episode["return"])
