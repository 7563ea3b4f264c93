"""An evaluation's report: per-episode rows, their statistics, the printed table, the JSON.

Besides what every episode reports (return, length, frames, level_complete), a row holds every
statistic the game reports (envs/statistics.py: Sonic's x_progress, the rooms a game of many
rooms visited, ...), shown as statistics.chart says, with the numbers as measured under
"statistics"; nothing here knows a game's."""

import functools
import json
import os
import time

import numpy as np

from retro_rl.envs import statistics

# A row's keys that are not one of the game's statistics.
ROW_KEYS = ("episode", "seed", "act", *statistics.REQUIRED, "statistics", "movie")


def describe(values):
    values = np.asarray(values, np.float64)
    return {"mean": float(values.mean()), "median": float(np.median(values)),
            "std": float(values.std()), "min": float(values.min()), "max": float(values.max())}


def game_statistics(episodes):
    """The names of the game's own statistics in `episodes` (rows)."""
    return [name for name in episodes[0] if name not in ROW_KEYS] if episodes else []


def summarize(episodes):
    """Statistics of a policy's episodes (rows): return, length, frames, the share that beat the
    level (completed_fraction), each of the game's statistics, and `<name>_run` for those that
    have a run total (statistics.Chart.combine: the rooms of all the episodes together)."""
    summary = {key: describe([e[key] for e in episodes]) for key in ("return", "length", "frames")}
    summary["completed_fraction"] = float(np.mean([e["level_complete"] for e in episodes]))
    for name in game_statistics(episodes):
        summary[name] = describe([e[name] for e in episodes])
        chart = statistics.chart(name)
        if chart.combine is not None:
            total = functools.reduce(chart.combine, [e["statistics"][name] for e in episodes])
            summary[f"{name}_run"] = chart.value(total)
    return summary


def episode_row(episode, seed, act, episode_statistics, movie):
    """A report's row of one episode from the statistics its environment reported."""
    row = {"episode": episode, "seed": seed, "act": act,
           "return": float(episode_statistics["return"]),
           "length": int(episode_statistics["length"]),
           "frames": int(episode_statistics["frames"]),
           "level_complete": bool(episode_statistics.get("level_complete", False))}
    measured = {name: float(value) for name, value in episode_statistics.items()
                if name not in statistics.REQUIRED}
    for name, value in measured.items():
        row[name] = statistics.chart(name).value(value)
    if measured:
        row["statistics"] = measured
    if movie is not None:
        row["movie"] = movie
    return row


def print_report(report):
    policies = report["policies"]
    first = next(iter(policies))
    extra = game_statistics(policies[first]["episodes"])
    header = f"{'episode':>7}  {'act':<22}{'seed':>6}"
    for label in policies:
        header += f"{label[:12]:>14}{'length':>8}" + "".join(f"{name[:9]:>10}" for name in extra)
        header += f"{'done':>5}"
    print(header)
    for index, row in enumerate(policies[first]["episodes"]):
        line = f"{row['episode']:>7}  {row['act'][:21]:<22}{row['seed']:>6}"
        for result in policies.values():
            if index >= len(result["episodes"]):
                continue  # an interrupted run
            other = result["episodes"][index]
            line += f"{other['return']:>14.1f}{other['length']:>8}"
            line += "".join(f"{other[name]:>10.4g}" for name in extra)
            line += f"{'yes' if other['level_complete'] else '-':>5}"
        print(line)
    print(f"\n{'':<26}{'mean':>10}{'median':>10}{'std':>10}{'min':>10}{'max':>10}")
    for label, result in policies.items():
        summary = result["summary"]
        for key in ["return", "length", *extra]:
            print(f"{label[:14]:<14}{key[:12]:<12}" + "".join(
                f"{summary[key][name]:>10.2f}" for name in ("mean", "median", "std", "min", "max")))
        print(f"{label[:14]:<14}completed the level in {summary['completed_fraction']:.0%} of "
              "episodes")
        for name in extra:
            if f"{name}_run" in summary:
                chart = statistics.chart(name)
                print(f"{label[:14]:<14}{chart.run_label or name} in all its episodes together: "
                      f"{summary[f'{name}_run']:g}")
    if "ratio_to_random" in report:
        ratio = report["ratio_to_random"]
        shown = "n/a (the random policy's mean return is not positive)" if ratio is None \
            else f"{ratio:.2f}x"
        print(f"mean return of the model / random baseline: {shown}")


def save_report(report, workspace_path, name):
    """Writes <workspace>/results/<name>-seed<seed>-<time>.json; returns its path."""
    folder = os.path.join(workspace_path, "results")
    os.makedirs(folder, exist_ok=True)
    stem = f"{name}-seed{report['settings']['seed']}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, copy = os.path.join(folder, f"{stem}.json"), 1
    while os.path.exists(path):
        path, copy = os.path.join(folder, f"{stem}-{copy}.json"), copy + 1
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    return path
