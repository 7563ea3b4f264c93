"""Behaviour cloning: the sequence pipeline, and run_supervised_learning.py end to end on movies
recorded here with the real emulator (tiny observations and LSTM: the point is the mechanics)."""

import os
import pathlib
import signal
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from retro_rl.bc import train
from retro_rl.model import checkpoints, folders
from tests.support import (ROOT, assert_one_line_error, game_without_rom, run_command,
                           start_interruptible, wait_for)

GAME = "Airstriker-Genesis-v0"
TINY = ["--obs_size", "36", "--lstm_units", "16", "--batch_size", "4", "--seq_len", "8",
        "--workers", "1", "--val_fraction", "0.34", "--learning_rate", "2e-3",
        "--log_every", "5", "--eval_every", "20", "--save_every", "20"]

# Plays a demonstrator that mostly fires to the right (B+RIGHT) and holds each action for a few
# steps, like a person. A fresh environment per movie: one emulator per process at a time.
RECORDER = """
import os, sys
import numpy as np
from retro_rl.envs import make_env
out, movies, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
for movie in range(movies):
    folder = os.path.join(out, str(movie))
    env = make_env(record_path=folder, obs_size=36)
    env.reset(seed=movie)
    step = 0
    while step < steps:
        action = 8 if rng.random() < 0.6 else int(rng.choice([0, 1, 2, 4, 6]))
        for _ in range(int(rng.integers(1, 6))):
            _, _, terminated, truncated, _ = env.step(action)
            step += 1
            if terminated or truncated or step == steps:
                break
        if terminated or truncated:
            break
    env.close()
    (name,) = os.listdir(folder)
    renamed = name.replace("-000000", f"-{movie:06d}")
    os.replace(os.path.join(folder, name), os.path.join(out, renamed))
    os.rmdir(folder)
"""


def run_script(*args):
    return run_command("run_supervised_learning.py", *args)


@pytest.fixture(scope="module")
def movies(tmp_path_factory):
    folder = tmp_path_factory.mktemp("movies")
    subprocess.run([sys.executable, "-c", RECORDER, str(folder), "3", "120"], cwd=ROOT,
                   check=True, timeout=120)
    return folder


@pytest.fixture(scope="module")
def trained(movies, tmp_path_factory):
    workspace = tmp_path_factory.mktemp("workspace")
    result = run_script("--workspace_path", workspace, "--replay_path", movies,
                        "--training_steps", 40, "--value_discount", 0.999, *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    return workspace, result


def scalars(workspace, tag):
    """{step: value} of one scalar tag over every TensorBoard event file in the workspace."""
    values = {}
    for path in (workspace / "tensorboard").rglob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == tag:
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    return values


@pytest.mark.slow
def test_short_run_learns_and_writes_model_logs_and_curve(trained, movies):
    workspace, result = trained
    losses = scalars(workspace, "losses/train_cross_entropy")
    assert sorted(losses) == list(range(5, 45, 5))
    # The demonstrator fires right 60%+ of the time: a uniform guess costs ln 23 = 3.1 nats.
    assert losses[40] < 0.75 * losses[5], losses
    for tag in ("losses/val_cross_entropy", "metrics/val_accuracy", "metrics/train_accuracy",
                "metrics/train_balanced_accuracy", "metrics/val_balanced_accuracy",
                "charts/learning_rate", "charts/frames_per_second"):
        assert scalars(workspace, tag), f"no {tag} in the TensorBoard log"
    assert 0 < scalars(workspace, "metrics/train_accuracy")[40] <= 1

    model = workspace / "model" / "supervised_model_40"
    assert (workspace / "model" / "supervised_model_20").is_dir()
    network, env_config, config = checkpoints.load_model(model)
    assert (env_config.game, env_config.obs_size, env_config.frame_skip) == (GAME, 36, 4)
    assert network.observation_shape == (36, 36, 3) and network.config.lstm_units == 16
    assert config["kind"] == "supervised" and config["step"] == 40
    # What the critic learnt, which the learner compares with its run's (tests/rl/test_flags.py).
    assert config["value_targets"] == {"reward_scale": 0.05, "life_loss_penalty": 200.0,
                                       "discount": 0.999, "cutoff_weight": 0.05}
    assert pathlib.Path(config["dataset"]).is_dir()
    assert (model / folders.OPTIMIZER_FILE).is_file()

    image = workspace / "image" / "supervised_learning.png"
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.stat().st_size > 10_000
    assert (f"python run_evaluation.py --workspace_path {workspace} "
            f"--model_name supervised_model_40") in result.stdout


@pytest.mark.slow
def test_resume_restores_optimizer_and_continues_the_step_count(trained, movies):
    workspace, _ = trained
    checkpoint = workspace / "model" / "supervised_model_40"
    network, optimizer, variables, step = train.build_learner(
        None, None, 1e-3, seed=0, checkpoint=str(checkpoint), train_value=True)
    assert step == 40 and int(optimizer.iterations.numpy()) == 40
    with np.load(checkpoint / folders.OPTIMIZER_FILE) as saved:
        saved_values = [saved[key] for key in sorted(saved.files)]
    assert len(saved_values) == len(optimizer.variables) > 2
    for variable, value in zip(optimizer.variables, saved_values):
        np.testing.assert_array_equal(variable.numpy(), value, err_msg=variable.path)
    assert any(np.abs(value).sum() > 0 for value in saved_values[2:])  # the Adam moments

    before = scalars(workspace, "losses/train_cross_entropy")
    result = run_script("--workspace_path", workspace, "--replay_path", movies, "--resume",
                        "--training_steps", 50, *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming" in result.stdout and "step 40" in result.stdout
    _, _, config = checkpoints.load_model(workspace / "model" / "supervised_model_50")
    assert config["step"] == 50
    resumed_optimizer = np.load(workspace / "model" / "supervised_model_50"
                                / folders.OPTIMIZER_FILE)
    assert int(resumed_optimizer[sorted(resumed_optimizer.files)[0]]) == 50  # iterations
    after = scalars(workspace, "losses/train_cross_entropy")
    assert sorted(set(after) - set(before)) == [45, 50]  # same run, steps carry on
    # Trained weights came back: the loss goes on from where it was, far below a fresh start.
    assert after[45] < 0.85 * before[5]


def test_empty_replay_folder_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_script("--workspace_path", tmp_path, "--replay_path", tmp_path / "empty")
    assert_one_line_error(result, str(tmp_path / "empty"), "no .bk2")


def test_movies_of_a_game_without_its_rom_are_one_line(movies, tmp_path):
    game = game_without_rom()
    source = sorted(movies.glob("*.bk2"))[0]
    target = tmp_path / "norom" / f"{game}-Level1-0000.bk2"
    target.parent.mkdir()
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == "Header.txt":
                data = data.replace(GAME.encode(), game.encode())
            new.writestr(item, data)
    result = run_script("--workspace_path", tmp_path, "--replay_path", target.parent)
    assert_one_line_error(result, f"is a {game} movie", "not imported", "stable_retro.import")


def test_resume_refuses_other_settings(trained, movies):
    workspace, _ = trained
    other = [*TINY[:1], "40", *TINY[2:]]  # obs_size 40 instead of 36
    result = run_script("--workspace_path", workspace, "--replay_path", movies, "--resume",
                        "--training_steps", 60, *other)
    assert_one_line_error(result, "cannot resume", "obs_size=36", "40")


def test_dataset_parsed_with_other_settings_is_refused(trained, movies):
    workspace, _ = trained
    _, _, config = checkpoints.load_model(workspace / "model" / "supervised_model_40")
    other = [*TINY[:1], "40", *TINY[2:]]
    result = run_script("--workspace_path", workspace, "--replay_path", movies,
                        "--dataset_path", config["dataset"], "--training_steps", 5, *other)
    assert_one_line_error(result, config["dataset"])


@pytest.mark.parametrize("flags, words", [
    (["--batch_size", "many"], ["--batch_size", "invalid int"]),
    (["--seq_len", "0"], ["--seq_len", "at least 1"]),
    (["--val_fraction", "1"], ["--val_fraction"]),
    (["--value_discount", "1"], ["--value_discount", "(0, 1)"]),
])
def test_bad_flags_are_one_line(tmp_path, flags, words):
    result = run_script("--workspace_path", tmp_path, *flags)
    assert_one_line_error(result, *words)
    assert not (tmp_path / "datasets").exists()  # refused before any work


def test_resume_without_a_checkpoint_is_one_line(movies, tmp_path):
    result = run_script("--workspace_path", tmp_path, "--replay_path", movies, "--resume")
    assert_one_line_error(result, "nothing to resume")


@pytest.mark.slow
def test_ctrl_c_saves_the_steps_trained_since_the_last_checkpoint(movies, tmp_path):
    process = start_interruptible("run_supervised_learning.py", "--workspace_path", tmp_path,
                                  "--replay_path", movies, "--training_steps", 100000,
                                  *TINY[:-2], "--save_every", 100000)
    # The first training metrics: at step 5.
    wait_for(lambda: scalars(tmp_path, "losses/train_cross_entropy"), 240, "step 5's metrics")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    folder = folders.newest_checkpoint(tmp_path, folders.SUPERVISED_PREFIX)
    assert folder is not None, stdout
    step = int(folder.rsplit("_", 1)[1])
    assert step >= 5 and f"interrupted: saving {folder}" in stdout
    with np.load(os.path.join(folder, folders.OPTIMIZER_FILE)) as saved:
        assert int(saved[sorted(saved.files)[0]]) == step  # the optimizer's own step count
