"""Atari 2600 games from ale-py's bundled ROMs: the importer, the ALE action table, and an
environment that steps with the usual preprocessing."""

import numpy as np
import pytest

from retro_rl.envs import EnvConfig, actions, atari, games
from tests.support import rom_imported

PONG = "Pong-Atari2600-v0"
ALL_MASKS = np.array([[(mask >> i) & 1 for i in range(8)] for mask in range(256)], np.uint8)


@pytest.fixture(scope="module")
def atari_roms():
    """ale-py's ROMs imported as a user would (python -m retro_rl.envs.atari)."""
    if not rom_imported(PONG):
        atari.import_atari_roms()
    return atari.playable_atari_games()


def test_the_import_makes_the_bundled_games_playable(atari_roms):
    assert {PONG, "MontezumaRevenge-Atari2600-v0", "Breakout-Atari2600-v0"} <= set(atari_roms)
    assert len(atari_roms) >= 30  # 32 with ale-py 0.12.1


def test_the_ale_table_has_18_distinct_rows_and_every_combination_projects():
    table = actions.action_table("ale")
    assert table.shape == (18, len(actions.ATARI_BUTTONS))
    assert len({row.tobytes() for row in table}) == 18
    assert actions.action_names("ale")[:2] == ["none", "BUTTON"]
    indices = actions.buttons_to_actions(ALL_MASKS, "ale")
    assert indices.shape == (256,) and indices.min() >= 0 and indices.max() < 18
    for index, row in enumerate(table):
        assert actions.buttons_to_action(row, "ale") == index
    # SELECT and RESET are not the agent's: holding them changes nothing.
    up_fire = actions.buttons_to_action(table[actions.action_names("ale").index("UP+BUTTON")],
                                        "ale")
    with_select = ALL_MASKS[0].copy()
    for name in ("UP", "BUTTON", "SELECT", "RESET"):
        with_select[actions.ATARI_BUTTONS.index(name)] = 1
    assert actions.buttons_to_action(with_select, "ale") == up_fire


def test_pong_steps_with_the_platforms_defaults(atari_roms):
    config = EnvConfig(game=PONG, grayscale=True, frame_stack=4, sticky_action_prob=0.25)
    assert games.platform(PONG) == "Atari2600"
    assert config.action_set == "ale" and config.num_actions == 18
    env = config.make()
    try:
        observation, _ = env.reset(seed=0)
        assert observation.shape == (84, 84, 4) and observation.dtype == np.uint8
        total, rng = 0.0, np.random.default_rng(0)
        for _ in range(300):
            observation, reward, terminated, truncated, info = env.step(int(rng.integers(18)))
            total += reward
            assert not truncated
            if terminated:
                break
        # A random player loses points at Pong; in 300 steps the computer scores.
        assert total < 0 and observation.std() > 0
    finally:
        env.close()


def test_montezuma_episodes_report_the_rooms_they_visited(atari_roms):
    env = EnvConfig(game="MontezumaRevenge-Atari2600-v0", max_episode_steps=30).make()
    try:
        _, info = env.reset(seed=0)
        assert info["rooms"] == 1 << 1  # the game starts in room 1 (RAM byte 3)
        for _ in range(30):
            _, _, terminated, truncated, info = env.step(0)
            if terminated or truncated:
                break
        assert truncated and info["episode_stats"]["rooms"] == 1 << 1
        assert games.room_count(info["episode_stats"]["rooms"]) == 1
    finally:
        env.close()
