"""Random network distillation (Burda et al. 2018): an exploration bonus that is large where the
agent has rarely been.

A fixed, randomly initialised target network maps an observation to 512 features; a predictor
network is trained to match it on the observations the agent sees. Its error is small on what
is familiar and large on what is new, and is the intrinsic reward of the step that led there:

    x        = clip((gray(next observation) - running mean) / running std, -5, 5)
    error    = mean over features of (predictor(x) - target(x))^2
    reward_i = error / running std of the intrinsic returns

The intrinsic returns are non-episodic: a game over does not end them (dying is not a way out
of the bonus), and each worker's discounted sum runs on across episodes with its own discount.
The learner gives them a value head of their own (NetworkConfig.intrinsic_value) and weighs the
two advantages with extrinsic_coef and intrinsic_coef.

Time-major: T is time, B is batch. Everything here (both networks, the predictor's optimizer,
the running statistics, each worker's running return) is saved with a checkpoint (state/
load_state), so --resume continues it.
"""

import numpy as np
import tensorflow as tf
import keras

from retro_rl.rl.optimizer import Adam

FEATURES = 512
OBSERVATION_CLIP = 5.0


def intrinsic_discounts(dones, discount):
    """The discounts of non-episodic returns, [T, B]: `discount` at every step, `dones` or not."""
    return tf.fill(tf.shape(dones), tf.constant(discount, tf.float32))


class RunningMeanStd:
    """Mean and variance of everything seen so far, merged batch by batch (Chan et al.'s
    parallel update), over the leading axes of what `update` is given."""

    def __init__(self, shape=()):
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = 1e-4

    def update(self, values):
        values = np.asarray(values, np.float64).reshape(-1, *self.mean.shape)
        batch_mean, batch_var, batch_count = values.mean(0), values.var(0), len(values)
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean = self.mean + delta * batch_count / total
        self.var = (self.var * self.count + batch_var * batch_count
                    + delta ** 2 * self.count * batch_count / total) / total
        self.count = total

    @property
    def std(self):
        return np.sqrt(self.var)


def _torso(name):
    """Burda et al.'s convolutions: 32 8x8 /4, 64 4x4 /2, 64 3x3 /1, leaky ReLU, flattened."""
    layers = [keras.layers.Conv2D(filters, size, strides=stride,
                                  activation=keras.activations.leaky_relu,
                                  kernel_initializer=keras.initializers.Orthogonal(np.sqrt(2)))
              for filters, size, stride in ((32, 8, 4), (64, 4, 2), (64, 3, 1))]
    return layers + [keras.layers.Flatten(name=f"{name}_flatten")]


def _dense(units, activation=None):
    return keras.layers.Dense(units, activation=activation,
                              kernel_initializer=keras.initializers.Orthogonal(np.sqrt(2)))


class RND:
    """The target and predictor networks, their statistics, and each worker's running return.

    observation_shape: [H, W, C] of the policy's observations; channels_per_frame: 3 for RGB
    (the last frame is turned gray), 1 for gray. discount: of the intrinsic returns.
    """

    def __init__(self, observation_shape, channels_per_frame, learning_rate, discount=0.99,
                 seed=0):
        height, width, _ = observation_shape
        self.channels_per_frame, self.discount = channels_per_frame, discount
        keras.utils.set_random_seed(seed + 7919)  # the target is fixed by the run's seed
        self.target = keras.Sequential(_torso("target") + [_dense(FEATURES)], name="rnd_target")
        self.predictor = keras.Sequential(
            _torso("predictor") + [_dense(FEATURES, "relu"), _dense(FEATURES, "relu"),
                                   _dense(FEATURES)], name="rnd_predictor")
        for network in (self.target, self.predictor):
            network.build((None, height, width, 1))
        self.target.trainable = False
        self.optimizer = Adam(learning_rate)
        self.optimizer.build(self.predictor.trainable_variables)
        self.observation_stats = RunningMeanStd((height, width, 1))
        self.return_stats = RunningMeanStd()
        self.running_returns = {}  # worker id -> its discounted sum of intrinsic rewards
        self._errors = tf.function(self._errors_of, reduce_retracing=True)
        self._train = tf.function(self._train_on, reduce_retracing=True)

    # ------------------------------------------------------------------------------------------
    # What the learner calls

    def gray(self, observations):
        """uint8 [..., H, W, C] -> float32 [..., H, W, 1]: the last frame, gray."""
        frames = np.asarray(observations)[..., -self.channels_per_frame:].astype(np.float32)
        if self.channels_per_frame == 3:
            frames = frames @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]
        return frames

    def inputs(self, frames):
        """gray(...) frames -> the networks' input: normalised by the running statistics (not
        updated here) and clipped."""
        normalized = (frames - self.observation_stats.mean) / (self.observation_stats.std + 1e-8)
        return np.clip(normalized, -OBSERVATION_CLIP, OBSERVATION_CLIP).astype(np.float32)

    def intrinsic_rewards(self, batch, worker_ids):
        """The intrinsic rewards [T, B] of a stacked batch (reward t is for reaching
        observation t+1), from the predictor as it is now; updates the observation statistics
        with the batch first, then each worker's running return and their spread.
        Returns (rewards, the predictor inputs [T, B, H, W, 1] to train on)."""
        frames = self.gray(batch["observations"][1:])
        time, width = frames.shape[:2]
        self.observation_stats.update(frames)
        inputs = self.inputs(frames)
        errors = self._errors(inputs.reshape(-1, *inputs.shape[2:])).numpy().reshape(time, width)
        returns = np.empty_like(errors)
        for column, worker in enumerate(worker_ids):
            running = self.running_returns.get(int(worker), 0.0)
            for t in range(time):  # non-episodic: no episode end resets it
                running = running * self.discount + errors[t, column]
                returns[t, column] = running
            self.running_returns[int(worker)] = float(running)
        self.return_stats.update(returns)
        return (errors / (float(self.return_stats.std) + 1e-8)).astype(np.float32), inputs

    def add_intrinsic_rewards(self, batch):
        """intrinsic_rewards for a stacked batch (unroll.stack, whose "worker_id" says whose
        each column is): (the batch with "intrinsic_rewards" [T, B], the predictor inputs)."""
        rewards, inputs = self.intrinsic_rewards(batch, batch["worker_id"])
        return {**batch, "intrinsic_rewards": rewards}, inputs

    def train(self, inputs):
        """One Adam step of the predictor on inputs [..., H, W, 1]; returns its loss before it."""
        return float(self._train(inputs.reshape(-1, *inputs.shape[-3:])))

    def errors(self, observations):
        """The predictor's error [N] on uint8 observations [N, H, W, C] (no statistics
        updated): what a test or a chart can look at."""
        return self._errors(self.inputs(self.gray(observations))).numpy()

    # ------------------------------------------------------------------------------------------
    # Saving: a flat dict of arrays (checkpoints.save_model's `arrays`)

    def state(self):
        arrays = {f"target_{i:03d}": w for i, w in enumerate(self.target.get_weights())}
        arrays.update({f"predictor_{i:03d}": w
                       for i, w in enumerate(self.predictor.get_weights())})
        arrays.update({f"optimizer_{i:03d}": v.numpy()
                       for i, v in enumerate(self.optimizer.variables)})
        for name, stats in (("observation", self.observation_stats),
                            ("return", self.return_stats)):
            arrays.update({f"{name}_mean": stats.mean, f"{name}_var": stats.var,
                           f"{name}_count": np.array(stats.count)})
        workers = sorted(self.running_returns)
        arrays["worker_ids"] = np.array(workers, np.int64)
        arrays["worker_returns"] = np.array([self.running_returns[w] for w in workers])
        return arrays

    def load_state(self, arrays):
        """Restores state(); raises ValueError when the arrays do not fit these networks."""
        def numbered(prefix):
            return [arrays[key] for key in sorted(arrays) if key.startswith(prefix)]

        for network, prefix in ((self.target, "target_"), (self.predictor, "predictor_")):
            weights = numbered(prefix)
            if [w.shape for w in weights] != [w.shape for w in network.get_weights()]:
                raise ValueError(f"the saved {prefix[:-1]} network has other shapes")
            network.set_weights(weights)
        values = numbered("optimizer_")
        if [v.shape for v in values] != [tuple(v.shape) for v in self.optimizer.variables]:
            raise ValueError("the saved predictor optimizer has other shapes")
        for variable, value in zip(self.optimizer.variables, values):
            variable.assign(value)
        for name, stats in (("observation", self.observation_stats),
                            ("return", self.return_stats)):
            stats.mean, stats.var = arrays[f"{name}_mean"], arrays[f"{name}_var"]
            stats.count = float(arrays[f"{name}_count"])
        self.running_returns = {int(w): float(r) for w, r in
                                zip(arrays["worker_ids"], arrays["worker_returns"])}

    # ------------------------------------------------------------------------------------------

    def _errors_of(self, inputs):
        difference = self.predictor(inputs) - tf.stop_gradient(self.target(inputs))
        return tf.reduce_mean(tf.square(difference), axis=-1)

    def _train_on(self, inputs):
        variables = self.predictor.trainable_variables
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(self._errors_of(inputs))
        gradients = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return loss
