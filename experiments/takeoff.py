"""When each run took off: the first frame at which its actors' episodes, averaged over a window
of consecutive episodes, last longer than a threshold, and its policy's entropy at the end.

    python experiments/takeoff.py OUT/impala_seed* OUT/ppo_seed* --length 1000

On Airstriker a policy that has not learnt to dodge loses its lives in about 500 agent steps;
one that has survives the ~1,360-step level (and the boss). A run that never crosses the
threshold is "flat". Its final entropy, beside the others', tells a late take-off (entropy as
high as theirs: still exploring) from a collapse (entropy near 0: one action over and over).
Each RUN is a workspace or a TensorBoard run folder.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from compare_curves import episodes  # noqa: E402  (beside this file)
from retro_rl.runtime import start_tensorflow  # noqa: E402


def takeoff(frames, lengths, threshold, window):
    """The frame of the episode that ends the first window whose mean length is above
    `threshold`; None where no window is."""
    if len(lengths) < window:
        return None
    rolling = np.convolve(lengths, np.ones(window) / window, mode="valid")
    above = np.flatnonzero(rolling > threshold)
    return int(frames[above[0] + window - 1]) if len(above) else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="workspaces or TensorBoard run folders")
    parser.add_argument("--length", type=float, default=1000,
                        help="episode length (agent steps) that marks the take-off")
    parser.add_argument("--window", type=int, default=10, help="episodes averaged")
    parser.add_argument("--entropy_share", type=float, default=0.1,
                        help="share of the last entropy points averaged for the final entropy")
    args = parser.parse_args()
    start_tensorflow(gpu=False)
    print("| run | frames trained | take-off frame | final entropy |")
    print("|---|---|---|---|")
    found = []
    for run in args.runs:
        frames, lengths = episodes(run, "charts/episodic_length")
        _, entropy = episodes(run, "charts/entropy")
        tail = entropy[-max(1, int(len(entropy) * args.entropy_share)):]
        at = takeoff(frames, lengths, args.length, args.window)
        found.append(at)
        print(f"| {run} | {int(frames[-1]):,} | {'none' if at is None else f'{at:,}'} | "
              f"{tail.mean():.2f} |")
    took = [at for at in found if at is not None]
    if took:
        print(f"\n{len(took)} of {len(found)} runs took off, at frames {min(took):,} to "
              f"{max(took):,} (median {int(np.median(took)):,})")


if __name__ == "__main__":
    main()
