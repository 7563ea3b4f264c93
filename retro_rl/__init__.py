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
from retro_rl.envs.config import EnvConfig, make_env  # noqa: E402

registration.register_games()

# What a notebook calls. Those that need TensorFlow are imported when first used, so that
# `import retro_rl` stays light for the TF-free workers.
__all__ = ["Agent", "BCConfig", "EnvConfig", "LearnerConfig", "RandomPolicy", "load_model",
           "make_env", "train_behaviour_cloning", "train_in_process"]
_LAZY = {"Agent": "retro_rl.agent", "RandomPolicy": "retro_rl.agent",
         "BCConfig": "retro_rl.bc.config", "LearnerConfig": "retro_rl.rl.config",
         "load_model": "retro_rl.model.checkpoints", "train_in_process": "retro_rl.rl.local",
         "train_behaviour_cloning": "retro_rl.bc.run"}
_RENAMED = {"train_behaviour_cloning": "train_model"}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'retro_rl' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), _RENAMED.get(name, name))
