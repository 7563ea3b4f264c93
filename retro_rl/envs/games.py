"""Game ids, start states and ROMs, and what is known about particular games.

stable-retro finds a game's integration (RAM variables, scenario, states) in its own data; the
ROM itself is the user's to import (`ROM_IMPORT_HINT`), except Airstriker's, which ships. A game
may also be a registered Gymnasium id such as "ALE/Pong-v5" (gymnasium_games.py): it has no
start states, no ROM to import and no .bk2 movies.
"""

import difflib
import os
import re

import stable_retro as retro

from retro_rl.envs.gymnasium_games import (NATIVE, OWN_NAMESPACE, close_ids, describe, is_ale,
                                           is_gymnasium_id)
from retro_rl.errors import UserError

DEFAULT_GAME = "Airstriker-Genesis-v0"
INTEGRATIONS = os.path.join(os.path.dirname(__file__), "integrations")

# Where a game's RAM says its level is beaten: {game: (variable, value)}, the variable from the
# game's data.json (integrations/README.md says what each address means). The episode ends
# there with info["level_complete"] true. Sonic's acts end where SonicProgress says.
LEVEL_COMPLETE = {"Airstriker-Genesis-v0": ("game_state", 14)}
# The RAM variable that numbers the room (screen) a player is in, for games of many rooms:
# episodes report which they visited (info["episode_stats"]["rooms"], a bitmask of room numbers).
ROOM_VARIABLE = {"MontezumaRevenge-Atari2600-v0": "room"}


def room_count(rooms):
    """The number of rooms in a bitmask of rooms (wrappers.RoomsVisited)."""
    return bin(int(rooms)).count("1")


# Agent steps with an unchanged screen and RAM after which an episode is cut off, where a game
# can stall (Airstriker's title screen after a win shows the same frame for ever).
STALL_STEPS = {"Airstriker-Genesis-v0": 150}
ROM_IMPORT_HINT = "python -m stable_retro.import DIR_WITH_YOUR_ROMS"

# EnvConfig settings reinforcement learning trains a game with where neither a flag nor an RL
# model says otherwise, for the games where they were measured (README, Results on
# Airstriker): a hit scores 20, scaled to 1; a lost life costs 10 hits; episodes end where
# evaluations end.
TRAINING_DEFAULTS = {
    "Airstriker-Genesis-v0": {"reward_scale": 0.05, "life_loss_penalty": 200.0,
                              "max_episode_steps": 4500},
}
# ... and every Atari game through the ALE, as the published Atari results train: a life lost
# ends the learner's episode, rewards are clipped to their sign (both for training only).
ALE_TRAINING_DEFAULTS = {"life_loss_ends_episode": True, "clip_rewards": True}


def training_defaults(game):
    """The EnvConfig settings reinforcement learning trains `game` with by default."""
    return ALE_TRAINING_DEFAULTS if is_ale(game) else TRAINING_DEFAULTS.get(game, {})

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


def integration_file(game, name):
    """This project's own `name` (e.g. data.json) for `game`, or None to use stable-retro's."""
    path = os.path.join(INTEGRATIONS, game, name)
    return path if os.path.isfile(path) else None


def platform(game):
    """'Pong-Atari2600-v0' -> 'Atari2600', 'Airstriker-Genesis-v0' -> 'Genesis',
    'ALE/Pong-v5' -> 'Gymnasium'."""
    if is_gymnasium_id(game):
        return "Gymnasium"
    parts = game.split("-")
    return parts[-2] if parts[-1].startswith("v") and len(parts) >= 3 else parts[-1]


def default_action_set(game):
    """The action table a game's agents choose from unless told otherwise."""
    from retro_rl.envs.actions import DEFAULT_ACTION_SET

    return NATIVE if is_gymnasium_id(game) else DEFAULT_ACTION_SET.get(platform(game), "full")


def is_sonic(game):
    return game.startswith("SonicTheHedgehog")


def resolve_game(game):
    """Maps a game id to stable-retro 1.0.1's name, e.g. the movies' legacy
    'SonicTheHedgehog2-Genesis' -> 'SonicTheHedgehog2-Genesis-v0' (and this toolkit's
    Gymnasium ids 'retro_rl/<game>' to <game>); a registered Gymnasium id stays itself, once
    checked to be playable (gymnasium_games.describe). Unknown ids raise UserError."""
    if is_gymnasium_id(game):
        describe(game)
        return game
    game = game.removeprefix(OWN_NAMESPACE)
    known = retro.data.list_games(retro.data.Integrations.ALL)
    for candidate in (game, f"{game}-v0"):
        if candidate in known:
            return candidate
    close = difflib.get_close_matches(game, known, n=5, cutoff=0.6) + close_ids(game)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    raise UserError(f"unknown game {game!r}: neither a stable-retro game nor a registered "
                    f"Gymnasium id{hint}")


def check_rom(game):
    """Raises UserError naming the game and the import command when its ROM is not imported
    (a Gymnasium id has none to import)."""
    if is_gymnasium_id(game):
        return
    try:
        retro.data.get_romfile_path(game, retro.data.Integrations.ALL)
    except FileNotFoundError:
        raise UserError(
            f"the ROM for {game} is not imported; import your own copy with: {ROM_IMPORT_HINT}"
        ) from None


def resolve_state(game, state):
    """Returns a state name of `game` (its default when `state` is None) or raises UserError."""
    if state is None:
        return retro.State.DEFAULT
    if is_gymnasium_id(game):
        raise UserError(f"{game} is a Gymnasium environment: it has no start states to choose")
    states = retro.data.list_states(game, retro.data.Integrations.ALL)
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
    elif is_gymnasium_id(game):
        raise UserError(f"--state: {game} is a Gymnasium environment, which has no start states")
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


def choose_state(states, episode=None, rng=None):
    """The start state of an episode among `states` (None: the game's default): in turn by
    episode number when `episode` is given (evaluation), else drawn uniformly with `rng`
    (training). One state needs neither."""
    if len(states) == 1:
        return states[0]
    if episode is not None:
        return states[episode % len(states)]
    return states[rng.integers(len(states))]


def load_state(env, state):
    """Makes the named state the one env's next reset starts from."""
    env.unwrapped.load_state(state, retro.data.Integrations.ALL)


def sonic_level_end_x(game):
    """{(zone, act): end x} parsed from the game's script.lua in stable-retro's data."""
    script = retro.data.get_file_path(game, "script.lua", retro.data.Integrations.ALL)
    if not script or not os.path.exists(script):
        raise UserError(f"{game} has no script.lua in stable-retro's data; reinstall stable-retro")
    with open(script) as f:
        text = f.read()
    pattern = r'\["zone=(\d+),act=(\d+)"\]\s*=\s*(0x[0-9A-Fa-f]+|\d+)'
    return {(int(z), int(a)): int(x, 0) for z, a, x in re.findall(pattern, text)}
