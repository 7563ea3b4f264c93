"""make_env and its wrappers on the real Airstriker emulator, and Sonic's wrappers on a
scripted stand-in (its ROM cannot ship)."""

import gymnasium as gym
import numpy as np

from retro_rl.demos import movies
from retro_rl.envs import actions, games, make_env, statistics, wrappers
from retro_rl.envs.emulator import make_retro, run_frames
from retro_rl.envs.observations import preprocess_frame
from tests.support import DEMOS


def buttons(*names):
    return np.array([name in names for name in actions.BUTTONS], np.uint8)



def test_make_env_spaces_and_frame_skip():
    env = make_env()
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
        retro_env.em.set_button_mask(actions.action_table()[2], 0)
        retro_env.em.step()
    np.testing.assert_array_equal(observation, preprocess_frame(retro_env.em.get_screen()))
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
    raw, raw_info = play(make_env(max_episode_steps=300), 300)
    scaled, scaled_info = play(make_env(max_episode_steps=300, reward_scale=0.01), 300)
    assert raw.sum() > 0  # tapping fire shoots something down in 300 steps
    np.testing.assert_allclose(scaled, raw * 0.01)
    assert scaled_info["episode_stats"]["return"] == raw_info["episode_stats"]["return"] \
        == raw.sum()


def test_life_loss_penalty_charges_each_lost_life_and_reports_the_score():
    raw, raw_info = play(make_env(), 5000)
    charged, info = play(make_env(life_loss_penalty=1000, reward_scale=0.01), 5000)
    assert raw_info["lives"] == 0 and len(charged) == len(raw) < 5000  # the game is over
    charges = raw * 0.01 - charged
    lost = np.flatnonzero(~np.isclose(charges, 0))
    assert len(lost) == 3  # Airstriker starts with three lives
    np.testing.assert_allclose(charges[lost], 10.0)
    assert info["episode_stats"]["return"] == raw_info["episode_stats"]["return"] == raw.sum()
    assert info["episode_return"] == raw.sum()  # the running return is the score too


def test_time_limit_truncates_with_episode_statistics():
    env = make_env(max_episode_steps=10, frame_skip=3)
    rewards, info = play(env, 100)
    assert len(rewards) == 10
    assert info["episode_stats"] == {"return": rewards.sum(), "length": 10, "frames": 30,
                                     "level_complete": False}


def test_the_action_table_survives_resets():
    env = make_env()
    env.reset(seed=0)
    env.step(4)
    env.reset(seed=0)
    np.testing.assert_array_equal(env.get_wrapper_attr("table")[4], buttons("B"))
    env.close()


def test_grayscale_and_frame_stack():
    env = make_env(grayscale=True, frame_stack=4, obs_size=64)
    observation, _ = env.reset(seed=0)
    assert observation.shape == (64, 64, 4)
    for _ in range(3):
        observation, *_ = env.step(2)
    assert env.observation_space.contains(observation)
    assert not np.array_equal(observation[..., 0], observation[..., 3])  # the screen scrolls


def test_sticky_actions_follow_the_seed():
    def screens(seed):
        env = make_env(sticky_action_prob=0.5)
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
    env = wrappers.AllowBacktracking(ScriptedSonic([100, 110, 130, 90, 120, 140, 135]))
    env.reset()
    rewards = [env.step(0)[1] for _ in range(6)]
    # Forward 10, 20; back 40 (free); forward 30 over old ground (free), then 10 new; back 5.
    assert rewards == [10, 20, 0, 0, 10, 0]


def test_sonic_progress_and_level_complete():
    end_x = {(0, 0): 1100}
    env = wrappers.EpisodeStatistics(
        wrappers.SonicProgress(ScriptedSonic([100, 600, 50, 1200]), end_x))
    _, info = env.reset()
    assert info["x_progress"] == 0.0
    progress = []
    for _ in range(3):
        _, _, terminated, _, info = env.step(0)
        progress.append(info["x_progress"])
    assert progress == [0.5, 0.0, 1.0]
    assert terminated and info["level_complete"]
    assert info["episode_stats"]["x_progress"] == 1.0 and info["episode_stats"]["level_complete"]


# ------------------------------------------------------------------------------ the level's end


def replayed_to_its_end(env, movie="Airstriker-Genesis-v0-Level1-0008.bk2"):
    """Resets `env` (a make_env) to the movie's start and replays all its frames underneath
    the wrappers."""
    inputs = movies.read_movie(DEMOS / movie)
    env.unwrapped.initial_state = inputs.start_state
    env.reset(seed=0)
    _, frames, game_over = run_frames(env.unwrapped, inputs.pads)
    assert frames == len(inputs.pads) == 5400 and not game_over
    return env


def test_a_beaten_level_terminates_with_level_complete_and_a_game_over_without():
    """Movie 0008 beats the level: replayed to its last frame, then left idle, the environment
    ends the episode where the game says "Now go and rest our heroes", not at the title."""
    env = replayed_to_its_end(make_env())
    for idle_steps in range(1, 100):  # noqa: B007 (how many is checked after the loop)
        _, _, terminated, truncated, info = env.step(0)
        if terminated or truncated:
            break
    assert terminated and not truncated and info["level_complete"]
    assert info["game_state"] == 14 and info["lives"] > 0
    assert idle_steps < 10  # frame 5,408: two steps after the movie's end
    assert info["episode_stats"]["level_complete"]
    env.close()

    _, info = play(make_env(), 5000)  # fire taps: to game over, long before the level's end
    assert info["lives"] == 0 and not info["level_complete"]
    assert info["episode_stats"]["level_complete"] is False


def test_the_title_screen_after_a_win_is_cut_off_by_the_stall_guard():
    env = replayed_to_its_end(make_env())
    run_frames(env.unwrapped, [np.zeros(12, np.uint8)] * 400)  # past the win, to the title
    assert env.unwrapped.data.lookup_all()["game_state"] in (0, 20, 23)
    # The level is over, so LevelEnd sees nothing: the guard acts (steps is checked after).
    for steps in range(1, 400):  # noqa: B007
        _, _, terminated, truncated, info = env.step(0)
        if terminated or truncated:
            break
    # The deque of the last 150 observations still held the movie's start screen before that.
    assert truncated and not terminated and info["stalled"] and steps == 150
    assert not info["episode_stats"]["level_complete"]
    # While playing, the screen scrolls: the guard never fires (the demo's 1,350 steps above
    # were emulated under it and it did not).
    assert env.get_wrapper_attr("steps") == 150
    env.close()


class Measures(gym.Wrapper):
    """Measures the episode's number at each reset, and its steps on its first three only."""

    def __init__(self, env):
        super().__init__(env)
        self.episodes = 0

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        self.episodes, self.steps = self.episodes + 1, 0
        statistics.measure(info, "episode_number", self.episodes)
        return observation, info

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        if self.steps <= 3:
            statistics.measure(info, "early_steps", self.steps)
        return observation, reward, terminated, truncated, info


def test_an_episode_reports_the_last_value_of_each_statistic_measured_beneath():
    env = wrappers.EpisodeStatistics(gym.wrappers.TimeLimit(
        Measures(wrappers.FrameSkip(make_retro(games.DEFAULT_GAME), 2)), 5))
    reported = []
    for _ in range(2):
        _, info = env.reset(seed=0)
        assert statistics.MEASURED not in info
        for _ in range(5):
            _, _, terminated, truncated, info = env.step(np.zeros(12, np.uint8))
            assert statistics.MEASURED not in info  # measures leave info as statistics only
        assert truncated and not terminated
        reported.append(info[statistics.EPISODE_STATS])
    env.close()
    assert [episode["episode_number"] for episode in reported] == [1, 2]
    assert [episode["early_steps"] for episode in reported] == [3, 3]
    assert reported[0].keys() == {"return", "length", "frames", "level_complete",
                                  "episode_number", "early_steps"}
    statistics.check(reported[0])  # what a learner accepts
