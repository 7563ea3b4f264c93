"""Gymnasium ids for the toolkit's environments: `import retro_rl` registers
"retro_rl/<game>" for every stable-retro game, so that

    gymnasium.make("retro_rl/Airstriker-Genesis-v0", frame_skip=4, grayscale=True)

builds what make_env(game="Airstriker-Genesis-v0", frame_skip=4, grayscale=True) builds, for
trainers and wrappers that take an id (Stable-Baselines3, cleanrl, RecordEpisodeStatistics).
The keyword arguments are make_env's, except max_episode_steps: gymnasium.make takes that one
itself and puts its own time limit outside the toolkit's episode statistics.
"""

import gymnasium as gym
import stable_retro as retro

from retro_rl.envs.config import make_env
from retro_rl.errors import UserError

NAMESPACE = "retro_rl"


def registered_id(game):
    """'Airstriker-Genesis-v0' -> 'retro_rl/Airstriker-Genesis-v0'."""
    return f"{NAMESPACE}/{game}"


def known_games():
    """Every game of the integration folders (stable, experimental, contrib, custom) that
    stable-retro's data folder has. A data folder of one's own (RETRO_DATA_PATH) may lack some
    of them, where list_games(Integrations.ALL) would fail, and with it `import retro_rl`."""
    integrations = retro.data.Integrations
    found = set()
    for integration in (integrations.STABLE, integrations.EXPERIMENTAL_ONLY,
                        integrations.CONTRIB_ONLY, integrations.CUSTOM_ONLY):
        try:
            found.update(retro.data.list_games(integration))
        except FileNotFoundError:
            pass  # this data folder has no such integration
    return sorted(found)


def register_games():
    """Registers every stable-retro game (whether or not its ROM is imported: making one whose
    ROM is missing says how to import it). Registering again changes nothing."""
    for game in known_games():
        env_id = registered_id(game)
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=make_registered, kwargs={"game": game})


def make_registered(game, render_mode=None, **settings):
    """make_env(game=game, **settings); render_mode "rgb_array" makes render() return the full
    screen of the last step (the human mode's window is the commands' own, --render)."""
    if render_mode not in (None, "rgb_array"):
        raise UserError(f"render_mode {render_mode!r}: these environments render rgb_array only")
    env = make_env(game=game, **settings)
    env.unwrapped.render_mode = render_mode
    return env
