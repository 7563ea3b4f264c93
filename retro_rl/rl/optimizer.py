"""The learner's optimizer: Adam with one fused kernel per variable, and a step size of its own
for the value heads (SplitAdam); make_optimizer builds it for a network."""

import tensorflow as tf


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

    Fine-tuning wants both: a cloned policy must move slowly, while its value head starts
    untrained and learns too slowly at the policy's small step.
    """

    def __init__(self, network, learning_rate, value_learning_rate):
        self._policy_ids = {id(v) for v in network.policy_variables}  # all but the value heads
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


def anneal_learning_rates(optimizer, config, frames):
    """Sets both step sizes for a run `frames` into training: they fall linearly from the
    configured rates at frame 0 to final_learning_rate_fraction of them at total_frames (as
    cleanrl's PPO anneals to 0); a fraction of 1 keeps them constant. A resumed run goes on
    along the same line."""
    if config.final_learning_rate_fraction == 1.0:
        return  # constant: the optimizer keeps the rates it was built with
    progress = min(frames / config.total_frames, 1.0)
    fraction = 1.0 - (1.0 - config.final_learning_rate_fraction) * progress
    optimizer.policy.learning_rate.assign(config.learning_rate * fraction)
    optimizer.value.learning_rate.assign(config.value_learning_rate * fraction)


def make_optimizer(network, config):
    """The learner's optimizer, built for every weight of `network`: learning_rate for the
    network, value_learning_rate for its value heads."""
    optimizer = SplitAdam(network, config.learning_rate, config.value_learning_rate)
    optimizer.build(network.trainable_variables)
    return optimizer
