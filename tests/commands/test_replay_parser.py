"""replay_parser.py --stats on the real human Sonic 2 movies (inputs only: no ROM needed)."""

from tests.support import SHARED, run_command

SONIC2_README = SHARED / "retro-movies" / "README.md"


def run_cli(*args, **kwargs):
    return run_command("replay_parser.py", *args, **kwargs)


def test_stats_on_the_real_sonic2_movies(sonic2_movies):
    result = run_cli("--replay_path", sonic2_movies[0].parent, "--stats")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    readme = SONIC2_README.read_text()
    # The README counts movie steps (its numbers include the first, reset, step).
    for act, steps in [("EmeraldHillZone.Act1", "4,583"), ("EmeraldHillZone.Act2", "9,553"),
                       ("MetropolisZone.Act3", "19,835"), ("WingFortressZone", "18,449"),
                       ("AquaticRuinZone.Act1", "4,484")]:
        assert f"{act} {steps}" in readme
        row = rows[f"SonicTheHedgehog2-Genesis-{act}-0000"]
        assert int(row[1]) == int(steps.replace(",", "")) == int(row[2]) + 1
        assert row[5] == f"{1 - int(row[4]) / int(row[2]):.2%}"  # exact = not projected
    assert len([name for name in rows if name.startswith("SonicTheHedgehog2-Genesis-")]) == 18
    total = rows["total:"]
    assert total[3:] == ["187293", "187275", "27", "542", f"{1 - 542 / 187275:.2%}"]
    assert rows["UP+LEFT"] == ["UP+LEFT", "198", "LEFT"]
    assert rows["RIGHT+X"] == ["RIGHT+X", "13", "RIGHT"]
