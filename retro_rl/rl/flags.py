"""The learner's and the actor's command-line flags, in one module so that neither program
imports the other. The launcher hands every flag to both: each program ignores the other's, and
a flag neither knows is an error."""

import argparse
import dataclasses

from retro_rl import cli, tracking
from retro_rl.envs import games
from retro_rl.model import folders
from retro_rl.errors import UserError
from retro_rl.rl.config import (ALGORITHMS, DEFAULT_BIND, FINE_TUNING_DEFAULTS, PRESETS,
                                LearnerConfig)


def learner_parser():
    parser = cli.ArgumentParser(description="Learner: chooses the actions of the environment "
                                            "workers (actor.py) and trains on what they play.")
    add = parser.add_argument
    add("--workspace_path", default=".", help="folder for model/, tensorboard/ and logs/")
    add("--pretrained_model", default="none",
        help="model folder to start from: a name under <workspace>/model/ or a path; 'none' "
             "starts from scratch with --game/--state and default settings")
    add("--resume", action="store_true",
        help="continue from the newest <workspace>/model/reinforcement_model_<update>; give "
             "the --pretrained_model of the run it continues, which decides the defaults")
    add("--game", default=None, help=f"stable-retro game id (default: the pretrained model's, "
                                     f"else {games.DEFAULT_GAME})")
    add("--state", default=None,
        help="start state(s): one, a comma-separated list or 'all' (the 18 Sonic 2 acts; every "
             "state of other games); actors sample one per episode. Default: the model's")
    add("--grayscale", action="store_true",
        help="from scratch: one grey channel per observation instead of RGB (a model keeps "
             "its own)")
    add("--frame_stack", type=int, default=None,
        help="from scratch: observations stack this many last frames (default 1; a model "
             "keeps its own)")
    add("--sticky_action_prob", type=float, default=None,
        help="chance per frame of repeating the previous frame's buttons, 0.25 the ALE's "
             "recommendation for Atari games; saved with the model (default: a model's own, "
             "else 0)")
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
    add("--stall_steps", type=int, default=None,
        help="cut off an episode whose screen shows no more than two images for this many "
             "agent steps, saved with the model (default: the game's, 150 on Airstriker, else "
             "off; 0 is off)")
    add("--level_end", action=argparse.BooleanOptionalAction, default=None,
        help="end the workers' episodes where the level is beaten, saved with the model "
             "(default: on, or an RL model's own); --no-level_end plays on past it")
    add("--demo_starts", default=None,
        help="demonstrations to start episodes along: .bk2 movies, folders of them, or a parsed "
             "dataset (its movies); workers start --demo_start_fraction of their episodes from "
             "a state sampled uniformly along them (evaluation always starts at the game's start)")
    add("--demo_start_fraction", type=float, default=None,
        help="share of the workers' episodes that start along --demo_starts (default: 0.5 "
             "with --demo_starts, else 0)")
    add("--bind", default=DEFAULT_BIND,
        help="HOST:PORT to listen on; 0.0.0.0:PORT accepts actors on other machines (trusted "
             "networks only: the channel is not encrypted); port 0 picks a free one")
    add("--gpu", type=int, choices=(0, 1), default=0, help="1: train on the GPU if there is one")
    add("--tf_threads", type=int, default=0,
        help="TensorFlow's threads per operation (0: its own choice, every core). Where the "
             "workers keep the cores busy, fewer threads waste less: on 2 cores with 8 workers, "
             "1 thread costs ~25%% less CPU per step than 2. The launcher passes the cores "
             "left over by the workers, at least 1")
    add("--run_name", default=None,
        help="TensorBoard run folder (default: reinforcement_<date-time>; --resume continues "
             "the checkpoint's)")
    add("--seed", type=int, default=0, help="seeds a from-scratch network's initial weights")
    add("--workers", type=int, default=0,
        help="the number of workers the run starts (the launcher passes its number of envs): "
             "a2c and ppo begin their first round once this many have joined; 0 begins with "
             "the first")
    add("--preset", default=None, choices=sorted(PRESETS),
        help="the learner settings of a published system (a2c_sonic: baselines' A2C on the "
             "Sonic contest; ppo_rnd: Burda et al.'s PPO with RND); flags given beside it win")
    tracking.add_flags(parser)
    for field in dataclasses.fields(LearnerConfig):
        # None: left out, so that parse_learner_args can tell a given flag from a default.
        text = field.metadata["help"]
        if field.name in FINE_TUNING_DEFAULTS:
            text += (f" (default: {field.default} from scratch, "
                     f"{FINE_TUNING_DEFAULTS[field.name]} from a --pretrained_model)")
        else:
            text += f" (default: {field.default})"
        add(f"--{field.name}", type=type(field.default), default=None, help=text,
            choices=ALGORITHMS if field.name == "algorithm" else None)
    return parser


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


def parse_learner_args(argv=None):
    """Returns (args, LearnerConfig): the fine-tuning defaults apply from a pretrained model,
    a flag given wins over any default."""
    args = _parse_own(learner_parser(), actor_parser(), argv)
    tracking.check(args.track)
    given = {field.name: getattr(args, field.name) for field in dataclasses.fields(LearnerConfig)
             if getattr(args, field.name) is not None}  # a flag left out keeps a default
    defaults = dict(FINE_TUNING_DEFAULTS) if args.pretrained_model != "none" else {}
    if defaults and _has_cloned_critic(args.workspace_path, args.pretrained_model):
        defaults["value_warmup_updates"] = 0  # its value head already knows the returns
    preset = PRESETS[args.preset] if args.preset else {}
    config = LearnerConfig(**{**defaults, **preset, **given})
    if args.max_episode_steps is not None and args.max_episode_steps < 0:
        raise UserError(f"--max_episode_steps must be at least 0 (got {args.max_episode_steps})")
    if args.life_loss_penalty is not None and args.life_loss_penalty < 0:
        raise UserError(f"--life_loss_penalty must be at least 0 (got {args.life_loss_penalty})")
    if args.reward_scale is not None and not args.reward_scale > 0:
        raise UserError(f"--reward_scale must be positive (got {args.reward_scale})")
    if args.demo_start_fraction is None:
        args.demo_start_fraction = 0.5 if args.demo_starts else 0.0
    if not 0 <= args.demo_start_fraction <= 1:
        raise UserError(f"--demo_start_fraction must be in [0, 1] (got {args.demo_start_fraction})")
    if args.demo_start_fraction > 0 and not args.demo_starts:
        raise UserError("--demo_start_fraction needs --demo_starts: the movies to start along")
    if args.workers < 0:
        raise UserError(f"--workers must be at least 0 (got {args.workers})")
    if args.tf_threads < 0:
        raise UserError(f"--tf_threads must be at least 0 (got {args.tf_threads})")
    host, _, port = args.bind.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise UserError(f"--bind {args.bind!r} must be HOST:PORT, e.g. {DEFAULT_BIND}")
    return args, config


def _has_cloned_critic(workspace_path, pretrained_model):
    """Whether the pretrained model's value head learnt the demonstrations' returns (bc/values)."""
    try:
        config = folders.read_config(folders.find_model_folder(workspace_path, pretrained_model))
    except UserError:
        return False  # the learner says what is wrong with it when it loads it
    return bool(config.get("value_targets"))


def parse_actor_args(argv=None):
    args = _parse_own(actor_parser(), learner_parser(), argv)
    if args.actor_id < 0 or args.connect_timeout_s <= 0:
        raise UserError("--actor_id must be at least 0 and --connect_timeout_s positive")
    return args
