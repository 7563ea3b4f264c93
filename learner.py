"""IMPALA learner: trains the CNN-LSTM on unrolls that actors (actor.py) send over gRPC.

    python learner.py --pretrained_model supervised_model_3 --total_frames 5000000
    python learner.py --pretrained_model none --game Airstriker-Genesis-v0   # from scratch
    python learner.py --resume                     # the newest reinforcement_model_<update>

It listens (`--bind`, 127.0.0.1:50051 by default), publishes its settings and weights, trains
on batches of unrolls, and saves model/reinforcement_model_<update> every --save_every updates
and at the end. Log: <workspace>/logs/learner.log (and the console).
"""

from retro_rl import cli, logs
from retro_rl.rl.flags import learner_parser, parse_learner_args


def build_parser():
    return learner_parser()


def main(argv=None):
    args, config = parse_learner_args(argv)  # checked before TensorFlow starts
    logs.setup(args.workspace_path, "learner")
    from retro_rl.rl.learning import train

    train(args, config)
    return 0


if __name__ == "__main__":
    cli.run(main)
