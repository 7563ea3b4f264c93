"""The IMPALA learner's update: its settings, the batch layout, and one V-trace gradient step.

`make_optimizer(network, config)` is the learner's Adam, and `make_update(network, optimizer,
config)` returns a plain function `update(batch) -> metrics` that a test can call with one fake
batch; learner.py feeds it batches from the actors.
Time-major throughout: T is time (agent steps per unroll), B is batch (unrolls per update).
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

import vtrace
from cli import UserError


def setting(default, help):
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass(frozen=True)
class LearnerConfig:
    """What the update does (each field's help is its command-line flag's). Losses are means
    over the T x B steps of a batch, so the learning rate does not depend on T or B."""

    unroll_length: int = setting(20, "T: agent steps per unroll")
    batch_size: int = setting(4, "B: unrolls per update")
    learning_rate: float = setting(3e-4, "Adam step size of the network but its value head")
    value_learning_rate: float = setting(3e-4, "Adam step size of the value head (it has an "
                                               "optimizer of its own)")
    discount: float = setting(0.99, "gamma per agent step")
    entropy_cost: float = setting(0.01, "weight of the entropy bonus")
    baseline_cost: float = setting(0.5, "weight of the value loss")
    kl_cost: float = setting(0.0, "weight of KL(pretrained policy || policy), which keeps the "
                                  "policy near the demonstrations; 0 is off, > 0 needs "
                                  "--pretrained_model")
    max_grad_norm: float = setting(40.0, "clip gradients to this global norm")
    clip_rho_threshold: float = setting(1.0, "V-trace rho-bar: clips importance weights in "
                                             "the value targets")
    clip_pg_rho_threshold: float = setting(1.0, "V-trace: clips importance weights in the "
                                                "policy gradient")
    lambda_: float = setting(1.0, "V-trace trace factor lambda")
    value_warmup_updates: int = setting(0, "updates at the start that train the value head "
                                           "alone, the rest of the network frozen: a pretrained "
                                           "policy's value head is untrained, and advantages "
                                           "from it would first unlearn the policy")
    total_frames: int = setting(10_000_000, "stop after training on this many env frames "
                                            "(frame skip counted)")
    save_every: int = setting(1000, "updates between checkpoints (one is also written at the "
                                    "end)")

    def __post_init__(self):
        problems = [f"{name} must be at least 1 (got {getattr(self, name)})"
                    for name in ("unroll_length", "batch_size", "total_frames", "save_every")
                    if getattr(self, name) < 1]
        problems += [f"{name} must be positive (got {getattr(self, name)})"
                     for name in ("learning_rate", "value_learning_rate", "max_grad_norm",
                                  "clip_rho_threshold", "clip_pg_rho_threshold")
                     if not getattr(self, name) > 0]
        problems += [f"{name} must be at least 0 (got {getattr(self, name)})"
                     for name in ("entropy_cost", "baseline_cost", "kl_cost",
                                 "value_warmup_updates")
                     if not getattr(self, name) >= 0]
        if not 0 < self.discount <= 1:
            problems.append(f"discount must be in (0, 1] (got {self.discount})")
        if not 0 <= self.lambda_ <= 1:
            problems.append(f"lambda_ must be in [0, 1] (got {self.lambda_})")
        if problems:
            raise UserError("; ".join(problems))


# What a pretrained policy is fine-tuned with where no flag says otherwise (README, Results on
# Airstriker): with the from-scratch values a cloned policy, near-deterministic and with an
# untrained value head, unlearns what it was taught within 100,000 frames. So the value head
# learns alone first, then everything moves at a 30x smaller step, held near the pretrained
# policy by the KL term rather than pushed from it by an entropy bonus. (The value head at the
# from-scratch step with a 2,000-update warm-up measured no better: 0.96x the clone, not 1.08x.)
FINE_TUNING_DEFAULTS = {"value_warmup_updates": 500, "learning_rate": 1e-5,
                        "value_learning_rate": 1e-5, "entropy_cost": 0.0, "kl_cost": 1.0}


class SplitAdam:
    """Adam with a step size of its own for the value head: two Keras Adams behind the one
    interface the update and the checkpoints use (apply_gradients, build, variables).

    Fine-tuning may want both: a cloned policy must move slowly, while its value head starts
    untrained and, at the policy's step, still explained only about a third of the returns'
    variance after an hour (from scratch: 85%).
    """

    def __init__(self, network, learning_rate, value_learning_rate):
        self._policy_ids = {id(v) for v in network.policy_variables}  # all but the value head
        self.policy = keras.optimizers.Adam(learning_rate)
        self.value = keras.optimizers.Adam(value_learning_rate)

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
    """The learner's optimizer: learning_rate for the network, value_learning_rate for its
    value head."""
    return SplitAdam(network, config.learning_rate, config.value_learning_rate)


# ----------------------------------------------------------------------------------------------
# The update: a plain function of one batch


def stack_unrolls(unrolls):
    """Decoded unrolls (transport.py's layout) -> one time-major batch of numpy arrays.

    observations [T+1, B, H, W, C], episode_start [T+1, B], actions/rewards/dones/terminated/
    truncation_values [T, B], behaviour_logits [T, B, A], initial_state_h/c [B, U],
    last_action/last_reward [B] (0 where an actor did not send them).
    """
    batch = {name: np.stack([unroll[name] for unroll in unrolls], axis=1)
             for name in ("observations", "episode_start", "actions", "rewards", "dones",
                          "terminated", "behaviour_logits")}
    for name in ("initial_state_h", "initial_state_c"):
        batch[name] = np.stack([unroll[name] for unroll in unrolls])
    steps = batch["actions"].shape[0]
    batch["truncation_values"] = np.stack(
        [unroll.get("truncation_values", np.zeros(steps, np.float32)) for unroll in unrolls],
        axis=1)
    batch["last_action"] = np.array([unroll.get("last_action", 0) for unroll in unrolls], np.int32)
    batch["last_reward"] = np.array([unroll.get("last_reward", 0.0) for unroll in unrolls],
                                    np.float32)
    return batch


def unroll_network(network, batch):
    """The network over a `stack_unrolls` batch: all T+1 observations from each unroll's carried
    state, reset where episode_start is true, fed the previous action and reward the actor's
    network saw. Returns logits [T+1, B, A], values [T+1, B], final state."""
    prev_actions = tf.concat([batch["last_action"][None], batch["actions"]], axis=0)
    prev_rewards = tf.concat([batch["last_reward"][None], batch["rewards"]], axis=0)
    return network.unroll(batch["observations"], batch["episode_start"], prev_actions,
                          prev_rewards, (batch["initial_state_h"], batch["initial_state_c"]))


def make_update(network, optimizer, config, anchor=None):
    """Returns `update(batch, train_policy=True) -> metrics`, one compiled gradient step on a
    `stack_unrolls` batch. With train_policy False only the value head learns (value warm-up).

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
            targets = vtrace.from_logits(
                behaviour_logits=batch["behaviour_logits"], target_logits=logits,
                actions=batch["actions"], discounts=discounts, rewards=rewards, values=values,
                bootstrap_value=bootstrap_value, clip_rho_threshold=config.clip_rho_threshold,
                clip_pg_rho_threshold=config.clip_pg_rho_threshold, lambda_=config.lambda_)
            log_policy = tf.nn.log_softmax(logits)
            entropy = -tf.reduce_mean(tf.reduce_sum(tf.exp(log_policy) * log_policy, -1))
            policy_loss = -tf.reduce_mean(targets.target_action_log_probs * targets.pg_advantages)
            value_loss = config.baseline_cost * 0.5 * tf.reduce_mean(
                tf.square(targets.vs - values))
            entropy_loss = -config.entropy_cost * entropy
            kl = tf.constant(0.0)
            if anchor is not None:
                anchor_logits = tf.stop_gradient(unroll_network(anchor, batch)[0][:-1])
                anchor_log_policy = tf.nn.log_softmax(anchor_logits)
                kl = tf.reduce_mean(tf.reduce_sum(
                    tf.exp(anchor_log_policy) * (anchor_log_policy - log_policy), -1))
            kl_loss = config.kl_cost * kl
            total_loss = policy_loss + value_loss + entropy_loss + kl_loss
        variables = network.trainable_variables
        gradients = tape.gradient(total_loss, variables)
        if not train_policy:
            # Zero gradients from the start leave Adam's moments at zero: frozen weights stay.
            gradients = [tf.zeros_like(g) if g is not None and id(v) in frozen_in_warmup else g
                         for g, v in zip(gradients, variables)]
        gradients, grad_norm = tf.clip_by_global_norm(gradients, config.max_grad_norm)
        optimizer.apply_gradients(zip(gradients, variables))
        ratios = tf.exp(targets.log_rhos)
        return {
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
