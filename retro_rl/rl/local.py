"""The learner in one process, for debugging a reward, a wrapper or a setting from Python:

    from retro_rl.rl.config import LearnerConfig
    from retro_rl.rl.local import train_in_process

    run = train_in_process(LearnerConfig(batch_size=2), updates=5,
                           on_update=lambda batch, metrics: print(batch["rewards"].sum(), metrics))

The launcher's parts, minus its processes and sockets: the environments' workers (worker.Player)
run in threads of this process and report to the inference server (inference.py) through its
in-process entry (`submit`); batches come as the learner's do (batches.py), and each update is
the learner's own step (learning.learn_from_next_batch with update.make_update), so an update
here is the launcher's for the same batch. Nothing is saved or charted: `on_update` sees each
batch and its metrics, and the returned run holds the network.

stable-retro runs one emulator per process, so with its games `num_envs` is 1; `make_env(index)`
builds environments of your own (any gymnasium environment with this pipeline's observations,
for instance stable-retro's behind your wrapper, or several that are not stable-retro's).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence

import gymnasium as gym

from retro_rl.envs import EnvConfig
from retro_rl.errors import UserError
from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import PolicyNetwork, create_network, with_intrinsic_head
from retro_rl.rl import unroll
from retro_rl.rl.batches import BatchPrefetcher, Rounds
from retro_rl.rl.config import LearnerConfig
from retro_rl.rl.inference import InferenceServer
from retro_rl.rl.learning import learn_from_next_batch, start_rnd
from retro_rl.rl.optimizer import make_optimizer
from retro_rl.rl.update import make_update
from retro_rl.rl.worker import Player


@dataclasses.dataclass
class InProcessRun:
    """What train_in_process leaves: the trained network and its optimizer, each update's
    metrics, and the counts (env frames trained on, frame skip counted)."""

    network: object
    optimizer: object
    metrics: list
    updates: int = 0
    frames: int = 0


class _InProcessChannel:
    """A worker's channel straight into the inference server: no socket, no copy."""

    def __init__(self, inference, worker_id):
        self.inference = inference
        self.slot = inference.open_remote(worker_id)

    def step(self, report):
        return self.inference.submit(self.slot, report)

    def close(self):
        self.inference.close_slot(self.slot)


def train_in_process(config: LearnerConfig | None = None, env_config: EnvConfig | None = None,
                     num_envs: int = 1, updates: int = 10, network: PolicyNetwork | None = None,
                     anchor: PolicyNetwork | None = None,
                     states: Sequence[str | None] | None = None,
                     seed: int = 0, make_env: Callable[[int], gym.Env] | None = None,
                     on_update: Callable[[dict, dict], None] | None = None) -> InProcessRun:
    """Runs `updates` learner updates on `num_envs` environments played in this process.

    config: LearnerConfig (default: its defaults); env_config: EnvConfig (default: the default
    game with its training rewards, as the learner from scratch); network: a PolicyNetwork to
    train (default: a new one, seeded by `seed`); anchor: the pretrained network of the KL term
    (needed where config.kl_cost > 0); states: start states the environments draw one of per
    episode (default: env_config's); seed: environment i resets with seed + i and samples its
    actions with seed + i, as the launcher's worker i; make_env(index): builds environment
    `index` (default: env_config.make()); on_update(batch, metrics): called after each update.
    Returns an InProcessRun.
    """
    config = config or LearnerConfig()
    if env_config is None:
        env_config = EnvConfig().with_training_defaults()
    if num_envs < 1 or updates < 1:
        raise UserError(f"num_envs and updates must be at least 1 (got {num_envs}, {updates})")
    start_states: list[str | None] = list(states or [env_config.state])
    if network is None:
        network = create_network(NetworkConfig(num_actions=env_config.num_actions,
                                               intrinsic_value=config.rnd_coef > 0),
                                 env_config.observation_shape, seed=seed)
    elif config.rnd_coef > 0 and network.intrinsic_value_head is None:
        network = with_intrinsic_head(network, seed=seed)
    optimizer = make_optimizer(network, config)
    rnd = start_rnd(seed, config, network, env_config, None)
    update = make_update(network, optimizer, config, anchor, rnd, seed=seed)
    spec = unroll.UnrollSpec(config.unroll_length, network.observation_shape,
                             network.config.num_actions, network.config.lstm_units)
    envs = _make_envs(make_env or (lambda index: env_config.make()), num_envs)
    synchronous = config.algorithm != "impala"
    inference = InferenceServer(network, spec, seed=seed, queue_size=config.batch_size,
                                synchronous=synchronous, round_size=num_envs,
                                overlap=config.overlap_rounds).start()
    batches = Rounds(inference) if synchronous else BatchPrefetcher(inference.unroll_queue,
                                                                    config.batch_size)
    failures: list[BaseException] = []
    threads = [threading.Thread(target=_play, name=f"env-{index}", daemon=True, args=(
        Player(env, start_states, seed + index), _InProcessChannel(inference, index), failures))
        for index, env in enumerate(envs)]
    for thread in threads:
        thread.start()
    run = InProcessRun(network, optimizer, [])
    meta = {"update": 0, "frames": 0}
    stop = _Stop(failures)
    try:
        while meta["update"] < updates:
            learnt = learn_from_next_batch(batches, update, optimizer, inference, meta, config,
                                           config.unroll_length * env_config.frame_skip, stop)
            if learnt is None:
                break
            batch, _, metrics, _ = learnt
            run.metrics.append(metrics)
            if on_update is not None:
                on_update(batch, metrics)
    finally:
        inference.request_stop()  # each environment's next answer says stop
        for thread in threads:
            thread.join(timeout=10)
        batches.close()
        inference.close()
        for env in envs:
            env.close()
    if failures:
        raise failures[0]
    run.updates, run.frames = meta["update"], meta["frames"]
    return run


class _Stop:
    """True once an environment's thread has failed: the learner would wait for it forever."""

    def __init__(self, failures):
        self.failures = failures

    def __bool__(self):
        return bool(self.failures)


def _make_envs(make_env, num_envs):
    envs = []
    try:
        for index in range(num_envs):
            envs.append(make_env(index))
    except RuntimeError as error:
        for env in envs:
            env.close()
        if "emulator instances" in str(error):
            raise UserError(f"num_envs {num_envs}: stable-retro runs one emulator per process; "
                            "play one environment here, or more with the launcher "
                            "(run_reinforcement_learning.sh)") from None
        raise
    return envs


def _play(player, channel, failures):
    try:
        player.play(channel)
    except Exception as error:  # handed to the caller, which stops the run
        failures.append(error)
    finally:
        channel.close()

