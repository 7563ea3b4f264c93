"""Learner: chooses the environment workers' (actor.py) actions and trains the CNN-LSTM on
what they play, with IMPALA, A2C or PPO (--algorithm).

    python learner.py --pretrained_model supervised_model_3 --total_frames 5000000
    python learner.py --pretrained_model none --game Airstriker-Genesis-v0   # from scratch
    python learner.py --resume                     # the run of the newest checkpoint

It listens (`--bind`, 127.0.0.1:50051 by default), publishes its settings and weights, trains
on batches of unrolls, and saves model/reinforcement_model_<update> every --save_every updates
and at the end. Log: <workspace>/logs/learner.log (and the console).
"""

import logging
import os

from retro_rl import cli, fileio, logs
from retro_rl.rl.flags import learner_parser, parse_learner_args
from retro_rl.runtime import start_tensorflow, use_private_temporaries


def build_parser():
    return learner_parser()


def main(argv=None):
    flags = parse_learner_args(argv)  # checked before TensorFlow starts
    run = flags.run
    fileio.check_writable(os.path.join(run.workspace_path, "logs"))
    logs.setup(run.workspace_path, "learner")
    # The run's own temporaries (TensorFlow writes generated code there), removed with it.
    use_private_temporaries(run.workspace_path, "learner")
    log = logging.getLogger("learner")
    for note in flags.notes:
        log.info(note)
    device, missing = start_tensorflow(gpu=bool(run.gpu), threads=run.tf_threads)
    if missing:
        log.info("notice: --gpu 1 but no GPU is usable here; training on the CPU")
    from retro_rl.rl.learning import train

    return train(flags, device)


if __name__ == "__main__":
    cli.run(main)
