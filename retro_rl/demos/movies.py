"""Reading .bk2 movies: their game, start state and buttons, without the ROM.

A .bk2 is a zip archive with Header.txt (the game's name), Input Log.txt (the buttons held on
each frame) and Core.bin (the emulator state it starts from). stable-retro's `retro.Movie` reads
it; keys are read by button index, never by the log's column order.
"""

import functools
import os
import pathlib
import tempfile
import zipfile
import zlib
from typing import NamedTuple

import numpy as np
import stable_retro as retro

from retro_rl.envs import games
from retro_rl.envs.actions import BUTTONS, PLATFORM_BUTTONS
from retro_rl.errors import UserError


class MovieInputs(NamedTuple):
    """What a .bk2 holds, read without the ROM."""

    path: pathlib.Path
    game: str  # stable-retro 1.0.1's id (legacy ids resolved)
    state: str | None  # start state's name, from the file name; None when it does not say
    start_state: bytes  # emulator state the movie starts from
    pads: np.ndarray  # uint8 [F, buttons]: buttons held on each of the F frames, the platform's
    # order (actions.PLATFORM_BUTTONS)


_resolve_game = functools.cache(games.resolve_game)  # it scans every game: 40 ms a call


def read_movie(path):
    """Reads a movie's game, start state and buttons; raises UserError('<path>: <reason>')."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":
        raise UserError(f"{path}: not a .bk2 movie (not a zip archive)")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            broken = archive.testzip()
            members = {name: archive.read(name) for name in names} if broken is None else {}
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error):
        raise UserError(f"{path}: truncated or corrupt zip archive; copy or record it "
                        "again") from None
    if broken is not None:
        raise UserError(f"{path}: corrupt zip archive ({broken} fails its checksum)")
    if "Input Log.txt" not in names:
        raise UserError(f"{path}: not a .bk2 movie (no Input Log.txt inside)")
    # stable-retro reads the archive anew: from a copy written from what zipfile checked, since a
    # damaged byte that zipfile's checks pass (deflate padding) can make its reader loop for ever.
    with tempfile.TemporaryDirectory() as folder:
        copy = os.path.join(folder, "movie.bk2")
        with zipfile.ZipFile(copy, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        try:
            movie = retro.Movie(copy)
        except RuntimeError:
            raise UserError(f"{path}: stable-retro cannot load this movie") from None
        header_game = movie.get_game()
        buttons = len(PLATFORM_BUTTONS.get(games.platform(header_game), BUTTONS))
        # The first movie step is the reset frame (stable-retro records the released pad
        # there); the frames the player controlled follow it.
        has_frames = movie.step()
        start_state = movie.get_state()
        pads = []
        while movie.step():
            pads.append([movie.get_key(button, 0) for button in range(buttons)])
        del movie
    if not has_frames or not pads:
        raise UserError(f"{path}: the movie has zero frames")
    if not start_state:
        raise UserError(f"{path}: the movie has no start state (Core.bin); it cannot be replayed")
    try:
        game = _resolve_game(header_game)
    except UserError as error:
        raise UserError(f"{path}: {error}") from None
    return MovieInputs(path, game, _state_name(path.stem, (header_game, game)), start_state,
                       np.array(pads, np.uint8))


def _state_name(stem, game_ids):
    """'Airstriker-Genesis-v0-Level1-000000' -> 'Level1' (stable-retro's recording names)."""
    for game in game_ids:
        if stem.startswith(game + "-"):
            state, _, number = stem[len(game) + 1:].rpartition("-")
            return state if state and number.isdigit() else None
    return None


def header_game(path):
    """The GameName in a .bk2's Header.txt, read without replaying anything; None when the file
    is unreadable (whoever reads it in full reports why)."""
    try:
        with zipfile.ZipFile(path) as archive:
            header = archive.read("Header.txt").decode("utf-8", "replace")
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, zlib.error):
        return None
    for line in header.splitlines():
        key, _, value = line.partition(" ")
        if key == "GameName" and value.strip():
            return value.strip()
    return None


def replay_game(replay_paths):
    """The game of the first movie under `replay_paths` whose header reads, resolved; None when
    no header reads."""
    for path in find_movies(replay_paths)[0]:
        game = header_game(path)
        if game is not None:
            try:
                return _resolve_game(game)
            except UserError:
                continue
    return None


def check_movie_rom(path, game):
    """Raises UserError naming the movie, its game and the import command when the ROM of
    `game` (the movie's) is not imported."""
    try:
        games.check_rom(_resolve_game(game))
    except UserError as error:
        raise UserError(f"{path} is a {game} movie, but {error}") from None


def find_movies(replay_paths):
    """Files and folders (searched recursively for *.bk2) -> (movie paths, [(path, reason)])."""
    if isinstance(replay_paths, (str, os.PathLike)):
        replay_paths = [replay_paths]
    movies, problems = [], []
    for replay_path in map(pathlib.Path, replay_paths):
        if replay_path.is_dir():
            found = sorted(replay_path.rglob("*.bk2"))
            if not found:
                problems.append((replay_path, "folder holds no .bk2 movies"))
            movies.extend(found)
        elif replay_path.exists():
            movies.append(replay_path)
        else:
            problems.append((replay_path, "no such file or folder"))
    return movies, problems


def find_some_movies(replay_paths):
    """find_movies, but finding none at all is one UserError."""
    movies, problems = find_movies(replay_paths)
    if not movies:
        raise UserError("; ".join(f"{path}: {reason}" for path, reason in problems))
    return movies, problems


def check_movies(replay_paths):
    """One clear line for the usual mistakes, before any emulator starts: no movies there, or
    movies of a game whose ROM is not imported. Reads only the movies' headers."""
    movies, problems = find_movies(replay_paths)
    if not movies:
        path, reason = problems[0]
        raise UserError(f"{path}: {reason}; record demonstrations with "
                        "record_demonstrations.py or point --replay_path at .bk2 movies")
    for movie in movies:
        game = header_game(movie)
        if game is not None:  # an unreadable movie is reported by the parser, the rest go on
            check_movie_rom(movie, game)
