"""Games that are registered Gymnasium ids (e.g. "ALE/Pong-v5") rather than stable-retro games.

The agent chooses among the environment's own discrete actions (action set NATIVE), and sees
what it sees on a stable-retro game: every agent step holds the action for `frame_skip`
frames, and the screen goes through the same resize, gray and stack. Atari games through the
Arcade Learning Environment (ale-py) are made one frame per step (frameskip 1, no sticky
actions of their own), so that frame skip, sticky actions and no-op starts happen here, in
frames, as the published Atari setup has them; the other settings of that setup are EnvConfig's
(config.py) and wrappers'.
"""

import difflib
import functools

import gymnasium as gym
import numpy as np

from retro_rl.errors import UserError

# The action set of a Gymnasium environment: its own Discrete action space.
NATIVE = "native"
# Where the toolkit's own ids live (registration.py); they are stable-retro games.
OWN_NAMESPACE = "retro_rl/"


@functools.cache
def _registry():
    """Gymnasium's registry, with ale-py's Atari ids in it."""
    try:
        import ale_py

        gym.register_envs(ale_py)
    except ImportError:
        pass  # no Atari ids; every other registered id still works
    return gym.registry


def is_gymnasium_id(game):
    """Whether `game` is a registered Gymnasium id that is not one of this toolkit's own."""
    return not game.startswith(OWN_NAMESPACE) and game in _registry()


def is_ale(game):
    return is_gymnasium_id(game) and "ale_py" in str(_registry()[game].entry_point)


def close_ids(game):
    """Registered ids that look like `game`, for an error message."""
    return difflib.get_close_matches(game, list(_registry()), n=5, cutoff=0.6)


@functools.cache
def describe(game):
    """(number of actions, action meanings or None) of a Gymnasium id. Raises UserError, naming
    the id, for an action space that is not discrete or observations that are not RGB
    screens."""
    env = _make_raw(game)
    try:
        if not isinstance(env.action_space, gym.spaces.Discrete):
            raise UserError(f"{game}: its action space {env.action_space} is not discrete; "
                            "the policies here choose among discrete actions")
        space = env.observation_space
        if not (isinstance(space, gym.spaces.Box) and space.dtype == np.uint8
                and len(space.shape) == 3 and space.shape[-1] == 3):
            raise UserError(f"{game}: its observations ({type(space).__name__} "
                            f"{getattr(space, 'dtype', '')} {getattr(space, 'shape', '')}) are "
                            "not RGB screens (uint8 [H, W, 3]), which the observation pipeline "
                            "needs")
        meanings = getattr(env.unwrapped, "get_action_meanings", None)
        return int(env.action_space.n), tuple(meanings()) if meanings else None
    finally:
        env.close()


def _make_raw(game):
    kwargs = {}
    if is_ale(game):
        # One frame per step: frame skip, sticky actions and no-op starts are done in frames
        # by GymFrameSkip and NoopStarts, as for every game here.
        kwargs = {"frameskip": 1, "repeat_action_probability": 0.0}
    try:
        return gym.make(game, disable_env_checker=True, **kwargs)
    except (gym.error.Error, ImportError) as error:  # e.g. a dependency not installed
        raise UserError(f"{game}: Gymnasium cannot make it ({error})") from None


def make_base(game, frame_skip, sticky_action_prob, max_pool, noop_max):
    """The Gymnasium environment `game` with no-op starts and frame skip: a step is an agent
    step, info["frames"] the frames it played. Observations are its full screens."""
    describe(game)  # one-line errors for what cannot be played
    env = _make_raw(game)
    if noop_max:
        env = NoopStarts(env, noop_max)
    return GymFrameSkip(env, frame_skip, sticky_action_prob, max_pool)


def fire_action(env):
    """The index of FIRE where the game needs it pressed to start (its action 1 is FIRE, as
    the ALE's minimal sets have it for Breakout or Pong), else None."""
    meanings = getattr(env.unwrapped, "get_action_meanings", None)
    meanings = meanings() if meanings else []
    return 1 if len(meanings) >= 3 and meanings[1] == "FIRE" else None


class NoopStarts(gym.Wrapper):
    """Each reset plays 1 to `noop_max` frames of action 0 (NOOP), their number drawn from the
    generator seeded by reset(seed=...), so that episodes start from varied states (the ALE is
    deterministic without it). They happen before the episode does: its statistics do not
    count them."""

    def __init__(self, env, noop_max):
        super().__init__(env)
        self.noop_max = noop_max
        self._rng = np.random.default_rng()

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        observation, info = self.env.reset(seed=seed, options=options)
        for _ in range(int(self._rng.integers(1, self.noop_max + 1))):
            observation, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                observation, info = self.env.reset()
        return observation, info


class GymFrameSkip(gym.Wrapper):
    """Holds an action for `frame_skip` frames and sums their rewards, as FrameSkip does for
    stable-retro games: each frame repeats the previous frame's action instead with probability
    `sticky_action_prob` (drawn from the generator reset(seed=...) seeds); with `max_pool` the
    observation is the maximum of the step's last two screens. info["frames"]: frames played
    (fewer than `frame_skip` where the episode ended inside the step). `last_screen` is the
    last observation at full resolution (what a video shows)."""

    def __init__(self, env, frame_skip, sticky_action_prob=0.0, max_pool=False):
        super().__init__(env)
        self.frame_skip = frame_skip
        self.sticky_action_prob = sticky_action_prob
        self.max_pool = max_pool
        self._rng = np.random.default_rng()
        self._last_action = 0

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._last_action = 0
        self.last_screen, info = self.env.reset(seed=seed, options=options)
        return self.last_screen, info

    def step(self, action):
        total_reward, frames, previous = 0.0, 0, None
        for frame in range(self.frame_skip):
            if not (self.sticky_action_prob and self._rng.random() < self.sticky_action_prob):
                self._last_action = action
            observation, reward, terminated, truncated, info = self.env.step(self._last_action)
            total_reward, frames = total_reward + float(reward), frames + 1
            if terminated or truncated:
                break
            if frame == self.frame_skip - 2:
                previous = observation
        if self.max_pool and previous is not None and frames == self.frame_skip:
            observation = np.maximum(previous, observation)
        self.last_screen = observation
        return observation, total_reward, terminated, truncated, dict(info, frames=frames)


class FireOnReset(gym.Wrapper):
    """After every reset presses FIRE (action `fire`) for one agent step, for games that wait
    for it to start (Breakout's ball, a life lost); the next episode starts if that ends one."""

    def __init__(self, env, fire):
        super().__init__(env)
        self.fire = fire

    def reset(self, **kwargs):
        self.env.reset(**kwargs)
        observation, _, terminated, truncated, info = self.env.step(self.fire)
        if terminated or truncated:
            return self.env.reset()
        return observation, info


def screen(env):
    """The full-resolution screen of `env`'s last step (stable-retro's, or GymFrameSkip's)."""
    if hasattr(env.unwrapped, "get_screen"):
        return env.unwrapped.get_screen()
    return env.get_wrapper_attr("last_screen")
