"""Local workers from their connection to their hello, for the inference server's loop
(inference.py): it calls `accept` when the listener's socket is readable and `handshake` when a
waiting connection is. Nothing here blocks, so a caller that connects and says nothing holds up
no one: it is closed after `timeout_s`, and beyond `max_pending` such callers more are closed at
once. Anything but a good hello closes that connection alone, with one line; each refusal is
counted in `counters["handshakes_refused"]`.
"""

import logging
import selectors
import time

from retro_rl.rl.channels import ConnectionLost, WorkerIdTaken, open_end, read_hello

log = logging.getLogger("learner")
HANDSHAKE_TIMEOUT_S = 5.0  # a local connection that has not said hello by then is closed
MAX_PENDING_HANDSHAKES = 16  # local connections beyond this many waiting for hello are closed


class Pending:
    """A local connection accepted and waiting for its hello."""

    def __init__(self, connection, deadline):
        self.connection, self.deadline = connection, deadline


class LocalHandshakes:
    """The connections a channels.LocalListener accepted that have not said hello yet, each
    registered with `selector` under its Pending."""

    def __init__(self, listener, selector, observation_shape, counters, timeout_s, max_pending):
        self.listener, self.selector = listener, selector
        self.observation_shape, self.counters = observation_shape, counters
        self.timeout_s, self.max_pending = timeout_s, max_pending
        self._pending = {}

    def accept(self):
        """Takes every waiting local connection; its hello is read when it arrives."""
        while True:
            try:
                connection = self.listener.accept()
            except PermissionError as error:
                self.counters["handshakes_refused"] += 1
                log.info(f"local connection refused: {error}")
                continue
            except OSError as error:
                log.info(f"the local listener failed to accept ({error})")
                return
            if connection is None:
                return
            if len(self._pending) >= self.max_pending:
                self.counters["handshakes_refused"] += 1
                log.info(f"a local connection closed: {self.max_pending} are already waiting "
                         "to say hello")
                connection.close()
                continue
            pending = Pending(connection, time.monotonic() + self.timeout_s)
            self._pending[connection] = pending
            self.selector.register(connection, selectors.EVENT_READ, pending)

    def handshake(self, pending, check_claim):
        """Reads a waiting connection's hello. For a good one whose id `check_claim(worker_id)`
        lets through (it raises WorkerIdTaken otherwise) returns (worker_id, its
        channels.LocalEnd); None while the hello has not arrived or once the connection is
        closed."""
        try:
            worker_id = read_hello(pending.connection)
            if worker_id is None:
                return None  # not here yet (a spurious wake-up)
            self._forget(pending)
            check_claim(worker_id)
            end = open_end(pending.connection, worker_id, self.observation_shape)
        except Exception as error:  # noqa: BLE001 -- any of them closes this connection alone
            self._forget(pending)
            pending.connection.close()
            if not isinstance(error, (ConnectionLost, WorkerIdTaken)):
                self.counters["handshakes_refused"] += 1
                log.info(f"a local connection refused: {type(error).__name__}: {error}")
            return None
        return worker_id, end

    def expire(self):
        """Closes the connections that said nothing within timeout_s."""
        now = time.monotonic()
        for pending in [pending for pending in self._pending.values() if now > pending.deadline]:
            self.counters["handshakes_refused"] += 1
            log.info(f"a local connection closed: no hello within {self.timeout_s:g} s")
            self._forget(pending)
            pending.connection.close()

    def close(self):
        for pending in list(self._pending.values()):
            pending.connection.close()
        self._pending.clear()

    def _forget(self, pending):
        self._pending.pop(pending.connection, None)
        try:
            self.selector.unregister(pending.connection)
        except (KeyError, ValueError):
            pass
