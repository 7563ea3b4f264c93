"""EnvConfig checks itself when made; make_env builds from one, or from its settings by name."""

import pytest

from retro_rl.envs import EnvConfig, games, make_env
from retro_rl.errors import UserError


def test_bad_settings_fail_when_made():
    with pytest.raises(UserError, match="frame_skip"):
        EnvConfig(frame_skip=0)
    with pytest.raises(UserError, match="action_set"):
        EnvConfig(action_set="everything")
    with pytest.raises(UserError, match="life_loss_penalty"):
        EnvConfig(life_loss_penalty=-1)
    with pytest.raises(UserError, match="unknown environment settings"):
        EnvConfig.from_dict({"game": games.DEFAULT_GAME, "colour": True})


def test_make_env_takes_a_config_or_its_settings_not_both():
    with pytest.raises(TypeError, match="not both"):
        make_env(EnvConfig(), frame_skip=2)
    with pytest.raises(TypeError, match="EnvConfig or its settings by name"):
        make_env("Airstriker-Genesis-v0")  # the game by name: make_env(game=...)
    with pytest.raises(TypeError, match="colour"):
        make_env(colour=True)
