"""Learning curves of several runs in one plot: episodic return against env frames, from each
run's TensorBoard events, and a table of the mean return in equal frame windows.

    python experiments/compare_curves.py runs/a:"IMPALA, 2 actors" runs/b:"8 workers" \
        --out image/curves.png --until 1360000 --windows 4

Each RUN is a workspace (its tensorboard/ folder is read) or a TensorBoard run folder; the text
after ':' labels it. Curves are means over windows of episodes; the table compares the runs at
the same frames (up to --until, where the shortest run ends by default). --reference marks a
published point (FRAMES:RETURN:LABEL) on the plot and lists it under the table. --tag compares
another chart the same way (ppo/clip_fraction, charts/entropy, vtrace/explained_variance ...).
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
    parser.add_argument("--tag", default="charts/episodic_return",
                        help="the TensorBoard chart to compare")
    parser.add_argument("--decimals", type=int, default=0, help="decimals of the table's means")
    parser.add_argument("--reference", action="append", default=[],
                        metavar="FRAMES:RETURN:LABEL",
                        help="a published point to mark, e.g. 4000000:-17:'baselines PPO2' "
                             "(repeatable)")
    args = parser.parse_args()
    references = []
    for spec in args.reference:
        try:
            frames, value, label = spec.split(":", 2)
            references.append((float(frames), float(value), label))
        except ValueError:
            parser.error(f"--reference {spec!r}: give FRAMES:RETURN:LABEL, e.g. "
                         "4000000:-17:'baselines PPO2'")
    start_tensorflow(gpu=False)
    runs = []
    for spec in args.runs:
        folder, _, label = spec.partition(":")
        runs.append((label or folder, *episodes(folder, args.tag)))
    until = args.until or min(frames[-1] for _, frames, _ in runs)

    figure, axes = plt.subplots(figsize=(8, 4.5))
    for label, frames, returns in runs:
        kernel = min(args.smooth, len(returns))
        smoothed = np.convolve(returns, np.ones(kernel) / kernel, mode="valid")
        axes.plot(frames[kernel - 1:], smoothed, label=f"{label} ({len(returns)} episodes)")
    for frames, value, label in references:
        axes.scatter([frames], [value], marker="*", s=150, color="black", zorder=3)
        axes.annotate(label, (frames, value), textcoords="offset points", xytext=(-8, 6),
                      ha="right", fontsize=8)
    axes.axvline(until, color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel="env frames", ylabel=f"{args.tag} (mean of {args.smooth})",
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
            cells.append(f"{inside.mean():.{args.decimals}f} ({len(inside)})"
                         if len(inside) else "-")
        print(f"| {label} | " + " | ".join(cells) + " |")
    for frames, value, label in references:
        print(f"- {label}: {value:g} at {frames:,.0f} frames")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
