"""What a bad, silent or failing worker does to the inference server: it loses its own
connection, never the run's. The local attacks are fake workers built from the package's own
channel code; the remote ones use a real gRPC server on 127.0.0.1."""

import logging
import socket
import threading
import time

import numpy as np
import pytest

from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network
from retro_rl.rl import transport
from retro_rl.rl.batches import Rounds
from retro_rl.rl.channels import (HELLO, HELLO_MAGIC, ConnectionLost, LocalChannel, StepReport)
from retro_rl.rl.inference import InferenceServer
from retro_rl.rl.learning import StopRequest
from retro_rl.rl.unroll import UnrollSpec

OBS_SHAPE = (36, 36, 3)
NETWORK = NetworkConfig(num_actions=4, lstm_units=8)
SPEC = UnrollSpec(2, OBS_SHAPE, NETWORK.num_actions, NETWORK.lstm_units)


@pytest.fixture(scope="module")
def network():
    """The network, its forward pass compiled for 1 and 2 workers, so that a worker's first
    answer is not held up by compiling and the tests' timeouts can be short."""
    network = create_network(NETWORK, OBS_SHAPE, seed=0)
    for rows in (1, 2):
        state = np.zeros((rows, NETWORK.lstm_units), np.float32)
        network.step(np.zeros((rows, *OBS_SHAPE), np.uint8), np.ones(rows, bool),
                     np.zeros(rows, np.int32), np.zeros(rows, np.float32), (state, state))
    return network


@pytest.fixture
def started():
    """Starts servers (and their gRPC services) for a test, and closes them after it."""
    opened = []

    def start(network, **options):
        options.setdefault("queue_size", 1000)  # nothing here takes unrolls off the queue
        server = InferenceServer(network, SPEC, local_folder=True, **options).start()
        service = transport.LearnerService({}, server)
        opened.append((server, service))
        return server, service

    yield start
    for server, service in opened:
        service.close()
        server.close()


def observation(seed):
    return np.random.default_rng(seed).integers(0, 256, OBS_SHAPE, np.uint8)


def play(channel, steps):
    """Reports `steps` steps (after the first report); returns the answers."""
    answers = [channel.step(StepReport(observation(0), first=True))]
    for step in range(steps):
        answers.append(channel.step(StepReport(observation(step + 1), 0.5)))
    return answers


def play_until_closed(channel):
    """A well-behaved worker in a thread of its own: steps until stopped or disconnected."""
    def run():
        try:
            report = StepReport(observation(0), first=True)
            while not channel.step(report)[1]:
                report = StepReport(observation(1), 0.5)
        except ConnectionLost:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def intrude(address, hello):
    intruder = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    intruder.connect(address)
    if hello is not None:
        intruder.send(hello)
    return intruder


def closed_within(connection, timeout_s):
    """Whether the learner closes `connection` within `timeout_s` (it sends nothing else)."""
    connection.settimeout(timeout_s)
    try:
        return connection.recv(100) == b""
    except TimeoutError:
        return False


def test_a_bad_hello_or_record_closes_that_connection_alone(network, started, caplog):
    caplog.set_level(logging.INFO, logger="learner")
    server, _ = started(network)
    intruders = [intrude(server.local_address, hello) for hello in (
        b"[" * 4000, HELLO.pack(HELLO_MAGIC, -1), HELLO.pack(b"retro_RL", 0), b"")]
    for intruder in intruders[:3]:
        assert closed_within(intruder, 2)
    # A worker whose hello was good, then whose record is not a record.
    liar = LocalChannel(server.local_address, 9, OBS_SHAPE, timeout_s=2)
    liar.socket.send(b"[" * 4000)
    assert closed_within(liar.socket, 2)
    channel = LocalChannel(server.local_address, 1, OBS_SHAPE, timeout_s=2)
    assert len(play(channel, 10)) == 11
    assert server.failure is None and server.running
    refusals = [record.message for record in caplog.records
                if "local connection refused" in record.message]
    assert len(refusals) == 3 and "worker id -1" in refusals[1]
    channel.close()
    for intruder in intruders:
        intruder.close()


class BrokenNetwork:
    def step(self, *inputs):
        raise RuntimeError("boom")


def test_a_dead_inference_thread_stops_the_learner_instead_of_hanging(started, tmp_path):
    stop = StopRequest()
    log_file = logging.FileHandler(tmp_path / "learner.log")
    logging.getLogger().addHandler(log_file)
    server, _ = started(BrokenNetwork(), synchronous=True, on_failure=stop.fail)
    channel = LocalChannel(server.local_address, 0, OBS_SHAPE, timeout_s=1)
    with pytest.raises(ConnectionLost):
        channel.step(StepReport(observation(0), first=True))  # no answer ever comes
    logging.getLogger().removeHandler(log_file)
    log_file.close()
    assert stop.failure == "the inference thread failed (RuntimeError: boom)"
    assert not server.running
    assert "Traceback" in (tmp_path / "learner.log").read_text()  # for whoever mends it
    started_at = time.monotonic()
    assert Rounds(server).get(stop) is None  # the training loop is not left waiting
    assert time.monotonic() - started_at < 1
    channel.close()


def test_silent_connections_hold_up_no_one_and_are_capped(network, started):
    server, _ = started(network, handshake_timeout_s=1.0, max_pending=12)
    silent = [intrude(server.local_address, None) for _ in range(10)]
    started_at = time.monotonic()
    channel = LocalChannel(server.local_address, 0, OBS_SHAPE, timeout_s=4)
    play(channel, 20)
    # Each silent caller used to hold everyone up for 5 s; now they cost nothing.
    assert time.monotonic() - started_at < 3
    silent += [intrude(server.local_address, None) for _ in range(2)]  # 12 waiting: the cap
    extra = intrude(server.local_address, None)
    assert closed_within(extra, 0.5)  # beyond the cap: closed at once
    assert all(closed_within(connection, 2) for connection in silent)  # after 1 s
    assert len(play(channel, 2)) == 3
    channel.close()
    for connection in silent + [extra]:
        connection.close()


def test_a_second_claim_of_a_connected_workers_id_is_refused(network, started, caplog):
    caplog.set_level(logging.INFO, logger="learner")
    server, service = started(network)
    owner = LocalChannel(server.local_address, 3, OBS_SHAPE, timeout_s=2)
    play(owner, 2)
    with pytest.raises(ConnectionLost, match="refused"):
        LocalChannel(server.local_address, 3, OBS_SHAPE, timeout_s=2)
    client = transport.WorkerClient(service.address, worker_id=3)
    remote = client.remote_channel()
    with pytest.raises(ConnectionLost, match="ALREADY_EXISTS"):
        remote.step(StepReport(observation(0), first=True))
    remote.close()
    assert len(play(owner, 2)) == 3  # the owner plays on, undisturbed
    assert server.workers() == [3]
    assert sum("claims id 3" in record.message for record in caplog.records) == 2
    owner.close()
    # Once the owner has left, the id is free again.
    deadline = time.monotonic() + 2
    while server.workers() and time.monotonic() < deadline:
        time.sleep(0.01)
    again = LocalChannel(server.local_address, 3, OBS_SHAPE, timeout_s=2)
    play(again, 1)
    again.close()
    client.close()


@pytest.mark.parametrize("over", ["shared memory", "gRPC"])
def test_a_round_goes_on_without_a_worker_that_stops_reporting(network, started, caplog, over):
    caplog.set_level(logging.INFO, logger="learner")
    server, service = started(network, synchronous=True, round_size=2, round_timeout_s=1.0)
    client = transport.WorkerClient(service.address, worker_id=1)
    good = LocalChannel(server.local_address, 0, OBS_SHAPE, timeout_s=5)
    silent = LocalChannel(server.local_address, 1, OBS_SHAPE, timeout_s=5) \
        if over == "shared memory" else client.remote_channel()
    silent.step(StepReport(observation(0), first=True))  # answered, then it stops reporting
    player = play_until_closed(good)
    round_ = server.unroll_queue.get(timeout=5)
    assert [item["worker_id"] for item in round_] == [0]
    assert any("worker 1 sent nothing for 1 s" in record.message
               for record in caplog.records)
    with pytest.raises(ConnectionLost):
        silent.step(StepReport(observation(1)))  # it was disconnected
    silent.close()
    # It may come back, and the next rounds hold it again.
    server.next_round()
    back = LocalChannel(server.local_address, 1, OBS_SHAPE, timeout_s=5)
    returned = play_until_closed(back)
    unrolls = server.unroll_queue.get(timeout=5)
    while len(unrolls) < 2:  # a round that closed before it joined
        server.next_round()
        unrolls = server.unroll_queue.get(timeout=5)
    assert sorted(item["worker_id"] for item in unrolls) == [0, 1]
    server.request_stop()
    player.join(timeout=5)
    returned.join(timeout=5)
    good.close()
    back.close()
    client.close()


@pytest.mark.parametrize("over", ["shared memory", "gRPC"])
def test_a_worker_that_cannot_go_on_stops_the_run_with_its_reason(network, started, over):
    stop = StopRequest()
    server, service = started(network, on_failure=stop.fail)
    client = transport.WorkerClient(service.address, worker_id=4)
    channel = LocalChannel(server.local_address, 4, OBS_SHAPE, timeout_s=2) \
        if over == "shared memory" else client.remote_channel()
    channel.fail("ValueError: high <= 0")
    deadline = time.monotonic() + 3
    while not stop and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stop.failure == "worker 4 cannot go on: ValueError: high <= 0"
    channel.close()
    client.close()
