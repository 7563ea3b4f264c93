"""The gRPC service on a real server on a local port: settings, remote workers' streams, arrays
that cannot lie, a malformed step refused while the learner goes on, and workers that wait for a
learner that is not up yet."""

import queue
import socket
import threading
import time

import grpc
import numpy as np
import pytest

from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network
from retro_rl.rl import transport
from retro_rl.rl.channels import MAX_ABS_REWARD, ConnectionLost, StepReport
from retro_rl.rl.inference import InferenceServer
from retro_rl.rl.proto import learner_pb2, learner_pb2_grpc
from retro_rl.rl.unroll import UnrollSpec
from tests.rl.test_channels import EPISODE, MALFORMED_EPISODES
from tests.support import free_port

SHAPE = (36, 36, 3)
SPEC = UnrollSpec(unroll_length=3, obs_shape=SHAPE, num_actions=4, lstm_units=6)


def observation(seed=0):
    return np.random.default_rng(seed).integers(0, 256, SHAPE, np.uint8)


@pytest.fixture(scope="module")
def network():
    return create_network(NetworkConfig(num_actions=4, lstm_units=6), SHAPE, seed=0)


@pytest.fixture
def service(network):
    inference = InferenceServer(network, SPEC, queue_size=100).start()
    with transport.LearnerService({"game": "test"}, inference) as learner:
        yield learner
    inference.close()


def test_arrays_round_trip_with_dtype_and_shape():
    for array in [np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.array([True, False]),
                  np.array(7, np.int64), np.zeros((0, 5), np.uint8),
                  np.arange(6, dtype=np.int32).reshape(2, 3).T,  # not C-contiguous
                  np.arange(4, dtype=">f4")]:  # big-endian arrives in native order
        decoded = transport.decode_array(transport.encode_array(array))
        assert decoded.dtype.name == array.dtype.name and decoded.shape == array.shape
        np.testing.assert_array_equal(decoded, array)
        decoded[...] = 0  # the learner may modify what it receives


def test_decode_rejects_lying_tensors():
    good = transport.encode_array(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="dtype 'float64'"):
        transport.decode_array(learner_pb2.Tensor(dtype="float64", shape=[2, 3], data=good.data))
    with pytest.raises(ValueError, match="dtype 'object'"):
        transport.decode_array(learner_pb2.Tensor(dtype="object", shape=[1], data=b"x" * 8))
    with pytest.raises(ValueError, match="needs 24"):
        transport.decode_array(learner_pb2.Tensor(dtype="float32", shape=[2, 3],
                                                  data=good.data[:-1]))
    with pytest.raises(ValueError, match="bool data"):
        transport.decode_array(learner_pb2.Tensor(dtype="bool", shape=[2], data=b"\x00\x07"))
    with pytest.raises(ValueError, match="cannot send dtype float64"):
        transport.encode_array(np.zeros(3))


def test_a_step_round_trips_through_its_message():
    episode = {"return": 1e3, "length": 9, "frames": 36, "x_progress": 0.5,
               "level_complete": True, "rooms": (1 << 52) | 2, "any_new_name": -0.125}
    for report in [StepReport(observation(), first=True),
                   StepReport(observation(1), 0.25, True, False, observation(2), episode)]:
        message = learner_pb2.Step.FromString(
            transport.encode_step(report, worker_id=3).SerializeToString())
        assert message.worker_id == 3
        decoded = transport.decode_step(message)
        np.testing.assert_array_equal(decoded.observation, report.observation)
        assert (decoded.final_observation is None) == (report.final_observation is None)
        assert (decoded.reward, decoded.done, decoded.first) == (
            report.reward, report.done, report.first)
        assert decoded.episode == report.episode


def episode_step(statistics, worker_id=5):
    """A Step ending an episode with these statistics, as any client could write it."""
    return learner_pb2.Step(worker_id=worker_id, observation=transport.encode_array(observation()),
                            done=True, terminated=True,
                            episode=learner_pb2.Episode(statistics=statistics))


def test_malformed_statistics_are_refused_and_the_learner_serves_on(service):
    """Every malformed map of tests/rl/test_channels.py, and maps a client can make too large
    for the local channel to carry, end their stream with INVALID_ARGUMENT."""
    stub = learner_pb2_grpc.LearnerStub(grpc.insecure_channel(service.address))
    first = transport.encode_step(StepReport(observation(), first=True), worker_id=5)
    bad = {problem: episode for problem, (episode, _) in MALFORMED_EPISODES.items()}
    bad["100,000 statistics"] = dict(EPISODE, **{f"s{index}": 1.0 for index in range(100_000)})
    bad["a name of a megabyte"] = dict(EPISODE, **{"n" * 1_000_000: 1.0})
    bad["no statistics"] = {}
    for problem, statistics in bad.items():
        with pytest.raises(grpc.RpcError) as raised:
            list(stub.Act(iter([first, episode_step(statistics)]), timeout=10))
            pytest.fail(f"accepted statistics with {problem}")
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, problem
    with pytest.raises(ValueError, match="100006 episode statistics, more than 32"):
        transport.decode_step(episode_step(bad["100,000 statistics"]))
    with pytest.raises(ValueError, match="at most 32 long"):
        transport.encode_step(StepReport(observation(), done=True, terminated=True,
                                         episode=bad["a name of a megabyte"]), worker_id=5)
    with transport.WorkerClient(service.address, worker_id=6, deadline_s=10) as client:
        channel = client.remote_channel()
        assert not channel.step(StepReport(observation(), first=True))[1]
        assert not channel.step(StepReport(observation(), done=True, terminated=True,
                                           episode=dict(EPISODE, coins=3)))[1]
        channel.close()


def test_settings_and_a_remote_workers_stream(service):
    with transport.WorkerClient(service.address, worker_id=1, deadline_s=10) as client:
        assert client.get_settings() == ({"game": "test"}, False)
        channel = client.remote_channel()
        answers = [channel.step(StepReport(observation(), first=True))]
        answers += [channel.step(StepReport(observation(step), 0.5)) for step in range(1, 5)]
        channel.close()
    assert all(0 <= action < 4 and not stop for action, stop in answers)
    unroll = service.inference.unroll_queue.get(timeout=10)  # 4 steps: one unroll of 3
    assert unroll["worker_id"] == 1 and unroll["rewards"].tolist() == [0.5] * 3


def test_malformed_steps_are_refused_and_the_learner_serves_on(service):
    stub = learner_pb2_grpc.LearnerStub(grpc.insecure_channel(service.address))
    first = transport.encode_step(StepReport(observation(), first=True), worker_id=5)
    bad = {
        "a lying tensor": learner_pb2.Step(worker_id=5, first=True, observation=learner_pb2.Tensor(
            dtype="uint8", shape=[36, 36, 3], data=b"short")),
        "a wrong shape": transport.encode_step(
            StepReport(np.zeros((4, 4, 3), np.uint8), first=True), worker_id=5),
        "an extreme reward": transport.encode_step(
            StepReport(observation(), 10 * MAX_ABS_REWARD), worker_id=5),
        "a nan reward": transport.encode_step(StepReport(observation(), float("nan")), 5),
    }
    for problem, message in bad.items():
        messages = [message] if message.first else [first, message]
        with pytest.raises(grpc.RpcError) as raised:
            list(stub.Act(iter(messages), timeout=10))
            pytest.fail(f"accepted a step with {problem}")
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, problem
    assert service.inference.counters["reports_rejected"] >= 3
    with transport.WorkerClient(service.address, worker_id=6, deadline_s=10) as client:
        channel = client.remote_channel()
        with pytest.raises(transport.StepRejected, match="reward"):
            channel.step(StepReport(observation(), float("inf"), first=True))
        channel = client.remote_channel()
        assert not channel.step(StepReport(observation(), first=True))[1]
        channel.close()


def test_stop_reaches_remote_workers(service):
    service.inference.request_stop()
    with transport.WorkerClient(service.address, deadline_s=10) as client:
        assert client.get_settings()[1] is True
        channel = client.remote_channel()
        assert channel.step(StepReport(observation(), first=True)) == (0, True)


def test_a_worker_started_before_the_learner_connects_when_it_comes_up():
    port = free_port()  # the worker must know it before the learner binds it
    services, serving = [], threading.Event()

    def start_learner_later():
        time.sleep(1.0)
        services.append(transport.LearnerService({"late": True}, bind=f"127.0.0.1:{port}"))
        serving.set()

    starter = threading.Thread(target=start_learner_later)
    starter.start()
    try:
        with transport.WorkerClient(f"127.0.0.1:{port}", deadline_s=60,
                                    max_backoff_s=0.5) as client:
            settings, stop = client.get_settings()
            answered_after_serving = serving.is_set()
    finally:
        starter.join()
        for learner in services:
            learner.close()
    assert answered_after_serving and settings == {"late": True} and not stop


def test_a_worker_gives_up_at_its_deadline_when_no_learner_comes():
    with socket.socket() as held:  # bound and never listening: no program can serve the port
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        with transport.WorkerClient(f"127.0.0.1:{port}", deadline_s=0.8) as client:
            started_at = time.monotonic()
            with pytest.raises(transport.LearnerUnavailable, match=str(port)):
                client.get_settings()
            assert 0.5 < time.monotonic() - started_at < 60  # gave up, not before the deadline


def test_a_full_size_observation_gets_through(network):
    shape = (224, 320, 3)  # a whole Genesis screen, as a worker with obs_size 320 would send
    spec = UnrollSpec(2, shape, 4, 6)
    wide = create_network(NetworkConfig(num_actions=4, lstm_units=6), shape, seed=0)
    inference = InferenceServer(wide, spec, queue_size=10).start()
    with transport.LearnerService({}, inference) as learner:
        with transport.WorkerClient(learner.address, deadline_s=20) as client:
            channel = client.remote_channel()
            big = np.random.default_rng(0).integers(0, 256, shape, np.uint8)
            assert not channel.step(StepReport(big, first=True))[1]
            channel.close()
    inference.close()


def test_a_second_server_cannot_take_a_port_in_use(service):
    with pytest.raises(OSError, match="cannot listen"):
        transport.LearnerService({}, bind=service.address)


def test_a_learner_with_a_secret_refuses_every_call_without_it(network):
    inference = InferenceServer(network, SPEC, queue_size=100).start()
    with transport.LearnerService({"game": "test"}, inference, secret="s3cret") as learner:
        for secret in (None, "wrong"):
            with transport.WorkerClient(learner.address, deadline_s=5, secret=secret) as client:
                with pytest.raises(transport.Unauthenticated, match="RETRO_RL_SECRET"):
                    client.get_settings()
                with pytest.raises(transport.LearnerUnavailable, match="UNAUTHENTICATED"):
                    client.get_demonstrations()
                channel = client.remote_channel()
                with pytest.raises(ConnectionLost, match="UNAUTHENTICATED"):
                    channel.step(StepReport(observation(), first=True))
        assert inference.workers() == []
        with transport.WorkerClient(learner.address, deadline_s=5, secret="s3cret") as client:
            assert client.get_settings() == ({"game": "test"}, False)
            assert client.get_demonstrations() == []
            channel = client.remote_channel()
            assert not channel.step(StepReport(observation(), first=True))[1]
            channel.close()
    inference.close()


def idle_stream(stub):
    """An Act stream that is open and sends nothing: (its answers, how to end it)."""
    requests = queue.SimpleQueue()
    return stub.Act(iter(requests.get, None), timeout=20), lambda: requests.put(None)


@pytest.mark.parametrize("max_streams, per_client", [(3, 10), (10, 3)])
def test_idle_streams_are_capped_and_closed_and_settings_always_get_in(
        network, max_streams, per_client):
    inference = InferenceServer(network, SPEC, queue_size=100).start()
    with transport.LearnerService({"game": "test"}, inference, max_streams=max_streams,
                                  max_streams_per_client=per_client, idle_timeout_s=2.0,
                                  reserve=2) as learner:
        channel = grpc.insecure_channel(learner.address)
        stub = learner_pb2_grpc.LearnerStub(channel)
        idle = [idle_stream(stub) for _ in range(3)]
        time.sleep(0.2)  # the three are open at the server
        extra, _ = idle_stream(stub)
        with pytest.raises(grpc.RpcError) as raised:
            next(extra)
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # The reserve: settings still come at once, as for any new worker.
        started_at = time.monotonic()
        with transport.WorkerClient(learner.address, deadline_s=2) as client:
            assert client.get_settings()[0] == {"game": "test"}
        assert time.monotonic() - started_at < 2
        # After two seconds of silence the idle streams are closed, and a worker gets in.
        for answers, _ in idle:
            with pytest.raises(grpc.RpcError) as raised:
                next(answers)
            assert raised.value.code() == grpc.StatusCode.CANCELLED
        with transport.WorkerClient(learner.address, deadline_s=2, worker_id=1) as client:
            worker = client.remote_channel()
            assert not worker.step(StepReport(observation(), first=True))[1]
            worker.close()
        for _, end in idle:
            end()
        channel.close()
    inference.close()
