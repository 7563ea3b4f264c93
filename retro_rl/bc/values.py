"""Value targets from demonstrations: the discounted returns a critic should predict along a
movie, under the reward the learner will train on, so that fine-tuning starts with a critic
that knows the game instead of an untrained one.

A movie that ends where the game ended (a game over, the level beaten) is terminal: nothing
follows its last step. A movie merely cut off has an unknown future, so the steps near its end,
where that future still weighs more than `cutoff_weight` in the return, get no target (masked).
"""

import dataclasses
import math

import numpy as np

from retro_rl.errors import UserError


@dataclasses.dataclass(frozen=True)
class RewardSettings:
    """The learner's reward: (reward - life_loss_penalty x lives lost) x reward_scale per step,
    discounted by `discount` (envs.EnvConfig and rl.config.LearnerConfig say what each is)."""

    reward_scale: float = 1.0
    life_loss_penalty: float = 0.0
    discount: float = 0.99
    cutoff_weight: float = 0.05

    def __post_init__(self):
        if not 0 < self.discount < 1 or not 0 < self.cutoff_weight < 1:
            raise UserError("the value targets need a discount and a cut-off weight in (0, 1)")

    @property
    def masked_steps(self):
        """Steps before a cut-off end without a target: where discount^k > cutoff_weight."""
        return math.ceil(math.log(self.cutoff_weight) / math.log(self.discount))


def value_targets(rewards, lives_lost, terminal_end, settings):
    """Discounted returns G_t = r_t + discount * G_{t+1} of one movie, and where they are known.

    rewards: float [N], the game's reward of each agent step; lives_lost: int [N]; terminal_end:
    whether the movie ends where the game ended. Returns (targets float32 [N], mask bool [N]).
    """
    shaped = (np.asarray(rewards, np.float64)
              - settings.life_loss_penalty * np.asarray(lives_lost, np.float64))
    shaped *= settings.reward_scale
    targets = np.zeros(len(shaped), np.float64)
    following = 0.0  # G after the last step: zero whether the end is terminal or cut off
    for step in range(len(shaped) - 1, -1, -1):
        following = shaped[step] + settings.discount * following
        targets[step] = following
    mask = np.ones(len(shaped), bool)
    if not terminal_end:
        mask[max(len(shaped) - settings.masked_steps, 0):] = False
    return targets.astype(np.float32), mask

