"""The learners side by side: env frames/s trained on, CPU, policy lag and inference batch of
IMPALA, A2C and PPO with the same N workers, A2C and PPO with and without --overlap_rounds,
against one raw emulator in the same run.

    python bench/learner_speed.py [--envs 8] [--seconds 60] [--learners impala ppo ...]

Each learner runs from scratch with its settings of the README's runs (impala: the defaults;
a2c: --preset a2c_sonic; ppo: 128-step unrolls, 4 epochs of 4 minibatches) through
impala_speed.end_to_end: learner.py and N actor.py processes, measured for --seconds after the
first status line with every worker in. Run it with nothing else on the machine.
"""

import argparse
import os

from impala_speed import end_to_end, raw_frames_per_second

LEARNERS = {
    "impala": (),
    "a2c": ("--preset", "a2c_sonic"),
    "a2c_overlap": ("--preset", "a2c_sonic", "--overlap_rounds"),
    "ppo": ("--algorithm", "ppo", "--unroll_length", "128"),
    "ppo_overlap": ("--algorithm", "ppo", "--unroll_length", "128", "--overlap_rounds"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", type=int, default=8, help="environment workers of every run")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="measured time after warm-up, for each learner")
    parser.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=list(LEARNERS))
    args = parser.parse_args()

    raw = raw_frames_per_second()
    print(f"raw stable-retro, one process: {raw:.0f} frames/s (before)", flush=True)
    results = {}
    for name in args.learners:
        print(f"{name}: learner + {args.envs} workers, {args.seconds:.0f} s after warm-up",
              flush=True)
        results[name] = end_to_end(args.envs, args.seconds, 0, list(LEARNERS[name]))
    raw_after = raw_frames_per_second()
    print(f"raw stable-retro, one process: {raw_after:.0f} frames/s (after)")
    raw = max(raw, raw_after)
    impala = results.get("impala", {}).get("trained_fps")
    print(f"\n{os.cpu_count()} cores, {args.envs} workers; raw emulator {raw:.0f} frames/s")
    print(f"{'learner':<12} {'trained fps':>11} {'x raw':>6} {'x impala':>8} {'cores':>6} "
          f"{'learner ms':>10} {'workers ms':>10} {'lag':>5} {'batch':>6}  accounting")
    for name, result in results.items():
        received, trained, left = result["accounting"] or (0, -1, 0)
        balance = "balances" if received == trained + left else "MISMATCH"
        ratio = f"{result['trained_fps'] / impala:>8.2f}" if impala else f"{'-':>8}"
        print(f"{name:<12} {result['trained_fps']:>11.0f} {result['trained_fps'] / raw:>6.2f} "
              f"{ratio} {result['cores']:>6.2f} {result['learner_ms']:>10.2f} "
              f"{result['workers_ms']:>10.2f} {result['lag']:>5.2f} {result['batch']:>6.1f}  "
              f"{received} = {trained} + {left}: {balance}")


if __name__ == "__main__":
    main()
