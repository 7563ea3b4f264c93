"""Policies with the verbs one loop plays them by, for B environments at once:

    actions = policy.act(observations)          # observations uint8 [B, H, W, C]
    ... environments step ...
    policy.observe(actions, rewards, dones)     # dones: the episode ended with this step

`Agent` plays a PolicyNetwork and owns what acting needs between steps: the LSTM state, the
previous action and reward, and which environments start a new episode. `RandomPolicy` is the
uniform-random baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from retro_rl.model.distribution import sample_actions

if TYPE_CHECKING:
    from retro_rl.model.network import PolicyNetwork


class Agent:
    """Plays `network` in `num_envs` environments; `seed` seeds the action sampling, `greedy`
    takes the most likely action instead."""

    def __init__(self, network: PolicyNetwork, num_envs: int, seed: int | None = None,
                 greedy: bool = False) -> None:
        self.network = network
        self.num_envs = num_envs
        self.greedy = greedy
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        """Forgets everything: every environment starts a new episode at the next act()."""
        self.state = self.network.initial_state(self.num_envs)
        self.episode_start = np.ones(self.num_envs, bool)
        self.prev_actions = np.zeros(self.num_envs, np.int32)
        self.prev_rewards = np.zeros(self.num_envs, np.float32)

    def act(self, observations: np.ndarray) -> np.ndarray:
        """Chooses actions int32 [B]; keeps the logits [B, A] and values [B] it used in
        `self.logits` and `self.values`, and the state before this step in `self.state_before`."""
        self.state_before = self.state
        logits, values, self.state = self.network.step(
            np.asarray(observations, np.uint8), self.episode_start, self.prev_actions,
            self.prev_rewards, self.state)
        self.logits, self.values = logits.numpy(), values.numpy()
        return sample_actions(self.logits, self.rng, self.greedy)

    def observe(self, actions: Sequence[int] | np.ndarray, rewards: Sequence[float] | np.ndarray,
                dones: Sequence[bool] | np.ndarray) -> None:
        """Records the step's outcome; where `dones` is true the next observation starts an
        episode, which resets that environment's LSTM state inside the network."""
        self.prev_actions = np.asarray(actions, np.int32)
        self.prev_rewards = np.asarray(rewards, np.float32)
        self.episode_start = np.asarray(dones, bool).copy()


class RandomPolicy:
    """The uniform-random baseline: each step's actions drawn uniformly with a seeded Generator."""

    def __init__(self, num_actions: int, seed: int | None) -> None:
        self.num_actions = num_actions
        self.rng = np.random.default_rng(seed)

    def act(self, observations: np.ndarray) -> np.ndarray:
        return self.rng.integers(self.num_actions, size=len(observations))

    def observe(self, actions: Sequence[int] | np.ndarray, rewards: Sequence[float] | np.ndarray,
                dones: Sequence[bool] | np.ndarray) -> None:
        pass
