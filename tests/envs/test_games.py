"""Game ids, states and ROMs: legacy ids, close matches, and the one-line missing-ROM error."""

import pytest
import stable_retro as retro

from retro_rl.envs import games, make_env
from retro_rl.errors import UserError
from tests.support import SONIC2, game_without_rom, rom_imported



def test_legacy_id_maps_to_v0():
    assert games.resolve_game("SonicTheHedgehog2-Genesis") == "SonicTheHedgehog2-Genesis-v0"
    assert games.resolve_game("Airstriker-Genesis") == "Airstriker-Genesis-v0"


def test_unknown_game_and_state_list_close_matches():
    with pytest.raises(UserError, match="Airstriker-Genesis-v0"):
        make_env(game="Airstriker-Genesys")
    with pytest.raises(UserError, match="Level1"):
        make_env(state="Level2")


def test_a_missing_rom_is_one_line_naming_the_game_and_the_import_command():
    game = game_without_rom()
    with pytest.raises(UserError) as error:
        make_env(game=game)
    assert str(error.value) == (f"the ROM for {game} is not imported; import your own copy "
                                f"with: {games.ROM_IMPORT_HINT}")


@pytest.mark.skipif(rom_imported(SONIC2), reason="the Sonic 2 ROM is imported here")
def test_sonic2_without_its_rom_says_how_to_import_it():
    with pytest.raises(UserError, match=f"the ROM for {SONIC2} is not imported.*stable_retro"):
        make_env(game=SONIC2, state="EmeraldHillZone.Act1")


def test_sonic2_acts_are_the_shipped_states_and_have_an_end():
    states = retro.data.list_states("SonicTheHedgehog2-Genesis-v0", retro.data.Integrations.ALL)
    assert sorted(games.SONIC2_ACTS) == sorted(states)
    assert len(games.sonic_level_end_x("SonicTheHedgehog2-Genesis-v0")) == 18
