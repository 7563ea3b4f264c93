"""What a worker reports: every way a report can break the contract is refused, and the local
channel carries reports and answers whole through shared memory."""

import math
import os
import select
import socket
import stat
import threading

import numpy as np
import pytest

from retro_rl.rl.channels import (HELLO, HELLO_MAGIC, MAX_ABS_REWARD, STEP_RECORD,
                                  ConnectionLost, LocalChannel, LocalListener, StepReport,
                                  WorkerFailed, check_report, open_end, read_hello)

SHAPE = (8, 10, 3)
EPISODE = {"episode_return": 12.5, "length": 40, "frames": 160, "x_progress": 0.25,
           "level_complete": True, "rooms": 0b10110}


def observation(seed=0):
    return np.random.default_rng(seed).integers(0, 256, SHAPE, np.uint8)


def good_reports():
    yield StepReport(observation(), first=True)
    yield StepReport(observation(), reward=-3.5)
    yield StepReport(observation(), 1.0, done=True, terminated=True, episode=EPISODE)
    yield StepReport(observation(), 1.0, done=True, final_observation=observation(1),
                     episode=EPISODE)


@pytest.mark.parametrize("report, problem", [
    (StepReport(observation().astype(np.float32)), "observation must be uint8"),
    (StepReport(observation()[:4]), "observation must be uint8"),
    (StepReport(observation(), math.nan), "not finite"),
    (StepReport(observation(), math.inf), "not finite"),
    (StepReport(observation(), 2 * MAX_ABS_REWARD), "beyond"),
    (StepReport(observation(), terminated=True), "terminated without done"),
    (StepReport(observation(), done=True, terminated=True, first=True, episode=EPISODE),
     "first report"),
    (StepReport(observation(), done=True, episode=EPISODE), "final_observation"),
    (StepReport(observation(), final_observation=observation()), "final_observation"),
    (StepReport(observation(), episode=EPISODE), "episode statistics"),
    (StepReport(observation(), done=True, terminated=True,
                episode=dict(EPISODE, episode_return=math.nan)), "NaN"),
    (StepReport(observation(), done=True, terminated=True, episode=dict(EPISODE, length=-2)),
     "length -2"),
    (StepReport(observation(), done=True, terminated=True, episode=dict(EPISODE, frames=-1)),
     "-1 frames"),
])
def test_malformed_reports_are_refused(report, problem):
    with pytest.raises(ValueError, match=problem):
        check_report(report, SHAPE)


def test_well_formed_reports_pass():
    for report in good_reports():
        check_report(report, SHAPE)


def test_a_life_lost_ends_the_episode_without_the_games_statistics():
    # LifeLossEnds: the learner's episode ends, the game (whose statistics come later) goes on.
    check_report(StepReport(observation(), 1.0, done=True, terminated=True), SHAPE)


def accept_worker(listener, shape, timeout_s=10):
    """The learner's side of one handshake, as the inference loop does it: (worker_id, end)."""
    assert select.select([listener.socket], [], [], timeout_s)[0]
    connection = listener.accept()
    assert select.select([connection], [], [], timeout_s)[0]
    worker_id = read_hello(connection)
    return worker_id, open_end(connection, worker_id, shape)


def test_the_local_channel_carries_reports_and_answers_whole():
    listener = LocalListener()
    received = []

    def learner():
        worker_id, end = accept_worker(listener, SHAPE)
        received.append(worker_id)
        for action in range(4):
            report = end.receive()
            # Copy now: the pages are the worker's again once it has its answer.
            received.append(report._replace(
                observation=report.observation.copy(),
                final_observation=None if report.final_observation is None
                else report.final_observation.copy()))
            end.answer(action, stop=action == 3)
        try:
            end.receive()
        except ConnectionLost:
            received.append("closed")  # the worker closed its end
        end.close()

    thread = threading.Thread(target=learner)
    thread.start()
    channel = LocalChannel(listener.address, 7, SHAPE, timeout_s=10)
    answers = [channel.step(report) for report in good_reports()]
    channel.close()
    thread.join(timeout=10)
    listener.close()
    assert answers == [(0, False), (1, False), (2, False), (3, True)]
    assert received[0] == 7 and received[-1] == "closed" and len(received) == 6
    for sent, got in zip(good_reports(), received[1:5]):
        np.testing.assert_array_equal(got.observation, sent.observation)
        if sent.final_observation is None:
            assert got.final_observation is None
        else:
            np.testing.assert_array_equal(got.final_observation, sent.final_observation)
        assert (got.reward, got.done, got.terminated, got.first) == (
            sent.reward, sent.done, sent.terminated, sent.first)
        assert got.episode == sent.episode


def test_a_step_record_is_42_bytes_and_a_failure_is_its_reason():
    listener = LocalListener()
    failures = []

    def learner():
        _, end = accept_worker(listener, SHAPE)
        try:
            end.receive()
        except WorkerFailed as error:
            failures.append(str(error))
        end.close()

    thread = threading.Thread(target=learner)
    thread.start()
    channel = LocalChannel(listener.address, 0, SHAPE, timeout_s=10)
    channel.fail("ValueError: high <= 0\n\x1b[2Jmore")
    channel.close()
    thread.join(timeout=10)
    listener.close()
    assert failures == ["ValueError: high <= 0  [2Jmore"]  # one printable line
    assert STEP_RECORD.size == 42  # as README says


@pytest.mark.parametrize("hello, problem", [
    (b"[" * 4000, "bytes, not 12"),
    (b"\xff\xfe not json", "a hello of 11 bytes"),
    (HELLO.pack(b"retro_RL", 1), "not a worker's hello"),
    (HELLO.pack(HELLO_MAGIC, -1), "worker id -1"),
])
def test_anything_but_a_hello_is_refused_with_its_reason(hello, problem):
    listener = LocalListener()
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as intruder:
        intruder.connect(listener.address)
        intruder.send(hello)
        assert select.select([listener.socket], [], [], 5)[0]
        connection = listener.accept()
        assert select.select([connection], [], [], 5)[0]
        with pytest.raises(ValueError, match=problem):
            read_hello(connection)
        connection.close()
    listener.close()


def test_the_socket_is_in_a_folder_only_its_user_enters_and_goes_with_the_listener(tmp_path):
    listener = LocalListener(tmp_path)
    folder = os.path.dirname(listener.address)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert os.path.dirname(folder) == str(tmp_path)
    listener.close()
    assert not os.path.exists(folder)
    deep = tmp_path / ("d" * 100)  # too long a path for a socket: the system's temporary folder
    listener = LocalListener(deep)
    assert len(listener.address) <= 107 and os.path.exists(listener.address)
    listener.close()


def _as_another_user(action):
    """Runs `action()` in a child process of user nobody; returns its exit status."""
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            status = action()
        finally:
            os._exit(status)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another user")
def test_a_process_of_another_user_cannot_connect():
    listener = LocalListener()

    def connect():
        try:
            LocalChannel(listener.address, 0, SHAPE, timeout_s=2)
        except ConnectionLost as error:
            return 3 if "Permission denied" in str(error) else 4
        return 0

    assert _as_another_user(connect) == 3  # the folder keeps it out
    # Were the folder open, the learner would still refuse it by its user id.
    os.chmod(os.path.dirname(listener.address), 0o777)
    os.chmod(listener.address, 0o777)
    child = threading.Thread(target=lambda: results.append(_as_another_user(connect)))
    results = []
    child.start()
    assert select.select([listener.socket], [], [], 5)[0]
    with pytest.raises(PermissionError, match="user 65534"):
        listener.accept()
    child.join(timeout=10)
    assert results == [4]  # refused: the learner closed its connection
    listener.close()


def test_no_local_learner_is_a_lost_connection(tmp_path):
    with pytest.raises(ConnectionLost, match="no local learner"):
        LocalChannel(str(tmp_path / "nobody-listens-here"), 0, SHAPE, timeout_s=1)
