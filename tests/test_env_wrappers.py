import gymnasium as gym
import numpy as np
import pytest
import stable_retro as retro

import env_wrappers as ew
from cli import UserError

ALL_MASKS = np.array([[(mask >> i) & 1 for i in range(12)] for mask in range(4096)], np.uint8)


def buttons(*names):
    return np.array([name in names for name in ew.BUTTONS], np.uint8)


# ------------------------------------------------------------------------------ action table


def test_button_order_is_stable_retros():
    env = ew.make_retro(ew.DEFAULT_GAME)
    assert tuple(env.buttons) == ew.BUTTONS
    env.close()


def test_full_table_has_23_distinct_rows_in_the_reference_order():
    table = ew.action_table("full")
    assert table.shape == (23, 12)
    assert len({row.tobytes() for row in table}) == 23
    assert not table[0].any()
    np.testing.assert_array_equal(table[1], buttons("LEFT"))
    np.testing.assert_array_equal(table[6], buttons("UP"))
    np.testing.assert_array_equal(table[16], buttons("B", "RIGHT", "DOWN"))  # no A bit
    np.testing.assert_array_equal(table[20], buttons("A", "RIGHT", "DOWN"))
    np.testing.assert_array_equal(table[22], buttons("DOWN", "LEFT", "RIGHT"))
    assert ew.action_names("full")[16] == "B+RIGHT+DOWN"


def test_contest_table():
    table = ew.action_table("contest")
    assert table.shape == (7, 12)
    np.testing.assert_array_equal(table[5], buttons("DOWN", "B"))
    assert ew.action_names("contest") == ["LEFT", "RIGHT", "LEFT+DOWN", "RIGHT+DOWN", "DOWN", "DOWN+B", "B"]


@pytest.mark.parametrize("action_set", sorted(ew.ACTION_SETS))
def test_every_combination_projects_and_rows_project_to_themselves(action_set):
    indices = ew.buttons_to_actions(ALL_MASKS, action_set)
    assert indices.shape == (4096,)
    assert indices.min() >= 0 and indices.max() < len(ew.ACTION_SETS[action_set])
    for index, row in enumerate(ew.action_table(action_set)):
        assert ew.buttons_to_action(row, action_set) == index
    # The scalar and vector paths agree, also for integer masks.
    for mask in (0, 1, 0b100000010011, 4095):
        assert ew.buttons_to_action(mask, action_set) == indices[mask]


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
    index = ew.buttons_to_action(buttons(*held))
    assert ew.action_names()[index] == expected


def test_every_frame_of_the_real_sonic2_movies_maps(sonic2_movies):
    frames, projected = 0, 0
    exact_rows = {row.tobytes() for row in ew.action_table()}
    for path in sonic2_movies:
        movie = retro.Movie(str(path))
        assert ew.resolve_game(movie.get_game()) == "SonicTheHedgehog2-Genesis-v0"
        movie.step()
        pads = []
        while movie.step():
            pads.append([movie.get_key(i, 0) for i in range(12)])
        pads = np.array(pads, np.uint8)
        indices = ew.buttons_to_actions(pads)
        assert len(indices) == len(pads) > 0
        assert ((indices >= 0) & (indices < 23)).all()
        frames += len(pads)
        projected += sum(row.tobytes() not in exact_rows for row in pads)
    # ../shared/retro-movies/README.md: 187,293 frames, 542 of them outside the table.
    assert frames == pytest.approx(187_293, abs=len(sonic2_movies))
    assert projected == 542


# ------------------------------------------------------------------------------ games and ROMs


def test_legacy_id_maps_to_v0():
    assert ew.resolve_game("SonicTheHedgehog2-Genesis") == "SonicTheHedgehog2-Genesis-v0"
    assert ew.resolve_game("Airstriker-Genesis") == "Airstriker-Genesis-v0"


def test_unknown_game_and_state_list_close_matches():
    with pytest.raises(UserError, match="Airstriker-Genesis-v0"):
        ew.make_env("Airstriker-Genesys")
    with pytest.raises(UserError, match="Level1"):
        ew.make_env(state="Level2")


def test_missing_sonic_rom_is_one_clear_line():
    with pytest.raises(UserError) as error:
        ew.make_env("SonicTheHedgehog2-Genesis-v0", state="EmeraldHillZone.Act1")
    message = str(error.value)
    assert "SonicTheHedgehog2-Genesis-v0" in message
    assert "python -m stable_retro.import" in message
    assert "\n" not in message


def test_sonic2_acts_are_the_shipped_states_and_have_an_end():
    states = retro.data.list_states("SonicTheHedgehog2-Genesis-v0", retro.data.Integrations.ALL)
    assert sorted(ew.SONIC2_ACTS) == sorted(states)
    assert len(ew.sonic_level_end_x("SonicTheHedgehog2-Genesis-v0")) == 18


def test_bad_settings_fail_when_made():
    with pytest.raises(UserError, match="frame_skip"):
        ew.EnvConfig(frame_skip=0)
    with pytest.raises(UserError, match="action_set"):
        ew.EnvConfig(action_set="everything")
    with pytest.raises(UserError, match="life_loss_penalty"):
        ew.EnvConfig(life_loss_penalty=-1)
    with pytest.raises(UserError, match="unknown environment settings"):
        ew.EnvConfig.from_dict({"game": ew.DEFAULT_GAME, "colour": True})


# ------------------------------------------------------------------------------ make_env on Airstriker


def test_make_env_spaces_and_frame_skip():
    env = ew.make_env()
    assert env.action_space == gym.spaces.Discrete(23)
    observation, info = env.reset(seed=0)
    assert observation.shape == (84, 84, 3) and observation.dtype == np.uint8
    assert env.observation_space.contains(observation)
    assert "lives" in info  # RAM variables are there from the first observation
    retro_env = env.unwrapped
    before = retro_env.em.get_state()
    observation, reward, terminated, truncated, info = env.step(2)
    assert info["frames"] == 4
    # The same four frames by hand, through the raw emulator, end on the same screen.
    retro_env.em.set_state(before)
    for _ in range(4):
        retro_env.em.set_button_mask(ew.action_table()[2], 0)
        retro_env.em.step()
    np.testing.assert_array_equal(observation, ew.preprocess_frame(retro_env.em.get_screen()))
    env.close()


def play(env, steps, seed=0):
    """Taps fire (B: press one step, release the next); returns rewards and the final info."""
    env.reset(seed=seed)
    rewards = []
    for step in range(steps):
        _, reward, terminated, truncated, info = env.step(4 if step % 2 == 0 else 0)
        rewards.append(reward)
        if terminated or truncated:
            break
    return np.array(rewards), info


def test_reward_scale_scales_only_what_the_agent_sees():
    raw, raw_info = play(ew.make_env(max_episode_steps=300), 300)
    scaled, scaled_info = play(ew.make_env(max_episode_steps=300, reward_scale=0.01), 300)
    assert raw.sum() > 0  # tapping fire shoots something down in 300 steps
    np.testing.assert_allclose(scaled, raw * 0.01)
    assert scaled_info["episode"]["return"] == raw_info["episode"]["return"] == raw.sum()


def test_life_loss_penalty_charges_each_lost_life_and_reports_the_score():
    raw, raw_info = play(ew.make_env(), 5000)
    charged, info = play(ew.make_env(life_loss_penalty=1000, reward_scale=0.01), 5000)
    assert raw_info["lives"] == 0 and len(charged) == len(raw) < 5000  # the game is over
    charges = raw * 0.01 - charged
    lost = np.flatnonzero(~np.isclose(charges, 0))
    assert len(lost) == 3  # Airstriker starts with three lives
    np.testing.assert_allclose(charges[lost], 10.0)
    assert info["episode"]["return"] == raw_info["episode"]["return"] == raw.sum()
    assert info["episode_return"] == raw.sum()  # the running return is the score too


def test_time_limit_truncates_with_episode_statistics():
    env = ew.make_env(max_episode_steps=10, frame_skip=3)
    rewards, info = play(env, 100)
    assert len(rewards) == 10
    assert info["episode"] == {"return": rewards.sum(), "length": 10, "frames": 30}


def test_the_action_table_survives_resets():
    env = ew.make_env()
    env.reset(seed=0)
    env.step(4)
    env.reset(seed=0)
    np.testing.assert_array_equal(env.get_wrapper_attr("table")[4], buttons("B"))
    env.close()


def test_grayscale_and_frame_stack():
    env = ew.make_env(grayscale=True, frame_stack=4, obs_size=64)
    observation, _ = env.reset(seed=0)
    assert observation.shape == (64, 64, 4)
    for _ in range(3):
        observation, *_ = env.step(2)
    assert env.observation_space.contains(observation)
    assert not np.array_equal(observation[..., 0], observation[..., 3])  # the screen scrolls


def test_sticky_actions_follow_the_seed():
    def screens(seed):
        env = ew.make_env(sticky_action_prob=0.5)
        env.reset(seed=seed)
        return [env.step(step % 23)[0] for step in range(40)]

    assert all(np.array_equal(a, b) for a, b in zip(screens(1), screens(1)))
    assert not all(np.array_equal(a, b) for a, b in zip(screens(1), screens(2)))


# ------------------------------------------------------------------------------ Sonic wrappers


class ScriptedSonic(gym.Env):
    """Stands in for Sonic 2 (whose ROM cannot ship): x follows a script, reward is x's change."""

    observation_space = gym.spaces.Box(0, 255, (4, 4, 3), np.uint8)
    action_space = gym.spaces.Discrete(3)

    def __init__(self, xs, zone=0, act=0):
        self.xs, self.zone, self.act = xs, zone, act

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return np.zeros((4, 4, 3), np.uint8), {"x": self.xs[0], "zone": self.zone, "act": self.act}

    def step(self, action):
        self.t += 1
        reward = float(self.xs[self.t] - self.xs[self.t - 1])
        info = {"x": self.xs[self.t], "zone": self.zone, "act": self.act, "frames": 4}
        return np.zeros((4, 4, 3), np.uint8), reward, self.t == len(self.xs) - 1, False, info


def test_allow_backtracking_pays_only_new_ground():
    env = ew.AllowBacktracking(ScriptedSonic([100, 110, 130, 90, 120, 140, 135]))
    env.reset()
    rewards = [env.step(0)[1] for _ in range(6)]
    # Forward 10, 20; back 40 (free); forward 30 over old ground (free), then 10 new; back 5.
    assert rewards == [10, 20, 0, 0, 10, 0]


def test_sonic_progress_and_level_complete():
    end_x = {(0, 0): 1100}
    env = ew.EpisodeStatistics(ew.SonicProgress(ScriptedSonic([100, 600, 50, 1200]), end_x))
    _, info = env.reset()
    assert info["x_progress"] == 0.0
    progress = []
    for _ in range(3):
        _, _, terminated, _, info = env.step(0)
        progress.append(info["x_progress"])
    assert progress == [0.5, 0.0, 1.0]
    assert terminated and info["level_complete"]
    assert info["episode"]["x_progress"] == 1.0 and info["episode"]["level_complete"]
