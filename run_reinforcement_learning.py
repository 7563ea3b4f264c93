"""Reinforcement learning on this machine (IMPALA, or --algorithm a2c|ppo): one learner and N
environment workers (actor.py), each process logging to <workspace>/logs/ (learner.log,
actor_<id>.log); the learner also prints its lines, and the workers their warnings. The
learner chooses every action: the workers hold no network.

  ./run_reinforcement_learning.sh [number of envs] [gpu use] [pretrained model] [flags...]
  ./run_reinforcement_learning.sh 4 1 supervised_model_3 --total_frames 5000000

number of envs: worker processes, one emulator each (default 8, the fastest measured on two
cores: bench/impala_speed.py); a2c and ppo update on one unroll from each. gpu use: 1 trains
on the GPU when there is one (default 0). pretrained model: a folder name under
<workspace>/model/ or a path; `none` starts from scratch (default; with --resume, the run's
own). Every further flag goes to the learner and to every actor; each ignores the other's flags
(see `python learner.py --help`, `python actor.py --help`), and a flag neither knows stops the
run with an error before anything starts.

Ctrl-C (or SIGTERM) stops the learner gracefully (final checkpoint, actors told to stop) and
then ends any worker still running; every process of the run ends with the launcher, even one
killed with SIGKILL. The exit status is the learner's (0 when it reached --total_frames), 2
for bad arguments, or 130 after Ctrl-C and 143 after SIGTERM.
"""

import re
import sys

from retro_rl import cli
from retro_rl.errors import UserError
from retro_rl.rl.flags import parse_learner_args

USAGE = ("usage: run_reinforcement_learning.sh [number of envs] [gpu use 0|1] "
         "[pretrained model|none] [learner/actor flags...]")


def parse_args(argv):
    """(num_envs, gpu, pretrained model, the flags after them, workspace path): the first three
    arguments are the positional ones, each optional, whatever they look like."""
    num_envs, gpu, pretrained = [*argv[:3], *["8", "0", "none"][len(argv[:3]):]]
    if not re.fullmatch(r"[1-9][0-9]*", num_envs):
        raise UserError(f"number of envs must be a positive integer (got '{num_envs}'); {USAGE}")
    if gpu not in ("0", "1"):
        raise UserError(f"gpu use must be 0 or 1 (got '{gpu}'); {USAGE}")
    flags = argv[3:]
    # The learner and the workers would refuse bad flags one by one; refused here, once.
    learner = parse_learner_args([*flags, "--pretrained_model", pretrained])
    return int(num_envs), int(gpu), pretrained, flags, learner.run.workspace_path


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__.strip())
        return 0
    num_envs, gpu, pretrained, flags, workspace_path = parse_args(argv)
    from retro_rl.cluster.local import run

    return run(num_envs, gpu, pretrained, flags, workspace_path,
               " ".join(["run_reinforcement_learning.sh", *argv]))


if __name__ == "__main__":
    cli.run(main)
