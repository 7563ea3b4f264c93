"""Behaviour cloning: a CNN-LSTM policy learns to choose the action a demonstrator chose.

    python run_supervised_learning.py                       # the shipped Airstriker demonstrations
    python run_supervised_learning.py --replay_path my_movies --workspace_path runs/mine
    python run_supervised_learning.py --resume              # continue from the newest checkpoint

The movies are replayed once into a dataset (the parser's cache: later runs reuse it), split by
movie into training and validation, and streamed as sequences of `--seq_len` agent steps in
`--batch_size` lanes whose LSTM state carries over from one chunk to the next.
Writes, under --workspace_path: model/supervised_model_<step> (every --save_every steps and at
the end), tensorboard/<run name>/ and image/supervised_learning.png.
"""

import argparse
import os
import pathlib
import shlex

from retro_rl import cli, tracking
from retro_rl.bc.config import BCConfig
from retro_rl.envs import add_observation_flags, games
from retro_rl.model.config import TORSOS
from retro_rl.runtime import start_tensorflow

REPOSITORY = pathlib.Path(__file__).resolve().parent
DEFAULT_REPLAY_PATH = f"demos/{games.DEFAULT_GAME}"


def build_parser():
    defaults = BCConfig(replay_path=DEFAULT_REPLAY_PATH)
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--workspace_path", default=defaults.workspace_path,
        help="folder that gets model/, tensorboard/, image/ (and datasets/)")
    add("--replay_path", default=None,
        help="folder of .bk2 demonstration movies (searched recursively), or one movie "
             f"(default: {DEFAULT_REPLAY_PATH} in this repository)")
    add("--dataset_path", default=None,
        help="where the parsed movies are cached (default: <workspace>/datasets/"
             "<replay folder name>_<observation settings>)")
    add_observation_flags(parser)
    add("--workers", type=int, default=defaults.workers,
        help="movies replayed in parallel when parsing, one emulator process each")
    add("--torso", default=defaults.torso, choices=TORSOS,
        help="image network: Nature-DQN convolutions or IMPALA's residual network")
    add("--lstm_units", type=int, default=defaults.lstm_units, help="LSTM size")
    add("--use_prev_action", action=argparse.BooleanOptionalAction,
        default=defaults.use_prev_action,
        help="feed the previous action to the LSTM (a demonstrator repeats itself, so a "
             "cloned policy may learn to copy instead of to look)")
    add("--use_prev_reward", action=argparse.BooleanOptionalAction,
        default=defaults.use_prev_reward, help="feed the previous reward to the LSTM")
    add("--batch_size", type=int, default=defaults.batch_size,
        help="lanes: sequences trained on at once, each streaming whole movies")
    add("--seq_len", type=int, default=defaults.seq_len,
        help="agent steps per chunk (truncated back-propagation through time; the LSTM state "
             "still carries across chunks)")
    add("--learning_rate", type=float, default=defaults.learning_rate, help="Adam's learning rate")
    add("--lr_schedule", default=defaults.lr_schedule, choices=("cosine", "constant"),
        help="cosine: decay to a tenth of --learning_rate by --training_steps")
    add("--training_steps", type=int, default=defaults.training_steps,
        help="optimizer steps to train to (counting a resumed model's steps)")
    add("--save_every", type=int, default=defaults.save_every,
        help="write a checkpoint every this many steps (and at the end)")
    add("--log_every", type=int, default=defaults.log_every,
        help="write training metrics every this many steps")
    add("--eval_every", type=int, default=defaults.eval_every,
        help="score the validation movies every this many steps (and at the end)")
    add("--val_fraction", type=float, default=defaults.val_fraction,
        help="share of the movies held out for validation (whole movies; at least one when > 0 "
             "and there are two or more movies)")
    add("--value_cost", type=float, default=defaults.value_cost,
        help="weight of the value loss: the value head learns the demonstrations' discounted "
             "returns under the reward reinforcement learning trains on (the game's reward "
             "scale and life-loss penalty, --value_discount), so that fine-tuning starts "
             "with a critic; 0 leaves the value head untrained")
    add("--value_discount", type=float, default=defaults.value_discount,
        help="gamma of the value head's returns: the --discount the learner will fine-tune "
             "with (0.999 for its --preset ppo_rnd). The learner skips its value warm-up only "
             "for a critic whose discount and reward settings are the run's")
    add("--seed", type=int, default=defaults.seed,
        help="seed of the initial weights, the validation split and the data order")
    add("--resume", action="store_true",
        help="continue the newest model/supervised_model_<step> with its optimizer state and "
             "step count (its observation and network settings must match)")
    tracking.add_flags(parser)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.replay_path = args.replay_path or str(REPOSITORY / DEFAULT_REPLAY_PATH)
    config = BCConfig(**vars(args))  # checked before TensorFlow starts
    tracking.check(config.track)
    start_tensorflow()
    from retro_rl.bc.run import train_model

    final = train_model(config)
    print(f"saved {final}\nevaluate it with:\n  python run_evaluation.py --workspace_path "
          f"{shlex.quote(args.workspace_path)} --model_name {os.path.basename(final)}")
    return 0


if __name__ == "__main__":
    cli.run(main)
