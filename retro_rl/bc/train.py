"""Behaviour cloning's train step and validation, the optimizer, and resuming a checkpoint.

Shapes as in bc.data: T is time (agent steps), B is batch (lanes), A the number of actions.
"""

import keras
import numpy as np
import tensorflow as tf

from retro_rl.bc import data, metrics
from retro_rl.errors import UserError
from retro_rl.model import checkpoints, folders
from retro_rl.model.distribution import categorical
from retro_rl.model.network import create_network
from retro_rl.rl.losses import explained_variance

# Settings a checkpoint must share with a run that resumes it (they shape the network's inputs
# and outputs); training settings such as the learning rate may change.
NETWORK_SETTINGS = ("torso", "lstm_units", "use_prev_action", "use_prev_reward")


def learning_rate_at(step, learning_rate, training_steps, schedule):
    """The step size of optimizer step `step` (from 0): constant, or cosine decay to a tenth of
    `learning_rate` by `training_steps`."""
    if schedule == "constant":
        return learning_rate
    progress = min(step / training_steps, 1.0)
    return learning_rate * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * progress)))


def check_resume(checkpoint, settings):
    """Refuses to resume `checkpoint` with other observation or network settings; returns its
    config."""
    config = folders.read_config(checkpoint)
    saved = dict(config["env"], **config["network"])
    differences = [f"{name}={saved.get(name)!r} (this run: {value!r})"
                   for name, value in settings.items() if saved.get(name) != value]
    if differences:
        raise UserError(
            f"cannot resume {checkpoint}: it was trained with {', '.join(differences)}; "
            "pass its settings again, or train from scratch without --resume")
    return config


def build_learner(network_config, observation_shape, learning_rate, seed, checkpoint=None,
                  train_value=False):
    """The network, its Adam optimizer, the variables trained, and the step to start from: fresh
    (seeded), or exactly as `checkpoint` left them (weights, optimizer moments, iterations).
    train_value: the value head learns too (from the demonstrations' returns)."""
    if checkpoint:
        network, _, config = checkpoints.load_model(checkpoint)
    else:
        network = create_network(network_config, observation_shape, seed=seed)
    # Without value targets no gradient reaches the value head: it is not trained.
    variables = network.trainable_variables if train_value else network.policy_variables
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build(variables)
    if not checkpoint:
        return network, optimizer, variables, 0
    if not checkpoints.load_optimizer_state(checkpoint, optimizer, variables):
        raise UserError(f"{checkpoint} has no optimizer state to resume; train from scratch "
                        "without --resume")
    return network, optimizer, variables, int(config["step"])


def cross_entropies(logits, labels):
    """-log pi(label) per step: logits [T, B, A], labels [T, B] -> [T, B]."""
    return -categorical(logits).log_prob(labels)


def masked_cross_entropy(logits, labels, mask):
    """Mean cross-entropy over the unmasked steps: logits [T, B, A], labels and mask [T, B]."""
    weights = tf.cast(mask, tf.float32)
    return tf.reduce_sum(cross_entropies(logits, labels) * weights) / tf.maximum(
        tf.reduce_sum(weights), 1.0)


def masked_value_loss(predicted, targets, mask):
    """Half the mean squared error of the values [T, B] over the steps with a target."""
    weights = tf.cast(mask, tf.float32)
    return 0.5 * tf.reduce_sum(tf.square(predicted - targets) * weights) / tf.maximum(
        tf.reduce_sum(weights), 1.0)


def make_train_step(network, optimizer, variables, value_cost=0.0):
    """One optimizer step on a bc.data.Batch from LSTM state (h, c) on cross-entropy plus
    value_cost x the value loss; returns the cross-entropy, the value loss, the confusion counts
    [A, A] of the greedy predictions, and the state for the lane's next chunk."""
    num_actions = network.config.num_actions

    @tf.function
    def train_step(batch, state):
        with tf.GradientTape() as tape:
            logits, predicted, state = network.unroll(
                batch.observations, batch.episode_start, batch.prev_actions, batch.prev_rewards,
                state)
            loss = masked_cross_entropy(logits, batch.actions, batch.mask)
            value_loss = masked_value_loss(predicted, batch.value_targets, batch.value_mask)
            total = loss + value_cost * value_loss if value_cost else loss
        optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        confusion = tf.math.confusion_matrix(
            tf.reshape(batch.actions, [-1]), tf.reshape(tf.argmax(logits, -1), [-1]),
            num_actions, weights=tf.reshape(tf.cast(batch.mask, tf.int64), [-1]), dtype=tf.int64)
        # The next chunk continues these sequences: no gradient flows back into this one.
        return loss, value_loss, confusion, tuple(tf.stop_gradient(s) for s in state)

    return train_step


def evaluate(network, movies, batch_size, seq_len):
    """Scores the network on every step of `movies` (bc.data.Movies), each movie streamed from
    its first step with the state carried between chunks, as when it plays.
    Returns {"cross_entropy", "accuracy", "balanced_accuracy", "value_loss",
    "explained_variance" (of the value targets; NaN without any), "confusion" [A, A]}."""
    num_actions = network.config.num_actions
    loss_sum, steps, state = 0.0, 0, None
    confusion = np.zeros((num_actions, num_actions), np.int64)
    predicted, targets = [], []
    for batch in data.evaluation_batches(movies, batch_size, seq_len):
        if state is None:
            state = network.initial_state(batch.mask.shape[1])
        losses, predictions, step_values, state = _evaluation_step(network, batch, state)
        loss_sum += float(losses.numpy()[batch.mask].sum())
        steps += int(batch.mask.sum())
        confusion += metrics.confusion_counts(batch.actions, predictions.numpy(), batch.mask,
                                              num_actions)
        predicted.append(step_values.numpy()[batch.value_mask])
        targets.append(batch.value_targets[batch.value_mask])
    predicted, targets = np.concatenate(predicted), np.concatenate(targets)
    return {"cross_entropy": loss_sum / max(steps, 1), "accuracy": metrics.accuracy(confusion),
            "balanced_accuracy": metrics.balanced_accuracy(confusion),
            "value_loss": float(0.5 * np.mean((predicted - targets) ** 2)) if len(targets)
            else float("nan"),
            "explained_variance": float(explained_variance(targets, predicted))
            if len(targets) > 1 and targets.var() > 0 else float("nan"),
            "confusion": confusion}


@tf.function
def _evaluation_step(network, batch, state):
    """Per-step cross-entropy [T, B], greedy predictions [T, B], values [T, B], next state."""
    logits, step_values, state = network.unroll(batch.observations, batch.episode_start,
                                                batch.prev_actions, batch.prev_rewards, state)
    return (cross_entropies(logits, batch.actions), tf.argmax(logits, -1, output_type=tf.int32),
            step_values, state)
