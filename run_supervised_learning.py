"""Behaviour cloning: a CNN-LSTM policy learns to choose the action a demonstrator chose.

    python run_supervised_learning.py                       # the shipped Airstriker demonstrations
    python run_supervised_learning.py --replay_path my_movies --workspace_path runs/mine
    python run_supervised_learning.py --resume              # continue from the newest checkpoint

The movies are replayed once into a dataset (replay_parser's cache: later runs reuse it), split
by movie into training and validation, and streamed as sequences of `--seq_len` agent steps in
`--batch_size` lanes whose LSTM state carries over from one chunk to the next (sl_data.py).
Writes, under --workspace_path: model/supervised_model_<step> (every --save_every steps and at
the end), tensorboard/<run name>/ and image/supervised_learning.png.
"""

import argparse
import os
import pathlib
import shlex
import time

# TensorFlow's C++ start-up chatter (CPU features) is not for users.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
import tqdm  # noqa: E402

import cli  # noqa: E402
import env_wrappers  # noqa: E402
import network as nw  # noqa: E402
import replay_parser  # noqa: E402
import sl_data  # noqa: E402

REPOSITORY = pathlib.Path(__file__).resolve().parent
DEFAULT_REPLAY_PATH = f"demos/{env_wrappers.DEFAULT_GAME}"
CHECKPOINT_PREFIX = "supervised_model_"
# Settings a checkpoint must share with a run that resumes it (they shape the network's inputs
# and outputs); training settings such as the learning rate may change.
OBSERVATION_SETTINGS = ("frame_skip", "obs_size", "grayscale", "action_set")
NETWORK_SETTINGS = ("torso", "lstm_units", "use_prev_action", "use_prev_reward")


def build_parser():
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace_path", default=".",
                        help="folder that gets model/, tensorboard/, image/ (and datasets/)")
    parser.add_argument("--replay_path", default=None,
                        help="folder of .bk2 demonstration movies (searched recursively), or one "
                             f"movie (default: {DEFAULT_REPLAY_PATH} in this repository)")
    parser.add_argument("--dataset_path", default=None,
                        help="where the parsed movies are cached (default: <workspace>/datasets/"
                             "<replay folder name>_<observation settings>)")
    env_wrappers.add_observation_flags(parser)
    parser.add_argument("--workers", type=int, default=2,
                        help="movies replayed in parallel when parsing, one emulator process each")
    parser.add_argument("--torso", default="nature", choices=("nature", "impala"),
                        help="image network: Nature-DQN convolutions or IMPALA's residual network")
    parser.add_argument("--lstm_units", type=int, default=256, help="LSTM size")
    parser.add_argument("--use_prev_action", action=argparse.BooleanOptionalAction, default=False,
                        help="feed the previous action to the LSTM (a demonstrator repeats itself, "
                             "so a cloned policy may learn to copy instead of to look)")
    parser.add_argument("--use_prev_reward", action=argparse.BooleanOptionalAction, default=False,
                        help="feed the previous reward to the LSTM")
    parser.add_argument("--batch_size", type=int, default=32,
                        help="lanes: sequences trained on at once, each streaming whole movies")
    parser.add_argument("--seq_len", type=int, default=20,
                        help="agent steps per chunk (truncated back-propagation through time; "
                             "the LSTM state still carries across chunks)")
    parser.add_argument("--learning_rate", type=float, default=1e-3, help="Adam's learning rate")
    parser.add_argument("--lr_schedule", default="cosine", choices=("cosine", "constant"),
                        help="cosine: decay to a tenth of --learning_rate by --training_steps")
    parser.add_argument("--training_steps", type=int, default=2500,
                        help="optimizer steps to train to (counting a resumed model's steps)")
    parser.add_argument("--save_every", type=int, default=1000,
                        help="write a checkpoint every this many steps (and at the end)")
    parser.add_argument("--log_every", type=int, default=50,
                        help="write training metrics every this many steps")
    parser.add_argument("--eval_every", type=int, default=250,
                        help="score the validation movies every this many steps (and at the end)")
    parser.add_argument("--val_fraction", type=float, default=0.1,
                        help="share of the movies held out for validation (whole movies; at least "
                             "one when > 0 and there are two or more movies)")
    parser.add_argument("--seed", type=int, default=1,
                        help="seed of the initial weights, the validation split and the data order")
    parser.add_argument("--resume", action="store_true",
                        help="continue the newest model/supervised_model_<step> with its optimizer "
                             "state and step count (its observation and network settings must "
                             "match)")
    return parser


def parse_args(argv=None):
    args = build_parser().parse_args(argv)
    args.replay_path = args.replay_path or str(REPOSITORY / DEFAULT_REPLAY_PATH)
    for name in ("batch_size", "seq_len", "training_steps", "save_every", "log_every",
                 "eval_every", "workers"):
        if getattr(args, name) < 1:
            raise cli.UserError(f"--{name} must be at least 1 (got {getattr(args, name)})")
    if not args.learning_rate > 0:
        raise cli.UserError(f"--learning_rate must be positive (got {args.learning_rate})")
    if not 0 <= args.val_fraction < 1:
        raise cli.UserError(f"--val_fraction must be in [0, 1) (got {args.val_fraction})")
    return args


def learning_rate_at(step, args):
    if args.lr_schedule == "constant":
        return args.learning_rate
    progress = min(step / args.training_steps, 1.0)
    return args.learning_rate * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * progress)))


def check_resume(checkpoint, settings):
    """Refuses to resume `checkpoint` with other observation or network settings."""
    config = nw.read_config(checkpoint)
    saved = dict(config["env"], **config["network"])
    differences = [f"{name}={saved.get(name)!r} (this run: {value!r})"
                   for name, value in settings.items() if saved.get(name) != value]
    if differences:
        raise cli.UserError(
            f"cannot resume {checkpoint}: it was trained with {', '.join(differences)}; "
            "pass its settings again, or train from scratch without --resume")
    return config


def build_learner(network_config, observation_shape, learning_rate, seed, checkpoint=None):
    """The network, its Adam optimizer, the variables trained, and the step to start from: fresh
    (seeded), or exactly as `checkpoint` left them (weights, optimizer moments, iterations)."""
    if checkpoint:
        network, _, config = nw.load_model(checkpoint)
    else:
        network = nw.create_network(network_config, observation_shape, seed=seed)
    # The value head is for reinforcement learning: no gradient reaches it from cross-entropy.
    variables = network.policy_variables
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build(variables)
    if not checkpoint:
        return network, optimizer, variables, 0
    if not nw.load_optimizer_state(checkpoint, optimizer, variables):
        raise cli.UserError(f"{checkpoint} has no optimizer state to resume; train from scratch "
                            "without --resume")
    return network, optimizer, variables, int(config["step"])


def masked_cross_entropy(logits, labels, mask):
    """Mean cross-entropy over the unmasked steps: logits [T, B, A], labels and mask [T, B]."""
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    weights = tf.cast(mask, tf.float32)
    return tf.reduce_sum(losses * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


def make_train_step(network, optimizer, variables):
    """One optimizer step on a sl_data.Batch from LSTM state (h, c); returns the loss, the
    confusion counts [A, A] of the greedy predictions, and the state for the lane's next chunk."""
    num_actions = network.config.num_actions

    @tf.function
    def train_step(batch, state):
        with tf.GradientTape() as tape:
            logits, _, state = network.unroll(batch.observations, batch.episode_start,
                                              batch.prev_actions, batch.prev_rewards, state)
            loss = masked_cross_entropy(logits, batch.actions, batch.mask)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        confusion = tf.math.confusion_matrix(
            tf.reshape(batch.actions, [-1]), tf.reshape(tf.argmax(logits, -1), [-1]),
            num_actions, weights=tf.reshape(tf.cast(batch.mask, tf.int64), [-1]), dtype=tf.int64)
        # The next chunk continues these sequences: no gradient flows back into this one.
        return loss, confusion, tuple(tf.stop_gradient(s) for s in state)

    return train_step


def evaluate(network, movies, batch_size, seq_len):
    """Scores the network on every step of `movies` (sl_data.Movies), each movie streamed from
    its first step with the state carried between chunks, as when it plays.
    Returns {"cross_entropy", "accuracy", "balanced_accuracy", "confusion" [A, A]}."""
    num_actions = network.config.num_actions
    loss_sum, steps, state = 0.0, 0, None
    confusion = np.zeros((num_actions, num_actions), np.int64)
    for batch in sl_data.evaluation_batches(movies, batch_size, seq_len):
        if state is None:
            state = network.initial_state(batch.mask.shape[1])
        losses, predictions, state = _evaluation_step(network, batch, state)
        loss_sum += float(losses.numpy()[batch.mask].sum())
        steps += int(batch.mask.sum())
        confusion += sl_data.confusion_counts(batch.actions, predictions.numpy(), batch.mask,
                                              num_actions)
    return {"cross_entropy": loss_sum / max(steps, 1), "accuracy": sl_data.accuracy(confusion),
            "balanced_accuracy": sl_data.balanced_accuracy(confusion), "confusion": confusion}


@tf.function
def _evaluation_step(network, batch, state):
    """Per-step cross-entropy [T, B], greedy predictions [T, B] and the next state."""
    logits, _, state = network.unroll(batch.observations, batch.episode_start,
                                      batch.prev_actions, batch.prev_rewards, state)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=batch.actions, logits=logits)
    return losses, tf.argmax(logits, -1, output_type=tf.int32), state


def main(argv=None):
    args = parse_args(argv)
    workspace = pathlib.Path(args.workspace_path)
    settings_name = (f"fs{args.frame_skip}_obs{args.obs_size}_"
                     f"{'gray' if args.grayscale else 'rgb'}_{args.action_set}")
    dataset_path = pathlib.Path(args.dataset_path or workspace / "datasets" / (
        f"{pathlib.Path(args.replay_path).resolve().name}_{settings_name}"))
    wanted = {name: getattr(args, name) for name in OBSERVATION_SETTINGS + NETWORK_SETTINGS}
    checkpoint, resumed = None, {}
    if args.resume:
        checkpoint = nw.newest_checkpoint(workspace, CHECKPOINT_PREFIX)
        if checkpoint is None:
            raise cli.UserError(f"nothing to resume: {workspace / 'model'} holds no "
                                f"{CHECKPOINT_PREFIX}<step>; run without --resume")
        resumed = check_resume(checkpoint, wanted)

    # Data: parse the movies once (cached), split by movie, stream sequences.
    sl_data.check_movies(args.replay_path)
    replay_parser.parse_movies(args.replay_path, dataset_path, args.frame_skip, args.obs_size,
                               args.grayscale, args.action_set, args.workers, progress=True)
    parsed = replay_parser.dataset_settings(dataset_path)
    env_config = env_wrappers.EnvConfig(game=parsed["game"], **{
        name: parsed[name] for name in OBSERVATION_SETTINGS})
    if resumed and resumed["env"]["game"] != env_config.game:
        raise cli.UserError(f"cannot resume {checkpoint}: it plays {resumed['env']['game']}, "
                            f"but {dataset_path} holds {env_config.game} movies")
    episodes = replay_parser.load_dataset(dataset_path)
    train_episodes, val_episodes = sl_data.split_by_movie(
        episodes, args.val_fraction, args.seed, resumed.get("val_movies"))
    if not train_episodes:
        raise cli.UserError("every movie is held out for validation; lower --val_fraction")
    train_movies = sl_data.Movies(train_episodes)
    val_movies = sl_data.Movies(val_episodes) if val_episodes else None
    del episodes, train_episodes, val_episodes  # the Movies hold the only copy we need
    print(f"{len(train_movies)} training movies ({train_movies.num_steps} steps), "
          f"{len(val_movies) if val_movies else 0} validation movies "
          f"({val_movies.num_steps if val_movies else 0} steps)")

    # Network and optimizer (restored with the step count when resuming).
    network_config = nw.NetworkConfig(
        num_actions=env_config.num_actions, **{name: wanted[name] for name in NETWORK_SETTINGS})
    network, optimizer, variables, start_step = build_learner(
        network_config, env_config.observation_shape, args.learning_rate, args.seed, checkpoint)
    if checkpoint:
        print(f"resuming {checkpoint} at step {start_step}")
    train_step = make_train_step(network, optimizer, variables)

    # Logging.
    run_name = resumed.get("run_name") or (
        f"supervised_{env_config.game}_{args.seed}_{time.strftime('%Y%m%d-%H%M%S')}")
    curves = resumed.get("curves") or {"train": [], "val": []}
    writer = tf.summary.create_file_writer(str(workspace / "tensorboard" / run_name))
    writer.set_as_default()
    table = {**vars(args), "dataset_path": str(dataset_path), "game": env_config.game,
             "train_movies": len(train_movies), "val_movies": len(val_movies or [])}
    tf.summary.text("settings", "|setting|value|\n|-|-|\n" + "\n".join(
        f"|{key}|{value}|" for key, value in table.items()), step=start_step)
    names = env_wrappers.action_names(env_config.action_set)

    def save(step):
        path = workspace / "model" / f"{CHECKPOINT_PREFIX}{step}"
        metadata = {"kind": "supervised", "step": step, "dataset": str(dataset_path),
                    "replay_path": str(args.replay_path), "run_name": run_name,
                    "training": {k: getattr(args, k) for k in (
                        "batch_size", "seq_len", "learning_rate", "lr_schedule", "seed")},
                    "val_movies": list(val_movies.names) if val_movies else [],
                    "curves": curves}
        nw.save_model(path, network, env_config, metadata, optimizer)
        return path

    # The loop.
    stream = sl_data.LaneStream(train_movies, args.batch_size, args.seq_len, args.seed + start_step)
    batches = iter(sl_data.training_dataset(stream, env_config.observation_shape))
    state = network.initial_state(args.batch_size)
    frames_per_step = args.batch_size * args.seq_len
    confusion = np.zeros((env_config.num_actions,) * 2, np.int64)
    loss_sum, interval_steps, train_seconds = 0.0, 0, 0.0
    postfix = {}
    bar = tqdm.tqdm(total=args.training_steps, initial=start_step, desc="training", unit="step")

    def validate(step):
        metrics = evaluate(network, val_movies, args.batch_size, args.seq_len)
        sl_data.write_metrics("val", metrics, metrics.pop("confusion"), step, names)
        curves["val"].append({"step": step, **metrics})
        postfix.update(val_loss=f"{metrics['cross_entropy']:.3f}",
                       val_acc=f"{metrics['accuracy']:.3f}")
        bar.set_postfix(postfix)

    if val_movies and start_step == 0:
        validate(0)  # the untrained network's score: where the curves start
    step = start_step
    for step in range(start_step + 1, args.training_steps + 1):
        started = time.perf_counter()
        learning_rate = learning_rate_at(step - 1, args)
        optimizer.learning_rate.assign(learning_rate)
        loss, batch_confusion, state = train_step(next(batches), state)
        confusion += batch_confusion.numpy()
        loss_sum += float(loss)
        interval_steps += 1
        train_seconds += time.perf_counter() - started
        bar.update(1)

        if step % args.log_every == 0 or step == args.training_steps:
            metrics = {"cross_entropy": loss_sum / interval_steps,
                       "accuracy": sl_data.accuracy(confusion),
                       "balanced_accuracy": sl_data.balanced_accuracy(confusion)}
            sl_data.write_metrics("train", metrics, confusion, step, names)
            tf.summary.scalar("charts/learning_rate", learning_rate, step)
            tf.summary.scalar("charts/frames_per_second",
                              interval_steps * frames_per_step / train_seconds, step)
            tf.summary.scalar("charts/epochs",
                              step * frames_per_step / train_movies.num_steps, step)
            curves["train"].append({"step": step, **metrics})
            postfix.update(loss=f"{metrics['cross_entropy']:.3f}", acc=f"{metrics['accuracy']:.3f}")
            bar.set_postfix(postfix)
            confusion[:] = 0
            loss_sum, interval_steps, train_seconds = 0.0, 0, 0.0

        if val_movies and (step % args.eval_every == 0 or step == args.training_steps):
            validate(step)

        if step % args.save_every == 0 or step == args.training_steps:
            save(step)
    bar.close()
    writer.flush()

    final = workspace / "model" / f"{CHECKPOINT_PREFIX}{step}"
    if start_step >= args.training_steps:
        print(f"{checkpoint} is already at step {start_step}; raise --training_steps to go on")
    sl_data.plot_curves(curves, str(workspace / "image" / "supervised_learning.png"))
    for split in ("train", "val"):
        if curves[split]:
            last = curves[split][-1]
            print(f"{split}: cross-entropy {last['cross_entropy']:.3f}, accuracy "
                  f"{last['accuracy']:.3f}, balanced accuracy {last['balanced_accuracy']:.3f}")
    print(f"saved {final}\nevaluate it with:\n  python run_evaluation.py --workspace_path "
          f"{shlex.quote(args.workspace_path)} --model_name {CHECKPOINT_PREFIX}{step}")
    return 0


if __name__ == "__main__":
    cli.run(main)
