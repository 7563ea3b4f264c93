"""Where a learner's run starts, with which environment settings, and the checkpoints it
leaves: --keep_checkpoints removes the old ones, never the pretrained model or one written
where a run ended."""

import dataclasses
import json

from retro_rl import fields
from retro_rl.envs import EnvConfig, games
from retro_rl.errors import UserError
from retro_rl.rl.flags import learner_parser, parse_learner_args
from retro_rl.rl.start import load_start, remove_old_checkpoints

# A value for each free-text setting, which no test can make up; every other setting gets one
# from its type or its choices (other_values), so a new one needs no edit here.
TEXT_VALUES = {"game": "ALE/Pong-v5", "state": "Level1", "scenario": "scenario"}
# A stable-retro game and a Gymnasium id: between them they take every setting.
GAMES = (games.DEFAULT_GAME, "ALE/Pong-v5")


def other_values(field, current):
    """Values of an EnvConfig field other than `current`, to try in turn."""
    kind = fields.value_type(field)
    if "choices" in field.metadata:
        return [choice for choice in field.metadata["choices"] if choice != current]
    if kind is bool:
        return [not current]
    if kind in (int, float):
        return [(current or 0) + (3 if kind is int else 0.25)]
    return [TEXT_VALUES[field.name]]


def as_flags(name, value):
    if isinstance(value, bool):
        return [f"--{name}" if value else f"--no-{name}"]
    return [f"--{name}", str(value)]


def test_every_environment_setting_is_a_learner_flag_that_reaches_the_run(tmp_path):
    """An EnvConfig field is the one edit a new environment setting takes: the learner has its
    flag, with help, and a value given there is the one the run's EnvConfig holds."""
    helps = {action.dest: action.help for action in learner_parser()._actions}
    workspace = ["--workspace_path", str(tmp_path)]
    defaults = {game: load_start(parse_learner_args([*workspace, "--game", game]))[1]
                for game in GAMES}
    for field in dataclasses.fields(EnvConfig):
        assert helps.get(field.name), f"the learner has no --{field.name} with a help"
        tried = []
        candidates = [(game, value) for game in GAMES
                      for value in other_values(field, getattr(defaults[game], field.name))]
        for game, value in candidates:
            game_flags = [] if field.name == "game" else ["--game", game]
            try:
                env_config = load_start(parse_learner_args(
                    [*workspace, *game_flags, *as_flags(field.name, value)]))[1]
            except UserError as error:  # a setting of the other game, or another platform's
                tried.append(f"{game}: {error}")
                continue
            assert getattr(env_config, field.name) == value, field.name
            break
        else:
            raise AssertionError(f"--{field.name}: no value was taken ({tried})")


def write_checkpoint(workspace, update, final=False):
    folder = workspace / "model" / f"reinforcement_model_{update}"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({
        "env": EnvConfig().to_dict(), "network": {}, "observation_shape": [84, 84, 3],
        "kind": "reinforcement", "update": update, "final": final}))
    return folder


def left(workspace):
    return sorted(int(path.name.rsplit("_", 1)[1])
                  for path in (workspace / "model").iterdir() if not path.name.startswith("."))


def test_only_the_newest_checkpoints_stay_with_the_final_and_pretrained_ones(tmp_path):
    pretrained = write_checkpoint(tmp_path, 10)  # a run fine-tuned from an earlier one
    for update in range(20, 90, 10):
        write_checkpoint(tmp_path, update, final=update == 40)  # a run stopped at 40, resumed
    removed = remove_old_checkpoints(str(tmp_path), 3, str(pretrained))
    assert left(tmp_path) == [10, 40, 60, 70, 80]
    assert sorted(removed) == [str(tmp_path / "model" / f"reinforcement_model_{update}")
                               for update in (20, 30, 50)]
    assert remove_old_checkpoints(str(tmp_path), 3, None) == [str(pretrained)]


def test_keep_checkpoints_defaults_to_five_and_zero_keeps_every_one(tmp_path):
    for update in range(1, 8):
        write_checkpoint(tmp_path, update)
    config = parse_learner_args(["--workspace_path", str(tmp_path)]).learner
    remove_old_checkpoints(str(tmp_path), config.keep_checkpoints, None)
    assert left(tmp_path) == [3, 4, 5, 6, 7]
    config = parse_learner_args(["--keep_checkpoints", "0"]).learner
    assert remove_old_checkpoints(str(tmp_path), config.keep_checkpoints, None) == []
    assert left(tmp_path) == [3, 4, 5, 6, 7]
