"""How IMPALA actors and the learner talk: gRPC messages defined in impala.proto.

The learner owns a `LearnerServer`; every actor owns an `ActorClient` pointed at it.

1. The learner builds its model, starts `LearnerServer(spec, settings=...)` (spec: an
   unroll.UnrollSpec) and publishes
   version 0 of its weights with `set_parameters(0, model.get_weights())`.
2. An actor calls `get_settings()` (a dict: what to build; learner.py documents it), then
   `get_parameters(-1)`, which retries with exponential back-off until the learner
   is up and has published weights (bounded by a deadline), and loads the weights it gets.
3. The actor plays T = spec.unroll_length agent steps and calls `send_unroll(unroll)`. The answer
   carries the learner's newest version; when it is newer than the actor's, the actor calls
   `get_parameters(its_version)` and loads the weights (None comes back when nothing changed).
4. The learner takes decoded unrolls (dicts of numpy arrays, layout below) from the bounded
   `server.unroll_queue`, trains on a batch of them and publishes `set_parameters(version + 1,
   ...)`. While the queue is full, SendUnroll waits: actors slow down to the learner's pace and
   no unroll is ever dropped. `server.counters()` says how many unrolls and steps were queued.
5. At the end the learner calls `request_stop()`: every later answer carries stop=True and the
   actors exit. An unroll answered with stop=True was not queued. `unstopped_actors()`
   names the recently active actors that have not been told yet, so the learner can wait for
   them before it closes the server.

The unroll layout (T steps, observations H x W x C, A actions, U LSTM units) is defined once,
field by field, in unroll.py; proto/impala.proto carries the same fields by name. Every unroll
is validated (`UnrollSpec.validate`) before it is queued; a malformed one is answered with
INVALID_ARGUMENT and the server goes on serving.

Arrays travel as raw little-endian bytes with a declared dtype (from a short whitelist) and
shape, checked against the byte count. Nothing received is unpickled or evaluated. The server
listens on 127.0.0.1 by default; the channel is not encrypted, so bind another address only
on a network you trust.
"""

import concurrent.futures
import json
import math
import queue
import threading
import time

import grpc
import numpy as np

from retro_rl.rl.proto import impala_pb2, impala_pb2_grpc
from retro_rl.rl.unroll import EPISODE_FIELDS, FIELDS

# Observations of a few hundred steps of full-size Genesis frames exceed gRPC's default 4 MB.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
ALLOWED_DTYPES = ("uint8", "int32", "int64", "float32", "bool")
_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]
# How often a SendUnroll waiting on a full queue checks for a stop or a departed client.
_QUEUE_POLL_SECONDS = 0.1


class LearnerUnavailable(ConnectionError):
    """The learner did not answer before the deadline (not started, gone, or too busy)."""


class UnrollRejected(ValueError):
    """The learner refused an unroll as malformed; the message says what was wrong."""


def encode_array(array):
    """np.ndarray of a whitelisted dtype -> Tensor message. Raises ValueError otherwise."""
    array = np.asarray(array)
    if array.dtype.name not in ALLOWED_DTYPES:
        raise ValueError(f"cannot send dtype {array.dtype.name}; "
                         f"allowed: {', '.join(ALLOWED_DTYPES)}")
    little_endian = array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)
    return impala_pb2.Tensor(dtype=array.dtype.name, shape=array.shape,
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


def encode_unroll(unroll, actor_id=0):
    """Unroll dict (unroll.py's layout; every field required) -> Unroll message.

    Arrays are converted to their wire dtype when numpy calls that a same-kind cast (float64
    rewards become float32); a conversion across kinds (float actions) raises ValueError.
    `unroll["actor_id"]` is optional.
    """
    message = impala_pb2.Unroll(actor_id=int(unroll.get("actor_id", actor_id)),
                                parameter_version=int(unroll["parameter_version"]))
    for field in FIELDS:
        if field.name not in unroll:
            raise ValueError(f"unroll has no {field.name!r}")
        array = np.asarray(unroll[field.name])
        if not np.can_cast(array.dtype, field.dtype, casting="same_kind"):
            raise ValueError(f"unroll {field.name!r} has dtype {array.dtype.name}, "
                             f"expected {np.dtype(field.dtype).name}")
        getattr(message, field.name).CopyFrom(encode_array(array.astype(field.dtype, copy=False)))
    for episode in unroll["episodes"]:
        message.episodes.add(**episode)
    return message


def decode_unroll(message):
    """Unroll message -> dict of numpy arrays plus actor_id, parameter_version and episodes.
    Checks only that each array decodes; `UnrollSpec.validate` checks it against a spec."""
    unroll = {"actor_id": message.actor_id, "parameter_version": message.parameter_version}
    for field in FIELDS:
        if not message.HasField(field.name):
            raise ValueError(f"unroll has no {field.name}")
        try:
            unroll[field.name] = decode_array(getattr(message, field.name))
        except ValueError as error:
            raise ValueError(f"{field.name}: {error}") from None
    unroll["episodes"] = [{name: getattr(episode, name) for name in EPISODE_FIELDS}
                          for episode in message.episodes]
    return unroll


class _Servicer(impala_pb2_grpc.LearnerServicer):
    """Answers the RPCs for a LearnerServer; the state lives in the server object."""

    def __init__(self, owner):
        self._owner = owner

    def SendUnroll(self, request, context):
        owner = self._owner
        owner._seen(request.actor_id)
        try:
            unroll = decode_unroll(request)
            owner.spec.validate(unroll, owner.version)
        except ValueError as error:
            owner._count("unrolls_rejected")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed unroll: {error}")
        while True:
            if owner._stop.is_set():
                owner._count("unrolls_refused_after_stop")
                owner._seen(request.actor_id, told_to_stop=True)
                return impala_pb2.Ack(parameter_version=owner.version, stop=True)
            try:
                owner.unroll_queue.put(unroll, timeout=_QUEUE_POLL_SECONDS)
                break
            except queue.Full:
                if not context.is_active():  # The client gave up; it will see an error.
                    return impala_pb2.Ack()
        owner._count("unrolls_received")
        owner._count("steps_received", owner.spec.unroll_length)
        return impala_pb2.Ack(parameter_version=owner.version, stop=False)

    def GetParameters(self, request, context):
        owner = self._owner
        owner._seen(request.actor_id)
        with owner._lock:
            version, parameters = owner.version, owner._parameters
        if owner._stop.is_set():
            owner._seen(request.actor_id, told_to_stop=True)
            return impala_pb2.Parameters(version=version, stop=True)
        if parameters is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, "the learner has not published parameters")
        if request.known_version == version:
            return impala_pb2.Parameters(version=version)
        return parameters

    def GetSettings(self, request, context):
        owner = self._owner
        owner._seen(request.actor_id)
        stop = owner._stop.is_set()
        if stop:
            owner._seen(request.actor_id, told_to_stop=True)
        return impala_pb2.Settings(json=owner.settings_json, stop=stop)


class LearnerServer:
    """The learner's end: a gRPC server feeding validated unrolls into a bounded queue.

    Args:
        spec: UnrollSpec every unroll must match.
        bind: "host:port" to listen on; port 0 picks a free one (see `port`, `address`).
        queue_size: unrolls held before SendUnroll starts waiting for the learner.
        max_workers: concurrent RPCs; keep it above the number of actors, since each actor
            waiting on a full queue holds one.
        settings: a JSON-serialisable dict every actor fetches with `get_settings()`.

    Raises OSError when it cannot listen on `bind`.
    """

    def __init__(self, spec, bind="127.0.0.1:0", queue_size=64, max_workers=32, settings=None):
        self.spec = spec
        self.settings_json = json.dumps(settings or {})
        self.unroll_queue = queue.Queue(maxsize=queue_size)
        self.version = -1  # Nothing published yet.
        self._parameters = None  # Parameters message for `version`, encoded once.
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._counters = dict(unrolls_received=0, steps_received=0, unrolls_rejected=0,
                              unrolls_refused_after_stop=0)
        self._last_seen = {}  # actor_id -> time.monotonic() of its latest call
        self._told_to_stop = set()
        self._server = grpc.server(
            concurrent.futures.ThreadPoolExecutor(max_workers=max_workers),
            # Without this a second learner could silently share the port with the first.
            options=_CHANNEL_OPTIONS + [("grpc.so_reuseport", 0)])
        impala_pb2_grpc.add_LearnerServicer_to_server(_Servicer(self), self._server)
        try:
            self.port = self._server.add_insecure_port(bind)
        except RuntimeError as error:
            raise OSError(f"cannot listen on {bind}: {error}") from None
        if self.port == 0:
            raise OSError(f"cannot listen on {bind}: address in use or invalid")
        self.address = f"{bind.rsplit(':', 1)[0]}:{self.port}"
        self._server.start()

    def set_parameters(self, version, weights):
        """Publishes `weights` (list of arrays in model order) as `version` (must increase)."""
        if version <= self.version:
            raise ValueError(f"parameter version must increase: {version} after {self.version}")
        message = impala_pb2.Parameters(version=version,
                                        weights=[encode_array(array) for array in weights])
        with self._lock:
            self.version, self._parameters = version, message

    def request_stop(self):
        """Tells every actor, in its next answer, that the run is over; queues nothing more."""
        self._stop.set()

    def counters(self):
        """Unrolls queued/rejected/refused after stop, and agent steps queued, since start."""
        with self._lock:
            return dict(self._counters)

    def unstopped_actors(self, active_within_s=30.0):
        """Ids of the actors that called within the last `active_within_s` seconds and have
        not yet been answered with stop=True."""
        now = time.monotonic()
        with self._lock:
            return sorted(actor for actor, seen in self._last_seen.items()
                          if now - seen <= active_within_s and actor not in self._told_to_stop)

    def _seen(self, actor_id, told_to_stop=False):
        with self._lock:
            self._last_seen[actor_id] = time.monotonic()
            if told_to_stop:
                self._told_to_stop.add(actor_id)

    def _count(self, name, amount=1):
        with self._lock:
            self._counters[name] += amount

    def close(self, grace_s=1.0):
        """Stops serving; RPCs still running get `grace_s` seconds to finish."""
        self.request_stop()
        self._server.stop(grace_s).wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class ActorClient:
    """An actor's end: sends unrolls, fetches parameters, waits out a learner that is not up.

    Every call retries with exponential back-off (initial_backoff_s doubling up to
    max_backoff_s) while the learner is UNAVAILABLE, and raises LearnerUnavailable once
    `deadline_s` seconds (per call) have passed without an answer.
    """

    def __init__(self, learner_address, actor_id=0, deadline_s=120.0, initial_backoff_s=0.05,
                 max_backoff_s=2.0):
        self.actor_id = actor_id
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
        self._stub = impala_pb2_grpc.LearnerStub(self._channel)
        self.learner_address = learner_address

    def _call(self, method, request, deadline_s):
        """method(request) with retries on UNAVAILABLE until the deadline."""
        deadline_s = self.deadline_s if deadline_s is None else deadline_s
        give_up_at = time.monotonic() + deadline_s
        backoff_s = self.initial_backoff_s
        while True:
            remaining_s = give_up_at - time.monotonic()
            try:
                return method(request, timeout=max(remaining_s, 0.001))
            except grpc.RpcError as error:
                code = error.code()
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

    def send_unroll(self, unroll, deadline_s=None):
        """Sends one unroll dict; returns (learner's newest parameter version, stop).

        Waits while the learner's queue is full. Raises UnrollRejected when the learner finds
        it malformed, ValueError when it cannot be encoded, LearnerUnavailable after the
        deadline. If an answer is lost after the learner queued the unroll, the retry
        sends it a second time.
        """
        message = encode_unroll(unroll, actor_id=self.actor_id)
        try:
            ack = self._call(self._stub.SendUnroll, message, deadline_s)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise UnrollRejected(error.details()) from None
            raise
        return ack.parameter_version, ack.stop

    def get_settings(self, deadline_s=None):
        """Returns (settings dict, stop): the run's settings, parsed from JSON text."""
        answer = self._call(self._stub.GetSettings,
                            impala_pb2.SettingsRequest(actor_id=self.actor_id), deadline_s)
        try:
            settings = json.loads(answer.json) if answer.json else {}
        except json.JSONDecodeError as error:
            raise ValueError(f"the learner sent settings that are not JSON ({error})") from None
        if not isinstance(settings, dict):
            raise ValueError("the learner sent settings that are not a JSON object")
        return settings, answer.stop

    def get_parameters(self, known_version=-1, deadline_s=None):
        """Returns (version, weights, stop); weights is None when `known_version` is current.

        weights is a list of arrays in model order. Also waits for a learner that is up but
        has not published parameters yet.
        """
        answer = self._call(self._stub.GetParameters, impala_pb2.ParametersRequest(
            known_version=known_version, actor_id=self.actor_id), deadline_s)
        weights = [decode_array(tensor) for tensor in answer.weights] or None
        if weights is None and not answer.stop and answer.version != known_version:
            raise ValueError(f"the learner sent version {answer.version} without weights")
        return answer.version, weights, answer.stop

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
