"""Evaluation episodes played in this process or spread over worker processes.

stable-retro runs one emulator per process, so episodes play side by side only in processes of
their own. An episode is a function of its seed alone (episodes.py), so which process plays it
changes nothing: the same episodes give the same report whatever the number of processes.

A policy travels to a process as a `PolicySource` (a model folder, or the random baseline) and
is rebuilt there once; TensorFlow starts only in a process that plays a model.
"""

import dataclasses
import multiprocessing
import signal

from retro_rl.agent import Agent, RandomPolicy
from retro_rl.evaluation.episodes import OneEmulator, play_numbered_episode
from retro_rl.evaluation.video import write_video


@dataclasses.dataclass(frozen=True)
class PolicySource:
    """What a process rebuilds a policy from. model_folder: a model folder, None for the
    uniform-random baseline; greedy: take the most likely action instead of sampling one."""

    model_folder: str | None = None
    greedy: bool = False


class Player:
    """A process's emulator and the policies it has rebuilt, each loaded once.

    tensorflow_started: whether this process has started TensorFlow already (a command does it
    itself, runtime.start_tensorflow); otherwise the first model starts it with its defaults.
    """

    def __init__(self, env_config, tensorflow_started=False):
        self.env_config = env_config
        self.emulator = OneEmulator(env_config)
        self.tensorflow_started = tensorflow_started
        self._makers = {}

    def policy_maker(self, source):
        """make_policy(seed) for `source`."""
        if source not in self._makers:
            if source.model_folder is None:
                num_actions = self.env_config.num_actions
                self._makers[source] = lambda seed: RandomPolicy(num_actions, seed)
            else:
                if not self.tensorflow_started:
                    from retro_rl.runtime import start_tensorflow

                    start_tensorflow()
                    self.tensorflow_started = True
                from retro_rl.model import checkpoints

                network = checkpoints.load_model(source.model_folder)[0]
                self._makers[source] = lambda seed, greedy=source.greedy: Agent(
                    network, 1, seed=seed, greedy=greedy)
        return self._makers[source]

    def play(self, states, source, episode, seed, record_path=None, on_start=None,
             on_step=None):
        """Episode `episode` of an evaluation with base seed `seed`: (state label,
        info["episode_stats"], movie path or None), as episodes.play_numbered_episode."""
        return play_numbered_episode(self.emulator, states, self.policy_maker(source), episode,
                                     seed, record_path, on_start, on_step)

    def video(self, path, chosen, label, rows, source, states, max_steps=None):
        """Writes episode `chosen` of `rows` (None: the best) to `path` (video.write_video)."""
        return write_video(path, chosen, label, rows, self.policy_maker(source), states,
                           self.emulator, max_steps)

    def forget(self, source):
        """Drops the policy rebuilt from `source` (a model folder that is going away)."""
        self._makers.pop(source, None)

    def close(self):
        self.emulator.close()


# A worker process's own Player, made by its first job.
_player = None


def _start_worker():
    # Ctrl-C reaches the whole process group: the parent stops the workers and keeps what
    # they finished.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_player(env_config):
    global _player
    if _player is None or _player.env_config != env_config:
        if _player is not None:
            _player.close()
        _player = Player(env_config)
    return _player


def _play_job(job):
    env_config, states, label, source, episode, seed, record_path = job
    player = _worker_player(env_config)
    try:
        act, statistics, movie = player.play(states, source, episode, seed, record_path)
    finally:
        # Closing finishes the episode's movie; the next episode makes a fresh emulator anyway.
        player.emulator.close()
    return label, episode, act, statistics, movie


def _load_job(job):
    env_config, sources = job
    for source in sources:
        _worker_player(env_config).policy_maker(source)


def _video_job(job):
    env_config, path, chosen, label, rows, source, states = job
    return _worker_player(env_config).video(path, chosen, label, rows, source, states)


class WorkerPool:
    """`workers` processes, each with one emulator, that play the episodes of an evaluation.

        with WorkerPool(env_config, states, workers=4) as pool:
            for label, episode, act, statistics, movie in pool.play(jobs, seed):
                ...

    Leaving the block early (Ctrl-C, an error) stops the processes at once.
    """

    def __init__(self, env_config, states, workers):
        self.env_config, self.states = env_config, states
        # Spawned, not forked: TensorFlow's threads do not survive a fork.
        self._pool = multiprocessing.get_context("spawn").Pool(workers, _start_worker)

    def load(self, sources):
        """Rebuilds every policy in one of the processes first, so that a damaged model stops
        the evaluation with its one line before any episode starts."""
        self._pool.apply(_load_job, ((self.env_config, list(sources)),))

    def play(self, jobs, seed):
        """jobs: [(label, PolicySource, episode, record_path)]. Yields (label, episode, state
        label, info["episode"], movie path or None) in the order the episodes finish."""
        work = [(self.env_config, self.states, label, source, episode, seed, record_path)
                for label, source, episode, record_path in jobs]
        yield from self._pool.imap_unordered(_play_job, work)

    def video(self, path, chosen, label, rows, source):
        return self._pool.apply(_video_job, ((self.env_config, path, chosen, label, rows,
                                              source, self.states),))

    def close(self):
        self._pool.terminate()
        self._pool.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
