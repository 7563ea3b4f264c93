"""The learner's progress bar: frames trained on out of --total_frames, frames/s, the latest
episode's return and the time left, on stderr when it is a terminal. Elsewhere (a log file, the
launcher's background learner) nothing changes: the status lines every 10 seconds say it all.
"""

import contextlib
import logging
import sys

from tqdm import tqdm


class _AboveTheBar(logging.Handler):
    """Writes console log lines above the bar, so neither breaks the other."""

    def __init__(self, stream, level, formatter):
        super().__init__(level)
        self.stream = stream
        self.setFormatter(formatter)

    def emit(self, record):
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # logging must never stop the learner
            self.handleError(record)


class LearnerProgress:
    """`update(frames, latest_return)` after every update; `close()` at the end.

    total_frames and start_frames (a resumed run's) are env frames, frame skip counted. While the
    bar is shown, the console's log lines are written above it instead of through it.
    """

    def __init__(self, total_frames, start_frames=0, stream=None):
        stream = sys.stderr if stream is None else stream
        self.bar, self._swapped = None, []
        if not _is_terminal(stream):
            return
        self.bar = tqdm(total=total_frames, initial=min(start_frames, total_frames),
                        unit="frame", unit_scale=True, dynamic_ncols=True, smoothing=0.05,
                        file=stream, desc="frames")
        root = logging.getLogger()
        for handler in root.handlers[:]:
            if type(handler) is logging.StreamHandler:  # the console (a FileHandler is a subclass)
                above = _AboveTheBar(handler.stream, handler.level, handler.formatter)
                root.removeHandler(handler)
                root.addHandler(above)
                self._swapped.append((handler, above))

    def update(self, frames, latest_return=None):
        if self.bar is None:
            return
        self.bar.update(min(frames, self.bar.total) - self.bar.n)
        if latest_return is not None:
            self.bar.set_postfix({"return": f"{latest_return:g}"}, refresh=False)

    def close(self):
        if self.bar is None:
            return
        self.bar.close()
        root = logging.getLogger()
        for handler, above in self._swapped:
            root.removeHandler(above)
            root.addHandler(handler)
        self.bar, self._swapped = None, []


def _is_terminal(stream):
    with contextlib.suppress(AttributeError, ValueError):
        return stream.isatty()
    return False
