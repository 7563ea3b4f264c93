"""Model folders on disk, read without TensorFlow: where they are, what they are called, and
their config.json, so a command can check a model before TensorFlow starts.

`<workspace>/model/<name>/` holds `weights.weights.h5` and `config.json`, and training runs add
`optimizer.npz` for resuming (and `rnd.npz`, RND's networks and statistics, where it
explored). config.json carries the environment settings (envs.EnvConfig) and
the network settings (NetworkConfig), so checkpoints.load_model rebuilds the identical network
and `EnvConfig.make()` the identical observation and action pipeline. Checkpoints are named
`<prefix><step>`: behaviour cloning's `supervised_model_<step>`, reinforcement learning's
`reinforcement_model_<update>`.
"""

import json
import os

from retro_rl.envs import EnvConfig
from retro_rl.errors import UserError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.weights.h5"
OPTIMIZER_FILE = "optimizer.npz"
RND_FILE = "rnd.npz"
SUPERVISED_PREFIX = "supervised_model_"
REINFORCEMENT_PREFIX = "reinforcement_model_"


def models_folder(workspace_path):
    """<workspace>/model, where every run keeps its model folders."""
    return os.path.join(workspace_path, "model")


def checkpoint_path(workspace_path, prefix, step):
    """<workspace>/model/<prefix><step>."""
    return os.path.join(models_folder(workspace_path), f"{prefix}{step}")


def read_config(path):
    """The config.json of a model folder, checked to be one; UserError naming the file
    otherwise."""
    config_path = os.path.join(path, CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise UserError(f"{path} is not a model folder (no {CONFIG_FILE})")
    try:
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{config_path} is damaged: not valid JSON ({error}); copy or train "
                        "the model again") from None
    if not isinstance(config, dict) or not all(
            isinstance(config.get(key), kind) for key, kind in (
                ("env", dict), ("network", dict), ("observation_shape", list))):
        raise UserError(f"{config_path} is damaged: it needs env, network and "
                        "observation_shape; copy or train the model again")
    return config


def read_env_config(path):
    """The EnvConfig a model folder was trained with; UserError naming its config.json when
    the settings are damaged."""
    config = read_config(path)
    try:
        return EnvConfig.from_dict(config["env"])
    except (UserError, TypeError) as error:
        raise UserError(f"{os.path.join(path, CONFIG_FILE)} is damaged ({error}); copy or "
                        "train the model again") from None


def list_models(workspace_path):
    """Names of the model folders under <workspace>/model, sorted."""
    folder = models_folder(workspace_path)
    if not os.path.isdir(folder):
        return []
    return sorted(name for name in os.listdir(folder)
                  if os.path.isfile(os.path.join(folder, name, CONFIG_FILE)))


def find_model_folder(workspace_path, name):
    """A model folder given as a path or as a name under <workspace>/model/; an unknown name is
    a UserError listing the available ones."""
    for candidate in (name, os.path.join(models_folder(workspace_path), name)):
        if os.path.isfile(os.path.join(candidate, CONFIG_FILE)):
            return os.path.abspath(candidate)
    available = ", ".join(list_models(workspace_path)) or "none (check --workspace_path)"
    raise UserError(f"no model {name!r} in {models_folder(workspace_path)}; "
                    f"available: {available}")


def newest_checkpoint(workspace_path, prefix):
    """The model folder `<workspace>/model/<prefix><step>` with the largest step, or None."""
    steps = [int(name[len(prefix):]) for name in list_models(workspace_path)
             if name.startswith(prefix) and name[len(prefix):].isdigit()]
    return checkpoint_path(workspace_path, prefix, max(steps)) if steps else None
