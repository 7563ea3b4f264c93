"""Model folders: what is saved comes back exactly, with the optimizer's state."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from retro_rl import fileio
from retro_rl.envs import EnvConfig
from retro_rl.errors import UserError
from retro_rl.model import checkpoints, folders
from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network
from tests.model.test_network import OBS_SHAPE, random_inputs


@pytest.mark.parametrize("torso", ["nature", "impala"])
def test_model_folder_round_trip(tmp_path, torso):
    config = NetworkConfig(torso=torso, lstm_units=32)
    network = create_network(config, OBS_SHAPE, seed=1)
    env_config = EnvConfig(frame_skip=3)
    inputs = random_inputs(network, 3, 2)
    before, _, _ = network.unroll(*inputs, network.initial_state(2))
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(network.trainable_variables)
    optimizer.iterations.assign(17)
    path = tmp_path / "model" / "supervised_model_5"
    checkpoints.save_model(path, network, env_config, {"kind": "supervised", "step": 5}, optimizer)

    loaded, loaded_env_config, config_dict = checkpoints.load_model(path)
    assert loaded_env_config == env_config and loaded.config == config
    assert config_dict["step"] == 5
    after, _, _ = loaded.unroll(*inputs, loaded.initial_state(2))
    np.testing.assert_array_equal(before, after)

    restored = keras.optimizers.Adam(1e-3)
    assert checkpoints.load_optimizer_state(path, restored, loaded.trainable_variables)
    assert int(restored.iterations.numpy()) == 17

    # Perturbed weights give other outputs: the comparison above is not vacuous.
    loaded.set_weights([w + 0.01 for w in loaded.get_weights()])
    perturbed, _, _ = loaded.unroll(*inputs, loaded.initial_state(2))
    assert not np.allclose(before, perturbed)

    assert folders.list_models(tmp_path) == ["supervised_model_5"]
    checkpoints.save_model(tmp_path / "model" / "supervised_model_12", network, env_config)
    assert folders.newest_checkpoint(tmp_path, "supervised_model_").endswith("supervised_model_12")


def test_not_a_model_folder(tmp_path):
    with pytest.raises(UserError, match="not a model folder"):
        checkpoints.load_model(tmp_path)


# ------------------------------------------------------------------------------ damaged folders


@pytest.fixture
def saved(tmp_path):
    """A small model folder with an optimizer, and the network it holds."""
    network = create_network(NetworkConfig(num_actions=5, lstm_units=8), (36, 36, 3), seed=0)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(network.trainable_variables)
    path = tmp_path / "model" / "supervised_model_3"
    checkpoints.save_model(path, network, EnvConfig(obs_size=36), {"kind": "supervised",
                                                                   "step": 3}, optimizer)
    return path, network


def damage(path, name, how):
    file = path / name
    data = file.read_bytes()
    if how == "truncate":
        file.write_bytes(data[: len(data) // 2])
    elif how == "random":
        file.write_bytes(np.random.default_rng(0).bytes(len(data)))
    elif how == "header":
        file.write_bytes(b"\0" * 16 + data[16:])
    elif how == "flip":  # bytes in the middle of the weights' data, the header intact
        middle = len(data) // 2
        file.write_bytes(data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 64])
                         + data[middle + 64:])
    else:
        file.write_bytes(how)


@pytest.mark.parametrize("name, how, words", [
    (folders.WEIGHTS_FILE, "truncate", ["weights.weights.h5", "damaged"]),
    (folders.WEIGHTS_FILE, "random", ["weights.weights.h5", "damaged"]),
    (folders.WEIGHTS_FILE, "header", ["weights.weights.h5", "damaged"]),
    (folders.WEIGHTS_FILE, "flip", ["weights.weights.h5", "checksum"]),
    (folders.CONFIG_FILE, b"\xff\xfe\x00not utf-8", ["config.json", "not valid JSON"]),
    (folders.CONFIG_FILE, b"{}", ["config.json", "damaged"]),
    (folders.CONFIG_FILE, b"[1, 2]", ["config.json", "damaged"]),
])
def test_a_damaged_model_folder_is_one_line_naming_the_file(saved, name, how, words):
    path, _ = saved
    damage(path, name, how)
    with pytest.raises(UserError) as error:
        checkpoints.load_model(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    for word in words:
        assert word in message, message


def test_a_setting_of_the_wrong_type_is_one_line_naming_config_json(saved):
    path, _ = saved
    config = json.loads((path / folders.CONFIG_FILE).read_text())
    config["env"]["frame_skip"] = "4"
    (path / folders.CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(UserError, match=r"config\.json is damaged \(frame_skip must be int"):
        checkpoints.load_model(path)


def test_a_truncated_optimizer_state_is_one_line(saved):
    path, network = saved
    damage(path, folders.OPTIMIZER_FILE, "truncate")
    optimizer = keras.optimizers.Adam(1e-3)
    with pytest.raises(UserError, match="optimizer.npz does not match the checksum"):
        checkpoints.load_optimizer_state(path, optimizer, network.trainable_variables)


def nan_filled(file):
    """Rewrites an .npz with every float replaced by NaN, as a poisoned run would save it."""
    with np.load(file) as saved:
        contents = {key: saved[key] * np.nan if saved[key].dtype.kind == "f" else saved[key]
                    for key in saved.files}
    np.savez(file, **contents)


def rechecksum(path, name):
    """Records the file's present checksum in config.json, as a save of it would have."""
    config = json.loads((path / folders.CONFIG_FILE).read_text())
    config["files_sha256"][name] = fileio.sha256_file(path / name)
    (path / folders.CONFIG_FILE).write_text(json.dumps(config))


@pytest.mark.parametrize("name", [folders.OPTIMIZER_FILE, folders.RND_FILE])
@pytest.mark.parametrize("checksum", ["stale", "matching"])
def test_a_poisoned_optimizer_or_rnd_state_is_moved_aside_and_resume_takes_the_one_before(
        saved, caplog, name, checksum):
    path, network = saved
    workspace = path.parent.parent
    rnd_state = {"predictor": np.ones((3, 2), np.float32), "steps": np.array(7)}
    for step in (5, 9):
        checkpoints.save_model(path.parent / f"supervised_model_{step}", network,
                               EnvConfig(obs_size=36), {"step": step}, saved_optimizer(network),
                               arrays={folders.RND_FILE: rnd_state})
    newest = path.parent / "supervised_model_9"
    nan_filled(newest / name)
    if checksum == "matching":
        rechecksum(newest, name)
    words = "holds NaN" if checksum == "matching" else "does not match the checksum"
    with pytest.raises(UserError, match=words):
        checkpoints.load_checkpoint(newest, "step")
    folder, (_, _, config) = checkpoints.newest_loadable_checkpoint(
        workspace, folders.SUPERVISED_PREFIX,
        lambda candidate: checkpoints.load_checkpoint(candidate, "step"))
    assert config["step"] == 5 and folder.endswith("supervised_model_5")
    assert f"supervised_model_9/{name}" in caplog.text and words in caplog.text
    assert (path.parent / "supervised_model_9.damaged").is_dir()
    np.testing.assert_array_equal(checkpoints.load_arrays(folder, folders.RND_FILE)["predictor"],
                                  rnd_state["predictor"])


def saved_optimizer(network):
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(network.trainable_variables)
    return optimizer


def test_an_optimizer_state_that_is_not_finite_is_never_saved(saved):
    path, network = saved
    optimizer = saved_optimizer(network)
    optimizer.variables[1].assign(optimizer.variables[1] * np.nan)
    with pytest.raises(checkpoints.NonFiniteWeights, match="optimizer.npz"):
        checkpoints.save_model(path.parent / "supervised_model_4", network, EnvConfig(),
                               optimizer=optimizer)
    assert not (path.parent / "supervised_model_4").exists()


def test_resuming_passes_over_a_damaged_newest_checkpoint_and_says_so(saved, caplog):
    path, network = saved
    newer = path.parent / "supervised_model_9"
    checkpoints.save_model(newer, network, EnvConfig(obs_size=36), {"step": 9},
                           keras.optimizers.Adam(1e-3))
    damage(newer, folders.OPTIMIZER_FILE, "truncate")
    workspace = path.parent.parent
    folder, (_, _, config) = checkpoints.newest_loadable_checkpoint(
        workspace, folders.SUPERVISED_PREFIX,
        lambda candidate: checkpoints.load_checkpoint(candidate, "step"))
    assert folder == str(path) and config["step"] == 3
    assert "supervised_model_9" in caplog.text and "moved it to" in caplog.text
    assert (path.parent / "supervised_model_9.damaged").is_dir()
    assert folders.newest_checkpoint(workspace, folders.SUPERVISED_PREFIX) == str(path)


def test_weights_that_are_not_finite_are_never_saved_nor_played(saved):
    path, network = saved
    weights = network.get_weights()
    network.set_weights([weights[0] * np.nan] + weights[1:])
    with pytest.raises(checkpoints.NonFiniteWeights):
        checkpoints.save_model(path.parent / "supervised_model_4", network, EnvConfig())
    assert not (path.parent / "supervised_model_4").exists()
    assert not list(path.parent.glob(".*"))  # no temporary folder either


def test_a_write_that_fails_keeps_the_previous_checkpoint_and_no_partial_one(saved):
    """RLIMIT_FSIZE: the kernel refuses writes past 100 KB, as a full disk refuses them."""
    path, _ = saved
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "from retro_rl import cli\n"
        "from retro_rl.envs import EnvConfig\n"
        "from retro_rl.model import checkpoints\n"
        "network, env_config, _ = checkpoints.load_model(sys.argv[1])\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
        "cli.run(lambda: checkpoints.save_model(sys.argv[1], network, env_config, {'step': 7}))\n")
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    error, = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert f"cannot save {path}" in error and "the previous checkpoint is kept" in error
    assert "Traceback" not in result.stderr
    assert checkpoints.load_model(path)[2]["step"] == 3
    assert not list(path.parent.glob(".*"))


def test_temporaries_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True)
    dead = int(finished.stdout)
    (tmp_path / f".reinforcement_model_5.{dead}.tmp").mkdir()
    (tmp_path / f"reinforcement_model_6.tmp-{dead}").mkdir()  # an earlier version's name
    (tmp_path / f".manifest.json.{dead}.tmp").write_text("half")
    (tmp_path / f".reinforcement_model_7.{os.getpid()}.tmp").mkdir()  # being written now
    (tmp_path / "reinforcement_model_4").mkdir()
    assert fileio.remove_stale_temporaries(tmp_path) == 3
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f".reinforcement_model_7.{os.getpid()}.tmp", "reinforcement_model_4"]
