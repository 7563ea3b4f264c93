"""The inference server: one batched forward pass for every worker that is waiting for an
action, and the unrolls the learner trains on, built from what the workers report.

SEED RL's design: environment workers only step their emulators and report (channels.StepReport);
the learner's network chooses every action. For each worker the server keeps a `Slot` (slots.py):
its LSTM state, previous action and reward, random generator and the unroll being filled. This
module is the loop around them: connections, batches, rounds and the queue. A forward pass
takes every worker whose report has arrived (local ones through shared memory, remote ones
through gRPC), so the batch grows with the number of workers, and no process but the learner
holds the network.

Two ways to hand unrolls to the learner. Asynchronous (IMPALA): each finished unroll is queued
on its own and its worker plays on at once. Synchronous (`synchronous=True`, A2C and PPO): a
worker whose unroll is full is held, unanswered, until every connected worker's is (and at least
`round_size` workers have joined); the round's unrolls are queued as one list, and the workers
act again only after the learner has updated and called `next_round()`, so every action of the
next round comes from the new weights. With `overlap=True` the learner lets them go one round
sooner: the next round is played while the learner updates on this one, with the weights of
the update before (and the new ones once it ends), so a round is trained at most one update
after the weights that played it.

A worker's id is bound to its connection: a second claim of a connected worker's id is refused
(WorkerIdTaken), not obeyed. In a synchronous round a worker that owes a report for more than
`round_timeout_s` (stopped, hung, or a client gone silent) is dropped from the round and
disconnected; the round goes on with the others, and the worker may connect again. A worker
that reports it cannot go on (channels.WorkerFailed, or transport's failure field) ends the run:
`failure` says why and `on_failure` hears it. So does any error of the loop itself: a connection
whose handshake or records break anything is closed alone, so such an error is a defect, and
the learner stops rather than waiting for ever on a loop that is gone.

Threads: `start()` runs the loop in a thread of its own; gRPC threads hand remote reports to it
through `submit`. The learner's training thread takes finished unrolls from `unroll_queue` and
sets `version` after each update. The forward pass reads the variables the update writes, so an
action may come from weights in the middle of an update; its behaviour logits are recorded as
they came out, so V-trace's importance weights stay exact.
"""

import collections
import logging
import queue
import selectors
import socket
import sys
import threading
import time

from retro_rl.model.distribution import sample_actions
from retro_rl.rl.channels import (ConnectionLost, LocalListener, WorkerFailed, WorkerIdTaken,
                                  check_report)
from retro_rl.rl.handshakes import (HANDSHAKE_TIMEOUT_S, MAX_PENDING_HANDSHAKES,
                                    LocalHandshakes, Pending)
from retro_rl.rl.slots import Slot, forward

log = logging.getLogger("learner")
_POLL_S = 0.1  # how often the loop looks for a stop when nothing arrives
ROUND_TIMEOUT_S = 30.0  # a2c, ppo: a worker silent this long is dropped from the round


class InferenceServer:
    """Serves actions to workers and queues the unrolls they make (unroll.py's layout).

    network: the learner's PolicyNetwork; spec: unroll.UnrollSpec; seed: worker i samples with
    seed + i. queue_size: finished unrolls held before the server waits for the learner (then
    workers wait for their answers: nothing is dropped). local_folder: listen for workers on
    this machine (channels.LocalListener) at a socket in a private folder under `local_folder`
    (True: under the system's temporary folder); None serves remote workers only. synchronous,
    round_size, round_timeout_s and overlap: rounds of one unroll from every worker (module
    docstring).
    on_failure(message): called, from the loop's thread, when a worker reports that it cannot
    go on or the loop fails. handshake_timeout_s, max_pending: local connections that have not
    said hello (handshakes.py).
    """

    def __init__(self, network, spec, seed=0, queue_size=8, local_folder=None,
                 synchronous=False, round_size=1, round_timeout_s=ROUND_TIMEOUT_S,
                 overlap=False, on_failure=None, handshake_timeout_s=HANDSHAKE_TIMEOUT_S,
                 max_pending=MAX_PENDING_HANDSHAKES):
        self.network, self.spec, self.seed = network, spec, seed
        self.synchronous, self.round_size = synchronous, round_size
        self.round_timeout_s, self.on_failure = round_timeout_s, on_failure
        self.failure = None  # why the run must stop, where a worker or the loop failed
        self.unroll_queue = queue.Queue(maxsize=1 if synchronous else queue_size)
        self._held, self._round = [], []  # synchronous: slots waiting, the round's unrolls
        self._round_queued = False  # and its workers not yet let go
        # Rounds the learner lets the workers begin: one per update, one more with overlap.
        self._releases = threading.Semaphore(1 if overlap else 0)
        self._joined = 0
        self.version = 0  # of the weights acting now; the learner moves it on
        self.stopping = False
        self.counters = collections.Counter()
        self._slots = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._wakeup, self._wakeup_sender = socket.socketpair()
        self._wakeup.setblocking(False)
        self._selector.register(self._wakeup, selectors.EVENT_READ, "wakeup")
        self._remote_reports = collections.deque()
        self.listener = None
        if local_folder is not None:
            self.listener = LocalListener(None if local_folder is True else local_folder)
            self._selector.register(self.listener.socket, selectors.EVENT_READ, "listener")
        self._handshakes = LocalHandshakes(self.listener, self._selector, spec.obs_shape,
                                           self.counters, handshake_timeout_s, max_pending)
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)

    @property
    def local_address(self):
        return self.listener.address if self.listener else None

    def start(self):
        self._thread.start()
        return self

    @property
    def running(self):
        """Whether the loop still answers workers (False once it has failed or closed)."""
        return self._thread.is_alive()

    def workers(self):
        """Ids of the workers connected now."""
        with self._lock:
            return sorted(self._slots)

    def next_round(self):
        """Synchronous mode: the learner has updated on a round; the workers held at the end of
        the next round to end (this one; with overlap, the one played meanwhile) act again,
        with the weights there are now."""
        self._releases.release()
        self._wake()

    def request_stop(self):
        """Every later answer says stop; no unroll is queued any more."""
        self.stopping = True
        self._wake()

    def close(self):
        """Stops the loop and closes every channel (workers still connected see it close)."""
        self.request_stop()
        self._closed.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        with self._lock:
            slots = list(self._slots.values())
        for slot in slots:
            self.close_slot(slot)
        self._handshakes.close()
        if self.listener is not None:
            self.listener.close()
        self._selector.close()
        self._wakeup.close()
        self._wakeup_sender.close()

    # ------------------------------------------------------------------------------------------
    # Remote workers (called from gRPC threads)

    def open_remote(self, worker_id, cancel=None):
        """A remote worker's slot; `cancel()` ends its stream. Raises WorkerIdTaken."""
        return self._add(Slot(worker_id, self.spec, self.seed, cancel=cancel))

    def worker_failed(self, worker_id, reason):
        """A worker reports that it cannot go on: the run stops (failure, on_failure)."""
        self._fail(f"worker {worker_id} cannot go on: {reason}")

    def submit(self, slot, report):
        """Hands a remote worker's report to the loop and waits for its answer:
        (action, stop). Raises ValueError for a malformed report, ConnectionLost once the
        server or the slot is closed."""
        try:
            check_report(report, self.spec.obs_shape)
        except ValueError:
            self.counters["reports_rejected"] += 1
            raise
        slot.answered.clear()
        self._remote_reports.append((slot, report))
        self._wake()
        while not slot.answered.wait(_POLL_S):
            if slot.closed or self._closed.is_set():
                raise ConnectionLost("the learner is closing")
        return slot.answers.popleft()

    def close_slot(self, slot):
        """Forgets a worker that left; the unroll it was filling is dropped (and counted)."""
        with self._lock:
            if self._slots.get(slot.worker_id) is slot:
                del self._slots[slot.worker_id]
            if slot.closed:
                return
            slot.closed = True
        cancel = slot.cancel
        if slot.unroll is not None:
            self.counters["steps_dropped"] += slot.t
        if slot.end is not None:
            try:
                self._selector.unregister(slot.end.socket)
            except (KeyError, ValueError):
                pass
            slot.end.close()
        elif cancel is not None:
            cancel()
        log.info(f"worker {slot.worker_id} left ({len(self.workers())} connected)")

    # ------------------------------------------------------------------------------------------
    # The loop

    def _wake(self):
        try:
            self._wakeup_sender.send(b"\0")
        except OSError:
            pass

    def _add(self, slot):
        """Binds the slot's worker id to it; WorkerIdTaken (logged) while a connected worker
        holds the id. A worker that restarts is seen to leave first: its channel closes with
        its process, and a silent one is dropped after round_timeout_s or transport's idle
        timeout."""
        with self._lock:
            if slot.worker_id in self._slots:
                self._refuse_claim(slot.worker_id)
            self._slots[slot.worker_id] = slot
        self._joined += 1
        log.info(f"worker {slot.worker_id} joined ({len(self.workers())} connected, "
                 f"{'local' if slot.end else 'remote'})")
        return slot

    def _fail(self, message):
        if self.failure is None:
            self.failure = message
            if self.on_failure is not None:
                self.on_failure(message)

    def _refuse_claim(self, worker_id):
        self.counters["id_claims_refused"] += 1
        log.info(f"a second worker claims id {worker_id}, which is connected: refused")
        raise WorkerIdTaken(f"worker id {worker_id} is taken by a connected worker")

    def _run(self):
        try:
            self._loop()
        except BaseException as error:  # whatever it is, the run must hear of it
            # The traceback goes to the log file only: the console gets the run's one line.
            record = log.makeRecord(log.name, logging.ERROR, __file__, 0,
                                    "the inference loop failed", None, sys.exc_info())
            for handler in logging.getLogger().handlers:
                if isinstance(handler, logging.FileHandler):
                    handler.handle(record)
            self._fail(f"the inference thread failed ({type(error).__name__}: {error})")

    def _loop(self):
        while not self._closed.is_set():
            ready = []
            for key, _ in self._selector.select(timeout=_POLL_S):
                if key.data == "wakeup":
                    try:
                        while self._wakeup.recv(4096):
                            pass
                    except BlockingIOError:
                        pass
                elif key.data == "listener":
                    self._handshakes.accept()
                elif isinstance(key.data, Pending):
                    self._handshake(key.data)
                else:
                    report = self._receive(key.data)
                    if report is not None:
                        key.data.silent_since = None
                        ready.append((key.data, report))
            while self._remote_reports:
                slot, report = self._remote_reports.popleft()
                if not slot.closed:
                    slot.silent_since = None
                    ready.append((slot, report))
            if ready:
                self._serve(ready)
            self._handshakes.expire()
            if self.synchronous:
                self._drop_silent()
                self._synchronize()

    def _drop_silent(self):
        """Drops from the round, and disconnects, each worker that has owed a report for more
        than round_timeout_s."""
        if self.stopping:
            return
        now = time.monotonic()
        with self._lock:
            silent = [slot for slot in self._slots.values() if slot.silent_since is not None
                      and now - slot.silent_since > self.round_timeout_s]
        for slot in silent:
            self.counters["workers_timed_out"] += 1
            log.info(f"worker {slot.worker_id} sent nothing for {self.round_timeout_s:g} s: "
                     "dropped from the round and disconnected (it may connect again)")
            self.close_slot(slot)

    def _synchronize(self):
        """Queues a complete round, answers the held workers once the learner moved on, and
        tells them to stop when the run ends."""
        held = [slot for slot in self._held if not slot.closed]
        if self.stopping:
            for slot in held:
                slot.reply(0, True)
            self._held = []
            return
        if self._round_queued:
            if self._releases.acquire(blocking=False):
                self._round_queued, self._held = False, []
                if held:
                    self._act(held, [])
            return
        if not self._round or self.unroll_queue.qsize() or self._joined < self.round_size:
            return
        with self._lock:
            waiting = [slot for slot in self._slots.values() if slot not in held]
        if not waiting:  # every connected worker has finished its unroll
            self._round, round_ = [], self._round
            self._queue(round_, len(round_))
            self._round_queued = True
            self._synchronize()  # with a release at hand, the next round begins now

    def _check_claim(self, worker_id):
        """Raises WorkerIdTaken (logged) while a connected worker holds `worker_id`."""
        with self._lock:
            taken = worker_id in self._slots
        if taken:
            self._refuse_claim(worker_id)

    def _handshake(self, pending):
        """A waiting local connection's hello: a good one becomes a worker's slot
        (handshakes.py closes anything else)."""
        arrived = self._handshakes.handshake(pending, self._check_claim)
        if arrived is None:
            return
        worker_id, end = arrived
        try:
            slot = self._add(Slot(worker_id, self.spec, self.seed, end))
        except WorkerIdTaken:
            end.close()
            return
        self._selector.register(end.socket, selectors.EVENT_READ, slot)

    def _receive(self, slot):
        """The slot's next report, or None when its channel closed; a malformed record or any
        other error closes that channel alone, with one line."""
        try:
            report = slot.end.receive()
            check_report(report, self.spec.obs_shape)
            return report
        except ConnectionLost:
            self.close_slot(slot)
        except WorkerFailed as error:
            self.close_slot(slot)
            self.worker_failed(slot.worker_id, str(error))
        except Exception as error:  # noqa: BLE001 -- ValueError for a malformed one, or worse
            self.counters["reports_rejected"] += 1
            log.info(f"worker {slot.worker_id} sent a malformed report ({error}); closing its "
                     "channel")
            self.close_slot(slot)
        return None

    def _serve(self, ready):
        """One forward pass for the reports in `ready`, [(slot, report)]."""
        if self.stopping:
            for slot, _ in ready:
                slot.reply(0, True)
            return
        rows, finished, acting = [], [], []
        for slot, report in ready:
            done, dropped = slot.record_outcome(report, self.version, rows)
            if dropped:  # a worker that started over mid-unroll
                self.counters["steps_dropped"] += dropped
            finished += done
            if done and self.synchronous:
                self._held.append(slot)  # acts in the next round, with the next weights
            else:
                acting.append(slot)
        self._act(acting, rows)
        for unroll in finished:
            if self.synchronous:
                self._round.append(unroll)
            else:
                self._queue(unroll)

    def _act(self, slots, rows):
        """One forward pass: an action for each of `slots` (from the observation its unroll
        holds at its step), and the truncation values `rows` (slots.Row) already asks for."""
        rows = list(rows) + [slot.action_row() for slot in slots]
        if not rows:
            return
        logits, values, state_h, state_c = forward(self.network, rows)
        for index, row in enumerate(rows):
            if row.truncation is None:
                action = int(sample_actions(logits[index:index + 1], row.slot.rng)[0])
                row.slot.acted(action, logits[index], self.version, state_h[index],
                               state_c[index])
            else:
                unroll, t = row.truncation
                unroll["truncation_values"][t] = values[index]
        for slot in slots:
            slot.reply(slot.action, False)
        self.counters["forward_passes"] += 1
        self.counters["forward_rows"] += len(rows)

    def _queue(self, item, unrolls=1):
        """Queues a finished unroll (or a round's list of `unrolls`), waiting while the learner
        is behind (so are the workers)."""
        steps = unrolls * self.spec.unroll_length
        while not self.stopping:
            try:
                self.unroll_queue.put(item, timeout=_POLL_S)
                self.counters["unrolls_queued"] += unrolls
                self.counters["steps_queued"] += steps
                return
            except queue.Full:
                continue
        self.counters["steps_dropped"] += steps
