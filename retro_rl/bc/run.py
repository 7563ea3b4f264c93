"""A whole behaviour-cloning run: the movies parsed once into a dataset (cached), split by movie
into training and validation, streamed in lanes, trained, validated and checkpointed.

Writes, under the workspace: model/supervised_model_<step> (every `save_every` steps and at the
end), tensorboard/<run name>/ and image/supervised_learning.png.
"""

import dataclasses
import pathlib
import time

import tensorflow as tf
import tqdm

from retro_rl import fileio, summaries
from retro_rl.bc import data, metrics, train, values
from retro_rl.bc.config import BCConfig
from retro_rl.demos import dataset, movies, parsing
from retro_rl.envs import EnvConfig, games
from retro_rl.envs.config import OBSERVATION_SETTINGS
from retro_rl.envs.actions import action_names
from retro_rl.errors import UserError
from retro_rl.model import checkpoints, folders
from retro_rl.model.config import NetworkConfig
from retro_rl.tracking import Tracking

CURVES_IMAGE = "image/supervised_learning.png"


def train_model(config: BCConfig) -> str:
    """Runs behaviour cloning; returns the path of the final checkpoint."""
    if config.action_set is None:  # the table of the movies' platform
        game = movies.replay_game(config.replay_path) or games.DEFAULT_GAME
        config = dataclasses.replace(config, action_set=games.default_action_set(game))
    workspace = pathlib.Path(config.workspace_path)
    dataset_path = pathlib.Path(config.dataset_path or config.default_dataset_path())
    wanted = {name: getattr(config, name)
              for name in OBSERVATION_SETTINGS + train.NETWORK_SETTINGS}
    for folder in ("model", "tensorboard", "image", dataset_path.parent):
        fileio.check_writable(workspace / folder)
    fileio.remove_stale_temporaries(folders.models_folder(workspace))
    checkpoint, resumed = resumed_checkpoint(config, workspace, wanted)
    env_config, train_movies, val_movies, reward_settings = load_movies(
        config, dataset_path, checkpoint, resumed)

    # Network and optimizer (restored with the step count when resuming).
    network_config = NetworkConfig(
        num_actions=env_config.num_actions,
        **{name: wanted[name] for name in train.NETWORK_SETTINGS})
    network, optimizer, variables, start_step = train.build_learner(
        network_config, env_config.observation_shape, config.learning_rate, config.seed,
        checkpoint, train_value=reward_settings is not None)
    if checkpoint:
        print(f"resuming {checkpoint} at step {start_step}")
    train_step = train.make_train_step(network, optimizer, variables, config.value_cost)

    # Logging.
    run_name = resumed.get("run_name") or (
        f"supervised_{env_config.game}_{config.seed}_{time.strftime('%Y%m%d-%H%M%S')}")
    curves = resumed.get("curves") or {"train": [], "val": []}
    run_settings = {
        **dataclasses.asdict(config), "dataset_path": str(dataset_path), "game": env_config.game,
        "train_movies": len(train_movies), "val_movies": len(val_movies or [])}
    tracked = None
    if config.track:  # before the writer, whose scalars it syncs
        tracked = Tracking(workspace, run_name, run_settings, config.wandb_project,
                           config.wandb_entity)
        print(f"tracking: Weights & Biases run {tracked.where}")
    writer = tf.summary.create_file_writer(str(workspace / "tensorboard" / run_name))
    writer.set_as_default()
    summaries.write_settings(run_settings, step=start_step)
    names = action_names(env_config.action_set)

    def save(step):
        path = folders.checkpoint_path(workspace, folders.SUPERVISED_PREFIX, step)
        metadata = {"kind": "supervised", "step": step, "dataset": str(dataset_path),
                    "replay_path": str(config.replay_path), "run_name": run_name,
                    "training": {k: getattr(config, k) for k in (
                        "batch_size", "seq_len", "learning_rate", "lr_schedule", "seed")},
                    "val_movies": list(val_movies.names) if val_movies else [],
                    "value_targets": dataclasses.asdict(reward_settings) if reward_settings
                    else None,
                    "curves": curves}
        try:
            checkpoints.save_model(path, network, env_config, metadata, optimizer)
        except checkpoints.NonFiniteWeights:
            raise UserError(f"the weights hold NaN or infinity at step {step}: the learning "
                            "rate may be too high; nothing was saved") from None
        return path

    # The loop.
    stream = data.LaneStream(train_movies, config.batch_size, config.seq_len,
                             config.seed + start_step)
    batches = iter(data.training_dataset(stream, env_config.observation_shape))
    state = network.initial_state(config.batch_size)
    frames_per_step = config.batch_size * config.seq_len
    interval = metrics.Interval(env_config.num_actions, frames_per_step,
                                with_values=reward_settings is not None)
    postfix: dict[str, str] = {}
    bar = tqdm.tqdm(total=config.training_steps, initial=start_step, desc="training",
                    unit="step")

    def validate(step):
        scores = train.evaluate(network, val_movies, config.batch_size, config.seq_len)
        metrics.write_metrics("val", scores, scores.pop("confusion"), step, names)
        curves["val"].append({"step": step, **scores})
        postfix.update(val_loss=f"{scores['cross_entropy']:.3f}",
                       val_acc=f"{scores['accuracy']:.3f}")
        if reward_settings is not None:
            postfix.update(val_ev=f"{scores['explained_variance']:.2f}")
        bar.set_postfix(postfix)

    if val_movies and start_step == 0:
        validate(0)  # the untrained network's score: where the curves start
    step = saved = start_step
    try:
        for step in range(start_step + 1, config.training_steps + 1):
            started = time.perf_counter()
            learning_rate = train.learning_rate_at(step - 1, config.learning_rate,
                                                   config.training_steps, config.lr_schedule)
            optimizer.learning_rate.assign(learning_rate)
            loss, value_loss, batch_confusion, state = train_step(next(batches), state)
            interval.add(loss, value_loss, batch_confusion.numpy(),
                         time.perf_counter() - started)
            bar.update(1)

            if step % config.log_every == 0 or step == config.training_steps:
                scores, confusion, frames_per_second = interval.scores()
                metrics.write_metrics("train", scores, confusion, step, names)
                tf.summary.scalar("charts/learning_rate", learning_rate, step)
                tf.summary.scalar("charts/frames_per_second", frames_per_second, step)
                tf.summary.scalar("charts/epochs",
                                  step * frames_per_step / train_movies.num_steps, step)
                curves["train"].append({"step": step, **scores})
                postfix.update(loss=f"{scores['cross_entropy']:.3f}",
                               acc=f"{scores['accuracy']:.3f}")
                bar.set_postfix(postfix)

            if val_movies and (step % config.eval_every == 0 or step == config.training_steps):
                validate(step)

            if step % config.save_every == 0 or step == config.training_steps:
                save(step)
                saved = step
    except KeyboardInterrupt:
        # Ctrl-C keeps what was learnt: the steps since the last checkpoint are saved first,
        # counted by the optimizer (a train step is whole or not taken).
        last = int(optimizer.iterations.numpy())
        if last > saved:
            bar.close()
            print(f"interrupted: saving {save(last)} before stopping")
        raise
    finally:
        if tracked is not None:
            writer.flush()  # the last scalars reach the tracked run before it ends
            tracked.finish()
    bar.close()
    writer.flush()

    if start_step >= config.training_steps:
        print(f"{checkpoint} is already at step {start_step}; raise --training_steps to go on")
    metrics.plot_curves(curves, str(workspace / CURVES_IMAGE))
    metrics.print_last_scores(curves)
    return folders.checkpoint_path(workspace, folders.SUPERVISED_PREFIX, step)


def resumed_checkpoint(config, workspace, wanted):
    """(the newest loadable checkpoint, its saved run) with --resume, checked against the
    settings `wanted`; (None, {}) without."""
    if not config.resume:
        return None, {}
    checkpoint, _ = checkpoints.newest_loadable_checkpoint(
        workspace, folders.SUPERVISED_PREFIX,
        lambda path: checkpoints.load_checkpoint(path, "step"))
    if checkpoint is None:
        raise UserError(f"nothing to resume: {folders.models_folder(workspace)} holds "
                        f"no {folders.SUPERVISED_PREFIX}<step> that loads; run without "
                        "--resume")
    return checkpoint, train.check_resume(checkpoint, wanted)


def load_movies(config, dataset_path, checkpoint, resumed):
    """The movies parsed once (cached) and split by movie: (env_config, training Movies,
    validation Movies or None, the critic's reward settings or None)."""
    movies.check_movies(config.replay_path)
    parsing.parse_movies(config.replay_path, dataset_path, config.frame_skip, config.obs_size,
                         config.grayscale, config.action_set, config.workers, progress=True)
    parsed = dataset.dataset_settings(dataset_path)
    env_config = EnvConfig(game=parsed["game"], **{
        name: parsed[name] for name in OBSERVATION_SETTINGS})
    if resumed and resumed["env"]["game"] != env_config.game:
        raise UserError(f"cannot resume {checkpoint}: it plays {resumed['env']['game']}, "
                        f"but {dataset_path} holds {env_config.game} movies")
    episodes = dataset.load_dataset(dataset_path)
    train_episodes, val_episodes = data.split_by_movie(
        episodes, config.val_fraction, config.seed, resumed.get("val_movies"))
    if not train_episodes:
        raise UserError("every movie is held out for validation; lower --val_fraction")
    # The critic learns the returns of the reward the learner will train on (the game's
    # training defaults, --value_discount), so that fine-tuning starts with one; they are saved
    # as value_targets, which the learner compares with its run's before it trusts the critic.
    reward_settings = None
    if config.value_cost > 0:
        trained_on = env_config.with_training_defaults()
        reward_settings = values.RewardSettings(trained_on.reward_scale,
                                                trained_on.life_loss_penalty,
                                                config.value_discount)
    train_movies = data.Movies(train_episodes, reward_settings)
    val_movies = data.Movies(val_episodes, reward_settings) if val_episodes else None
    print(f"{len(train_movies)} training movies ({train_movies.num_steps} steps), "
          f"{len(val_movies) if val_movies else 0} validation movies "
          f"({val_movies.num_steps if val_movies else 0} steps)")
    return env_config, train_movies, val_movies, reward_settings
