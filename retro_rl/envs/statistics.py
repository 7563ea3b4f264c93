"""Episode statistics, defined once: what an environment reports about each finished episode.

An episode's statistics are one map, name -> number. The environment makes it
(wrappers.EpisodeStatistics, in info[EPISODE_STATS] at the step that ends the episode); the
workers' reports carry it to the learner whole (rl/channels.py, rl/transport.py), the unrolls
hold it, and the learner charts every name in it (`charts/<name>`, or as CHARTS says). Nothing
between the environment and the chart knows a name, so a new statistic is one line where it is
measured, in a wrapper beneath EpisodeStatistics:

    statistics.measure(info, "coins", self.coins)

on any step (or reset) of an episode; the last value measured is the episode's.

Every episode reports (EpisodeStatistics): `return`, the sum of the game's unscaled rewards;
`length`, agent steps; `frames`, emulator frames; `level_complete`, 1 where the episode ended by
beating the level, else 0. Games add their own: Sonic's `x_progress` (SonicProgress), the
`rooms` a game of many rooms visited (RoomsVisited).

What a learner accepts (`check`): at most MAX_STATISTICS names, each letters, digits and _,
a letter first, at most MAX_NAME_LENGTH long; every value a finite number. A worker's report
is untrusted: one whose statistics break this is refused like any other malformed report.
"""

import math
import numbers
import re
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from retro_rl.envs.games import room_count

# The info key of the toolkit's episode statistics. Not "episode": Gymnasium's
# RecordEpisodeStatistics and SB3's Monitor write that key themselves, and the first refuses a
# wrapped environment that already has it.
EPISODE_STATS = "episode_stats"
# The info key under which wrappers beneath EpisodeStatistics leave what they measured
# (`measure`); EpisodeStatistics takes it out of info.
MEASURED = "episode_measured"

MAX_STATISTICS = 32
MAX_NAME_LENGTH = 32
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
REQUIRED = ("return", "length", "frames", "level_complete")


def measure(info, name, value):
    """Records statistic `name` of the episode so far in a step's (or reset's) info."""
    info.setdefault(MEASURED, {})[name] = value


class Chart(NamedTuple):
    """How the learner charts one statistic: each episode's `value(number)` under `tag`, and
    where `run_tag` is set, all the run's episodes together: their numbers folded by
    `combine(run's, episode's)`, then `value`, under `run_tag` (and in its console line as
    `run_label`)."""

    tag: str
    value: Callable[[float], float] = float
    run_tag: str | None = None
    combine: Callable[[float, float], float] | None = None
    run_label: str = ""


def _union(run_rooms, episode_rooms):
    return float(int(run_rooms) | int(episode_rooms))


# The statistics charted other than as `charts/<name>` (tags that published curves and
# experiments/ read).
CHARTS = {
    "return": Chart("charts/episodic_return"),
    "length": Chart("charts/episodic_length"),
    "frames": Chart("charts/episodic_frames"),
    "rooms": Chart("charts/rooms_visited", room_count, "charts/rooms_visited_run", _union,
                   "rooms"),
}


def chart(name):
    """How the learner charts statistic `name`."""
    return CHARTS.get(name) or Chart(f"charts/{name}")


def _is_number(value):
    return isinstance(value, (numbers.Real, np.bool_)) and not isinstance(value, str)


def check(statistics):
    """Raises ValueError naming the first way `statistics` is not an episode's statistics (the
    module docstring): too many, a bad name, a value that is not a finite number, a required
    one missing, a length under 1 or negative frames."""
    if not isinstance(statistics, dict):
        raise ValueError(f"episode statistics must be a map, not {type(statistics).__name__}")
    if len(statistics) > MAX_STATISTICS:
        raise ValueError(f"{len(statistics)} episode statistics, more than {MAX_STATISTICS}")
    for name, value in statistics.items():
        if not isinstance(name, str):
            raise ValueError(f"an episode statistic's name is a {type(name).__name__}")
        if len(name) > MAX_NAME_LENGTH or not NAME.fullmatch(name):
            raise ValueError(f"episode statistic {name[:MAX_NAME_LENGTH + 8]!r}: a name is "
                             f"letters, digits and _, a letter first, at most "
                             f"{MAX_NAME_LENGTH} long")
        if not _is_number(value) or not math.isfinite(value):
            shown = repr(value)[:40] if _is_number(value) else type(value).__name__
            raise ValueError(f"episode statistic {name} is {shown}, not a finite number")
    missing = [name for name in REQUIRED if name not in statistics]
    if missing:
        raise ValueError(f"episode statistics without {', '.join(missing)}")
    if statistics["length"] < 1 or statistics["frames"] < 0:
        raise ValueError(f"an episode of length {statistics['length']:g} and "
                         f"{statistics['frames']:g} frames")


def as_numbers(statistics):
    """An environment's info[EPISODE_STATS] -> the map a worker reports: checked, every value
    a float. Raises ValueError where `check` does."""
    check(statistics)
    return {name: float(value) for name, value in statistics.items()}
