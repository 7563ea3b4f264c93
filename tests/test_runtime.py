"""A process's temporaries (TensorFlow's generated code among them) stay in a folder of the run
that goes with it, and with the next run where the process was killed."""

import os
import signal
import subprocess
import sys

from tests.support import ROOT

SCRIPT = """
import os, sys, tempfile
from retro_rl.runtime import use_private_temporaries
use_private_temporaries(sys.argv[1], "learner")
# As TensorFlow's autograph writes its generated code:
with tempfile.NamedTemporaryFile("w", suffix=".py", prefix="__autograph_generated_file",
                                 delete=False) as generated:
    print(generated.name, flush=True)
if sys.argv[2] == "kill":
    os.kill(os.getpid(), 9)
"""


def run(workspace, ending):
    return subprocess.run([sys.executable, "-c", SCRIPT, str(workspace), ending], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_temporaries_go_with_the_run_even_one_killed_with_sigkill(tmp_path):
    killed = run(tmp_path, "kill")
    assert killed.returncode == -signal.SIGKILL
    generated = killed.stdout.strip()
    assert generated.startswith(str(tmp_path / "tmp" / ".learner.")) and os.path.isfile(generated)
    finished = run(tmp_path, "exit")  # the next run removes what the killed one left
    assert finished.returncode == 0, finished.stderr
    assert not os.path.exists(os.path.dirname(generated))
    assert os.listdir(tmp_path / "tmp") == []  # and its own folder went with it
