"""An episode statistic is one line where it is measured: a name that a wrapper of a real
environment measures, and nothing else names, reaches the learner's TensorBoard over shared
memory and over gRPC."""

import gymnasium as gym
import numpy as np
import pytest
import tensorflow as tf

from retro_rl.envs import statistics, wrappers
from retro_rl.envs.emulator import make_retro
from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network
from retro_rl.rl import transport
from retro_rl.rl.channels import LocalChannel
from retro_rl.rl.inference import InferenceServer
from retro_rl.rl.status import run_totals, write_step_summaries
from retro_rl.rl.unroll import UnrollSpec
from retro_rl.rl.worker import Player
from tests.support import CheckedThread

OBS_SHAPE = (36, 36, 3)
EPISODE_STEPS = 5


class DistinctActions(gym.Wrapper):
    """A statistic no part of the package knows: how many different actions the episode took."""

    def reset(self, **kwargs):
        self._actions = set()
        return self.env.reset(**kwargs)

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._actions.add(int(action))
        statistics.measure(info, "distinct_actions", len(self._actions))  # the one line
        return observation, reward, terminated, truncated, info


def airstriker_with_distinct_actions():
    """make_env's stack for Airstriker, the wrapper above beneath the episode statistics."""
    env = make_retro("Airstriker-Genesis-v0")
    env = wrappers.FrameSkip(env, 4)
    env = wrappers.Preprocess(env, OBS_SHAPE[0], grayscale=False)
    env = wrappers.DiscreteActions(env, "full")
    env = DistinctActions(env)
    env = gym.wrappers.TimeLimit(env, EPISODE_STEPS)
    return wrappers.EpisodeStatistics(env)


def charted(folder):
    """{tag: [values in order]} of every scalar in a TensorBoard folder."""
    scalars = {}
    for path in folder.iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append(
                    float(tf.make_ndarray(value.tensor)))
    return scalars


@pytest.mark.parametrize("transport_kind", ["shared memory", "gRPC"])
def test_a_statistic_a_wrapper_measures_reaches_the_learners_charts(tmp_path, transport_kind):
    network_config = NetworkConfig(num_actions=23, lstm_units=8)
    network = create_network(network_config, OBS_SHAPE, seed=0)
    spec = UnrollSpec(4, OBS_SHAPE, network_config.num_actions, network_config.lstm_units)
    server = InferenceServer(network, spec, seed=0, queue_size=1000, local_folder=True).start()
    service = transport.LearnerService({}, server)
    client = transport.WorkerClient(service.address, worker_id=0, deadline_s=30)
    if transport_kind == "shared memory":
        channel = LocalChannel(server.local_address, 0, OBS_SHAPE, 30)
    else:
        channel = client.remote_channel()
    env = airstriker_with_distinct_actions()
    thread = CheckedThread(Player(env, [None], seed=0).play, (channel,))
    thread.start()
    unrolls = [server.unroll_queue.get(timeout=60) for _ in range(3)]  # 12 steps: 2 episodes
    server.request_stop()  # the worker's next answer says stop
    thread.join(timeout=30)
    channel.close()
    client.close()
    service.close()
    server.close()
    env.close()

    writer = tf.summary.create_file_writer(str(tmp_path))
    write_step_summaries(writer, {"frames": 48}, {}, 0.0, unrolls, {"returns": []})
    writer.close()
    scalars = charted(tmp_path)

    actions = np.concatenate([item["actions"] for item in unrolls])
    expected = [len(set(actions[start:start + EPISODE_STEPS])) for start in (0, EPISODE_STEPS)]
    assert scalars["charts/distinct_actions"] == expected
    assert scalars["charts/episodic_length"] == [EPISODE_STEPS] * 2
    assert scalars["charts/episodic_frames"] == [4 * EPISODE_STEPS] * 2
    assert scalars["charts/level_complete"] == [0.0, 0.0]
    assert len(scalars["charts/episodic_return"]) == 2
    assert not any("rooms" in tag or "x_progress" in tag for tag in scalars)


def test_rooms_are_charted_per_episode_and_for_the_whole_run(tmp_path):
    """statistics.CHARTS' rule for `rooms` (a bitmask): each episode's count, and the count of
    every room the run's episodes visited, which the console line gives too."""
    episodes = [{"return": 0.0, "length": 9.0, "frames": 36.0, "level_complete": 0.0,
                 "rooms": float(rooms)} for rooms in (0b10, 0b110, 0b10, 1 << 52 | 1)]
    unrolls = [{"episodes": episodes[:3]}, {"episodes": episodes[3:]}]
    meta, window = {"frames": 0}, {"returns": []}
    writer = tf.summary.create_file_writer(str(tmp_path))
    write_step_summaries(writer, meta, {}, 0.0, unrolls, window)
    writer.close()
    scalars = charted(tmp_path)
    assert scalars["charts/rooms_visited"] == [1, 2, 1, 2]
    assert scalars["charts/rooms_visited_run"] == [1, 2, 2, 4]
    assert list(run_totals(meta)) == [("rooms", 4)]
    assert window["returns"] == [0.0] * 4
