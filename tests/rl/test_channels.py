"""What a worker reports: every way a report can break the contract is refused, and the local
channel carries reports and answers whole through shared memory."""

import math
import os
import re
import select
import socket
import stat
import threading

import numpy as np
import pytest

from retro_rl.envs import statistics
from retro_rl.rl.channels import (HELLO, HELLO_MAGIC, MAX_ABS_REWARD, STATISTIC, STEP_RECORD,
                                  ConnectionLost, LocalChannel, LocalListener, StepReport,
                                  WorkerFailed, check_report, open_end, read_hello)
from tests.support import CheckedThread

SHAPE = (8, 10, 3)
EPISODE = {"return": 12.5, "length": 40.0, "frames": 160.0, "level_complete": 1.0,
           "x_progress": 0.25, "rooms": float(0b10110)}
# Every way an episode's statistics can break the contract (envs/statistics.py), and how the
# refusal says so: each is refused as a report's, over the local channel and over gRPC.
MALFORMED_EPISODES = {
    "too many": (dict(EPISODE, **{f"extra_{index}": 1.0 for index in range(
        statistics.MAX_STATISTICS)}), "more than 32"),
    "a name with a space": (dict(EPISODE, **{"two words": 1.0}), "'two words'"),
    "a name with a slash": (dict(EPISODE, **{"charts/fps": 1.0}), "'charts/fps'"),
    "a name of a digit first": (dict(EPISODE, **{"1st": 1.0}), "'1st'"),
    "an empty name": (dict(EPISODE, **{"": 1.0}), "''"),
    "a name too long": (dict(EPISODE, **{"n" * 33: 1.0}), "at most 32 long"),
    "a huge name": (dict(EPISODE, **{"n" * 100_000: 1.0}), "at most 32 long"),
    "a name not ASCII": (dict(EPISODE, **{"caf\u00e9": 1.0}), "letters, digits"),
    "a NaN": (dict(EPISODE, x_progress=math.nan), "x_progress is nan, not a finite number"),
    "an infinity": (dict(EPISODE, rooms=-math.inf), "rooms is -inf"),
    "a NaN return": (dict(EPISODE, **{"return": math.nan}), "return is nan"),
    "no return": ({name: value for name, value in EPISODE.items() if name != "return"},
                  "without return"),
    "no length": ({name: value for name, value in EPISODE.items() if name != "length"},
                  "without length"),
    "a negative length": (dict(EPISODE, length=-2.0), "length -2"),
    "negative frames": (dict(EPISODE, frames=-1.0), "-1 frames"),
}


def observation(seed=0):
    return np.random.default_rng(seed).integers(0, 256, SHAPE, np.uint8)


def good_reports():
    yield StepReport(observation(), first=True)
    yield StepReport(observation(), reward=-3.5)
    yield StepReport(observation(), 1.0, done=True, terminated=True, episode=EPISODE)
    yield StepReport(observation(), 1.0, done=True, final_observation=observation(1),
                     episode=dict(EPISODE, coins=7.0, **{"N" * 32: -1e300}))


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
    *[(StepReport(observation(), done=True, terminated=True, episode=episode), problem)
      for episode, problem in MALFORMED_EPISODES.values()],
    (StepReport(observation(), done=True, terminated=True, episode=dict(EPISODE, note="yes")),
     "note is str, not a finite number"),
    (StepReport(observation(), done=True, terminated=True, episode=[("return", 1.0)]),
     "must be a map"),
], ids=lambda value: value if isinstance(value, str) else "")
def test_malformed_reports_are_refused(report, problem):
    with pytest.raises(ValueError, match=re.escape(problem)):
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


def connected(listener, worker_id=0):
    """(a worker's channel, the learner's end of it): the handshake as accept_worker does it."""
    ends = []
    thread = CheckedThread(lambda: ends.append(accept_worker(listener, SHAPE)[1]))
    thread.start()
    channel = LocalChannel(listener.address, worker_id, SHAPE, timeout_s=10)
    thread.join(10)
    return channel, ends[0]


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

    thread = CheckedThread(learner)
    thread.start()
    channel = LocalChannel(listener.address, 7, SHAPE, timeout_s=10)
    answers = [channel.step(report) for report in good_reports()]
    channel.close()
    thread.join(10)
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


def test_a_step_record_is_9_bytes_and_a_failure_is_its_reason():
    listener = LocalListener()
    failures = []

    def learner():
        _, end = accept_worker(listener, SHAPE)
        try:
            end.receive()
        except WorkerFailed as error:
            failures.append(str(error))
        end.close()

    thread = CheckedThread(learner)
    thread.start()
    channel = LocalChannel(listener.address, 0, SHAPE, timeout_s=10)
    channel.fail("ValueError: high <= 0\n\x1b[2Jmore")
    channel.close()
    thread.join(10)
    listener.close()
    assert failures == ["ValueError: high <= 0  [2Jmore"]  # one printable line
    assert (STEP_RECORD.size, STATISTIC.size) == (9, 40)  # as README says


def step_record(*named_values, has_episode=True):
    """The bytes of a step that ends an episode with these (name bytes, value) statistics."""
    return STEP_RECORD.pack(False, True, True, False, has_episode, 1.0) + b"".join(
        STATISTIC.pack(name, value) for name, value in named_values)


WHOLE = [(name.encode(), value) for name, value in EPISODE.items()]
TOO_LONG = f"bytes, not {STEP_RECORD.size} to {STEP_RECORD.size + 32 * STATISTIC.size}"


@pytest.mark.parametrize("record, problem", [
    (step_record(*WHOLE)[:-1], "not a multiple of 40"),
    (step_record(*WHOLE, *[(b"extra_%d" % index, 1.0) for index in range(32)]), TOO_LONG),
    (step_record(*WHOLE) + b"\0" * 20_000, TOO_LONG),
    (step_record(*WHOLE, (b"rooms", 2.0)), "'rooms' twice"),
    (step_record(*WHOLE, (b"caf\xc3\xa9", 1.0)), "not ASCII"),
    (step_record(*WHOLE, (b"\xff" * 32, 1.0)), "not ASCII"),
    (step_record(*WHOLE, (b"ab\0cd", 1.0)), "'ab\\x00cd'"),
    (step_record(*WHOLE, (b"ab cd", 1.0)), "'ab cd'"),
    (step_record(*WHOLE, (b"", 1.0)), "''"),
    (step_record(*WHOLE, (b"coins", math.nan)), "coins is nan"),
    (step_record(*WHOLE, (b"coins", math.inf)), "coins is inf"),
    (step_record(), "without return"),
    (step_record(*WHOLE, has_episode=False), "without an episode's end"),
], ids=lambda value: value if isinstance(value, str) else "")
def test_malformed_statistics_on_the_wire_are_refused(record, problem):
    """What a hostile worker could send instead of its channel's own records: each is refused
    by the learner's end, and the next, well-formed record still arrives."""
    listener = LocalListener()
    channel, end = connected(listener)
    channel.socket.send(record)
    with pytest.raises(ValueError, match=re.escape(problem)):
        check_report(end.receive(), SHAPE)
    channel.socket.send(step_record(*WHOLE, (b"coins", 3.0)))
    assert end.receive().episode == dict(EPISODE, coins=3.0)
    channel.close()
    end.close()
    listener.close()


@pytest.mark.parametrize("case", sorted(MALFORMED_EPISODES))
def test_a_worker_cannot_send_statistics_a_learner_refuses(case):
    episode, problem = MALFORMED_EPISODES[case]
    listener = LocalListener()
    channel, end = connected(listener)
    with pytest.raises(ValueError, match=re.escape(problem)):
        channel.step(StepReport(observation(), done=True, terminated=True, episode=episode))
    channel.close()
    end.close()
    listener.close()


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
