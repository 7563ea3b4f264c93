"""Helpers the tests share: where things are, running a command as a user would, and which
ROMs this machine has."""

import functools
import pathlib
import subprocess
import sys

import stable_retro as retro

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEMOS = ROOT / "demos" / "Airstriker-Genesis-v0"
SHARED = ROOT.parent / "shared"
SONIC2 = "SonicTheHedgehog2-Genesis-v0"


def run_command(script, *args, timeout=300, **kwargs):
    """Runs a root command (e.g. "replay_parser.py") in a fresh interpreter, as a user would."""
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=timeout, **kwargs)


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def assert_one_line_error(result, *words):
    """The command failed with status 2 and exactly one `error:` line holding every word."""
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    (line,) = error_lines(result)
    for word in words:
        assert word in line, line


def rom_imported(game):
    try:
        retro.data.get_romfile_path(game, retro.data.Integrations.ALL)
        return True
    except FileNotFoundError:
        return False


@functools.cache
def game_without_rom():
    """A Genesis game stable-retro knows whose ROM is not imported here (the first by name), so
    missing-ROM messages are tested whatever a user has imported."""
    for game in sorted(retro.data.list_games(retro.data.Integrations.ALL)):
        if game.endswith("-Genesis-v0") and not rom_imported(game):
            return game
    raise RuntimeError("every Genesis ROM is imported here")
