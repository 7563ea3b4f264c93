"""Saving and loading model folders (folders.py says what they hold): the weights, the
optimizer's state, and config.json.

What is loaded is verified: config.json's settings are checked when they are made (a damaged
file is one line naming it); the weights, the optimizer's state and every other array file
(RND's) must match the SHA-256 that config.json records and be finite, and the optimizer's state
must fit the optimizer. A checkpoint whose weights or state are not finite is never written.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import zipfile
from typing import Any

import numpy as np

from retro_rl import fileio
from retro_rl.envs import EnvConfig
from retro_rl.errors import UserError
from retro_rl.model.config import NetworkConfig
from retro_rl.model.folders import (CONFIG_FILE, OPTIMIZER_FILE, WEIGHTS_FILE, list_models,
                                    read_config)
from retro_rl.model.network import PolicyNetwork

log = logging.getLogger(__name__)


class NonFiniteWeights(ValueError):
    """The network's weights hold NaN or infinity: there is nothing worth saving."""


def weight_bytes(network, optimizer=None):
    """Bytes a model folder of this network (and optimizer) takes, near enough."""
    total = sum(array.nbytes for array in network.get_weights())
    if optimizer is not None:
        total += sum(int(np.prod(v.shape)) * 4 for v in optimizer.variables)
    return total


def save_model(path, network, env_config, metadata=None, optimizer=None, arrays=None):
    """Writes a model folder atomically (fileio.atomic_folder): a crash, a full disk or an
    error leaves the folder there was, and no partial one.

    metadata: JSON-serialisable facts about the model (kind, step, ...) stored in config.json.
    optimizer: an optimizer whose `variables` are saved to optimizer.npz for resuming.
    arrays: {file name: {name: numpy array}}, more state to keep (RND's networks), each written
      as an .npz whose SHA-256 config.json records; load_arrays reads one back.
    Raises NonFiniteWeights (nothing is written), UserError when the disk cannot take it.
    """
    if not all(np.isfinite(array).all() for array in network.get_weights()):
        raise NonFiniteWeights(f"the weights hold NaN or infinity; {path} is not written")
    arrays = dict(arrays or {})
    if optimizer is not None:
        arrays[OPTIMIZER_FILE] = {f"{i:04d}": v.numpy() for i, v in enumerate(optimizer.variables)}
    for name, contents in arrays.items():
        if not all(np.isfinite(value).all() for value in contents.values()
                   if np.issubdtype(value.dtype, np.inexact)):
            raise NonFiniteWeights(f"the state for {name} holds NaN or infinity; {path} is not "
                                   "written")
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    needed = 2 * weight_bytes(network) + (1 << 20) + 2 * sum(
        value.nbytes for contents in arrays.values() for value in contents.values())
    free = shutil.disk_usage(parent).free
    if free < needed:
        raise UserError(f"no room to save {path}: {free / 2**20:.0f} MB free, "
                        f"{needed / 2**20:.0f} MB needed; free some disk space")
    try:
        with fileio.atomic_folder(path) as folder:
            weights = os.path.join(folder, WEIGHTS_FILE)
            network.save_weights(weights)
            checksums = {}
            for name, contents in arrays.items():
                np.savez(os.path.join(folder, name), **contents)
                checksums[name] = fileio.sha256_file(os.path.join(folder, name))
            config = {
                "env": env_config.to_dict(),
                "network": dataclasses.asdict(network.config),
                "observation_shape": list(network.observation_shape),
                **(metadata or {}),
                "weights_sha256": fileio.sha256_file(weights),
                **({"files_sha256": checksums} if checksums else {}),
            }
            with open(os.path.join(folder, CONFIG_FILE), "w") as f:
                json.dump(config, f, indent=2)
    except OSError as error:
        raise UserError(f"cannot save {path} ({_reason(error)}); the previous checkpoint is "
                        "kept") from None


def _reason(error):
    """One line for an OSError, h5py's many-line messages included."""
    text = error.strerror or str(error)
    if "error message = '" in text:
        return text.split("error message = '", 1)[1].split("'", 1)[0]
    return text.splitlines()[0] if text else type(error).__name__


def load_model(path: str | os.PathLike) -> tuple[PolicyNetwork, EnvConfig, dict[str, Any]]:
    """Rebuilds a saved model. Returns (network, env_config, config dict); UserError naming
    the damaged file otherwise."""
    config = read_config(path)
    config_path = os.path.join(path, CONFIG_FILE)
    try:
        env_config = EnvConfig.from_dict(config["env"])
        network_config = NetworkConfig.from_dict(config["network"])
        observation_shape = tuple(config["observation_shape"])
        if env_config.observation_shape != observation_shape:
            raise UserError(f"its observation shape {observation_shape} is not its "
                            f"environment's {env_config.observation_shape}")
    except (UserError, TypeError) as error:
        raise UserError(f"{config_path} is damaged ({error}); copy or train the model "
                        "again") from None
    weights = os.path.join(path, WEIGHTS_FILE)
    if not os.path.isfile(weights):
        raise UserError(f"{path} has no {WEIGHTS_FILE}; the folder is incomplete")
    if "weights_sha256" in config and fileio.sha256_file(weights) != config["weights_sha256"]:
        raise UserError(f"{weights} does not match the checksum in its {CONFIG_FILE}: the file "
                        "is damaged; copy or train the model again")
    network = PolicyNetwork(network_config, observation_shape)
    try:
        network.load_weights(weights)
    except Exception as error:  # h5py and Keras raise many kinds for a damaged file
        raise UserError(f"{weights} cannot be read ({type(error).__name__}); the file is "
                        "damaged: copy or train the model again") from None
    if not all(np.isfinite(array).all() for array in network.get_weights()):
        raise UserError(f"{weights} holds NaN or infinite weights; use an earlier checkpoint")
    return network, env_config, config


def _read_arrays(file_path, expected_sha256):
    """An .npz's {name: array}, checked: its checksum where one is recorded, readable, finite.
    UserError naming the file otherwise."""
    if expected_sha256 is not None and fileio.sha256_file(file_path) != expected_sha256:
        raise UserError(f"{file_path} does not match the checksum in its {CONFIG_FILE}: the "
                        "file is damaged; resume from an earlier checkpoint")
    try:
        with np.load(file_path, allow_pickle=False) as saved:
            contents = {key: saved[key] for key in saved.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        raise UserError(f"{file_path} cannot be read: the file is damaged; resume from an "
                        "earlier checkpoint") from None
    if not all(np.isfinite(value).all() for value in contents.values()
               if np.issubdtype(value.dtype, np.inexact)):
        raise UserError(f"{file_path} holds NaN or infinity; resume from an earlier checkpoint")
    return contents


def _recorded_sha256(path, name):
    checksums = read_config(path).get("files_sha256", {})
    return checksums.get(name) if isinstance(checksums, dict) else None


def load_arrays(path, name):
    """The {name: array} of an .npz that save_model's `arrays` wrote into the model folder
    `path`, checked against config.json's checksum and for NaN; None where the folder has
    none. UserError naming the file when it is damaged."""
    file_path = os.path.join(path, name)
    expected = _recorded_sha256(path, name)
    if expected is None or not os.path.isfile(file_path):
        return None
    return _read_arrays(file_path, expected)


def load_optimizer_state(path, optimizer, variables):
    """Restores optimizer.npz from a model folder into `optimizer`, built for `variables`,
    checked as load_arrays checks (a folder of an earlier version has no checksum for it).
    Returns False when the folder has none."""
    optimizer_path = os.path.join(path, OPTIMIZER_FILE)
    if not os.path.isfile(optimizer_path):
        return False
    optimizer.build(variables)
    saved = _read_arrays(optimizer_path, _recorded_sha256(path, OPTIMIZER_FILE))
    values = [saved[key] for key in sorted(saved)]
    if len(values) != len(optimizer.variables) or any(
            value.shape != tuple(variable.shape)
            for value, variable in zip(values, optimizer.variables)):
        raise UserError(f"{optimizer_path} does not match this optimizer; start without --resume")
    for variable, value in zip(optimizer.variables, values):
        variable.assign(value)
    return True


def load_checkpoint(path, step_key):
    """load_model for resuming: the folder's optimizer.npz and every array file config.json
    lists (RND's) must match their checksums, read and be finite too, and config.json must hold
    its `step_key` count. Returns what load_model returns; UserError naming the damaged file."""
    network, env_config, config = load_model(path)
    if not isinstance(config.get(step_key), int):
        raise UserError(f"{os.path.join(path, CONFIG_FILE)} is damaged (no {step_key} count)")
    if not os.path.isfile(os.path.join(path, OPTIMIZER_FILE)):
        raise UserError(f"{path} has no optimizer state to resume")
    checksums = config.get("files_sha256", {})
    if not isinstance(checksums, dict):
        raise UserError(f"{os.path.join(path, CONFIG_FILE)} is damaged (files_sha256)")
    for name in {OPTIMIZER_FILE, *checksums}:
        file_path = os.path.join(path, os.path.basename(str(name)))
        if not os.path.isfile(file_path):
            raise UserError(f"{path} has no {name}, which its {CONFIG_FILE} lists")
        _read_arrays(file_path, checksums.get(name))
    return network, env_config, config


def newest_loadable_checkpoint(workspace_path, prefix, load):
    """`load(folder)` of the newest <prefix><step> that loads. A damaged newer one is moved
    aside to <name>.damaged, saying so, so that the run's next checkpoints are the newest.
    Returns (folder, what load returned), or (None, None) when there is none."""
    steps = sorted((int(name[len(prefix):]) for name in list_models(workspace_path)
                    if name.startswith(prefix) and name[len(prefix):].isdigit()), reverse=True)
    for step in steps:
        folder = os.path.join(workspace_path, "model", f"{prefix}{step}")
        try:
            return folder, load(folder)
        except UserError as error:
            aside = f"{folder}.damaged"
            os.replace(folder, aside)
            log.warning(f"warning: {error}; moved it to {aside} and resuming the checkpoint "
                        "before it")
    return None, None
