"""EnvConfig checks itself when made."""

import pytest

from retro_rl.envs import EnvConfig, games
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
