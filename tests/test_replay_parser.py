"""The replay parser against the real emulator: live episodes, shipped demos, real Sonic 2 inputs,
and the bad input a user will feed it."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import env_wrappers as ew
import replay_parser
from cli import UserError

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEMOS = ROOT / "demos" / ew.DEFAULT_GAME
SONIC2_README = ROOT.parent / "shared" / "retro-movies" / "README.md"


def record_live(directory, seed, steps=None, **settings):
    """Plays seeded random actions in make_env while it records; returns the movie and what the
    agent lived: observations [N, ...], actions [N], rewards [N], frames emulated."""
    env = ew.make_env(record_path=directory, max_episode_steps=steps, **settings)
    rng = np.random.default_rng(seed)
    observation, _ = env.reset(seed=seed)
    observations, actions, rewards = [], [], []
    while True:
        observations.append(observation)
        actions.append(int(rng.integers(env.action_space.n)))
        observation, reward, terminated, truncated, info = env.step(actions[-1])
        rewards.append(reward)
        if terminated or truncated:
            break
    env.close()
    movie, = pathlib.Path(directory).glob("*.bk2")
    return movie, np.array(observations), np.array(actions), np.array(rewards), info


def run_cli(*args, **kwargs):
    return subprocess.run([sys.executable, str(ROOT / "replay_parser.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, **kwargs)


@pytest.fixture(scope="module")
def game_over_movie(tmp_path_factory):
    """A whole random-play Airstriker episode recorded by make_env, to game over."""
    return record_live(tmp_path_factory.mktemp("live"), seed=3)


# ------------------------------------------------------------------------------ faithful replay


def test_parsed_episode_is_what_the_agent_lived(game_over_movie, tmp_path):
    movie, observations, actions, rewards, info = game_over_movie
    assert info["episode"]["return"] > 0  # the comparison below covers real rewards
    manifest = replay_parser.parse_movies(movie, tmp_path, workers=1, progress=False)
    episode, = replay_parser.load_dataset(tmp_path)
    assert episode.name == movie.stem
    assert episode.observations.dtype == np.uint8 and episode.observations.shape[1:] == (84, 84, 3)
    np.testing.assert_array_equal(episode.observations, observations)
    np.testing.assert_array_equal(episode.actions, actions)
    np.testing.assert_array_equal(episode.rewards, rewards)
    assert episode.dones.tolist() == [False] * (len(actions) - 1) + [True]
    entry, = manifest["movies"]
    # A game over can end the last step early: the frames are the environment's, exactly.
    assert entry["frames_used"] == entry["frames"] == info["episode"]["frames"]
    assert entry["steps"] == info["episode"]["length"] == len(actions)
    assert entry["game_ended"] and entry["score"] == info["episode"]["return"]
    assert entry["projection"]["mixed_steps"] == 0
    assert entry["sha256"] == replay_parser.sha256(movie)
    assert replay_parser.dataset_settings(tmp_path) == {
        "frame_skip": 4, "obs_size": 84, "grayscale": False, "action_set": "full",
        "game": ew.DEFAULT_GAME}


def test_other_settings_replay_exactly_too(tmp_path):
    settings = dict(frame_skip=3, obs_size=48, grayscale=True, action_set="contest")
    movie, observations, actions, rewards, _ = record_live(tmp_path / "live", 5, steps=90, **settings)
    replay_parser.parse_movies(movie, tmp_path / "data", workers=1, progress=False, **settings)
    episode, = replay_parser.load_dataset(tmp_path / "data")
    assert episode.observations.shape == (90, 48, 48, 1)
    np.testing.assert_array_equal(episode.observations, observations)
    np.testing.assert_array_equal(episode.actions, actions)
    np.testing.assert_array_equal(episode.rewards, rewards)
    assert episode.dones[-1] and not episode.dones[:-1].any()


def test_step_label_is_the_majority_ties_to_the_earliest():
    assert replay_parser.step_label(np.array([2, 2, 2, 2])) == 2
    assert replay_parser.step_label(np.array([7, 5, 5, 7, 5])) == 5
    assert replay_parser.step_label(np.array([8, 8, 1, 1])) == 8
    assert replay_parser.step_label(np.array([1, 8, 8, 1])) == 1
    assert replay_parser.step_label(np.array([4, 3, 9, 9, 3])) == 3


def test_buttons_changing_inside_steps_and_a_trailing_partial_step(tmp_path):
    # A human-style movie: RIGHT, RIGHT, B, B in every 4-frame step, then 3 frames of LEFT.
    env = ew.make_retro(ew.DEFAULT_GAME)
    env.record_movie(str(tmp_path / "human.bk2"))
    env.reset()
    pad = {name: np.array([b == name for b in ew.BUTTONS], np.uint8) for name in ("RIGHT", "B", "LEFT")}
    for step in range(10):
        for name in ("RIGHT", "RIGHT", "B", "B"):
            ew.emulate_frame(env, pad[name])
    for _ in range(3):
        ew.emulate_frame(env, pad["LEFT"])
    env.stop_record()
    env.close()
    manifest = replay_parser.parse_movies(tmp_path / "human.bk2", tmp_path / "data", workers=1,
                                          progress=False)
    episode, = replay_parser.load_dataset(tmp_path / "data")
    names = ew.action_names()
    assert [names[a] for a in episode.actions] == ["RIGHT"] * 10  # a tie goes to the earliest
    entry, = manifest["movies"]
    assert (entry["frames"], entry["frames_used"], entry["steps"]) == (43, 40, 10)
    assert entry["projection"]["mixed_steps"] == 10
    assert entry["projection"]["combinations"] == {"B": 20, "RIGHT": 20}


# ------------------------------------------------------------------------------ shipped demos


def test_shipped_demonstrations_are_enough_and_beat_random_play():
    demos = json.loads((DEMOS / "demos.json").read_text())
    movies = demos["movies"]
    assert len(movies) >= 10
    assert sum(movie["frames"] for movie in movies) >= 50_000
    baseline = demos["random_baseline"]
    assert baseline["episodes"] >= 20 and baseline["mean_score"] > 0
    for movie in movies:
        inputs = replay_parser.read_movie(DEMOS / movie["file"])  # inputs only: fast
        assert len(inputs.pads) == movie["frames"]
        assert movie["score"] >= 3 * baseline["mean_score"], movie["file"]


def test_a_shipped_demo_replays_to_the_score_it_claims(tmp_path):
    movies = json.loads((DEMOS / "demos.json").read_text())["movies"]
    shortest = min(movies, key=lambda movie: movie["frames"])
    manifest = replay_parser.parse_movies(DEMOS / shortest["file"], tmp_path, workers=1, progress=False)
    entry, = manifest["movies"]
    episode, = replay_parser.load_dataset(tmp_path)
    assert entry["score"] == episode.rewards.sum() == shortest["score"]
    assert entry["frames"] == shortest["frames"]


# ------------------------------------------------------------------------------ real Sonic 2 inputs


def test_stats_on_the_real_sonic2_movies(sonic2_movies):
    result = run_cli("--replay_path", sonic2_movies[0].parent, "--stats")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    readme = SONIC2_README.read_text()
    # The README counts movie steps (its numbers include the first, reset, step).
    for act, steps in [("EmeraldHillZone.Act1", "4,583"), ("EmeraldHillZone.Act2", "9,553"),
                       ("MetropolisZone.Act3", "19,835"), ("WingFortressZone", "18,449"),
                       ("AquaticRuinZone.Act1", "4,484")]:
        assert f"{act} {steps}" in readme
        row = rows[f"SonicTheHedgehog2-Genesis-{act}-0000"]
        assert int(row[1]) == int(steps.replace(",", "")) == int(row[2]) + 1
        assert row[5] == "100.00%"
    assert len([name for name in rows if name.startswith("SonicTheHedgehog2-Genesis-")]) == 18
    total = rows["total:"]
    assert total[3:] == ["187293", "187275", "27", "542", "100.00%"]
    assert rows["UP+LEFT"] == ["UP+LEFT", "198", "LEFT"]
    assert rows["RIGHT+X"] == ["RIGHT+X", "13", "RIGHT"]


# ------------------------------------------------------------------------------ bad input


def write_variant(source, target, **replace):
    """Copies a .bk2, replacing members' contents: write_variant(a, b, **{"Header.txt": ...})."""
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w") as out:
        for name in archive.namelist():
            out.writestr(name, replace.get(name.replace(" ", "_").replace(".", "_"), archive.read(name)))


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory, game_over_movie):
    """Two good movies beside one of each kind of bad one."""
    folder = tmp_path_factory.mktemp("mixed")
    good = game_over_movie[0]
    shutil.copy(good, folder / "good-a.bk2")
    record_live(tmp_path_factory.mktemp("short"), 7, steps=60)[0].replace(folder / "good-b.bk2")
    data = good.read_bytes()
    (folder / "truncated.bk2").write_bytes(data[: len(data) // 2])
    (folder / "notes.bk2").write_text("not a movie\n")
    log = zipfile.ZipFile(good).read("Input Log.txt").decode().splitlines()
    write_variant(good, folder / "empty.bk2", Input_Log_txt="\n".join(log[:2] + ["[/Input]"]))
    write_variant(good, folder / "badstate.bk2", Core_bin=bytes(4096))
    header = zipfile.ZipFile(good).read("Header.txt").decode()
    write_variant(good, folder / "sonic.bk2",
                  Header_txt=header.replace(ew.DEFAULT_GAME, "SonicTheHedgehog2-Genesis"))
    return folder


def test_bad_movies_are_reported_and_the_good_ones_still_parsed(mixed_folder, tmp_path):
    result = run_cli("--replay_path", mixed_folder, "--dataset_path", tmp_path, "--workers", 2)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 5
    expected = {"truncated.bk2": "truncated or corrupt zip", "notes.bk2": "not a .bk2 movie",
                "empty.bk2": "zero frames", "sonic.bk2": "python -m stable_retro.import",
                "badstate.bk2": "start state does not load"}
    for name, reason in expected.items():
        line, = [line for line in errors if name in line]
        assert reason in line
    assert sorted(path.name for path in tmp_path.iterdir()) == ["good-a.npz", "good-b.npz", "manifest.json"]
    assert [episode.name for episode in replay_parser.load_dataset(tmp_path)] == ["good-a", "good-b"]
    assert "2 usable, 5 failed" in result.stdout

    # A second run replays nothing already parsed.
    before = {path: path.stat().st_mtime_ns for path in tmp_path.glob("*.npz")}
    again = run_cli("--replay_path", mixed_folder, "--dataset_path", tmp_path)
    assert again.returncode == 0
    assert again.stdout.count("skipped (already parsed)") == 2
    assert before == {path: path.stat().st_mtime_ns for path in tmp_path.glob("*.npz")}


@pytest.mark.parametrize("names", [["truncated.bk2", "notes.bk2"], ["empty.bk2"], ["sonic.bk2"]])
def test_nothing_usable_is_exit_status_2_and_writes_nothing(mixed_folder, tmp_path, names):
    result = run_cli("--replay_path", *(mixed_folder / name for name in names),
                     "--dataset_path", tmp_path / "data")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: no usable movie")
    assert not (tmp_path / "data").exists()


def test_empty_or_missing_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    for folder, reason in [(tmp_path / "empty", "folder holds no .bk2 movies"),
                           (tmp_path / "gone", "no such file or folder")]:
        result = run_cli("--replay_path", folder, "--dataset_path", tmp_path / "data")
        assert (result.returncode, result.stderr) == (2, f"error: {folder}: {reason}\n")
        assert not (tmp_path / "data").exists()
    with pytest.raises(UserError, match="holds no .bk2"):
        replay_parser.parse_movies(tmp_path / "empty", tmp_path / "data", progress=False)


def test_a_dataset_is_not_mixed_with_other_settings(game_over_movie, tmp_path):
    replay_parser.parse_movies(game_over_movie[0], tmp_path, workers=1, progress=False)
    with pytest.raises(UserError, match="frame_skip"):
        replay_parser.parse_movies(game_over_movie[0], tmp_path, frame_skip=2, progress=False)


def test_ctrl_c_leaves_no_partial_file(tmp_path):
    movies = sorted(DEMOS.glob("*.bk2"))[:4]
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "replay_parser.py"), "--replay_path", *movies,
         "--dataset_path", tmp_path, "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    # Interrupt while a worker is writing (the worst moment) or, should the polling miss that
    # short window, once the first movie is written: the other workers are still replaying.
    deadline = time.monotonic() + 60
    while (not list(tmp_path.glob(".*.tmp")) and not list(tmp_path.glob("*.npz"))
           and time.monotonic() < deadline):
        time.sleep(0.01)
    assert process.poll() is None, "the parser finished before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert not list(tmp_path.glob(".*"))  # no temporary file
    # Whatever was written is whole: every manifest entry loads, every .npz is complete.
    if (tmp_path / "manifest.json").exists():
        replay_parser.load_dataset(tmp_path)
    for path in tmp_path.glob("*.npz"):
        with np.load(path) as arrays:
            assert len(arrays["observations"]) == len(arrays["actions"]) == len(arrays["dones"]) > 0


def test_the_python_api_reports_bad_movies_in_its_result(mixed_folder, tmp_path):
    manifest = replay_parser.parse_movies([mixed_folder / "good-b.bk2", mixed_folder / "truncated.bk2"],
                                          tmp_path / "data", workers=1, progress=False)
    assert [movie["name"] for movie in manifest["movies"]] == ["good-b"]
    error, = manifest["errors"]
    assert "truncated.bk2: truncated or corrupt zip" in error
    with pytest.raises(UserError, match="empty.bk2: the movie has zero frames"):
        replay_parser.parse_movies(mixed_folder / "empty.bk2", tmp_path / "other", progress=False)
