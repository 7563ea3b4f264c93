"""retro_rl: learn to play emulated games from demonstrations, then get better by playing.

The folders are the architecture:
  envs/        what an agent sees and does: actions, games and ROMs, the emulator loop, wrappers
  demos/       .bk2 movies: reading, replaying into datasets, recording (search and human)
  model/       the CNN-LSTM policy, its action distribution, model folders on disk
  bc/          behaviour cloning: sequences, the train step, metrics
  rl/          reinforcement learning: settings, V-trace, the update, actors, learner, transport
  evaluation   playing a model beside a random baseline, and the report
The scripts at the repository's root are the commands; this package never imports them.
"""

import os

# TensorFlow's C++ start-up chatter (CPU features) is not for users.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# `gymnasium.make("retro_rl/<game>")` builds make_env's environment (envs/registration.py).
from retro_rl.envs import registration  # noqa: E402

registration.register_games()
