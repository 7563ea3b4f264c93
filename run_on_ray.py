"""Reinforcement learning on a Ray cluster: the same learner and environment workers as
run_reinforcement_learning.sh, placed and supervised by Ray, for runs beyond one machine.

    python run_on_ray.py 8 0 none --total_frames 5000000              # a local Ray cluster
    python run_on_ray.py 64 1 supervised_model_3 --address auto        # a running cluster

The learner goes to a node with a GPU when gpu use is 1; the workers take one CPU each, spread
over the nodes, and learn the learner's address from Ray. A worker that dies, or whose node
goes, is restarted by Ray and reconnects while the run goes on. Every node must have the game's
ROM imported: that is checked before training starts. Logs: <workspace>/logs/ on this node.
Ctrl-C stops the learner with a final checkpoint, then everything else. Every flag after the
three numbers goes to the learner and the workers (`python learner.py --help`); the exit status
is the learner's (0 at --total_frames, 130 after Ctrl-C).
"""

import argparse
import os
import sys

from retro_rl import cli
from retro_rl.errors import UserError
from retro_rl.rl.flags import parse_actor_args, parse_learner_args


def build_parser():
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("num_envs", nargs="?", type=int, default=8,
                        help="environment workers, one emulator and one CPU each")
    parser.add_argument("gpu", nargs="?", type=int, choices=(0, 1), default=0,
                        help="1: place the learner on a node with a GPU and train on it")
    parser.add_argument("pretrained_model", nargs="?", default="none",
                        help="model folder under <workspace>/model/ or a path; none: from "
                             "scratch")
    parser.add_argument("--address", default=None,
                        help="a running Ray cluster (`auto`, or HOST:PORT of its head); "
                             "default: start a local one for this run (the learner then listens on "
                             "127.0.0.1 only)")
    return parser


def parse_args(argv=None):
    """(launcher args, the learner's and workers' flags, the workers' parsed args); the flags
    are checked here, before Ray starts."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if "-h" in argv or "--help" in argv:
        parser.parse_args(["--help"])
    # The three numbers are the leading arguments that are not flags, as the shell launcher
    # takes them, so a flag's value (--total_frames 5000) is never read as one of them.
    count = 0
    while count < min(3, len(argv)) and not argv[count].startswith("-"):
        count += 1
    address = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    address.add_argument("--address", default=None)
    known, extra = address.parse_known_args(argv[count:])
    args = parser.parse_args(argv[:count])
    args.address = known.address
    if args.num_envs < 1:
        raise UserError(f"number of envs must be at least 1 (got {args.num_envs})")
    learner = parse_learner_args([*extra, "--pretrained_model", args.pretrained_model])
    actor_args = parse_actor_args(extra)
    args.workspace_path = os.path.abspath(learner.run.workspace_path)
    args.resume, args.game = learner.run.resume, learner.env.get("game")
    return args, without_flag(extra, "--workspace_path"), actor_args


def without_flag(flags, name):
    """flags without `name` and its value (`name value` or `name=value`)."""
    kept, skip = [], False
    for flag in flags:
        if skip:
            skip = False
        elif flag == name:
            skip = True
        elif not flag.startswith(f"{name}="):
            kept.append(flag)
    return kept


def main(argv=None):
    args, extra, actor_args = parse_args(argv)
    from retro_rl.cluster.launch import launch

    return launch(args, extra, actor_args)


if __name__ == "__main__":
    cli.run(main)
