"""The learner: serves actions to the environment workers, trains on the unrolls they make, and
reports.

One process holds the network. Its inference server (inference.py) answers every worker's report
with an action from a batched forward pass and builds unrolls of T agent steps. IMPALA: a
prefetch thread stacks any B finished unrolls into a batch while the previous update runs. A2C
and PPO: a batch is a round of one unroll from every worker, which wait while the learner
updates (batches.py), or with --overlap_rounds play the next round meanwhile. The main thread
applies the algorithm's update (update.py) to each batch and moves the acting weights' version
on. When the learner falls behind, the workers wait for their answers: nothing is ever dropped,
and the frames received, trained on and left over at the end are counted and logged.

Files: <workspace>/model/reinforcement_model_<update>/ (start.py), <workspace>/tensorboard/
<run_name>/ (the step axis is env frames trained on), <workspace>/logs/learner.log.
"""

import dataclasses
import logging
import os
import signal
import time

import numpy as np
import tensorflow as tf

from retro_rl import fileio, summaries
from retro_rl.demos.starts import demonstration_checkpoints, demonstration_paths
from retro_rl.errors import UserError
from retro_rl.model import checkpoints, folders
from retro_rl.rl import unroll
from retro_rl.rl.admission import secret_from_environment
from retro_rl.rl.batches import BatchPrefetcher, Rounds
from retro_rl.rl.config import WorkerSettings
from retro_rl.rl.evaluator import Evaluator, report_results
from retro_rl.rl.inference import InferenceServer
from retro_rl.rl.rnd import RND
from retro_rl.rl.start import (announce_address, checkpoint_metadata, load_start,
                               save_checkpoint)
from retro_rl.rl.status import Status
from retro_rl.rl.transport import LearnerService
from retro_rl.rl.optimizer import anneal_learning_rates, make_optimizer
from retro_rl.rl.update import make_update
from retro_rl.tracking import Tracking

log = logging.getLogger("learner")
# Exit statuses of a run a signal stopped (after its final checkpoint), as a shell reports them.
STOPPED_STATUS = {"SIGINT": 130, "SIGTERM": 143}


class StopRequest:
    """Set by SIGINT/SIGTERM; the loop finishes its update, saves and tells workers to stop."""

    def __init__(self):
        self.reason = None
        self.failure = None  # why a worker or the inference loop stopped the run
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def _handle(self, signum, frame):
        if self.reason is None:  # a second signal (Ctrl-C and the launcher's TERM) changes nothing
            self.reason = signal.Signals(signum).name
            log.info(f"{self.reason}: stopping after this update, then saving")

    def fail(self, message):
        """The run cannot go on (inference.InferenceServer's on_failure): it stops, saves and
        exits with `message` as its one error line."""
        if self.failure is None:
            self.failure = message
            self.reason = self.reason or "failure"

    def __bool__(self):
        return self.reason is not None


def learn_from_next_batch(batches, update, optimizer, inference, meta, config, frames_per_unroll,
                          stop):
    """The learner's step, whoever runs it (train, or local.train_in_process): waits for the
    next batch from `batches` (batches.py), applies `update` to it (the value heads alone during
    the warm-up), counts it in meta's update and frames, and lets the inference server act with
    the new weights. Returns (batch, unrolls, metrics as floats, policy lag in updates), or None
    once `stop` is set."""
    taken = batches.get(stop)
    if taken is None:
        return None
    batch, unrolls = taken
    # Versions behind: how stale the parameters that chose these actions were.
    lag = float(np.mean([meta["update"] - item["parameter_version"] for item in unrolls]))
    train_policy = meta["update"] >= config.value_warmup_updates
    anneal_learning_rates(optimizer, config, meta["frames"])
    metrics = {name: float(value) for name, value in update(batch, train_policy).items()}
    meta["update"] += 1
    meta["frames"] += len(unrolls) * frames_per_unroll
    inference.version = meta["update"]
    batches.updated()
    return batch, unrolls, metrics, lag


def start_rnd(seed, config, network, env_config, resume_folder):
    """RND's networks where config.rnd_coef > 0 (None otherwise): a resumed run's own, else new."""
    if config.rnd_coef <= 0:
        return None
    rnd = RND(network.observation_shape, 1 if env_config.grayscale else 3,
              config.rnd_coef * config.learning_rate, config.intrinsic_discount, seed=seed)
    saved = checkpoints.load_arrays(resume_folder, folders.RND_FILE) if resume_folder else None
    if saved is not None:
        try:
            rnd.load_state(saved)
        except (KeyError, ValueError) as error:
            raise UserError(f"{os.path.join(resume_folder, folders.RND_FILE)} does not fit "
                            f"({error}); resume without --rnd_coef or from another "
                            "checkpoint") from None
        log.info(f"RND continues from {resume_folder}")
    elif resume_folder:
        log.info(f"{resume_folder} has no RND state: its predictor starts afresh")
    return rnd


def load_demonstrations(run, env_config):
    """The demonstrations workers start episodes along (--demo_starts), or []."""
    if run.demo_start_fraction == 0:
        return []
    demonstrations = demonstration_checkpoints(demonstration_paths(run.demo_starts),
                                               env_config.game, env_config.frame_skip)
    log.info(f"workers start {run.demo_start_fraction:.0%} of their episodes along "
             f"{len(demonstrations)} demonstrations from {run.demo_starts}")
    return demonstrations


def serve(run, config, network, env_config, states, demonstrations, version, on_failure):
    """(inference server, gRPC service): the learner listening at run.bind, acting with weights
    of `version` (updates so far) once the server is started."""
    spec = unroll.UnrollSpec(config.unroll_length, network.observation_shape,
                             network.config.num_actions, network.config.lstm_units)
    inference = InferenceServer(network, spec, seed=run.seed, queue_size=config.batch_size,
                                local_folder=True, synchronous=config.algorithm != "impala",
                                round_size=max(run.workers, 1),
                                round_timeout_s=config.round_timeout_s,
                                overlap=config.overlap_rounds, on_failure=on_failure)
    inference.version = version
    settings = WorkerSettings(env_config, tuple(states), network.observation_shape,
                              inference.local_address, run.demo_start_fraction)
    try:
        service = LearnerService(settings.to_dict(), inference, bind=run.bind,
                                 demonstrations=demonstrations,
                                 secret=secret_from_environment())
    except OSError:
        inference.close()
        raise UserError(f"cannot listen on {run.bind}: the port is in use or the address is "
                        "not this machine's; choose another with --bind HOST:PORT") from None
    return inference, service


def stop_serving(inference, batches, service):
    """After inference.request_stop(): lets the workers learn of the stop with their next answer
    and leave (10 s at most), then closes the batches, the gRPC service and the server."""
    deadline = time.monotonic() + 10.0
    while inference.workers() and inference.running and time.monotonic() < deadline:
        time.sleep(0.1)
    batches.close()
    service.close()
    inference.close()


def train(flags, device):
    """The learner's whole run with its parsed flags (flags.LearnerFlags), on `device` as
    runtime.start_tensorflow set it up."""
    run, config = flags.run, flags.learner
    stop = StopRequest()
    for folder in ("model", "tensorboard"):
        fileio.check_writable(os.path.join(run.workspace_path, folder))
    network, env_config, states, meta, anchor = load_start(flags)
    demonstrations = load_demonstrations(run, env_config)
    optimizer = make_optimizer(network, config)
    if meta["resume_folder"]:
        checkpoints.load_optimizer_state(meta["resume_folder"], optimizer,
                                         network.trainable_variables)
    rnd = start_rnd(run.seed, config, network, env_config, meta["resume_folder"])
    update = make_update(network, optimizer, config, anchor, rnd, seed=run.seed)
    frames_per_unroll = config.unroll_length * env_config.frame_skip
    run_settings = {
        "device": device, "pretrained": run.pretrained_model, "states": states,
        "network": dataclasses.asdict(network.config), "env": env_config.to_dict(),
        "demo_starts": run.demo_starts, "demo_start_fraction": run.demo_start_fraction,
        **dataclasses.asdict(config)}
    tracked = None
    if run.track:  # before anything listens, and before the writer whose scalars it syncs
        tracked = Tracking(run.workspace_path, meta["run_name"], run_settings,
                           run.wandb_project, run.wandb_entity)
        log.info(f"tracking: Weights & Biases run {tracked.where}")
    inference, service = serve(run, config, network, env_config, states, demonstrations,
                               meta["update"], stop.fail)
    inference.start()
    batches = (BatchPrefetcher(inference.unroll_queue, config.batch_size)
               if config.algorithm == "impala" else Rounds(inference))
    writer = tf.summary.create_file_writer(
        os.path.join(run.workspace_path, "tensorboard", meta["run_name"]))
    with writer.as_default():
        summaries.write_settings(run_settings, step=meta["frames"])
    log.info(f"{config.algorithm}{' + RND' if rnd else ''}: training {env_config.game} "
             f"{states} on the {device}; start: "
             f"{meta['resume_folder'] or meta['pretrained'] or 'from scratch'}; "
             f"TensorBoard run {meta['run_name']}")
    log.info(f"listening on {service.address}")
    announce_address(run.address_fd, service.address)

    evaluator = None
    if config.eval_every:
        evaluator = Evaluator(run.workspace_path, env_config, states, config.eval_episodes,
                              config.eval_every, meta["frames"])

    def save(final=False):
        save_checkpoint(run.workspace_path, network, env_config, optimizer, meta, states, config,
                        rnd, final)

    def save_for_evaluation(path):
        checkpoints.save_model(path, network, env_config,
                               metadata=checkpoint_metadata(meta, states, config))

    status = Status(writer, inference, env_config, config.total_frames, meta)
    start_frames, skipped = meta["frames"], 0
    try:
        while meta["frames"] < config.total_frames and not stop:
            learnt = learn_from_next_batch(batches, update, optimizer, inference, meta, config,
                                           frames_per_unroll, stop)
            if learnt is None:
                break
            _, unrolls, metrics, lag = learnt
            if metrics["losses/skipped_update"]:
                skipped += 1
                log.warning(f"warning: update {meta['update']} skipped: its loss or "
                            f"gradients are not finite ({skipped} so far)")
            status.after_update(meta, metrics, lag, unrolls)
            if evaluator is not None:
                report_results(writer, evaluator.after_update(meta["frames"], meta["update"],
                                                              save_for_evaluation), tracked)
            if meta["update"] % config.save_every == 0:
                save()
    finally:
        inference.request_stop()
        status.close(meta)
        save(final=True)
        stop_serving(inference, batches, service)
        if evaluator is not None:
            finished = meta["frames"] >= config.total_frames  # not stopped, nor failed
            if finished:
                log.info("evaluating the final weights")
            report_results(writer, evaluator.close(meta["frames"], meta["update"],
                                                   save_for_evaluation, final=finished), tracked)
        writer.close()
        if tracked is not None:
            tracked.finish()
        received = inference.counters["steps_queued"] * env_config.frame_skip
        trained = meta["frames"] - start_frames
        log.info(f"frames received {received}, trained on {trained}, not trained on "
                 f"{received - trained} (the run ended with them queued)")
    log.info(f"done: {meta['update']} updates, {meta['frames']} frames"
             + (f" (stopped by {stop.reason})" if stop else ""))
    if stop.failure:
        raise UserError(f"{stop.failure}; the run stopped at update {meta['update']}, saved")
    return STOPPED_STATUS.get(stop.reason, 0)
