"""Shared test settings: a small TensorFlow footprint, no real display, the real Sonic 2 movies
where they are, and the `rom` marker's skip."""

import logging
import os

import pytest

from tests.support import SHARED, SONIC2, rom_imported

# Tests share two cores with the emulator; keep TensorFlow to one thread each way, quiet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "2")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

SONIC2_MOVIES = SHARED / "retro-movies" / "SonicTheHedgehog2-Genesis"


def pytest_collection_modifyitems(items):
    """`rom` tests need the Sonic 2 ROM, which a user imports; elsewhere they skip, saying so."""
    if rom_imported(SONIC2):
        return
    skip = pytest.mark.skip(reason=f"needs the {SONIC2} ROM (python -m stable_retro.import DIR)")
    for item in items:
        if "rom" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def sonic2_movies():
    """The 18 human Sonic 2 movies beside the project; skips where they are absent."""
    movies = sorted(SONIC2_MOVIES.glob("*.bk2"))
    if not movies:
        pytest.skip(f"the real Sonic 2 movies are not at {SONIC2_MOVIES}")
    return movies


@pytest.fixture
def root_handlers():
    """Puts back the root logger's handlers (and level) that logs.setup replaces."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    yield
    for handler in root.handlers[:]:
        root.removeHandler(handler)
        handler.close()
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)
