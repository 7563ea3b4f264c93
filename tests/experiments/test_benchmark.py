"""The learning benchmark in its smoke configuration (every kind of stage, tiny budgets), its
resumption, and the bootstrap intervals its table reports."""

import json
import subprocess
import sys

import pytest

from tests.support import ROOT

sys.path.insert(0, str(ROOT / "experiments"))
import summarize  # noqa: E402


def test_bootstrap_interval_of_a_hand_computed_case():
    # The mean of 4 draws from [0, 0, 0, 10] is 2.5 k, k ~ Binomial(4, 1/4): P(k = 0) = 0.32,
    # so the 2.5th percentile is 0; P(k <= 2) = 0.949 and P(k <= 3) = 0.996, so the 97.5th is
    # 2.5 x 3 = 7.5.
    assert summarize.bootstrap([0, 0, 0, 10]) == pytest.approx([0.0, 7.5])
    # Means of 2 draws from [1, 3]: 1, 2, 3 with chances 1/4, 1/2, 1/4.
    assert summarize.bootstrap([1, 3]) == pytest.approx([1.0, 3.0])


def test_stratified_bootstrap_resamples_within_each_seed():
    # Each seed's episodes are alike, so no resample within seeds moves the pooled mean ...
    assert summarize.stratified_bootstrap([[0, 0], [1, 1]]) == pytest.approx([0.5, 0.5])
    # ... where resampling the pooled episodes would.
    low, high = summarize.bootstrap([0, 0, 1, 1])
    assert low == 0.0 and high == 1.0


def run_suite(out, results):
    return subprocess.run([sys.executable, str(ROOT / "experiments" / "benchmark.py"), str(out),
                           "--suite", "smoke", "--results", str(results)],
                          capture_output=True, text=True, cwd=ROOT, timeout=900)


@pytest.mark.slow
def test_smoke_suite_runs_every_stage_and_resumes_what_was_deleted(tmp_path):
    out, results = tmp_path / "runs", tmp_path / "results"
    first = run_suite(out, results)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    stages = sorted(path.parent for path in out.rglob("stage.json"))
    names = {str(path.relative_to(out)) for path in stages}
    assert names == {"random/evaluation", "clone_seed1", "clone_seed1/evaluation",
                     "finetune_seed1/parts/0", "finetune_seed1/parts/1",
                     "finetune_seed1/evaluation", "impala_seed1/parts/0",
                     "impala_seed1/parts/1", "impala_seed1/evaluation", "search_seed1"}

    # What the README's table is made from: one JSON per run, with curve and episodes.
    tuned = json.loads((results / "finetune_seed1.json").read_text())
    assert tuned["row"] == "finetune" and tuned["seed"] == 1
    assert tuned["training"]["frames"] == 1280 and tuned["training"]["parts"] == 2
    assert tuned["training"]["frames_per_second"] > 0
    assert len(tuned["curve"]["frames"]) == summarize.CURVE_POINTS
    assert tuned["evaluation"]["episode_seeds"] == [0]
    random = json.loads((results / "random.json").read_text())
    assert len(random["evaluation"]["return"]) == 1
    table = (results / "results.md").read_text()
    for label in ("random policy", "behaviour cloning", "IMPALA fine-tuned",
                  "IMPALA from scratch"):
        assert label in table
    assert (results / "airstriker_learners.png").stat().st_size > 0
    assert json.loads((results / "search.json").read_text())[0]["frames"] == 80
    assert "frames/s" in first.stdout

    # A run again does nothing; one part's output deleted: that part runs again from the
    # previous part's checkpoint, and what was made from it (the evaluation) with it.
    before = {path: path.stat().st_mtime_ns for path in out.rglob("stage.json")}
    part = out / "impala_seed1" / "parts" / "1"
    for path in part.iterdir():
        path.unlink()
    again = run_suite(out, results)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    rerun = {path for path, mtime in before.items()
             if not path.exists() or path.stat().st_mtime_ns != mtime}
    # The deleted part's record is written anew; of the rest, only the evaluation changed.
    assert rerun == {part / "stage.json", out / "impala_seed1" / "evaluation" / "stage.json"}
    assert (part / "stage.json").exists()
    assert "--resume" in json.loads((part / "stage.json").read_text())["command"]
    assert "impala_seed1/parts/1" in again.stdout and "clone_seed1:" not in again.stdout
    assert json.loads((results / "impala_seed1.json").read_text())["training"]["frames"] == 1280


def test_the_full_suite_has_every_row_for_its_seeds_and_the_regression_check_its_own():
    def listed(suite):
        result = subprocess.run([sys.executable, str(ROOT / "experiments" / "benchmark.py"),
                                 "/tmp/unused", "--suite", suite, "--dry_run"],
                                capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert result.returncode == 0, result.stderr
        return {line.split()[-1].split("/")[0] for line in result.stdout.splitlines()}

    runs = listed("full")
    for seed in (1, 2, 3):
        assert {f"clone_seed{seed}", f"finetune_seed{seed}", f"impala_seed{seed}",
                f"a2c_seed{seed}", f"ppo_seed{seed}", f"search_seed{seed}"} <= runs
    assert {"no_level_end_seed1", "no_cloned_critic_seed1", "no_demo_starts_seed1",
            "clone_no_critic_seed1", "lever_ppo_seed1", "lever_step_seed1",
            "lever_demo_starts_seed1", "random"} <= runs
    assert listed("regression") == {"random", "impala_seed1", "impala_seed2", "impala_seed3"}


def test_the_overlap_suite_pairs_each_ppo_seed_with_the_same_run_overlapped():
    import benchmark

    stages = {stage.name: stage for stage in benchmark.stages_of("overlap", ROOT.parent / "x")}
    for seed in (1, 2):
        plain = stages[f"ppo_seed{seed}/parts/0"].command
        overlapped = stages[f"ppo_overlap_seed{seed}/parts/0"].command
        assert "--overlap_rounds" not in plain
        assert [part for part in overlapped if part != "--overlap_rounds"] == [
            part.replace("ppo_seed", "ppo_overlap_seed") for part in plain]
    assert {name.split("/")[0] for name in stages} == {
        "random", "ppo_seed1", "ppo_overlap_seed1", "ppo_seed2", "ppo_overlap_seed2"}


def test_an_output_folder_inside_the_clone_is_refused():
    result = subprocess.run([sys.executable, str(ROOT / "experiments" / "benchmark.py"),
                             str(ROOT / "runs" / "x"), "--suite", "smoke"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2 and "outside" in result.stderr
    assert not (ROOT / "runs" / "x").exists()


def test_takeoff_is_the_end_of_the_first_window_of_long_episodes():
    import numpy as np
    import takeoff

    frames = np.arange(1, 9) * 100
    lengths = np.array([400, 500, 450, 1500, 1600, 300, 2000, 2000])
    assert takeoff.takeoff(frames, lengths, threshold=1000, window=2) == 500
    assert takeoff.takeoff(frames, lengths, threshold=1000, window=5) == 700
    assert takeoff.takeoff(frames, lengths, threshold=5000, window=2) is None
    assert takeoff.takeoff(frames[:1], lengths[:1], threshold=100, window=2) is None
