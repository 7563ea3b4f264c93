"""What a behaviour-cloning run measures (accuracy, balanced accuracy, the confusion between
demonstrated and predicted actions) and how it reports them: TensorBoard and a curve image."""

import os

import numpy as np
import tensorflow as tf
from tensorboard.plugins.histogram import metadata as histogram_metadata


def confusion_counts(labels, predictions, mask, num_actions):
    """int64 [A, A]: entry [i, j] counts valid steps demonstrated i and predicted j."""
    labels, predictions = np.asarray(labels)[mask], np.asarray(predictions)[mask]
    flat = np.bincount(labels * num_actions + predictions, minlength=num_actions * num_actions)
    return flat.reshape(num_actions, num_actions)


def accuracy(confusion):
    total = confusion.sum()
    return float(np.trace(confusion) / total) if total else float("nan")


def balanced_accuracy(confusion):
    """Mean recall over the actions that were demonstrated at least once: a policy that always
    predicts the most common action scores 1/(number of such actions), however common it is."""
    support = confusion.sum(axis=1)
    present = support > 0
    if not present.any():
        return float("nan")
    return float(np.mean(np.diag(confusion)[present] / support[present]))


class Interval:
    """The training steps since the last report: their mean losses, their confusion and their
    speed. `add` each step; `scores` reports and starts the next interval."""

    def __init__(self, num_actions, frames_per_step, with_values):
        self.confusion = np.zeros((num_actions, num_actions), np.int64)
        self.frames_per_step, self.with_values = frames_per_step, with_values
        self._reset()

    def _reset(self):
        self.confusion[:] = 0
        self.loss, self.value_loss, self.steps, self.seconds = 0.0, 0.0, 0, 0.0

    def add(self, loss, value_loss, confusion, seconds):
        self.confusion += confusion
        self.loss += float(loss)
        self.value_loss += float(value_loss)
        self.steps += 1
        self.seconds += seconds

    def scores(self):
        """({cross_entropy, accuracy, balanced_accuracy[, value_loss]}, confusion, frames/s) of
        the interval, which starts over."""
        scores = {"cross_entropy": self.loss / self.steps, "accuracy": accuracy(self.confusion),
                  "balanced_accuracy": balanced_accuracy(self.confusion)}
        if self.with_values:
            scores["value_loss"] = self.value_loss / self.steps
        result = scores, self.confusion.copy(), self.steps * self.frames_per_step / self.seconds
        self._reset()
        return result


def print_last_scores(curves):
    """The last training and validation scores of `curves`, a line each."""
    for split in ("train", "val"):
        if curves[split]:
            last = curves[split][-1]
            critic = ""
            if np.isfinite(last.get("explained_variance", np.nan)):
                critic = (f", value loss {last['value_loss']:.3f}, explained variance "
                          f"{last['explained_variance']:.2f}")
            print(f"{split}: cross-entropy {last['cross_entropy']:.3f}, accuracy "
                  f"{last['accuracy']:.3f}, balanced accuracy {last['balanced_accuracy']:.3f}"
                  + critic)


def write_action_histogram(tag, counts, step, description):
    """A TensorBoard histogram with one bucket per action index (tf.summary.histogram would
    choose its own bucket edges, so predicted and demonstrated would not line up)."""
    edges = np.arange(len(counts), dtype=np.float64)
    buckets = np.stack([edges - 0.5, edges + 0.5, np.asarray(counts, np.float64)], axis=1)
    metadata = histogram_metadata.create_summary_metadata(display_name=tag, description=description)
    tf.summary.write(tag, tf.constant(buckets), step=step, metadata=metadata)


def write_metrics(split, metrics, confusion, step, names):
    tf.summary.scalar(f"losses/{split}_cross_entropy", metrics["cross_entropy"], step)
    tf.summary.scalar(f"metrics/{split}_accuracy", metrics["accuracy"], step)
    tf.summary.scalar(f"metrics/{split}_balanced_accuracy", metrics["balanced_accuracy"], step)
    if "value_loss" in metrics and np.isfinite(metrics["value_loss"]):
        tf.summary.scalar("losses/value" if split == "train" else f"losses/{split}_value",
                          metrics["value_loss"], step)
    if np.isfinite(metrics.get("explained_variance", np.nan)):
        tf.summary.scalar(f"metrics/{split}_explained_variance", metrics["explained_variance"],
                          step)
    legend = "bucket i is action i: " + ", ".join(f"{i} {name}" for i, name in enumerate(names))
    write_action_histogram(f"actions/{split}_demonstrated", confusion.sum(axis=1), step, legend)
    write_action_histogram(f"actions/{split}_predicted", confusion.sum(axis=0), step, legend)


def plot_curves(curves, path):
    """Training and validation cross-entropy and accuracy against the optimizer step, as PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(11, 4))
    for split, style in (("train", "-"), ("val", "o-")):
        points = curves[split]
        if not points:
            continue
        steps = [point["step"] for point in points]
        loss_axes.plot(steps, [p["cross_entropy"] for p in points], style, label=split)
        accuracy_axes.plot(steps, [p["accuracy"] for p in points], style, label=f"{split} top-1")
        accuracy_axes.plot(steps, [p["balanced_accuracy"] for p in points], style, alpha=0.6,
                           label=f"{split} balanced")
    loss_axes.set(xlabel="optimizer step", ylabel="cross-entropy (nats)", title="loss")
    accuracy_axes.set(xlabel="optimizer step", ylabel="accuracy", title="accuracy", ylim=(0, 1))
    for axes in (loss_axes, accuracy_axes):
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
