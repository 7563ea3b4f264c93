"""The unroll: T consecutive agent steps of one actor, possibly spanning episode boundaries,
the unit the learner trains on. `FIELDS` is the one definition of its layout; actors fill it,
the transport carries it field by field (proto/impala.proto names the same fields), the learner
validates and stacks it.

Shapes: T is the unroll length (agent steps), A the number of actions, H x W x C one
observation, U the LSTM units. Every array field is required.
"""

import dataclasses
import math
from typing import NamedTuple

import numpy as np


class Field(NamedTuple):
    name: str
    dtype: type
    shape: str  # in the letters above; "T+1" has one more entry than T
    meaning: str


FIELDS = (
    Field("observations", np.uint8, "T+1,H,W,C",
          "index t is the observation action t was chosen from; index T is the one after the "
          "last step, from which the learner computes the bootstrap value"),
    Field("actions", np.int32, "T", "the action taken from observation t, in [0, A)"),
    Field("rewards", np.float32, "T",
          "the reward received after action t, already shaped and scaled as the env says"),
    Field("dones", np.bool_, "T",
          "the episode ended with step t (terminated or truncated): observation t+1 is then the "
          "first of the next episode"),
    Field("terminated", np.bool_, "T",
          "a real episode end (game over, level done), not a time limit; implies dones[t]"),
    Field("behaviour_logits", np.float32, "T,A", "the policy logits action t was sampled from"),
    Field("episode_start", np.bool_, "T+1",
          "observation t is the first of an episode: the LSTM state (and the previous action "
          "and reward) are zeroed before it; episode_start[t+1] == dones[t]"),
    Field("initial_state_h", np.float32, "U", "LSTM hidden state before observation 0"),
    Field("initial_state_c", np.float32, "U", "LSTM cell state before observation 0"),
    Field("last_action", np.int32, "",
          "the action taken just before observation 0, the network's previous-action input at "
          "t = 0 (from t = 1 on it is actions[t-1]); 0 where episode_start[0]"),
    Field("last_reward", np.float32, "",
          "the (shaped, scaled) reward received just before observation 0; 0 where "
          "episode_start[0]"),
    Field("truncation_values", np.float32, "T",
          "where step t ended its episode by truncation (dones[t] and not terminated[t]), the "
          "actor's value of that episode's real last observation, which the unroll cannot hold "
          "(observation t+1 is the next episode's first); 0 at every other step"),
)
FIELD_NAMES = tuple(field.name for field in FIELDS)
# Statistics of each episode that finished inside an unroll, beside the arrays.
EPISODE_FIELDS = ("episode_return", "length", "frames", "x_progress")


@dataclasses.dataclass(frozen=True)
class UnrollSpec:
    """The unroll shapes a learner accepts; it checks itself when made."""

    unroll_length: int  # T, agent steps per unroll
    obs_shape: tuple  # (H, W, C) of one observation
    num_actions: int  # A
    lstm_units: int  # U

    def __post_init__(self):
        object.__setattr__(self, "obs_shape", tuple(self.obs_shape))
        for name in ("unroll_length", "num_actions", "lstm_units"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"UnrollSpec.{name} must be a positive integer, got {value!r}")
        if len(self.obs_shape) != 3 or not all(
                isinstance(size, (int, np.integer)) and size > 0 for size in self.obs_shape):
            raise ValueError(f"UnrollSpec.obs_shape must be (H, W, C), got {self.obs_shape!r}")

    def shape(self, field):
        """The shape of `field` (a Field) under this spec."""
        height, width, channels = self.obs_shape
        sizes = {"T": self.unroll_length, "T+1": self.unroll_length + 1, "H": height,
                 "W": width, "C": channels, "A": self.num_actions, "U": self.lstm_units}
        return tuple(sizes[letter] for letter in field.shape.split(",") if letter)

    def shapes(self):
        """{field name: expected shape} for every array of an unroll."""
        return {field.name: self.shape(field) for field in FIELDS}

    def empty(self, parameter_version):
        """An unroll to fill in: every array allocated (zeros), no episodes yet."""
        unroll = {field.name: np.zeros(self.shape(field), field.dtype) for field in FIELDS}
        unroll.update(parameter_version=parameter_version, episodes=[])
        return unroll

    def validate(self, unroll, latest_version):
        """Raises ValueError naming the first way an unroll breaks the contract.

        `latest_version` is the newest parameter version the learner has published: an unroll
        claiming a newer one comes from a confused actor (or another run).
        """
        for field in FIELDS:
            array, shape = unroll[field.name], self.shape(field)
            if array.dtype != field.dtype:
                raise ValueError(f"{field.name} has dtype {array.dtype.name}, "
                                 f"expected {np.dtype(field.dtype).name}")
            if array.shape != shape:
                raise ValueError(
                    f"{field.name} has shape {array.shape}, expected {shape} for "
                    f"unroll_length={self.unroll_length}, obs_shape={self.obs_shape}, "
                    f"num_actions={self.num_actions}, lstm_units={self.lstm_units}")
        version = unroll["parameter_version"]
        if not 0 <= version <= latest_version:
            raise ValueError(f"parameter_version {version} is not one the learner published "
                             f"(latest is {latest_version})")
        for name in ("actions", "last_action"):
            values = unroll[name]
            if values.min() < 0 or values.max() >= self.num_actions:
                raise ValueError(f"{name} must lie in [0, {self.num_actions}), "
                                 f"got {values.min()}..{values.max()}")
        for name in ("rewards", "behaviour_logits", "initial_state_h", "initial_state_c",
                     "last_reward", "truncation_values"):
            if not np.isfinite(unroll[name]).all():
                raise ValueError(f"{name} contains NaN or infinity")
        dones, terminated = unroll["dones"], unroll["terminated"]
        if (terminated & ~dones).any():
            raise ValueError("terminated[t] is true where dones[t] is false")
        if not np.array_equal(unroll["episode_start"][1:], dones):
            raise ValueError("episode_start[t + 1] must equal dones[t]")
        if (unroll["truncation_values"][~dones | terminated] != 0).any():
            raise ValueError("truncation_values is non-zero at a step that was not truncated")
        if len(unroll["episodes"]) != int(dones.sum()):
            raise ValueError(f"{len(unroll['episodes'])} episode stats for "
                             f"{int(dones.sum())} episode ends")
        for episode in unroll["episodes"]:
            if not all(math.isfinite(episode[name]) for name in EPISODE_FIELDS):
                raise ValueError("an episode's statistics contain NaN or infinity")


def stack(unrolls):
    """Unrolls -> one time-major batch of numpy arrays: fields with a time axis become
    [T(+1), B, ...], the others (initial state, last action and reward) [B, ...]."""
    return {field.name: np.stack([unroll[field.name] for unroll in unrolls],
                                 axis=1 if field.shape.startswith("T") else 0)
            for field in FIELDS}
