"""An evaluation's report: per-episode rows, their statistics, the printed table, the JSON."""

import json
import os
import time

import numpy as np

from retro_rl.envs import games


def describe(values):
    values = np.asarray(values, np.float64)
    return {"mean": float(values.mean()), "median": float(np.median(values)),
            "std": float(values.std()), "min": float(values.min()), "max": float(values.max())}


def summarize(episodes, sonic):
    """Statistics of a policy's episodes: return, length, frames, the share that beat the level
    (completed_fraction), and Sonic's x-progress."""
    summary = {key: describe([e[key] for e in episodes]) for key in ("return", "length", "frames")}
    summary["completed_fraction"] = float(np.mean([e["level_complete"] for e in episodes]))
    if sonic:
        summary["x_progress"] = describe([e["x_progress"] for e in episodes])
    if episodes and "rooms" in episodes[0]:
        summary["rooms"] = describe([e["rooms"] for e in episodes])
        visited = 0
        for episode in episodes:
            visited |= episode["room_mask"]
        summary["rooms_visited"] = games.room_count(visited)
    return summary


def episode_row(episode, seed, act, statistics, movie):
    row = {"episode": episode, "seed": seed, "act": act,
           "return": float(statistics["return"]), "length": int(statistics["length"]),
           "frames": int(statistics["frames"]),
           "level_complete": bool(statistics.get("level_complete", False))}
    if "x_progress" in statistics:
        row["x_progress"] = float(statistics["x_progress"])
    if "rooms" in statistics:
        row["rooms"] = games.room_count(statistics["rooms"])
        row["room_mask"] = int(statistics["rooms"])
    if movie is not None:
        row["movie"] = movie
    return row


def print_report(report):
    policies = report["policies"]
    first = next(iter(policies))
    sonic = "x_progress" in policies[first]["summary"]
    header = f"{'episode':>7}  {'act':<22}{'seed':>6}"
    for label in policies:
        header += f"{label[:12]:>14}{'length':>8}" + (f"{'progress':>9}" if sonic else "")
        header += f"{'done':>5}"
    print(header)
    for index, row in enumerate(policies[first]["episodes"]):
        line = f"{row['episode']:>7}  {row['act'][:21]:<22}{row['seed']:>6}"
        for result in policies.values():
            if index >= len(result["episodes"]):
                continue  # an interrupted run
            other = result["episodes"][index]
            line += f"{other['return']:>14.1f}{other['length']:>8}"
            if sonic:
                line += f"{other['x_progress']:>9.2f}"
            line += f"{'yes' if other['level_complete'] else '-':>5}"
        print(line)
    print(f"\n{'':<24}{'mean':>10}{'median':>10}{'std':>10}{'min':>10}{'max':>10}")
    for label, result in policies.items():
        for key in ["return", "length"] + (["x_progress"] if sonic else []):
            stats = result["summary"][key]
            print(f"{label[:14]:<14}{key:<10}" + "".join(
                f"{stats[name]:>10.2f}" for name in ("mean", "median", "std", "min", "max")))
        print(f"{label[:14]:<14}completed the {'act' if sonic else 'level'} in "
              f"{result['summary']['completed_fraction']:.0%} of episodes")
        if "rooms_visited" in result["summary"]:
            print(f"{label[:14]:<14}visited {result['summary']['rooms_visited']} distinct rooms "
                  f"(per episode: mean {result['summary']['rooms']['mean']:.1f}, max "
                  f"{result['summary']['rooms']['max']:.0f})")
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
