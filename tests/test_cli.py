"""A command's one error line: on stderr, and in its log under the command's name."""


import pytest

from retro_rl import cli, logs
from retro_rl.errors import UserError


def test_the_error_line_in_the_log_is_named_after_the_command(tmp_path, capsys, root_handlers):
    logs.setup(tmp_path, "learner")

    def fail():
        raise UserError("no such model")

    with pytest.raises(SystemExit) as exited:
        cli.run(fail)
    assert exited.value.code == 2
    assert capsys.readouterr().err == "error: no such model\n"
    line, = (tmp_path / "logs" / "learner.log").read_text().splitlines()
    assert line.endswith(" learner: error: no such model"), line
