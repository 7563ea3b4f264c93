"""The learner's settings: LearnerConfig (what the update does, checked when made), the defaults
a pretrained policy is fine-tuned with, and the settings every actor fetches from the learner.
Importing it costs no TensorFlow, so the commands check their flags before TensorFlow starts.

Time-major throughout: T is time (agent steps per unroll), B is batch (unrolls per update).
"""

import dataclasses

from retro_rl import tracking
from retro_rl.envs import EnvConfig
from retro_rl.errors import UserError
from retro_rl.fields import Settings, setting

DEFAULT_BIND = "127.0.0.1:50051"
ALGORITHMS = ("impala", "a2c", "ppo")


@dataclasses.dataclass(frozen=True)
class LearnerConfig(Settings):
    """What the update does (each field's help is its command-line flag's). Losses are means
    over the T x B steps of a batch, so the learning rate does not depend on T or B."""

    SETTINGS_NAME = "learner"

    algorithm: str = setting("impala", "impala: V-trace on the unrolls as they come (workers "
                                       "do not wait); a2c and ppo: synchronous and on-policy, "
                                       "each update one unroll from every worker made with "
                                       "the current weights, GAE advantages",
                                choices=ALGORITHMS)
    unroll_length: int = setting(20, "T: agent steps per unroll")
    batch_size: int = setting(8, "B: unrolls per update (impala; a2c and ppo take one from "
                                 "every worker)")
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
    gae_lambda: float = setting(0.95, "a2c, ppo: lambda of the generalized advantage estimate")
    ppo_epochs: int = setting(4, "ppo: passes over each batch")
    num_minibatches: int = setting(4, "ppo: minibatches per pass, of whole unrolls (each from "
                                      "its stored LSTM state)")
    clip_ratio: float = setting(0.1, "ppo: the probability ratio is clipped to 1 +- this")
    value_clip: float = setting(0.0, "ppo: clip the value's change per update to +- this, as "
                                     "PPO2 does (0: off)")
    rnd_coef: float = setting(0.0, "random network distillation (any algorithm); 0 is off. A "
                                   "predictor learns a fixed random network's features at "
                                   "rnd_coef x learning_rate; its error on the next "
                                   "observation is the intrinsic reward")
    intrinsic_discount: float = setting(0.99, "RND: gamma of the intrinsic returns, which go "
                                              "on across episode ends")
    extrinsic_coef: float = setting(2.0, "RND: weight of the game's advantage")
    intrinsic_coef: float = setting(1.0, "RND: weight of the intrinsic advantage")
    value_warmup_updates: int = setting(0, "updates at the start that train the value head "
                                           "alone, the rest of the network frozen: a pretrained "
                                           "policy's value head is untrained, and advantages "
                                           "from it would first unlearn the policy")
    final_learning_rate_fraction: float = setting(
        1.0, "both learning rates fall linearly over total_frames to this fraction of their "
             "start (0: annealed to 0, as cleanrl's PPO; 1: constant)")
    total_frames: int = setting(10_000_000, "stop after training on this many env frames "
                                            "(frame skip counted)")
    save_every: int = setting(1000, "updates between checkpoints (one is also written at the "
                                    "end)")
    keep_checkpoints: int = setting(5, "periodic checkpoints kept, the newest; older ones are "
                                       "deleted, but never the pretrained model or one written "
                                       "where a run ended (0 keeps every one)")
    round_timeout_s: float = setting(30.0, "a2c, ppo: a worker that has owed its next report "
                                           "this long (stopped, hung) is dropped from the round "
                                           "and disconnected; the round goes on without it")
    overlap_rounds: bool = setting(False, "a2c, ppo: the workers play the next round while the "
                                          "learner updates on the last, with the weights from "
                                          "before that update (a policy lag of at most one "
                                          "update, charted as charts/policy_lag); off: every "
                                          "round waits for the newest weights")
    eval_every: int = setting(0, "env frames between evaluations of the current weights in a "
                                 "process of their own: --eval_episodes episodes from the "
                                 "game's start with the same seeds each time, charted under "
                                 "eval/; the best becomes model/best_model (0: off)")
    eval_episodes: int = setting(5, "episodes per evaluation (--eval_every)")

    def __post_init__(self):
        super().__post_init__()
        problems = [f"{name} must be at least 1 (got {getattr(self, name)})"
                    for name in ("unroll_length", "batch_size", "total_frames", "save_every",
                                 "ppo_epochs", "num_minibatches", "eval_episodes")
                    if getattr(self, name) < 1]
        if self.algorithm not in ALGORITHMS:
            problems.append(f"algorithm must be one of {', '.join(ALGORITHMS)} "
                            f"(got {self.algorithm!r})")
        problems += [f"{name} must be positive (got {getattr(self, name)})"
                     for name in ("learning_rate", "value_learning_rate", "max_grad_norm",
                                  "clip_rho_threshold", "clip_pg_rho_threshold",
                                  "round_timeout_s")
                     if not getattr(self, name) > 0]
        problems += [f"{name} must be at least 0 (got {getattr(self, name)})"
                     for name in ("entropy_cost", "baseline_cost", "kl_cost",
                                  "value_warmup_updates", "value_clip", "rnd_coef",
                                  "keep_checkpoints", "extrinsic_coef", "intrinsic_coef",
                                  "eval_every")
                     if not getattr(self, name) >= 0]
        if not 0 < self.discount <= 1:
            problems.append(f"discount must be in (0, 1] (got {self.discount})")
        for name in ("lambda_", "gae_lambda"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must be in [0, 1] (got {getattr(self, name)})")
        if not 0 <= self.final_learning_rate_fraction <= 1:
            problems.append("final_learning_rate_fraction must be in [0, 1] (got "
                            f"{self.final_learning_rate_fraction})")
        if not 0 < self.intrinsic_discount < 1 or not 0 < self.clip_ratio < 1:
            problems.append("intrinsic_discount and clip_ratio must be in (0, 1)")
        if problems:
            raise UserError("; ".join(problems))


# What a pretrained policy is fine-tuned with where no flag says otherwise (README, Results on
# Airstriker): with the from-scratch values a cloned policy, near-deterministic and with an
# untrained value head, unlearns what it was taught within 100,000 frames. So the value head
# learns alone first, then everything moves at a 30x smaller step, held near the pretrained
# policy by the KL term rather than pushed from it by an entropy bonus.
# A clone whose value head learnt the demonstrations' returns (bc/values.py) of the run's reward
# and discount needs no warm-up: flags.parse_learner_args sets it to 0 for one.
FINE_TUNING_DEFAULTS = {"value_warmup_updates": 500, "learning_rate": 1e-5,
                        "value_learning_rate": 1e-5, "entropy_cost": 0.0, "kl_cost": 1.0}


# The settings of published systems (Sonic's, Atari's); a flag given beside a preset wins.
PRESETS = {
    # OpenAI baselines' A2C on the Sonic contest: lr 2e-4, entropy 0.01, value coefficient 0.5
    # on the squared error (here baseline_cost x 0.5 x the squared error: 1.0), gradients
    # clipped at 0.5, GAE lambda 0.95.
    "a2c_sonic": {"algorithm": "a2c", "learning_rate": 2e-4, "value_learning_rate": 2e-4,
                  "entropy_cost": 0.01, "baseline_cost": 1.0, "max_grad_norm": 0.5,
                  "gae_lambda": 0.95},
    # Burda et al. 2018's PPO with RND: 128-step unrolls, 4 epochs of 4 minibatches, clip 0.1,
    # lr 1e-4, entropy 0.001, extrinsic gamma 0.999, intrinsic 0.99, advantages 2 x extrinsic +
    # 1 x intrinsic.
    "ppo_rnd": {"algorithm": "ppo", "rnd_coef": 1.0, "unroll_length": 128, "ppo_epochs": 4,
                "num_minibatches": 4, "clip_ratio": 0.1, "learning_rate": 1e-4,
                "value_learning_rate": 1e-4, "entropy_cost": 0.001, "discount": 0.999,
                "intrinsic_discount": 0.99, "extrinsic_coef": 2.0, "intrinsic_coef": 1.0,
                "gae_lambda": 0.95, "baseline_cost": 1.0, "max_grad_norm": 0.5},
    # cleanrl's ppo_atari_lstm.py on the ALE's Atari games (with the launcher's 8 workers, its
    # 8 environments): 128-step unrolls, 4 epochs of 4 minibatches, clip 0.1 (the value's
    # change too), lr 2.5e-4 annealed to 0 over 10 M agent steps (40 M frames), entropy 0.01,
    # value coefficient 0.5 on 0.5 x the squared error (baseline_cost 0.5 here), gradients
    # clipped at 0.5, gamma 0.99, GAE lambda 0.95.
    "ppo_atari": {"algorithm": "ppo", "unroll_length": 128, "ppo_epochs": 4,
                  "num_minibatches": 4, "clip_ratio": 0.1, "value_clip": 0.1,
                  "learning_rate": 2.5e-4, "value_learning_rate": 2.5e-4,
                  "final_learning_rate_fraction": 0.0, "total_frames": 40_000_000,
                  "entropy_cost": 0.01, "baseline_cost": 0.5, "max_grad_norm": 0.5,
                  "discount": 0.99, "gae_lambda": 0.95},
}


@dataclasses.dataclass(frozen=True)
class RunConfig(Settings):
    """Where a learner's run starts, where it writes, how it listens and what it is told of its
    workers: the learner's settings that are not the update's (LearnerConfig) nor the
    environment's (EnvConfig). Each field's help is its command-line flag's."""

    SETTINGS_NAME = "run"

    workspace_path: str = setting(".", "folder for model/, tensorboard/ and logs/")
    pretrained_model: str = setting(
        "none", "model folder to start from: a name under <workspace>/model/ or a path; 'none' "
                "starts from scratch with --game/--state and default settings")
    resume: bool = setting(
        False, "continue the run of the newest <workspace>/model/reinforcement_model_<update>: "
               "its saved learner settings and pretrained model; a flag given changes a "
               "setting (the learner lists every change), another algorithm, RND on or off, or "
               "other observations are refused")
    preset: str | None = setting(
        None, "the learner settings of a published system (a2c_sonic: baselines' A2C on the "
              "Sonic contest; ppo_rnd: Burda et al.'s PPO with RND; ppo_atari: cleanrl's "
              "ppo_atari_lstm on the ALE, with 8 workers); flags given beside it win",
        choices=sorted(PRESETS))
    demo_starts: str | None = setting(
        None, "demonstrations to start episodes along: .bk2 movies, folders of them, or a "
              "parsed dataset (its movies); workers start --demo_start_fraction of their "
              "episodes from a state sampled uniformly along them (evaluation always starts at "
              "the game's start)")
    demo_start_fraction: float | None = setting(
        None, "share of the workers' episodes that start along --demo_starts (default: 0.5 "
              "with --demo_starts, else 0)")
    bind: str = setting(DEFAULT_BIND, "HOST:PORT to listen on; 0.0.0.0:PORT accepts actors on "
                                      "other machines (trusted networks only: the channel is "
                                      "not encrypted); port 0 picks a free one")
    gpu: int = setting(0, "1: train on the GPU if there is one", choices=(0, 1))
    tf_threads: int = setting(
        0, "TensorFlow's threads per operation (0: its own choice, every core). Where the "
           "workers keep the cores busy, fewer threads waste less: on 2 cores with 8 workers, "
           "1 thread costs ~25% less CPU per step than 2. The launcher passes the cores left "
           "over by the workers, at least 1")
    run_name: str | None = setting(None, "TensorBoard run folder (default: reinforcement_"
                                         "<date-time>; --resume continues the checkpoint's)")
    seed: int = setting(0, "seeds a from-scratch network's initial weights")
    workers: int = setting(0, "the number of workers the run starts (the launcher passes its "
                              "number of envs): a2c and ppo begin their first round once this "
                              "many have joined; 0 begins with the first")
    address_fd: int | None = setting(
        None, "an open file descriptor the learner writes its HOST:PORT to, one line, once "
              "workers can connect, then closes (how the launchers learn a port 0 bind)")
    track: bool = setting(False, tracking.FLAG_HELP["track"])
    wandb_project: str | None = setting(None, tracking.FLAG_HELP["wandb_project"])
    wandb_entity: str | None = setting(None, tracking.FLAG_HELP["wandb_entity"])

    def __post_init__(self):
        super().__post_init__()
        if self.demo_start_fraction is None:
            object.__setattr__(self, "demo_start_fraction", 0.5 if self.demo_starts else 0.0)
        if not 0 <= self.demo_start_fraction <= 1:
            raise UserError(f"--demo_start_fraction must be in [0, 1] (got "
                            f"{self.demo_start_fraction})")
        if self.demo_start_fraction > 0 and not self.demo_starts:
            raise UserError("--demo_start_fraction needs --demo_starts: the movies to start "
                            "along")
        for name in ("workers", "tf_threads"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name} must be at least 0 (got {getattr(self, name)})")
        if self.address_fd is not None and self.address_fd < 0:
            raise UserError(f"--address_fd must be a file descriptor (got {self.address_fd})")
        host, _, port = self.bind.rpartition(":")
        if not host or not port.isdigit() or int(port) > 65535:
            raise UserError(f"--bind {self.bind!r} must be HOST:PORT, e.g. {DEFAULT_BIND}")


@dataclasses.dataclass(frozen=True)
class WorkerSettings:
    """What a worker builds, all of it from the learner (transport's GetSettings, as JSON):
    env: the environment; states: the start states it samples one per episode from (None: the
    game's default); observation_shape: [H, W, C] the network takes; local_address: where a
    worker on the learner's machine connects through shared memory (channels.py: only the
    learner's user gets in, so there is no secret to hand out);
    demo_start_fraction: the share of episodes a worker starts along the learner's
    demonstrations (GetDemonstrations; demos/starts.py)."""

    env: EnvConfig
    states: tuple
    observation_shape: tuple
    local_address: str | None = None
    demo_start_fraction: float = 0.0

    def to_dict(self):
        return {"env": self.env.to_dict(), "states": list(self.states),
                "observation_shape": list(self.observation_shape),
                "local_address": self.local_address,
                "demo_start_fraction": self.demo_start_fraction}

    @classmethod
    def from_dict(cls, values):
        """Raises UserError when `values` is not what this version of the project sends."""
        try:
            return cls(env=EnvConfig.from_dict(values["env"]), states=tuple(values["states"]),
                       observation_shape=tuple(int(size) for size in values["observation_shape"]),
                       local_address=values["local_address"],
                       demo_start_fraction=float(values["demo_start_fraction"]))
        except (KeyError, TypeError, ValueError) as error:
            raise UserError(f"the learner's settings are incomplete ({error!r}); is it the same "
                            "version of this project?") from None

    def same_run(self, other):
        """Whether `other` plays the same thing (a restarted learner has another address)."""
        return (self.env, self.states, self.observation_shape, self.demo_start_fraction) == (
            other.env, other.states, other.observation_shape, other.demo_start_fraction)
