"""The tests' one builder of well-formed unrolls (retro_rl/rl/unroll.py's layout)."""

import numpy as np

from retro_rl.rl.unroll import UnrollSpec


def make_unroll(spec, seed=0, version=0, game_overs=(1,), truncations=(4,)):
    """Random arrays of the right shapes, with a game over and a time-limit truncation (with its
    bootstrap value 2.5) at the given steps, and one episode's statistics for each."""
    rng = np.random.default_rng(seed)
    unroll = spec.empty(version)
    unroll["observations"][:] = rng.integers(0, 256, unroll["observations"].shape)
    unroll["actions"][:] = rng.integers(0, spec.num_actions, spec.unroll_length)
    unroll["rewards"][:] = rng.normal(size=spec.unroll_length)
    unroll["behaviour_logits"][:] = rng.normal(size=(spec.unroll_length, spec.num_actions))
    unroll["initial_state_h"][:] = rng.normal(size=spec.lstm_units) * 0.1
    unroll["initial_state_c"][:] = rng.normal(size=spec.lstm_units) * 0.1
    unroll["last_action"][...] = 3 % spec.num_actions
    unroll["last_reward"][...] = 1.0
    for step in game_overs:
        unroll["dones"][step] = unroll["terminated"][step] = True
    for step in truncations:
        unroll["dones"][step] = True
        unroll["truncation_values"][step] = 2.5
    unroll["episode_start"][1:] = unroll["dones"]
    unroll["episodes"] = [{"return": 12.5, "length": 40, "frames": 160, "level_complete": 0.0}
                          for _ in range(int(unroll["dones"].sum()))]
    return unroll


SMALL_SPEC = UnrollSpec(unroll_length=5, obs_shape=(8, 10, 3), num_actions=4, lstm_units=6)
