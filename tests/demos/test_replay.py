"""Replaying movies in the real emulator: a parsed episode is what the agent lived, frame for
frame, and the shipped demonstrations replay to the scores they claim."""

import json

import numpy as np
import pytest

from retro_rl import fileio
from retro_rl.demos import dataset, movies, parsing, replay
from retro_rl.envs import actions, games
from retro_rl.envs.emulator import emulate_frame, make_retro
from tests.demos.recordings import record_live
from tests.support import DEMOS


@pytest.fixture(scope="module")
def game_over_movie(tmp_path_factory):
    """A whole random-play Airstriker episode recorded by make_env, to game over."""
    return record_live(tmp_path_factory.mktemp("live"), seed=3)


# ------------------------------------------------------------------------------ faithful replay


def test_parsed_episode_is_what_the_agent_lived(game_over_movie, tmp_path):
    movie, observations, actions, rewards, info = game_over_movie
    assert info["episode_stats"]["return"] > 0  # the comparison below covers real rewards
    manifest = parsing.parse_movies(movie, tmp_path, workers=1, progress=False)
    episode, = dataset.load_dataset(tmp_path)
    assert episode.name == movie.stem
    assert episode.observations.dtype == np.uint8 and episode.observations.shape[1:] == (84, 84, 3)
    np.testing.assert_array_equal(episode.observations, observations)
    np.testing.assert_array_equal(episode.actions, actions)
    np.testing.assert_array_equal(episode.rewards, rewards)
    assert episode.dones.tolist() == [False] * (len(actions) - 1) + [True]
    entry, = manifest["movies"]
    # A game over can end the last step early: the frames are the environment's, exactly.
    assert entry["frames_used"] == entry["frames"] == info["episode_stats"]["frames"]
    assert entry["steps"] == info["episode_stats"]["length"] == len(actions)
    assert entry["game_ended"] and entry["score"] == info["episode_stats"]["return"]
    assert entry["projection"]["mixed_steps"] == 0
    assert entry["sha256"] == fileio.sha256_file(movie)
    assert dataset.dataset_settings(tmp_path) == {
        "frame_skip": 4, "obs_size": 84, "grayscale": False, "action_set": "full",
        "game": games.DEFAULT_GAME}


def test_other_settings_replay_exactly_too(tmp_path):
    settings = dict(frame_skip=3, obs_size=48, grayscale=True, action_set="contest")
    movie, observations, actions, rewards, _ = record_live(tmp_path / "live", 5, steps=90,
                                                           **settings)
    parsing.parse_movies(movie, tmp_path / "data", workers=1, progress=False, **settings)
    episode, = dataset.load_dataset(tmp_path / "data")
    assert episode.observations.shape == (90, 48, 48, 1)
    np.testing.assert_array_equal(episode.observations, observations)
    np.testing.assert_array_equal(episode.actions, actions)
    np.testing.assert_array_equal(episode.rewards, rewards)
    assert episode.dones[-1] and not episode.dones[:-1].any()


def test_step_label_is_the_majority_ties_to_the_earliest():
    assert replay.step_label(np.array([2, 2, 2, 2])) == 2
    assert replay.step_label(np.array([7, 5, 5, 7, 5])) == 5
    assert replay.step_label(np.array([8, 8, 1, 1])) == 8
    assert replay.step_label(np.array([1, 8, 8, 1])) == 1
    assert replay.step_label(np.array([4, 3, 9, 9, 3])) == 3


def test_buttons_changing_inside_steps_and_a_trailing_partial_step(tmp_path):
    # A human-style movie: RIGHT, RIGHT, B, B in every 4-frame step, then 3 frames of LEFT.
    env = make_retro(games.DEFAULT_GAME)
    env.record_movie(str(tmp_path / "human.bk2"))
    env.reset()
    pad = {name: np.array([b == name for b in actions.BUTTONS], np.uint8)
           for name in ("RIGHT", "B", "LEFT")}
    for _ in range(10):
        for name in ("RIGHT", "RIGHT", "B", "B"):
            emulate_frame(env, pad[name])
    for _ in range(3):
        emulate_frame(env, pad["LEFT"])
    env.stop_record()
    env.close()
    manifest = parsing.parse_movies(tmp_path / "human.bk2", tmp_path / "data", workers=1,
                                          progress=False)
    episode, = dataset.load_dataset(tmp_path / "data")
    names = actions.action_names()
    assert [names[a] for a in episode.actions] == ["RIGHT"] * 10  # a tie goes to the earliest
    entry, = manifest["movies"]
    assert (entry["frames"], entry["frames_used"], entry["steps"]) == (43, 40, 10)
    assert entry["projection"]["mixed_steps"] == 10
    assert entry["projection"]["combinations"] == {"B": 20, "RIGHT": 20}


# ------------------------------------------------------------------------------ shipped demos


def test_shipped_demonstrations_are_enough_and_beat_random_play():
    demos = json.loads((DEMOS / "demos.json").read_text())
    shipped = demos["movies"]
    assert len(shipped) >= 10
    assert sum(movie["frames"] for movie in shipped) >= 50_000
    baseline = demos["random_baseline"]
    assert baseline["episodes"] >= 20 and baseline["mean_score"] > 0
    for movie in shipped:
        inputs = movies.read_movie(DEMOS / movie["file"])  # inputs only: fast
        assert len(inputs.pads) == movie["frames"]
        assert movie["score"] >= 3 * baseline["mean_score"], movie["file"]


def test_a_shipped_demo_replays_to_the_score_it_claims(tmp_path):
    shipped = json.loads((DEMOS / "demos.json").read_text())["movies"]
    shortest = min(shipped, key=lambda movie: movie["frames"])
    manifest = parsing.parse_movies(DEMOS / shortest["file"], tmp_path, workers=1, progress=False)
    entry, = manifest["movies"]
    episode, = dataset.load_dataset(tmp_path)
    assert entry["score"] == episode.rewards.sum() == shortest["score"]
    assert entry["frames"] == shortest["frames"]


