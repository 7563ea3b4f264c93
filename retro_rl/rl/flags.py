"""The learner's and the actor's command-line flags, in one module so that neither program
imports the other. The launcher hands every flag to both: each program ignores the other's, and
a flag neither knows is an error."""

import dataclasses
import math
import os
from typing import Any, NamedTuple

from retro_rl import cli, fields, tracking
from retro_rl.envs import EnvConfig, games
from retro_rl.errors import UserError
from retro_rl.model import folders
from retro_rl.rl.config import (DEFAULT_BIND, FINE_TUNING_DEFAULTS, PRESETS, LearnerConfig,
                                RunConfig)


def learner_parser():
    parser = cli.ArgumentParser(description="Learner: chooses the actions of the environment "
                                            "workers (actor.py) and trains on what they play.")
    fields.add_flags(parser, RunConfig, describe=fields.help_with_default)
    fields.add_flags(parser, EnvConfig, describe=_env_flag_help)
    fields.add_flags(parser, LearnerConfig, describe=_learner_flag_help)
    return parser


# What the learner makes of an environment flag beyond its EnvConfig field (start.load_start).
_ENV_FLAG_NOTES = {
    "state": "one, a comma-separated list or 'all' (the 18 Sonic 2 acts; every state of other "
             "games); actors sample one per episode",
    "max_episode_steps": "0 is no limit",
}


def _env_flag_help(field):
    """An EnvConfig field's help, with where the learner takes the setting from when the flag
    is left out: a model's settings, the game's training defaults, EnvConfig's defaults."""
    text = fields.help_with_default(field)
    if field.name in _ENV_FLAG_NOTES:
        text += f"; {_ENV_FLAG_NOTES[field.name]}"
    if field.metadata.get("model"):
        return f"from scratch: {text}; a pretrained model keeps its own"
    trained = [f"{fields.shown(values[field.name])} for {game}"
               for game, values in games.TRAINING_DEFAULTS.items() if field.name in values]
    if field.name in games.ALE_TRAINING_DEFAULTS:
        trained.append(f"{fields.shown(games.ALE_TRAINING_DEFAULTS[field.name])} for the ALE's "
                       "Atari games")
    if trained:
        return (f"{text}; left out: an RL model's own, else the game's training default where "
                f"it has one ({', '.join(trained)}); saved with the model")
    return f"{text}; left out: a pretrained model's own; saved with the model"


def _learner_flag_help(field):
    """A LearnerConfig field's help with its defaults from scratch and from a pretrained model
    (the flag's own default is None: parse_learner_args tells a flag given from one left out)."""
    if field.name in FINE_TUNING_DEFAULTS:
        return (f"{field.metadata['help']} (default: {field.default} from scratch, "
                f"{FINE_TUNING_DEFAULTS[field.name]} from a --pretrained_model)")
    return f"{field.metadata['help']} (default: {field.default})"


def actor_parser():
    parser = cli.ArgumentParser(description="Actor: an environment worker that plays one "
                                            "emulator for the learner.")
    add = parser.add_argument
    add("--learner_address", default=DEFAULT_BIND,
        help=f"HOST:PORT of the learner (default {DEFAULT_BIND})")
    add("--actor_id", type=int, default=0,
        help="this worker's number, unique among the run's workers (its log, its seeds)")
    add("--seed", type=int, default=0,
        help="base seed: the environment uses seed + actor_id (the learner seeds the sampling)")
    add("--workspace_path", default=".", help="folder whose logs/ receives actor_<id>.log")
    add("--connect_timeout_s", type=float, default=300.0,
        help="how long each call waits for an unreachable learner before the actor gives up")
    return parser


def _parse_own(parser, other, argv):
    """parser's flags; those only `other` knows are ignored, anything neither knows is an error."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        _, rest = other.parse_known_args(unknown)
        if rest:
            raise UserError(f"unrecognized arguments: {' '.join(rest)} (see --help)")
    return args


class LearnerFlags(NamedTuple):
    """What the learner's command line says: the run's settings; the environment settings
    given, {EnvConfig field: value} (the others come from the model the run starts from, or the
    defaults: start.load_start); the learner's settings; and the lines the learner logs when it
    starts (what --resume changed, why the value warm-up runs or not)."""

    run: RunConfig
    env: dict[str, Any]
    learner: LearnerConfig
    notes: tuple[str, ...] = ()


def parse_learner_args(argv=None):
    """The learner's flags as LearnerFlags. A flag given wins over a preset, which wins over the
    defaults: the saved run's settings with --resume, else the fine-tuning ones from a
    pretrained model, else LearnerConfig's."""
    args = _parse_own(learner_parser(), actor_parser(), argv)
    run = RunConfig(**fields.given_settings(args, RunConfig))
    tracking.check(run.track)
    env = fields.given_settings(args, EnvConfig)
    for name in ("max_episode_steps", "life_loss_penalty"):
        if env.get(name, 0) < 0:
            raise UserError(f"--{name} must be at least 0 (got {env[name]})")
    if "reward_scale" in env and not env["reward_scale"] > 0:
        raise UserError(f"--reward_scale must be positive (got {env['reward_scale']})")
    given = fields.given_settings(args, LearnerConfig)  # a flag left out keeps a default
    preset = PRESETS[run.preset] if run.preset else {}
    notes = []
    if run.resume:
        config, pretrained = _resumed_config(run.workspace_path, run.pretrained_model,
                                             {**preset, **given}, notes)
        run = run.replace(pretrained_model=pretrained)
    elif run.pretrained_model != "none":
        config = LearnerConfig(**{**FINE_TUNING_DEFAULTS, **preset, **given})
        if "value_warmup_updates" not in {**preset, **given}:
            config = _warmup_for_cloned_critic(run, env, config, notes)
    else:
        config = LearnerConfig(**{**preset, **given})
    return LearnerFlags(run, env, config, tuple(notes))


def _newest_checkpoint_config(workspace_path):
    """(folder, config.json) of the newest reinforcement checkpoint whose config reads, or
    (None, None): load_start passes over damaged folders the same way."""
    prefix = folders.REINFORCEMENT_PREFIX
    steps = sorted((int(name[len(prefix):]) for name in folders.list_models(workspace_path)
                    if name.startswith(prefix) and name[len(prefix):].isdigit()), reverse=True)
    for step in steps:
        folder = folders.checkpoint_path(workspace_path, prefix, step)
        try:
            return folder, folders.read_config(folder)
        except UserError:
            continue
    return None, None


def _resumed_config(workspace_path, pretrained_model, overrides, notes):
    """(the saved run's LearnerConfig with the flags given (`overrides`) over it, the saved
    run's pretrained model or "none"); adds a line to `notes`. A flag that would make it another
    run (another algorithm, RND on or off, another pretrained model) is a UserError."""
    folder, saved = _newest_checkpoint_config(workspace_path)
    if folder is None:
        raise UserError(f"--resume: no {folders.REINFORCEMENT_PREFIX}<update> folder under "
                        f"{folders.models_folder(workspace_path)}; start without it")
    pretrained = saved.get("pretrained")
    if pretrained_model != "none" and (
            folders.find_model_folder(workspace_path, pretrained_model)
            != (pretrained and os.path.abspath(pretrained))):
        raise UserError(f"--pretrained_model {pretrained_model}: the run in {folder} "
                        f"started from {pretrained or 'scratch'}; --resume continues it, leave "
                        "the flag out")
    pretrained = pretrained or "none"
    names = [field.name for field in dataclasses.fields(LearnerConfig)]
    learner = saved.get("learner")
    if not isinstance(learner, dict):
        notes.append(f"--resume: {folder} has no saved learner settings; the flags and the "
                     "defaults apply")
        return LearnerConfig(**overrides), pretrained
    try:
        before = LearnerConfig(**{name: learner[name] for name in names if name in learner})
    except (UserError, TypeError) as error:
        raise UserError(f"{os.path.join(folder, folders.CONFIG_FILE)} holds learner settings "
                        f"this version cannot use ({error})") from None
    config = dataclasses.replace(before, **overrides)
    if config.algorithm != before.algorithm:
        raise UserError(f"--algorithm {config.algorithm}: the run in {folder} trains with "
                        f"{before.algorithm}; --resume continues it (start another run in "
                        "another --workspace_path to change the algorithm)")
    if (config.rnd_coef > 0) != (before.rnd_coef > 0):
        raise UserError(f"--rnd_coef {config.rnd_coef}: the run in {folder} trains with "
                        f"rnd_coef {before.rnd_coef}; turning RND on or off changes the "
                        "network (its intrinsic value head), so --resume refuses it")
    changes = [f"{name} {getattr(before, name)} -> {getattr(config, name)}" for name in names
               if getattr(config, name) != getattr(before, name)]
    notes.append(
        f"--resume: the settings of {folder} ({before.algorithm}"
        f"{' + RND' if before.rnd_coef > 0 else ''}, learning_rate {before.learning_rate}, "
        f"discount {before.discount}); changed by flags: {', '.join(changes) or 'none'}")
    return config, pretrained


def _warmup_for_cloned_critic(run, env, config, notes):
    """`config` without the value warm-up where the pretrained model's value head learnt the
    demonstrations' returns (bc/values.py) of this run's reward and discount (`env`: the
    environment flags given); a line in `notes` says which it is. Returns `config` as it is for
    a model without a cloned critic."""
    try:
        folder = folders.find_model_folder(run.workspace_path, run.pretrained_model)
        saved = folders.read_config(folder)
        env_config = folders.read_env_config(folder)
    except UserError:
        return config  # the learner says what is wrong with it when it loads it
    targets = saved.get("value_targets")
    if not isinstance(targets, dict):
        return config
    # The reward the run trains on, as load_start decides it: a flag, else an RL model's own
    # settings, else the game's training defaults.
    if saved.get("kind") != "reinforcement":
        env_config = env_config.with_training_defaults()
    trained = {"discount": config.discount,
               "reward_scale": env.get("reward_scale", env_config.reward_scale),
               "life_loss_penalty": env.get("life_loss_penalty", env_config.life_loss_penalty)}
    differ = [f"{name} {targets.get(name)} (this run: {value})"
              for name, value in trained.items()
              if not isinstance(targets.get(name), (int, float))
              or not math.isclose(targets[name], value)]
    if differ:
        notes.append(f"value warm-up of {config.value_warmup_updates} updates: the "
                     f"pretrained model's value head learnt returns of another reward: "
                     f"{', '.join(differ)}")
        return config
    notes.append("no value warm-up: the pretrained model's value head learnt the returns of "
                 "this run's reward and discount")
    return dataclasses.replace(config, value_warmup_updates=0)


def parse_actor_args(argv=None):
    args = _parse_own(actor_parser(), learner_parser(), argv)
    if args.actor_id < 0 or args.connect_timeout_s <= 0:
        raise UserError("--actor_id must be at least 0 and --connect_timeout_s positive")
    return args
