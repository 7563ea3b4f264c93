"""IMPALA throughput: env frames/s of the learner and N environment workers against one raw
emulator in the same run, for several N; where the CPU goes; memory.

    python bench/impala_speed.py [--envs 1,2,4,8] [--seconds 60] [--gpu 0]

1. Raw: stable-retro's own env stepped one frame at a time in this process, before and after
   the end-to-end runs (other work on the machine moves it; the better figure is the yardstick).
2. Costs, measured in this process one at a time, in CPU milliseconds per agent step (frame
   skip 4): emulation (make_env's step); inference per row at batches 1 to 16 (the network's
   acting step); the channel, worker and server ends together, through shared memory and over
   gRPC on 127.0.0.1 (the inference server answering with a constant action, so only the
   transport and the unroll bookkeeping count); the learner's update per step, without and
   with XLA.
3. End to end, for each N: learner.py and N actor.py processes from scratch (default settings:
   84x84 RGB, Nature CNN + 256-unit LSTM, 23 actions, T=20, B=4). After the first status line
   (warm-up) it counts env frames trained on and received per second, reads the CPU time and
   resident memory of the learner and of the workers (/proc), the policy lag and the inference
   batch from the learner's log, then stops the learner with SIGTERM and checks its final
   accounting: received = trained on + left in the queue.
"""

import argparse
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from retro_rl.envs import EnvConfig, games
from retro_rl.envs.actions import BUTTONS, NUM_BUTTONS
from retro_rl.envs.emulator import make_retro

ROOT = pathlib.Path(__file__).resolve().parent.parent
FRAME_SKIP = EnvConfig().frame_skip  # the default settings run here
STATUS = re.compile(r"update (\d+) \| frames (\d+) \(received (\d+)\).*\| lag ([\d.]+) \| "
                    r"batch ([\d.]+) \| workers (\d+)")
ACCOUNTING = re.compile(r"frames received (\d+), trained on (\d+), not trained on (\d+)")


def raw_frames_per_second(frames=10_000):
    env = make_retro(games.DEFAULT_GAME)
    env.reset()
    masks = np.random.default_rng(0).integers(0, 2, (frames, NUM_BUTTONS), np.uint8)
    masks[:, BUTTONS.index("START")] = 0  # START pauses the game
    start = time.perf_counter()
    for mask in masks:
        if env.step(mask)[2]:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return frames / elapsed


def timed(function, repeats):
    """CPU milliseconds per call of this process (all threads), so other load does not count."""
    function()  # warm-up (tracing, caches)
    start = time.process_time()
    for _ in range(repeats):
        function()
    return (time.process_time() - start) / repeats * 1000.0


class ConstantPolicy:
    """Stands in for the network where only the transport is measured: action 0 for every row."""

    class Output:
        def __init__(self, array):
            self.array = array

        def numpy(self):
            return self.array

    def __init__(self, num_actions, units):
        self.num_actions, self.units = num_actions, units

    def step(self, observations, starts, actions, rewards, state):
        rows = len(observations)
        zeros = self.Output(np.zeros((rows, self.units), np.float32))
        return (self.Output(np.zeros((rows, self.num_actions), np.float32)),
                self.Output(np.zeros(rows, np.float32)), (zeros, zeros))


def channel_costs(env_config, steps=2000):
    """CPU ms per agent step of a worker's channel and the server's bookkeeping, both ends in
    this process: shared memory, and gRPC on 127.0.0.1."""
    from retro_rl.rl import transport
    from retro_rl.rl.channels import LocalChannel, StepReport
    from retro_rl.rl.inference import InferenceServer
    from retro_rl.rl.unroll import UnrollSpec

    spec = UnrollSpec(20, env_config.observation_shape, env_config.num_actions, 256)
    observation = np.random.default_rng(0).integers(0, 256, spec.obs_shape, np.uint8)
    costs = {}
    for kind in ("shared memory", "gRPC"):
        server = InferenceServer(ConstantPolicy(spec.num_actions, 256), spec, queue_size=1000,
                                 local_folder=True).start()
        service = transport.LearnerService({}, server)
        drain = threading.Thread(target=lambda queue=server.unroll_queue: [
            queue.get() for _ in range(steps // 20)], daemon=True)
        drain.start()
        if kind == "gRPC":
            client = transport.WorkerClient(service.address, worker_id=0)
            channel = client.remote_channel()
        else:
            client, channel = None, LocalChannel(server.local_address, 0, spec.obs_shape, 30)
        channel.step(StepReport(observation, first=True))
        start = time.process_time()
        for _ in range(steps):
            channel.step(StepReport(observation, 0.5))
        costs[kind] = (time.process_time() - start) / steps * 1000.0
        channel.close()
        if client is not None:
            client.close()
        service.close()
        server.close()
    return costs


def component_costs(batch_size, unroll_length):
    """CPU ms per agent step of each part of the pipeline, measured one at a time."""
    import keras
    import tensorflow as tf

    from retro_rl.model.config import NetworkConfig
    from retro_rl.model.network import create_network
    from retro_rl.rl import impala, optimizer, unroll, update
    from retro_rl.rl.config import LearnerConfig

    env_config = EnvConfig()
    network = create_network(NetworkConfig(num_actions=env_config.num_actions),
                             env_config.observation_shape, seed=0)
    env = env_config.make()
    env.reset(seed=0)

    def emulate():
        if any(env.step(env.action_space.sample())[2:4]):
            env.reset()
    costs = {"emulation (4 frames + preprocessing)": timed(emulate, 300)}
    env.close()
    for rows in (1, 2, 4, 8, 16):
        inputs = (np.zeros((rows, *env_config.observation_shape), np.uint8), np.ones(rows, bool),
                  np.zeros(rows, np.int32), np.zeros(rows, np.float32),
                  (np.zeros((rows, 256), np.float32),) * 2)
        costs[f"inference at batch {rows} (per row)"] = timed(
            lambda inputs=inputs: network.step(*inputs)[0].numpy(), 100) / rows
    for kind, cost in channel_costs(env_config).items():
        costs[f"channel + bookkeeping, {kind}"] = cost
    spec = unroll.UnrollSpec(unroll_length, env_config.observation_shape,
                             env_config.num_actions, 256)
    rng = np.random.default_rng(0)
    unrolls = []
    for _ in range(batch_size):
        item = spec.empty(0)
        item["observations"][:] = rng.integers(0, 256, item["observations"].shape)
        item["actions"][:] = rng.integers(0, spec.num_actions, unroll_length)
        unrolls.append(item)
    batch = unroll.stack(unrolls)
    steps_per_update = unroll_length * batch_size
    config = LearnerConfig(unroll_length=unroll_length, batch_size=batch_size)
    step = update.make_update(network, optimizer.make_optimizer(network, config), config)
    costs["learner update (per step)"] = timed(lambda: step(batch), 10) / steps_per_update
    original = tf.function
    impala.tf.function = lambda function=None, **kwargs: original(
        function, jit_compile=True, **kwargs)
    try:
        jitted = update.make_update(network, keras.optimizers.Adam(1e-4), config)
    finally:
        impala.tf.function = original
    costs["learner update with XLA (per step)"] = timed(lambda: jitted(batch), 10) \
        / steps_per_update
    return costs


def proc_stat(pid):
    """(user + system CPU seconds, resident MB) of one process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return cpu, int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def end_to_end(envs, seconds, gpu, learner_flags):
    """Runs the learner (with `learner_flags`) and `envs` workers; returns the figures of the
    measured window."""
    python = sys.executable
    workspace = tempfile.mkdtemp(prefix="learner_speed_")
    flags = ["--workspace_path", workspace, "--total_frames", str(10**12),
             "--save_every", str(10**9), "--workers", str(envs), *learner_flags]
    learner = subprocess.Popen(
        [python, "-u", str(ROOT / "learner.py"), "--bind", "127.0.0.1:0", "--gpu", str(gpu),
         "--tf_threads", str(max(1, os.cpu_count() - envs)), *flags],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    workers = []
    try:
        port = None
        for line in learner.stdout:
            if "listening on " in line:
                port = line.strip().rsplit(":", 1)[1]
                break
        if port is None:
            raise RuntimeError("the learner did not start")
        for worker_id in range(envs):
            workers.append(subprocess.Popen(
                [python, str(ROOT / "actor.py"), "--learner_address", f"127.0.0.1:{port}",
                 "--actor_id", str(worker_id), *flags],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        samples, stop_at, lags, batches = [], None, [], []
        for line in learner.stdout:
            match = STATUS.search(line)
            if not match or int(match[6]) < envs:
                continue
            stats = [proc_stat(process.pid) for process in workers]
            learner_cpu, learner_rss = proc_stat(learner.pid)
            samples.append((time.monotonic(), int(match[2]), int(match[3]), learner_cpu,
                            sum(cpu for cpu, _ in stats), learner_rss,
                            max(rss for _, rss in stats)))
            if stop_at is None:
                stop_at = time.monotonic() + seconds
                continue
            lags.append(float(match[4]))
            batches.append(float(match[5]))
            print("    " + line.strip()[:150], flush=True)
            if time.monotonic() >= stop_at:
                break
        learner.send_signal(signal.SIGTERM)
        accounting = None
        for line in learner.stdout:
            match = ACCOUNTING.search(line)
            if match:
                accounting = tuple(int(value) for value in match.groups())
        learner.wait(timeout=60)
    finally:
        for process in [learner, *workers]:
            if process.poll() is None:
                process.kill()
            process.wait()
    first, last = samples[0], samples[-1]
    elapsed, trained, received, learner_cpu, workers_cpu = (
        b - a for a, b in zip(first[:5], last[:5]))
    steps = trained / FRAME_SKIP
    return {"trained_fps": trained / elapsed, "received_fps": received / elapsed,
            "learner_ms": learner_cpu * 1000 / steps, "workers_ms": workers_cpu * 1000 / steps,
            "cores": (learner_cpu + workers_cpu) / elapsed, "lag": np.mean(lags),
            "batch": np.mean(batches), "learner_mb": last[5], "worker_mb": last[6],
            "accounting": accounting}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", default="1,2,4,8",
                        help="comma-separated numbers of environment workers to run")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="measured time after warm-up, for each number of workers")
    parser.add_argument("--gpu", type=int, choices=(0, 1), default=0,
                        help="1: the learner trains and infers on the GPU")
    parser.add_argument("--batch_size", type=int, default=4, help="B: unrolls per update")
    parser.add_argument("--unroll_length", type=int, default=20, help="T: steps per unroll")
    parser.add_argument("--skip_costs", action="store_true", help="only the end-to-end runs")
    args = parser.parse_args()
    envs = [int(count) for count in args.envs.split(",")]

    raw = max(raw_frames_per_second() for _ in range(2))
    print(f"raw stable-retro, one process: {raw:.0f} frames/s (before)")
    if not args.skip_costs:
        print("CPU ms per agent step (4 frames), measured one at a time:")
        for name, value in component_costs(args.batch_size, args.unroll_length).items():
            print(f"  {name:45s}: {value:6.2f}")
    results = {}
    for count in envs:
        print(f"end to end: learner + {count} workers, {args.seconds:.0f} s after warm-up")
        results[count] = end_to_end(count, args.seconds, args.gpu, [
            "--batch_size", str(args.batch_size), "--unroll_length", str(args.unroll_length)])
    raw_after = raw_frames_per_second()
    print(f"raw stable-retro, one process: {raw_after:.0f} frames/s (after)")
    raw = max(raw, raw_after)
    cores = os.cpu_count()
    print(f"\n{cores} cores; raw emulator {raw:.0f} frames/s; T={args.unroll_length}, "
          f"B={args.batch_size}")
    print(f"{'envs':>4} {'trained fps':>11} {'x raw':>6} {'received':>9} {'per core':>9} "
          f"{'learner ms':>10} {'workers ms':>10} {'cores':>6} {'lag':>5} {'batch':>6} "
          f"{'learner MB':>10} {'worker MB':>9}  accounting")
    for count, result in results.items():
        received, trained, left = result["accounting"] or (0, -1, 0)
        balance = "balances" if received == trained + left else "MISMATCH"
        print(f"{count:>4} {result['trained_fps']:>11.0f} {result['trained_fps'] / raw:>6.2f} "
              f"{result['received_fps']:>9.0f} {result['trained_fps'] / cores:>9.0f} "
              f"{result['learner_ms']:>10.2f} {result['workers_ms']:>10.2f} "
              f"{result['cores']:>6.2f} {result['lag']:>5.2f} {result['batch']:>6.1f} "
              f"{result['learner_mb']:>10.0f} {result['worker_mb']:>9.0f}  "
              f"{received} = {trained} + {left}: {balance}")


if __name__ == "__main__":
    main()
