"""The results of experiments/airstriker.sh: the table, with 95% bootstrap intervals, and the
learning curves.

    python experiments/summarize.py runs/airstriker

Reads each stage's results/evaluation.json (run_evaluation.py reports, each with the random
baseline on the same episodes), the demonstrations' demos.json (with the best known score) and
the RL runs' TensorBoard events. Writes <run>/results.md (printed too) and <run>/image/:
airstriker_rl_return.png (episodic return against env frames), airstriker_ablations.png (each
change taken back, against the full run, at equal frames) and a copy of the behaviour-cloning
curves, airstriker_supervised_learning.png.
"""

import json
import os
import pathlib
import shutil
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from retro_rl.runtime import start_tensorflow  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEMOS = ROOT / "demos" / "Airstriker-Genesis-v0" / "demos.json"
STAGES = (("sl", "evaluation", "behaviour cloning (SL), with its cloned critic"),
          ("rl_from_sl", "evaluation", "IMPALA from SL, an hour's frames"),
          ("rl_from_scratch", "evaluation", "IMPALA from scratch, the same frames"))
ABLATIONS = (("rl_from_sl", "short", "IMPALA from SL, everything"),
             ("without_level_end", "evaluation", "... without the level's end"),
             ("without_cloned_critic", "evaluation", "... without the cloned critic"),
             ("without_demo_starts", "evaluation", "... without demonstration starts"))
RESAMPLES = 10_000


def bootstrap(values, statistic=np.mean, seed=0):
    """The 95% interval of `statistic` over resamples of `values` (rows resampled together)."""
    values = np.asarray(values, np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(len(values), size=(RESAMPLES, len(values)))
    estimates = np.array([statistic(values[pick]) for pick in picks])
    return np.percentile(estimates, [2.5, 97.5])


def interval(values):
    low, high = bootstrap(values)
    return f"{np.mean(values):.0f} [{low:.0f}, {high:.0f}]"


def share_interval(flags):
    low, high = bootstrap(np.asarray(flags, float))
    return f"{np.mean(flags):.0%} [{low:.0%}, {high:.0%}]"


def wall_clock(stage_folder):
    finished = stage_folder / "finished"
    return f"{int(finished.read_text()) / 60:.0f} min" if finished.exists() else "-"


def scalars(workspace, tag):
    """(frames, values) of one tag the learner logged, in frame order."""
    import tensorflow as tf

    points = []
    for path in (workspace / "tensorboard").rglob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == tag:
                    points.append((event.step, float(tf.make_ndarray(value.tensor))))
    points.sort()
    return np.array([p[0] for p in points]), np.array([p[1] for p in points])


def plot_curves(run, stages, path, title, lines=()):
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for stage, label in stages:
        frames, returns = scalars(run / stage, "charts/episodic_return")
        if len(returns) == 0:
            continue
        window = max(1, min(50, len(returns) // 10))
        smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
        axes.plot(frames[window - 1:], smooth, label=f"{label} (mean of {window} episodes)")
    for value, style, label in lines:
        axes.axhline(value, color="grey", linestyle=style, label=label)
    axes.set(xlabel="environment frames (frame skip counted)", ylabel="episodic return",
             title=title)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def policy_row(label, episodes, random_mean, best, time="-"):
    returns = [e["return"] for e in episodes]
    return (label, interval(returns), f"{np.mean([e['length'] for e in episodes]):.0f}",
            share_interval([e["level_complete"] for e in episodes]),
            f"{np.mean(returns) / best:.0%}", f"{np.mean(returns) / random_mean:.2f}x", time)


def main(run):
    run = pathlib.Path(run)
    start_tensorflow(gpu=False)

    def report(stage, name):
        path = run / stage / "results" / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else None

    sl = report("sl", "evaluation")
    if sl is None:
        sys.exit(f"error: {run}/sl/results/evaluation.json is missing; run "
                 "experiments/airstriker.sh first")
    random_episodes = sl["policies"]["random"]["episodes"]
    random_mean = np.mean([e["return"] for e in random_episodes])
    demos = json.loads(DEMOS.read_text())
    known = demos.get("best_known") or {"score": max(m["score"] for m in demos["movies"]),
                                        "how": "the best shipped demonstration"}
    best = known["score"]
    demo_scores = [movie["score"] for movie in demos["movies"]]
    settings = sl["settings"]

    header = ("policy", "return, mean [95% CI]", "length (agent steps)",
              "completed the level [95% CI]", "of the best known", "to random", "training")
    rows = [policy_row("random policy", random_episodes, random_mean, best),
            (f"demonstrations ({len(demo_scores)} movies)", f"{np.mean(demo_scores):.0f}",
             f"{np.mean([m['frames'] for m in demos['movies']]) / 4:.0f}", "-",
             f"{np.mean(demo_scores) / best:.0%}", f"{np.mean(demo_scores) / random_mean:.2f}x",
             "-")]
    reports = {}
    for stage, name, label in STAGES:
        reports[stage] = report(stage, name)
        if reports[stage] is None:
            rows.append((label, "not run", "", "", "", "", ""))
            continue
        if [e["return"] for e in reports[stage]["policies"]["random"]["episodes"]] != \
                [e["return"] for e in random_episodes]:
            sys.exit(f"error: {stage}'s random baseline differs from sl's: not the same episodes")
        rows.append(policy_row(f"{label}: {reports[stage]['settings']['model_name']}",
                               reports[stage]["policies"]["model"]["episodes"], random_mean,
                               best, wall_clock(run / stage)))
    lines = [f"Airstriker-Genesis-v0, {settings['episodes']} episodes per policy, seeds "
             f"{settings['seed']}..{settings['seed'] + settings['episodes'] - 1}, "
             f"{settings['max_steps']}-step limit, sampled actions. Best known score: {best:.0f} "
             f"({known['how']}).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]

    sl_returns = np.array([e["return"] for e in sl["policies"]["model"]["episodes"]])
    if reports.get("rl_from_sl"):
        rl_returns = np.array([e["return"]
                               for e in reports["rl_from_sl"]["policies"]["model"]["episodes"]])
        paired = np.stack([rl_returns, sl_returns], axis=1)  # the same episode seeds
        low, high = bootstrap(paired, lambda rows: rows[:, 0].mean() - rows[:, 1].mean())
        gap = (rl_returns.mean() - sl_returns.mean()) / (best - sl_returns.mean())
        lines += ["", f"IMPALA from SL - SL: {rl_returns.mean() - sl_returns.mean():+.0f} "
                      f"[{low:+.0f}, {high:+.0f}] (paired bootstrap over the episode seeds); "
                      f"{gap:.0%} of the gap from the clone's mean to the best known score "
                      "closed."]

    ablation_rows = []
    for stage, name, label in ABLATIONS:
        found = report(stage, name)
        if found is not None:
            ablation_rows.append(policy_row(f"{label}: {found['settings']['model_name']}",
                                            found["policies"]["model"]["episodes"],
                                            random_mean, best, wall_clock(run / stage)))
    if ablation_rows:
        lines += ["", "Each change taken back alone, at equal frames (the full run's checkpoint "
                      "at the same frames as the reference):", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in ablation_rows]
    for stage in ("rl_from_sl", "without_cloned_critic"):
        _, explained = scalars(run / stage, "vtrace/explained_variance")
        if len(explained):
            lines.append(f"Explained variance of {stage}'s first 100 updates: median "
                         f"{np.median(explained[:100]):.2f} (mean {np.mean(explained[:100]):.2f})")
    text = "\n".join(lines) + "\n"
    (run / "results.md").write_text(text)
    print(text)

    images = run / "image"
    images.mkdir(exist_ok=True)
    sl_curve = run / "sl" / "image" / "supervised_learning.png"
    if sl_curve.exists():
        shutil.copy(sl_curve, images / "airstriker_supervised_learning.png")
    references = ((random_mean, ":", "random policy (evaluation)"),
                  (sl_returns.mean(), "--", "SL policy (evaluation)"),
                  (best, "-.", "best known score"))
    plot_curves(run, [(stage, label) for stage, _, label in STAGES[1:]],
                images / "airstriker_rl_return.png",
                "IMPALA on Airstriker-Genesis-v0 (the workers' sampled play)", references)
    plot_curves(run, [(stage, label) for stage, _, label in ABLATIONS],
                images / "airstriker_ablations.png",
                "Each change taken back (the workers' sampled play)", references)
    print(f"curves in {images}/")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        sys.exit("usage: python experiments/summarize.py RUN_FOLDER (see its docstring)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main(sys.argv[1])
