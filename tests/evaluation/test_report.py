"""The evaluation report's statistics and table."""

import numpy as np
import pytest

from retro_rl.evaluation import report


def test_a_games_own_statistics_are_summarized_without_the_report_knowing_them(capsys):
    """Sonic's x_progress and the rooms bitmask of a game of many rooms reach the rows, the
    summary and the table through envs/statistics.py alone."""
    measured = [{"return": r, "length": 10, "frames": 40, "level_complete": float(p == 1.0),
                 "x_progress": p, "rooms": float(rooms)}
                for r, p, rooms in ((100.0, 0.25, 0b10), (900.0, 1.0, 0b110),
                                    (300.0, 0.5, 0b10), (50.0, 0.1, 1 << 40 | 1))]
    rows = [report.episode_row(i, i, "EmeraldHillZone.Act1", stats, None)
            for i, stats in enumerate(measured)]
    assert rows[1]["rooms"] == 2 and rows[1]["statistics"]["rooms"] == 0b110
    summary = report.summarize(rows)
    assert summary["completed_fraction"] == 0.25
    assert summary["x_progress"]["median"] == pytest.approx(0.375)
    assert summary["return"]["max"] == 900.0 and summary["return"]["min"] == 50.0
    assert summary["return"]["std"] == pytest.approx(np.std([100, 900, 300, 50]))
    assert summary["rooms"]["max"] == 2 and summary["rooms_run"] == 4  # rooms 1, 2, 40 and 0
    assert "x_progress_run" not in summary  # progress has no run total

    report.print_report({"policies": {"model": {"episodes": rows, "summary": summary}}})
    printed = capsys.readouterr().out
    assert "completed the level in 25% of episodes" in printed
    assert "rooms in all its episodes together: 4" in printed
    assert "x_progress" in printed and printed.count("EmeraldHillZone.Act1") == 4


def test_a_game_without_statistics_of_its_own_has_the_common_ones_alone():
    row = report.episode_row(0, 7, "Level1", {"return": 5.0, "length": 3, "frames": 12,
                                              "level_complete": 0.0}, None)
    assert set(row) == {"episode", "seed", "act", "return", "length", "frames",
                        "level_complete"}
    assert set(report.summarize([row])) == {"return", "length", "frames", "completed_fraction"}
