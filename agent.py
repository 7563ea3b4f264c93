"""An agent that plays B environments at once with a PolicyNetwork.

It owns what acting needs between steps: the LSTM state, the previous action and reward, and
which environments start a new episode. The verbs follow one agent step:

    actions = agent.act(observations)           # observations uint8 [B, H, W, C]
    ... environments step ...
    agent.observe(actions, rewards, dones)      # dones: the episode ended with this step

Evaluation and the IMPALA actors both use it, so they act identically.
"""

import numpy as np
import tensorflow as tf


def sample_actions(logits, rng, greedy=False):
    """Actions from policy logits float [B, A]: the argmax when greedy, else a draw from the
    softmax using the numpy Generator `rng` (so a seed fixes the whole episode)."""
    logits = np.asarray(logits, np.float64)
    if greedy:
        return logits.argmax(axis=-1).astype(np.int32)
    probabilities = np.exp(logits - logits.max(axis=-1, keepdims=True))
    cumulative = np.cumsum(probabilities, axis=-1)
    draws = rng.random(len(logits))[:, None] * cumulative[:, -1:]
    return np.minimum((cumulative < draws).sum(axis=-1), logits.shape[-1] - 1).astype(np.int32)


class Agent:
    def __init__(self, network, num_envs, seed=None, greedy=False):
        self.network = network
        self.num_envs = num_envs
        self.greedy = greedy
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self):
        """Forgets everything: every environment starts a new episode at the next act()."""
        self.state = self.network.initial_state(self.num_envs)
        self.episode_start = np.ones(self.num_envs, bool)
        self.prev_actions = np.zeros(self.num_envs, np.int32)
        self.prev_rewards = np.zeros(self.num_envs, np.float32)

    def act(self, observations):
        """Chooses actions int32 [B]; keeps the logits [B, A] and values [B] it used in
        `self.logits` and `self.values`, and the state before this step in `self.state_before`."""
        self.state_before = self.state
        logits, values, self.state = self.network.step(
            tf.convert_to_tensor(observations, tf.uint8),
            tf.convert_to_tensor(self.episode_start),
            tf.convert_to_tensor(self.prev_actions),
            tf.convert_to_tensor(self.prev_rewards),
            self.state,
        )
        self.logits, self.values = logits.numpy(), values.numpy()
        return sample_actions(self.logits, self.rng, self.greedy)

    def observe(self, actions, rewards, dones):
        """Records the step's outcome; where `dones` is true the next observation starts an
        episode, which resets that environment's LSTM state inside the network."""
        self.prev_actions = np.asarray(actions, np.int32)
        self.prev_rewards = np.asarray(rewards, np.float32)
        self.episode_start = np.asarray(dones, bool).copy()

    def set_weights(self, weights):
        self.network.set_weights(weights)
