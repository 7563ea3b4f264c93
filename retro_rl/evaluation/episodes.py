"""Episodes played by a policy, each a function of its seed alone.

Episode i (counting from 0) of an evaluation resets a fresh environment and seeds the policy's
sampling with seed + i, so the same seed gives the same report, and the random baseline plays
the very same episodes as the model beside it.
"""

import os

from retro_rl.agent import RandomPolicy
from retro_rl.envs import games
from retro_rl.envs.wrappers import EPISODE_STATS


class OneEmulator:
    """Gives every episode a freshly made environment. An episode is then a function of its
    seed alone, whatever played before it (so the baseline's episodes are the model's, and the
    video's replay is the episode), for ~0.15 s per episode. stable-retro allows one emulator
    per process, so the previous one is closed first; closing also finishes its .bk2 movie."""

    def __init__(self, env_config):
        self.env_config = env_config
        self.env = None

    def fresh(self, state, record_path=None):
        self.close()
        self.env = self.env_config.replace(state=state).make(record_path=record_path)
        return self.env

    def close(self):
        if self.env is not None:
            self.env.close()
        self.env = None


def evaluation_env(env_config, max_steps):
    """`env_config` as every evaluation plays it, whatever a model trained with: episodes end
    at a game over, the level's end, the game's stall guard or after `max_steps` agent steps;
    a life lost is not an episode's end."""
    return env_config.replace(max_episode_steps=max_steps, level_end=True, stall_steps=None,
                              life_loss_ends_episode=False)


def state_label(env):
    """The start state's name as stable-retro loaded it, e.g. 'EmeraldHillZone.Act1'
    ('default' for a Gymnasium environment, which has none)."""
    statename = getattr(env.unwrapped, "statename", None)
    return os.path.splitext(os.path.basename(statename))[0] if statename else "default"


def play_episode(env, policy, seed, on_step=None):
    """Plays one episode from env.reset(seed=seed); returns env's info["episode_stats"].
    on_step(action, info) runs after every agent step."""
    observation, _ = env.reset(seed=seed)
    while True:
        action = int(policy.act(observation[None])[0])
        observation, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        policy.observe([action], [reward], [done])
        if on_step is not None:
            on_step(action, info)
        if done:
            return info[EPISODE_STATS]


def play_numbered_episode(emulator, states, make_policy, episode, seed, record_path=None,
                          on_start=None, on_step=None):
    """Plays episode `episode` (from 0) of an evaluation: from its state in turn among
    `states`, by make_policy(seed + episode) from env.reset(seed=seed + episode). Returns
    (state label, info["episode_stats"], movie path or None).

    record_path: a folder where the episode is recorded as a .bk2 movie named after it.
    on_start(episode, env) runs before it; on_step(action, info) after every step.
    """
    episode_seed = seed + episode
    env = emulator.fresh(games.choose_state(states, episode=episode), record_path)
    movie = None
    if record_path is not None:
        # A fresh environment numbers its movies from 0; name this one after the episode.
        env.unwrapped.movie_id = episode
        movie = os.path.join(
            record_path, f"{env.unwrapped.gamename}-{state_label(env)}-{episode:06d}.bk2")
    if on_start is not None:
        on_start(episode, env)
    statistics = play_episode(env, make_policy(episode_seed), episode_seed, on_step)
    return state_label(env), statistics, movie


def play_episodes(emulator, states, make_policy, episodes, seed, record_path=None,
                  on_start=None, on_step=None):
    """Plays episodes 0 .. episodes - 1 (play_numbered_episode), yielding (state label,
    info["episode_stats"], movie path or None) after each."""
    for episode in range(episodes):
        yield play_numbered_episode(emulator, states, make_policy, episode, seed, record_path,
                                    on_start, on_step)


def random_baseline_scores(env_config, episodes, seed):
    """Returns of `episodes` uniform-random episodes on env_config's game (evaluation's
    baseline, seeds seed..seed + episodes - 1)."""
    emulator = OneEmulator(env_config)
    try:
        return [float(statistics["return"]) for _, statistics, _ in play_episodes(
            emulator, [env_config.state], lambda episode_seed: RandomPolicy(
                env_config.num_actions, episode_seed), episodes, seed)]
    finally:
        emulator.close()
