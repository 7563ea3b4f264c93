"""What every command-line entry point shares: one-line errors instead of tracebacks.

A script raises `UserError("what is wrong and what to do")` for bad input it can explain, and
parses flags with `ArgumentParser`, which raises it for flag mistakes; `run(main)` prints it as a
single `error: ...` line and exits with status 2. Ctrl-C exits with
status 130 and a one-line notice, after whatever `finally` blocks the script has run.
"""

import argparse
import sys


class UserError(Exception):
    """A problem the user can fix; the message names it and says what to do."""


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
    """Calls `main()` and turns a UserError or Ctrl-C into one line on stderr."""
    try:
        status = main()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(status or 0)
