"""IMPALA end to end on Airstriker: the launcher, and learner and actors as separate programs
surviving the order they start in, an actor's death and the learner's SIGTERM."""

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys

import pytest
import tensorflow as tf

from retro_rl.envs import EnvConfig, games
from retro_rl.model import checkpoints, folders
from retro_rl.rl.config import PRESETS, LearnerConfig
from tests.support import ROOT, free_port, save_tiny_model, wait_for

SMALL_RUN = ["--unroll_length", "10", "--batch_size", "2", "--bind", "127.0.0.1:0"]


@contextlib.contextmanager
def processes():
    """Starts processes in their own sessions; kills each one's whole group on the way out."""
    started = []

    def start(command, log_path):
        with open(log_path, "w") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True, cwd=ROOT)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def checkpoint_update(workspace):
    folder = folders.newest_checkpoint(str(workspace), folders.REINFORCEMENT_PREFIX)
    return int(folder.rsplit("_", 1)[1]) if folder else -1


def tensorboard_tags(workspace):
    tags = set()
    for root, _, files in os.walk(workspace / "tensorboard"):
        for name in files:
            for event in tf.compat.v1.train.summary_iterator(os.path.join(root, name)):
                tags.update(value.tag for value in event.summary.value)
    return tags


# a2c runs end to end in tests/commands/test_atari_pipeline.py.
ALGORITHM_RUNS = {
    "impala": ([], {"vtrace/explained_variance"}),
    # The preset's 128-step unrolls give way to the flag beside it.
    "ppo": (["--preset", "ppo_rnd"], {"gae/explained_variance", "ppo/approx_kl",
                                      "ppo/clip_fraction", "rnd/intrinsic_reward",
                                      "rnd/predictor_loss"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", sorted(ALGORITHM_RUNS))
def test_launcher_trains_from_scratch_and_saves_a_model_evaluation_loads(tmp_path, algorithm):
    flags, charts = ALGORITHM_RUNS[algorithm]
    with processes() as start:
        launcher = start([str(ROOT / "run_reinforcement_learning.sh"), "2", "0", "none",
                          "--total_frames", "1600", "--workspace_path", str(tmp_path),
                          *SMALL_RUN, *flags], tmp_path / "launcher.out")
        status = launcher.wait(timeout=300)
        output = (tmp_path / "launcher.out").read_text()
        assert status == 0, output
    # 1,600 frames = 20 updates of 2 unrolls x 10 steps x frame skip 4.
    assert "done: 20 updates, 1600 frames" in output
    folder = tmp_path / "model" / "reinforcement_model_20"
    network, env_config, config = checkpoints.load_model(str(folder))
    assert (config["kind"], config["update"], config["frames"]) == ("reinforcement", 20, 1600)
    assert config["pretrained"] is None
    assert (config["learner"]["algorithm"], config["learner"]["unroll_length"]) == (algorithm, 10)
    # From scratch on the default game: its training defaults, saved with the model.
    assert env_config == EnvConfig(state=None, **games.TRAINING_DEFAULTS[games.DEFAULT_GAME])
    assert network.observation_shape == (84, 84, 3)
    assert {"losses/policy", "losses/value", "losses/entropy", "charts/fps",
            "charts/policy_lag", "settings"} | charts <= tensorboard_tags(tmp_path)
    assert (folder / folders.RND_FILE).is_file() == (algorithm == "ppo")
    assert (network.intrinsic_value_head is not None) == (algorithm == "ppo")
    if algorithm != "impala":  # synchronous: every update's unrolls come from its weights
        lags = [line.split("| lag ")[1].split()[0] for line in output.splitlines()
                if "| lag " in line]
        assert lags and set(lags) == {"0.0"}, output
    for actor_id in (0, 1):
        log = (tmp_path / "logs" / f"actor_{actor_id}.log").read_text()
        assert "the learner says the run is over" in log, log
    assert "listening on" in (tmp_path / "logs" / "learner.log").read_text()

    evaluation = subprocess.run(
        [sys.executable, str(ROOT / "run_evaluation.py"), "--workspace_path", str(tmp_path),
         "--model_name", "reinforcement_model_20", "--episodes", "1", "--max_steps", "30"],
        capture_output=True, text=True, timeout=180)
    assert evaluation.returncode == 0, evaluation.stderr


def bound_port(workspace):
    """The port the learner says it listens on (the first time in this workspace), or None."""
    for line in learner_log(workspace).splitlines():
        if "listening on " in line:
            return int(line.rsplit(":", 1)[1])
    return None


def learner_log(workspace):
    path = workspace / "logs" / "learner.log"
    return path.read_text() if path.exists() else ""


def actor_log(workspace, actor_id):
    path = workspace / "logs" / f"actor_{actor_id}.log"
    return path.read_text() if path.exists() else ""


@pytest.mark.slow
def test_actors_wait_for_the_learner_outlive_each_other_and_stop_with_it(tmp_path):
    save_tiny_model(tmp_path / "model" / "tiny")
    port = free_port()
    flags = ["--workspace_path", str(tmp_path), "--unroll_length", "10", "--batch_size", "2"]
    with processes() as start:
        actors = [start([sys.executable, "actor.py", "--learner_address", f"127.0.0.1:{port}",
                         "--actor_id", str(actor_id), "--connect_timeout_s", "120", *flags],
                        tmp_path / f"actor_{actor_id}.out") for actor_id in (0, 1)]
        # Both actors are knocking before the learner exists.
        for actor_id in (0, 1):
            wait_for(lambda actor_id=actor_id: "connecting" in actor_log(tmp_path, actor_id), 120,
                     f"actor {actor_id} to try to connect")
        learner = start([sys.executable, "learner.py", "--pretrained_model", "tiny",
                         "--bind", f"127.0.0.1:{port}", "--save_every", "5", "--gpu", "1",
                         "--reward_scale", "0.05", *flags], tmp_path / "learner.out")
        wait_for(lambda: checkpoint_update(tmp_path) >= 5, 120, "training with both actors")

        actors[1].kill()  # SIGKILL: no goodbye
        actors[1].wait()
        wait_for(lambda: "worker 1 left (1 connected)" in learner_log(tmp_path), 60,
                 "the learner to notice the dead worker")
        after_kill = checkpoint_update(tmp_path)
        wait_for(lambda: checkpoint_update(tmp_path) >= after_kill + 10, 120,
                 "training to go on with one actor")
        assert learner.poll() is None

        learner.send_signal(signal.SIGTERM)
        assert learner.wait(timeout=60) == 143, (tmp_path / "learner.out").read_text()
        assert actors[0].wait(timeout=60) == 0, actor_log(tmp_path, 0)
    output = (tmp_path / "learner.out").read_text()
    assert "stopped by SIGTERM" in output and "Traceback" not in output, output
    done = [line.split("done: ", 1)[1] for line in output.splitlines() if "done: " in line]
    final_update = int(done[0].split()[0])
    assert checkpoint_update(tmp_path) == final_update >= after_kill + 10
    with open(tmp_path / "model" / f"reinforcement_model_{final_update}" / "config.json") as f:
        saved = json.load(f)
    assert saved["pretrained"] == str(tmp_path / "model" / "tiny")
    assert saved["env"]["obs_size"] == 36 and saved["env"]["reward_scale"] == 0.05
    # Every frame the learner accepted was either trained on or still queued at the end.
    accounting = next(line.split("frames received", 1)[1] for line in output.splitlines()
                      if "frames received" in line)
    received, trained, left = (int(word.strip(",")) for word in accounting.split()
                               if word.strip(",").isdigit())
    assert received == trained + left and trained == final_update * 2 * 10 * 4
    if not tf.config.list_physical_devices("GPU"):
        assert "notice: --gpu 1 but no GPU" in output
    assert "the learner says the run is over" in actor_log(tmp_path, 0)


@pytest.mark.slow
def test_workers_wait_for_a_restarted_learner_which_resumes_the_run(tmp_path):
    save_tiny_model(tmp_path / "model" / "tiny")
    flags = ["--workspace_path", str(tmp_path), "--unroll_length", "10", "--batch_size", "2"]
    learner_flags = ["learner.py", "--pretrained_model", "tiny", "--save_every", "5", *flags]
    with processes() as start:
        learner = start([sys.executable, *learner_flags, "--bind", "127.0.0.1:0"],
                        tmp_path / "learner.out")
        port = wait_for(lambda: bound_port(workspace=tmp_path), 120, "the learner to listen")
        workers = [start([sys.executable, "actor.py", "--learner_address", f"127.0.0.1:{port}",
                          "--actor_id", str(worker_id), "--connect_timeout_s", "120", *flags],
                         tmp_path / f"actor_{worker_id}.out") for worker_id in (0, 1)]
        wait_for(lambda: checkpoint_update(tmp_path) >= 5, 120, "training with both workers")
        learner.kill()  # a crash: no final checkpoint, no goodbye to the workers
        learner.wait()
        crashed_at = checkpoint_update(tmp_path)
        for worker_id in (0, 1):
            def noticed(worker_id=worker_id):
                return "lost the learner" in actor_log(tmp_path, worker_id)

            wait_for(noticed, 60, f"worker {worker_id} to notice")
        assert all(worker.poll() is None for worker in workers)  # they wait for it
        learner = start([sys.executable, *learner_flags, "--bind", f"127.0.0.1:{port}",
                         "--resume"], tmp_path / "again.out")
        wait_for(lambda: checkpoint_update(tmp_path) >= crashed_at + 10, 120,
                 "the resumed run to train with the same workers")
        learner.send_signal(signal.SIGTERM)
        assert learner.wait(timeout=60) == 143, (tmp_path / "again.out").read_text()
        for worker in workers:
            assert worker.wait(timeout=60) == 0
    output = (tmp_path / "again.out").read_text()
    assert f"reinforcement_model_{crashed_at}" in output  # where it started
    assert "worker 0 joined" in output and "worker 1 joined" in output
    assert "the learner says the run is over" in actor_log(tmp_path, 1)


@pytest.mark.slow
def test_ctrl_c_on_the_launcher_saves_and_exits_130(tmp_path):
    with processes() as start:
        launcher = start([str(ROOT / "run_reinforcement_learning.sh"), "1", "0", "none",
                          "--total_frames", "100000000", "--workspace_path", str(tmp_path),
                          "--save_every", "100000", *SMALL_RUN], tmp_path / "launcher.out")
        wait_for(lambda: "| frames" in learner_log(tmp_path), 180, "training to report")
        os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        assert launcher.wait(timeout=120) == 130, (tmp_path / "launcher.out").read_text()
    assert "stopped by SIGINT" in learner_log(tmp_path) or \
        "stopped by SIGTERM" in learner_log(tmp_path)
    assert checkpoint_update(tmp_path) > 0  # the final checkpoint


def test_launcher_refuses_bad_arguments_with_one_line():
    for arguments, problem in [(["two"], "number of envs"), (["2", "yes"], "gpu use")]:
        result = subprocess.run([str(ROOT / "run_reinforcement_learning.sh"), *arguments],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 2
        assert result.stderr.startswith(f"error: {problem}") and result.stderr.count("\n") == 1


def descendants(pid):
    """The ids of a process's children, their children and so on (Linux's /proc)."""
    found, pending = [], [pid]
    while pending:
        parent = pending.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as f:
                kids = [int(word) for word in f.read().split()]
        except FileNotFoundError:
            continue
        found += kids
        pending += kids
    return found


def running(pid):
    """Whether a process exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.mark.slow
def test_a_launcher_killed_with_sigkill_leaves_no_process_behind(tmp_path):
    with processes() as start:
        launcher = start([str(ROOT / "run_reinforcement_learning.sh"), "2", "0", "none",
                          "--total_frames", "100000000", "--workspace_path", str(tmp_path),
                          *SMALL_RUN], tmp_path / "launcher.out")
        wait_for(lambda: "started 2 actors" in (tmp_path / "launcher.out").read_text(), 180,
                 "the launcher to start the learner and the actors")
        started = descendants(launcher.pid)
        assert len(started) >= 3, started  # the learner and two actors
        launcher.kill()  # SIGKILL: the launcher cleans nothing up
        launcher.wait()
        wait_for(lambda: not any(running(pid) for pid in started), 120,
                 f"the learner and actors {started} to end with their launcher")
    # The learner was told as a Ctrl-C would tell it: it saved a last checkpoint.
    assert "stopped by SIGTERM" in learner_log(tmp_path)
    assert checkpoint_update(tmp_path) >= 0


@pytest.mark.slow
def test_a_resumed_ppo_rnd_run_goes_on_as_ppo_with_rnd_and_its_learning_rate(tmp_path):
    ppo_rnd = LearnerConfig(**{**PRESETS["ppo_rnd"], "unroll_length": 10, "total_frames": 400})
    folder = tmp_path / "model" / "reinforcement_model_10"
    save_tiny_model(folder, intrinsic_value=True, learner=ppo_rnd, metadata={
        "kind": "reinforcement", "update": 10, "frames": 400, "pretrained": None,
        "states": [None], "run_name": "ppo_rnd", "learner": dataclasses.asdict(ppo_rnd)})
    # Its 400 frames are all it trains on: the learner starts, says how it goes on, saves, ends.
    result = subprocess.run(
        [sys.executable, "learner.py", "--workspace_path", str(tmp_path), "--resume",
         "--pretrained_model", "none", "--bind", "127.0.0.1:0"],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert f"--resume: the settings of {folder} (ppo + RND, learning_rate 0.0001, discount " \
           "0.999); changed by flags: none" in output
    assert "ppo + RND: training" in output
    with open(folder / "config.json") as f:
        saved = json.load(f)["learner"]
    assert (saved["algorithm"], saved["rnd_coef"], saved["learning_rate"]) == ("ppo", 1.0, 1e-4)
