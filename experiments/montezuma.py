"""MontezumaRevenge runs side by side: distinct rooms visited, episode scores and RND's
intrinsic reward, against env frames, from each run's TensorBoard events.

    python experiments/montezuma.py runs/a:"ppo + RND" runs/b:ppo --out image/montezuma.png

Each RUN is a workspace (its tensorboard/ folder is read); the text after ':' labels it.
Prints a table: frames trained, episodes, rooms visited over the whole run, the most rooms in
one episode, the maximum and mean episode score, and the intrinsic reward at the start and the
end of the run (means over the first and last tenth of its updates).
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from compare_curves import episodes  # noqa: E402
from retro_rl.runtime import start_tensorflow  # noqa: E402


def series(folder, tag):
    """(frames, values) of a tag, or two empty arrays where the run has none."""
    try:
        return episodes(folder, tag)
    except SystemExit:
        return np.array([]), np.array([])


def tenth_mean(values, last):
    if not len(values):
        return "-"
    count = max(1, len(values) // 10)
    return f"{np.mean(values[-count:] if last else values[:count]):.3f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="FOLDER:label, one per run")
    parser.add_argument("--out", required=True, help="the .png to write")
    args = parser.parse_args()
    start_tensorflow(gpu=False)
    figure, (scores, rooms, bonus) = plt.subplots(1, 3, figsize=(15, 4.2))
    print("| run | frames | episodes | rooms visited (run) | most rooms in an episode | "
          "max score | mean score | intrinsic reward, first / last tenth |")
    print("|---|---|---|---|---|---|---|---|")
    for spec in args.runs:
        folder, _, label = spec.partition(":")
        label = label or folder
        frames, returns = series(folder, "charts/episodic_return")
        room_frames, run_rooms = series(folder, "charts/rooms_visited_run")
        _, episode_rooms = series(folder, "charts/rooms_visited")
        bonus_frames, intrinsic = series(folder, "rnd/intrinsic_reward")
        trained = max([0] + [int(f[-1]) for f in (frames, room_frames, bonus_frames) if len(f)])
        print(f"| {label} | {trained:,} | {len(returns)} | "
              f"{int(run_rooms.max()) if len(run_rooms) else '-'} | "
              f"{int(episode_rooms.max()) if len(episode_rooms) else '-'} | "
              f"{returns.max() if len(returns) else 0:.0f} | "
              f"{returns.mean() if len(returns) else 0:.1f} | "
              f"{tenth_mean(intrinsic, False)} / {tenth_mean(intrinsic, True)} |")
        if len(returns):
            kernel = min(20, len(returns))
            scores.plot(frames[kernel - 1:],
                        np.convolve(returns, np.ones(kernel) / kernel, mode="valid"),
                        label=label)
        if len(run_rooms):
            rooms.step(room_frames, run_rooms, where="post", label=label)
        if len(intrinsic):
            bonus.plot(bonus_frames, intrinsic, label=label, linewidth=0.8)
    scores.set(xlabel="env frames", ylabel="episode score (mean of 20)", title="score")
    rooms.set(xlabel="env frames", ylabel="distinct rooms", title="rooms visited in the run")
    bonus.set(xlabel="env frames", ylabel="mean intrinsic reward per step",
              title="RND's intrinsic reward")
    for axes in (scores, rooms, bonus):
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend()
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    figure.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
