"""The action tables and the projection of any button combination onto them."""

import numpy as np
import pytest
import stable_retro as retro

from retro_rl.envs import actions, games
from retro_rl.envs.emulator import make_retro

ALL_MASKS = np.array([[(mask >> i) & 1 for i in range(12)] for mask in range(4096)], np.uint8)


def buttons(*names):
    return np.array([name in names for name in actions.BUTTONS], np.uint8)


def test_button_order_is_stable_retros():
    env = make_retro(games.DEFAULT_GAME)
    assert tuple(env.buttons) == actions.BUTTONS
    env.close()


def test_full_table_has_23_distinct_rows_in_the_reference_order():
    table = actions.action_table("full")
    assert table.shape == (23, 12)
    assert len({row.tobytes() for row in table}) == 23
    assert not table[0].any()
    np.testing.assert_array_equal(table[1], buttons("LEFT"))
    np.testing.assert_array_equal(table[6], buttons("UP"))
    np.testing.assert_array_equal(table[16], buttons("B", "RIGHT", "DOWN"))  # no A bit
    np.testing.assert_array_equal(table[20], buttons("A", "RIGHT", "DOWN"))
    np.testing.assert_array_equal(table[22], buttons("DOWN", "LEFT", "RIGHT"))
    assert actions.action_names("full")[16] == "B+RIGHT+DOWN"


def test_contest_table():
    table = actions.action_table("contest")
    assert table.shape == (7, 12)
    np.testing.assert_array_equal(table[5], buttons("DOWN", "B"))
    assert actions.action_names("contest") == [
        "LEFT", "RIGHT", "LEFT+DOWN", "RIGHT+DOWN", "DOWN", "DOWN+B", "B"]


@pytest.mark.parametrize("action_set", sorted(name for name, platform in
                                               actions.SET_PLATFORM.items()
                                               if platform == "Genesis"))
def test_every_combination_projects_and_rows_project_to_themselves(action_set):
    indices = actions.buttons_to_actions(ALL_MASKS, action_set)
    assert indices.shape == (4096,)
    assert indices.min() >= 0 and indices.max() < len(actions.ACTION_SETS[action_set])
    for index, row in enumerate(actions.action_table(action_set)):
        assert actions.buttons_to_action(row, action_set) == index
    # The scalar and vector paths agree, also for integer masks.
    for mask in (0, 1, 0b100000010011, 4095):
        assert actions.buttons_to_action(mask, action_set) == indices[mask]


@pytest.mark.parametrize("held, expected", [
    (("START",), "none"),
    (("RIGHT", "MODE", "START"), "RIGHT"),
    (("RIGHT", "X"), "RIGHT"),
    (("C",), "B"),
    (("A", "B", "LEFT"), "B+LEFT"),
    (("UP", "LEFT"), "LEFT"),
    (("A", "UP", "LEFT"), "A+LEFT"),
    (("B", "UP", "RIGHT"), "B+RIGHT"),
    (("A", "UP"), "A"),
    (("B", "UP", "DOWN"), "B+DOWN"),
    (("UP", "DOWN"), "DOWN"),
    (("UP",), "UP"),
    (("A", "DOWN", "LEFT", "RIGHT"), "A+DOWN"),
])
def test_documented_projection(held, expected):
    index = actions.buttons_to_action(buttons(*held))
    assert actions.action_names()[index] == expected


def test_every_frame_of_the_real_sonic2_movies_maps(sonic2_movies):
    frames, projected = 0, 0
    exact_rows = {row.tobytes() for row in actions.action_table()}
    for path in sonic2_movies:
        movie = retro.Movie(str(path))
        assert games.resolve_game(movie.get_game()) == "SonicTheHedgehog2-Genesis-v0"
        movie.step()
        pads = []
        while movie.step():
            pads.append([movie.get_key(i, 0) for i in range(12)])
        pads = np.array(pads, np.uint8)
        indices = actions.buttons_to_actions(pads)
        assert len(indices) == len(pads) > 0
        frames += len(pads)
        projected += sum(row.tobytes() not in exact_rows for row in pads)
    # ../shared/retro-movies/README.md: 187,293 frames, 542 of them outside the table.
    assert frames == pytest.approx(187_293, abs=len(sonic2_movies))
    assert projected == 542
