"""Where a learner's run starts and the checkpoints it leaves: --keep_checkpoints removes the
old ones, never the pretrained model or one written where a run ended."""

import json

from retro_rl.envs import EnvConfig
from retro_rl.rl.flags import parse_learner_args
from retro_rl.rl.start import remove_old_checkpoints


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
    _, config = parse_learner_args(["--workspace_path", str(tmp_path)])
    remove_old_checkpoints(str(tmp_path), config.keep_checkpoints, None)
    assert left(tmp_path) == [3, 4, 5, 6, 7]
    _, config = parse_learner_args(["--keep_checkpoints", "0"])
    assert remove_old_checkpoints(str(tmp_path), config.keep_checkpoints, None) == []
    assert left(tmp_path) == [3, 4, 5, 6, 7]
