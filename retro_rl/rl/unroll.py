"""The unroll: T consecutive agent steps of one worker, possibly spanning episode boundaries,
the unit the learner trains on. `FIELDS` is the one definition of its layout: the inference
server fills it from the workers' reports, the learner stacks B of them into a batch. Beside the
arrays, "episodes" lists the statistics of each episode that finished inside the unroll, each a
map as its worker reported it (envs/statistics.py), and "parameter_version" says which weights
acted.

Shapes: T is the unroll length (agent steps), A the number of actions, H x W x C one
observation, U the LSTM units. Every array field is required.
"""

import dataclasses
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

    def empty(self, parameter_version):
        """An unroll to fill in: every array allocated (zeros), no episodes yet.
        parameter_version: of the weights that chose its actions (their mean, once filled)."""
        unroll = {field.name: np.zeros(self.shape(field), field.dtype) for field in FIELDS}
        unroll.update(parameter_version=parameter_version, episodes=[])
        return unroll


# The batch's arrays with a time axis first ([T(+1), B, ...]); the learner adds RND's rewards.
TIME_MAJOR = frozenset([field.name for field in FIELDS if field.shape.startswith("T")]
                       + ["intrinsic_rewards"])


def stack(unrolls):
    """Unrolls -> one time-major batch of numpy arrays: fields with a time axis become
    [T(+1), B, ...], the others (initial state, last action and reward) [B, ...]; "worker_id"
    [B] says whose each column is (-1 where an unroll does not say)."""
    batch = {field.name: np.stack([unroll[field.name] for unroll in unrolls],
                                  axis=1 if field.name in TIME_MAJOR else 0)
             for field in FIELDS}
    batch["worker_id"] = np.array([unroll.get("worker_id", -1) for unroll in unrolls], np.int64)
    return batch


def select(batch, columns):
    """The batch's columns (unrolls) `columns`, an index array, in that order."""
    return {name: value[:, columns] if name in TIME_MAJOR else value[columns]
            for name, value in batch.items()}
