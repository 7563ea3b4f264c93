"""Helpers the tests share: where things are, running a command as a user would, and which
ROMs this machine has."""

import functools
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time

import pytest
import stable_retro as retro

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEMOS = ROOT / "demos" / "Airstriker-Genesis-v0"
SHARED = ROOT.parent / "shared"
SONIC2 = "SonicTheHedgehog2-Genesis-v0"


def run_command(script, *args, timeout=300, **kwargs):
    """Runs a root command (e.g. "replay_parser.py") in a fresh interpreter, as a user would."""
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=timeout, **kwargs)


# Puts SIGINT back to its default, as a user's terminal has it (a suite run as a background job
# starts its processes with SIGINT ignored), then becomes the command. Done in a preexec_fn, it
# would run between fork and exec in a test process where earlier tests left gRPC's threads:
# their fork handlers could abort the child before it ran the command.
_WITH_DEFAULT_SIGINT = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                        "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])")


def start_interruptible(script, *args):
    """Starts a root command that takes Ctrl-C (SIGINT) as from a terminal; its output piped."""
    return subprocess.Popen(
        [sys.executable, "-c", _WITH_DEFAULT_SIGINT, str(ROOT / script), *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def wait_for(condition, timeout_s, what):
    """condition()'s first true result, polled until `timeout_s`; else the test fails."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


class CheckedThread(threading.Thread):
    """A thread whose failure fails the test: join() raises what the target raised (a failed
    assert included), and fails where the thread is still running at its timeout."""

    def __init__(self, target, args=()):
        super().__init__(target=target, args=args, daemon=True)
        self.what, self.error = getattr(target, "__name__", repr(target)), None

    def run(self):
        try:
            super().run()
        except BaseException as error:  # raised again by join(), in the test's thread
            self.error = error

    def join(self, timeout):
        super().join(timeout)
        if self.is_alive():
            pytest.fail(f"{self.what} still running after {timeout} s")
        if self.error is not None:
            raise self.error


def free_port():
    """A port free a moment ago, for a test whose clients must know the port before the server
    binds it (another process may take it in between: bind port 0 wherever the order allows)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def save_tiny_model(folder, env_config=None, metadata=None, intrinsic_value=False, seed=0,
                    learner=None):
    """A small untrained model folder (36x36 observations, 16 LSTM units) of `env_config`'s
    game, with `metadata` in its config.json (default: a supervised model); with `learner` (a
    LearnerConfig), the fresh optimizer state of its update too, as a checkpoint to resume."""
    from retro_rl.envs import EnvConfig
    from retro_rl.model import checkpoints
    from retro_rl.model.config import NetworkConfig
    from retro_rl.model.network import create_network

    env_config = env_config or EnvConfig(obs_size=36)
    network = create_network(NetworkConfig(num_actions=env_config.num_actions, lstm_units=16,
                                           intrinsic_value=intrinsic_value),
                             env_config.observation_shape, seed=seed)
    optimizer = None
    if learner is not None:
        from retro_rl.rl.optimizer import make_optimizer

        optimizer = make_optimizer(network, learner)
    checkpoints.save_model(os.fspath(folder), network, env_config,
                           metadata or {"kind": "supervised"}, optimizer=optimizer)
    return network


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def assert_one_line_error(result, *words):
    """The command failed with status 2 and exactly one `error:` line holding every word."""
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    (line,) = error_lines(result)
    for word in words:
        assert word in line, line


def assert_only_error_line(result, *words):
    """As assert_one_line_error, and that line is all of stderr: nothing printed before it."""
    assert_one_line_error(result, *words)
    assert len(result.stderr.splitlines()) == 1, result.stderr[-2000:]


def rom_imported(game):
    try:
        retro.data.get_romfile_path(game, retro.data.Integrations.ALL)
        return True
    except FileNotFoundError:
        return False


def private_retro_data(folder, without_roms_of="-Atari2600-v0"):
    """A stable-retro data folder of the test's own (for RETRO_DATA_PATH): the installed one's
    files linked, but the ROMs of the games whose id ends with `without_roms_of`, so a test that
    imports those imports them here and leaves the machine's stable-retro as it was."""
    source = pathlib.Path(retro.data.path())
    folder = pathlib.Path(folder)
    for here, _, names in os.walk(source):
        relative = pathlib.Path(here).relative_to(source)
        (folder / relative).mkdir(parents=True, exist_ok=True)
        for name in names:
            rom = name.startswith("rom.") and name != "rom.sha"  # rom.sha: how it is known
            if not (relative.name.endswith(without_roms_of) and rom):
                (folder / relative / name).symlink_to(pathlib.Path(here) / name)
    return folder


@functools.cache
def game_without_rom():
    """A Genesis game stable-retro knows whose ROM is not imported here (the first by name), so
    missing-ROM messages are tested whatever a user has imported."""
    for game in sorted(retro.data.list_games(retro.data.Integrations.ALL)):
        if game.endswith("-Genesis-v0") and not rom_imported(game):
            return game
    raise RuntimeError("every Genesis ROM is imported here")
