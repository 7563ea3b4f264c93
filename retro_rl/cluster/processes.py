"""The Ray actors that hold a run's processes: the learner (learner.py, as a child process) and
the environment workers (rl/worker.py's loop, in the actor's own process).

Ray places them and restarts a worker that dies; the data still goes over the project's own
transport (shared memory on the learner's node, gRPC elsewhere). Each keeps its log lines for
the launcher, which writes them to <workspace>/logs/ on the head node.
"""

import collections
import logging
import os
import signal
import subprocess
import threading

import ray

from retro_rl.cluster import children
from retro_rl.errors import UserError
from retro_rl.logs import DATE_FORMAT, FORMAT



class LineBuffer(logging.Handler):
    """A logging handler, or a pipe's reader, that keeps lines until they are taken."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
        self.lines = collections.deque(maxlen=100_000)

    def emit(self, record):
        self.lines.append(self.format(record))

    def take(self):
        taken = []
        while self.lines:
            taken.append(self.lines.popleft())
        return taken


def node_and_pid():
    return ray.get_runtime_context().get_node_id(), os.getpid()


def node_address():
    """The address this node joined the cluster with."""
    here = ray.get_runtime_context().get_node_id()
    return next(node["NodeManagerAddress"] for node in ray.nodes() if node["NodeID"] == here)


@ray.remote
def rom_problem(game):
    """On the node this runs on: None when `game`'s ROM is imported, else the one-line reason."""
    from retro_rl.envs import games

    try:
        games.check_rom(game)
    except UserError as error:
        return str(error)
    return None


@ray.remote(max_concurrency=4)
class LearnerProcess:
    """learner.py as a child process of this actor, with `flags`; it binds to `host` (None:
    the address this node joined the cluster with) on a free port, unless the flags bind it;
    address() returns where."""

    def __init__(self, flags, host=None):
        self.output = LineBuffer()
        self.host = host or node_address()
        if not any(flag == "--bind" or flag.startswith("--bind=") for flag in flags):
            flags = [*flags, "--bind", f"{self.host}:0"]
        # Not with die_with_parent: Ray may run this constructor in a thread that ends before
        # the actor does, and the death signal follows the thread.
        self.process, self.address_pipe = children.start_learner(
            flags, die_with_parent=False, cwd=children.ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        self.bound = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.output.lines.append(line.rstrip("\n"))

    def address(self, timeout_s=600.0):
        """HOST:PORT workers connect to, or None when the learner stopped first."""
        if self.address_pipe is not None:
            pipe, self.address_pipe = self.address_pipe, None
            bound = children.read_address(pipe, timeout_s)
            self.bound = None if bound is None else children.connect_address(bound, self.host)
        return self.bound

    def where(self):
        return node_and_pid()

    def lines(self):
        return self.output.take()

    def poll(self):
        """The learner's exit status, or None while it runs; once it has ended, every line it
        wrote is in lines()."""
        status = self.process.poll()
        if status is not None:
            self._read_to_end()
        return status

    def stop(self, timeout_s=300.0):
        """SIGTERM (a final checkpoint, workers told to stop), then its exit status; every line
        it wrote is then in lines()."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            status = self.process.wait()
        self._read_to_end()
        return status

    def _read_to_end(self, timeout_s=10.0):
        # The process has ended, but its last lines (its error, its final report) may still be
        # in the pipe: the reader ends at the pipe's end. A child of its own holding the pipe
        # open is not waited for longer than timeout_s.
        self.reader.join(timeout_s)


@ray.remote(max_concurrency=2)
class EnvWorker:
    """One environment worker; Ray restarts the actor (this constructor again) when it dies."""

    def __init__(self, worker_id, seed, connect_timeout_s):
        self.worker_id, self.seed, self.connect_timeout_s = worker_id, seed, connect_timeout_s
        self.output = LineBuffer()
        root = logging.getLogger()
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        root.addHandler(self.output)
        root.setLevel(logging.INFO)
        self.log = logging.getLogger(f"actor_{worker_id}")
        self.log.info(f"worker {worker_id} started on node {node_and_pid()[0][:8]}, "
                      f"process {os.getpid()}")

    def run(self, learner_address):
        """Plays until the learner says the run is over (returns None), or returns the one-line
        error that stopped it."""
        from retro_rl.rl.worker import run_worker

        try:
            run_worker(learner_address, self.worker_id, self.seed, self.connect_timeout_s)
        except UserError as error:
            self.log.error(f"error: {error}")
            return str(error)
        return None

    def where(self):
        return node_and_pid()

    def lines(self):
        return self.output.take()
