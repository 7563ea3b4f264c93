"""Learning curves of several runs in one plot: episodic return against env frames, from each
run's TensorBoard events, and a table of the mean return in equal frame windows.

    python experiments/compare_curves.py runs/a:"IMPALA, 2 actors" runs/b:"8 workers" \
        --out image/curves.png --until 1360000 --windows 4

Each RUN is a workspace (its tensorboard/ folder is read) or a TensorBoard run folder; the text
after ':' labels it. Curves are means over windows of episodes; the table compares the runs at
the same frames (up to --until, where the shortest run ends by default).
"""

import argparse
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from retro_rl.runtime import start_tensorflow  # noqa: E402


def episodes(folder, tag="charts/episodic_return"):
    """(frames, returns) of every episode logged under `folder`, ordered by frames."""
    import tensorflow as tf

    points = []
    for path in pathlib.Path(folder).rglob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == tag:
                    points.append((event.step, float(tf.make_ndarray(value.tensor))))
    points.sort()
    if not points:
        raise SystemExit(f"no {tag} in {folder}")
    frames, returns = map(np.array, zip(*points))
    return frames, returns


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="FOLDER:label, one per run")
    parser.add_argument("--out", required=True, help="the .png to write")
    parser.add_argument("--until", type=float, default=None,
                        help="compare up to this many frames (default: the shortest run's end)")
    parser.add_argument("--windows", type=int, default=4, help="frame windows in the table")
    parser.add_argument("--smooth", type=int, default=50, help="episodes per point of a curve")
    parser.add_argument("--title", default="episodic return against env frames")
    args = parser.parse_args()
    start_tensorflow(gpu=False)
    runs = []
    for spec in args.runs:
        folder, _, label = spec.partition(":")
        runs.append((label or folder, *episodes(folder)))
    until = args.until or min(frames[-1] for _, frames, _ in runs)

    figure, axes = plt.subplots(figsize=(8, 4.5))
    for label, frames, returns in runs:
        kernel = min(args.smooth, len(returns))
        smoothed = np.convolve(returns, np.ones(kernel) / kernel, mode="valid")
        axes.plot(frames[kernel - 1:], smoothed, label=f"{label} ({len(returns)} episodes)")
    axes.axvline(until, color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel="env frames", ylabel=f"episodic return (mean of {args.smooth})",
             title=args.title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    figure.savefig(args.out, dpi=100)

    edges = np.linspace(0, until, args.windows + 1)
    header = " | ".join(f"{low / 1e6:.2f}-{high / 1e6:.2f} M"
                        for low, high in zip(edges, edges[1:]))
    print(f"| run | {header} |\n|---|" + "---|" * args.windows)
    for label, frames, returns in runs:
        cells = []
        for low, high in zip(edges, edges[1:]):
            inside = returns[(frames > low) & (frames <= high)]
            cells.append(f"{inside.mean():.0f} ({len(inside)})" if len(inside) else "-")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
