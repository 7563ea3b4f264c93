"""Episodes that start along a demonstration: the first observation is the demonstration's
screen at the sampled step, and play goes on from there as the demonstrator's did."""

import numpy as np
import pytest

from retro_rl.demos import dataset, parsing
from retro_rl.demos.starts import DemoStarts, demonstration_checkpoints, demonstration_paths
from retro_rl.envs import games, make_env
from retro_rl.rl import transport
from tests.support import DEMOS

MOVIE = DEMOS / "Airstriker-Genesis-v0-Level1-0003.bk2"


def test_a_start_along_a_demonstration_is_its_frame_and_plays_on_like_it(tmp_path):
    parsing.parse_movies(MOVIE, tmp_path / "data", workers=1, progress=False)
    episode, = dataset.load_dataset(tmp_path / "data")
    # Through the wire, as a worker gets them.
    demonstrations = transport.decode_demonstrations(transport.encode_demonstrations(
        demonstration_checkpoints(demonstration_paths(tmp_path / "data"), games.DEFAULT_GAME,
                                  frame_skip=4)))
    starts = DemoStarts(demonstrations, frame_skip=4)
    assert starts.steps.tolist() == [len(episode.actions) - 1]
    env = make_env()
    rng = np.random.default_rng(0)
    try:
        for movie, step in [starts.sample(rng) for _ in range(3)] + [(0, 1), (0, 75), (0, 76)]:
            observation, info = env.reset(options={
                "start": lambda retro_env, movie=movie, step=step: starts.start(
                    retro_env, movie, step)})
            np.testing.assert_array_equal(observation, episode.observations[step])
            # The demonstrator's next actions lead to its next screens.
            for t in range(step, min(step + 5, len(episode.actions) - 1)):
                observation, *_ = env.step(int(episode.actions[t]))
                np.testing.assert_array_equal(observation, episode.observations[t + 1])
        # A start from step 0 of the movie would be the game's own: never drawn.
        assert all(starts.sample(rng)[1] >= 1 for _ in range(1000))
    finally:
        env.close()


def test_a_worker_starts_its_share_of_episodes_along_the_demonstrations(tmp_path):
    from retro_rl.rl.worker import Player

    parsing.parse_movies(MOVIE, tmp_path / "data", workers=1, progress=False)
    episode, = dataset.load_dataset(tmp_path / "data")
    starts = DemoStarts(demonstration_checkpoints([MOVIE], games.DEFAULT_GAME, frame_skip=4),
                        frame_skip=4)
    env = make_env()
    try:
        player = Player(env, [None], seed=3, starts=starts, demo_start_fraction=0.5)
        firsts = [player.reset() for _ in range(40)]
    finally:
        env.close()
    assert 10 <= len(player.demo_starts) <= 30  # about half
    along = iter(player.demo_starts)
    game_start = None
    for observation in firsts:
        if any(np.array_equal(observation, episode.observations[step])
               for _, step in player.demo_starts):
            _, step = next(along)
            np.testing.assert_array_equal(observation, episode.observations[step])
        else:
            game_start = observation if game_start is None else game_start
            np.testing.assert_array_equal(observation, game_start)  # the game's own start


def test_a_movie_too_short_to_start_from_is_skipped_and_none_left_is_one_line(tmp_path, caplog):
    from retro_rl.errors import UserError
    from tests.demos.recordings import record_live

    short, *_ = record_live(tmp_path, seed=0, steps=1)  # one agent step: 4 frames
    demonstrations = demonstration_checkpoints([short, MOVIE], games.DEFAULT_GAME, frame_skip=4)
    assert [movie["name"] for movie in demonstrations] == [MOVIE.stem]
    assert any(str(short) in record.message and "skipped" in record.message
               for record in caplog.records)
    with pytest.raises(UserError, match="no movie has the 8 frames or more"):
        demonstration_checkpoints([short], games.DEFAULT_GAME, frame_skip=4)
    # A worker given such a movie anyway (a learner of another version) refuses it at once,
    # before any episode, with a reason it can report.
    with pytest.raises(ValueError, match="has no agent step to start at"):
        DemoStarts([{"name": "short", "pads": np.zeros((7, 12), np.uint8),
                     "checkpoints": [(0, b"")]}] + demonstrations, frame_skip=4)
