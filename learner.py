"""IMPALA learner: trains the CNN-LSTM on unrolls that actors (actor.py) send over gRPC.

    python learner.py --pretrained_model supervised_model_3 --total_frames 5000000
    python learner.py --pretrained_model none --game Airstriker-Genesis-v0   # from scratch
    python learner.py --resume                     # the newest reinforcement_model_<update>

It listens (`--bind`, 127.0.0.1:50051 by default), publishes its settings and weights, takes
batches of B unrolls of T agent steps from the server's bounded queue, computes V-trace targets
and applies one gradient step per batch, publishing each new version of the weights. Actors
wait while the queue is full, so nothing is ever dropped; the frames received, trained on and
left over at the end are counted and printed.

The settings actors fetch (`GetSettings`, JSON) are a dict:
    env: EnvConfig fields; states: the start states an actor samples one per episode from
    (None: the game's default); network: NetworkConfig fields; observation_shape: [H, W, C];
    unroll_length: T.

Files: <workspace>/model/reinforcement_model_<update>/ (a model folder as network.py describes,
plus the optimizer; config.json carries kind, update, frames, pretrained, states and run_name),
<workspace>/tensorboard/<run_name>/ (TensorBoard; the step axis is env frames trained on).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import dataclasses
import queue
import signal
import time

import numpy as np
import tensorflow as tf

import cli
import env_wrappers
import network as nw
import transport
from impala_update import (FINE_TUNING_DEFAULTS, LearnerConfig, make_optimizer, make_update,
                            stack_unrolls)
from cli import UserError

CHECKPOINT_PREFIX = "reinforcement_model_"
DEFAULT_BIND = "127.0.0.1:50051"
STATUS_EVERY_S = 10.0  # console line and throughput charts
QUIET_WARNING_S = 60.0  # say so when no unroll has arrived for this long


# ----------------------------------------------------------------------------------------------
# Settings: command line, pretrained model or checkpoint


def build_parser():
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--workspace_path", default=".", help="folder for model/, tensorboard/ and logs/")
    add("--pretrained_model", default="none",
        help="model folder to start from: a name under <workspace>/model/ or a path; 'none' "
             "starts from scratch with --game/--state and default settings")
    add("--resume", action="store_true",
        help="continue from the newest <workspace>/model/reinforcement_model_<update>; give "
             "the --pretrained_model of the run it continues, which decides the defaults")
    add("--game", default=None, help=f"stable-retro game id (default: the pretrained model's, "
                                     f"else {env_wrappers.DEFAULT_GAME})")
    add("--state", default=None,
        help="start state(s): one, a comma-separated list or 'all' (the 18 Sonic 2 acts; every "
             "state of other games); actors sample one per episode. Default: the model's")
    add("--reward_scale", type=float, default=None,
        help="multiplies the rewards trained on, saved with the model (default: an RL model's "
             "own, else the game's training default: 0.05 on Airstriker, where a hit scores "
             "20, 1.0 elsewhere). Reported episode returns stay unscaled")
    add("--life_loss_penalty", type=float, default=None,
        help="subtracted from the reward for each life lost, in game-score units before "
             "--reward_scale, saved with the model (default: an RL model's own, else the "
             "game's training default: 200 on Airstriker, 0 elsewhere). Reported episode "
             "returns stay the game's score")
    add("--max_episode_steps", type=int, default=None,
        help="time limit of the actors' episodes in agent steps, saved with the model "
             "(default: an RL model's own, else the game's training default: 4500 on "
             "Airstriker, none elsewhere); 0 is no limit. An episode cut off bootstraps from "
             "its value, so the limit is not a game over")
    add("--bind", default=DEFAULT_BIND,
        help="HOST:PORT to listen on; 0.0.0.0:PORT accepts actors on other machines (trusted "
             "networks only: the channel is not encrypted); port 0 picks a free one")
    add("--gpu", type=int, choices=(0, 1), default=0, help="1: train on the GPU if there is one")
    add("--run_name", default=None,
        help="TensorBoard run folder (default: reinforcement_<date-time>; --resume continues "
             "the checkpoint's)")
    add("--seed", type=int, default=0, help="seeds a from-scratch network's initial weights")
    for field in dataclasses.fields(LearnerConfig):
        default, text = field.default, field.metadata["help"]
        if field.name in FINE_TUNING_DEFAULTS:  # None: parse_args decides
            default = None
            text += (f" (default: {field.default} from scratch, "
                     f"{FINE_TUNING_DEFAULTS[field.name]} from a --pretrained_model)")
        add(f"--{field.name}", type=type(field.default), default=default, help=text)
    return parser


def parse_args(argv=None):
    """Parses the learner's flags; the actor's flags (shared launcher arguments) are ignored,
    anything neither program knows is an error."""
    import actor

    args, unknown = build_parser().parse_known_args(argv)
    if unknown:
        _, rest = actor.build_parser().parse_known_args(unknown)
        if rest:
            raise UserError(f"unrecognized arguments: {' '.join(rest)} (see --help)")
    given = {field.name: getattr(args, field.name) for field in dataclasses.fields(LearnerConfig)
             if getattr(args, field.name) is not None}  # a flag left out keeps a default
    defaults = FINE_TUNING_DEFAULTS if args.pretrained_model != "none" else {}
    config = LearnerConfig(**{**defaults, **given})
    if args.max_episode_steps is not None and args.max_episode_steps < 0:
        raise UserError(f"--max_episode_steps must be at least 0 (got {args.max_episode_steps})")
    if args.life_loss_penalty is not None and args.life_loss_penalty < 0:
        raise UserError(f"--life_loss_penalty must be at least 0 (got {args.life_loss_penalty})")
    if args.reward_scale is not None and not args.reward_scale > 0:
        raise UserError(f"--reward_scale must be positive (got {args.reward_scale})")
    host, _, port = args.bind.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise UserError(f"--bind {args.bind!r} must be HOST:PORT, e.g. {DEFAULT_BIND}")
    return args, config


def choose_device(gpu):
    """Trains on the GPU when asked and present; otherwise hides GPUs before any op runs."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpu and not gpus:
        print("notice: --gpu 1 but no GPU is usable here; training on the CPU", flush=True)
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
    kind = None  # of the model training starts from
    if args.resume:
        folder = nw.newest_checkpoint(args.workspace_path, CHECKPOINT_PREFIX)
        if folder is None:
            raise UserError(f"--resume: no {CHECKPOINT_PREFIX}<update> folder under "
                            f"{os.path.join(args.workspace_path, 'model')}; start without it")
        network, env_config, saved = nw.load_model(folder)
        kind = saved.get("kind")
        meta.update(update=saved["update"], frames=saved["frames"], resume_folder=folder,
                    pretrained=saved.get("pretrained"),
                    run_name=args.run_name or saved.get("run_name"))
        states = env_wrappers.resolve_states(env_config.game, args.state, env_config.state) \
            if args.state else saved.get("states", [env_config.state])
    elif nw.newest_checkpoint(args.workspace_path, CHECKPOINT_PREFIX):
        # A second run's numbering would interleave with the first's and confuse --resume.
        raise UserError(f"{nw.newest_checkpoint(args.workspace_path, CHECKPOINT_PREFIX)} is "
                        "from an earlier run: pass --resume to continue it, or give this run "
                        "another --workspace_path")
    elif args.pretrained_model != "none":
        folder = nw.find_model_folder(args.workspace_path, args.pretrained_model)
        network, env_config, saved = nw.load_model(folder)
        kind = saved.get("kind")
        meta["pretrained"] = folder
        states = env_wrappers.resolve_states(env_config.game, args.state, env_config.state)
    else:
        game = env_wrappers.resolve_game(args.game or env_wrappers.DEFAULT_GAME)
        env_config = env_wrappers.EnvConfig(game=game)
        states = env_wrappers.resolve_states(game, args.state, None)
        network = nw.create_network(nw.NetworkConfig(num_actions=env_config.num_actions),
                                    env_config.observation_shape, seed=args.seed)
    if args.game and env_wrappers.resolve_game(args.game) != env_config.game:
        raise UserError(f"--game {args.game} differs from the model's game {env_config.game}; "
                        "a model plays the game it was trained on")
    env_wrappers.check_rom(env_config.game)
    env_config = env_config.replace(state=states[0])
    # What is trained on: the flags, else an RL model's own settings, else the game's training
    # defaults (a cloned model never trained on rewards, so its settings were never chosen).
    if kind != "reinforcement":
        env_config = env_config.replace(**env_wrappers.TRAINING_DEFAULTS.get(env_config.game, {}))
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
        anchor = nw.load_model(meta["pretrained"])[0]
    meta["run_name"] = meta["run_name"] or time.strftime("reinforcement_%Y%m%d-%H%M%S")
    return network, env_config, states, meta, anchor


# ----------------------------------------------------------------------------------------------
# The loop


class StopRequest:
    """Set by SIGINT/SIGTERM; the loop finishes its update, saves and tells actors to stop."""

    def __init__(self):
        self.reason = None
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def _handle(self, signum, frame):
        if self.reason is None:  # a second signal (Ctrl-C and the launcher's TERM) changes nothing
            self.reason = signal.Signals(signum).name
            print(f"{self.reason}: stopping after this update, then saving", flush=True)

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
                print(f"no unroll for {QUIET_WARNING_S:.0f} s: are actors running and pointed "
                      "at this learner?", flush=True)
                quiet_since = time.monotonic()
    return True


def save_checkpoint(args, network, env_config, optimizer, meta, states, config):
    path = os.path.join(args.workspace_path, "model", f"{CHECKPOINT_PREFIX}{meta['update']}")
    nw.save_model(path, network, env_config, optimizer=optimizer, metadata={
        "kind": "reinforcement", "update": meta["update"], "frames": meta["frames"],
        "pretrained": meta["pretrained"], "states": states, "run_name": meta["run_name"],
        "learner": dataclasses.asdict(config)})
    print(f"saved {path}", flush=True)


def settings_text(args, config, env_config, states, network, device):
    rows = [("device", device), ("pretrained", args.pretrained_model), ("states", states),
            ("network", dataclasses.asdict(network.config)), ("env", env_config.to_dict())]
    rows += list(dataclasses.asdict(config).items())
    return "| setting | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


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
    print(f"update {meta['update']} | frames {meta['frames']} (received {received}) | "
          f"{fps:.0f} frames/s | {updates_per_s:.2f} updates/s | return {mean_return} | "
          f"lag {lag:.1f} | loss {metrics['losses/total']:.3f} | "
          f"entropy {metrics['charts/entropy']:.2f}", flush=True)
    return {"time": now, "frames": meta["frames"], "update": meta["update"], "returns": []}


def main(argv=None):
    args, config = parse_args(argv)
    stop = StopRequest()
    device = choose_device(args.gpu)
    network, env_config, states, meta, anchor = load_start(args, config)
    optimizer = make_optimizer(network, config)
    if meta["resume_folder"]:
        nw.load_optimizer_state(meta["resume_folder"], optimizer, network.trainable_variables)
    update = make_update(network, optimizer, config, anchor)
    frames_per_unroll = config.unroll_length * env_config.frame_skip
    spec = transport.UnrollSpec(config.unroll_length, network.observation_shape,
                                network.config.num_actions, network.config.lstm_units)
    settings = {"env": env_config.to_dict(), "states": states,
                "network": dataclasses.asdict(network.config),
                "observation_shape": list(network.observation_shape),
                "unroll_length": config.unroll_length}
    try:
        server = transport.LearnerServer(spec, bind=args.bind, queue_size=2 * config.batch_size,
                                         max_workers=64, settings=settings)
    except OSError:
        raise UserError(f"cannot listen on {args.bind}: the port is in use or the address is "
                        "not this machine's; choose another with --bind HOST:PORT") from None
    server.set_parameters(meta["update"], network.get_weights())
    writer = tf.summary.create_file_writer(
        os.path.join(args.workspace_path, "tensorboard", meta["run_name"]))
    with writer.as_default():
        tf.summary.text("settings", settings_text(args, config, env_config, states, network,
                                                  device), step=meta["frames"])
    print(f"training {env_config.game} {states} on the {device}; start: "
          f"{meta['resume_folder'] or meta['pretrained'] or 'from scratch'}; "
          f"TensorBoard run {meta['run_name']}", flush=True)
    print(f"listening on {server.address}", flush=True)

    start_frames, taken, saved_update, first_update = meta["frames"], [], None, True
    window = {"time": time.monotonic(), "frames": meta["frames"], "update": meta["update"],
              "returns": []}
    try:
        while meta["frames"] < config.total_frames and not stop:
            taken = []
            if not take_batch(server.unroll_queue, config.batch_size, stop, taken):
                break
            # Versions behind: how stale the parameters that chose these actions were.
            lag = float(np.mean([meta["update"] - unroll["parameter_version"] for unroll in taken]))
            train_policy = meta["update"] >= config.value_warmup_updates
            metrics = {name: float(value)
                       for name, value in update(stack_unrolls(taken), train_policy).items()}
            meta["update"] += 1
            meta["frames"] += config.batch_size * frames_per_unroll
            server.set_parameters(meta["update"], network.get_weights())
            with writer.as_default(step=meta["frames"]):
                for name, value in metrics.items():
                    tf.summary.scalar(name, value)
                tf.summary.scalar("charts/policy_lag", lag)
                for episode in (episode for unroll in taken for episode in unroll["episodes"]):
                    tf.summary.scalar("charts/episodic_return", episode["episode_return"])
                    tf.summary.scalar("charts/episodic_length", episode["length"])
                    tf.summary.scalar("charts/episodic_frames", episode["frames"])
                    if env_wrappers.is_sonic(env_config.game):
                        tf.summary.scalar("charts/x_progress", episode["x_progress"])
                    window["returns"].append(episode["episode_return"])
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
        print(f"frames received {received}, trained on {meta['frames'] - start_frames}, not "
              f"trained on {left_over * frames_per_unroll} (the run ended with them queued)",
              flush=True)
    print(f"done: {meta['update']} updates, {meta['frames']} frames"
          + (f" (stopped by {stop.reason})" if stop else ""), flush=True)
    return 0


if __name__ == "__main__":
    cli.run(main)
