"""A worker's place at the inference server (inference.py), and what the server does with each
of its reports: the outcome of the worker's last action goes into the unroll it fills
(`Slot.record_outcome`), and the network's inputs for its next action become one `Row` of a
batched forward pass (`forward`), whose outputs `Slot.acted` records.

Shapes as in unroll.py: T the unroll length, A the actions, U the LSTM units; R the rows of one
forward pass.
"""

import collections
import threading
import time
from typing import NamedTuple

import numpy as np


class Row(NamedTuple):
    """One row of a forward pass: the network's inputs for one observation, and whose it is."""

    slot: "Slot"
    observation: np.ndarray  # uint8 [H, W, C]
    episode_start: bool  # the observation is an episode's first: the LSTM state is zeroed
    prev_action: int  # the action taken before it
    prev_reward: float  # the (shaped, scaled) reward received before it
    state_h: np.ndarray  # float32 [U], the LSTM state before it
    state_c: np.ndarray
    # None: the slot's next action. (unroll, t): the value of the final observation of the
    # episode that step t of `unroll` truncated.
    truncation: tuple | None = None


class Slot:
    """One connected worker's place at the server (a local one has a channels.LocalEnd): its
    LSTM state, previous action and reward, random generator and the unroll being filled."""

    def __init__(self, worker_id, spec, seed, end=None, cancel=None):
        self.worker_id, self.spec, self.end = worker_id, spec, end
        self.cancel = cancel  # a remote worker's: ends its stream
        self.silent_since = time.monotonic()  # answered and not reported since; None: it has
        self.answers = None if end is not None else collections.deque()
        self.answered = None if end is not None else threading.Event()
        self.rng = np.random.default_rng(seed + worker_id)
        self.state_h = np.zeros(spec.lstm_units, np.float32)
        self.state_c = np.zeros(spec.lstm_units, np.float32)
        self.prev_action, self.prev_reward, self.episode_start = 0, 0.0, True
        self.unroll, self.t, self.versions = None, 0, []
        self.action = 0  # the last action sent, whose outcome the next report brings
        self.closed = False

    def reply(self, action, stop):
        self.silent_since = time.monotonic()
        if self.end is not None:
            self.end.answer(action, stop)
        else:
            self.answers.append((action, stop))
            self.answered.set()

    def record_outcome(self, report, version, rows):
        """Writes what `report` says about the last action into the unroll, starts the next
        unroll when this one is full (its weights' version `version`), and prepares the inputs
        for the report's observation. A truncation adds the Row of its final observation to
        `rows`. Returns (the unrolls it finished, none or one; agent steps dropped)."""
        finished, dropped = [], 0
        if report.first or self.unroll is None:
            self.state_h = np.zeros_like(self.state_h)
            self.state_c = np.zeros_like(self.state_c)
            self.prev_action, self.prev_reward, self.episode_start = 0, 0.0, True
            if self.unroll is not None:  # a worker that started over mid-unroll
                dropped = self.t
                self.unroll = None
        else:
            unroll, t = self.unroll, self.t
            unroll["rewards"][t] = report.reward
            unroll["dones"][t] = report.done
            unroll["terminated"][t] = report.terminated
            if report.episode is not None:
                unroll["episodes"].append(report.episode)
            if report.final_observation is not None:
                # V(x_last): the LSTM state goes on from this episode, and is not kept.
                rows.append(Row(self, report.final_observation, False, self.action,
                                report.reward, self.state_h, self.state_c, (unroll, t)))
            self.t = t + 1
            unroll["observations"][self.t] = report.observation
            self.prev_action, self.prev_reward = self.action, report.reward
            self.episode_start = report.done
            if self.t == self.spec.unroll_length:
                unroll["episode_start"][1:] = unroll["dones"]
                unroll["parameter_version"] = float(np.mean(self.versions))
                finished.append(unroll)
                self.unroll = None
        if self.unroll is None:
            unroll = self.unroll = self.spec.empty(version)
            unroll["worker_id"] = self.worker_id
            unroll["initial_state_h"][:] = self.state_h
            unroll["initial_state_c"][:] = self.state_c
            unroll["last_action"][...] = self.prev_action
            unroll["last_reward"][...] = self.prev_reward
            unroll["episode_start"][0] = self.episode_start
            unroll["observations"][0] = report.observation
            self.t, self.versions = 0, []
        return finished, dropped

    def action_row(self):
        """The Row its next action is chosen from: the observation its unroll holds at step t."""
        return Row(self, self.unroll["observations"][self.t], self.episode_start,
                   self.prev_action, self.prev_reward, self.state_h, self.state_c)

    def acted(self, action, logits, version, state_h, state_c):
        """Records the action chosen at step t (from `logits` [A], by the weights of `version`)
        and the LSTM state after its observation."""
        self.unroll["actions"][self.t] = action
        self.unroll["behaviour_logits"][self.t] = logits
        self.versions.append(version)
        self.state_h, self.state_c = state_h, state_c
        self.action = action


def forward(network, rows):
    """The network's step over `rows`. Returns numpy logits [R, A], values [R], state h and c
    [R, U]. Each batch size is compiled once (XLA); exact sizes cost less than padding: 5 rows
    take 2.1 ms of CPU, 8 take 2.8."""
    observations = np.stack([row.observation for row in rows])
    starts = np.array([row.episode_start for row in rows], bool)
    prev_actions = np.array([row.prev_action for row in rows], np.int32)
    prev_rewards = np.array([row.prev_reward for row in rows], np.float32)
    state = (np.stack([row.state_h for row in rows]), np.stack([row.state_c for row in rows]))
    logits, values, (state_h, state_c) = network.step(
        observations, starts, prev_actions, prev_rewards, state)
    return logits.numpy(), values.numpy(), state_h.numpy(), state_c.numpy()
