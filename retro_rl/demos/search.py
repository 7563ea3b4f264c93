"""The search demonstrator: an automatic player for any game whose scenario has a reward.

At every decision point the emulator's state is saved and `candidates` plans, each `horizon`
agent steps of action-table rows (every row held for `frame_skip` frames, rows kept for a few
steps at a time), are played out from it. A plan's value is its reward minus `death_penalty` per
life lost and for a game over. The best plan's first `commit` steps are replayed from the saved
state and recorded; the rest of it is the first candidate at the next decision. On Airstriker a
death reaches `lives` only after an ~80-frame explosion, so the horizon (160 frames by default)
must see past it; when every plan loses a life, up to `retries` fresh batches are tried. Only
committed frames reach the movie, so it replays exactly.
"""

import dataclasses

import numpy as np

from retro_rl.envs.actions import action_table
from retro_rl.envs.emulator import lives, restore, run_frames
from retro_rl.errors import UserError


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """How hard the demonstrator looks ahead; each field is record_demonstrations' flag."""

    frames: int = 5400  # emulator frames per movie (fewer if the game ends)
    frame_skip: int = 4  # emulator frames each plan step holds its buttons
    horizon: int = 40  # look-ahead of each plan, in agent steps
    candidates: int = 8  # plans per decision
    commit: int = 8  # agent steps of the best plan recorded per decision
    mean_hold: int = 4  # mean agent steps a random plan keeps one action
    retries: int = 4  # extra batches of plans when every plan loses a life
    death_penalty: float = 1000.0  # value lost per life lost (and for a game over)
    action_set: str = "full"  # rows the plans are made of (record_demonstrations: the game's)

    def __post_init__(self):
        for name in ("frames", "frame_skip", "horizon", "candidates", "commit", "mean_hold"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be >= 1 (got {getattr(self, name)})")
        if self.retries < 0:
            raise UserError(f"--retries must be >= 0 (got {self.retries})")
        if self.commit > self.horizon:
            raise UserError(f"--commit ({self.commit}) must not exceed --horizon ({self.horizon})")


def random_plan(rng, steps, num_actions, mean_hold):
    """int [steps] action indices; each action is kept for 1..2*mean_hold-1 agent steps."""
    plan = []
    while len(plan) < steps:
        plan += [int(rng.integers(num_actions))] * int(rng.integers(1, 2 * mean_hold))
    return plan[:steps]


def plan_value(retro_env, plan, table, frame_skip, death_penalty):
    """Plays `plan` (agent steps) from the current state; returns reward - penalties."""
    start_lives = lives(retro_env)
    pads = (table[action] for action in plan for _ in range(frame_skip))
    total, _, game_over = run_frames(retro_env, pads)
    lost = max(start_lives - lives(retro_env), 0)
    return total - death_penalty * (lost + game_over)


def search_movie(retro_env, path, config, rng, progress=lambda frames: None):
    """Records one movie of up to config.frames frames by look-ahead search into `path`.
    Returns (score, frames); `progress(frames)` is told of each committed stretch."""
    table = action_table(config.action_set)
    retro_env.record_movie(str(path))
    retro_env.reset()
    movie = retro_env.movie
    plan = random_plan(rng, config.horizon, len(table), config.mean_hold)
    frames, score = 0, 0.0
    try:
        while frames < config.frames and not retro_env.data.is_done():
            root = retro_env.em.get_state()
            retro_env.movie = None  # look-ahead frames must not reach the movie
            best_value, best_plan = -np.inf, plan
            for attempt in range(1 + config.retries):
                candidates = [plan] if attempt == 0 else []
                while len(candidates) < config.candidates:
                    candidates.append(random_plan(rng, config.horizon, len(table),
                                                  config.mean_hold))
                for candidate in candidates:
                    restore(retro_env, root)
                    value = plan_value(retro_env, candidate, table, config.frame_skip,
                                       config.death_penalty)
                    if value > best_value:
                        best_value, best_plan = value, candidate
                if best_value > -config.death_penalty / 2:
                    break  # some plan survives the horizon
            restore(retro_env, root)
            retro_env.movie = movie
            committed = [table[action] for action in best_plan[:config.commit]
                         for _ in range(config.frame_skip)]
            reward, played, _ = run_frames(retro_env, committed[:config.frames - frames])
            score += reward
            frames += played
            progress(played)
            plan = best_plan[config.commit:]
            plan += random_plan(rng, config.horizon - len(plan), len(table), config.mean_hold)
    finally:
        retro_env.movie = movie
        retro_env.stop_record()
    return score, frames
