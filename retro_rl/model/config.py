"""NetworkConfig: the settings that build a PolicyNetwork, saved with every model. Importing it
costs no TensorFlow, so a command checks them before it starts."""

import dataclasses

from retro_rl.errors import UserError
from retro_rl.fields import Settings

TORSOS = ("nature", "impala")


@dataclasses.dataclass(frozen=True)
class NetworkConfig(Settings):
    """num_actions: policy outputs. torso: "nature" (Nature-DQN convolutions + 512-unit dense) or
    "impala" (IMPALA's 15-layer residual network + 256-unit dense). lstm_units: U.
    use_prev_action / use_prev_reward: feed the previous action (one-hot) and the previous reward
    (clipped to [-1, 1]) to the LSTM beside the image features. intrinsic_value: a second value
    head, for RND's intrinsic returns."""

    SETTINGS_NAME = "network"

    num_actions: int = 23
    torso: str = "nature"
    lstm_units: int = 256
    use_prev_action: bool = False
    use_prev_reward: bool = False
    intrinsic_value: bool = False

    def __post_init__(self):
        super().__post_init__()
        if self.torso not in TORSOS:
            raise UserError(f"torso must be 'nature' or 'impala' (got {self.torso!r})")
        if self.num_actions < 2 or self.lstm_units < 1:
            raise UserError("a network needs at least 2 actions and 1 LSTM unit")
