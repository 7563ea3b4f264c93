"""The raw stable-retro environment, and the one loop that emulates frames.

Everything that advances the emulator (the environment's frame skip, movie replay, the search
demonstrator, human recording) goes through `run_frames`, so all of them see the same frames,
rewards and game ends.
"""

import stable_retro as retro

from retro_rl.envs import games


def make_retro(game, state=None, scenario=None):
    """The raw stable-retro environment, every button passed through as pressed (Actions.ALL),
    so that live play and movie replay feed the emulator identically; with this project's RAM
    variables where it has some (integrations/)."""
    game = games.resolve_game(game)
    games.check_rom(game)
    return retro.make(
        game,
        state=games.resolve_state(game, state),
        scenario=scenario,
        info=games.integration_file(game, "data.json"),
        use_restricted_actions=retro.Actions.ALL,
        render_mode=None,
    )


def emulate_frame(retro_env, buttons):
    """One frame of stable-retro's RetroEnv.step, minus the screen copy: the buttons (one value
    per button of the platform, in its order) go to the movie being recorded, if any, and to the
    emulator."""
    if retro_env.movie:
        for i in range(len(buttons)):
            retro_env.movie.set_key(i, bool(buttons[i]), 0)
        retro_env.movie.step()
    retro_env.em.set_button_mask(buttons, 0)
    retro_env.em.step()
    retro_env.data.update_ram()


def run_frames(retro_env, pads):
    """Emulates one frame per pad (an iterable of button masks) until the pads run out or the
    game ends. Returns (reward summed over the frames, frames emulated, whether the game ended).
    """
    reward, frames = 0.0, 0
    for pad in pads:
        emulate_frame(retro_env, pad)
        reward += retro_env.data.current_reward()
        frames += 1
        if retro_env.data.is_done():
            return reward, frames, True
    return reward, frames, False


def lives(retro_env):
    """The game's `lives` variable, or 0 for a game without one."""
    return retro_env.data.lookup_all().get("lives", 0)


def restore(retro_env, state):
    """Puts the emulator back into a state from `retro_env.em.get_state()`."""
    retro_env.em.set_state(state)
    retro_env.data.update_ram()
