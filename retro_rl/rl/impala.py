"""IMPALA's update: one V-trace gradient step on a batch of unrolls from possibly stale weights.

Time-major: T is time (agent steps per unroll), B is batch (unrolls per update). The network runs
over all T+1 observations (losses.unroll_heads); step T only gives the bootstrap value V(x_T).
With RND (rnd.py) the intrinsic rewards get V-trace targets of their own, from the intrinsic
value head and non-episodic discounts, and the policy follows extrinsic_coef x the game's
advantage + intrinsic_coef x the intrinsic one.
"""

import numpy as np
import tensorflow as tf

from retro_rl.model.distribution import categorical
from retro_rl.rl import losses, vtrace
from retro_rl.rl.rnd import intrinsic_discounts


def make_vtrace_update(network, optimizer, config, anchor=None, rnd=None):
    """Returns `update(batch, train_policy=True) -> metrics` (update.make_update says more)."""
    gradient_step = losses.GradientStep(network, optimizer, config.max_grad_norm)

    def targets_of(log_rhos, discounts, rewards, values):
        return vtrace.from_importance_weights(
            log_rhos=log_rhos, discounts=discounts, rewards=rewards, values=values[:-1],
            bootstrap_value=values[-1], clip_rho_threshold=config.clip_rho_threshold,
            clip_pg_rho_threshold=config.clip_pg_rho_threshold, lambda_=config.lambda_)

    # train_policy is a Python bool: one trace each way, and the full update carries no mask.
    @tf.function
    def compiled_update(batch, train_policy):
        rewards, discounts = losses.episodic_rewards(batch, config.discount)
        with tf.GradientTape() as tape:
            logits, values, intrinsic, _ = losses.unroll_heads(network, batch)
            policy = categorical(logits[:-1])
            target_log_probs = policy.log_prob(batch["actions"])
            behaviour_log_probs = categorical(batch["behaviour_logits"]).log_prob(batch["actions"])
            log_rhos = tf.stop_gradient(target_log_probs - behaviour_log_probs)
            targets = targets_of(log_rhos, discounts, rewards, values)
            advantages = targets.pg_advantages
            value_loss = losses.squared_error(values[:-1], targets.vs)
            if rnd is not None:
                intrinsic_targets = targets_of(
                    log_rhos, intrinsic_discounts(batch["dones"], config.intrinsic_discount),
                    batch["intrinsic_rewards"], intrinsic)
                advantages = (config.extrinsic_coef * advantages
                              + config.intrinsic_coef * intrinsic_targets.pg_advantages)
                value_loss += losses.squared_error(intrinsic[:-1], intrinsic_targets.vs)
            policy_loss = -tf.reduce_mean(target_log_probs * advantages)
            total_loss, metrics = losses.regularized(
                policy_loss, config.baseline_cost * value_loss, policy, config, anchor, batch)
        ratios = tf.exp(log_rhos)
        return {
            **metrics, **gradient_step(tape, total_loss, train_policy),
            "vtrace/importance_ratio": tf.reduce_mean(ratios),
            "vtrace/rho_clip_fraction": tf.reduce_mean(
                tf.cast(ratios > config.clip_rho_threshold, tf.float32)),
            "vtrace/pg_rho_clip_fraction": tf.reduce_mean(
                tf.cast(ratios > config.clip_pg_rho_threshold, tf.float32)),
            "vtrace/explained_variance": losses.explained_variance(targets.vs, values[:-1]),
            "vtrace/value_mean": tf.reduce_mean(values[:-1]),
        }

    def update(batch, train_policy=True):
        inputs = None
        if rnd is not None:
            batch, inputs = rnd.add_intrinsic_rewards(batch)
        metrics = {name: float(value)
                   for name, value in compiled_update(batch, bool(train_policy)).items()}
        if rnd is not None:
            metrics["rnd/intrinsic_reward"] = float(np.mean(batch["intrinsic_rewards"]))
            metrics["rnd/predictor_loss"] = rnd.train(inputs)
        return metrics

    return update
