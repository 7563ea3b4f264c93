"""Shared test settings: where the real Sonic 2 movies live, and a small TensorFlow footprint."""

import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Tests share two cores with the emulator; keep TensorFlow to one thread each way, quiet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "2")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

SONIC2_MOVIES = ROOT.parent / "shared" / "retro-movies" / "SonicTheHedgehog2-Genesis"


@pytest.fixture
def sonic2_movies():
    """The 18 human Sonic 2 movies beside the project; skips where they are absent."""
    movies = sorted(SONIC2_MOVIES.glob("*.bk2"))
    if not movies:
        pytest.skip(f"the real Sonic 2 movies are not at {SONIC2_MOVIES}")
    return movies
