"""run_evaluation.py end to end on the real emulator with a freshly initialised model."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import imageio
import numpy as np
import pytest
import stable_retro as retro

import run_evaluation
from retro_rl.envs import EnvConfig, games
from retro_rl.demos import movies
from retro_rl.envs.emulator import run_frames
from retro_rl.errors import UserError
from tests.support import (ROOT, SONIC2, game_without_rom, save_tiny_model,
                           start_interruptible)


def save_fresh_model(workspace, name, env_config):
    save_tiny_model(os.path.join(workspace, "model", name), env_config, {"kind": "sl"})


def evaluate(workspace, *flags):
    """Runs the CLI in this process; returns the report it saved."""
    before = set(os.listdir(workspace / "results")) if (workspace / "results").exists() else set()
    assert run_evaluation.main(["--workspace_path", str(workspace), *flags]) == 0
    (new,) = set(os.listdir(workspace / "results")) - before
    with open(workspace / "results" / new) as f:
        return json.load(f)


def replay_movie_return(path):
    """Sum of the game's rewards when the emulator is fed the movie's buttons frame by frame."""
    inputs = movies.read_movie(path)
    env = retro.make(inputs.game, state=retro.State.NONE,
                     use_restricted_actions=retro.Actions.ALL, render_mode=None)
    try:
        env.initial_state = inputs.start_state
        env.reset()
        total, frames, _ = run_frames(env.unwrapped, inputs.pads)
        return total, frames
    finally:
        env.close()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("workspace")
    # A small observation keeps the network cheap on two shared cores.
    save_fresh_model(workspace, "tiny", EnvConfig(obs_size=36))
    save_fresh_model(workspace, "other", EnvConfig(obs_size=36, action_set="contest"))
    return workspace


@pytest.fixture(scope="module")
def full_run(workspace):
    """One longer run with the baseline, movies and a video: episodes long enough to score."""
    report = evaluate(workspace, "--model_name", "tiny", "--episodes", "2", "--max_steps", "400",
                      "--seed", "7", "--baseline", "random",
                      "--record_path", str(workspace / "movies"),
                      "--video", str(workspace / "best.mp4"))
    return report


def test_short_evaluation_writes_every_field_and_repeats_with_the_same_seed(workspace, capsys):
    flags = ["--model_name", "tiny", "--episodes", "2", "--max_steps", "50", "--seed", "3"]
    first = evaluate(workspace, *flags)
    printed = capsys.readouterr().out
    second = evaluate(workspace, *flags)
    assert first == second

    settings = first["settings"]
    assert settings["model_name"] == "tiny" and settings["game"] == games.DEFAULT_GAME
    assert settings["episodes"] == 2 and settings["max_steps"] == 50 and settings["seed"] == 3
    assert settings["greedy"] is False and settings["env"]["obs_size"] == 36
    episodes = first["policies"]["model"]["episodes"]
    assert [e["seed"] for e in episodes] == [3, 4]
    for episode in episodes:
        assert episode["act"] == "Level1"
        assert 1 <= episode["length"] <= 50
        assert episode["frames"] <= 4 * episode["length"]
    summary = first["policies"]["model"]["summary"]
    for key in ("return", "length", "frames"):
        assert set(summary[key]) == {"mean", "median", "std", "min", "max"}
    lengths = [e["length"] for e in episodes]
    assert summary["length"]["mean"] == pytest.approx(np.mean(lengths))
    assert summary["length"]["max"] == max(lengths)
    assert "ratio_to_random" not in first
    assert "median" in printed and f"{episodes[1]['return']:.1f}" in printed

    # Another seed plays other episodes: the report is not a constant.
    other = evaluate(workspace, *flags[:-1], "11")
    assert other["policies"]["model"]["episodes"] != episodes


def test_random_baseline_plays_the_same_episodes_and_gives_a_ratio(workspace, full_run, capsys):
    model = full_run["policies"]["model"]["summary"]["return"]["mean"]
    random = full_run["policies"]["random"]["summary"]["return"]["mean"]
    assert random > 0
    assert full_run["ratio_to_random"] == pytest.approx(model / random)
    assert [e["seed"] for e in full_run["policies"]["random"]["episodes"]] == [7, 8]

    # The baseline alone (no model) reproduces the baseline's episodes of the model's run.
    alone = evaluate(workspace, "--baseline", "random", "--game", "Airstriker-Genesis",
                     "--episodes", "2", "--max_steps", "400", "--seed", "7")
    assert list(alone["policies"]) == ["random"]
    recorded = full_run["policies"]["random"]
    assert alone["policies"]["random"]["summary"] == recorded["summary"]
    assert alone["policies"]["random"]["episodes"] == [
        {key: value for key, value in episode.items() if key != "movie"}
        for episode in recorded["episodes"]]
    assert "model / random" not in capsys.readouterr().out
    assert any(name.startswith("random-seed7") for name in os.listdir(workspace / "results"))


def test_an_episode_depends_on_its_seed_alone_not_on_the_episodes_before_it(workspace):
    three = evaluate(workspace, "--baseline", "random", "--episodes", "3", "--max_steps", "400",
                     "--seed", "0")
    alone = evaluate(workspace, "--baseline", "random", "--episodes", "1", "--max_steps", "400",
                     "--seed", "1")
    after_another = three["policies"]["random"]["episodes"][1]
    assert after_another["seed"] == 1
    assert {**after_another, "episode": 0} == alone["policies"]["random"]["episodes"][0]


@pytest.mark.slow
def test_two_worker_processes_give_the_report_of_one(workspace):
    flags = ["--model_name", "tiny", "--episodes", "3", "--max_steps", "120", "--seed", "5",
             "--baseline", "random"]
    started = time.monotonic()
    one = evaluate(workspace, *flags, "--workers", "1")
    one_s = time.monotonic() - started
    started = time.monotonic()
    two = evaluate(workspace, *flags, "--workers", "2")
    print(f"--workers 1: {one_s:.1f} s, --workers 2: {time.monotonic() - started:.1f} s")
    assert [e["seed"] for e in two["policies"]["model"]["episodes"]] == [5, 6, 7]
    assert one == two
    # The model's episodes are not the baseline's: the comparison is not of two constants.
    assert one["policies"]["model"]["episodes"] != one["policies"]["random"]["episodes"]


def test_video_holds_one_frame_per_agent_step_of_the_chosen_episode(workspace, full_run):
    episodes = full_run["policies"]["model"]["episodes"]
    best = max(range(2), key=lambda i: (episodes[i]["return"], -i))
    assert full_run["video"]["episode"] == best
    reader = imageio.get_reader(workspace / "best.mp4")
    assert reader.count_frames() == episodes[best]["length"]
    assert reader.get_meta_data()["size"] == (320, 224)  # the full Genesis screen

    report = evaluate(workspace, "--baseline", "random", "--episodes", "2", "--max_steps", "30",
                      "--video", str(workspace / "second.gif"), "--video_episode", "1")
    frames = imageio.mimread(workspace / "second.gif")
    assert len(frames) == report["policies"]["random"]["episodes"][1]["length"] == 30
    assert frames[0].shape[:2] == (224, 320)


def test_recorded_movies_replay_to_the_reported_returns(full_run):
    for label in ("model", "random"):
        for episode in full_run["policies"][label]["episodes"]:
            assert os.path.isfile(episode["movie"])
            assert (os.path.basename(os.path.dirname(episode["movie"])) == "random") == \
                (label == "random")
            replayed, frames = replay_movie_return(episode["movie"])
            assert frames == episode["frames"]
            assert replayed == episode["return"]
    assert max(e["return"] for e in full_run["policies"]["model"]["episodes"]) > 0


def test_render_with_the_dummy_video_driver_plays_the_same_episodes(workspace, monkeypatch,
                                                                     capsys):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    flags = ["--model_name", "tiny", "--episodes", "1", "--max_steps", "40"]
    plain = evaluate(workspace, *flags)
    rendered = evaluate(workspace, *flags, "--render", "--render_fps", "0")
    assert rendered["policies"] == plain["policies"]
    assert "no display" not in capsys.readouterr().err


def test_render_without_a_display_says_so_once_and_goes_on(workspace, monkeypatch, capsys):
    for name in ("SDL_VIDEODRIVER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    report = evaluate(workspace, "--baseline", "random", "--episodes", "2", "--max_steps", "20",
                      "--render")
    assert len(report["policies"]["random"]["episodes"]) == 2
    notices = [line for line in capsys.readouterr().err.splitlines() if "display" in line]
    assert notices == ["no display (DISPLAY is not set); continuing without a window"]


def test_unknown_model_lists_the_available_ones(workspace):
    with pytest.raises(UserError, match="available: other, tiny"):
        run_evaluation.main(["--workspace_path", str(workspace), "--model_name", "tinny"])


def test_bad_input_is_one_line_and_status_2(workspace):
    result = subprocess.run(
        [sys.executable, str(ROOT / "run_evaluation.py"), "--workspace_path",
         str(workspace), "--model_name", "nope"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: no model 'nope' in " + os.path.join(str(workspace), "model")
                      + "; available: other, tiny"]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("flags, message", [
    ([], "nothing to evaluate"),
    (["--baseline", "random", "--episodes", "two"], "invalid int value: 'two'"),
    (["--baseline", "best"], "invalid choice: 'best'"),
    (["--baseline", "random", "--video", "out.avi"], ".mp4 or .gif"),
    (["--baseline", "random", "--video", "v.mp4", "--episodes", "2", "--video_episode", "2"],
     "0..1"),
    (["--baseline", "random", "--state", "Level9"], "unknown state 'Level9'"),
    (["--baseline", "random", "--workers", "0"], "--workers must be at least 1"),
    (["--baseline", "random", "--render", "--workers", "2"], "--workers 1"),
])
def test_flag_mistakes_are_explained(workspace, flags, message):
    with pytest.raises(UserError, match=message.replace(".", r"\.")):
        run_evaluation.main(["--workspace_path", str(workspace), *flags])


def test_a_model_of_a_game_without_its_rom_names_the_import_command(tmp_path):
    game = game_without_rom()
    save_fresh_model(tmp_path, "norom", EnvConfig(game=game, obs_size=36))
    with pytest.raises(UserError) as error:
        run_evaluation.main(["--workspace_path", str(tmp_path), "--model_name", "norom"])
    assert str(error.value) == (f"the ROM for {game} is not imported; import your own copy "
                                f"with: {games.ROM_IMPORT_HINT}")


@pytest.mark.rom
def test_sonic2_episodes_cycle_through_the_acts(tmp_path):
    save_fresh_model(tmp_path, "sonic", EnvConfig(game=SONIC2, obs_size=36,
                                                     action_set="contest"))
    report = evaluate(tmp_path, "--model_name", "sonic", "--episodes", "3", "--max_steps", "20",
                      "--state", "EmeraldHillZone.Act1,ChemicalPlantZone.Act2")
    episodes = report["policies"]["model"]["episodes"]
    assert [e["act"] for e in episodes] == [
        "EmeraldHillZone.Act1", "ChemicalPlantZone.Act2", "EmeraldHillZone.Act1"]
    assert all(0.0 <= e["x_progress"] < 1.0 and not e["level_complete"] for e in episodes)
    assert report["policies"]["model"]["summary"]["completed_fraction"] == 0.0


# ------------------------------------------------------------------------------ what is kept


def run_script(*args, **kwargs):
    return subprocess.run([sys.executable, str(ROOT / "run_evaluation.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, **kwargs)


def test_a_damaged_model_is_the_only_line_on_stderr(workspace, tmp_path):
    """TensorFlow starts before the weights are read; none of its start-up lines show."""
    shutil.copytree(workspace / "model" / "tiny", tmp_path / "model" / "tiny")
    weights = tmp_path / "model" / "tiny" / "weights.weights.h5"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 3])
    result = run_script("--workspace_path", tmp_path, "--model_name", "tiny")
    assert result.returncode == 2
    assert result.stderr == f"error: {weights} does not match the checksum in its config.json: " \
                            "the file is damaged; copy or train the model again\n"


def test_an_unwritable_results_folder_is_refused_before_playing(tmp_path):
    (tmp_path / "results").write_text("a file where the results folder should be")
    result = run_script("--workspace_path", tmp_path, "--baseline", "random", "--episodes", "50")
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: cannot write to {tmp_path / 'results'}")
    assert "episode/s" not in result.stderr  # no progress bar: nothing was played


def test_a_video_that_cannot_be_written_still_leaves_the_report(tmp_path):
    (tmp_path / "clip.mp4").mkdir()  # a folder where the video file should go
    result = run_script("--workspace_path", tmp_path, "--baseline", "random", "--episodes", "1",
                        "--max_steps", "20", "--video", tmp_path / "clip.mp4")
    assert result.returncode == 0, result.stderr
    assert "warning: could not write the video" in result.stderr
    report, = (tmp_path / "results").glob("*.json")
    assert "video" not in json.loads(report.read_text())


@pytest.mark.slow
def test_ctrl_c_saves_the_report_of_the_episodes_played(tmp_path):
    movies = tmp_path / "movies"
    process = start_interruptible("run_evaluation.py", "--workspace_path", tmp_path,
                                  "--baseline", "random", "--episodes", 40,
                                  "--record_path", movies)
    deadline = time.monotonic() + 120
    # Episode 1's movie exists once episode 0 is over (and is written when 1 ends).
    while len(list(movies.glob("*.bk2"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    report, = (tmp_path / "results").glob("*.json")
    saved = json.loads(report.read_text())
    played = saved["policies"]["random"]["episodes"]
    assert saved["partial"] is True and 1 <= len(played) < 40
    assert f"the report of the {len(played)} episodes played is saved" in stderr
