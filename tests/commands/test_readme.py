"""The README stays true: CI runs its test command, and its flag reference names every flag."""

import dataclasses
import re

import pytest

import actor
import env_wrappers
import learner
import network
import record_demonstrations
import replay_parser
import run_evaluation
import run_supervised_learning
from retro_rl.envs import EnvConfig
from tests.support import ROOT

README = (ROOT / "README.md").read_text()


def readme_commands():
    return re.findall(r"```bash\n(.*?)\n```", README, re.S)


def test_ci_runs_exactly_the_readme_test_command():
    test_commands = [command for command in readme_commands() if "pytest" in command]
    assert len(test_commands) == 1, "README must give one test command"
    steps = [step.strip() for step in test_commands[0].split("&&")]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    checks = steps[steps.index("pip install -r requirements.txt") + 1:]
    assert checks[-1].startswith("python -m pytest")
    for check in checks:  # the lint, the type check and the tests
        assert check in ci_lines, f"CI does not run the README's {check!r}"
    assert any("-r requirements.txt" in line for line in ci_lines)
    assert "-r requirements.txt" in test_commands[0]


def flags(parser):
    """A parser's long flags; a --no-X that turns off a documented --X is not listed apart."""
    return {action.option_strings[0] for action in parser._actions
            if action.option_strings[0] not in ("-h", "--help")}


@pytest.mark.parametrize("script, parser", [
    ("record_demonstrations.py", record_demonstrations.build_parser),
    ("replay_parser.py", replay_parser.build_parser),
    ("run_supervised_learning.py", run_supervised_learning.build_parser),
    ("run_evaluation.py", run_evaluation.build_parser),
    ("learner.py", learner.build_parser),
    ("actor.py", actor.build_parser),
    ("env_wrappers.py", env_wrappers.build_parser),
    ("network.py", network.build_parser),
])
def test_readme_flag_reference_names_every_flag(script, parser):
    section = re.search(rf"### `{re.escape(script)}`\n(.*?)(?=\n### |\n## |\Z)", README, re.S)
    assert section, f"README has no '### `{script}`' section"
    documented = set(re.findall(r"`(--[a-z_]+)", section.group(1)))
    if re.search(r"Every `EnvConfig` setting is a (learner )?flag", section.group(1)):
        # Their --help text is the field's own (tests/rl/test_start.py checks every one has it).
        documented |= {f"--{field.name}" for field in dataclasses.fields(EnvConfig)}
    missing = sorted(flags(parser()) - documented)
    assert not missing, f"README's {script} section does not mention {missing}"
