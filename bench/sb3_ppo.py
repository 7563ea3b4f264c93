"""Stable-Baselines3's PPO on one of this toolkit's environments for a fixed wall-clock time,
then scored on the same episodes as run_evaluation.py scores a model. Runs in a virtual
environment of its own (SB3 and the CPU build of torch; bench/sb3_side_by_side.py makes it),
never in the toolkit's.

    VENV/bin/python bench/sb3_ppo.py OUT --game Airstriker-Genesis-v0 --minutes 10 --seed 1

The settings are the RL Zoo's for Atari (PPO, CnnPolicy: 8 environments x 128 steps, 4 epochs
of minibatches of 256, clip 0.1 and learning rate 2.5e-4 both falling linearly over 10 M steps,
entropy 0.01, value 0.5, gradient norm 0.5) on 84x84 gray observations, 4 stacked, with the
reward settings this toolkit's learners train the game with (games.training_defaults). A run of
minutes sees only the start of the 10 M-step annealing, as a run of the Zoo's would.

Evaluation: episode i starts from reset(seed=i) with the settings every evaluation plays
(run_evaluation.py's evaluation_env), its actions sampled from the policy, through SB3's
evaluate_policy (one episode per call, the environment seeded before it). The return is the
game's score from the toolkit's episode statistics, not the scaled training reward.
Writes OUT/result.json and prints it.
"""

import argparse
import functools
import json
import pathlib
import time

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

from retro_rl.envs import EnvConfig
from retro_rl.envs.statistics import EPISODE_STATS
from retro_rl.evaluation.episodes import evaluation_env

ZOO_TIMESTEPS = 10_000_000  # the RL Zoo's Atari budget, over which its schedules fall


def linear(start):
    return lambda progress_remaining: start * progress_remaining


class StopAfter(BaseCallback):
    """Ends learn() `seconds` after the first step; remembers when that step was taken."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.started = seconds, None

    def _on_step(self):
        if self.started is None:
            self.started = time.perf_counter()
        return time.perf_counter() - self.started < self.seconds


def make(config):
    return config.make()


def train(config, args):
    envs = SubprocVecEnv([functools.partial(make, config)] * args.envs,
                         start_method="forkserver")  # one emulator per process
    model = PPO("CnnPolicy", envs, n_steps=128, n_epochs=4, batch_size=256,
                learning_rate=linear(2.5e-4), clip_range=linear(0.1), ent_coef=0.01,
                vf_coef=0.5, max_grad_norm=0.5, seed=args.seed, device="cpu", verbose=0)
    stop = StopAfter(args.minutes * 60)
    model.learn(ZOO_TIMESTEPS, callback=stop)
    seconds = time.perf_counter() - stop.started
    envs.close()
    return model, seconds


def evaluate(model, config, episodes):
    """The toolkit's episode statistics of `episodes` episodes, episode i from reset(seed=i)."""
    env = DummyVecEnv([functools.partial(make, config)])
    rows = []

    def keep_stats(local_vars, _):
        if local_vars["dones"][0]:
            stats = local_vars["infos"][0][EPISODE_STATS]
            rows.append({"episode": len(rows), "return": float(stats["return"]),
                         "length": int(stats["length"]),
                         "level_complete": bool(stats.get("level_complete", False))})

    for episode in range(episodes):
        env.seed(episode)
        evaluate_policy(model, env, n_eval_episodes=1, deterministic=False,
                        callback=keep_stats, warn=False)
    env.close()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("out", type=pathlib.Path, help="folder for result.json and the model")
    parser.add_argument("--game", default="Airstriker-Genesis-v0",
                        help="stable-retro game or Gymnasium id (e.g. ALE/Pong-v5)")
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock training time")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--envs", type=int, default=8, help="SubprocVecEnv workers")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--episodes", type=int, default=20, help="evaluation episodes")
    parser.add_argument("--max_steps", type=int, default=4500,
                        help="evaluation episodes' time limit in agent steps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    config = EnvConfig(game=args.game, grayscale=True, frame_stack=4).with_training_defaults()
    model, seconds = train(config, args)
    model.save(args.out / "sb3_ppo")
    frames = model.num_timesteps * config.frame_skip
    rows = evaluate(model, evaluation_env(config, args.max_steps), args.episodes)
    result = {"learner": "sb3_ppo", "game": args.game, "seed": args.seed,
              "seconds": seconds, "frames": frames, "frames_per_second": frames / seconds,
              "torch": torch.__version__, "episodes": rows}
    (args.out / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "episodes"}))


if __name__ == "__main__":
    main()
