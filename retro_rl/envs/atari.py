"""Atari 2600 games without a purchase: ale-py's wheel ships ROMs, and 32 of them are ones
stable-retro has integrations for (Pong, Breakout, Seaquest, MontezumaRevenge, Qbert ...).

    python -m retro_rl.envs.atari          # imports them into stable-retro's data

It runs stable-retro's own importer on ale-py's ROM folder, which keeps the ROMs whose SHA-1 it
knows, and lists the Atari games that are then playable.
"""

import os
import subprocess
import sys

import stable_retro as retro

from retro_rl import cli
from retro_rl.errors import UserError


def ale_roms_folder():
    """ale-py's folder of ROMs; UserError saying how to install it when it is not there."""
    try:
        import ale_py
    except ImportError:
        raise UserError("ale-py is not installed; pip install -r requirements.txt") from None
    folder = os.path.join(os.path.dirname(ale_py.__file__), "roms")
    if not os.path.isdir(folder):
        raise UserError(f"ale-py has no ROM folder at {folder}; reinstall ale-py")
    return folder


def playable_atari_games():
    """The stable-retro Atari 2600 games whose ROM is imported."""
    games = []
    for game in retro.data.list_games(retro.data.Integrations.ALL):
        if game.endswith("-Atari2600-v0"):
            try:
                retro.data.get_romfile_path(game, retro.data.Integrations.ALL)
                games.append(game)
            except FileNotFoundError:
                pass
    return sorted(games)


def import_atari_roms():
    """Imports ale-py's ROMs with `python -m stable_retro.import`; returns the playable games."""
    result = subprocess.run([sys.executable, "-m", "stable_retro.import", ale_roms_folder()],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise UserError(f"stable-retro's importer failed: {result.stderr.strip()[-300:]}")
    return playable_atari_games()


def main():
    cli.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    games = import_atari_roms()
    print(f"{len(games)} Atari 2600 games playable: {', '.join(games)}")
    return 0


if __name__ == "__main__":
    cli.run(main)
