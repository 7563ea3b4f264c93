"""run_on_ray.py on local Ray clusters (this machine): a run end to end with a worker killed and
restarted by Ray, a node without the ROM, and addresses with no cluster behind them."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from ray.cluster_utils import Cluster

from retro_rl.model import checkpoints
from tests.support import (ROOT, assert_only_error_line, error_lines, free_port,
                           game_without_rom, run_command, wait_for)

SMALL_RUN = ["--unroll_length", "10", "--batch_size", "2"]
pytestmark = pytest.mark.slow


def read(path):
    return path.read_text() if path.exists() else ""


def test_a_killed_worker_is_restarted_plays_the_rest_of_the_run_and_a_model_evaluation_loads(
        tmp_path):
    # One worker: the run can reach its total only if the worker Ray restarts plays on, whatever
    # this machine's speed (with two, the other could finish the run while it restarts).
    total = 4_000  # 50 updates of 2 x 10 steps x 4 frames: 1,000 steps
    launcher = subprocess.Popen(
        [sys.executable, str(ROOT / "run_on_ray.py"), "1", "0", "none", "--total_frames",
         str(total), "--workspace_path", str(tmp_path), *SMALL_RUN],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        start_new_session=True)
    worker_log, learner_log = tmp_path / "logs" / "actor_0.log", tmp_path / "logs" / "learner.log"
    started = r"worker 0 started on node \w+, process (\d+)"
    try:
        pid = int(wait_for(lambda: re.search(started, read(worker_log)), 240,
                           "worker 0 to start").group(1))
        # Killed as soon as it plays: it has played a few of the 1,000 steps at most.
        wait_for(lambda: "worker 0 joined" in read(learner_log), 240, "worker 0 to join")
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: read(learner_log).count("worker 0 joined") >= 2, 180,
                 "the restarted worker to reconnect")
        output, _ = launcher.communicate(timeout=600)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
    assert launcher.returncode == 0, output[-3000:]
    assert "(a local cluster); the ROM for Airstriker-Genesis-v0 is on each" in output
    assert f"done: 50 updates, {total} frames" in output
    log = read(worker_log)  # written by the launcher on this node
    first, restarted = map(int, re.findall(started, log))
    assert first == pid and restarted != pid
    assert "died; restarted by Ray" in log
    # The restarted process's own count: it played at least an unroll (10 steps) of the run.
    after_restart = log.split(f"process {restarted}", 1)[1]
    played = re.search(r"the learner says the run is over; played (\d+) steps", after_restart)
    assert played is not None and int(played.group(1)) >= 10, after_restart
    assert "listening on 127.0.0.1:" in read(learner_log)
    _, env_config, config = checkpoints.load_model(tmp_path / "model" / "reinforcement_model_50")
    assert config["frames"] == total and env_config.game == "Airstriker-Genesis-v0"
    evaluation = run_command("run_evaluation.py", "--workspace_path", tmp_path, "--model_name",
                             "reinforcement_model_50", "--episodes", "1", "--max_steps", "30",
                             timeout=240)
    assert evaluation.returncode == 0, evaluation.stderr[-3000:]


def test_a_node_without_the_rom_stops_the_run_before_training(tmp_path):
    empty = tmp_path / "retro_data"  # stable-retro's data folder without any game in it
    (empty / "stable").mkdir(parents=True)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        hidden = cluster.add_node(num_cpus=1, env_vars={"RETRO_DATA_PATH": str(empty)})
        cluster.wait_for_nodes()
        result = run_command("run_on_ray.py", "1", "0", "none", "--address", cluster.address,
                             "--workspace_path", tmp_path, *SMALL_RUN, timeout=300)
    finally:
        cluster.shutdown()
    # Only the node without it is named (both have this machine's address; the id tells).
    assert_only_error_line(result, "ROM for Airstriker-Genesis-v0 is not imported on ",
                           f"(node {hidden.node_id[:8]})", "python -m stable_retro.import")
    (line,) = error_lines(result)
    assert line.count("(node ") == 1, line
    # Stopped before the learner started: nothing trained, nothing written.
    assert not (tmp_path / "model").exists()


def test_a_game_without_its_rom_on_the_local_cluster_is_one_line_on_stderr(tmp_path):
    game = game_without_rom()
    result = run_command("run_on_ray.py", "1", "0", "none", "--game", game, "--workspace_path",
                         tmp_path, *SMALL_RUN, timeout=300)
    # Nothing but the error: Ray says nothing of its own while it starts the local cluster.
    assert_only_error_line(result, f"ROM for {game} is not imported on ",
                           "python -m stable_retro.import")


def test_an_address_where_nothing_listens_fails_within_seconds_naming_it(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = run_command("run_on_ray.py", "1", "0", "none", "--address", address,
                         "--workspace_path", tmp_path, timeout=120)
    # Ray alone retries it for minutes, warning all along.
    assert time.monotonic() - started < 20
    assert_only_error_line(result, f"no Ray cluster at {address}", "ray start --head")


def test_an_address_ray_refuses_is_one_line(tmp_path):
    # Ray's own message is several lines; the command gives it as one.
    result = run_command("run_on_ray.py", "1", "0", "none", "--address", "http://127.0.0.1:1",
                         "--workspace_path", tmp_path, timeout=120)
    assert_only_error_line(result, "no Ray cluster at http://127.0.0.1:1",
                           "Invalid Ray address")


def test_a_model_the_learner_cannot_find_is_one_line_on_stderr(tmp_path):
    # The learner refuses it once Ray has started it; its line is the launcher's error line.
    result = run_command("run_on_ray.py", "1", "0", "no_such_model", "--workspace_path",
                         tmp_path, *SMALL_RUN, timeout=300)
    assert_only_error_line(result, "no model 'no_such_model'")


def test_flags_before_the_three_numbers_are_not_read_as_them():
    import run_on_ray

    args, extra, _ = run_on_ray.parse_args(["--total_frames", "5000", "--address", "auto"])
    assert (args.num_envs, args.gpu, args.pretrained_model) == (8, 0, "none")
    assert args.address == "auto" and extra == ["--total_frames", "5000"]
    args, extra, _ = run_on_ray.parse_args(["4", "1", "none", "--total_frames", "5000"])
    assert (args.num_envs, args.gpu, args.address) == (4, 1, None)
    assert extra == ["--total_frames", "5000"]
