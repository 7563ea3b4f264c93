"""The results of experiments/airstriker.sh: one table and the learning curves.

    python experiments/summarize.py runs/airstriker

Reads <run>/{sl,rl_from_sl,rl_from_scratch}/results/evaluation.json (run_evaluation.py reports,
each with the random baseline on the same episodes), the demonstrations' demos.json and the
RL runs' TensorBoard events. Writes <run>/results.md (printed too) and <run>/image/:
airstriker_rl_return.png (episodic return against env frames, both RL runs) and a copy of the
behaviour-cloning curve, airstriker_supervised_learning.png.
"""

import glob
import json
import os
import pathlib
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEMOS = ROOT / "demos" / "Airstriker-Genesis-v0" / "demos.json"
STAGES = (("sl", "behaviour cloning (SL)"), ("rl_from_sl", "IMPALA from SL"),
          ("rl_from_scratch", "IMPALA from scratch"))
RL_STAGES = STAGES[1:]


def mean_std(values):
    return f"{np.mean(values):.1f} ± {np.std(values):.1f}"


def per_thousand_frames(returns, frames):
    return f"{1000 * np.sum(returns) / np.sum(frames):.1f}"


def wall_clock(stage_folder):
    finished = stage_folder / "finished"
    return f"{int(finished.read_text()) / 60:.0f} min" if finished.exists() else "-"


def episodic_returns(workspace):
    """(frames, returns) of every finished episode the learner logged, in frame order."""
    points = []
    for path in glob.glob(str(workspace / "tensorboard" / "*" / "events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.tag == "charts/episodic_return":
                    points.append((event.step, float(tf.make_ndarray(value.tensor))))
    points.sort()
    return np.array([p[0] for p in points]), np.array([p[1] for p in points])


def plot_rl_curves(run, random_mean, sl_mean, path):
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for stage, label in RL_STAGES:
        frames, returns = episodic_returns(run / stage)
        if len(returns) == 0:
            continue
        window = max(1, min(50, len(returns) // 10))
        smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
        axes.plot(frames, returns, ".", alpha=0.15)
        axes.plot(frames[window - 1:], smooth, color=axes.lines[-1].get_color(),
                  label=f"{label} (mean of {window} episodes)")
    axes.axhline(random_mean, color="grey", linestyle=":", label="random policy (evaluation)")
    axes.axhline(sl_mean, color="black", linestyle="--", label="SL policy (evaluation)")
    axes.set(xlabel="environment frames (frame skip counted)", ylabel="episodic return",
             title="IMPALA on Airstriker-Genesis-v0 (actors' sampled play)")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main(run):
    run = pathlib.Path(run)
    reports = {}
    for stage, _ in STAGES:
        path = run / stage / "results" / "evaluation.json"
        if path.exists():
            reports[stage] = json.loads(path.read_text())
    if "sl" not in reports:
        sys.exit(f"error: {run}/sl/results/evaluation.json is missing; run "
                 "experiments/airstriker.sh first")

    random_episodes = reports["sl"]["policies"]["random"]["episodes"]
    random_returns = [e["return"] for e in random_episodes]
    for stage, report in reports.items():  # the same seeds must give the same random episodes
        other = [e["return"] for e in report["policies"]["random"]["episodes"]]
        if other != random_returns:
            sys.exit(f"error: {stage}'s random baseline differs from sl's: not the same episodes")
    settings = reports["sl"]["settings"]
    demos = json.loads(DEMOS.read_text())
    demo_scores = [m["score"] for m in demos["movies"]]
    demo_frames = [m["frames"] for m in demos["movies"]]

    rows = [("random policy", mean_std(random_returns),
             mean_std([e["length"] for e in random_episodes]),
             per_thousand_frames(random_returns, [e["frames"] for e in random_episodes]),
             "1.00x", "-"),
            (f"demonstrations ({len(demo_scores)} movies, cut at {max(demo_frames)} frames)",
             mean_std(demo_scores), mean_std(np.array(demo_frames) / settings["env"]["frame_skip"]),
             per_thousand_frames(demo_scores, demo_frames),
             f"{np.mean(demo_scores) / np.mean(random_returns):.2f}x", "-")]
    for stage, label in STAGES:
        if stage not in reports:
            rows.append((label, "not run", "", "", "", ""))
            continue
        episodes = reports[stage]["policies"]["model"]["episodes"]
        returns = [e["return"] for e in episodes]
        rows.append((f"{label}: {reports[stage]['settings']['model_name']}", mean_std(returns),
                     mean_std([e["length"] for e in episodes]),
                     per_thousand_frames(returns, [e["frames"] for e in episodes]),
                     f"{np.mean(returns) / np.mean(random_returns):.2f}x",
                     wall_clock(run / stage)))

    header = ("policy", "return (mean ± std)", "episode length (agent steps)",
              "return per 1,000 frames", "to random", "training time")
    lines = [f"Airstriker-Genesis-v0, {settings['episodes']} episodes per policy, seeds "
             f"{settings['seed']}..{settings['seed'] + settings['episodes'] - 1}, "
             f"{settings['max_steps']}-step limit, sampled actions.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if "rl_from_sl" in reports:
        sl_mean = np.mean([e["return"] for e in reports["sl"]["policies"]["model"]["episodes"]])
        rl_mean = np.mean([e["return"]
                           for e in reports["rl_from_sl"]["policies"]["model"]["episodes"]])
        lines += ["", f"IMPALA from SL / SL: {rl_mean / sl_mean:.2f}x"]
    text = "\n".join(lines) + "\n"
    (run / "results.md").write_text(text)
    print(text)

    images = run / "image"
    images.mkdir(exist_ok=True)
    sl_curve = run / "sl" / "image" / "supervised_learning.png"
    if sl_curve.exists():
        shutil.copy(sl_curve, images / "airstriker_supervised_learning.png")
    sl_returns = [e["return"] for e in reports["sl"]["policies"]["model"]["episodes"]]
    plot_rl_curves(run, np.mean(random_returns), np.mean(sl_returns),
                   images / "airstriker_rl_return.png")
    print(f"curves in {images}/")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        sys.exit("usage: python experiments/summarize.py RUN_FOLDER (see its docstring)")
    main(sys.argv[1])
