"""A Gymnasium id through the commands: a tiny learner run on ALE/Pong-v5 leaves a model that
run_evaluation.py plays, and what cannot be played stops each command with one line."""

import json
import subprocess

import pytest

from retro_rl.envs import EnvConfig
from retro_rl.model import checkpoints
from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network
from tests.support import ROOT, assert_one_line_error, run_command


@pytest.mark.slow
def test_pong_trains_on_the_ale_setup_and_evaluation_plays_the_model(tmp_path):
    run = subprocess.run(
        [str(ROOT / "run_reinforcement_learning.sh"), "2", "0", "none", "--game", "ALE/Pong-v5",
         "--preset", "ppo_atari", "--unroll_length", "16", "--num_minibatches", "2",
         "--total_frames", "384", "--workspace_path", str(tmp_path), "--bind", "127.0.0.1:0"],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # 384 frames = 3 rounds of 2 workers x 16 agent steps x frame skip 4.
    assert "done: 3 updates, 384 frames" in run.stdout
    network, env_config, config = checkpoints.load_model(
        str(tmp_path / "model" / "reinforcement_model_3"))
    assert env_config.game == "ALE/Pong-v5" and network.config.num_actions == 6
    assert network.observation_shape == (84, 84, 4)
    assert (env_config.noop_max, env_config.sticky_action_prob) == (30, 0.25)
    # The workers trained on clipped rewards with a life lost as an episode's end.
    assert env_config.clip_rewards and env_config.life_loss_ends_episode
    learner = config["learner"]
    assert (learner["learning_rate"], learner["final_learning_rate_fraction"],
            learner["clip_ratio"], learner["value_clip"], learner["baseline_cost"]) == (
        2.5e-4, 0.0, 0.1, 0.1, 0.5)

    video = tmp_path / "pong.gif"
    evaluation = run_command(
        "run_evaluation.py", "--workspace_path", tmp_path, "--model_name",
        "reinforcement_model_3", "--episodes", "2", "--max_steps", "250", "--baseline",
        "random", "--video", video, timeout=300)
    assert evaluation.returncode == 0, evaluation.stderr[-3000:]
    (path,) = (tmp_path / "results").glob("*.json")
    report = json.loads(path.read_text())
    assert report["settings"]["env"]["life_loss_ends_episode"] is False  # whole games
    for policy in ("model", "random"):
        returns = [row["return"] for row in report["policies"][policy]["episodes"]]
        assert all(-21 <= value <= 21 and value == int(value) for value in returns)
        assert min(returns) < 0  # 250 steps of an untrained paddle concede points
    # Each of the 250 steps is a frame of the video but the first, the FIRE that starts the
    # game after the reset (fire on reset), which the agent did not choose.
    assert video.stat().st_size > 0 and report["video"]["frames"] == 249


def test_a_model_trained_on_clipped_rewards_is_evaluated_on_the_games_score(tmp_path):
    """Space Invaders scores 5 to 30 an invader: its score is no sum of clipped rewards."""
    env_config = EnvConfig(game="ALE/SpaceInvaders-v5").with_training_defaults()
    assert env_config.clip_rewards and env_config.life_loss_ends_episode
    network = create_network(NetworkConfig(num_actions=env_config.num_actions),
                             env_config.observation_shape, seed=0)
    checkpoints.save_model(tmp_path / "model" / "reinforcement_model_1", network, env_config,
                           {"kind": "reinforcement", "update": 1, "frames": 0})
    evaluation = run_command(
        "run_evaluation.py", "--workspace_path", tmp_path, "--model_name",
        "reinforcement_model_1", "--episodes", "2", "--max_steps", "600", timeout=300)
    # (The model's settings clip the rewards its policy sees; the report is of the game.)
    assert evaluation.returncode == 0, evaluation.stderr[-3000:]
    (path,) = (tmp_path / "results").glob("*.json")
    rows = json.loads(path.read_text())["policies"]["model"]["episodes"]
    assert all(row["return"] % 5 == 0 for row in rows)
    assert max(row["return"] for row in rows) > 30  # their signs would sum to about 10


@pytest.mark.parametrize("script, args, words", [
    ("run_evaluation.py", ["--baseline", "random", "--game", "ALE/Pongg-v5"],
     ["unknown game 'ALE/Pongg-v5'", "ALE/Pong-v5"]),
    ("run_evaluation.py", ["--baseline", "random", "--game", "Pendulum-v1"],
     ["Pendulum-v1", "not discrete"]),
    ("run_evaluation.py", ["--baseline", "random", "--game", "ALE/Pong-v5", "--record_path",
                           "movies"], ["ALE/Pong-v5", ".bk2"]),
    ("learner.py", ["--game", "Pendulum-v1", "--bind", "127.0.0.1:0"],
     ["Pendulum-v1", "not discrete"]),
    ("record_demonstrations.py", ["--game", "ALE/Pong-v5", "--output", "demos"],
     ["ALE/Pong-v5", ".bk2"]),
    ("env_wrappers.py", ["--game", "ALE/Pongg-v5"], ["ALE/Pongg-v5"]),
])
def test_what_cannot_be_played_stops_with_one_line(tmp_path, script, args, words):
    args = [str(tmp_path / arg) if arg in ("movies", "demos") else arg for arg in args]
    if script == "learner.py":
        args += ["--workspace_path", str(tmp_path)]
    assert_one_line_error(run_command(script, *args, timeout=120), *words)


def test_env_wrappers_shows_an_ale_game_as_the_agent_sees_it():
    result = run_command("env_wrappers.py", "--game", "ALE/Pong-v5", "--steps", "20")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "observation: uint8 (84, 84, 4)" in result.stdout  # 84x84 gray, 4 frames
    assert "actions (native, 6):" in result.stdout and "  1  FIRE" in result.stdout
    assert "20 random steps (80 frames)" in result.stdout
