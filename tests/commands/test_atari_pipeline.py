"""The whole pipeline on an Atari 2600 game from ale-py's ROMs: movies -> behaviour cloning ->
evaluation -> fine-tuning -> evaluation, on Pong with its platform's 18 actions."""

import json
import subprocess
import sys

import pytest

from retro_rl.envs import atari
from retro_rl.model import checkpoints
from tests.support import ROOT, private_retro_data, run_command

PONG = "Pong-Atari2600-v0"
RECORDER = """
import os, sys
import numpy as np
from retro_rl.envs import make_env
out, movies, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
for movie in range(movies):
    folder = os.path.join(out, str(movie))
    env = make_env(game="Pong-Atari2600-v0", record_path=folder, obs_size=36)
    env.reset(seed=movie)
    for step in range(steps):
        _, _, terminated, truncated, _ = env.step(int(rng.choice([0, 2, 5])))
        if terminated or truncated:
            break
    env.close()
    (name,) = os.listdir(folder)
    os.replace(os.path.join(folder, name),
               os.path.join(out, name.replace("-000000", f"-{movie:06d}")))
    os.rmdir(folder)
"""
TINY = ["--obs_size", "36", "--lstm_units", "16", "--batch_size", "4", "--seq_len", "8",
        "--workers", "1", "--val_fraction", "0.34", "--log_every", "5", "--eval_every", "10",
        "--save_every", "10"]


def evaluate(workspace, model):
    result = run_command("run_evaluation.py", "--workspace_path", workspace, "--model_name",
                         model, "--episodes", "1", "--max_steps", "40", timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    (report,) = (workspace / "results").glob(f"{model}-*.json")
    with open(report) as f:
        return json.load(f)


@pytest.mark.slow
def test_pong_from_movies_to_a_fine_tuned_model(tmp_path, monkeypatch):
    # The ROMs go into a data folder of this test's: the importer and every command below run
    # in processes that inherit it (this one read stable-retro's data folder when it started).
    retro_data = private_retro_data(tmp_path / "retro_data")
    monkeypatch.setenv("RETRO_DATA_PATH", str(retro_data))
    atari.import_atari_roms()
    assert (retro_data / "stable" / PONG / "rom.a26").is_file()
    movies = tmp_path / "movies"
    movies.mkdir()
    subprocess.run([sys.executable, "-c", RECORDER, str(movies), "3", "100"], cwd=ROOT,
                   check=True, timeout=120)
    result = run_command("run_supervised_learning.py", "--workspace_path", tmp_path,
                         "--replay_path", movies, "--training_steps", "10", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    network, env_config, _ = checkpoints.load_model(tmp_path / "model" / "supervised_model_10")
    assert (env_config.game, env_config.action_set, network.config.num_actions) == (
        PONG, "ale", 18)
    assert evaluate(tmp_path, "supervised_model_10")

    launcher = subprocess.run(
        [str(ROOT / "run_reinforcement_learning.sh"), "1", "0", "supervised_model_10",
         "--algorithm", "a2c", "--total_frames", "400", "--unroll_length", "10",
         "--workspace_path", str(tmp_path), "--bind", "127.0.0.1:0"],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert launcher.returncode == 0, launcher.stdout[-3000:] + launcher.stderr[-3000:]
    assert "done: 10 updates, 400 frames" in launcher.stdout
    # Synchronous: every update's unrolls were played with its own weights.
    lags = {line.split("| lag ")[1].split()[0] for line in launcher.stdout.splitlines()
            if "| lag " in line}
    assert lags == {"0.0"}, launcher.stdout
    _, tuned_config, saved = checkpoints.load_model(tmp_path / "model" / "reinforcement_model_10")
    assert tuned_config.game == PONG and saved["learner"]["algorithm"] == "a2c"
    assert evaluate(tmp_path, "reinforcement_model_10")
