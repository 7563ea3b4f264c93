"""The run on a Ray cluster: what local.py (run_reinforcement_learning.sh) does on one machine,
with Ray placing and supervising the processes.

  1. Connect to the cluster at --address (first checked to take connections, for Ray retries an
     unreachable one for minutes), or start a local one (whose learner listens on 127.0.0.1
     only).
  2. On every node, check the game's ROM is imported; a node without it stops the run here,
     with one line naming it.
  3. Start the learner (processes.LearnerProcess: a GPU when gpu use is 1, else one CPU) and
     learn its address from it; a learner that stops first (a flag it refused) ends the run
     with its exit status and its one error line.
  4. Start the workers (processes.EnvWorker, one CPU each) in a placement group that spreads
     them over the nodes, each handed the learner's address. One that dies is restarted by Ray
     and reconnects; the run goes on meanwhile.
  5. Until the learner ends (at --total_frames, or after Ctrl-C: SIGTERM, so a final
     checkpoint): copy every process's new log lines to <workspace>/logs/ here, and print the
     learner's (its `error:` line on stderr).
"""

import collections
import json
import logging
import os
import re
import socket
import sys
import time

import ray
from ray.exceptions import ActorUnavailableError, RayActorError
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import (NodeAffinitySchedulingStrategy,
                                            PlacementGroupSchedulingStrategy)

from retro_rl.cluster import children
from retro_rl.cluster.processes import EnvWorker, LearnerProcess, rom_problem
from retro_rl.envs import games
from retro_rl.errors import UserError
from retro_rl.model import folders

POLL_S = 0.5
PLACEMENT_TIMEOUT_S = 120.0
MAX_RESTARTS = 20  # of one worker, by Ray, before the run goes on without it
REACH_TIMEOUT_S = 5.0  # for the head at --address to take a connection
# HOST:PORT, or ray://HOST:PORT; the host an IPv6 address in brackets, a name or IPv4 address.
HOST_PORT = re.compile(r"(?:ray://)?(\[[^\]]+\]|[^:/\[\]]+):(\d+)")
# Only Ray's errors reach the terminal: a warning while it starts (that it turned on token
# authentication for a local cluster) would print before a command's one `error:` line.
RAY_LOGGING = {"configure_logging": True, "logging_level": logging.ERROR, "log_to_driver": False}


def training_game(args):
    """The game the learner will train on: a resumed run's or a pretrained model's, else
    --game or the default (the learner itself reports any problem with these)."""
    folder = None
    if args.resume:
        folder = folders.newest_checkpoint(args.workspace_path, folders.REINFORCEMENT_PREFIX)
    elif args.pretrained_model != "none":
        try:
            folder = folders.find_model_folder(args.workspace_path, args.pretrained_model)
        except UserError:
            folder = None
    if folder:
        try:
            with open(os.path.join(folder, "config.json")) as f:
                return json.load(f)["env"]["game"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return games.resolve_game(args.game or games.DEFAULT_GAME)


def check_reachable(address, timeout_s=REACH_TIMEOUT_S):
    """UserError unless something at `address` takes a TCP connection within `timeout_s`.

    ray.init retries a head it cannot reach for minutes, its warnings flooding stderr; a
    connection tried first fails in seconds. Only HOST:PORT (or ray://HOST:PORT) is tried:
    Ray itself finds `auto` on this machine, and says at once what is wrong with other forms.
    """
    match = HOST_PORT.fullmatch(address)
    if match is None:
        return
    host, port = match.group(1).strip("[]"), int(match.group(2))
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except socket.gaierror:
        reason = f"no host is named {host}"
    except TimeoutError:
        reason = f"no answer within {timeout_s:g} s"
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
    else:
        return
    raise UserError(f"no Ray cluster at {address} ({reason}); start one there with "
                    "`ray start --head` (its address is the head's HOST:PORT, port 6379 by "
                    "default), check this machine can reach it, or leave out --address for a "
                    "local one")


def connect(address, num_envs):
    """ray.init on a running cluster, or a local one with a CPU slot for every process (Ray's
    CPUs are slots, not cores). Returns whether it started one."""
    if address:
        check_reachable(address)
        try:
            ray.init(address=address, **RAY_LOGGING)
        except (ConnectionError, ValueError, RuntimeError) as error:
            reason = " ".join(str(error).split())  # Ray's message may run over several lines
            raise UserError(f"no Ray cluster at {address} ({reason}); start one with "
                            "`ray start --head`, or leave out --address for a local one") from None
        return False
    ray.init(num_cpus=max(os.cpu_count() or 1, num_envs + 1), include_dashboard=False,
             **RAY_LOGGING)
    return True


def check_roms(game):
    """One task pinned to each live node; UserError naming every node without the ROM."""
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    checks = [rom_problem.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
        node["NodeID"], soft=False)).remote(game) for node in nodes]
    missing = [f"{node['NodeManagerAddress']} (node {node['NodeID'][:8]})"
               for node, problem in zip(nodes, ray.get(checks)) if problem]
    if missing:
        raise UserError(f"the ROM for {game} is not imported on {', '.join(missing)}; import "
                        f"it on every node with: {games.ROM_IMPORT_HINT}")
    return len(nodes)


class LogFolder:
    """<workspace>/logs/ on this (the head) node: appends each process's new lines."""

    def __init__(self, workspace_path):
        self.folder = os.path.join(workspace_path, "logs")
        os.makedirs(self.folder, exist_ok=True)

    def append(self, name, lines):
        if lines:
            with open(os.path.join(self.folder, f"{name}.log"), "a") as f:
                f.write("\n".join(lines) + "\n")


def learner_flags(args, extra):
    """The learner's command line: the launcher's arguments, then the user's flags (which win)."""
    return [*children.learner_flags(args.num_envs, args.gpu, args.pretrained_model,
                                    os.cpu_count() or 1),
            "--workspace_path", args.workspace_path, *extra]


class Run:
    """The learner and workers of one run, and what the launcher knows of them."""

    def __init__(self, args, extra, logs, local):
        self.args, self.logs = args, logs
        self.here = ray.get_runtime_context().get_node_id()
        resources = {"num_gpus": 1, "num_cpus": 1} if args.gpu else {"num_cpus": 1}
        # A local cluster's workers are all on this machine: the learner listens on loopback.
        self.learner = LearnerProcess.options(**resources).remote(
            learner_flags(args, extra), "127.0.0.1" if local else None)
        self.learner_node = ray.get(self.learner.where.remote())[0]
        self.address = ray.get(self.learner.address.remote())
        self.group, self.workers, self.running = None, [], {}
        self.deaths = collections.Counter()

    def start_workers(self, seed, connect_timeout_s):
        num_envs = self.args.num_envs
        self.group = placement_group([{"CPU": 1}] * num_envs, strategy="SPREAD")
        ready, _ = ray.wait([self.group.ready()], timeout=PLACEMENT_TIMEOUT_S)
        if not ready:
            raise UserError(f"the cluster has no room for {num_envs} workers of one CPU each "
                            f"beside the learner (its CPUs: {ray.cluster_resources().get('CPU')})"
                            "; start fewer or add nodes")
        for worker_id in range(num_envs):
            strategy = PlacementGroupSchedulingStrategy(
                self.group, placement_group_bundle_index=worker_id)
            worker = EnvWorker.options(
                num_cpus=1, max_restarts=MAX_RESTARTS, scheduling_strategy=strategy,
            ).remote(worker_id, seed, connect_timeout_s)
            self.workers.append(worker)
            self.running[worker_id] = worker.run.remote(self.address)

    def learner_lines(self):
        """Prints the learner's new lines: its `error:` line (a setting it refused, a worker
        that cannot go on) on stderr, as the launcher's own would be, the others on stdout."""
        lines = ray.get(self.learner.lines.remote())
        for line in lines:
            print(line, file=sys.stderr if line.startswith("error:") else sys.stdout, flush=True)
        if self.learner_node != self.here:  # else the learner writes learner.log itself
            self.logs.append("learner", lines)

    def worker_lines(self):
        for worker_id, worker in enumerate(self.workers):
            try:
                self.logs.append(f"actor_{worker_id}", ray.get(worker.lines.remote(), timeout=10))
            except (RayActorError, ActorUnavailableError, ray.exceptions.GetTimeoutError):
                pass  # being restarted: its lines so far died with it

    def supervise(self):
        """Restarts the run() of every worker whose process died; forgets the finished."""
        if not self.running:
            return
        done, _ = ray.wait(list(self.running.values()), num_returns=len(self.running),
                           timeout=0)
        for worker_id, reference in list(self.running.items()):
            if reference not in done:
                continue
            del self.running[worker_id]
            try:
                problem = ray.get(reference)
            except (RayActorError, ActorUnavailableError) as error:
                # Ray restarts the actor (max_restarts); it plays again once it is back.
                self.deaths[worker_id] += 1
                if self.deaths[worker_id] > MAX_RESTARTS:
                    self.logs.append(f"actor_{worker_id}", [
                        f"ray_launcher: gave up on worker {worker_id} after "
                        f"{MAX_RESTARTS} restarts: {str(error).splitlines()[0]}"])
                    continue
                self.logs.append(f"actor_{worker_id}", [
                    f"{time.strftime('%H:%M:%S')} ray_launcher: worker {worker_id} died; "
                    "restarted by Ray, reconnecting"])
                self.running[worker_id] = self.workers[worker_id].run.remote(self.address)
                continue
            if problem:
                print(f"worker {worker_id}: error: {problem}", flush=True)

    def wait_for_workers(self, timeout_s=60.0):
        deadline = time.monotonic() + timeout_s
        while self.running and time.monotonic() < deadline:
            self.supervise()
            time.sleep(POLL_S)
        self.worker_lines()

    def close(self):
        for worker in self.workers:
            ray.kill(worker, no_restart=True)
        if self.group is not None:
            remove_placement_group(self.group)
        ray.kill(self.learner, no_restart=True)


def launch(args, extra, actor_args):
    """Runs the training; returns the learner's exit status (130 after Ctrl-C)."""
    started = time.monotonic()
    local = connect(args.address, args.num_envs)
    run = None
    try:
        game = training_game(args)
        nodes = check_roms(game)
        logs = LogFolder(args.workspace_path)
        print(f"Ray: {nodes} node(s), {ray.cluster_resources().get('CPU', 0):.0f} CPUs"
              f"{' (a local cluster)' if local else ''}; the ROM for {game} is on each", flush=True)
        run = Run(args, extra, logs, local)
        if run.address is None:  # it stopped before it listened (most likely a refused flag)
            status = ray.get(run.learner.stop.remote())
            run.learner_lines()
            return status
        run.start_workers(actor_args.seed, actor_args.connect_timeout_s)
        print(f"started the learner at {run.address} and {args.num_envs} workers in "
              f"{time.monotonic() - started:.1f} s; logs in {logs.folder}/", flush=True)
        status, interrupted = None, False
        while status is None:
            try:
                run.learner_lines()
                run.worker_lines()
                run.supervise()
                status = ray.get(run.learner.poll.remote())
                time.sleep(POLL_S)
            except KeyboardInterrupt:
                interrupted = True
                print("stopping: the learner saves a last checkpoint", flush=True)
                status = ray.get(run.learner.stop.remote())
        run.learner_lines()
        run.wait_for_workers()
        return 130 if interrupted else status
    finally:
        if run is not None:
            run.close()
        if local:
            ray.shutdown()
