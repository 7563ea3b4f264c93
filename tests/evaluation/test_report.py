"""The evaluation report's statistics and table."""

import numpy as np
import pytest

from retro_rl.evaluation import report


def test_sonic_summary_counts_progress_and_completed_acts(capsys):
    rows = [{"return": r, "length": 10, "frames": 40, "x_progress": p, "level_complete": p == 1.0}
            for r, p in ((100.0, 0.25), (900.0, 1.0), (300.0, 0.5), (50.0, 0.1))]
    summary = report.summarize(rows, sonic=True)
    assert summary["completed_fraction"] == 0.25
    assert summary["x_progress"]["median"] == pytest.approx(0.375)
    assert summary["return"]["max"] == 900.0 and summary["return"]["min"] == 50.0
    assert summary["return"]["std"] == pytest.approx(np.std([100, 900, 300, 50]))

    rows = [dict(row, episode=i, seed=i, act="EmeraldHillZone.Act1") for i, row in enumerate(rows)]
    report.print_report({"policies": {"model": {"episodes": rows, "summary": summary}}})
    printed = capsys.readouterr().out
    assert "completed the act in 25% of episodes" in printed
    assert "x_progress" in printed and printed.count("EmeraldHillZone.Act1") == 4
