"""The learning benchmark: a fixed suite of runs on Airstriker, in stages measured in frames,
each resumable, whose small results are committed and turned into the README's table.

    python experiments/benchmark.py /work/runs/airstriker                 # the full suite
    python experiments/benchmark.py /work/runs/regression --suite regression
    python experiments/benchmark.py /tmp/smoke --suite smoke --results /tmp/smoke/results

Suites (stages/ lists them with --dry_run):
  full        the clone (behaviour cloning, value head fitted to the demonstrations' returns),
              IMPALA fine-tuned from it (level end, cloned critic, demonstration starts), and
              IMPALA, A2C and PPO from scratch, each for seeds 1-3 and --frames frames; each of
              the three changes taken back alone (seed 1, the same frames); the random policy;
              the search demonstrator at 8x its default budget (seeds 1-3: the best known score).
              Every policy plays the same --episodes episodes (seeds 0.., 4,500-step limit).
  regression  IMPALA from scratch, 600,000 frames, seeds 1-3: each seed's final mean actors'
              return against random. Run it before a change to the learner, the workers or the
              environment lands.
  overlap     PPO from scratch (128-step unrolls) with and without --overlap_rounds, 400,000
              frames, seeds 1-2: whether letting the workers play on through the update (a
              policy lag of at most one update) learns as well at the same frames.
  smoke       one run of each kind with tiny budgets (the test suite runs it): the random
              policy, a clone, a fine-tuning and a from-scratch run in two parts each, a search.

Runs are measured in frames, not minutes: other work on the machine changes how long they take,
not what they learn. A reinforcement-learning run is cut into parts of at most --stage_frames
frames (each ~30 minutes or less on two cores); a part resumes the run from the previous part's
final checkpoint. A finished stage (its stage.json is there) is skipped; a stage that was cut
off starts again from where its previous part ended. Everything a stage writes (models, logs,
TensorBoard) stays in OUT/<stage>/; the small results, one JSON per run with its curve and its
evaluation episodes, go to --results (experiments/results/<suite>/ by default), where
experiments/summarize.py makes the tables and plots from them.
"""

import argparse
import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import summarize  # beside this file

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEMOS = ROOT / "demos" / "Airstriker-Genesis-v0"
STAGE_FILE = "stage.json"
EVALUATION_MAX_STEPS = 4500
SEARCH_BUDGET = 8  # x the search demonstrator's default candidates per decision


@dataclasses.dataclass(frozen=True)
class Budget:
    """The sizes one suite runs at."""

    frames: int  # per reinforcement-learning run
    stage_frames: int  # per part of a run
    episodes: int  # evaluation episodes per policy
    seeds: tuple
    envs: int = 8
    sl_steps: int | None = None  # None: run_supervised_learning.py's default
    max_steps: int = EVALUATION_MAX_STEPS
    search_frames: int | None = None  # None: the demonstrator's default (a whole level)
    search_candidates: int = 8 * SEARCH_BUDGET
    demo_starts: str = str(DEMOS)  # a folder of movies or one movie
    runs: tuple | None = None  # only these runs (None: the whole suite)


SUITES = {
    "full": Budget(frames=600_000, stage_frames=600_000, episodes=30, seeds=(1, 2, 3)),
    "regression": Budget(frames=600_000, stage_frames=600_000, episodes=30, seeds=(1, 2, 3)),
    "overlap": Budget(frames=400_000, stage_frames=400_000, episodes=20, seeds=(1, 2)),
    "smoke": Budget(frames=1_280, stage_frames=640, episodes=1, seeds=(1,), envs=2, sl_steps=4,
                    max_steps=40, search_frames=80, search_candidates=2,
                    demo_starts=str(DEMOS / "Airstriker-Genesis-v0-Level1-0000.bk2"),
                    # One run of each kind of stage: the other runs are the same stages with
                    # other learner flags (`--dry_run` lists them all).
                    runs=("random", "clone_seed1", "finetune_seed1", "impala_seed1",
                          "search_seed1")),
}


# What might make fine-tuning beat the clone, each a row of its own (see summarize.ROWS).
LEVERS = {
    # A 10x larger step held by a weaker anchor.
    "lever_step": ("--learning_rate", "1e-4", "--value_learning_rate", "1e-4",
                   "--kl_cost", "0.3"),
    # Nine episodes in ten start along the demonstrations (the default: one in two).
    "lever_demo_starts": ("--demo_start_fraction", "0.9"),
    # (last: PPO plays about half as many frames a second)
    # A trust region (PPO's clipped ratio) in place of the KL anchor, at a 10x larger step.
    "lever_ppo": ("--algorithm", "ppo", "--unroll_length", "128", "--kl_cost", "0",
                  "--learning_rate", "1e-4", "--value_learning_rate", "1e-4"),
}
PPO_FLAGS = ("--algorithm", "ppo", "--unroll_length", "128")  # the ppo row's learner
# Seed 1: lever_ppo 807 [731, 890], the level in 15 of 30; the clone 754, in 1 of 30.
LEVERS_AT_EVERY_SEED = ("lever_ppo",)


@dataclasses.dataclass(frozen=True)
class Stage:
    """One resumable step: `command` runs in ROOT with OUT/<name>/ as its folder."""

    name: str
    kind: str  # clone, reinforce, evaluate, random, search
    row: str  # the table row its result belongs to
    seed: int
    command: tuple
    frames: int = 0  # the run's frames at the end of this part (reinforce)
    part: int = 0
    workspace: str = ""  # the reinforce run, evaluated model's workspace (evaluate)


def python():
    return sys.executable


def clone_stage(out, name, row, seed, budget, *flags):
    workspace = out / name
    command = [python(), "run_supervised_learning.py", "--workspace_path", str(workspace),
               "--seed", str(seed), "--dataset_path", str(out / "datasets" / "airstriker")]
    if budget.sl_steps:
        command += ["--training_steps", str(budget.sl_steps), "--save_every",
                    str(budget.sl_steps), "--eval_every", str(budget.sl_steps)]
    return Stage(name, "clone", row, seed, tuple(command + list(flags)), workspace=str(workspace))


def reinforce_stages(out, name, row, seed, budget, pretrained, *flags):
    """The parts of one run; each part's stage.json sits in OUT/<name>/parts/<part>/."""
    workspace = out / name
    stages, end, part = [], 0, 0
    while end < budget.frames:
        end = min(budget.frames, end + budget.stage_frames)
        command = ["./run_reinforcement_learning.sh", str(budget.envs), "0", pretrained,
                   "--workspace_path", str(workspace), "--bind", "127.0.0.1:0", "--seed",
                   str(seed), "--total_frames", str(end), "--run_name", f"part{part}",
                   *flags]
        stages.append(Stage(f"{name}/parts/{part}", "reinforce", row, seed, tuple(command),
                            frames=end, part=part, workspace=str(workspace)))
        part += 1
    return stages


def evaluate_stage(out, name, row, seed, budget, workspace):
    """Plays the newest model of `workspace` (chosen when the stage runs)."""
    command = [python(), "run_evaluation.py", "--workspace_path", str(workspace),
               "--episodes", str(budget.episodes), "--max_steps", str(budget.max_steps),
               "--seed", "0"]
    return Stage(f"{name}/evaluation", "evaluate", row, seed, tuple(command),
                 workspace=str(workspace))


def stages_of(suite, out):
    """Every stage of a suite in the order they run: what the targets need first."""
    budget = SUITES[suite]
    demo_starts = ("--demo_starts", budget.demo_starts)
    stages = []

    def run(name, row, seed, pretrained, *flags):
        stages.extend(reinforce_stages(out, name, row, seed, budget, pretrained, *flags))
        stages.append(evaluate_stage(out, name, row, seed, budget, out / name))

    random_eval = [python(), "run_evaluation.py", "--workspace_path", str(out / "random"),
                   "--baseline", "random", "--episodes", str(budget.episodes), "--max_steps",
                   str(budget.max_steps), "--seed", "0"]
    stages.append(Stage("random/evaluation", "random", "random", 0, tuple(random_eval),
                        workspace=str(out / "random")))
    if suite == "regression":
        for seed in budget.seeds:
            run(f"impala_seed{seed}", "impala", seed, "none")
        return stages
    if suite == "overlap":
        for seed in budget.seeds:
            run(f"ppo_seed{seed}", "ppo", seed, "none", *PPO_FLAGS)
            run(f"ppo_overlap_seed{seed}", "ppo_overlap", seed, "none", *PPO_FLAGS,
                "--overlap_rounds")
        return stages
    for seed in budget.seeds:  # seed by seed: a suite cut short still holds whole seeds
        clone = f"clone_seed{seed}"
        stages.append(clone_stage(out, clone, "clone", seed, budget))
        stages.append(evaluate_stage(out, clone, "clone", seed, budget, out / clone))
        run(f"finetune_seed{seed}", "finetune", seed, clone_model(out / clone), *demo_starts)
        run(f"impala_seed{seed}", "impala", seed, "none")
        # Levers of fine-tuning, each alone against the defaults at the first seed (the same
        # frames); those that beat the clone there, at every seed.
        for lever, flags in LEVERS.items():
            if seed == budget.seeds[0] or lever in LEVERS_AT_EVERY_SEED:
                run(f"{lever}_seed{seed}", lever, seed, clone_model(out / clone),
                    *demo_starts, *flags)
    first = budget.seeds[0]
    clone = clone_model(out / f"clone_seed{first}")
    run(f"no_level_end_seed{first}", "no_level_end", first, clone, *demo_starts,
        "--no-level_end", "--stall_steps", "0")
    stages.append(clone_stage(out, f"clone_no_critic_seed{first}", "clone_no_critic", first,
                              budget, "--value_cost", "0"))
    run(f"no_cloned_critic_seed{first}", "no_cloned_critic", first,
        clone_model(out / f"clone_no_critic_seed{first}"), *demo_starts)
    run(f"no_demo_starts_seed{first}", "no_demo_starts", first, clone)
    for seed in budget.seeds:
        run(f"a2c_seed{seed}", "a2c", seed, "none", "--preset", "a2c_sonic")
    for seed in budget.seeds:
        run(f"ppo_seed{seed}", "ppo", seed, "none", *PPO_FLAGS)
    for seed in budget.seeds:
        folder = out / f"search_seed{seed}"
        command = [python(), "record_demonstrations.py", "--output", str(folder), "--movies",
                   "1", "--seed", str(seed), "--candidates", str(budget.search_candidates),
                   "--baseline_episodes", "0"]
        if budget.search_frames:
            command += ["--frames", str(budget.search_frames)]
        stages.append(Stage(f"search_seed{seed}", "search", "search", seed, tuple(command),
                            workspace=str(folder)))
    if budget.runs is not None:
        stages = [stage for stage in stages if stage.name.split("/")[0] in budget.runs]
    return stages


def clone_model(workspace):
    """The clone's final model folder: the newest supervised_model_<step> (found at run time)."""
    return str(workspace / "model" / "newest")


def newest_model(workspace, prefix):
    found = [path for path in (pathlib.Path(workspace) / "model").glob(f"{prefix}*")
             if path.name[len(prefix):].isdigit()]
    if not found:
        raise RuntimeError(f"no {prefix}<number> model in {workspace}/model")
    return max(found, key=lambda path: int(path.name[len(prefix):]))


def resolved(command):
    """The command with each '<clone workspace>/model/newest' replaced by that clone's model."""
    return [str(newest_model(pathlib.Path(part).parent.parent, "supervised_model_"))
            if part.endswith("/model/newest") else part for part in command]


def checkpoint_frames(folder):
    with open(folder / "config.json") as f:
        return json.load(f)["frames"]


def prepare_reinforce(stage, out):
    """Where a part starts: part 0 from nothing; a later part from the previous part's end (a
    cut-off part's checkpoints and TensorBoard run are removed first)."""
    workspace = pathlib.Path(stage.workspace)
    command = list(stage.command)
    if stage.part == 0:
        shutil.rmtree(workspace, ignore_errors=True)
        return command
    previous = json.loads((out / stage.name.rsplit("/", 1)[0] / str(stage.part - 1) /
                           STAGE_FILE).read_text())
    for folder in (workspace / "model").glob("reinforcement_model_*"):
        if checkpoint_frames(folder) > previous["frames"]:
            shutil.rmtree(folder)
    shutil.rmtree(workspace / "tensorboard" / f"part{stage.part}", ignore_errors=True)
    # A resumed run takes its pretrained model from its checkpoint.
    return command + ["--resume"]


def run_stage(stage, out, log):
    """Runs one stage; returns its record (also written to OUT/<stage>/stage.json)."""
    folder = out / stage.name
    command = resolved(stage.command)
    if stage.kind == "reinforce":
        command = prepare_reinforce(stage, out)
        command = resolved(command)
    elif stage.kind == "evaluate":
        shutil.rmtree(pathlib.Path(stage.workspace) / "results", ignore_errors=True)
        prefix = "supervised_model_" if stage.row.startswith("clone") \
            else "reinforcement_model_"
        command += ["--model_name", newest_model(stage.workspace, prefix).name]
    elif stage.kind in ("clone", "random", "search"):
        shutil.rmtree(stage.workspace, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"\n=== {time.strftime('%H:%M:%S')} {stage.name}: {' '.join(command)}", file=log,
          flush=True)
    started = time.monotonic()
    with open(folder / "output.log", "w") as output:
        status = subprocess.run(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"}).returncode
    seconds = time.monotonic() - started
    if status != 0:
        tail = (folder / "output.log").read_text(errors="replace").strip().splitlines()[-3:]
        raise SystemExit(f"error: stage {stage.name} failed with exit status {status}: "
                         f"{' / '.join(tail)} (its log: {folder / 'output.log'}); run the same "
                         "command again to retry it")
    record = {"name": stage.name, "kind": stage.kind, "row": stage.row, "seed": stage.seed,
              "seconds": round(seconds, 1), "command": command}
    if stage.kind == "reinforce":
        newest = newest_model(stage.workspace, "reinforcement_model_")
        started_at = 0 if stage.part == 0 else json.loads(
            (out / stage.name.rsplit("/", 1)[0] / str(stage.part - 1) / STAGE_FILE
             ).read_text())["frames"]
        record["frames"] = checkpoint_frames(newest)
        record["frames_per_second"] = round((record["frames"] - started_at) / seconds, 1)
    (folder / STAGE_FILE).write_text(json.dumps(record, indent=1))
    line = f"    {stage.name}: {seconds / 60:.1f} min"
    if "frames" in record:
        line += f", {record['frames']:,} frames, {record['frames_per_second']:,.0f} frames/s"
    print(line, file=log, flush=True)
    return record


def check_budget(stages, out):
    """A finished part of another length would mix two budgets in one folder."""
    for stage in stages:
        path = out / stage.name / STAGE_FILE
        if stage.kind == "reinforce" and path.exists():
            done = json.loads(path.read_text())["frames"]
            if done < stage.frames:
                raise SystemExit(f"error: {path.parent} ran to {done:,} frames, this suite's "
                                 f"part ends at {stage.frames:,}: give another output folder")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("out", help="folder for the runs, outside the clone; the same folder "
                                    "continues them")
    parser.add_argument("--suite", choices=sorted(SUITES), default="full")
    parser.add_argument("--results", default=None,
                        help="folder of the small results (default: experiments/results/<suite>)")
    parser.add_argument("--only", nargs="+", default=None,
                        help="run only the stages whose names start with one of these")
    parser.add_argument("--dry_run", action="store_true", help="list the stages and stop")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out).resolve()
    results = pathlib.Path(args.results or ROOT / "experiments" / "results" / args.suite)
    if out == ROOT or ROOT in out.parents:
        parser.error(f"{out} is inside the clone: give a folder outside it")
    stages = stages_of(args.suite, out)
    if args.only:
        stages = [s for s in stages if s.name.startswith(tuple(args.only))]
    if args.dry_run:
        for stage in stages:
            done = (out / stage.name / STAGE_FILE).exists()
            print(f"{'done' if done else '    '}  {stage.name}")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    check_budget(stages, out)
    for index, stage in enumerate(stages):
        if (out / stage.name / STAGE_FILE).exists():
            continue
        run_stage(stage, out, sys.stdout)
        for later in stages[index + 1:]:  # what was made from this stage's old output
            if later.workspace == stage.workspace:
                (out / later.name / STAGE_FILE).unlink(missing_ok=True)
        if stage.kind in ("evaluate", "random", "search"):  # committed as each one ends
            summarize.collect(out, results, args.suite)
    summarize.collect(out, results, args.suite)
    summarize.summarize(results)
    if args.suite == "regression":
        summarize.regression(results)
    print(f"results in {results}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
