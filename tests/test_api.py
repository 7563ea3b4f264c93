"""The public API a notebook calls: what `import retro_rl` exports, and what it costs."""

import subprocess
import sys

from tests.support import ROOT


def test_import_retro_rl_is_light_and_every_export_resolves():
    script = ("import sys, retro_rl\n"
              "light = 'tensorflow' not in sys.modules\n"
              "names = {name: getattr(retro_rl, name).__name__ for name in retro_rl.__all__}\n"
              "print(light, sorted(names.items()))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    light, _, names = result.stdout.strip().partition(" ")
    assert light == "True"  # TensorFlow comes with the first export that needs it
    for name in ("Agent", "EnvConfig", "make_env", "load_model", "train_in_process",
                 "train_behaviour_cloning", "LearnerConfig", "BCConfig", "RandomPolicy"):
        assert f"'{name}'" in names


def test_an_unknown_name_is_an_attribute_error():
    import pytest

    import retro_rl

    name = "no_such_thing"
    with pytest.raises(AttributeError, match=name):
        getattr(retro_rl, name)
