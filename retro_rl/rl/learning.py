"""The IMPALA learner: where training starts, the loop, checkpoints and reports.

It listens for actors, publishes its settings and weights, takes batches of B unrolls of T agent
steps from the server's bounded queue, computes V-trace targets and applies one gradient step
per batch, publishing each new version of the weights. Actors wait while the queue is full, so
nothing is ever dropped; the frames received, trained on and left over at the end are counted
and logged.

Files: <workspace>/model/reinforcement_model_<update>/ (a model folder, plus the optimizer;
config.json carries kind, update, frames, pretrained, states, run_name and the learner's
settings), <workspace>/tensorboard/<run_name>/ (the step axis is env frames trained on).
"""

import dataclasses
import logging
import os
import queue
import signal
import time

import numpy as np
import tensorflow as tf

from retro_rl import summaries
from retro_rl.envs import EnvConfig, games
from retro_rl.errors import UserError
from retro_rl.model import checkpoints
from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network
from retro_rl.rl import transport, unroll
from retro_rl.rl.config import RunSettings
from retro_rl.rl.update import make_optimizer, make_update

STATUS_EVERY_S = 10.0  # console line and throughput charts
QUIET_WARNING_S = 60.0  # say so when no unroll has arrived for this long
log = logging.getLogger("learner")


def choose_device(gpu):
    """Trains on the GPU when asked and present; otherwise hides GPUs before any op runs."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpu and not gpus:
        log.info("notice: --gpu 1 but no GPU is usable here; training on the CPU")
    if gpu and gpus:
        for device in gpus:
            tf.config.experimental.set_memory_growth(device, True)
        return "GPU"
    tf.config.set_visible_devices([], "GPU")
    return "CPU"


def load_start(args, config):
    """Decides where training starts. Returns (network, env_config, states, meta, anchor):
    meta has update, frames, pretrained (folder or None), run_name and resume_folder."""
    meta = {"update": 0, "frames": 0, "pretrained": None, "run_name": args.run_name,
            "resume_folder": None}
    prefix = checkpoints.REINFORCEMENT_PREFIX
    kind = None  # of the model training starts from
    if args.resume:
        folder = checkpoints.newest_checkpoint(args.workspace_path, prefix)
        if folder is None:
            raise UserError(f"--resume: no {prefix}<update> folder under "
                            f"{checkpoints.models_folder(args.workspace_path)}; start without it")
        network, env_config, saved = checkpoints.load_model(folder)
        kind = saved.get("kind")
        meta.update(update=saved["update"], frames=saved["frames"], resume_folder=folder,
                    pretrained=saved.get("pretrained"),
                    run_name=args.run_name or saved.get("run_name"))
        states = games.resolve_states(env_config.game, args.state, env_config.state) \
            if args.state else saved.get("states", [env_config.state])
    elif checkpoints.newest_checkpoint(args.workspace_path, prefix):
        # A second run's numbering would interleave with the first's and confuse --resume.
        raise UserError(f"{checkpoints.newest_checkpoint(args.workspace_path, prefix)} is "
                        "from an earlier run: pass --resume to continue it, or give this run "
                        "another --workspace_path")
    elif args.pretrained_model != "none":
        folder = checkpoints.find_model_folder(args.workspace_path, args.pretrained_model)
        network, env_config, saved = checkpoints.load_model(folder)
        kind = saved.get("kind")
        meta["pretrained"] = folder
        states = games.resolve_states(env_config.game, args.state, env_config.state)
    else:
        game = games.resolve_game(args.game or games.DEFAULT_GAME)
        env_config = EnvConfig(game=game)
        states = games.resolve_states(game, args.state, None)
        network = create_network(NetworkConfig(num_actions=env_config.num_actions),
                                 env_config.observation_shape, seed=args.seed)
    if args.game and games.resolve_game(args.game) != env_config.game:
        raise UserError(f"--game {args.game} differs from the model's game {env_config.game}; "
                        "a model plays the game it was trained on")
    games.check_rom(env_config.game)
    env_config = env_config.replace(state=states[0])
    # What is trained on: the flags, else an RL model's own settings, else the game's training
    # defaults (a cloned model never trained on rewards, so its settings were never chosen).
    if kind != "reinforcement":
        env_config = env_config.with_training_defaults()
    flags = {"reward_scale": args.reward_scale, "life_loss_penalty": args.life_loss_penalty,
             "max_episode_steps": args.max_episode_steps}
    given = {name: value for name, value in flags.items() if value is not None}
    if given.get("max_episode_steps") == 0:
        given["max_episode_steps"] = None  # no limit
    env_config = env_config.replace(**given)
    anchor = None
    if config.kl_cost > 0:
        if meta["pretrained"] is None:
            raise UserError("--kl_cost > 0 keeps the policy near a pretrained one: give "
                            "--pretrained_model")
        if not os.path.isdir(meta["pretrained"]):
            raise UserError(f"the pretrained model {meta['pretrained']} (the KL anchor) is gone")
        anchor = checkpoints.load_model(meta["pretrained"])[0]
    meta["run_name"] = meta["run_name"] or time.strftime("reinforcement_%Y%m%d-%H%M%S")
    return network, env_config, states, meta, anchor


class StopRequest:
    """Set by SIGINT/SIGTERM; the loop finishes its update, saves and tells actors to stop."""

    def __init__(self):
        self.reason = None
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def _handle(self, signum, frame):
        if self.reason is None:  # a second signal (Ctrl-C and the launcher's TERM) changes nothing
            self.reason = signal.Signals(signum).name
            log.info(f"{self.reason}: stopping after this update, then saving")

    def __bool__(self):
        return self.reason is not None


def take_batch(unroll_queue, batch_size, stop, taken):
    """Blocks until `batch_size` unrolls are appended to `taken` (returns True) or a stop is
    requested (returns False; a partial batch stays in `taken` for the report)."""
    quiet_since = time.monotonic()
    while len(taken) < batch_size:
        if stop:
            return False
        try:
            taken.append(unroll_queue.get(timeout=0.2))
            quiet_since = time.monotonic()
        except queue.Empty:
            if time.monotonic() - quiet_since > QUIET_WARNING_S:
                log.info(f"no unroll for {QUIET_WARNING_S:.0f} s: are actors running and "
                         "pointed at this learner?")
                quiet_since = time.monotonic()
    return True


def save_checkpoint(args, network, env_config, optimizer, meta, states, config):
    path = checkpoints.checkpoint_path(args.workspace_path, checkpoints.REINFORCEMENT_PREFIX,
                                       meta["update"])
    checkpoints.save_model(path, network, env_config, optimizer=optimizer, metadata={
        "kind": "reinforcement", "update": meta["update"], "frames": meta["frames"],
        "pretrained": meta["pretrained"], "states": states, "run_name": meta["run_name"],
        "learner": dataclasses.asdict(config)})
    log.info(f"saved {path}")


def report(writer, server, meta, window, metrics, lag, env_config):
    """Throughput charts and one console line; returns the next window."""
    now = time.monotonic()
    elapsed = now - window["time"]
    fps = (meta["frames"] - window["frames"]) / elapsed
    updates_per_s = (meta["update"] - window["update"]) / elapsed
    received = server.counters()["steps_received"] * env_config.frame_skip
    with writer.as_default(step=meta["frames"]):
        tf.summary.scalar("charts/fps", fps)
        tf.summary.scalar("charts/updates_per_second", updates_per_s)
        tf.summary.scalar("charts/frames_received", received)
        tf.summary.scalar("charts/queued_unrolls", server.unroll_queue.qsize())
    returns = window["returns"]
    mean_return = f"{np.mean(returns):.1f} over {len(returns)}" if returns else "-"
    log.info(f"update {meta['update']} | frames {meta['frames']} (received {received}) | "
             f"{fps:.0f} frames/s | {updates_per_s:.2f} updates/s | return {mean_return} | "
             f"lag {lag:.1f} | loss {metrics['losses/total']:.3f} | "
             f"entropy {metrics['charts/entropy']:.2f}")
    return {"time": now, "frames": meta["frames"], "update": meta["update"], "returns": []}


def write_step_summaries(writer, meta, metrics, lag, taken, env_config, window):
    """One update's losses and the episodes that ended in its unrolls, at the frames axis."""
    with writer.as_default(step=meta["frames"]):
        for name, value in metrics.items():
            tf.summary.scalar(name, value)
        tf.summary.scalar("charts/policy_lag", lag)
        for episode in (episode for item in taken for episode in item["episodes"]):
            tf.summary.scalar("charts/episodic_return", episode["episode_return"])
            tf.summary.scalar("charts/episodic_length", episode["length"])
            tf.summary.scalar("charts/episodic_frames", episode["frames"])
            if games.is_sonic(env_config.game):
                tf.summary.scalar("charts/x_progress", episode["x_progress"])
            window["returns"].append(episode["episode_return"])


def train(args, config):
    """The learner's whole run with parsed flags (flags.parse_learner_args)."""
    stop = StopRequest()
    device = choose_device(args.gpu)
    network, env_config, states, meta, anchor = load_start(args, config)
    optimizer = make_optimizer(network, config)
    if meta["resume_folder"]:
        checkpoints.load_optimizer_state(meta["resume_folder"], optimizer,
                                         network.trainable_variables)
    update = make_update(network, optimizer, config, anchor)
    frames_per_unroll = config.unroll_length * env_config.frame_skip
    spec = unroll.UnrollSpec(config.unroll_length, network.observation_shape,
                             network.config.num_actions, network.config.lstm_units)
    settings = RunSettings(env_config, tuple(states), network.config, network.observation_shape,
                           config.unroll_length)
    try:
        server = transport.LearnerServer(spec, bind=args.bind, queue_size=2 * config.batch_size,
                                         max_workers=64, settings=settings.to_dict())
    except OSError:
        raise UserError(f"cannot listen on {args.bind}: the port is in use or the address is "
                        "not this machine's; choose another with --bind HOST:PORT") from None
    server.set_parameters(meta["update"], network.get_weights())
    writer = tf.summary.create_file_writer(
        os.path.join(args.workspace_path, "tensorboard", meta["run_name"]))
    with writer.as_default():
        summaries.write_settings({
            "device": device, "pretrained": args.pretrained_model, "states": states,
            "network": dataclasses.asdict(network.config), "env": env_config.to_dict(),
            **dataclasses.asdict(config)}, step=meta["frames"])
    log.info(f"training {env_config.game} {states} on the {device}; start: "
             f"{meta['resume_folder'] or meta['pretrained'] or 'from scratch'}; "
             f"TensorBoard run {meta['run_name']}")
    log.info(f"listening on {server.address}")

    start_frames, taken, saved_update, first_update = meta["frames"], [], None, True
    window = {"time": time.monotonic(), "frames": meta["frames"], "update": meta["update"],
              "returns": []}
    try:
        while meta["frames"] < config.total_frames and not stop:
            taken = []
            if not take_batch(server.unroll_queue, config.batch_size, stop, taken):
                break
            # Versions behind: how stale the parameters that chose these actions were.
            lag = float(np.mean([meta["update"] - item["parameter_version"] for item in taken]))
            train_policy = meta["update"] >= config.value_warmup_updates
            metrics = {name: float(value)
                       for name, value in update(unroll.stack(taken), train_policy).items()}
            meta["update"] += 1
            meta["frames"] += config.batch_size * frames_per_unroll
            server.set_parameters(meta["update"], network.get_weights())
            write_step_summaries(writer, meta, metrics, lag, taken, env_config, window)
            taken = []
            if meta["update"] % config.save_every == 0:
                saved_update = meta["update"]
                save_checkpoint(args, network, env_config, optimizer, meta, states, config)
            if first_update:  # throughput counts from here, after waiting and compiling
                window.update(time=time.monotonic(), frames=meta["frames"], update=meta["update"])
                first_update = False
            elif time.monotonic() - window["time"] >= STATUS_EVERY_S:
                window = report(writer, server, meta, window, metrics, lag, env_config)
    finally:
        if not first_update and meta["update"] > window["update"]:
            report(writer, server, meta, window, metrics, lag, env_config)
        if saved_update != meta["update"]:
            save_checkpoint(args, network, env_config, optimizer, meta, states, config)
        server.request_stop()
        # Actors learn of the stop in their next call; one silent for 3 s has died or is slow
        # and will find the learner gone.
        deadline = time.monotonic() + 10.0
        while server.unstopped_actors(active_within_s=3.0) and time.monotonic() < deadline:
            time.sleep(0.1)
        left_over = len(taken) + server.unroll_queue.qsize()
        received = server.counters()["steps_received"] * env_config.frame_skip
        server.close()
        writer.close()
        log.info(f"frames received {received}, trained on {meta['frames'] - start_frames}, not "
                 f"trained on {left_over * frames_per_unroll} (the run ended with them queued)")
    log.info(f"done: {meta['update']} updates, {meta['frames']} frames"
             + (f" (stopped by {stop.reason})" if stop else ""))
