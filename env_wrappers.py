"""The one place that says what an agent sees and does in a Genesis game.

Everything that plays, records, replays or learns imports from here:
  * `BUTTONS`: the 12 pad buttons in stable-retro's order;
  * `ACTION_SETS`: the discrete action tables (the 23-action "full" table and the 7-action
    "contest" table of the Sonic contest agents), and `buttons_to_action`, which projects any of
    the 4,096 button combinations onto a table;
  * `preprocess_frame`: screen -> observation (shared with the replay parser);
  * `EnvConfig` and `make_env`: a gymnasium environment with a Discrete action space.

Units: a *frame* is one emulator frame (1/60 s); an *agent step* is `frame_skip` frames with the
same buttons held. Time limits count agent steps; episode statistics report both.
"""

import dataclasses
import difflib
import os
import re

import cv2
import gymnasium as gym
import numpy as np
import stable_retro as retro

from cli import UserError

DEFAULT_GAME = "Airstriker-Genesis-v0"
# EnvConfig settings IMPALA trains a game with where neither a flag nor an RL model says
# otherwise, for the games where they were measured (README, Results on Airstriker): a hit
# scores 20, scaled to 1; a lost life costs 10 hits; episodes end where evaluations end.
TRAINING_DEFAULTS = {
    "Airstriker-Genesis-v0": {"reward_scale": 0.05, "life_loss_penalty": 200.0,
                              "max_episode_steps": 4500},
}

# stable-retro's button order for the Genesis pad: index i of a button mask is BUTTONS[i].
BUTTONS = ("B", "A", "MODE", "START", "UP", "DOWN", "LEFT", "RIGHT", "C", "Y", "X", "Z")
NUM_BUTTONS = len(BUTTONS)

# Each action is the set of buttons it holds. Order matters: an index names a row for good.
ACTION_SETS = {
    "full": (
        (), ("LEFT",), ("RIGHT",), ("A",), ("B",), ("DOWN",), ("UP",),
        ("B", "LEFT"), ("B", "RIGHT"), ("B", "DOWN"),
        ("A", "LEFT"), ("A", "RIGHT"), ("A", "DOWN"),
        ("DOWN", "RIGHT"), ("DOWN", "LEFT"), ("LEFT", "RIGHT"),
        ("B", "RIGHT", "DOWN"), ("B", "LEFT", "DOWN"),
        ("A", "LEFT", "DOWN"), ("A", "LEFT", "RIGHT"), ("A", "RIGHT", "DOWN"),
        ("B", "LEFT", "RIGHT"), ("DOWN", "LEFT", "RIGHT"),
    ),
    "contest": (
        ("LEFT",), ("RIGHT",), ("LEFT", "DOWN"), ("RIGHT", "DOWN"), ("DOWN",),
        ("DOWN", "B"), ("B",),
    ),
}

# The 18 acts of the Sonic 2 benchmark (stable-retro state names).
SONIC2_ACTS = (
    "EmeraldHillZone.Act1", "EmeraldHillZone.Act2",
    "ChemicalPlantZone.Act1", "ChemicalPlantZone.Act2",
    "AquaticRuinZone.Act1", "AquaticRuinZone.Act2",
    "CasinoNightZone.Act1", "CasinoNightZone.Act2",
    "HillTopZone.Act1", "HillTopZone.Act2",
    "MysticCaveZone.Act1", "MysticCaveZone.Act2",
    "OilOceanZone.Act1", "OilOceanZone.Act2",
    "MetropolisZone.Act1", "MetropolisZone.Act2", "MetropolisZone.Act3",
    "WingFortressZone",
)

ROM_IMPORT_HINT = "python -m stable_retro.import DIR_WITH_YOUR_ROMS"


# ----------------------------------------------------------------------------------------------
# Actions


def action_table(action_set="full"):
    """Returns the button masks of an action set: uint8 [num_actions, 12] in BUTTONS order."""
    rows = _action_rows(action_set)
    table = np.zeros((len(rows), NUM_BUTTONS), np.uint8)
    for index, row in enumerate(rows):
        for button in row:
            table[index, BUTTONS.index(button)] = 1
    return table


def action_names(action_set="full"):
    """Human-readable names of an action set's rows, e.g. 'B+RIGHT+DOWN' or 'none'."""
    return ["+".join(row) or "none" for row in _action_rows(action_set)]


def _action_rows(action_set):
    if action_set not in ACTION_SETS:
        raise UserError(f"unknown action set {action_set!r}; choose one of {sorted(ACTION_SETS)}")
    return ACTION_SETS[action_set]


def _normalize(held):
    """Reduces a set of held button names to what a table row can express.

    The projection, in order:
      1. START and MODE are dropped: they pause or configure the console, not play.
      2. X, Y and Z are dropped: three-button games (Sonic 2, Airstriker) ignore them.
      3. C becomes B: all three face buttons jump in Sonic, and B is the contest set's jump.
      4. A and B together keep B alone (no row holds two face buttons).
      5. UP is dropped whenever any other button is held: no row combines UP with anything,
         and in Sonic UP only matters standing still (looking up).
      6. A face button with DOWN, LEFT and RIGHT drops LEFT and RIGHT, which cancel out.
    Every result is a row of the full table, so the full table is covered exactly.
    """
    held = set(held) - {"START", "MODE", "X", "Y", "Z"}
    if "C" in held:
        held = (held - {"C"}) | {"B"}
    if {"A", "B"} <= held:
        held.discard("A")
    if "UP" in held and len(held) > 1:
        held.discard("UP")
    if held & {"A", "B"} and {"DOWN", "LEFT", "RIGHT"} <= held:
        held -= {"LEFT", "RIGHT"}
    return frozenset(held)


def _projection(action_set):
    """uint16 mask (bit i = BUTTONS[i]) -> action index, for all 4,096 masks."""
    rows = [frozenset(row) for row in _action_rows(action_set)]
    lookup = np.zeros(1 << NUM_BUTTONS, np.int64)
    for mask in range(1 << NUM_BUTTONS):
        held = _normalize(b for i, b in enumerate(BUTTONS) if mask >> i & 1)
        # Exact row if there is one (always, for the full table); otherwise the row that differs
        # from it in the fewest buttons, the earliest row on a tie. In the contest set (no
        # no-op, no A) a released pad thus becomes LEFT, and A becomes B.
        held = frozenset("B" if b == "A" else b for b in held) if held not in rows else held
        lookup[mask] = min(range(len(rows)), key=lambda i: (len(rows[i] ^ held), i))
    return lookup


_PROJECTIONS = {name: _projection(name) for name in ACTION_SETS}
_BIT_WEIGHTS = 1 << np.arange(NUM_BUTTONS)


def buttons_to_action(buttons, action_set="full"):
    """Projects held buttons onto an action set (see `_normalize` for the rule).

    Args:
      buttons: 12 truthy values in BUTTONS order (one frame of a pad), or an int bit mask.
      action_set: a key of ACTION_SETS.
    Returns:
      The action index (int).
    """
    if isinstance(buttons, (int, np.integer)):
        mask = int(buttons)
    else:
        buttons = np.asarray(buttons)
        if buttons.shape != (NUM_BUTTONS,):
            raise ValueError(f"expected {NUM_BUTTONS} buttons, got shape {buttons.shape}")
        mask = int(np.dot(buttons.astype(bool), _BIT_WEIGHTS))
    _action_rows(action_set)
    return int(_PROJECTIONS[action_set][mask])


def buttons_to_actions(buttons, action_set="full"):
    """Vectorized `buttons_to_action`: bool/uint8 [N, 12] -> int64 [N]."""
    masks = np.asarray(buttons).astype(bool) @ _BIT_WEIGHTS
    _action_rows(action_set)
    return _PROJECTIONS[action_set][masks]


# ----------------------------------------------------------------------------------------------
# Games, states and ROMs


def is_sonic(game):
    return game.startswith("SonicTheHedgehog")


def resolve_game(game):
    """Maps a game id to stable-retro 1.0.1's name, e.g. the movies' legacy
    'SonicTheHedgehog2-Genesis' -> 'SonicTheHedgehog2-Genesis-v0'. Unknown ids raise UserError."""
    known = retro.data.list_games(retro.data.Integrations.ALL)
    for candidate in (game, f"{game}-v0"):
        if candidate in known:
            return candidate
    close = difflib.get_close_matches(game, known, n=5, cutoff=0.6)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    raise UserError(f"unknown game {game!r}{hint}")


def check_rom(game):
    """Raises UserError naming the game and the import command when its ROM is not imported."""
    try:
        retro.data.get_romfile_path(game, retro.data.Integrations.ALL)
    except FileNotFoundError:
        raise UserError(
            f"the ROM for {game} is not imported; import your own copy with: {ROM_IMPORT_HINT}"
        ) from None


def resolve_state(game, state):
    """Returns a state name of `game` (its default when `state` is None) or raises UserError."""
    states = retro.data.list_states(game, retro.data.Integrations.ALL)
    if state is None:
        return retro.State.DEFAULT
    if state in states:
        return state
    close = difflib.get_close_matches(state, states, n=5, cutoff=0.5)
    hint = f"close matches: {', '.join(close)}" if close else f"states: {', '.join(states)}"
    raise UserError(f"unknown state {state!r} for {game}; {hint}")


def resolve_states(game, states_arg, default=None):
    """A --state flag -> the list of validated state names it means.

    `states_arg` is one state, a comma-separated list, or "all" (the 18 Sonic 2 acts for Sonic 2,
    every state otherwise); None gives [default] (None there means the game's default state).
    """
    if states_arg is None:
        states = [default]
    elif states_arg == "all":
        states = list(SONIC2_ACTS) if game.startswith("SonicTheHedgehog2") else \
            retro.data.list_states(game, retro.data.Integrations.ALL)
    else:
        states = [name.strip() for name in states_arg.split(",") if name.strip()]
    if not states:
        raise UserError(f"--state {states_arg!r} names no state")
    for state in states:
        if state is not None:
            resolve_state(game, state)
    return states


def make_retro(game, state=None, scenario=None):
    """The raw stable-retro environment, every button passed through as pressed (Actions.ALL),
    so that live play and movie replay feed the emulator identically."""
    game = resolve_game(game)
    check_rom(game)
    return retro.make(
        game,
        state=resolve_state(game, state),
        scenario=scenario,
        use_restricted_actions=retro.Actions.ALL,
        render_mode=None,
    )


# ----------------------------------------------------------------------------------------------
# Observations


def preprocess_frame(frame, obs_size=84, grayscale=False):
    """Screen uint8 [H, W, 3] -> observation uint8 [obs_size, obs_size, 1 or 3].

    Every screen pixel counts: the screen is halved with 2x2 box averages while it stays at
    least twice the target size, then resized bilinearly, so small sprites (bullets) fade
    rather than vanish. On a 224x320 Genesis screen this is ~8x cheaper than one area resize
    (cv2's area filter is slow for non-integer ratios) and within a few grey levels of it.
    """
    if grayscale:
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    while frame.shape[0] >= 2 * obs_size and frame.shape[1] >= 2 * obs_size:
        half = (frame.shape[1] // 2, frame.shape[0] // 2)
        frame = cv2.resize(frame, half, interpolation=cv2.INTER_AREA)
    observation = cv2.resize(frame, (obs_size, obs_size), interpolation=cv2.INTER_LINEAR)
    return observation.reshape(obs_size, obs_size, -1)


# ----------------------------------------------------------------------------------------------
# Wrappers


class FrameSkip(gym.Wrapper):
    """Holds a button mask for `frame_skip` emulator frames; sums their rewards.

    info carries the game's RAM variables (at reset too) and "frames", how many frames the step
    emulated (fewer than `frame_skip` when the episode ended inside it).

    Drives the emulator directly and reads the screen once per agent step instead of once per
    frame, which is most of what stable-retro's own step costs. With probability
    `sticky_action_prob` each frame repeats the previous frame's buttons instead (sticky actions),
    drawn from the generator seeded by `reset(seed=...)`.
    """

    def __init__(self, env, frame_skip, sticky_action_prob=0.0):
        super().__init__(env)
        self.frame_skip = frame_skip
        self.sticky_action_prob = sticky_action_prob
        self._last_buttons = np.zeros(NUM_BUTTONS, np.uint8)
        self._rng = np.random.default_rng()

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._last_buttons = np.zeros(NUM_BUTTONS, np.uint8)
        observation, info = self.env.reset(seed=seed, options=options)
        return observation, dict(self.env.unwrapped.data.lookup_all(), **info)

    def step(self, buttons):
        retro_env = self.env.unwrapped
        total_reward, terminated, frames = 0.0, False, 0
        for frames in range(1, self.frame_skip + 1):
            if self.sticky_action_prob and self._rng.random() < self.sticky_action_prob:
                pressed = self._last_buttons
            else:
                pressed = self._last_buttons = np.asarray(buttons, np.uint8)
            emulate_frame(retro_env, pressed)
            total_reward += retro_env.data.current_reward()
            if retro_env.data.is_done():
                terminated = True
                break
        observation = retro_env.get_screen()
        retro_env.img = observation
        info = dict(retro_env.data.lookup_all(), frames=frames)
        return observation, total_reward, terminated, False, info


def emulate_frame(retro_env, buttons):
    """One frame of stable-retro's RetroEnv.step, minus the screen copy."""
    if retro_env.movie:
        for i in range(NUM_BUTTONS):
            retro_env.movie.set_key(i, bool(buttons[i]), 0)
        retro_env.movie.step()
    retro_env.em.set_button_mask(buttons, 0)
    retro_env.em.step()
    retro_env.data.update_ram()


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
    """Adds `x_progress` (0 at the act's start, 1 at its end) and `level_complete` to info.

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
        return info


def sonic_level_end_x(game):
    """{(zone, act): end x} parsed from the game's script.lua in stable-retro's data."""
    script = retro.data.get_file_path(game, "script.lua", retro.data.Integrations.ALL)
    if not script or not os.path.exists(script):
        raise UserError(f"{game} has no script.lua in stable-retro's data; reinstall stable-retro")
    with open(script) as f:
        text = f.read()
    pattern = r'\["zone=(\d+),act=(\d+)"\]\s*=\s*(0x[0-9A-Fa-f]+|\d+)'
    return {(int(z), int(a)): int(x, 0) for z, a, x in re.findall(pattern, text)}


class RewardScale(gym.RewardWrapper):
    def __init__(self, env, scale):
        super().__init__(env)
        self.scale = scale

    def reward(self, reward):
        return reward * self.scale


class LifeLossPenalty(gym.Wrapper):
    """Subtracts `penalty` from the reward of each step on which info["lives"] falls. A game's
    score does not count a lost life: over the ~100 steps a discount of 0.99 looks ahead, a
    policy that trades lives for points looks better than one that lives, though it ends the
    game sooner. Outside EpisodeStatistics: reported returns stay the game's score."""

    def __init__(self, env, penalty):
        super().__init__(env)
        self.penalty = penalty

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        self._lives = info.get("lives")
        return observation, info

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        lives = info.get("lives")
        if lives is not None and self._lives is not None and lives < self._lives:
            reward -= self.penalty * (self._lives - lives)
        self._lives = lives
        return observation, reward, terminated, truncated, info


class EpisodeStatistics(gym.Wrapper):
    """At the step that ends an episode, info["episode"] = {"return", "length", "frames"}:
    the unscaled return, agent steps and emulator frames. Sonic episodes also report
    "x_progress" and "level_complete". Every step's info["episode_return"] is the return so far."""

    def reset(self, **kwargs):
        self._return, self._length, self._frames = 0.0, 0, 0
        return self.env.reset(**kwargs)

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._return += reward
        self._length += 1
        self._frames += info["frames"]  # a game over can end an agent step early
        info["episode_return"] = self._return
        if terminated or truncated:
            episode = {"return": self._return, "length": self._length, "frames": self._frames}
            for key in ("x_progress", "level_complete"):
                if key in info:
                    episode[key] = info[key]
            info["episode"] = episode
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


# ----------------------------------------------------------------------------------------------
# Construction


@dataclasses.dataclass(frozen=True)
class EnvConfig:
    """Everything that decides what an agent sees and does; saved with every model.

    game/state/scenario: stable-retro ids; state None is the game's default, scenario None is
      "contest" for Sonic games and stable-retro's default scenario otherwise.
    frame_skip: emulator frames per agent step (the action is held for all of them).
    obs_size, grayscale, frame_stack: observation is uint8 [obs_size, obs_size, C * frame_stack].
    reward_scale: multiplies rewards the agent sees (episode statistics stay unscaled).
    life_loss_penalty: subtracted from the reward (before scaling) for each life lost, in the
      game's score units; 0 is off. Episode statistics stay the game's score.
    max_episode_steps: time limit in agent steps (None: no limit).
    sticky_action_prob: chance per frame of repeating the previous frame's buttons.
    action_set: a key of ACTION_SETS.
    allow_backtracking: Sonic only; None means on for Sonic games.
    """

    game: str = DEFAULT_GAME
    state: str | None = None
    scenario: str | None = None
    frame_skip: int = 4
    obs_size: int = 84
    grayscale: bool = False
    frame_stack: int = 1
    reward_scale: float = 1.0
    life_loss_penalty: float = 0.0
    max_episode_steps: int | None = None
    sticky_action_prob: float = 0.0
    action_set: str = "full"
    allow_backtracking: bool | None = None

    def __post_init__(self):
        problems = []
        if self.frame_skip < 1:
            problems.append(f"frame_skip must be >= 1 (got {self.frame_skip})")
        if not 8 <= self.obs_size <= 512:
            problems.append(f"obs_size must be in 8..512 (got {self.obs_size})")
        if self.frame_stack < 1:
            problems.append(f"frame_stack must be >= 1 (got {self.frame_stack})")
        if self.life_loss_penalty < 0:
            problems.append(f"life_loss_penalty must be >= 0 (got {self.life_loss_penalty})")
        if self.max_episode_steps is not None and self.max_episode_steps < 1:
            problems.append(f"max_episode_steps must be >= 1 (got {self.max_episode_steps})")
        if not 0.0 <= self.sticky_action_prob < 1.0:
            problems.append(f"sticky_action_prob must be in [0, 1) (got {self.sticky_action_prob})")
        if self.action_set not in ACTION_SETS:
            problems.append(f"action_set must be one of {sorted(ACTION_SETS)}")
        if problems:
            raise UserError("; ".join(problems))

    @property
    def observation_shape(self):
        channels = (1 if self.grayscale else 3) * self.frame_stack
        return (self.obs_size, self.obs_size, channels)

    @property
    def num_actions(self):
        return len(ACTION_SETS[self.action_set])

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise UserError(f"unknown environment settings {sorted(unknown)}")
        return cls(**values)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def make(self, record_path=None):
        return make_env(record_path=record_path, **self.to_dict())


def add_observation_flags(parser):
    """The command-line flags of the settings a dataset and a model must share, with EnvConfig's
    defaults: --frame_skip, --obs_size, --grayscale, --action_set."""
    defaults = EnvConfig()
    parser.add_argument("--frame_skip", type=int, default=defaults.frame_skip,
                        help="emulator frames per agent step (the model plays with the same)")
    parser.add_argument("--obs_size", type=int, default=defaults.obs_size,
                        help="observations are obs_size x obs_size pixels")
    parser.add_argument("--grayscale", action="store_true",
                        help="one grey channel per observation instead of RGB")
    parser.add_argument("--action_set", default=defaults.action_set, choices=sorted(ACTION_SETS),
                        help="action table the demonstrated buttons are projected onto")


def make_env(
    game=DEFAULT_GAME,
    state=None,
    scenario=None,
    frame_skip=4,
    obs_size=84,
    grayscale=False,
    frame_stack=1,
    reward_scale=1.0,
    life_loss_penalty=0.0,
    max_episode_steps=None,
    sticky_action_prob=0.0,
    action_set="full",
    allow_backtracking=None,
    record_path=None,
):
    """A gymnasium environment: Discrete actions over `action_set`, uint8 observations.

    Arguments are those of EnvConfig. `record_path`, a directory, records every episode as a .bk2
    movie there (stable-retro's own recording, so the movie replays exactly).
    Raises UserError for an unknown game or state, or a ROM that is not imported.
    """
    config = EnvConfig(
        game, state, scenario, frame_skip, obs_size, grayscale, frame_stack, reward_scale,
        life_loss_penalty, max_episode_steps, sticky_action_prob, action_set, allow_backtracking,
    )
    game = resolve_game(config.game)
    sonic = is_sonic(game)
    if scenario is None and sonic:
        scenario = "contest"
    env = make_retro(game, config.state, scenario)
    if record_path is not None:
        env = RecordEpisodes(env, record_path)
    env = FrameSkip(env, config.frame_skip, config.sticky_action_prob)
    env = Preprocess(env, config.obs_size, config.grayscale)
    env = DiscreteActions(env, config.action_set)
    if sonic:
        env = SonicProgress(env, sonic_level_end_x(game))
        if config.allow_backtracking in (None, True):
            env = AllowBacktracking(env)
    if config.max_episode_steps is not None:
        env = gym.wrappers.TimeLimit(env, config.max_episode_steps)
    env = EpisodeStatistics(env)
    if config.life_loss_penalty:
        env = LifeLossPenalty(env, config.life_loss_penalty)
    if config.reward_scale != 1.0:
        env = RewardScale(env, config.reward_scale)
    if config.frame_stack > 1:
        env = FrameStack(env, config.frame_stack)
    return env
