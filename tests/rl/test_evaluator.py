"""Evaluation while training: a launcher run with --eval_every charts eval/, keeps best_model
with its evaluation and video, and its evaluation is run_evaluation.py's on the same seeds. The
run is tracked (--track, wandb offline): the curves, settings and video reach its run folder."""

import json
import os

import imageio
import pytest
import tensorflow as tf

import run_evaluation
from retro_rl.errors import UserError
from retro_rl.model import checkpoints
from retro_rl.rl.flags import parse_learner_args
from tests.commands.test_run_reinforcement_learning import SMALL_RUN, processes
from tests.support import ROOT
from tests.test_tracking import history_values, wandb_run


def eval_points(workspace):
    points = {}
    for root, _, files in os.walk(workspace / "tensorboard"):
        for name in files:
            for event in tf.compat.v1.train.summary_iterator(os.path.join(root, name)):
                for value in event.summary.value:
                    if value.tag.startswith("eval/"):
                        number = tf.make_ndarray(value.tensor) if value.HasField("tensor") \
                            else value.simple_value
                        points.setdefault(value.tag, {})[event.step] = float(number)
    return points


@pytest.mark.slow
def test_a_run_with_eval_every_keeps_its_best_policy_as_run_evaluation_measures_it(
        tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    with processes() as start:
        launcher = start([str(ROOT / "run_reinforcement_learning.sh"), "1", "0", "none",
                          "--total_frames", "1600", "--workspace_path", str(tmp_path),
                          "--eval_every", "800", "--eval_episodes", "2", "--track", *SMALL_RUN],
                         tmp_path / "launcher.out")
        status = launcher.wait(timeout=400)
        output = (tmp_path / "launcher.out").read_text()
        assert status == 0, output
    assert "evaluating the final weights" in output

    points = eval_points(tmp_path)
    assert set(points) == {"eval/return", "eval/length", "eval/completion_rate"}, output
    # At the frames of the weights measured; the final weights' point is always there.
    assert 1600 in points["eval/return"] and set(points["eval/return"]) <= {800, 1600}
    assert all(length > 0 for length in points["eval/length"].values())

    best = tmp_path / "model" / "best_model"
    network, env_config, config = checkpoints.load_model(str(best))
    assert config["kind"] == "reinforcement" and config["frames"] in points["eval/return"]
    evaluation = json.loads((best / "evaluation.json").read_text())
    best_mean = evaluation["policies"]["model"]["summary"]["return"]["mean"]
    assert best_mean == max(points["eval/return"].values())
    assert points["eval/return"][config["frames"]] == best_mean
    video = imageio.get_reader(str(best / "episode_0.mp4"))
    assert video.count_frames() == min(evaluation["policies"]["model"]["episodes"][0]["length"],
                                       900)
    assert not (tmp_path / "evaluation").exists()

    config, history, run_folder = wandb_run(tmp_path)
    assert config["eval_every"] == 800 and config["total_frames"] == 1600
    assert history_values(history, "eval/return") == points["eval/return"]
    # Every update's losses, at the frames axis (20 updates of 80 frames).
    assert set(history_values(history, "losses/total")) == set(range(80, 1601, 80))
    videos = [name for _, _, names in os.walk(run_folder) for name in names
              if name.endswith(".mp4")]
    assert videos, "the best policy's video is not in the tracked run"

    # The same episodes as run_evaluation.py plays with its defaults (seeds 0, 1).
    assert run_evaluation.main(["--workspace_path", str(tmp_path), "--model_name", "best_model",
                                "--episodes", "2", "--workers", "1"]) == 0
    report, = (tmp_path / "results").glob("*.json")
    played = json.loads(report.read_text())["policies"]["model"]["episodes"]
    assert played == evaluation["policies"]["model"]["episodes"]


@pytest.mark.parametrize("flags, message", [
    (["--eval_every", "-5"], "eval_every must be at least 0 (got -5)"),
    (["--eval_episodes", "0"], "eval_episodes must be at least 1 (got 0)"),
    (["--eval_every", "1e6"], "invalid int value: '1e6'"),
])
def test_evaluation_flag_mistakes_are_explained(flags, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_learner_args(flags)
