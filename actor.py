"""Actor: an environment worker that plays one emulator for the learner, which chooses every
action (the worker holds no network and imports no TensorFlow).

    python actor.py --learner_address 127.0.0.1:50051 --actor_id 0
    python actor.py --learner_address 192.168.1.10:50051 --actor_id 7   # from another machine

Everything it plays comes from the learner; the game's ROM must be imported on this machine. On
the learner's machine it steps through shared memory, elsewhere over gRPC.
Log: <workspace>/logs/actor_<id>.log (warnings and errors also on stderr).
"""

import logging
import os
import signal
import sys

from retro_rl import cli, fileio, logs
from retro_rl.rl.flags import actor_parser, parse_actor_args


def build_parser():
    return actor_parser()


def interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    args = parse_actor_args(argv)
    # Background jobs start with SIGINT ignored; the launcher's Ctrl-C must still reach us.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)
    fileio.check_writable(os.path.join(args.workspace_path, "logs"))
    logs.setup(args.workspace_path, f"actor_{args.actor_id}", console=sys.stderr,
               console_level=logging.WARNING)
    from retro_rl.rl.worker import run_worker

    run_worker(args.learner_address, args.actor_id, args.seed, args.connect_timeout_s)
    return 0


if __name__ == "__main__":
    cli.run(main)
