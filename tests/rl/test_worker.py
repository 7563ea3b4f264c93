"""The environment worker: no TensorFlow in its process, and one line when no learner comes."""

import subprocess
import sys
import time

from tests.support import ROOT, assert_one_line_error, run_command


def test_a_worker_plays_without_tensorflow():
    script = ("import sys\n"
              "from retro_rl.rl import worker\n"
              "from retro_rl.envs import EnvConfig\n"
              "env = EnvConfig().make()\n"
              "player = worker.Player(env, [None], seed=0)\n"
              "player.reset()\n"
              "env.step(2)\n"
              "print('tensorflow' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_no_learner_is_one_line_after_the_wait(tmp_path):
    result = run_command("actor.py", "--learner_address", "127.0.0.1:9", "--workspace_path",
                         tmp_path, "--connect_timeout_s", "1", timeout=60)
    assert_one_line_error(result, "no answer from the learner at 127.0.0.1:9",
                          "start the learner first")


def test_a_worker_whose_start_fails_tells_the_learner_which_stops(tmp_path):
    """A demonstration too short to start from (a learner of another version would send one):
    the worker reports why over its channel, and the learner's run hears it."""
    import numpy as np
    import pytest

    from retro_rl.envs import EnvConfig
    from retro_rl.rl import transport
    from retro_rl.rl.config import WorkerSettings
    from retro_rl.rl.inference import InferenceServer
    from retro_rl.rl.learning import StopRequest
    from retro_rl.rl.unroll import UnrollSpec
    from retro_rl.rl.worker import run_worker

    env = EnvConfig(obs_size=36)
    stop = StopRequest()
    # The worker fails before its first report, so no network is ever asked for an action.
    inference = InferenceServer(None, UnrollSpec(4, env.observation_shape, 23, 8),
                                local_folder=True, on_failure=stop.fail).start()
    settings = WorkerSettings(env, ("Level1",), env.observation_shape, inference.local_address,
                           demo_start_fraction=0.5)
    short = [{"name": "short", "pads": np.zeros((7, 12), np.uint8), "checkpoints": [(0, b"")]}]
    with transport.LearnerService(settings.to_dict(), inference, demonstrations=short) as service:
        with pytest.raises(ValueError, match="no agent step to start at"):
            run_worker(service.address, worker_id=2, seed=0, connect_timeout_s=10)
        deadline = time.monotonic() + 5
        while not stop and time.monotonic() < deadline:  # the learner reads it in its loop
            time.sleep(0.01)
    inference.close()
    assert stop.failure == ("worker 2 cannot go on: ValueError: demonstration 'short' of 7 "
                            "frames has no agent step to start at")
