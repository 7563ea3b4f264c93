"""The learning benchmark's results: from the stages' outputs to one small JSON per run
(`collect`), and from those to the table, with 95% bootstrap intervals, and the curves with a
band over the seeds (`summarize`).

    python experiments/summarize.py experiments/results/full

Writes <results>/results.md (printed too) and <results>/airstriker_*.png. Every policy's
episodes are the same (seeds 0.., the same step limit), so two rows compare episode by episode:
intervals pool the seeds' episodes and resample episodes within each seed.
"""

import json
import pathlib
import sys
import warnings

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEMOS = ROOT / "demos" / "Airstriker-Genesis-v0" / "demos.json"
RESAMPLES = 10_000
CURVE_POINTS = 60  # points of each run's stored curve
FINAL_SHARE = 0.1  # the final mean actors' return: episodes of the run's last tenth of frames
ROWS = {  # row: its label in the table, in the table's order
    "random": "random policy",
    "clone": "behaviour cloning (SL defaults, cloned critic)",
    "finetune": "IMPALA fine-tuned from the clone (level end, cloned critic, demo starts)",
    "impala": "IMPALA from scratch",
    "a2c": "A2C from scratch (a2c_sonic)",
    "ppo": "PPO from scratch (128-step unrolls, 4x4 minibatches)",
    "ppo_overlap": "the same PPO, workers playing on through the update (--overlap_rounds)",
    "no_level_end": "fine-tuned, without the level end",
    "no_cloned_critic": "fine-tuned, without the cloned critic (500-update value warm-up)",
    "no_demo_starts": "fine-tuned, without demonstration starts",
    "lever_ppo": "fine-tuned with PPO's clipped ratio instead of the KL anchor, step 1e-4",
    "lever_step": "fine-tuned at step 1e-4 with the KL anchor at 0.3",
    "lever_demo_starts": "fine-tuned with 90% of episodes starting along demonstrations",
}


def bootstrap(values, statistic=np.mean, seed=0):
    """The 95% percentile interval of `statistic` over RESAMPLES resamples of `values` (rows
    resampled together)."""
    values = np.asarray(values, np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(len(values), size=(RESAMPLES, len(values)))
    estimates = np.array([statistic(values[pick]) for pick in picks])
    return np.percentile(estimates, [2.5, 97.5])


def stratified_bootstrap(groups, seed=0):
    """The 95% interval of the pooled mean of `groups` (one array per seed, [episodes] or
    [episodes, k]), each group resampled within itself; with k columns, of each column's mean."""
    rng = np.random.default_rng(seed)
    total = sum(len(group) for group in groups)
    sums = 0.0
    for group in groups:
        group = np.asarray(group, np.float64)
        picks = rng.integers(len(group), size=(RESAMPLES, len(group)))
        sums = sums + group[picks].sum(axis=1)
    return np.percentile(sums / total, [2.5, 97.5], axis=0)


# ---- collect: stage outputs -> one JSON per run ----

def read_scalars(folder, tag):
    """(frames, values) of one tag in every TensorBoard event file under `folder`."""
    import tensorflow as tf

    points = []
    for path in sorted(pathlib.Path(folder).rglob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == tag:
                    points.append((event.step, float(tf.make_ndarray(value.tensor))))
    points.sort(key=lambda point: point[0])
    return np.array([p[0] for p in points]), np.array([p[1] for p in points])


def curve(workspace, total_frames):
    """The actors' episodic return in CURVE_POINTS equal frame bins (None where no episode
    ended), and the mean of the episodes in the run's last FINAL_SHARE of frames."""
    frames, returns = read_scalars(pathlib.Path(workspace) / "tensorboard",
                                   "charts/episodic_return")
    edges = np.linspace(0, total_frames, CURVE_POINTS + 1)
    bins = np.clip(np.searchsorted(edges, frames, side="right") - 1, 0, CURVE_POINTS - 1)
    means = [float(returns[bins == b].mean()) if np.any(bins == b) else None
             for b in range(CURVE_POINTS)]
    final = returns[frames >= total_frames * (1 - FINAL_SHARE)]
    return {"frames": [float(x) for x in (edges[:-1] + edges[1:]) / 2], "return": means,
            "episodes": int(len(returns))}, (float(final.mean()) if len(final) else None)


def newest_report(workspace):
    reports = sorted((pathlib.Path(workspace) / "results").glob("*.json"),
                     key=lambda path: path.stat().st_mtime)
    return json.loads(reports[-1].read_text()) if reports else None


def stage_record(out, name):
    path = out / name / "stage.json"
    return json.loads(path.read_text()) if path.exists() else None


def collect(out, results, suite):
    """Writes <results>/<run>.json for every evaluated run under `out` (and search.json)."""
    out, results = pathlib.Path(out), pathlib.Path(results)
    results.mkdir(parents=True, exist_ok=True)
    for evaluation in sorted(out.glob("*/evaluation/stage.json")):
        run = evaluation.parent.parent
        record = json.loads(evaluation.read_text())
        report = newest_report(run)
        policy = "random" if record["row"] == "random" else "model"
        episodes = report["policies"][policy]["episodes"]
        entry = {"suite": suite, "run": run.name, "row": record["row"], "seed": record["seed"],
                 "evaluation": {"model": report["settings"].get("model_name"),
                                "episode_seeds": [e["seed"] for e in episodes],
                                "max_steps": report["settings"]["max_steps"],
                                "return": [e["return"] for e in episodes],
                                "length": [e["length"] for e in episodes],
                                "level_complete": [e["level_complete"] for e in episodes],
                                "seconds": record["seconds"]}}
        parts = sorted((run / "parts").glob("*/stage.json"), key=lambda p: int(p.parent.name))
        if parts:
            records = [json.loads(path.read_text()) for path in parts]
            frames = records[-1]["frames"]
            seconds = sum(r["seconds"] for r in records)
            entry["training"] = {"frames": frames, "seconds": round(seconds, 1),
                                 "frames_per_second": round(frames / seconds, 1),
                                 "parts": len(records), "command": records[0]["command"]}
            entry["curve"], entry["final_actors_return"] = curve(run, frames)
        elif (run / "stage.json").exists():  # a clone
            clone = json.loads((run / "stage.json").read_text())
            entry["training"] = {"seconds": clone["seconds"], "command": clone["command"]}
        (results / f"{run.name}.json").write_text(json.dumps(entry, indent=1) + "\n")
    searches = []
    for path in sorted(out.glob("search_seed*/stage.json")):
        demos = json.loads((path.parent / "demos.json").read_text())
        record = json.loads(path.read_text())
        searches += [{"seed": record["seed"], "score": movie["score"], "frames": movie["frames"],
                      "seconds": record["seconds"], "command": record["command"]}
                     for movie in demos["movies"]]
    if searches:
        (results / "search.json").write_text(json.dumps(searches, indent=1) + "\n")


# ---- summarize: the JSONs -> the table and the curves ----

def load_runs(results):
    runs = {}
    for path in sorted(pathlib.Path(results).glob("*.json")):
        entry = json.loads(path.read_text())
        if isinstance(entry, dict) and "row" in entry:
            runs.setdefault(entry["row"], []).append(entry)
    return runs


def best_known(results):
    """The best score known for the level: the search demonstrator's (search.json) or
    demos.json's best_known, else the best shipped demonstration."""
    demos = json.loads(DEMOS.read_text())
    candidates = [(movie["score"], "the best shipped demonstration")
                  for movie in demos["movies"]]
    if demos.get("best_known"):
        candidates.append((demos["best_known"]["score"], demos["best_known"]["how"]))
    search = pathlib.Path(results) / "search.json"
    if search.exists():
        candidates += [(entry["score"], f"the search demonstrator with {search_budget(entry)}, "
                                        f"seed {entry['seed']}")
                       for entry in json.loads(search.read_text())]
    return max(candidates)


def search_budget(entry):
    command = entry["command"]
    return f"{command[command.index('--candidates') + 1]} candidate plans a decision"


def row_cells(entries, random_mean, best):
    returns = [np.array(e["evaluation"]["return"]) for e in entries]
    completed = [np.array(e["evaluation"]["level_complete"], float) for e in entries]
    pooled = np.concatenate(returns)
    low, high = stratified_bootstrap(returns)
    c_low, c_high = stratified_bootstrap(completed)
    seeds = ", ".join(f"{r.mean():.0f}" for r in returns)
    frames = entries[0].get("training", {}).get("frames")
    speed = [e["training"]["frames_per_second"] for e in entries
             if "frames_per_second" in e.get("training", {})]
    minutes = [e["training"]["seconds"] / 60 for e in entries if "training" in e]
    finals = [e["final_actors_return"] for e in entries if e.get("final_actors_return")]
    return [f"{pooled.mean():.0f} [{low:.0f}, {high:.0f}]", seeds,
            f"{np.concatenate(completed).mean():.0%} [{c_low:.0%}, {c_high:.0%}]",
            f"{np.mean([e['evaluation']['length'] for e in entries]):.0f}",
            f"{pooled.mean() / best:.0%}",
            f"{pooled.mean() / random_mean:.2f}x" if random_mean > 0 else "-",
            f"{frames:,}" if frames else "-",
            f"{np.mean(minutes):.0f} min" if minutes else "-",
            f"{np.mean(speed):,.0f}" if speed else "-",
            f"{np.mean(finals):.0f}" if finals else "-"]


def paired_difference(first, second):
    """Mean of first - second over the seeds both have, episode by episode (the same episode
    seeds), with its stratified 95% interval."""
    by_seed = {e["seed"]: np.array(e["evaluation"]["return"]) for e in second}
    pairs = [np.array(e["evaluation"]["return"]) - by_seed[e["seed"]] for e in first
             if e["seed"] in by_seed]
    if not pairs:
        return None
    low, high = stratified_bootstrap(pairs)
    return float(np.concatenate(pairs).mean()), float(low), float(high), len(pairs)


def plot(runs, rows, path, title, references):
    """Each row's mean curve with its band over the seeds; no file where no row has a run."""
    if not any("curve" in e for row in rows for e in runs.get(row, [])):
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    for row in rows:
        entries = [e for e in runs.get(row, []) if "curve" in e]
        if not entries:
            continue
        frames = np.array(entries[0]["curve"]["frames"])
        values = np.array([[np.nan if v is None else v for v in e["curve"]["return"]]
                           for e in entries])
        with warnings.catch_warnings():  # a bin where no seed's episode ended stays empty
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, low, high = (np.nanmean(values, axis=0), np.nanmin(values, axis=0),
                               np.nanmax(values, axis=0))
        line, = axes.plot(frames, mean, label=f"{ROWS[row]} ({len(entries)} seeds)")
        if len(entries) > 1:
            axes.fill_between(frames, low, high, color=line.get_color(), alpha=0.2)
    for value, style, label in references:
        axes.axhline(value, color="grey", linestyle=style, label=label)
    axes.set(xlabel="environment frames (frame skip counted)",
             ylabel="actors' episodic return", title=title)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def summarize(results):
    results = pathlib.Path(results)
    runs = load_runs(results)
    if "random" not in runs:
        raise SystemExit(f"error: {results} has no random.json yet; run "
                         "experiments/benchmark.py first")
    random_mean = float(np.mean(runs["random"][0]["evaluation"]["return"]))
    best, how = best_known(results)
    episodes = len(runs["random"][0]["evaluation"]["return"])
    header = ["policy", "return, mean [95% CI]", "per seed", "levels completed [95% CI]",
              "length (agent steps)", "of best known", "to random", "frames",
              "training (per seed)", "frames/s", "final actors' return"]
    lines = [f"Airstriker-Genesis-v0: {episodes} evaluation episodes per policy and seed "
             f"(episode seeds 0-{episodes - 1}, {runs['random'][0]['evaluation']['max_steps']}"
             f"-step limit, sampled actions); intervals: 95% bootstrap, episodes resampled "
             f"within each seed. Best known score: {best:.0f} ({how}).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row, label in ROWS.items():
        if row in runs:
            seeds = ",".join(str(e["seed"]) for e in sorted(runs[row], key=lambda e: e["seed"]))
            named = label if row == "random" else f"{label} (seed{'s' * (',' in seeds)} {seeds})"
            lines.append(f"| {named} | "
                         + " | ".join(row_cells(runs[row], random_mean, best)) + " |")
    lines.append("")
    for first, second in (("finetune", "clone"), ("impala", "clone"), ("finetune", "impala"),
                          ("lever_ppo", "clone"), ("lever_ppo", "finetune"),
                          ("ppo_overlap", "ppo")):
        found = paired_difference(runs.get(first, []), runs.get(second, []))
        if found:
            mean, low, high, seeds = found
            lines.append(f"- {first} - {second}: {mean:+.0f} [{low:+.0f}, {high:+.0f}] "
                         f"(paired by seed and episode, {seeds} seeds)")
    seeds = ({e["seed"] for e in runs.get("finetune", [])}
             & {e["seed"] for e in runs.get("clone", [])})
    if seeds:  # over the seeds both rows have
        clone = np.mean([np.mean(e["evaluation"]["return"]) for e in runs["clone"]
                         if e["seed"] in seeds])
        tuned = np.mean([np.mean(e["evaluation"]["return"]) for e in runs["finetune"]
                         if e["seed"] in seeds])
        closed = (tuned - clone) / (best - clone)
        lines.append(f"- share of the gap from the clone ({clone:.0f}) to the best known "
                     f"({best:.0f}) that fine-tuning closed: {closed:.0%}")
    search = results / "search.json"
    if search.exists():
        entries = json.loads(search.read_text())
        scores = ", ".join(f"seed {e['seed']}: {e['score']:.0f} in {e['frames']:,} frames "
                           f"({e['seconds'] / 60:.0f} min)" for e in entries)
        lines.append(f"- the search demonstrator with {search_budget(entries[0])}: {scores}")
    text = "\n".join(lines) + "\n"
    (results / "results.md").write_text(text)
    print(text)
    references = [(random_mean, ":", "random policy (evaluation)"),
                  (best, "-.", "best known score")]
    if "clone" in runs:
        references.insert(1, (np.mean([np.mean(e["evaluation"]["return"])
                                       for e in runs["clone"]]), "--", "clone (evaluation)"))
    plot(runs, ("finetune", "impala", "a2c", "ppo"), results / "airstriker_learners.png",
         "Airstriker: mean over seeds, band from the lowest to the highest seed", references)
    plot(runs, ("finetune", "no_level_end", "no_cloned_critic", "no_demo_starts"),
         results / "airstriker_ablations.png", "Airstriker: each change taken back (seed 1)",
         references)
    plot(runs, ("finetune", "lever_ppo", "lever_step", "lever_demo_starts"),
         results / "airstriker_levers.png", "Airstriker: levers of fine-tuning (seed 1)",
         references)
    if "ppo_overlap" in runs:
        plot(runs, ("ppo", "ppo_overlap"), results / "airstriker_overlap.png",
             "Airstriker: PPO with and without overlapped rounds", references)
    return text


def regression(results):
    """The learning regression check's lines: each seed's final mean actors' return (the
    episodes of its last tenth of frames) against the random policy's evaluation."""
    runs = load_runs(results)
    random_mean = float(np.mean(runs["random"][0]["evaluation"]["return"]))
    lines = []
    for entry in sorted(runs.get("impala", []), key=lambda e: e["seed"]):
        final = entry.get("final_actors_return")
        shown = f"{final:.0f} = {final / random_mean:.2f}x random" if final else "no episode"
        lines.append(f"seed {entry['seed']}: {entry['training']['frames']:,} frames, final mean "
                     f"actors' return {shown} ({random_mean:.0f}); evaluation "
                     f"{np.mean(entry['evaluation']['return']):.0f}, "
                     f"{np.mean(entry['evaluation']['level_complete']):.0%} of levels completed")
    text = "\n".join(lines) + "\n"
    (pathlib.Path(results) / "regression.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        sys.exit("usage: python experiments/summarize.py RESULTS_FOLDER (see its docstring)")
    summarize(sys.argv[1])
