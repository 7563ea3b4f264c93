"""The environment worker: no TensorFlow in its process, and one line when no learner comes."""

import subprocess
import sys

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
