"""The CNN-LSTM policy-value network.

Shapes are time-major throughout: T is time, B is batch (environments or sequences), A is the
number of actions, U the LSTM units, H, W, C an observation's height, width and channels.
"""

import dataclasses

import numpy as np
import tensorflow as tf
import keras


def nature_torso():
    return keras.Sequential([
        keras.layers.Conv2D(32, 8, strides=4, activation="relu"),
        keras.layers.Conv2D(64, 4, strides=2, activation="relu"),
        keras.layers.Conv2D(64, 3, strides=1, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(512, activation="relu"),
    ], name="nature_torso")


class ResidualBlock(keras.layers.Layer):
    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.conv0 = keras.layers.Conv2D(channels, 3, padding="same")
        self.conv1 = keras.layers.Conv2D(channels, 3, padding="same")

    def call(self, x):
        return x + self.conv1(tf.nn.relu(self.conv0(tf.nn.relu(x))))


def impala_torso():
    layers = []
    for channels in (16, 32, 32):
        layers += [
            keras.layers.Conv2D(channels, 3, padding="same"),
            keras.layers.MaxPooling2D(3, strides=2, padding="same"),
            ResidualBlock(channels),
            ResidualBlock(channels),
        ]
    layers += [keras.layers.ReLU(), keras.layers.Flatten(),
               keras.layers.Dense(256, activation="relu")]
    return keras.Sequential(layers, name="impala_torso")


class ResettingLSTM(keras.layers.Layer):
    """An LSTM over [T, B, F] inputs whose state is zeroed before step t of sequence b wherever
    reset[t, b] is true, so one unroll may run across episode boundaries.

    The input projection of all T steps is one matrix product; only the recurrent part loops.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        features = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(features, 4 * self.units), initializer="glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, 4 * self.units), initializer="orthogonal", name="recurrent_kernel")
        # Forget-gate bias 1: remember by default early in training.
        bias = np.zeros(4 * self.units, np.float32)
        bias[self.units:2 * self.units] = 1.0
        self.bias = self.add_weight(
            shape=(4 * self.units,), initializer=keras.initializers.Constant(bias), name="bias")

    def call(self, inputs, reset, state):
        """inputs float32 [T, B, F]; reset bool [T, B]; state (h, c) float32 [B, U] each.
        Returns outputs float32 [T, B, U] and the final (h, c)."""
        projected = tf.einsum("tbf,fg->tbg", inputs, self.kernel) + self.bias
        keep = 1.0 - tf.cast(reset, tf.float32)[..., None]

        def step(carry, step_inputs):
            h, c = carry[0], carry[1]
            x, keep_t = step_inputs
            h, c = h * keep_t, c * keep_t
            gates = x + tf.matmul(h, self.recurrent_kernel)
            i, f, g, o = tf.split(gates, 4, axis=-1)
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h = tf.sigmoid(o) * tf.tanh(c)
            return tf.stack([h, c])

        carries = tf.scan(step, (projected, keep), initializer=tf.stack(list(state)))
        outputs = carries[:, 0]
        return outputs, (carries[-1, 0], carries[-1, 1])


class PolicyNetwork(keras.Model):
    """CNN-LSTM policy and value: uint8 frames in, action logits and a state value out."""

    def __init__(self, config, observation_shape, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.observation_shape = tuple(observation_shape)
        self.torso = nature_torso() if config.torso == "nature" else impala_torso()
        self.lstm = ResettingLSTM(config.lstm_units, name="lstm")
        self.policy_head = keras.layers.Dense(config.num_actions, name="policy_logits")
        self.value_head = keras.layers.Dense(1, name="value")
        # RND's intrinsic returns have a value head of their own (rl/rnd.py).
        self.intrinsic_value_head = keras.layers.Dense(1, name="intrinsic_value") \
            if config.intrinsic_value else None
        height, width, channels = self.observation_shape
        units = config.lstm_units
        # The acting path: one agent step for a batch of environments, traced once. XLA fuses
        # its small ops: ~30% less time per step on a CPU at batch 1.
        self.step = tf.function(self._step, jit_compile=True, input_signature=[
            tf.TensorSpec([None, height, width, channels], tf.uint8),
            tf.TensorSpec([None], tf.bool),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None], tf.float32),
            (tf.TensorSpec([None, units], tf.float32), tf.TensorSpec([None, units], tf.float32)),
        ])
        self.unroll_heads(*self.dummy_inputs(1, 1))  # create every weight now
        self.built = True

    @property
    def value_variables(self):
        """The value heads' trainable variables (the intrinsic one too, where there is one)."""
        heads = [self.value_head] + ([self.intrinsic_value_head]
                                     if self.intrinsic_value_head is not None else [])
        return [v for head in heads for v in head.trainable_variables]

    @property
    def policy_variables(self):
        """Every trainable variable but the value heads': what behaviour cloning without a
        critic trains, and what a value warm-up holds still."""
        value_weights = {id(v) for v in self.value_variables}
        return [v for v in self.trainable_variables if id(v) not in value_weights]

    def initial_state(self, batch_size):
        """Zero LSTM state: (h, c), float32 [B, U] each."""
        zeros = tf.zeros([batch_size, self.config.lstm_units], tf.float32)
        return (zeros, zeros)

    def dummy_inputs(self, time, batch):
        return (
            tf.zeros([time, batch, *self.observation_shape], tf.uint8),
            tf.ones([time, batch], tf.bool),
            tf.zeros([time, batch], tf.int32),
            tf.zeros([time, batch], tf.float32),
            self.initial_state(batch),
        )

    def unroll(self, observations, episode_start, prev_actions, prev_rewards, state):
        """Runs the network over T steps of B sequences.

        Args:
          observations: uint8 [T, B, H, W, C]; observation t is what action t is chosen from.
          episode_start: bool [T, B]; true where observation t is the first of an episode, which
            zeroes the LSTM state (and the previous action and reward) before step t.
          prev_actions: int32 [T, B], the action taken before observation t (any value where
            the network does not use it).
          prev_rewards: float32 [T, B], the reward received before observation t (likewise).
          state: (h, c), float32 [B, U] each, the LSTM state before step 0.
        Returns:
          logits float32 [T, B, A], values float32 [T, B], final state (h, c).
        """
        logits, values, _, state = self.unroll_heads(observations, episode_start, prev_actions,
                                                     prev_rewards, state)
        return logits, values, state

    def unroll_heads(self, observations, episode_start, prev_actions, prev_rewards, state):
        """`unroll`, with the intrinsic value head's values [T, B] too (None without one):
        returns logits, values, intrinsic values, final state."""
        shape = tf.shape(observations)
        time, batch = shape[0], shape[1]
        frames = tf.reshape(observations, [-1, *self.observation_shape])
        features = self.torso(tf.cast(frames, tf.float32) / 255.0)
        features = tf.reshape(features, [time, batch, features.shape[-1]])
        not_start = 1.0 - tf.cast(episode_start, tf.float32)
        extra = []
        if self.config.use_prev_action:
            one_hot = tf.one_hot(prev_actions, self.config.num_actions)
            extra.append(one_hot * not_start[..., None])
        if self.config.use_prev_reward:
            reward = tf.clip_by_value(tf.cast(prev_rewards, tf.float32), -1.0, 1.0)
            extra.append((reward * not_start)[..., None])
        if extra:
            features = tf.concat([features] + extra, axis=-1)
        outputs, state = self.lstm(features, episode_start, state)
        logits = self.policy_head(outputs)
        values = tf.squeeze(self.value_head(outputs), -1)
        intrinsic = None if self.intrinsic_value_head is None else tf.squeeze(
            self.intrinsic_value_head(outputs), -1)
        return logits, values, intrinsic, state

    def call(self, inputs):
        return self.unroll(*inputs)

    def _step(self, observation, episode_start, prev_action, prev_reward, state):
        """One step for B environments: observation uint8 [B, H, W, C], the rest [B].
        Returns logits [B, A], values [B], new state."""
        logits, values, state = self.unroll(
            observation[None], episode_start[None], prev_action[None], prev_reward[None], state)
        return logits[0], values[0], state


def with_intrinsic_head(network, seed=None):
    """A copy of `network` with a new intrinsic value head (NetworkConfig.intrinsic_value) and
    every other weight its own; `network` itself is returned where it has one."""
    if network.intrinsic_value_head is not None:
        return network
    grown = create_network(dataclasses.replace(network.config, intrinsic_value=True),
                           network.observation_shape, seed=seed)
    own = {id(v) for v in grown.intrinsic_value_head.weights}
    others = [v for v in grown.weights if id(v) not in own]
    if [tuple(v.shape) for v in others] != [tuple(v.shape) for v in network.weights]:
        raise ValueError("the networks' weights do not line up")
    for target, source in zip(others, network.weights):
        target.assign(source)
    return grown


def create_network(network_config, observation_shape, seed=None):
    """A freshly initialised PolicyNetwork (seeded when `seed` is given)."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    return PolicyNetwork(network_config, observation_shape)
