"""The Ray launcher against the shell launcher on this machine: env frames/s of the same
training, with the raw emulator as yardstick, and what Ray itself costs in start-up and memory.

    python bench/ray_speed.py [--envs 8] [--seconds 90] [--repeats 2]

For each launcher in turn (shell, Ray, shell, Ray ... so that drift in the machine's speed hits
both alike): the same training from scratch (default settings, `--envs` workers), measured
from the learner's first status line with every worker connected, for `--seconds`, from the
learner's own status lines (frames trained on, and the clock of each line). Start-up is the
time from the command to that first line. Memory: resident MB of Ray's own processes
(gcs_server, raylet, dashboard, log monitor ... everything Ray started that is not one of the
run's workers or the learner), of one worker (an actor.py process or a Ray EnvWorker), and of
the learner, read from /proc once training runs.
"""

import argparse
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time

from impala_speed import STATUS, raw_frames_per_second

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLOCK = re.compile(r"^(\d\d):(\d\d):(\d\d) learner: ")


def processes():
    """{pid: (command line, resident MB)} of every process readable in /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            with open(f"/proc/{entry}/statm") as f:
                pages = int(f.read().split()[1])
        except OSError:
            continue
        table[int(entry)] = (command, pages * os.sysconf("SC_PAGE_SIZE") / 2**20)
    return table


def memory(kind, before):
    """(Ray's own MB, one worker's MB, the learner's MB) of the processes started since
    `before`."""
    new = {pid: row for pid, row in processes().items() if pid not in before}
    learner = [mb for command, mb in new.values() if "learner.py" in command]
    if kind == "ray":
        workers = [mb for command, mb in new.values() if command.startswith("ray::EnvWorker")]
        own = [mb for command, mb in new.values()
               if ("ray" in command or "raylet" in command or "gcs_server" in command)
               and not command.startswith(("ray::EnvWorker", "ray::LearnerProcess"))
               and "learner.py" not in command and "run_on_ray.py" not in command]
        own.append(sum(mb for command, mb in new.values()
                       if command.startswith("ray::LearnerProcess")))
    else:
        workers = [mb for command, mb in new.values() if "actor.py" in command]
        own = [0.0]
    return sum(own), max(workers, default=0.0), max(learner, default=0.0)


def seconds_of(line):
    match = CLOCK.match(line)
    return int(match[1]) * 3600 + int(match[2]) * 60 + int(match[3]) if match else None


def measure(kind, envs, seconds):
    workspace = tempfile.mkdtemp(prefix=f"ray_speed_{kind}_")
    flags = ["--workspace_path", workspace, "--total_frames", str(10**12), "--save_every",
             str(10**9), "--bind", "127.0.0.1:0"]
    if kind == "ray":
        command = [sys.executable, str(ROOT / "run_on_ray.py"), str(envs), "0", "none", *flags]
    else:
        command = [str(ROOT / "run_reinforcement_learning.sh"), str(envs), "0", "none", *flags]
    before = set(processes())
    started = time.monotonic()
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, cwd=ROOT, start_new_session=True)
    samples, start_up, mb = [], None, None
    try:
        for line in launcher.stdout:
            match = STATUS.search(line)
            if not match or int(match[6]) < envs:
                continue
            if start_up is None:
                start_up = time.monotonic() - started
                stop_at = time.monotonic() + seconds
            samples.append((seconds_of(line), int(match[2])))
            if mb is None and len(samples) == 2:
                mb = memory(kind, before)
            print("    " + line.strip()[:140], flush=True)
            if time.monotonic() >= stop_at:
                break
    finally:
        os.killpg(launcher.pid, signal.SIGINT)
        try:
            launcher.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
    (t0, f0), (t1, f1) = samples[0], samples[-1]
    return {"fps": (f1 - f0) / max(t1 - t0, 1), "start_up_s": start_up, "memory": mb}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", type=int, default=8, help="environment workers")
    parser.add_argument("--seconds", type=float, default=90.0, help="measured time per run")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each launcher")
    args = parser.parse_args()
    raw = raw_frames_per_second()
    print(f"raw stable-retro, one process: {raw:.0f} frames/s")
    results = {"shell": [], "ray": []}
    for _ in range(args.repeats):
        for kind in ("shell", "ray"):
            print(f"{kind} launcher, {args.envs} workers:", flush=True)
            results[kind].append(measure(kind, args.envs, args.seconds))
            figures = results[kind][-1]
            print(f"  {figures['fps']:.0f} frames/s ({figures['fps'] / raw:.2f}x raw), "
                  f"start-up {figures['start_up_s']:.1f} s", flush=True)
    print(f"\n{'launcher':<8}{'frames/s':>10}{'x raw':>8}{'start-up s':>12}{'Ray MB':>9}"
          f"{'worker MB':>11}{'learner MB':>12}")
    for kind, runs in results.items():
        fps = sum(run["fps"] for run in runs) / len(runs)
        start_up = sum(run["start_up_s"] for run in runs) / len(runs)
        ray_mb, worker_mb, learner_mb = runs[-1]["memory"]
        print(f"{kind:<8}{fps:>10.0f}{fps / raw:>8.2f}{start_up:>12.1f}{ray_mb:>9.0f}"
              f"{worker_mb:>11.0f}{learner_mb:>12.0f}")
    ratio = (sum(run["fps"] for run in results["ray"])
             / sum(run["fps"] for run in results["shell"]))
    print(f"Ray / shell frames/s: {ratio:.3f}")


if __name__ == "__main__":
    main()
