"""A2C's and PPO's rounds at the inference server, with real channels: one unroll from every
worker per round; the workers wait for the learner's update, or with overlap play the next
round meanwhile, never more than one round ahead of the learner."""

import queue
import time

import numpy as np
import pytest

from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network
from retro_rl.rl.channels import ConnectionLost, LocalChannel, StepReport
from retro_rl.rl.inference import InferenceServer
from retro_rl.rl.unroll import UnrollSpec
from tests.support import CheckedThread, wait_for

OBS_SHAPE = (36, 36, 3)
NETWORK = NetworkConfig(num_actions=4, lstm_units=8)
SPEC = UnrollSpec(3, OBS_SHAPE, NETWORK.num_actions, NETWORK.lstm_units)
WORKERS = 2


@pytest.fixture(scope="module")
def network():
    network = create_network(NETWORK, OBS_SHAPE, seed=0)
    state = np.zeros((WORKERS, NETWORK.lstm_units), np.float32)
    for rows in (1, WORKERS):  # compiled before the tests wait on answers
        network.step(np.zeros((rows, *OBS_SHAPE), np.uint8), np.ones(rows, bool),
                     np.zeros(rows, np.int32), np.zeros(rows, np.float32),
                     (state[:rows], state[:rows]))
    return network


def worker(address, worker_id, answered):
    """Plays until stopped or disconnected; `answered[worker_id]` counts the answers."""
    channel = LocalChannel(address, worker_id, OBS_SHAPE, timeout_s=30)
    report = StepReport(np.full(OBS_SHAPE, worker_id, np.uint8), first=True)
    try:
        while not channel.step(report)[1]:
            answered[worker_id] += 1
            report = StepReport(np.full(OBS_SHAPE, answered[worker_id] % 256, np.uint8), 0.5)
    except ConnectionLost:
        pass
    finally:
        channel.close()


@pytest.fixture
def rounds(network):
    """(server, answers per worker) for WORKERS workers playing rounds; `overlap` as given."""
    opened = []

    def start(overlap):
        server = InferenceServer(network, SPEC, local_folder=True, synchronous=True,
                                 round_size=WORKERS, overlap=overlap).start()
        answered = [0] * WORKERS
        threads = [CheckedThread(worker, (server.local_address, index, answered))
                   for index in range(WORKERS)]
        for thread in threads:
            thread.start()
        opened.append((server, threads))
        return server, answered

    yield start
    for server, threads in opened:
        server.request_stop()
        for thread in threads:
            thread.join(timeout=30)
        server.close()


def settled(answered):
    """The answers once no worker has been answered for a second: where they are held."""
    last = None
    while True:
        now = list(answered)
        if now == last:
            return now
        last = now
        time.sleep(1.0)


def test_without_overlap_a_round_waits_for_the_update(rounds):
    server, answered = rounds(overlap=False)
    first = server.unroll_queue.get(timeout=30)
    assert sorted(item["worker_id"] for item in first) == [0, 1]
    # Held for the learner: each worker's unroll is full and nothing more is answered.
    assert settled(answered) == [SPEC.unroll_length] * WORKERS
    with pytest.raises(queue.Empty):
        server.unroll_queue.get(timeout=1.0)
    server.version = 1  # the learner's update, then it lets them go
    server.next_round()
    second = server.unroll_queue.get(timeout=30)
    assert [item["parameter_version"] for item in second] == [1.0, 1.0]  # no lag


def test_with_overlap_the_next_round_is_played_during_the_update(rounds):
    """The learner's order: take a round, update, next_round(). With overlap the workers play
    round r+1 during the update on round r, with the weights of the update before, so every
    round is trained on one update after the weights that played it, never more."""
    server, answered = rounds(overlap=True)
    first = server.unroll_queue.get(timeout=30)
    assert [item["parameter_version"] for item in first] == [0.0, 0.0]
    # Updating on round 1: round 2 is played and queued meanwhile, then the workers wait for
    # the update to end (round 3 must not be played with the weights before it).
    wait_for(lambda: server.unroll_queue.qsize() == 1, 30, "the second round")
    assert settled(answered) == [2 * SPEC.unroll_length] * WORKERS
    server.version = 1
    server.next_round()  # the update on round 1 ends: round 3 begins with its weights
    second = server.unroll_queue.get(timeout=30)
    assert [item["parameter_version"] for item in second] == [0.0, 0.0]  # trained at 1: lag 1
    wait_for(lambda: server.unroll_queue.qsize() == 1, 30, "the third round")
    assert settled(answered) == [3 * SPEC.unroll_length] * WORKERS
    server.version = 2
    server.next_round()
    third = server.unroll_queue.get(timeout=30)
    assert [item["parameter_version"] for item in third] == [1.0, 1.0]  # trained at 2: lag 1
