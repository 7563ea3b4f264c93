"""Who gets into the learner's gRPC server (transport.py), and how many at once.

The secret: where the learner has one (the RETRO_RL_SECRET environment variable of the learner
and its workers), every call must carry it as metadata, or is refused with UNAUTHENTICATED
(`SecretCheck`). Without one, anyone who reaches the port may call it. The channel is not
encrypted: the secret keeps out callers who do not know it, not anyone who can read the
network's traffic.

Streams: each worker's Act stream holds one of the server's threads for its life, so
`StreamLimits` admits at most `max_streams` at once and `max_streams_per_client` from one host
(more are refused with RESOURCE_EXHAUSTED), and cancels a stream that has owed its next Step
for `idle_timeout_s`. The server keeps threads beyond these (transport's `reserve`), so
GetSettings and new workers always get in.
"""

import collections
import hmac
import logging
import math
import os
import threading
import time

import grpc

SECRET_ENV = "RETRO_RL_SECRET"
SECRET_METADATA = "retro-rl-secret"
MAX_STREAMS = 128
MAX_STREAMS_PER_CLIENT = 64
IDLE_TIMEOUT_S = 60.0
log = logging.getLogger("learner")


def secret_from_environment():
    """The shared secret of a learner and its workers (RETRO_RL_SECRET), or None."""
    return os.environ.get(SECRET_ENV) or None


class SecretCheck(grpc.ServerInterceptor):
    """Refuses, with UNAUTHENTICATED, every call that does not carry the secret."""

    def __init__(self, secret):
        self._secret = secret.encode()

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        given = dict(handler_call_details.invocation_metadata).get(SECRET_METADATA, "")
        if handler is None or hmac.compare_digest(given.encode(), self._secret):
            return handler

        def refuse(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED,
                          f"this learner wants its secret ({SECRET_ENV})")

        make = {(False, False): grpc.unary_unary_rpc_method_handler,
                (False, True): grpc.unary_stream_rpc_method_handler,
                (True, False): grpc.stream_unary_rpc_method_handler,
                (True, True): grpc.stream_stream_rpc_method_handler}[
            (handler.request_streaming, handler.response_streaming)]
        return make(refuse, request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer)


class Stream:
    """One open Act stream: whose, and since when it owes its next Step (None: it does not,
    its report is with the learner)."""

    def __init__(self, host, context):
        self.host, self.context = host, context
        self.waiting_since = time.monotonic()


def peer_host(peer):
    """gRPC's peer ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000") -> its host."""
    return peer.rsplit(":", 1)[0] if peer.count(":") > 1 else peer


class StreamLimits:
    """The Act streams open now (module docstring). `open(context)` in each stream's handler,
    `close(stream)` when it ends; a thread of its own cancels idle ones until `stop()`."""

    def __init__(self, max_streams=MAX_STREAMS, max_streams_per_client=MAX_STREAMS_PER_CLIENT,
                 idle_timeout_s=IDLE_TIMEOUT_S):
        self.max_streams, self.max_streams_per_client = max_streams, max_streams_per_client
        self.idle_timeout_s = idle_timeout_s
        self._streams, self._per_host = set(), collections.Counter()
        self._lock = threading.Lock()
        self._refused, self._refusal_logged = 0, -math.inf
        self._stopped = threading.Event()
        self._watch = threading.Thread(target=self._cancel_idle, name="idle-streams",
                                       daemon=True)
        self._watch.start()

    def open(self, context):
        """Counts a new Act stream in and returns its Stream; aborts it with RESOURCE_EXHAUSTED
        beyond the caps."""
        host = peer_host(context.peer())
        with self._lock:
            if (len(self._streams) < self.max_streams
                    and self._per_host[host] < self.max_streams_per_client):
                stream = Stream(host, context)
                self._streams.add(stream)
                self._per_host[host] += 1
                return stream
            self._refused += 1
            if time.monotonic() - self._refusal_logged > 10.0:  # one line, not a flood
                self._refusal_logged = time.monotonic()
                log.info(f"worker streams refused: {len(self._streams)} open, "
                         f"{self._per_host[host]} from {host} ({self._refused} refused so far)")
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                      f"the learner takes at most {self.max_streams} worker streams, "
                      f"{self.max_streams_per_client} from one host")

    def close(self, stream):
        with self._lock:
            if stream in self._streams:
                self._streams.remove(stream)
                self._per_host[stream.host] -= 1

    def stop(self):
        self._stopped.set()

    def _cancel_idle(self):
        while not self._stopped.wait(min(1.0, self.idle_timeout_s / 4)):
            now = time.monotonic()
            with self._lock:
                idle = [stream for stream in self._streams if stream.waiting_since is not None
                        and now - stream.waiting_since > self.idle_timeout_s]
            for stream in idle:
                self.close(stream)
                log.info(f"a worker stream from {stream.host} sent nothing for "
                         f"{self.idle_timeout_s:g} s: closed")
                stream.context.cancel()
