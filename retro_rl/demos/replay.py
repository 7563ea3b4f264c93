"""Replaying a movie in the emulator into the agent steps a behaviour-cloning dataset holds.

Each movie is replayed from its own start state with the buttons it recorded, frame by frame
(`emulator.run_frames`, exactly as the environment steps). Frames are grouped into agent steps
of `frame_skip` frames, as `make_env` does:

  * label: the action (`buttons_to_action`) held on most of the step's frames, the earliest of
    them on a tie. A movie recorded through `make_env` holds one action per step, so its labels
    are exactly the actions taken; a human's movie may change buttons inside a step.
  * a trailing partial step (fewer than `frame_skip` frames) is dropped, unless the game ended
    inside it: then, like the environment, the step ends on the game's last frame and is kept.
  * the episode ends where the game ends (the scenario's done, e.g. Airstriker's game over) or
    where the level is beaten (games.LEVEL_COMPLETE), after the whole step, as the environment
    ends it; later frames of the movie are counted but not used.
"""

import numpy as np

from retro_rl.envs import actions, games, make_env
from retro_rl.envs.emulator import run_frames
from retro_rl.envs.observations import preprocess_frame
from retro_rl.errors import UserError


def step_label(frame_actions):
    """The action of one agent step: int [k] per-frame action indices -> int.

    The action held on most frames wins; among equally frequent actions, the one held first.
    """
    if (frame_actions == frame_actions[0]).all():
        return int(frame_actions[0])  # the common case, and 10x cheaper than np.unique
    values, first_frame, counts = np.unique(frame_actions, return_index=True, return_counts=True)
    best = np.lexsort((first_frame, -counts))[0]
    return int(values[best])


def projection_stats(pads, action_set):
    """How the frames of uint8 [F, buttons] pads map onto an action table (inputs only, no ROM).

    Returns a dict: frames; exact_frames (buttons are exactly a row of the table);
    projected_frames (the others, mapped by `buttons_to_action`'s documented projection);
    combinations {name: frames}; projected_to {name of a projected combination: action name}.
    """
    masks = actions.button_masks(pads)
    rows = set(actions.button_masks(actions.action_table(action_set)).tolist())
    names, buttons = actions.action_names(action_set), actions.buttons_of(action_set)
    values, counts = np.unique(masks, return_counts=True)
    exact = int(sum(count for value, count in zip(values, counts) if value in rows))
    return {
        "frames": len(pads),
        "exact_frames": exact,
        "projected_frames": len(pads) - exact,
        "combinations": {actions.combination_name(v, buttons): int(c)
                         for v, c in zip(values, counts)},
        "projected_to": {
            actions.combination_name(v, buttons): names[actions.buttons_to_action(int(v),
                                                                                  action_set)]
            for v in values if v not in rows
        },
    }


_EMULATOR = {}  # this process's environment, by game: stable-retro allows one emulator each


def _retro_env(game, settings):
    """The raw RetroEnv under a `make_env` with these settings (same scenario, same reward)."""
    if game not in _EMULATOR:
        close_emulator()
        _EMULATOR[game] = make_env(game=game, **settings)
    return _EMULATOR[game].unwrapped


def close_emulator():
    """Closes this process's replay emulator, so that something else may make one."""
    for env in _EMULATOR.values():
        env.close()
    _EMULATOR.clear()


def replay_movie(inputs, settings, progress=lambda frames: None):
    """Replays one movie (movies.MovieInputs); returns (arrays for the .npz, statistics).

    settings: frame_skip, obs_size, grayscale, action_set. `progress(frames)` is told how many
    emulator frames were replayed since its last call. The arrays are dataset.py's.
    """
    frame_skip, action_set = settings["frame_skip"], settings["action_set"]
    retro_env = _retro_env(inputs.game, settings)
    if not retro_env.em.set_state(inputs.start_state):  # RetroEnv.reset would ignore this
        raise UserError(f"{inputs.path}: its start state does not load in the emulator "
                        "(corrupt Core.bin?); record or copy it again")
    retro_env.initial_state = inputs.start_state
    retro_env.reset()

    def observe():
        return preprocess_frame(retro_env.get_screen(), settings["obs_size"], settings["grayscale"])

    num_frames = len(inputs.pads)
    frame_actions = actions.buttons_to_actions(inputs.pads, action_set)
    first = observe()
    observations = np.empty((num_frames // frame_skip + 1,) + first.shape, np.uint8)
    observations[0] = first
    level_end = games.LEVEL_COMPLETE.get(inputs.game)
    lives = retro_env.data.lookup_all().get("lives", 0)
    labels, rewards, lives_lost = [], [], []
    frame, game_ended, level_complete, reported, mixed_steps = 0, False, False, 0, 0
    while not (game_ended or level_complete) and frame < num_frames:
        block_start = frame
        reward, played, game_ended = run_frames(retro_env, inputs.pads[frame:frame + frame_skip])
        frame += played
        if played < frame_skip and not game_ended:
            break  # trailing partial step
        labels.append(step_label(frame_actions[block_start:frame]))
        mixed_steps += bool((frame_actions[block_start:frame] != labels[-1]).any())
        rewards.append(reward)
        ram = retro_env.data.lookup_all()
        lives_lost.append(max(lives - ram.get("lives", 0), 0))
        lives = ram.get("lives", 0)
        # Like the environment's LevelEnd: the step is whole, and the episode ends after it.
        level_complete = level_end is not None and ram.get(level_end[0]) == level_end[1]
        observations[len(labels)] = observe()
        if frame - reported >= 1000:
            progress(frame - reported)
            reported = frame
    progress(num_frames - reported)

    steps = len(labels)
    frames_used = frame if game_ended else steps * frame_skip
    dones = np.zeros(steps, bool)
    dones[-1:] = True
    terminal = np.zeros(steps, bool)
    terminal[-1:] = game_ended or level_complete
    arrays = {
        "observations": observations[:steps],
        "actions": np.array(labels, np.int32),
        "rewards": np.array(rewards, np.float32),
        "dones": dones,
        "lives_lost": np.array(lives_lost, np.int32),
        "terminal": terminal,
    }
    stats = {
        "frames": num_frames,
        "frames_used": frames_used,
        "steps": steps,
        "score": float(np.sum(rewards)),
        "game_ended": bool(game_ended),
        "level_complete": bool(level_complete),
        "projection": dict(projection_stats(inputs.pads[:frames_used], action_set),
                           mixed_steps=mixed_steps),
    }
    return arrays, stats
