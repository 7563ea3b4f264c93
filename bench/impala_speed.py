"""IMPALA throughput: env frames/s of learner + actors against one raw emulator, same run.

    python bench/impala_speed.py [--actors 2] [--seconds 60] [--unroll_length 20] [--batch_size 4]

1. Raw: stable-retro's own env stepped one frame at a time in this process, before and after
   the end-to-end run (other work on the machine moves it; the better figure is the yardstick).
2. Where the time goes, measured in this process, one cost at a time on one thread, in CPU
   milliseconds per agent step (frame skip 4): emulation (make_env's step), inference
   (Agent.act, batch 1), serialization (encode + decode + validate of an unroll, per step),
   parameter sync (the learner publishes one version per update; every actor fetches and loads
   it), learner step (one V-trace update on B unrolls of T, per step). Their sum against the
   cores gives a ceiling.
3. End to end: learner.py and N actor.py processes from scratch (default settings: 84x84 RGB,
   Nature CNN + 256-unit LSTM, 23 actions). After the first status line (warm-up) it counts
   env frames (frame skip counted) trained on and received per second, then stops the learner
   with SIGTERM and checks its final accounting: received = trained on + left in the queue.
   It also reads the CPU time the learner and actors used in that window (/proc), so that
   frames per CPU-second, and the rate 2 free cores would give, do not depend on whatever else
   the machine is running.
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

import numpy as np

from retro_rl.envs import EnvConfig, games
from retro_rl.envs.actions import BUTTONS, NUM_BUTTONS
from retro_rl.envs.emulator import make_retro

ROOT = pathlib.Path(__file__).resolve().parent.parent
FRAME_SKIP = EnvConfig().frame_skip  # the default settings run here
STATUS = re.compile(r"update (\d+) \| frames (\d+) \(received (\d+)\)")
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


def component_costs(unroll_length, batch_size, actors):
    """CPU ms per agent step of each part of the pipeline, measured one at a time."""
    import keras
    import tensorflow as tf

    from retro_rl.agent import Agent
    from retro_rl.model.config import NetworkConfig
    from retro_rl.model.network import create_network
    from retro_rl.rl import transport, unroll
    from retro_rl.rl.acting import UnrollCollector
    from retro_rl.rl.config import LearnerConfig
    from retro_rl.rl.proto import impala_pb2
    from retro_rl.rl.update import make_update

    # One thread, as in an actor: CPU time per step is what the cores have to share.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    env_config = EnvConfig()
    network = create_network(NetworkConfig(num_actions=env_config.num_actions),
                             env_config.observation_shape, seed=0)
    env = env_config.make()
    env.reset(seed=0)
    agent = Agent(network, 1, seed=0)
    observation = np.zeros((1, *env_config.observation_shape), np.uint8)

    def emulate():
        if any(env.step(env.action_space.sample())[2:4]):
            env.reset()
    emulation = timed(emulate, 300)
    inference = timed(lambda: agent.act(observation), 300)

    latest = [env.reset(seed=0)[0]]

    def play():
        action = int(agent.act(latest[0][None])[0])
        latest[0], _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            latest[0] = env.reset()[0]
    # Alternating the emulator and the network costs more than each alone (shared caches).
    costs = {"actor step (act + emulate, as played)": timed(play, 300)}
    print(f"  {'emulation (4 frames + preprocessing)':38s}: {emulation:6.2f}  (alone)")
    print(f"  {'inference (Agent.act, batch 1)':38s}: {inference:6.2f}  (alone)")
    collector = UnrollCollector(env, agent, unroll_length, [None], 0)
    unrolls = [collector.collect(0) for _ in range(batch_size)]

    def serialize():
        wire = transport.encode_unroll(unrolls[0]).SerializeToString()
        collector.spec.validate(transport.decode_unroll(impala_pb2.Unroll.FromString(wire)), 0)
    costs["serialization (unroll, per step)"] = timed(serialize, 20) / unroll_length

    def publish():
        message = impala_pb2.Parameters(version=1, weights=[
            transport.encode_array(array) for array in network.get_weights()])
        return message.SerializeToString()
    wire = publish()

    def fetch():
        message = impala_pb2.Parameters.FromString(wire)
        network.set_weights([transport.decode_array(tensor) for tensor in message.weights])
    steps_per_update = unroll_length * batch_size
    # Per update: one publication, and each actor fetches (at most) that one version.
    costs["parameter sync (per step)"] = (timed(publish, 5) + actors * timed(fetch, 5)) \
        / steps_per_update
    update = make_update(network, keras.optimizers.Adam(1e-4), LearnerConfig(
        unroll_length=unroll_length, batch_size=batch_size))
    batch = unroll.stack(unrolls)
    costs["learner step (per step)"] = timed(lambda: update(batch), 5) / steps_per_update
    env.close()
    return costs


def cpu_seconds(processes):
    """User + system CPU seconds used so far by these processes (all their threads)."""
    total = 0
    for process in processes:
        with open(f"/proc/{process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def end_to_end(actors, seconds, unroll_length, batch_size):
    """Runs learner + actors; returns a dict of frames/s, CPU use and the final accounting."""
    python = sys.executable
    workspace = tempfile.mkdtemp(prefix="impala_speed_")
    flags = ["--workspace_path", workspace, "--unroll_length", str(unroll_length),
             "--batch_size", str(batch_size), "--total_frames", str(10**12),
             "--save_every", str(10**9)]
    learner_process = subprocess.Popen(
        [python, "-u", str(ROOT / "learner.py"), "--bind", "127.0.0.1:0", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    actor_processes = []
    try:
        port = None
        for line in learner_process.stdout:
            if "listening on " in line:
                port = line.strip().rsplit(":", 1)[1]
                break
        if port is None:
            raise RuntimeError("the learner did not start")
        for actor_id in range(actors):
            actor_processes.append(subprocess.Popen(
                [python, str(ROOT / "actor.py"), "--learner_address", f"127.0.0.1:{port}",
                 "--actor_id", str(actor_id), *flags],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        samples, stop_at = [], None
        for line in learner_process.stdout:
            match = STATUS.search(line)
            if match:
                samples.append((time.monotonic(), int(match[2]), int(match[3]),
                                cpu_seconds([learner_process]), cpu_seconds(actor_processes)))
                print("  " + line.strip(), flush=True)
                if stop_at is None:
                    stop_at = time.monotonic() + seconds
                elif time.monotonic() >= stop_at:
                    break
        learner_process.send_signal(signal.SIGTERM)
        accounting = None
        for line in learner_process.stdout:
            match = ACCOUNTING.search(line)
            if match:
                accounting = tuple(int(value) for value in match.groups())
        learner_process.wait(timeout=60)
    finally:
        for process in [learner_process, *actor_processes]:
            if process.poll() is None:
                process.kill()
            process.wait()
    seconds, trained, received, learner_cpu, actors_cpu = (
        last - first for first, last in zip(samples[0], samples[-1]))
    return {"trained_fps": trained / seconds, "received_fps": received / seconds,
            "learner_ms_per_step": learner_cpu * 1000 / (trained / FRAME_SKIP),
            "actors_ms_per_step": actors_cpu * 1000 / (received / FRAME_SKIP),
            "cores": (learner_cpu + actors_cpu) / seconds, "accounting": accounting}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actors", type=int, default=2, help="actor processes")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="measured time after warm-up")
    parser.add_argument("--unroll_length", type=int, default=20, help="T")
    parser.add_argument("--batch_size", type=int, default=4, help="B")
    args = parser.parse_args()

    raw = max(raw_frames_per_second() for _ in range(2))
    print(f"raw stable-retro, one process   : {raw:8.0f} frames/s (before)")
    print("CPU ms per agent step (4 frames), measured one at a time:")
    costs = component_costs(args.unroll_length, args.batch_size, args.actors)
    for name, value in costs.items():
        print(f"  {name:38s}: {value:6.2f}")
    total = sum(costs.values())
    ceiling = os.cpu_count() * 1000.0 / total * FRAME_SKIP
    print(f"  {'sum':38s}: {total:6.2f}  -> ceiling on {os.cpu_count()} cores: "
          f"{ceiling:.0f} frames/s")
    print(f"end to end: learner + {args.actors} actors, T={args.unroll_length}, "
          f"B={args.batch_size}, {args.seconds:.0f} s after warm-up")
    measured = end_to_end(args.actors, args.seconds, args.unroll_length, args.batch_size)
    trained, received, cores = measured["trained_fps"], measured["received_fps"], measured["cores"]
    # Other work on the machine moves both figures; the better raw one is the fair yardstick.
    raw_after = raw_frames_per_second()
    print(f"raw stable-retro, one process   : {raw_after:8.0f} frames/s (after)")
    raw = max(raw, raw_after)
    print(f"env frames/s trained on (learner): {trained:8.0f}  ({trained / raw:.2f}x raw)")
    print(f"env frames/s received (actors)   : {received:8.0f}  ({received / raw:.2f}x raw)")
    cpus = os.cpu_count()
    print(f"CPU ms per agent step, measured  : learner {measured['learner_ms_per_step']:.2f}, "
          f"actors {measured['actors_ms_per_step']:.2f}")
    print(f"CPU used by learner + actors     : {cores:8.2f} of {cpus} cores "
          f"({trained / cores:.0f} frames per CPU-second; on {cpus} free cores: "
          f"{trained / cores * cpus:.0f} frames/s = {trained / cores * cpus / raw:.2f}x raw)")
    if measured["accounting"]:
        received_total, trained_total, left = measured["accounting"]
        verdict = "none dropped" if received_total == trained_total + left else "MISMATCH"
        print(f"final accounting: received {received_total} = trained on {trained_total} + "
              f"left in queue {left}: {verdict}")


if __name__ == "__main__":
    main()
