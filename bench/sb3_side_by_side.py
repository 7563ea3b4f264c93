"""Side by side with Stable-Baselines3: SB3's PPO and this toolkit's learners from scratch, on
the same cores for the same wall-clock minutes, each scored on the same evaluation episodes.

    python bench/sb3_side_by_side.py OUT [--minutes 10] [--seeds 1 2 3]
        [--games Airstriker-Genesis-v0 ALE/Pong-v5] [--learners impala ppo sb3_ppo]

Run it with nothing else on the machine: it compares speeds. OUT must lie outside the clone; a
run whose result.json exists is not run again, so the same OUT continues a cut-off benchmark.

- sb3_ppo: bench/sb3_ppo.py in a virtual environment of its own (--sb3_venv, made on first use
  with the CPU build of torch 2.13.0, stable-baselines3 2.9.2 and this toolkit's environment
  packages at requirements.txt's versions; nothing of it enters the toolkit's requirements).
  The RL Zoo's Atari settings, 8 SubprocVecEnv workers, 2 torch threads; see that file.
- impala, ppo: ./run_reinforcement_learning.sh with 8 workers (ppo: 128-step unrolls; on the
  ALE, --preset ppo_atari, cleanrl's Atari settings), stopped with Ctrl-C (its final
  checkpoint) --minutes after the learner's first status line.
Each learner's clock starts at its first training step (SB3) or first status line (the
toolkit's learners, which have then trained some seconds: their frames trained include those).
Every model then plays --episodes episodes, episode i from seed i, with the settings every
evaluation plays (run_evaluation.py for the toolkit's models, SB3's evaluate_policy for SB3's).

Prints and writes OUT/side_by_side.md: per game and learner, frames/s, frames trained, the
evaluation return with its 95% interval over seeds and episodes, the levels completed, and each
toolkit learner's paired difference from SB3's PPO (same seeds, same episodes).
"""

import argparse
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))
import summarize  # noqa: E402  (the learning benchmark's statistics)

SB3_PACKAGES = ("torch==2.13.0", "stable-baselines3==2.9.2")
ENV_PACKAGES = ("stable-retro", "gymnasium", "numpy", "opencv-python-headless", "ale-py")
LEARNERS = {
    "impala": {"default": ()},
    "ppo": {"default": ("--algorithm", "ppo", "--unroll_length", "128"),
            "ale": ("--preset", "ppo_atari")},
}


def pinned(names):
    """requirements.txt's `name==version` lines for `names`: the toolkit's own pins."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pins = [line.split()[0] for line in lines if line.split("==")[0] in names]
    missing = set(names) - {pin.split("==")[0] for pin in pins}
    if missing:
        raise SystemExit(f"error: requirements.txt pins none of {sorted(missing)}")
    return pins


def sb3_python(venv):
    """The SB3 virtual environment's interpreter, made first where it does not exist."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"making {venv} (SB3, the CPU build of torch, the environment packages)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, SB3_PACKAGES[0]], check=True)  # first: the CPU build on disk
        subprocess.run([*pip, *SB3_PACKAGES[1:], *pinned(ENV_PACKAGES)], check=True)
        subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)
    return python


def first_status(log, deadline):
    """(time, frames) of the learner's first status line, polled in `log` until `deadline`."""
    while time.monotonic() < deadline:
        if log.exists():
            for line in log.read_text().splitlines():
                if " | frames " in line and "update " in line:
                    return time.monotonic(), int(line.split(" | frames ")[1].split()[0])
        time.sleep(0.5)
    raise SystemExit(f"error: no status line in {log}; see it and the run's other logs")


def newest_checkpoint(workspace):
    models = [path for path in (workspace / "model").glob("reinforcement_model_*")
              if path.name.rsplit("_", 1)[1].isdigit()]
    return max(models, key=lambda path: int(path.name.rsplit("_", 1)[1]))


def run_toolkit(learner, game, seed, args, folder):
    options = LEARNERS[learner]
    flags = options.get("ale", options["default"]) if game.startswith("ALE/") \
        else options["default"]
    command = ["./run_reinforcement_learning.sh", str(args.envs), "0", "none",
               "--workspace_path", str(folder), "--game", game, "--seed", str(seed),
               "--bind", "127.0.0.1:0", "--run_name", "side_by_side", *flags]
    with open(folder / "output.log", "w") as output:
        launcher = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        started, start_frames = first_status(folder / "logs" / "learner.log",
                                             time.monotonic() + 300)
        time.sleep(max(0.0, started + args.minutes * 60 - time.monotonic()))
        os.killpg(launcher.pid, signal.SIGINT)  # Ctrl-C: the final checkpoint is saved
        status = launcher.wait(timeout=300)
        seconds = time.monotonic() - started
    if status != 130:
        raise SystemExit(f"error: {learner} on {game} ended with status {status}; see "
                         f"{folder / 'output.log'}")
    checkpoint = newest_checkpoint(folder)
    frames = json.loads((checkpoint / "config.json").read_text())["frames"]
    subprocess.run([sys.executable, "run_evaluation.py", "--workspace_path", str(folder),
                    "--model_name", checkpoint.name, "--episodes", str(args.episodes),
                    "--max_steps", str(args.max_steps), "--seed", "0"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    episodes = summarize.newest_report(folder)["policies"]["model"]["episodes"]
    return {"learner": learner, "game": game, "seed": seed, "seconds": seconds,
            "frames": frames, "frames_per_second": (frames - start_frames) / seconds,
            "episodes": episodes}


def run_sb3(game, seed, args, folder):
    subprocess.run([str(sb3_python(args.sb3_venv)), str(ROOT / "bench" / "sb3_ppo.py"),
                    str(folder), "--game", game, "--seed", str(seed), "--minutes",
                    str(args.minutes), "--envs", str(args.envs), "--episodes",
                    str(args.episodes), "--max_steps", str(args.max_steps)],
                   cwd=ROOT, check=True)
    return json.loads((folder / "result.json").read_text())


def table(results, games, learners):
    lines = ["| game | learner | seeds | frames/s | frames trained | return [95% CI] | "
             "levels | minus SB3 PPO [95% CI] |", "|---|---|---|---|---|---|---|---|"]
    for game in games:
        by_learner = {learner: [r for r in results if r["game"] == game
                                and r["learner"] == learner] for learner in learners}
        sb3 = {r["seed"]: r for r in by_learner.get("sb3_ppo", [])}
        for learner, runs in by_learner.items():
            if not runs:
                continue
            returns = [[e["return"] for e in r["episodes"]] for r in runs]
            low, high = summarize.stratified_bootstrap(returns)
            levels = sum(e["level_complete"] for r in runs for e in r["episodes"])
            played = sum(len(r["episodes"]) for r in runs)
            difference = "-"
            pairs = [np.subtract([e["return"] for e in r["episodes"]],
                                 [e["return"] for e in sb3[r["seed"]]["episodes"]])
                     for r in runs if r["seed"] in sb3 and learner != "sb3_ppo"]
            if pairs:
                d_low, d_high = summarize.stratified_bootstrap(pairs)
                difference = f"{np.concatenate(pairs).mean():+.1f} [{d_low:+.1f}, {d_high:+.1f}]"
            lines.append(
                f"| {game} | {learner} | {len(runs)} | "
                f"{np.mean([r['frames_per_second'] for r in runs]):,.0f} | "
                f"{np.mean([r['frames'] for r in runs]):,.0f} | "
                f"{np.concatenate(returns).mean():.1f} [{low:.1f}, {high:.1f}] | "
                f"{levels}/{played} | {difference} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("out", type=pathlib.Path, help="folder for the runs, outside the clone")
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="wall-clock training time of every run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--games", nargs="+", default=["Airstriker-Genesis-v0", "ALE/Pong-v5"])
    parser.add_argument("--learners", nargs="+", default=["impala", "ppo", "sb3_ppo"],
                        choices=["impala", "ppo", "sb3_ppo"])
    parser.add_argument("--envs", type=int, default=8, help="environment workers of every run")
    parser.add_argument("--episodes", type=int, default=20, help="evaluation episodes")
    parser.add_argument("--max_steps", type=int, default=4500,
                        help="evaluation episodes' time limit in agent steps")
    parser.add_argument("--sb3_venv", type=pathlib.Path,
                        default=pathlib.Path.home() / ".cache" / "retro_rl" / "sb3-venv",
                        help="SB3's virtual environment (made on first use)")
    args = parser.parse_args()
    out = args.out.resolve()
    if out == ROOT or ROOT in out.parents:
        raise SystemExit(f"error: {out} is inside the clone; give a folder outside it")

    results = []
    for seed in args.seeds:  # seed by seed: a benchmark cut short still holds whole seeds
        for game in args.games:
            for learner in args.learners:
                folder = out / game.replace("/", "_") / f"{learner}_seed{seed}"
                done = folder / "result.json"
                if not done.exists():
                    print(f"=== {time.strftime('%H:%M:%S')} {learner} on {game}, seed {seed}",
                          flush=True)
                    folder.mkdir(parents=True, exist_ok=True)
                    result = (run_sb3(game, seed, args, folder) if learner == "sb3_ppo"
                              else run_toolkit(learner, game, seed, args, folder))
                    done.write_text(json.dumps(result, indent=1))
                result = json.loads(done.read_text())
                print(f"    {learner} on {game}, seed {seed}: {result['frames']:,} frames, "
                      f"{result['frames_per_second']:,.0f} frames/s", flush=True)
                results.append(result)
    report = table(results, args.games, args.learners)
    (out / "side_by_side.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
