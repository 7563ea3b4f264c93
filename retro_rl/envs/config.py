"""EnvConfig, everything that decides what an agent sees and does, and make_env, which builds
it. A model folder saves its EnvConfig, so evaluation and reinforcement learning rebuild exactly
the observation and action pipeline the model was trained with."""

import dataclasses

import gymnasium as gym

from retro_rl.envs import games, wrappers
from retro_rl.envs.actions import ACTION_SETS, DEFAULT_ACTION_SET, SET_PLATFORM
from retro_rl.envs.emulator import make_retro
from retro_rl.errors import UserError
from retro_rl.fields import check_types, from_dict


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
    sticky_action_prob: chance per frame of repeating the previous frame's buttons (0.25 is the
      ALE's recommendation for Atari games).
    action_set: a key of ACTION_SETS for the game's platform; None is the platform's own table
      ("full" on the Genesis, "ale" on the Atari 2600), and is resolved when the config is made.
    allow_backtracking: Sonic only; None means on for Sonic games.
    max_pool: the observation is the maximum of each step's last two screens (the Atari's
      flicker); None is on for Atari 2600 games.
    level_end: end an episode where the level is beaten (games.LEVEL_COMPLETE); False plays on
      (Airstriker then shows its title screen until a time limit or the stall guard).
    stall_steps: cut an episode off after this many agent steps of an unchanged observation;
      None is the game's default (games.STALL_STEPS: 150 on Airstriker, else off), 0 is off.
    """

    game: str = games.DEFAULT_GAME
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
    action_set: str | None = None
    allow_backtracking: bool | None = None
    stall_steps: int | None = None
    level_end: bool = True
    max_pool: bool | None = None

    def __post_init__(self):
        check_types(self)
        if self.action_set is None:
            object.__setattr__(self, "action_set", games.default_action_set(self.game))
        platform = games.platform(self.game)
        if platform in DEFAULT_ACTION_SET and SET_PLATFORM.get(self.action_set, platform) != \
                platform:
            fitting = [name for name, kind in SET_PLATFORM.items() if kind == platform]
            raise UserError(f"action set {self.action_set!r} is for "
                            f"{SET_PLATFORM[self.action_set]} games, not {self.game}; choose one "
                            f"of {fitting}")
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
        if self.stall_steps is not None and self.stall_steps < 0:
            problems.append(f"stall_steps must be >= 0 (got {self.stall_steps})")
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
        return from_dict(cls, values, "environment")

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def with_training_defaults(self):
        """This config with the reward settings reinforcement learning trains its game with
        (games.TRAINING_DEFAULTS; unchanged for a game without any)."""
        return self.replace(**games.TRAINING_DEFAULTS.get(self.game, {}))

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
    parser.add_argument("--action_set", default=None, choices=sorted(ACTION_SETS),
                        help="action table the agent chooses from and demonstrated buttons are "
                             "projected onto (default: the game's platform's: full on the "
                             "Genesis, ale on the Atari 2600)")


def make_env(
    game=games.DEFAULT_GAME,
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
    action_set=None,
    allow_backtracking=None,
    stall_steps=None,
    level_end=True,
    max_pool=None,
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
        stall_steps, level_end, max_pool,
    )
    game = games.resolve_game(config.game)
    sonic = games.is_sonic(game)
    if scenario is None and sonic:
        scenario = "contest"
    env = make_retro(game, config.state, scenario)
    if record_path is not None:
        env = wrappers.RecordEpisodes(env, record_path)
    max_pool = games.platform(game) == "Atari2600" if config.max_pool is None else config.max_pool
    env = wrappers.FrameSkip(env, config.frame_skip, config.sticky_action_prob, max_pool)
    env = wrappers.Preprocess(env, config.obs_size, config.grayscale)
    env = wrappers.DiscreteActions(env, config.action_set)
    if config.level_end and game in games.LEVEL_COMPLETE:
        env = wrappers.LevelEnd(env, *games.LEVEL_COMPLETE[game])
    stall_steps = games.STALL_STEPS.get(game, 0) if config.stall_steps is None \
        else config.stall_steps
    if stall_steps:
        env = wrappers.StallGuard(env, stall_steps)
    if sonic:
        env = wrappers.SonicProgress(env, games.sonic_level_end_x(game))
        if config.allow_backtracking in (None, True):
            env = wrappers.AllowBacktracking(env)
    if game in games.ROOM_VARIABLE:
        env = wrappers.RoomsVisited(env, games.ROOM_VARIABLE[game])
    if config.max_episode_steps is not None:
        env = gym.wrappers.TimeLimit(env, config.max_episode_steps)
    env = wrappers.EpisodeStatistics(env)
    if config.life_loss_penalty:
        env = wrappers.LifeLossPenalty(env, config.life_loss_penalty)
    if config.reward_scale != 1.0:
        env = wrappers.RewardScale(env, config.reward_scale)
    if config.frame_stack > 1:
        env = wrappers.FrameStack(env, config.frame_stack)
    return env
