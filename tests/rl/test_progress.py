"""The learner's progress bar, on a real pseudo-terminal and on a file."""

import fcntl
import os
import select
import struct
import termios


from retro_rl import logs
from retro_rl.rl.progress import LearnerProgress


def read_all(fd):
    chunks = []
    while select.select([fd], [], [], 0.2)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_on_a_terminal_the_bar_shows_frames_return_and_time_left_above_the_log(tmp_path,
                                                                              root_handlers):
    controller, terminal_fd = os.openpty()
    fcntl.ioctl(terminal_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    with os.fdopen(terminal_fd, "w") as terminal:
        log = logs.setup(tmp_path, "learner", console=terminal)
        progress = LearnerProgress(total_frames=10_000, start_frames=2_000, stream=terminal)
        progress.update(4_000, latest_return=812.5)
        log.info("update 7 | frames 4000")
        progress.update(6_000)
        progress.close()
        log.info("done")
        shown = read_all(controller)
    os.close(controller)
    assert "6.00k/10.0k" in shown and "frame/s" in shown
    assert "return=812" in shown
    assert "<" in shown  # tqdm's [elapsed<remaining]
    assert shown.count("update 7 | frames 4000") == 1 and "done" in shown
    # The log file keeps every line as before.
    assert "update 7 | frames 4000" in (tmp_path / "logs" / "learner.log").read_text()


def test_elsewhere_there_is_no_bar_and_the_log_lines_are_unchanged(tmp_path, root_handlers):
    with open(tmp_path / "console.txt", "w") as console:
        log = logs.setup(tmp_path, "learner", console=console)
        progress = LearnerProgress(total_frames=10_000, stream=console)
        progress.update(4_000, latest_return=812.5)
        log.info("update 7 | frames 4000")
        progress.close()
    shown = (tmp_path / "console.txt").read_text()
    assert shown.endswith("learner: update 7 | frames 4000\n")
    assert "frame/s" not in shown and "812" not in shown
