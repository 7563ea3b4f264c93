"""What every command shares: flags parsed into one-line errors, and exit statuses.

A command parses flags with `ArgumentParser`, whose mistakes are UserErrors, and calls
`run(main)`: a UserError becomes one `error: ...` line on stderr and exit status 2; Ctrl-C (or
SIGTERM, where the command turns it into KeyboardInterrupt) exits with status 130 after whatever
`finally` blocks the command has run.
"""

import argparse
import logging
import os
import sys

from retro_rl.errors import UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default, except None: there the help text says what leaving the flag
    out means."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose flag mistakes are one `error:` line, like every other bad input, and
    whose --help shows each flag's default."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UserError(f"{message} (see --help)")


def run(main):
    """Calls `main()` and turns a UserError or Ctrl-C into one line on stderr (and in the log
    file, where the command set one up)."""
    try:
        status = main()
    except UserError as error:
        _report(f"error: {error}")
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        _report("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(status or 0)


def _report(line):
    print(line, file=sys.stderr, flush=True)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            # Named after the log (learner.log: "learner"), as the command's own lines are.
            name = os.path.splitext(os.path.basename(handler.baseFilename))[0]
            handler.emit(logging.makeLogRecord({"name": name, "msg": line,
                                                "levelno": logging.ERROR, "levelname": "ERROR"}))
