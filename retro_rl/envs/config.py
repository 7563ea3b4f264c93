"""EnvConfig, everything that decides what an agent sees and does, and make_env, which builds
it. A model folder saves its EnvConfig, so evaluation and reinforcement learning rebuild exactly
the observation and action pipeline the model was trained with."""

import dataclasses
from typing import Any

import gymnasium as gym

from retro_rl import fields
from retro_rl.envs import games, gymnasium_games, wrappers
from retro_rl.envs.actions import ACTION_SETS, DEFAULT_ACTION_SET, SET_PLATFORM, action_names
from retro_rl.envs.emulator import make_retro
from retro_rl.errors import UserError
from retro_rl.fields import Settings, setting


@dataclasses.dataclass(frozen=True)
class EnvConfig(Settings):
    """Everything that decides what an agent sees and does; saved with every model.

    Each field's help is its command-line flag's (the learner takes every one). A None default
    is resolved when the config is made or the environment built, as the help says; for the
    ALE's Atari games (game a Gymnasium id such as "ALE/Pong-v5") those are the setup the
    published Atari results use. `model` marks the settings a model is made for (its game, its
    observations, its actions): a pretrained model keeps its own.
    """

    SETTINGS_NAME = "environment"

    game: str = setting(games.DEFAULT_GAME, "stable-retro game id, or a registered Gymnasium "
                                            "id such as ALE/Pong-v5", model=True)
    state: str | None = setting(None, "start state (default: the game's own; a Gymnasium id "
                                      "has none)")
    scenario: str | None = setting(None, "stable-retro scenario, where the reward and the "
                                         "game over are read (default: contest for Sonic "
                                         "games, else the game's own)")
    frame_skip: int = setting(4, "emulator frames per agent step (the action is held for all "
                                 "of them)")
    obs_size: int = setting(84, "observations are obs_size x obs_size pixels", model=True)
    grayscale: bool | None = setting(None, "one grey channel per observation instead of RGB "
                                           "(default: gray on the ALE's Atari games, else RGB)",
                                     model=True)
    frame_stack: int | None = setting(None, "observations stack this many last frames "
                                            "(default: 4 on the ALE's Atari games, else 1)",
                                      model=True)
    reward_scale: float = setting(1.0, "multiplies the rewards the agent sees; episode "
                                       "statistics stay unscaled")
    life_loss_penalty: float = setting(0.0, "subtracted from the reward (before the scaling) "
                                            "for each life lost, in game-score units; 0 is "
                                            "off. Episode statistics stay the game's score")
    max_episode_steps: int | None = setting(None, "time limit of an episode in agent steps "
                                                  "(default: none); an episode cut off is "
                                                  "truncated, not a game over")
    sticky_action_prob: float | None = setting(None, "chance per frame of repeating the "
                                                     "previous frame's buttons (default: 0.25, "
                                                     "the v5 environments' own, on the ALE's "
                                                     "Atari games, else 0)")
    action_set: str | None = setting(
        None, "action table the agent chooses from and demonstrated buttons are projected "
              "onto (default: the platform's own: full on the Genesis, ale on the Atari 2600, "
              f"{gymnasium_games.NATIVE}, the environment's own discrete actions, for a "
              "Gymnasium id)", choices=(*sorted(ACTION_SETS), gymnasium_games.NATIVE),
        model=True)
    allow_backtracking: bool | None = setting(None, "Sonic only: reward only new ground, so "
                                                    "going back to explore costs nothing "
                                                    "(default: on)")
    stall_steps: int | None = setting(None, "cut an episode off, truncated, after this many "
                                            "agent steps whose observations show no more than "
                                            "two images (a still or blinking screen); 0 is off "
                                            "(default: the game's, 150 on Airstriker, else "
                                            "off)")
    level_end: bool = setting(True, "end an episode where the level is beaten; off plays on "
                                    "(Airstriker then shows its title screen until a time "
                                    "limit or the stall guard)")
    max_pool: bool | None = setting(None, "the observation is the maximum of each step's last "
                                          "two screens, for the Atari's flicker (default: on "
                                          "for Atari 2600 games and the ALE)")
    noop_max: int | None = setting(None, "Gymnasium ids: each reset plays 1 to noop_max "
                                         "frames of no-op (action 0) first (default: 30 on "
                                         "the ALE, else 0: off)")
    fire_reset: bool | None = setting(None, "Gymnasium ids: press FIRE for one step after "
                                            "every reset, and with life_loss_ends_episode "
                                            "after a life lost (default: on where the game's "
                                            "action 1 is FIRE)")
    life_loss_ends_episode: bool = setting(False, "a life lost ends the episode (terminated) "
                                                  "while the game plays on, for training; "
                                                  "episode statistics stay whole games")
    clip_rewards: bool = setting(False, "the rewards the agent sees are their sign (-1, 0, "
                                        "1), before the scaling; episode statistics stay the "
                                        "game's score")

    def __post_init__(self):
        super().__post_init__()
        ale = gymnasium_games.is_ale(self.game)
        for name, for_ale, otherwise in (("grayscale", True, False), ("frame_stack", 4, 1),
                                         ("sticky_action_prob", 0.25, 0.0),
                                         ("noop_max", 30, 0)):
            if getattr(self, name) is None:
                object.__setattr__(self, name, for_ale if ale else otherwise)
        if self.action_set is None:
            object.__setattr__(self, "action_set", games.default_action_set(self.game))
        if gymnasium_games.is_gymnasium_id(self.game):
            if self.action_set != gymnasium_games.NATIVE:
                raise UserError(f"{self.game} is a Gymnasium environment: its actions are its own "
                                f"(action set {gymnasium_games.NATIVE!r}), not {self.action_set!r}")
        elif self.noop_max or self.fire_reset:
            raise UserError("noop_max and fire_reset are for Gymnasium ids (e.g. ALE/Pong-v5), "
                            f"not {self.game}")
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
        if self.noop_max < 0:
            problems.append(f"noop_max must be >= 0 (got {self.noop_max})")
        if self.action_set not in ACTION_SETS and self.action_set != gymnasium_games.NATIVE:
            problems.append(f"action_set must be one of {sorted(ACTION_SETS)}")
        if problems:
            raise UserError("; ".join(problems))

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        assert self.frame_stack is not None  # __post_init__ sets what was left out
        channels = (1 if self.grayscale else 3) * self.frame_stack
        return (self.obs_size, self.obs_size, channels)

    @property
    def num_actions(self) -> int:
        if self.action_set == gymnasium_games.NATIVE:
            return gymnasium_games.describe(self.game)[0]
        assert self.action_set is not None  # __post_init__ sets what was left out
        return len(ACTION_SETS[self.action_set])

    @property
    def action_names(self) -> list[str]:
        """A name per action index: 'B+RIGHT', or a Gymnasium environment's own ('FIRE')."""
        if self.action_set == gymnasium_games.NATIVE:
            count, meanings = gymnasium_games.describe(self.game)
            return list(meanings) if meanings else [str(index) for index in range(count)]
        return action_names(self.action_set)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def with_training_defaults(self) -> "EnvConfig":
        """This config with the reward settings reinforcement learning trains its game with
        (games.training_defaults; unchanged for a game without any)."""
        return self.replace(**games.training_defaults(self.game))

    def make(self, record_path: str | None = None) -> gym.Env:
        return make_env(self, record_path=record_path)


# The settings a dataset and the model trained on it share (bc/train.py checks them).
OBSERVATION_SETTINGS = ("frame_skip", "obs_size", "grayscale", "action_set")


def add_observation_flags(parser):
    """The flags of OBSERVATION_SETTINGS, made from EnvConfig's fields, for the commands that
    replay .bk2 movies (stable-retro games): left out, a flag is EnvConfig's default, RGB, and
    (action_set None) the movies' platform's own action table."""
    defaults = {field.name: field.default for field in dataclasses.fields(EnvConfig)
                if field.name in OBSERVATION_SETTINGS}
    defaults["grayscale"] = False

    def describe(field):  # the parser shows the defaults it has; None's is said here
        text = field.metadata["help"].split(" (default")[0]
        return text if defaults[field.name] is not None else \
            f"{text} (default: the movies' platform's own: full on the Genesis, ale on the Atari)"

    fields.add_flags(parser, EnvConfig, describe=describe, names=OBSERVATION_SETTINGS,
                     choices={"action_set": sorted(ACTION_SETS)})  # no Gymnasium ids here
    parser.set_defaults(**defaults)


def make_env(config: EnvConfig | None = None, *, record_path: str | None = None,
             **settings: Any) -> gym.Env:
    """A gymnasium environment: Discrete actions over `config.action_set`, uint8 observations.

    `settings`, EnvConfig's fields by name, stand for `config` (make_env(game="ALE/Pong-v5")
    is make_env(EnvConfig(game="ALE/Pong-v5")): how gymnasium.make passes them); give one or
    the other. `record_path`, a directory, records every episode as a .bk2 movie there
    (stable-retro's own recording, so the movie replays exactly).
    Raises UserError for an unknown game or state, or a ROM that is not imported.
    """
    if config is None:
        config = EnvConfig(**settings)
    elif not isinstance(config, EnvConfig):
        raise TypeError(f"make_env takes an EnvConfig or its settings by name (game=...), not "
                        f"{config!r}")
    elif settings:
        raise TypeError(f"make_env takes an EnvConfig or its settings, not both ({config!r} "
                        f"and {sorted(settings)})")
    game = games.resolve_game(config.game)
    if gymnasium_games.is_gymnasium_id(game):
        if record_path is not None:
            raise UserError(f"{game} is a Gymnasium environment: recording .bk2 movies is for "
                            "stable-retro games")
        max_pool = gymnasium_games.is_ale(game) if config.max_pool is None else config.max_pool
        env = gymnasium_games.make_base(game, config.frame_skip, config.sticky_action_prob,
                                        max_pool, config.noop_max)
        env = wrappers.Preprocess(env, config.obs_size, config.grayscale)
        return _add_episode_wrappers(env, config, game)
    sonic = games.is_sonic(game)
    scenario = "contest" if config.scenario is None and sonic else config.scenario
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
    return _add_episode_wrappers(env, config, game)


def _add_episode_wrappers(env, config, game):
    """What every game gets above its screen and actions: time limit, statistics, and what
    training changes about episodes and rewards, outside the statistics."""
    if config.max_episode_steps is not None:
        env = gym.wrappers.TimeLimit(env, config.max_episode_steps)
    env = wrappers.EpisodeStatistics(env)
    if config.life_loss_ends_episode:
        env = wrappers.LifeLossEnds(env)
    fire = gymnasium_games.fire_action(env) if gymnasium_games.is_gymnasium_id(game) else None
    if config.fire_reset and fire is None:
        raise UserError(f"fire_reset: {game} has no FIRE action to start with")
    if fire is not None and config.fire_reset in (None, True):
        env = gymnasium_games.FireOnReset(env, fire)
    if config.life_loss_penalty:
        env = wrappers.LifeLossPenalty(env, config.life_loss_penalty)
    if config.clip_rewards:
        env = wrappers.ClipRewardSign(env)
    if config.reward_scale != 1.0:
        env = wrappers.RewardScale(env, config.reward_scale)
    if config.frame_stack > 1:
        env = wrappers.FrameStack(env, config.frame_stack)
    return env
