"""Where the learner's batches come from: `BatchPrefetcher` (IMPALA: any B unrolls, stacked in a
thread of its own while the previous update runs) and `Rounds` (A2C, PPO: one unroll from every
worker, the workers waiting while the learner updates, unless the rounds overlap). Both give
(batch, unrolls) from `get(stop)` and hear `updated()` after each update."""

import logging
import queue
import threading
import time

from retro_rl.rl import unroll

QUIET_WARNING_S = 60.0  # say so when no unroll has arrived for this long
log = logging.getLogger("learner")


class BatchPrefetcher:
    """Takes `batch_size` unrolls at a time from `unroll_queue` and stacks them (unroll.stack)
    in a thread of its own, so that the next batch is ready when an update ends."""

    def __init__(self, unroll_queue, batch_size):
        self.unroll_queue, self.batch_size = unroll_queue, batch_size
        self.ready = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prefetch", daemon=True)
        self._thread.start()

    def _run(self):
        items, quiet_since = [], time.monotonic()
        while not self._stop.is_set():
            try:
                items.append(self.unroll_queue.get(timeout=0.2))
                quiet_since = time.monotonic()
            except queue.Empty:
                if time.monotonic() - quiet_since > QUIET_WARNING_S:
                    log.info(f"no unroll for {QUIET_WARNING_S:.0f} s: are workers running and "
                             "pointed at this learner?")
                    quiet_since = time.monotonic()
                continue
            if len(items) < self.batch_size:
                continue
            batch = (unroll.stack(items), items)
            while not self._stop.is_set():
                try:
                    self.ready.put(batch, timeout=0.2)
                    break
                except queue.Full:
                    continue
            items = []

    def get(self, stop):
        """The next (batch, unrolls), or None once `stop` is set."""
        while not stop:
            try:
                return self.ready.get(timeout=0.2)
            except queue.Empty:
                continue
        return None

    def updated(self):
        pass

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)


class Rounds:
    """The synchronous inference server's rounds (inference.py), stacked: get(stop) waits for
    the next, updated() lets the workers act again with the new weights."""

    def __init__(self, inference):
        self.inference = inference

    def get(self, stop):
        quiet_since = time.monotonic()
        while not stop:
            try:
                unrolls = self.inference.unroll_queue.get(timeout=0.2)
            except queue.Empty:
                if time.monotonic() - quiet_since > QUIET_WARNING_S:
                    log.info(f"no round for {QUIET_WARNING_S:.0f} s: are all "
                             f"{self.inference.round_size} workers running?")
                    quiet_since = time.monotonic()
                continue
            return unroll.stack(unrolls), unrolls
        return None

    def updated(self):
        self.inference.next_round()

    def close(self):
        pass
