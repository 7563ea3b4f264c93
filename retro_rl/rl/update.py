"""The learner's optimizer and its update: one V-trace gradient step on a batch of unrolls.

`make_optimizer(network, config)` is the learner's Adam, and `make_update(network, optimizer,
config)` returns a plain function `update(batch) -> metrics` that a test can call with one fake
batch; the learner feeds it batches from the actors.
Time-major throughout: T is time (agent steps per unroll), B is batch (unrolls per update).
"""

import tensorflow as tf

from retro_rl.model.distribution import categorical
from retro_rl.rl import vtrace


class Adam:
    """keras.optimizers.Adam's update (epsilon outside the square root, bias-corrected step)
    with one fused kernel per variable, ResourceApplyAdam: on a CPU it takes 3 ms where Keras's
    many small ops take 12 ms for the 2.5 M weights of the default network, once per update.
    The interface the update and the checkpoints use: build, apply_gradients, variables."""

    def __init__(self, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.learning_rate = tf.Variable(learning_rate, dtype=tf.float32, trainable=False)
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self._moments = {}  # id(variable) -> (first, second) moment variables

    def build(self, variables):
        for variable in variables:
            if id(variable) not in self._moments:
                self._moments[id(variable)] = tuple(
                    tf.Variable(tf.zeros(variable.shape, variable.dtype), trainable=False)
                    for _ in range(2))

    def apply_gradients(self, pairs):
        pairs = [(gradient, variable) for gradient, variable in pairs if gradient is not None]
        self.build([variable for _, variable in pairs])
        step = tf.cast(self.iterations.assign_add(1), tf.float32)
        beta_1_power, beta_2_power = self.beta_1 ** step, self.beta_2 ** step
        for gradient, variable in pairs:
            first, second = self._moments[id(variable)]
            tf.raw_ops.ResourceApplyAdam(
                var=variable.value.handle, m=first.handle, v=second.handle,
                beta1_power=beta_1_power, beta2_power=beta_2_power, lr=self.learning_rate,
                beta1=self.beta_1, beta2=self.beta_2, epsilon=self.epsilon, grad=gradient)

    @property
    def variables(self):
        """The step count, then each variable's two moments in the order they were built."""
        return [self.iterations] + [moment for pair in self._moments.values() for moment in pair]


class SplitAdam:
    """Adam with a step size of its own for the value head: two Adams behind the one interface
    the update and the checkpoints use (apply_gradients, build, variables).

    Fine-tuning may want both: a cloned policy must move slowly, while its value head starts
    untrained and, at the policy's step, still explained only about a third of the returns'
    variance after an hour (from scratch: 85%).
    """

    def __init__(self, network, learning_rate, value_learning_rate):
        self._policy_ids = {id(v) for v in network.policy_variables}  # all but the value head
        self.policy = Adam(learning_rate)
        self.value = Adam(value_learning_rate)

    def _split(self, items, variable_of):
        items = list(items)
        policy = [item for item in items if id(variable_of(item)) in self._policy_ids]
        value = [item for item in items if id(variable_of(item)) not in self._policy_ids]
        return policy, value

    def build(self, variables):
        policy, value = self._split(variables, lambda v: v)
        self.policy.build(policy)
        self.value.build(value)

    def apply_gradients(self, pairs):
        policy, value = self._split(pairs, lambda pair: pair[1])
        self.policy.apply_gradients(policy)
        self.value.apply_gradients(value)

    @property
    def variables(self):
        return self.policy.variables + self.value.variables


def make_optimizer(network, config):
    """The learner's optimizer, built for every weight of `network`: learning_rate for the
    network, value_learning_rate for its value head."""
    optimizer = SplitAdam(network, config.learning_rate, config.value_learning_rate)
    optimizer.build(network.trainable_variables)
    return optimizer


# ----------------------------------------------------------------------------------------------
# The update: a plain function of one batch


def unroll_network(network, batch):
    """The network over a batch of unrolls (unroll.stack): all T+1 observations from each
    unroll's carried state, reset where episode_start is true, fed the previous action and
    reward the actor's network saw. Returns logits [T+1, B, A], values [T+1, B], final state."""
    prev_actions = tf.concat([batch["last_action"][None], batch["actions"]], axis=0)
    prev_rewards = tf.concat([batch["last_reward"][None], batch["rewards"]], axis=0)
    return network.unroll(batch["observations"], batch["episode_start"], prev_actions,
                          prev_rewards, (batch["initial_state_h"], batch["initial_state_c"]))


def make_update(network, optimizer, config, anchor=None):
    """Returns `update(batch, train_policy=True) -> metrics`, one compiled gradient step on a
    batch of unrolls (unroll.stack), skipped (metrics["losses/skipped_update"] 1) where the loss
    or the gradients are not finite. With train_policy False only the value head learns (the
    value warm-up).

    The network runs as `unroll_network` says; step T only gives the bootstrap value V(x_T).
    Discounts: 0 after a step that ended its episode. A game over bootstraps from nothing; a
    time-limit truncation bootstraps from the actor's value of the episode's real last
    observation (truncation_values, folded into the reward as gamma * V), since x_{t+1} there
    is already the next episode's first observation.
    `anchor`: the frozen pretrained network for the KL term (required when kl_cost > 0); it
    starts from the same carried state, which is exact before fine-tuning moves away from it.
    """
    if config.kl_cost > 0 and anchor is None:
        raise ValueError("kl_cost > 0 needs the pretrained network as anchor")

    frozen_in_warmup = {id(v) for v in network.policy_variables}

    # train_policy is a Python bool: one trace each way, and the full update carries no mask.
    @tf.function
    def compiled_update(batch, train_policy):
        not_done = 1.0 - tf.cast(batch["dones"], tf.float32)
        discounts = config.discount * not_done
        rewards = batch["rewards"] + config.discount * batch["truncation_values"]
        with tf.GradientTape() as tape:
            logits, values, _ = unroll_network(network, batch)
            bootstrap_value, logits, values = values[-1], logits[:-1], values[:-1]
            policy = categorical(logits)
            target_log_probs = policy.log_prob(batch["actions"])
            behaviour_log_probs = categorical(batch["behaviour_logits"]).log_prob(batch["actions"])
            log_rhos = tf.stop_gradient(target_log_probs - behaviour_log_probs)
            targets = vtrace.from_importance_weights(
                log_rhos=log_rhos, discounts=discounts, rewards=rewards, values=values,
                bootstrap_value=bootstrap_value, clip_rho_threshold=config.clip_rho_threshold,
                clip_pg_rho_threshold=config.clip_pg_rho_threshold, lambda_=config.lambda_)
            entropy = tf.reduce_mean(policy.entropy())
            policy_loss = -tf.reduce_mean(target_log_probs * targets.pg_advantages)
            value_loss = config.baseline_cost * 0.5 * tf.reduce_mean(
                tf.square(targets.vs - values))
            entropy_loss = -config.entropy_cost * entropy
            kl = tf.constant(0.0)
            if anchor is not None:
                anchor_logits = tf.stop_gradient(unroll_network(anchor, batch)[0][:-1])
                kl = tf.reduce_mean(categorical(anchor_logits).kl_divergence(policy))
            kl_loss = config.kl_cost * kl
            total_loss = policy_loss + value_loss + entropy_loss + kl_loss
        variables = network.trainable_variables
        gradients = tape.gradient(total_loss, variables)
        if not train_policy:
            # Zero gradients from the start leave Adam's moments at zero: frozen weights stay.
            gradients = [tf.zeros_like(g) if g is not None and id(v) in frozen_in_warmup else g
                         for g, v in zip(gradients, variables)]
        gradients, grad_norm = tf.clip_by_global_norm(gradients, config.max_grad_norm)
        # A loss or gradient that is not finite (rewards that overflow, a diverging critic)
        # would make every weight NaN: such a step is skipped, and counted.
        finite = tf.math.is_finite(total_loss) & tf.math.is_finite(grad_norm)
        if finite:
            optimizer.apply_gradients(zip(gradients, variables))
        ratios = tf.exp(log_rhos)
        return {
            "losses/skipped_update": 1.0 - tf.cast(finite, tf.float32),
            "losses/policy": policy_loss, "losses/value": value_loss,
            "losses/entropy": entropy_loss, "losses/kl": kl_loss, "losses/total": total_loss,
            "charts/entropy": entropy, "charts/kl_to_pretrained": kl,
            "losses/grad_norm": grad_norm,
            "vtrace/importance_ratio": tf.reduce_mean(ratios),
            "vtrace/rho_clip_fraction": tf.reduce_mean(
                tf.cast(ratios > config.clip_rho_threshold, tf.float32)),
            "vtrace/pg_rho_clip_fraction": tf.reduce_mean(
                tf.cast(ratios > config.clip_pg_rho_threshold, tf.float32)),
            "vtrace/explained_variance": 1.0 - tf.math.reduce_variance(targets.vs - values)
            / tf.maximum(tf.math.reduce_variance(targets.vs), 1e-8),
            "vtrace/value_mean": tf.reduce_mean(values),
        }

    def update(batch, train_policy=True):
        return compiled_update(batch, bool(train_policy))

    return update
