"""One logging set-up for every long-running process: lines with a time to the console and to
`<workspace>/logs/<name>.log`, so a run's record does not depend on how it was started."""

import logging
import os
import sys

FORMAT = "%(asctime)s %(name)s: %(message)s"
DATE_FORMAT = "%H:%M:%S"


def setup(workspace_path, name, console=sys.stdout, console_level=logging.INFO):
    """Configures the root logger for this process and returns the logger called `name`.

    The file gets every INFO line; the console gets lines from `console_level` up (a worker that
    runs in the background may show only its warnings). Calling it again replaces the handlers.
    """
    folder = os.path.join(workspace_path, "logs")
    os.makedirs(folder, exist_ok=True)
    formatter = logging.Formatter(FORMAT, DATE_FORMAT)
    file_handler = logging.FileHandler(os.path.join(folder, f"{name}.log"))
    file_handler.setFormatter(formatter)
    console_handler = logging.StreamHandler(console)
    console_handler.setFormatter(formatter)
    console_handler.setLevel(console_level)
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
        handler.close()
    root.addHandler(file_handler)
    root.addHandler(console_handler)
    root.setLevel(logging.INFO)
    return logging.getLogger(name)
