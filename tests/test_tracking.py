"""--track in wandb's offline mode: the run folder it leaves holds the scalars and the settings.
No network is used."""

import json
import os
import struct
import subprocess
import sys

import pytest

from tests.commands.test_run_supervised_learning import RECORDER, TINY, scalars
from tests.support import ROOT, run_command


def wandb_run(workspace):
    """(config, history rows, run folder) of the one offline run under <workspace>/wandb/,
    read from its transaction log (records in 32 KiB blocks, each chunk with a 7-byte header:
    checksum, length, kind; kinds 1 (whole) and 4 (last part) end a record)."""
    from wandb.proto import wandb_internal_pb2

    (folder,) = [entry.path for entry in os.scandir(workspace / "wandb")
                 if entry.name.startswith("offline-run-")]
    (log_name,) = [name for name in os.listdir(folder) if name.endswith(".wandb")]
    with open(os.path.join(folder, log_name), "rb") as f:
        data = f.read()
    assert data[:4] == b":W&B"
    config, history, position, parts = {}, [], 7, b""
    while position + 7 <= len(data):
        left = 32768 - position % 32768
        if left < 7:
            position += left
            continue
        length, kind = struct.unpack("<HB", data[position + 4:position + 7])
        parts += data[position + 7:position + 7 + length]
        position += 7 + length
        if kind not in (1, 4):
            continue
        record = wandb_internal_pb2.Record()
        record.ParseFromString(parts)
        parts = b""
        items = {"run": lambda record=record: record.run.config.update,
                 "config": lambda record=record: record.config.update,
                 }.get(record.WhichOneof("record_type"))
        if items:
            config.update({item.key: json.loads(item.value_json) for item in items()})
        elif record.WhichOneof("record_type") == "history":
            history.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                            for item in record.history.item})
    return config, history, folder


def history_values(history, tag):
    """{step: value} of a synced TensorBoard tag (its step is wandb's global_step)."""
    return {row["global_step"]: row[tag] for row in history if tag in row}


@pytest.mark.slow
def test_behaviour_cloning_with_track_keeps_its_scalars_and_settings_offline(tmp_path):
    movies = tmp_path / "movies"
    movies.mkdir()
    subprocess.run([sys.executable, "-c", RECORDER, str(movies), "2", "80"], cwd=ROOT,
                   check=True, timeout=120)
    workspace = tmp_path / "workspace"
    result = run_command("run_supervised_learning.py", "--workspace_path", workspace,
                         "--replay_path", movies, "--training_steps", 10, *TINY, "--track",
                         "--wandb_project", "retro-tests",
                         env=dict(os.environ, WANDB_MODE="offline"))
    assert result.returncode == 0, result.stderr[-3000:]
    config, history, _ = wandb_run(workspace)
    assert config["training_steps"] == 10 and config["batch_size"] == 4
    assert config["game"] == "Airstriker-Genesis-v0" and config["track"] is True
    tag = "losses/train_cross_entropy"
    synced = history_values(history, tag)
    assert synced and synced == pytest.approx(scalars(workspace, tag))
    assert set(synced) == {5, 10}


def test_a_tracking_flag_mistake_is_one_line(tmp_path):
    result = run_command("run_supervised_learning.py", "--workspace_path", tmp_path,
                         "--track", "--wandb_project")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: argument --wandb_project: expected one argument (see --help)"]
    assert not (tmp_path / "wandb").exists()
