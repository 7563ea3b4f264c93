"""How environment workers and the learner talk over gRPC (proto/learner.proto).

1. The learner starts a `LearnerService(settings, inference)`; it answers `GetSettings` at once.
2. A worker calls `WorkerClient.get_settings()`, which retries with exponential back-off while
   the learner is not up (bounded by a deadline), and builds its environment from the answer.
3. A worker on the learner's machine then steps through shared memory (channels.py). Any other
   worker opens `RemoteChannel`: one `Act` stream for its whole life, a `Step` message after
   every agent step, answered with the next `Action`.
4. At the end the learner asks the inference server to stop: every later answer carries
   stop=True and the workers exit.

Arrays travel as raw little-endian bytes with a declared dtype (from a short whitelist) and
shape, checked against the byte count. Nothing received is unpickled or evaluated, and every
report is checked (channels.check_report) before it is used; a malformed one ends its stream
with INVALID_ARGUMENT while the learner goes on.

Who may connect, and how many at once (admission.py): the server listens on 127.0.0.1 by
default; without a secret anyone who reaches its port may call it, with one (RETRO_RL_SECRET)
every call must carry it. The channel is not encrypted, so bind another address only on a
network you trust. Act streams are capped in all and per host, idle ones are cancelled, and
`reserve` threads beyond the streams' keep GetSettings and new workers getting in.
"""

import concurrent.futures
import json
import logging
import math
import queue
import time

import grpc
import numpy as np

from retro_rl.rl.admission import (IDLE_TIMEOUT_S, MAX_STREAMS, MAX_STREAMS_PER_CLIENT,
                                   SECRET_ENV, SECRET_METADATA, SecretCheck, StreamLimits)
from retro_rl.rl.channels import ConnectionLost, StepReport, WorkerIdTaken, failure_text
from retro_rl.envs import statistics
from retro_rl.rl.proto import learner_pb2, learner_pb2_grpc

# A full-size Genesis observation is 215 KB, a run's demonstrations a few MB; gRPC's default
# limit is 4 MB.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
ALLOWED_DTYPES = ("uint8", "int32", "int64", "float32", "bool")
_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]
RESERVE_THREADS = 8  # beyond the streams': GetSettings and new workers always get in
log = logging.getLogger("learner")


class LearnerUnavailable(ConnectionError):
    """The learner did not answer before the deadline (not started, gone, or too busy)."""


class StepRejected(ValueError):
    """The learner refused a report as malformed; the message says what was wrong."""


class Unauthenticated(PermissionError):
    """The learner wants a secret this worker does not have (RETRO_RL_SECRET)."""


def encode_array(array):
    """np.ndarray of a whitelisted dtype -> Tensor message. Raises ValueError otherwise."""
    array = np.asarray(array)
    if array.dtype.name not in ALLOWED_DTYPES:
        raise ValueError(f"cannot send dtype {array.dtype.name}; "
                         f"allowed: {', '.join(ALLOWED_DTYPES)}")
    little_endian = array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)
    return learner_pb2.Tensor(dtype=array.dtype.name, shape=array.shape,
                              data=little_endian.tobytes())


def decode_array(tensor):
    """Tensor message -> a new writable np.ndarray. Raises ValueError when the message lies."""
    if tensor.dtype not in ALLOWED_DTYPES:
        raise ValueError(f"dtype {tensor.dtype!r} is not one of {', '.join(ALLOWED_DTYPES)}")
    shape = tuple(tensor.shape)
    if any(size < 0 for size in shape):
        raise ValueError(f"negative dimension in shape {shape}")
    dtype = np.dtype(tensor.dtype)
    expected_bytes = math.prod(shape) * dtype.itemsize
    if len(tensor.data) != expected_bytes:
        raise ValueError(f"{len(tensor.data)} bytes of data for a {tensor.dtype} array of shape "
                         f"{shape}, which needs {expected_bytes}")
    raw = np.frombuffer(tensor.data, dtype=dtype.newbyteorder("<"))
    if dtype == np.bool_ and raw.view(np.uint8).max(initial=0) > 1:
        raise ValueError("bool data must be bytes 0 or 1")
    return raw.astype(dtype).reshape(shape)


def encode_step(report, worker_id):
    """StepReport -> Step message."""
    message = learner_pb2.Step(worker_id=worker_id, observation=encode_array(report.observation),
                               reward=report.reward, done=report.done,
                               terminated=report.terminated, first=report.first)
    if report.final_observation is not None:
        message.final_observation.CopyFrom(encode_array(report.final_observation))
    if report.episode is not None:
        statistics.check(report.episode)
        message.episode.CopyFrom(learner_pb2.Episode(statistics={
            name: float(value) for name, value in report.episode.items()}))
    return message


def decode_step(message):
    """Step message -> StepReport. Raises ValueError when an array does not decode;
    channels.check_report checks the rest."""
    final = decode_array(message.final_observation) if message.HasField(
        "final_observation") else None
    episode = None
    if message.HasField("episode"):
        received = message.episode.statistics
        if len(received) > statistics.MAX_STATISTICS:  # before copying them
            raise ValueError(f"{len(received)} episode statistics, more than "
                             f"{statistics.MAX_STATISTICS}")
        episode = dict(received)
    return StepReport(decode_array(message.observation), message.reward, message.done,
                      message.terminated, final, episode, message.first)


def encode_demonstrations(demonstrations):
    """demos.starts.demonstration_checkpoints' output -> Demonstrations message."""
    return learner_pb2.Demonstrations(movies=[learner_pb2.DemoMovie(
        name=movie["name"], pads=encode_array(movie["pads"]),
        checkpoints=[learner_pb2.DemoCheckpoint(frame=frame, state=state)
                     for frame, state in movie["checkpoints"]])
        for movie in demonstrations])


def decode_demonstrations(message):
    """Demonstrations message -> demos.starts.demonstration_checkpoints' layout; ValueError
    for one that cannot be a movie's."""
    result = []
    for movie in message.movies:
        pads = decode_array(movie.pads)
        if pads.dtype != np.uint8 or pads.ndim != 2 or pads.shape[1] != 12:
            raise ValueError(f"demonstration {movie.name!r}: pads of {pads.dtype} {pads.shape}")
        frames = [checkpoint.frame for checkpoint in movie.checkpoints]
        if not frames or frames[0] != 0 or not all(0 <= frame <= len(pads) for frame in frames):
            raise ValueError(f"demonstration {movie.name!r}: checkpoints at frames {frames[:5]}")
        result.append({"name": movie.name, "pads": pads, "checkpoints": [
            (checkpoint.frame, checkpoint.state) for checkpoint in movie.checkpoints]})
    return result


class _Servicer(learner_pb2_grpc.LearnerServicer):
    def __init__(self, owner):
        self._owner = owner

    def GetDemonstrations(self, request, context):
        return self._owner.demonstrations

    def GetSettings(self, request, context):
        inference = self._owner.inference
        return learner_pb2.Settings(json=self._owner.settings_json,
                                    stop=inference is not None and inference.stopping)

    def Act(self, request_iterator, context):
        inference = self._owner.inference
        stream = self._owner.streams.open(context)
        slot = None
        try:
            for message in request_iterator:
                stream.waiting_since = None
                if message.failure:
                    inference.worker_failed(message.worker_id, failure_text(
                        message.failure.encode()))
                    return
                try:
                    report = decode_step(message)
                    if slot is None:
                        slot = inference.open_remote(message.worker_id, cancel=context.cancel)
                        # A client that goes away while its report waits: the slot closes.
                        context.add_callback(lambda slot=slot: self._close(slot))
                    action, stop = inference.submit(slot, report)
                except ValueError as error:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed step: {error}")
                except WorkerIdTaken as error:
                    context.abort(grpc.StatusCode.ALREADY_EXISTS, str(error))
                except ConnectionLost as error:
                    context.abort(grpc.StatusCode.UNAVAILABLE, str(error))
                stream.waiting_since = time.monotonic()
                yield learner_pb2.Action(action=action, stop=stop)
                if stop:
                    return
        finally:
            self._owner.streams.close(stream)
            if slot is not None:
                self._close(slot)

    def _close(self, slot):
        slot.cancel = None  # the stream is ending already, with its own status
        self._owner.inference.close_slot(slot)


class LearnerService:
    """The learner's gRPC server: the run's settings, the demonstrations workers start from
    (demos.starts.demonstration_checkpoints' output), and remote workers' Act streams, which
    it hands to `inference` (an inference.InferenceServer; None serves settings alone).

    bind: "host:port"; port 0 picks a free one (see `port`, `address`). secret: every call must
    carry it (None: no check; see the module docstring, as for the stream limits
    max_streams, max_streams_per_client, idle_timeout_s and reserve). Raises OSError when it
    cannot listen on `bind`.
    """

    def __init__(self, settings, inference=None, bind="127.0.0.1:0", demonstrations=(),
                 secret=None, max_streams=MAX_STREAMS,
                 max_streams_per_client=MAX_STREAMS_PER_CLIENT, idle_timeout_s=IDLE_TIMEOUT_S,
                 reserve=RESERVE_THREADS):
        self.settings_json = json.dumps(settings)
        self.demonstrations = encode_demonstrations(demonstrations)
        self.inference = inference
        self.streams = StreamLimits(max_streams, max_streams_per_client, idle_timeout_s)
        self._server = grpc.server(
            concurrent.futures.ThreadPoolExecutor(max_workers=max_streams + reserve),
            interceptors=[SecretCheck(secret)] if secret else [],
            # Without this a second learner could silently share the port with the first.
            options=_CHANNEL_OPTIONS + [("grpc.so_reuseport", 0)])
        learner_pb2_grpc.add_LearnerServicer_to_server(_Servicer(self), self._server)
        try:
            self.port = self._server.add_insecure_port(bind)
        except RuntimeError as error:
            self.streams.stop()
            raise OSError(f"cannot listen on {bind}: {error}") from None
        if self.port == 0:
            self.streams.stop()
            raise OSError(f"cannot listen on {bind}: address in use or invalid")
        host = bind.rsplit(":", 1)[0]
        self.address = f"{host}:{self.port}"
        if not secret and host not in ("127.0.0.1", "localhost", "[::1]"):
            log.info(f"notice: {self.address} accepts anyone who reaches it: set {SECRET_ENV} "
                     "for the learner and its workers to refuse others")
        self._server.start()

    def close(self, grace_s=1.0):
        """Stops serving; RPCs still running get `grace_s` seconds to finish."""
        self.streams.stop()
        self._server.stop(grace_s).wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class WorkerClient:
    """A worker's gRPC end: the run's settings, waiting out a learner that is not up yet, and a
    RemoteChannel when the learner is on another machine.

    Calls retry with exponential back-off (initial_backoff_s doubling up to max_backoff_s) while
    the learner is UNAVAILABLE, and raise LearnerUnavailable once `deadline_s` have passed.
    """

    def __init__(self, learner_address, worker_id=0, deadline_s=120.0, initial_backoff_s=0.05,
                 max_backoff_s=2.0, secret=None):
        self.learner_address = learner_address
        # Sent with every call: the learner's secret, where it has one (module docstring).
        self._metadata = ((SECRET_METADATA, secret),) if secret else ()
        self.worker_id = worker_id
        self.deadline_s = deadline_s
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        # gRPC's own reconnect back-off starts at 1 s and grows to 2 min; keep it in step
        # with ours so a learner that comes up is found within max_backoff_s.
        backoff_ms = int(max_backoff_s * 1000)
        self._channel = grpc.insecure_channel(learner_address, options=_CHANNEL_OPTIONS + [
            ("grpc.initial_reconnect_backoff_ms", min(100, backoff_ms)),
            ("grpc.min_reconnect_backoff_ms", min(100, backoff_ms)),
            ("grpc.max_reconnect_backoff_ms", backoff_ms),
        ])
        self._stub = learner_pb2_grpc.LearnerStub(self._channel)

    def get_settings(self, deadline_s=None):
        """Returns (settings dict, stop), waiting for a learner that is not up yet."""
        deadline_s = self.deadline_s if deadline_s is None else deadline_s
        give_up_at = time.monotonic() + deadline_s
        backoff_s = self.initial_backoff_s
        request = learner_pb2.SettingsRequest(worker_id=self.worker_id)
        while True:
            remaining_s = give_up_at - time.monotonic()
            try:
                answer = self._stub.GetSettings(request, timeout=max(remaining_s, 0.001),
                                                metadata=self._metadata)
                break
            except grpc.RpcError as error:
                code = error.code()
                if code == grpc.StatusCode.UNAUTHENTICATED:
                    raise Unauthenticated(f"the learner at {self.learner_address} refused this "
                                          f"worker: set {SECRET_ENV} to its secret") from None
                if code == grpc.StatusCode.DEADLINE_EXCEEDED or (
                        code == grpc.StatusCode.UNAVAILABLE
                        and time.monotonic() + backoff_s >= give_up_at):
                    raise LearnerUnavailable(
                        f"no answer from the learner at {self.learner_address} within "
                        f"{deadline_s:g} s ({code.name}: {error.details()})") from None
                if code != grpc.StatusCode.UNAVAILABLE:
                    raise
            time.sleep(backoff_s)
            backoff_s = min(2 * backoff_s, self.max_backoff_s)
        try:
            settings = json.loads(answer.json) if answer.json else {}
        except json.JSONDecodeError as error:
            raise ValueError(f"the learner sent settings that are not JSON ({error})") from None
        if not isinstance(settings, dict):
            raise ValueError("the learner sent settings that are not a JSON object")
        return settings, answer.stop

    def get_demonstrations(self, deadline_s=None):
        """The demonstrations to start episodes from (demos.starts.demonstration_checkpoints'
        layout)."""
        try:
            answer = self._stub.GetDemonstrations(
                learner_pb2.SettingsRequest(worker_id=self.worker_id),
                timeout=self.deadline_s if deadline_s is None else deadline_s,
                metadata=self._metadata)
        except grpc.RpcError as error:
            raise LearnerUnavailable(f"the learner at {self.learner_address} did not send its "
                                     f"demonstrations ({error.code().name})") from None
        return decode_demonstrations(answer)

    def remote_channel(self):
        return RemoteChannel(self._stub, self.worker_id, self._metadata)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class RemoteChannel:
    """A worker's Act stream: `step(report) -> (action, stop)`, with LocalChannel's verbs."""

    def __init__(self, stub, worker_id, metadata=()):
        self.worker_id = worker_id
        self._requests = queue.SimpleQueue()
        self._answers = stub.Act(iter(self._requests.get, None), metadata=metadata)

    def step(self, report):
        """Sends a report; returns (action, stop). Raises ConnectionLost when the learner is
        gone, StepRejected when it refused the report."""
        self._requests.put(encode_step(report, self.worker_id))
        try:
            answer = next(self._answers)
        except StopIteration:
            raise ConnectionLost("the learner ended the stream") from None
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise StepRejected(error.details()) from None
            raise ConnectionLost(f"the learner's stream failed ({error.code().name}: "
                                 f"{error.details()})") from None
        return answer.action, answer.stop

    def fail(self, reason):
        """Tells the learner this worker cannot go on, and why (one line); it stops the run."""
        self._requests.put(learner_pb2.Step(worker_id=self.worker_id, failure=reason[:400]))
        try:
            next(self._answers)  # the learner ends the stream once it has heard
        except (StopIteration, grpc.RpcError):
            pass

    def close(self):
        self._requests.put(None)
        self._answers.cancel()
