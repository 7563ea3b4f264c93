"""Model folders: `<workspace>/model/<name>/` holds `weights.weights.h5` and `config.json`, and
training runs add `optimizer.npz` for resuming.

config.json carries the environment settings (envs.EnvConfig) and the network settings
(NetworkConfig), so `load_model(folder)` rebuilds the identical network and `EnvConfig.make()`
the identical observation and action pipeline. Checkpoints are named `<prefix><step>`:
behaviour cloning's `supervised_model_<step>`, reinforcement learning's
`reinforcement_model_<update>`.
"""

import dataclasses
import json
import os

import numpy as np

from retro_rl import fileio
from retro_rl.envs import EnvConfig
from retro_rl.errors import UserError
from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import PolicyNetwork

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.weights.h5"
OPTIMIZER_FILE = "optimizer.npz"
SUPERVISED_PREFIX = "supervised_model_"
REINFORCEMENT_PREFIX = "reinforcement_model_"


def models_folder(workspace_path):
    """<workspace>/model, where every run keeps its model folders."""
    return os.path.join(workspace_path, "model")


def checkpoint_path(workspace_path, prefix, step):
    """<workspace>/model/<prefix><step>."""
    return os.path.join(models_folder(workspace_path), f"{prefix}{step}")


def save_model(path, network, env_config, metadata=None, optimizer=None):
    """Writes a model folder atomically (fileio.atomic_folder).

    metadata: JSON-serialisable facts about the model (kind, step, ...) stored in config.json.
    optimizer: an optimizer whose `variables` are saved to optimizer.npz for resuming.
    """
    with fileio.atomic_folder(path) as folder:
        network.save_weights(os.path.join(folder, WEIGHTS_FILE))
        config = {
            "env": env_config.to_dict(),
            "network": dataclasses.asdict(network.config),
            "observation_shape": list(network.observation_shape),
            **(metadata or {}),
        }
        with open(os.path.join(folder, CONFIG_FILE), "w") as f:
            json.dump(config, f, indent=2)
        if optimizer is not None:
            values = {f"{i:04d}": v.numpy() for i, v in enumerate(optimizer.variables)}
            np.savez(os.path.join(folder, OPTIMIZER_FILE), **values)


def read_config(path):
    """The config.json of a model folder, or UserError saying what is missing."""
    config_path = os.path.join(path, CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise UserError(f"{path} is not a model folder (no {CONFIG_FILE})")
    try:
        with open(config_path) as f:
            return json.load(f)
    except json.JSONDecodeError as error:
        raise UserError(f"{config_path} is not valid JSON ({error})") from None


def load_model(path):
    """Rebuilds a saved model. Returns (network, env_config, config dict)."""
    config = read_config(path)
    env_config = EnvConfig.from_dict(config["env"])
    network_config = NetworkConfig.from_dict(config["network"])
    network = PolicyNetwork(network_config, config["observation_shape"])
    weights = os.path.join(path, WEIGHTS_FILE)
    if not os.path.isfile(weights):
        raise UserError(f"{path} has no {WEIGHTS_FILE}; the folder is incomplete")
    network.load_weights(weights)
    return network, env_config, config


def load_optimizer_state(path, optimizer, variables):
    """Restores optimizer.npz from a model folder into `optimizer`, built for `variables`.
    Returns False when the folder has none."""
    optimizer_path = os.path.join(path, OPTIMIZER_FILE)
    if not os.path.isfile(optimizer_path):
        return False
    optimizer.build(variables)
    with np.load(optimizer_path) as saved:
        values = [saved[key] for key in sorted(saved.files)]
    if len(values) != len(optimizer.variables):
        raise UserError(f"{optimizer_path} does not match this optimizer; start without --resume")
    for variable, value in zip(optimizer.variables, values):
        variable.assign(value)
    return True


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
