"""BCConfig: the settings of a behaviour-cloning run, checked when made. Importing it costs no
TensorFlow, so a command refuses bad flags before it starts."""

import dataclasses
import pathlib

from retro_rl.errors import UserError


@dataclasses.dataclass(frozen=True)
class BCConfig:
    """The settings of a run; run_supervised_learning.py's flags, which say what each means."""

    replay_path: str
    workspace_path: str = "."
    dataset_path: str | None = None
    frame_skip: int = 4
    obs_size: int = 84
    grayscale: bool = False
    action_set: str | None = None  # None: the movies' platform's table
    workers: int = 2
    torso: str = "nature"
    lstm_units: int = 256
    use_prev_action: bool = False
    use_prev_reward: bool = False
    batch_size: int = 32
    seq_len: int = 20
    learning_rate: float = 1e-3
    lr_schedule: str = "cosine"
    training_steps: int = 2500
    save_every: int = 1000
    log_every: int = 50
    eval_every: int = 250
    val_fraction: float = 0.1
    value_cost: float = 0.5
    value_discount: float = 0.99  # rl.config.LearnerConfig's discount
    seed: int = 1
    resume: bool = False
    track: bool = False  # Weights & Biases (tracking.py)
    wandb_project: str | None = None
    wandb_entity: str | None = None

    def __post_init__(self):
        for name in ("batch_size", "seq_len", "training_steps", "save_every", "log_every",
                     "eval_every", "workers"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} must be at least 1 (got {getattr(self, name)})")
        if not self.learning_rate > 0:
            raise UserError(f"--learning_rate must be positive (got {self.learning_rate})")
        if not self.value_cost >= 0:
            raise UserError(f"--value_cost must be at least 0 (got {self.value_cost})")
        if not 0 < self.value_discount < 1:
            raise UserError(f"--value_discount must be in (0, 1) (got {self.value_discount})")
        if not 0 <= self.val_fraction < 1:
            raise UserError(f"--val_fraction must be in [0, 1) (got {self.val_fraction})")

    def default_dataset_path(self):
        """<workspace>/datasets/<replay folder name>_<observation settings>."""
        settings = (f"fs{self.frame_skip}_obs{self.obs_size}_"
                    f"{'gray' if self.grayscale else 'rgb'}_{self.action_set}")
        name = f"{pathlib.Path(self.replay_path).resolve().name}_{settings}"
        return pathlib.Path(self.workspace_path) / "datasets" / name
