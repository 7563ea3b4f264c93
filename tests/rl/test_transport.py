"""Actor/learner transport over a real gRPC server on a local port."""

import socket
import threading
import time

import grpc
import numpy as np
import pytest

from retro_rl.rl import transport
from retro_rl.rl.proto import impala_pb2, impala_pb2_grpc
from retro_rl.rl.unroll import UnrollSpec
from tests.rl.unrolls import SMALL_SPEC as SPEC
from tests.rl.unrolls import make_unroll as build_unroll


def make_unroll(spec=SPEC, parameter_version=0, seed=0):
    return dict(build_unroll(spec, seed, parameter_version), actor_id=3)


def assert_unrolls_equal(received, sent):
    assert set(received) == set(sent)
    for name, value in sent.items():
        if isinstance(value, np.ndarray):
            assert received[name].dtype == value.dtype, name
            np.testing.assert_array_equal(received[name], value, err_msg=name)
        else:
            assert received[name] == value, name


@pytest.fixture
def server():
    with transport.LearnerServer(SPEC, queue_size=4, max_workers=8) as learner:
        learner.set_parameters(0, [np.zeros(3, np.float32)])
        yield learner


@pytest.fixture
def client(server):
    with transport.ActorClient(server.address, actor_id=3, deadline_s=10.0) as actor:
        yield actor


def test_arrays_round_trip_with_dtype_and_shape():
    for array in [np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.array([True, False]),
                  np.array(7, np.int64), np.zeros((0, 5), np.uint8),
                  np.arange(6, dtype=np.int32).reshape(2, 3).T,  # not C-contiguous
                  np.arange(4, dtype=">f4")]:  # big-endian arrives in native order
        decoded = transport.decode_array(transport.encode_array(array))
        assert decoded.dtype.name == array.dtype.name and decoded.shape == array.shape
        np.testing.assert_array_equal(decoded, array)
        decoded[...] = 0  # The learner may modify what it receives.


def test_decode_rejects_lying_tensors():
    good = transport.encode_array(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="dtype 'float64'"):
        transport.decode_array(impala_pb2.Tensor(dtype="float64", shape=[2, 3], data=good.data))
    with pytest.raises(ValueError, match="dtype 'object'"):
        transport.decode_array(impala_pb2.Tensor(dtype="object", shape=[1], data=b"x" * 8))
    with pytest.raises(ValueError, match="needs 24"):
        transport.decode_array(impala_pb2.Tensor(dtype="float32", shape=[2, 3],
                                                 data=good.data[:-1]))
    with pytest.raises(ValueError, match="bool data"):
        transport.decode_array(impala_pb2.Tensor(dtype="bool", shape=[2], data=b"\x00\x07"))
    with pytest.raises(ValueError, match="cannot send dtype float64"):
        transport.encode_array(np.zeros(3))


def test_unroll_arrives_equal(server, client):
    sent = make_unroll()
    learner_version, stop = client.send_unroll(sent)
    assert (learner_version, stop) == (0, False)
    received = server.unroll_queue.get(timeout=5)
    assert_unrolls_equal(received, sent)
    counters = server.counters()
    assert counters["unrolls_received"] == 1
    assert counters["steps_received"] == SPEC.unroll_length


def malformed_unrolls():
    """(what is wrong, Unroll message) pairs the learner must refuse."""
    def with_array(name, tensor):
        message = transport.encode_unroll(make_unroll())
        getattr(message, name).CopyFrom(tensor)
        return message

    def changed(**fields):
        return transport.encode_unroll({**make_unroll(), **fields})

    good = make_unroll()
    yield "wrong shape", changed(observations=good["observations"][:-1])
    yield "wrong num_actions", changed(behaviour_logits=np.zeros((5, 3), np.float32))
    yield "bad dtype", with_array("rewards", impala_pb2.Tensor(
        dtype="float64", shape=[5], data=good["rewards"].astype(np.float64).tobytes()))
    yield "dtype not expected", with_array(
        "actions", transport.encode_array(good["actions"].astype(np.int64)))
    yield "size mismatch", with_array("observations", impala_pb2.Tensor(
        dtype="uint8", shape=[6, 8, 10, 3], data=good["observations"].tobytes()[:-10]))
    yield "future version", changed(parameter_version=1)
    yield "action out of range", changed(actions=np.full(5, 4, np.int32))
    yield "nan logits", changed(behaviour_logits=np.full((5, 4), np.nan, np.float32))
    yield "episode_start disagrees with dones", changed(episode_start=np.ones(6, bool))
    yield "nan episode return", changed(episodes=[
        dict(episode, episode_return=float("nan")) for episode in good["episodes"]])
    missing = transport.encode_unroll(good)
    missing.ClearField("initial_state_c")
    yield "missing field", missing


def test_malformed_unrolls_are_rejected_and_server_keeps_serving(server):
    channel = grpc.insecure_channel(server.address)
    stub = impala_pb2_grpc.LearnerStub(channel)
    reasons = []
    for reason, message in malformed_unrolls():
        with pytest.raises(grpc.RpcError) as raised:
            stub.SendUnroll(message, timeout=5)
            pytest.fail(f"accepted an unroll with {reason}")
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, reason
        reasons.append(raised.value.details())
    channel.close()
    assert any("shape" in details for details in reasons)
    assert any("parameter_version 1" in details for details in reasons)
    assert server.unroll_queue.empty()
    assert server.counters()["unrolls_rejected"] == len(reasons)

    with transport.ActorClient(server.address, deadline_s=5) as client:
        with pytest.raises(transport.UnrollRejected, match="dones"):
            client.send_unroll({**make_unroll(), "terminated": np.ones(5, bool)})
        sent = make_unroll(seed=4)
        client.send_unroll(sent)
    assert_unrolls_equal(server.unroll_queue.get(timeout=5), sent)


def test_parameters_round_trip_and_unchanged_answer(server, client):
    weights = [np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32),
               np.arange(4, dtype=np.float32)]
    server.set_parameters(7, weights)
    version, received, stop = client.get_parameters(-1)
    assert version == 7 and not stop
    assert len(received) == 2
    for got, want in zip(received, weights):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    assert client.get_parameters(7) == (7, None, False)
    with pytest.raises(ValueError, match="must increase"):
        server.set_parameters(7, weights)

    # An actor now acting with version 7 may send; the answer tells it the learner's version.
    server.set_parameters(8, weights)
    assert client.send_unroll(make_unroll(parameter_version=7)) == (8, False)


def test_stop_reaches_actors(server, client):
    server.request_stop()
    assert client.get_parameters(0) == (0, None, True)
    assert client.send_unroll(make_unroll()) == (0, True)
    assert server.unroll_queue.empty()
    assert server.counters()["unrolls_refused_after_stop"] == 1


def test_full_queue_makes_actor_wait_without_dropping():
    with transport.LearnerServer(SPEC, queue_size=1) as server:
        server.set_parameters(0, [])
        with transport.ActorClient(server.address, deadline_s=10) as client:
            client.send_unroll(make_unroll(seed=1))
            answers = []
            second = threading.Thread(
                target=lambda: answers.append(client.send_unroll(make_unroll(seed=2))))
            second.start()
            second.join(timeout=0.5)  # however slow the machine, it cannot return early
            assert second.is_alive() and not answers, "returned although the queue was full"
            first = server.unroll_queue.get(timeout=5)
            second.join(timeout=5)
            assert answers == [(0, False)]
            assert_unrolls_equal(first, make_unroll(seed=1))
            assert_unrolls_equal(server.unroll_queue.get(timeout=5), make_unroll(seed=2))
        assert server.counters()["unrolls_received"] == 2


def free_local_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_client_started_before_server_connects_when_it_comes_up():
    port = free_local_port()
    servers, published = [], threading.Event()

    def start_learner_later():
        time.sleep(1.0)
        server = transport.LearnerServer(SPEC, bind=f"127.0.0.1:{port}")
        servers.append(server)
        time.sleep(0.3)  # Up but no parameters yet: the client must keep waiting.
        server.set_parameters(3, [np.ones(2, np.float32)])
        published.set()

    starter = threading.Thread(target=start_learner_later)
    starter.start()
    try:
        with transport.ActorClient(f"127.0.0.1:{port}", deadline_s=60, max_backoff_s=0.5) as client:
            version, weights, stop = client.get_parameters(-1)
        answered_after_publishing = published.is_set()
    finally:
        starter.join()
        for server in servers:
            server.close()
    assert answered_after_publishing and version == 3 and not stop
    np.testing.assert_array_equal(weights[0], np.ones(2, np.float32))


def test_client_gives_up_at_deadline_when_no_learner():
    port = free_local_port()
    with transport.ActorClient(f"127.0.0.1:{port}", deadline_s=0.8) as client:
        started_at = time.monotonic()
        with pytest.raises(transport.LearnerUnavailable, match=str(port)):
            client.get_parameters(-1)
        assert 0.5 < time.monotonic() - started_at < 60  # gave up, and not before the deadline


def test_large_unroll_gets_through():
    spec = UnrollSpec(unroll_length=80, obs_shape=(112, 160, 3), num_actions=7,
                                lstm_units=256)
    sent = make_unroll(spec=spec, seed=9)
    assert sent["observations"].nbytes > 4 * 1024 * 1024  # gRPC's default receive limit
    with transport.LearnerServer(spec) as server:
        server.set_parameters(0, [np.zeros((1024, 1024), np.float32)] * 2)  # 8 MB of weights
        with transport.ActorClient(server.address, deadline_s=20) as client:
            client.send_unroll(sent)
            version, weights, _ = client.get_parameters(-1)
    assert_unrolls_equal(server.unroll_queue.get(timeout=5), sent)
    assert version == 0 and sum(array.nbytes for array in weights) == 8 * 1024 * 1024


def test_spec_checks_itself():
    with pytest.raises(ValueError, match="obs_shape"):
        UnrollSpec(unroll_length=5, obs_shape=(84, 84), num_actions=4, lstm_units=6)
    with pytest.raises(ValueError, match="unroll_length"):
        UnrollSpec(unroll_length=0, obs_shape=(84, 84, 1), num_actions=4, lstm_units=6)


def test_second_server_cannot_take_a_port_in_use(server):
    with pytest.raises(OSError, match="cannot listen"):
        transport.LearnerServer(SPEC, bind=server.address)
