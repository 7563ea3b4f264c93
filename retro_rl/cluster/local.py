"""The run on this machine (run_reinforcement_learning.sh): the learner and `num_envs`
environment workers (actor.py) as child processes, each logging to <workspace>/logs/.

The learner tells its address through a pipe (children.start_learner); the workers start once
it listens. Ctrl-C or SIGTERM is passed to the learner as SIGTERM (a final checkpoint, workers
told to stop); workers still running 10 s after it ended are sent SIGTERM. Every child dies with
this process, even where it is killed with SIGKILL.
"""

import os
import signal
import subprocess
import sys
import time

from retro_rl.cluster import children
from retro_rl.errors import UserError

STRAGGLER_WAIT_S = 10.0
SIGNAL_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Stopper:
    """The launcher's SIGINT and SIGTERM handler: the first one decides the exit status; each
    is passed on to the learner as SIGTERM."""

    def __init__(self):
        self.status, self.learner = None, None
        for signum in SIGNAL_STATUS:
            signal.signal(signum, self.handle)

    def handle(self, signum, frame):
        if self.status is None:
            self.status = SIGNAL_STATUS[signum]
        if self.learner is not None and self.learner.poll() is None:
            self.learner.send_signal(signal.SIGTERM)


def append_line(path, line):
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{line}\n")


def run(num_envs, gpu, pretrained_model, flags, workspace_path, command_line):
    """Runs the learner and workers; returns the exit status: the learner's (0 at
    --total_frames), or 130 after Ctrl-C and 143 after SIGTERM."""
    logs = os.path.join(workspace_path, "logs")
    try:
        os.makedirs(logs, exist_ok=True)
        append_line(os.path.join(logs, "learner.log"),
                    f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {command_line}")
    except OSError as error:
        raise UserError(f"cannot write to {logs} ({error.strerror or error})") from None
    stopper = Stopper()
    learner, pipe = children.start_learner(
        [*children.learner_flags(num_envs, gpu, pretrained_model, children.usable_cores()),
         *flags])
    stopper.learner = learner
    bound = children.read_address(pipe)
    workers = []
    if bound is not None and stopper.status is None:
        address = children.connect_address(bound, "127.0.0.1")
        for worker_id in range(num_envs):
            if stopper.status is not None:
                break
            append_line(os.path.join(logs, f"actor_{worker_id}.log"),
                        f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} actor {worker_id} -> "
                        f"{address}")
            workers.append(children.start(
                [sys.executable, os.path.join(children.ROOT, "actor.py"), "--learner_address",
                 address, "--actor_id", str(worker_id), *flags], stdout=subprocess.DEVNULL))
        print(f"started {len(workers)} actors; logs in {logs}/", flush=True)
    status = learner.wait()
    # Workers leave on the learner's stop; give stragglers a moment, then end them.
    deadline = time.monotonic() + STRAGGLER_WAIT_S
    while any(worker.poll() is None for worker in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
        worker.wait()
    return stopper.status if stopper.status is not None else status
