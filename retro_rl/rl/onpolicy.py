"""The on-policy updates, A2C and PPO, on a round of unrolls that the current weights made
(batches.Rounds): generalized advantage estimates (gae.py) instead of V-trace.

A2C (baselines' on the Sonic contest): one gradient step per round, advantages from that step's
own values, loss -log pi(a|x) A + value and entropy terms.
PPO (Schulman et al. 2017, with Burda et al.'s RND): the advantages and value targets are fixed
first, from the weights that acted; then `ppo_epochs` passes over the round in `num_minibatches`
minibatches of whole unrolls, each run from the LSTM state stored at its start (as cleanrl's
ppo_atari_lstm), advantages normalised per minibatch, the clipped objective
    -min(ratio A, clip(ratio, 1 - clip_ratio, 1 + clip_ratio) A),  ratio = pi(a|x) / pi_old(a|x)
and optionally the value clipped near its old value (value_clip, as PPO2).
With RND the intrinsic rewards get returns of their own (non-episodic, intrinsic_discount, the
intrinsic value head), and the advantage is extrinsic_coef x A_game + intrinsic_coef x A_int.

Time-major: T is time (agent steps per unroll), B is batch (one unroll per worker).
"""

import numpy as np
import tensorflow as tf

from retro_rl.model.distribution import categorical
from retro_rl.rl import gae, losses, unroll
from retro_rl.rl.rnd import intrinsic_discounts


def clipped_surrogate(log_probs, old_log_probs, advantages, clip_ratio):
    """PPO's per-step policy loss [T, B]: -min(ratio A, clip(ratio) A). Where the ratio is
    beyond 1 +- clip_ratio on the side the advantage pushes it, no gradient flows."""
    ratio = tf.exp(log_probs - old_log_probs)
    clipped = tf.clip_by_value(ratio, 1.0 - clip_ratio, 1.0 + clip_ratio)
    return -tf.minimum(ratio * advantages, clipped * advantages)


def value_loss(values, returns, old_values, clip):
    """0.5 x the mean squared error; with clip > 0, PPO2's pessimistic clipped version."""
    if clip <= 0:
        return losses.squared_error(values, returns)
    clipped = old_values + tf.clip_by_value(values - old_values, -clip, clip)
    return 0.5 * tf.reduce_mean(tf.maximum(tf.square(values - returns),
                                           tf.square(clipped - returns)))


def advantage_targets(batch, values, intrinsic, config):
    """GAE advantages and value targets from values [T+1, B] (and intrinsic values, or None):
    {"advantages", "returns", "values"} [T, B], with "intrinsic_returns" and
    "intrinsic_values" where there is RND."""
    rewards, discounts = losses.episodic_rewards(batch, config.discount)
    game = gae.advantages(rewards, values[:-1], values[-1], discounts, config.gae_lambda)
    targets = {"advantages": game.advantages, "returns": game.returns, "values": values[:-1]}
    if intrinsic is not None:
        exploration = gae.advantages(
            batch["intrinsic_rewards"], intrinsic[:-1], intrinsic[-1],
            intrinsic_discounts(batch["dones"], config.intrinsic_discount), config.gae_lambda)
        targets.update(advantages=config.extrinsic_coef * game.advantages
                       + config.intrinsic_coef * exploration.advantages,
                       intrinsic_returns=exploration.returns, intrinsic_values=intrinsic[:-1])
    return {name: tf.stop_gradient(value) for name, value in targets.items()}


def make_onpolicy_update(network, optimizer, config, anchor=None, rnd=None, seed=0):
    """Returns `update(batch, train_policy=True) -> metrics` for config.algorithm "a2c" or
    "ppo" (update.make_update says more)."""
    ppo = config.algorithm == "ppo"
    gradient_step = losses.GradientStep(network, optimizer, config.max_grad_norm)
    rng = np.random.default_rng(seed)

    @tf.function
    def prepare(batch):
        _, values, intrinsic, _ = losses.unroll_heads(network, batch)
        return advantage_targets(batch, values, intrinsic, config)

    # targets None (A2C): from this step's own forward pass. train_policy: a Python bool.
    @tf.function(reduce_retracing=True)
    def step(batch, targets, train_policy):
        with tf.GradientTape() as tape:
            logits, values, intrinsic, _ = losses.unroll_heads(network, batch)
            if targets is None:
                targets = advantage_targets(batch, values, intrinsic, config)
            policy = categorical(logits[:-1])
            log_probs = policy.log_prob(batch["actions"])
            old_log_probs = categorical(batch["behaviour_logits"]).log_prob(batch["actions"])
            advantages = targets["advantages"]
            if ppo:
                mean, variance = tf.nn.moments(advantages, axes=[0, 1])
                advantages = (advantages - mean) / (tf.sqrt(variance) + 1e-8)
                policy_loss = tf.reduce_mean(clipped_surrogate(
                    log_probs, old_log_probs, advantages, config.clip_ratio))
            else:
                policy_loss = -tf.reduce_mean(log_probs * advantages)
            critic_loss = value_loss(values[:-1], targets["returns"], targets["values"],
                                     config.value_clip)
            if intrinsic is not None:
                critic_loss += value_loss(intrinsic[:-1], targets["intrinsic_returns"],
                                          targets["intrinsic_values"], config.value_clip)
            total_loss, metrics = losses.regularized(
                policy_loss, config.baseline_cost * critic_loss, policy, config, anchor, batch)
        log_ratio = log_probs - old_log_probs
        return {
            **metrics, **gradient_step(tape, total_loss, train_policy),
            # Schulman's low-variance estimator of KL(old || new).
            "ppo/approx_kl": tf.reduce_mean(tf.exp(log_ratio) - 1.0 - log_ratio),
            "ppo/clip_fraction": tf.reduce_mean(tf.cast(
                tf.abs(tf.exp(log_ratio) - 1.0) > config.clip_ratio, tf.float32)),
            "gae/explained_variance": losses.explained_variance(targets["returns"],
                                                                targets["values"]),
            "gae/value_mean": tf.reduce_mean(targets["values"]),
        }

    def update(batch, train_policy=True):
        inputs = None
        if rnd is not None:
            batch, inputs = rnd.add_intrinsic_rewards(batch)
        train_policy = bool(train_policy)
        collected, predictor_losses = [], []
        if ppo:
            targets = {name: value.numpy() for name, value in prepare(batch).items()}
            width = batch["actions"].shape[1]
            for _ in range(config.ppo_epochs):
                for columns in np.array_split(rng.permutation(width),
                                              min(config.num_minibatches, width)):
                    minibatch = unroll.select(batch, columns)
                    chosen = {name: value[:, columns] for name, value in targets.items()}
                    collected.append(step(minibatch, chosen, train_policy))
                    if rnd is not None:
                        predictor_losses.append(rnd.train(inputs[:, columns]))
        else:
            collected.append(step(batch, None, train_policy))
            if rnd is not None:
                predictor_losses.append(rnd.train(inputs))
        metrics = {name: float(np.mean([float(item[name]) for item in collected]))
                   for name in collected[0]}
        metrics["losses/skipped_update"] = float(np.max(
            [float(item["losses/skipped_update"]) for item in collected]))
        if rnd is not None:
            metrics["rnd/intrinsic_reward"] = float(np.mean(batch["intrinsic_rewards"]))
            metrics["rnd/predictor_loss"] = float(np.mean(predictor_losses))
        return metrics

    return update
