"""What every algorithm's update shares: the network over a batch, the reward and discount of
each step, the value and KL terms, and the gradient step itself (value warm-up, clipping, a
step skipped where the loss or the gradients are not finite).

Time-major: T is time (agent steps per unroll), B is batch (unrolls), A the number of actions.
Every function here runs inside a compiled update (tf.function).
"""

import tensorflow as tf

from retro_rl.model.distribution import categorical


def unroll_heads(network, batch):
    """The network over a batch of unrolls (unroll.stack): all T+1 observations from each
    unroll's carried state, reset where episode_start is true, fed the previous action and
    reward the actor's network saw. Returns logits [T+1, B, A], values [T+1, B], intrinsic
    values [T+1, B] (None without RND's head) and the final state."""
    prev_actions = tf.concat([batch["last_action"][None], batch["actions"]], axis=0)
    prev_rewards = tf.concat([batch["last_reward"][None], batch["rewards"]], axis=0)
    return network.unroll_heads(batch["observations"], batch["episode_start"], prev_actions,
                                prev_rewards, (batch["initial_state_h"], batch["initial_state_c"]))


def unroll_network(network, batch):
    """unroll_heads without the intrinsic values: logits [T+1, B, A], values [T+1, B], state."""
    logits, values, _, state = unroll_heads(network, batch)
    return logits, values, state


def episodic_rewards(batch, discount):
    """The game's rewards and discounts [T, B] that returns are computed from. Discounts are 0
    after a step that ended its episode: a game over bootstraps from nothing. A time-limit
    truncation bootstraps from the actor's value of the episode's real last observation
    (truncation_values, folded into the reward as gamma * V), since x_{t+1} there is already
    the next episode's first observation."""
    discounts = discount * (1.0 - tf.cast(batch["dones"], tf.float32))
    return batch["rewards"] + discount * batch["truncation_values"], discounts


def squared_error(values, targets):
    return 0.5 * tf.reduce_mean(tf.square(targets - values))


def explained_variance(targets, values):
    """1 - Var(targets - values) / Var(targets): 1 is a perfect critic, 0 a constant one."""
    return 1.0 - tf.math.reduce_variance(targets - values) / tf.maximum(
        tf.math.reduce_variance(targets), 1e-8)


def kl_to_anchor(anchor, batch, policy):
    """Mean KL(pretrained policy || policy) over the batch's T steps; the anchor starts from the
    same carried state, which is exact before fine-tuning moves away from it."""
    if anchor is None:
        return tf.constant(0.0)
    anchor_logits = tf.stop_gradient(unroll_network(anchor, batch)[0][:-1])
    return tf.reduce_mean(categorical(anchor_logits).kl_divergence(policy))


def regularized(policy_loss, value_loss, policy, config, anchor, batch):
    """Every algorithm's total loss: its policy and value terms, the entropy bonus and the KL
    anchor to the pretrained policy. Returns (total loss, its terms as metrics)."""
    entropy = tf.reduce_mean(policy.entropy())
    entropy_loss = -config.entropy_cost * entropy
    kl = kl_to_anchor(anchor, batch, policy)
    kl_loss = config.kl_cost * kl
    total = policy_loss + value_loss + entropy_loss + kl_loss
    return total, {"losses/policy": policy_loss, "losses/value": value_loss,
                   "losses/entropy": entropy_loss, "losses/kl": kl_loss, "losses/total": total,
                   "charts/entropy": entropy, "charts/kl_to_pretrained": kl}


class GradientStep:
    """Applies one loss's gradients to `network`: with train_policy False (the value warm-up)
    only the value heads move; gradients are clipped to config.max_grad_norm; where the loss or
    the gradients are not finite (rewards that overflow, a diverging critic would make every
    weight NaN) nothing moves. Call it inside the tape's tf.function."""

    def __init__(self, network, optimizer, max_grad_norm):
        self.network, self.optimizer, self.max_grad_norm = network, optimizer, max_grad_norm
        self.frozen_in_warmup = {id(v) for v in network.policy_variables}

    def __call__(self, tape, loss, train_policy):
        """Returns the step's metrics: the gradient norm, and 1 where it was skipped."""
        variables = self.network.trainable_variables
        gradients = tape.gradient(loss, variables)
        if not train_policy:
            # Zero gradients from the start leave Adam's moments at zero: frozen weights stay.
            gradients = [tf.zeros_like(g) if g is not None and id(v) in self.frozen_in_warmup
                         else g for g, v in zip(gradients, variables)]
        gradients, norm = tf.clip_by_global_norm(gradients, self.max_grad_norm)
        finite = tf.math.is_finite(loss) & tf.math.is_finite(norm)
        if finite:
            self.optimizer.apply_gradients(zip(gradients, variables))
        return {"losses/grad_norm": norm,
                "losses/skipped_update": 1.0 - tf.cast(finite, tf.float32)}
