"""What an environment worker tells the learner after every agent step, and the local channel
that carries it between processes on one machine.

A worker reports a `StepReport` and is answered with the next action. On the learner's machine
the report travels through shared memory: the learner hands each worker an anonymous memory
file (memfd) over a Unix socket, the worker writes its observations there and sends a
fixed-size record on the socket (`STEP_RECORD`); the learner answers with `ACTION_RECORD`. Per
step that is one record each way and no copy of the observation beyond the one into the shared
pages. The step that ends an episode appends the episode's statistics to its record, one
`STATISTIC` each (envs/statistics.py says which names and values a learner accepts). Workers
elsewhere send the same fields over gRPC (transport.py).

Who may connect: the socket is a file in a folder only the learner's user can enter (0700), and
the learner also checks each connection's user (SO_PEERCRED), so only processes of that user,
the learner's own workers, get in. A worker says hello with a fixed record (`HELLO`) naming its
id; the learner reads it without blocking (inference.py) and answers with the memory file.

Nothing received is unpickled or evaluated: records are fixed binary layouts of bounded size and
every report is checked (`check_report`) before the learner uses it.
"""

import math
import mmap
import os
import shutil
import socket
import struct
import tempfile
from typing import NamedTuple

import numpy as np

from retro_rl.envs import statistics

# The largest |reward| of one agent step a learner accepts, after the worker's shaping and
# scaling: a million times Airstriker's scaled hit. A report beyond it is refused, so a broken
# or hostile worker cannot push the loss to infinity.
MAX_ABS_REWARD = 1e6

# first, done, terminated, has_final_observation, has_episode; reward. Where has_episode, the
# episode's statistics follow, one STATISTIC each: a name (ASCII, zero-padded) and its value.
STEP_RECORD = struct.Struct("<5?f")
STATISTIC = struct.Struct(f"<{statistics.MAX_NAME_LENGTH}sd")
MAX_STEP_RECORD = STEP_RECORD.size + statistics.MAX_STATISTICS * STATISTIC.size
ACTION_RECORD = struct.Struct("<i?")  # action, stop
HELLO = struct.Struct("<8si")  # HELLO_MAGIC, worker id (0 or more)
HELLO_MAGIC = b"retro_rl"
# A worker that cannot go on sends FAILURE_TAG and up to FAILURE_BYTES of UTF-8 saying why. No
# step record starts with this byte: its first field is a bool, 0 or 1.
FAILURE_TAG = b"\xff"
FAILURE_BYTES = 400
# The longest path a Unix socket's address holds (sun_path is 108 bytes with its final zero).
_MAX_SOCKET_PATH = 107


class StepReport(NamedTuple):
    """What a worker reports after each agent step, or at the start of its first episode."""

    observation: np.ndarray  # uint8 [H, W, C]: what the next action is chosen from
    reward: float = 0.0  # reward of the step just taken (shaped and scaled as the env says)
    done: bool = False  # that step ended its episode: observation is the next episode's first
    terminated: bool = False  # a real end (game over, level complete), not a time limit
    final_observation: np.ndarray | None = None  # a truncated episode's real last observation
    episode: dict | None = None  # the finished game's statistics (envs/statistics.py), where
    # done (None where a life lost ended the episode for learning while the game plays on)
    first: bool = False  # the first report since the worker connected: a fresh episode


def check_report(report, observation_shape):
    """Raises ValueError naming the first way a report breaks the contract above."""
    for name in ("observation", "final_observation"):
        array = getattr(report, name)
        if array is None and name == "observation":
            raise ValueError("a report needs an observation")
        if array is not None and (array.dtype != np.uint8 or array.shape != observation_shape):
            raise ValueError(f"{name} must be uint8 {observation_shape}, got "
                             f"{array.dtype.name} {array.shape}")
    if not math.isfinite(report.reward) or abs(report.reward) > MAX_ABS_REWARD:
        raise ValueError(f"reward {report.reward} is not finite or beyond +-{MAX_ABS_REWARD:g}")
    if report.terminated and not report.done:
        raise ValueError("terminated without done")
    if report.first and report.done:
        raise ValueError("a first report cannot end an episode")
    truncated = report.done and not report.terminated
    if (report.final_observation is not None) != truncated:
        raise ValueError("final_observation must come with a truncation, and only with one")
    if report.episode is not None and not report.done:
        # done without them is a life lost, which ends the learner's episode, not the game
        raise ValueError("episode statistics come only with done")
    if report.episode is not None:
        statistics.check(report.episode)


def encode_statistics(episode):
    """An episode's statistics -> the bytes that follow its step record. Raises ValueError for
    statistics a learner would refuse."""
    statistics.check(episode)
    return b"".join(STATISTIC.pack(name.encode("ascii"), value)
                    for name, value in episode.items())


def decode_statistics(data):
    """The bytes after a step record -> the episode's statistics, names and values as they came
    (check_report checks them). Raises ValueError where the bytes are not whole statistics or
    name one twice."""
    if len(data) % STATISTIC.size:
        raise ValueError(f"{len(data)} bytes of episode statistics, not a multiple of "
                         f"{STATISTIC.size}")
    episode = {}
    for raw_name, value in STATISTIC.iter_unpack(data):
        try:
            name = raw_name.rstrip(b"\0").decode("ascii")
        except UnicodeDecodeError:
            raise ValueError("an episode statistic's name is not ASCII") from None
        if name in episode:
            raise ValueError(f"episode statistic {name!r} twice")
        episode[name] = value
    return episode


class ConnectionLost(ConnectionError):
    """The other end of a channel went away."""


class WorkerIdTaken(Exception):
    """A second connection claimed the id of a worker that is connected."""


class WorkerFailed(Exception):
    """A worker reported that it cannot go on; the message is its reason, as it sent it."""


def failure_text(data):
    """A failure's bytes as they came -> one printable line of at most FAILURE_BYTES."""
    text = data[:FAILURE_BYTES].decode("utf-8", errors="replace")
    return "".join(char if char.isprintable() else " " for char in text).strip() or "no reason"


def _observation_views(buffer, observation_shape):
    """Two observation arrays over shared pages: [0] the next observation, [1] a truncated
    episode's final one."""
    return np.ndarray((2, *observation_shape), np.uint8, buffer)


# ----------------------------------------------------------------------------------------------
# The learner's end


def _private_folder(parent):
    """A new folder only this user can enter, under the first of `parent`, this process's
    temporary folder and /tmp where a socket's path fits."""
    for candidate in (parent, tempfile.gettempdir(), "/tmp"):
        if candidate is None:
            continue
        os.makedirs(candidate, exist_ok=True)
        folder = tempfile.mkdtemp(prefix="workers-", dir=candidate)  # mode 0700
        if len(os.path.join(folder, "socket").encode()) <= _MAX_SOCKET_PATH:
            return folder
        os.rmdir(folder)
    raise OSError("no folder short enough for a Unix socket's path")


def peer_uid(connection):
    """The user id of the process at the other end of a Unix socket (SO_PEERCRED)."""
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                        struct.calcsize("3i"))
    return struct.unpack("3i", credentials)[1]  # pid, uid, gid


class LocalListener:
    """Accepts this user's workers on this machine, at a socket file (`address`) in a folder of
    its own under `parent` (module docstring). Never blocks: the inference loop calls it when
    its socket is readable. `close` removes the folder."""

    def __init__(self, parent=None):
        self.folder = _private_folder(parent)
        self.address = os.path.join(self.folder, "socket")
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.socket.bind(self.address)
        self.socket.listen(64)
        self.socket.setblocking(False)

    def accept(self):
        """A waiting connection, non-blocking, whose hello `read_hello` reads once it arrives;
        None when none is waiting. PermissionError (the connection closed) for a process of
        another user."""
        try:
            connection, _ = self.socket.accept()
        except (BlockingIOError, InterruptedError):
            return None
        uid = peer_uid(connection)
        if uid != os.getuid():
            connection.close()
            raise PermissionError(f"a process of user {uid}, not the learner's, connected")
        connection.setblocking(False)
        return connection

    def close(self):
        self.socket.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def read_hello(connection):
    """The worker id a new connection's hello claims; None while it has not arrived. ValueError
    for anything but a hello, ConnectionLost when the caller hung up."""
    try:
        hello = connection.recv(HELLO.size + 1)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError as error:
        raise ConnectionLost(f"the connection failed ({error})") from None
    if not hello:
        raise ConnectionLost("the caller hung up before its hello")
    if len(hello) != HELLO.size:
        raise ValueError(f"a hello of {len(hello)} bytes, not {HELLO.size}")
    magic, worker_id = HELLO.unpack(hello)
    if magic != HELLO_MAGIC:
        raise ValueError("not a worker's hello")
    if worker_id < 0:
        raise ValueError(f"worker id {worker_id}")
    return worker_id


def open_end(connection, worker_id, observation_shape):
    """Hands a connection whose hello was read its shared pages; returns its LocalEnd.
    Raises ConnectionLost when the worker is gone."""
    size = 2 * math.prod(observation_shape)
    memory_fd = os.memfd_create(f"retro_rl-worker-{worker_id}")
    try:
        os.ftruncate(memory_fd, size)
        pages = mmap.mmap(memory_fd, size)
        try:
            socket.send_fds(connection, [b"ok"], [memory_fd])
        except OSError as error:
            pages.close()
            raise ConnectionLost(f"the worker went away during its handshake ({error})") from None
    finally:
        os.close(memory_fd)
    connection.setblocking(True)
    return LocalEnd(connection, pages, observation_shape)


class LocalEnd:
    """The learner's end of one local worker's channel."""

    def __init__(self, connection, pages, observation_shape):
        self.socket = connection
        self._pages = pages
        self.observations = _observation_views(pages, observation_shape)

    def receive(self):
        """The worker's next report (its observations are views of the shared pages, valid
        until the answer is sent). Raises ConnectionLost, WorkerFailed, or ValueError for a bad
        record."""
        try:
            record = self.socket.recv(max(MAX_STEP_RECORD, 1 + FAILURE_BYTES) + 1)
        except OSError:
            raise ConnectionLost("the worker's socket failed") from None
        if not record:
            raise ConnectionLost("the worker closed its channel")
        if record.startswith(FAILURE_TAG):
            raise WorkerFailed(failure_text(record[1:]))
        if not STEP_RECORD.size <= len(record) <= MAX_STEP_RECORD:
            raise ValueError(f"a step record of {len(record)} bytes, not {STEP_RECORD.size} to "
                             f"{MAX_STEP_RECORD}")
        first, done, terminated, has_final, has_episode, reward = STEP_RECORD.unpack_from(record)
        episode = None
        if has_episode:
            episode = decode_statistics(record[STEP_RECORD.size:])
        elif len(record) != STEP_RECORD.size:
            raise ValueError(f"a step record of {len(record)} bytes without an episode's end")
        return StepReport(self.observations[0], reward, done, terminated,
                          self.observations[1] if has_final else None, episode, first)

    def answer(self, action, stop=False):
        try:
            self.socket.send(ACTION_RECORD.pack(action, stop))
        except OSError:
            pass  # the worker is gone; its next receive() says so

    def close(self):
        self.socket.close()
        self.observations = None
        self._pages.close()


# ----------------------------------------------------------------------------------------------
# The worker's end


class LocalChannel:
    """A worker's channel to a learner on this machine (`address` from the run's settings)."""

    def __init__(self, address, worker_id, observation_shape, timeout_s):
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.socket.settimeout(timeout_s)
        try:
            self.socket.connect(address)
            self.socket.send(HELLO.pack(HELLO_MAGIC, worker_id))
            reply, fds, _, _ = socket.recv_fds(self.socket, 16, 1)
        except OSError as error:
            self.socket.close()
            raise ConnectionLost(f"no local learner at that address ({error})") from None
        if not fds or reply != b"ok":
            for fd in fds:
                os.close(fd)
            self.socket.close()
            raise ConnectionLost("the local learner refused this worker")
        size = 2 * math.prod(observation_shape)
        try:
            self._pages = mmap.mmap(fds[0], size)
        finally:
            os.close(fds[0])
        self.observations = _observation_views(self._pages, observation_shape)

    def step(self, report):
        """Sends a report; returns (action, stop). Raises ConnectionLost."""
        self.observations[0] = report.observation
        if report.final_observation is not None:
            self.observations[1] = report.final_observation
        record = STEP_RECORD.pack(
            report.first, report.done, report.terminated, report.final_observation is not None,
            report.episode is not None, report.reward)
        if report.episode is not None:
            record += encode_statistics(report.episode)
        try:
            self.socket.send(record)
            answer = self.socket.recv(ACTION_RECORD.size)
        except OSError as error:
            raise ConnectionLost(f"the learner's channel failed ({error})") from None
        if len(answer) != ACTION_RECORD.size:
            raise ConnectionLost("the learner closed the channel")
        action, stop = ACTION_RECORD.unpack(answer)
        return action, stop

    def fail(self, reason):
        """Tells the learner this worker cannot go on, and why (one line); it stops the run."""
        try:
            self.socket.send(FAILURE_TAG + reason.encode()[:FAILURE_BYTES])
        except OSError:
            pass  # the learner is gone: there is no one to tell

    def close(self):
        self.socket.close()
        self.observations = None
        self._pages.close()
