"""The gymnasium wrappers `make_env` stacks, innermost first: frame skip (and recording),
preprocessing, discrete actions, the level's end and the stall guard, Sonic's progress and
reward, time limit, episode statistics, a life lost as an episode's end, reward shaping and
clipping, frame stacking. (A Gymnasium id's frame skip and no-op starts are in
gymnasium_games.py.)"""

import collections
import itertools
import os

import gymnasium as gym
import numpy as np

from retro_rl.envs.actions import action_table
from retro_rl.envs.emulator import run_frames
from retro_rl.envs.observations import preprocess_frame
from retro_rl.envs.statistics import EPISODE_STATS, MEASURED, measure


class FrameSkip(gym.Wrapper):
    """Holds a button mask for `frame_skip` emulator frames; sums their rewards.

    info carries the game's RAM variables (at reset too) and "frames", how many frames the step
    emulated (fewer than `frame_skip` when the episode ended inside it).

    Drives the emulator directly and reads the screen once per agent step instead of once per
    frame, which is most of what stable-retro's own step costs. With probability
    `sticky_action_prob` each frame repeats the previous frame's buttons instead (sticky actions),
    drawn from the generator seeded by `reset(seed=...)`. With `max_pool` the observation is
    the maximum of the step's last two screens (for the Atari's flicker).

    reset(options={"start": function}) starts the episode elsewhere than the game's start:
    function(retro_env) puts the emulator there (demos/starts.py), with its screen drawn.
    """

    def __init__(self, env, frame_skip, sticky_action_prob=0.0, max_pool=False):
        super().__init__(env)
        self.frame_skip = frame_skip
        self.sticky_action_prob = sticky_action_prob
        self.max_pool = max_pool
        self._released = np.zeros(len(env.unwrapped.buttons), np.uint8)
        self._last_buttons = self._released
        self._rng = np.random.default_rng()

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._last_buttons = self._released
        observation, info = self.env.reset(seed=seed, options=options)
        retro_env = self.env.unwrapped
        if options and "start" in options:
            options["start"](retro_env)
            observation = retro_env.img = retro_env.get_screen()
        return observation, dict(retro_env.data.lookup_all(), **info)

    def step(self, buttons):
        retro_env = self.env.unwrapped
        pads = self._pads(buttons)
        if self.max_pool and self.frame_skip > 1:
            # The Atari flickers: sprites drawn on alternate frames. The observation is the
            # pixelwise maximum of the step's last two screens, as DQN's preprocessing takes it.
            total_reward, frames, terminated = run_frames(
                retro_env, itertools.islice(pads, self.frame_skip - 1))
            previous = retro_env.get_screen()
            if not terminated:
                reward, played, terminated = run_frames(retro_env, pads)
                total_reward, frames = total_reward + reward, frames + played
            observation = np.maximum(previous, retro_env.get_screen())
        else:
            total_reward, frames, terminated = run_frames(retro_env, pads)
            observation = retro_env.get_screen()
        retro_env.img = observation
        info = dict(retro_env.data.lookup_all(), frames=frames)
        return observation, total_reward, terminated, False, info

    def _pads(self, buttons):
        """The buttons each frame of a step presses; drawn lazily, one draw per frame played."""
        buttons = np.asarray(buttons, np.uint8)
        for _ in range(self.frame_skip):
            if self.sticky_action_prob and self._rng.random() < self.sticky_action_prob:
                yield self._last_buttons
            else:
                self._last_buttons = buttons
                yield buttons


class RecordEpisodes(gym.Wrapper):
    """Records each episode as `<game>-<state>-<episode number>.bk2` in `directory`.

    stable-retro opens a new movie at every reset but leaves the previous one to the garbage
    collector; closing it here makes sure each file is complete when the next episode starts.
    """

    def __init__(self, env, directory):
        super().__init__(env)
        os.makedirs(directory, exist_ok=True)
        self.env.unwrapped.auto_record(directory)

    def reset(self, **kwargs):
        self._close_movie()
        return self.env.reset(**kwargs)

    def close(self):
        self._close_movie()
        super().close()

    def _close_movie(self):
        retro_env = self.env.unwrapped
        if retro_env.movie is not None:
            retro_env.movie.close()
            retro_env.movie = None


class Preprocess(gym.ObservationWrapper):
    """Resizes (and optionally grays) every observation with `preprocess_frame`."""

    def __init__(self, env, obs_size, grayscale):
        super().__init__(env)
        self.obs_size, self.grayscale = obs_size, grayscale
        channels = 1 if grayscale else 3
        self.observation_space = gym.spaces.Box(0, 255, (obs_size, obs_size, channels), np.uint8)

    def observation(self, observation):
        return preprocess_frame(observation, self.obs_size, self.grayscale)


class DiscreteActions(gym.ActionWrapper):
    """Discrete action index -> button mask of a row of an action table."""

    def __init__(self, env, action_set):
        super().__init__(env)
        self.action_set = action_set
        self.table = action_table(action_set)
        self.table.flags.writeable = False  # rows are handed out as views
        self.action_space = gym.spaces.Discrete(len(self.table))

    def action(self, action):
        return self.table[action]


class LevelEnd(gym.Wrapper):
    """Ends an episode where the game's RAM says the level is beaten (`variable` == `value` in
    info): terminated, with info["level_complete"] true, false on every other step."""

    def __init__(self, env, variable, value):
        super().__init__(env)
        self.variable, self.value = variable, value

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        info["level_complete"] = info.get(self.variable) == self.value
        return observation, reward, terminated or info["level_complete"], truncated, info


class StallGuard(gym.Wrapper):
    """Cuts an episode off (truncated, info["stalled"] true) once its last `steps` observations
    hold no more than two distinct images (a still screen, or one that blinks): a game that
    shows the same thing for ever teaches nothing. Airstriker's title screen after a win blinks
    between two images for ever while 21 to 35 bytes of its RAM (timers) change every frame, so
    the RAM is not compared."""

    def __init__(self, env, steps):
        super().__init__(env)
        self.steps = steps

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        self._recent = collections.deque([hash(observation.tobytes())], maxlen=self.steps)
        return observation, info

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._recent.append(hash(observation.tobytes()))
        info["stalled"] = len(self._recent) == self.steps and len(set(self._recent)) <= 2
        return observation, reward, terminated, truncated or info["stalled"], info


class AllowBacktracking(gym.Wrapper):
    """Pays only for new progress: the reward is how far the episode's return so far exceeds its
    best return so far, never negative. Running back to explore is then free, where the contest
    reward alone would charge for it and pay again for the same ground."""

    def reset(self, **kwargs):
        self._return = self._best_return = 0.0
        return self.env.reset(**kwargs)

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._return += reward
        new_progress = max(0.0, self._return - self._best_return)
        self._best_return = max(self._best_return, self._return)
        return observation, new_progress, terminated, truncated, info


class SonicProgress(gym.Wrapper):
    """Adds `x_progress` (0 at the act's start, 1 at its end) and `level_complete` to info, and
    the episode's last `x_progress` to its statistics.

    The end of each act is read from stable-retro's own Sonic 2 script (`level_max_x`), keyed by
    the zone and act numbers in RAM, so the figure matches the contest reward's notion of progress.
    """

    def __init__(self, env, level_end_x):
        super().__init__(env)
        self.level_end_x = level_end_x

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        self._start_x = info["x"]
        self._end_x = self.level_end_x[(info["zone"], info["act"])]
        return observation, self._add_progress(info)

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        return observation, reward, terminated, truncated, self._add_progress(info)

    def _add_progress(self, info):
        span = max(self._end_x - self._start_x, 1)
        info["x_progress"] = float(np.clip((info["x"] - self._start_x) / span, 0.0, 1.0))
        info["level_complete"] = info["x_progress"] >= 1.0
        measure(info, "x_progress", info["x_progress"])
        return info


class RewardScale(gym.RewardWrapper):
    def __init__(self, env, scale):
        super().__init__(env)
        self.scale = scale

    def reward(self, reward):
        return reward * self.scale


class _LivesWatcher(gym.Wrapper):
    """Follows info["lives"] from a reset on: `lives_lost(info)` is how many a step cost."""

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        self._lives = info.get("lives")
        return observation, info

    def lives_lost(self, info):
        lives, before = info.get("lives"), self._lives
        self._lives = lives
        return before - lives if lives is not None and before is not None and lives < before \
            else 0


class LifeLossPenalty(_LivesWatcher):
    """Subtracts `penalty` from the reward of each step on which info["lives"] falls. A game's
    score does not count a lost life: over the ~100 steps a discount of 0.99 looks ahead, a
    policy that trades lives for points looks better than one that lives, though it ends the
    game sooner. Outside EpisodeStatistics: reported returns stay the game's score."""

    def __init__(self, env, penalty):
        super().__init__(env)
        self.penalty = penalty

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        reward -= self.penalty * self.lives_lost(info)
        return observation, reward, terminated, truncated, info


class ClipRewardSign(gym.RewardWrapper):
    """The reward's sign (-1, 0 or 1): games' scores differ by orders of magnitude, so one
    learning rate fits all (DQN's Atari setup). Outside EpisodeStatistics: reported returns
    stay the game's score."""

    def reward(self, reward):
        return float(np.sign(reward))


class LifeLossEnds(_LivesWatcher):
    """A life lost (info["lives"] falls) ends the episode for the learner: terminated, with
    info["life_lost"] true, so no value is bootstrapped past a death (DQN's Atari setup, for
    training only). The game itself plays on: the next reset starts the new episode from that
    step's observation instead of resetting the game. Outside EpisodeStatistics, which still
    reports whole games."""

    def __init__(self, env):
        super().__init__(env)
        self._after_loss = None  # (observation, info) the next episode starts from

    def reset(self, **kwargs):
        if self._after_loss is not None:
            start, self._after_loss = self._after_loss, None
            return start
        return super().reset(**kwargs)

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        if self.lives_lost(info) and not (terminated or truncated):
            terminated = info["life_lost"] = True
            self._after_loss = (observation, dict(info))
        else:
            self._after_loss = None
        return observation, reward, terminated, truncated, info


class RoomsVisited(gym.Wrapper):
    """info["rooms"], and the episode's statistic `rooms`: a bitmask of the room numbers (RAM
    `variable`) the episode has been in, bit r for room r (rooms past 52 share bit 52, so that
    the mask is a whole number a double holds exactly, as statistics travel)."""

    def __init__(self, env, variable):
        super().__init__(env)
        self.variable = variable

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        self._rooms = self._bit(self.unwrapped.data.lookup_value(self.variable))
        info["rooms"] = self._rooms
        measure(info, "rooms", self._rooms)
        return observation, info

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._rooms |= self._bit(info[self.variable])
        info["rooms"] = self._rooms
        measure(info, "rooms", self._rooms)
        return observation, reward, terminated, truncated, info

    @staticmethod
    def _bit(room):
        return 1 << min(max(int(room), 0), 52)


class EpisodeStatistics(gym.Wrapper):
    """At the step that ends an episode, info[EPISODE_STATS] = the episode's statistics
    (statistics.py): "return", "length", "frames" and "level_complete" (the unscaled return,
    agent steps, emulator frames, whether the level was beaten), and the last value of each
    statistic the wrappers beneath measured (statistics.measure), such as Sonic's "x_progress".
    Every step's info["episode_return"] is the return so far."""

    def reset(self, **kwargs):
        self._return, self._length, self._frames = 0.0, 0, 0
        observation, info = self.env.reset(**kwargs)
        self._measured = dict(info.pop(MEASURED, {}))
        return observation, info

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._return += reward
        self._length += 1
        self._frames += info["frames"]  # a game over can end an agent step early
        info["episode_return"] = self._return
        self._measured.update(info.pop(MEASURED, {}))
        if terminated or truncated:
            info[EPISODE_STATS] = {
                **self._measured, "return": self._return, "length": self._length,
                "frames": self._frames, "level_complete": bool(info.get("level_complete", False))}
        return observation, reward, terminated, truncated, info


class FrameStack(gym.Wrapper):
    """Concatenates the last `num_frames` observations along channels: [H, W, C * num_frames],
    oldest first. After a reset the first observation fills every slot."""

    def __init__(self, env, num_frames):
        super().__init__(env)
        self.num_frames = num_frames
        height, width, channels = env.observation_space.shape
        self.observation_space = gym.spaces.Box(
            0, 255, (height, width, channels * num_frames), np.uint8
        )
        self._channels = channels

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        self._stack = np.concatenate([observation] * self.num_frames, axis=-1)
        return self._stack.copy(), info

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._stack = np.concatenate([self._stack[..., self._channels:], observation], axis=-1)
        return self._stack.copy(), reward, terminated, truncated, info
