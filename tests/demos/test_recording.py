"""The demonstration recorder: a human's keys end up in the movie; the search records movies that
replay to the scores it writes down."""

import json

import numpy as np
import pytest
import pygame

from retro_rl.demos import movies, parsing
from retro_rl.demos.human import play_human
from retro_rl.envs import actions, games
from retro_rl.envs.emulator import make_retro
from tests.support import run_command


def test_human_keys_become_the_movies_buttons(tmp_path):
    """Headless (SDL_VIDEODRIVER=dummy, see conftest): keys posted as pygame events."""
    script = {
        10: [(pygame.KEYDOWN, pygame.K_RIGHT), (pygame.KEYDOWN, pygame.K_x)],
        25: [(pygame.KEYUP, pygame.K_RIGHT), (pygame.KEYDOWN, pygame.K_UP),
             (pygame.KEYDOWN, pygame.K_z)],
        30: [(pygame.KEYUP, pygame.K_x), (pygame.KEYUP, pygame.K_UP), (pygame.KEYUP, pygame.K_z),
             (pygame.KEYDOWN, pygame.K_RETURN), (pygame.KEYDOWN, pygame.K_c)],
        33: [(pygame.KEYUP, pygame.K_RETURN), (pygame.KEYUP, pygame.K_c)],
        40: [(pygame.KEYDOWN, pygame.K_ESCAPE)],
    }

    def post_keys(frame):
        for kind, key in script.get(frame, []):
            pygame.event.post(pygame.event.Event(kind, key=key))

    env = make_retro(games.DEFAULT_GAME)
    try:
        score, frames = play_human(
            env, tmp_path / "human.bk2", fps=0, max_frames=500, before_frame=post_keys)
    finally:
        env.close()
    assert frames == 40  # Esc ended it, before max_frames
    pads = movies.read_movie(tmp_path / "human.bk2").pads
    held = [{actions.BUTTONS[i] for i in np.flatnonzero(pad)} for pad in pads]
    assert held == ([set()] * 10 + [{"RIGHT", "B"}] * 15 + [{"B", "UP", "A"}] * 5
                    + [{"START", "C"}] * 3 + [set()] * 7)


@pytest.mark.slow
def test_search_records_movies_that_replay_to_their_scores(tmp_path):
    result = run_command("record_demonstrations.py", "--output", tmp_path, "--movies", "2",
                         "--frames", "240", "--baseline_episodes", "2", "--candidates", "3",
                         "--horizon", "12", "--commit", "4")
    assert result.returncode == 0, result.stderr
    demos = json.loads((tmp_path / "demos.json").read_text())
    assert [movie["file"] for movie in demos["movies"]] == [
        "Airstriker-Genesis-v0-Level1-0000.bk2", "Airstriker-Genesis-v0-Level1-0001.bk2"]
    assert demos["random_baseline"]["episodes"] == 2 and demos["total_frames"] == 480
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        ["demos.json"] + [movie["file"] for movie in demos["movies"]])  # no recording leftovers
    assert max(movie["score"] for movie in demos["movies"]) > 0  # so the replay check has teeth
    manifest = parsing.parse_movies(tmp_path, tmp_path / "data", workers=1, progress=False)
    for claimed, parsed in zip(demos["movies"], manifest["movies"]):
        assert parsed["frames"] == claimed["frames"] == 240
        assert parsed["score"] == claimed["score"]
        assert f"score {claimed['score']:.0f} in 240 frames" in result.stdout
    # Different plans per movie: the two demonstrations are not the same button sequence.
    first, second = (movies.read_movie(tmp_path / movie["file"]).pads
                     for movie in demos["movies"])
    assert not np.array_equal(first, second)


def test_bad_flags_are_one_line(tmp_path):
    result = run_command("record_demonstrations.py", "--output", tmp_path, "--commit", "50",
                         "--horizon", "10")
    assert result.returncode == 2
    assert result.stderr == "error: --commit (50) must not exceed --horizon (10)\n"
