"""Where the learner's training starts: defaults from scratch and from a pretrained model, the
reward settings it trains with, --resume, and a port in use."""

import socket

import numpy as np
import pytest

from retro_rl.envs import EnvConfig, games
from retro_rl.errors import UserError
from retro_rl.model import checkpoints
from retro_rl.model.network import create_network
from retro_rl.rl import start, unroll
from retro_rl.rl.config import FINE_TUNING_DEFAULTS, LearnerConfig
from retro_rl.rl.flags import parse_learner_args
from retro_rl.rl.optimizer import make_optimizer
from retro_rl.rl.update import make_update
from tests.rl.test_update import OBS_SHAPE, SPEC6, TINY
from tests.rl.unrolls import make_unroll
from tests.support import run_command


def test_learner_refuses_a_port_in_use_with_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_command("learner.py", "--workspace_path", tmp_path,
                             "--bind", f"127.0.0.1:{port}", timeout=120)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"127.0.0.1:{port}" in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def test_defaults_follow_where_training_starts(tmp_path):
    """From scratch: LearnerConfig's values; from a pretrained model: FINE_TUNING_DEFAULTS. The
    reward settings: the game's training defaults, unless the model is an RL model (its own are
    kept) or a flag is given."""
    game_defaults = games.TRAINING_DEFAULTS[games.DEFAULT_GAME]
    for kind, reward_scale in (("supervised", 1.0), ("reinforcement", 0.5)):
        env_config = EnvConfig(obs_size=36, reward_scale=reward_scale)
        checkpoints.save_model(str(tmp_path / "model" / kind), create_network(TINY, OBS_SHAPE),
                      env_config, {"kind": kind})
    workspace = ["--workspace_path", str(tmp_path)]

    parsed = parse_learner_args(workspace)
    assert parsed.learner == LearnerConfig()
    _, scratch_env, *_ = start.load_start(parsed)
    assert {name: getattr(scratch_env, name) for name in game_defaults} == game_defaults

    parsed = parse_learner_args(workspace + ["--pretrained_model", "supervised"])
    assert parsed.learner == LearnerConfig(**FINE_TUNING_DEFAULTS)
    _, cloned_env, *_ = start.load_start(parsed)
    assert cloned_env == scratch_env.replace(obs_size=36)

    parsed = parse_learner_args(workspace + ["--pretrained_model", "reinforcement",
                                                   "--learning_rate", "1e-4",
                                                   "--max_episode_steps", "0"])
    assert parsed.learner.learning_rate == 1e-4 and parsed.learner.kl_cost == 1.0
    _, rl_env, *_ = start.load_start(parsed)
    assert rl_env.reward_scale == 0.5 and rl_env.max_episode_steps is None
    assert rl_env.life_loss_penalty == 0


def test_resume_continues_the_newest_checkpoint_and_a_fresh_run_refuses_it(tmp_path):
    env_config = EnvConfig(obs_size=36)
    pretrained = create_network(TINY, OBS_SHAPE, seed=4)
    checkpoints.save_model(str(tmp_path / "model" / "sl"), pretrained, env_config,
                           {"kind": "supervised"})
    flags = ["--workspace_path", str(tmp_path), "--kl_cost", "0.1"]
    parsed = parse_learner_args(flags + ["--pretrained_model", "sl", "--reward_scale", "0.5",
                                               "--max_episode_steps", "300",
                                               "--life_loss_penalty", "100"])
    network, start_env, states, meta, anchor = start.load_start(parsed)
    assert meta["pretrained"] == str(tmp_path / "model" / "sl") and meta["update"] == 0
    assert start_env.reward_scale == 0.5 and states == [None]
    assert start_env.life_loss_penalty == 100 and env_config.life_loss_penalty == 0
    assert start_env.max_episode_steps == 300 and env_config.max_episode_steps is None
    for mine, theirs in zip(network.get_weights(), pretrained.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    assert anchor is not network

    step_config = LearnerConfig(unroll_length=6, batch_size=1, kl_cost=0.1)
    optimizer = make_optimizer(network, step_config)
    update = make_update(network, optimizer, step_config, anchor)
    update(unroll.stack([make_unroll(SPEC6, 0)]))
    meta.update(update=7, frames=168)
    for number in (3, 7):
        start.save_checkpoint(str(tmp_path), network, start_env, optimizer,
                              dict(meta, update=number), states, LearnerConfig())

    with pytest.raises(UserError, match="reinforcement_model_7 is from an earlier run"):
        start.load_start(parsed)
    parsed = parse_learner_args(flags + ["--resume"])
    resumed, resumed_env, _, resumed_meta, anchor = start.load_start(parsed)
    assert (resumed_meta["update"], resumed_meta["frames"]) == (7, 168)
    assert resumed_meta["run_name"] == meta["run_name"]  # TensorBoard curves continue
    assert resumed_env == start_env and anchor is not None
    for mine, theirs in zip(resumed.get_weights(), network.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    restored = make_optimizer(resumed, step_config)
    assert checkpoints.load_optimizer_state(resumed_meta["resume_folder"], restored,
                                   resumed.trainable_variables)
    assert int(restored.policy.iterations.numpy()) == 1
    for mine, theirs in zip(restored.variables, optimizer.variables):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    assert len(restored.value.variables) > 2  # the value head's moments came back too


def test_demo_starts_of_another_game_or_a_missing_path_stop_the_learner(tmp_path):
    from tests.demos.test_parsing import write_variant
    from tests.support import DEMOS, game_without_rom

    source = sorted(DEMOS.glob("*.bk2"))[0]
    other = tmp_path / "other.bk2"
    header = __import__("zipfile").ZipFile(source).read("Header.txt").decode()
    write_variant(source, other, Header_txt=header.replace(games.DEFAULT_GAME,
                                                           game_without_rom()))
    for path, words in [(tmp_path / "gone", "no such file or folder"),
                        (other, f"is a {game_without_rom()} movie, but this run plays")]:
        result = run_command("learner.py", "--workspace_path", tmp_path / "ws", "--bind",
                             "127.0.0.1:0", "--demo_starts", path, timeout=120)
        assert result.returncode == 2, result.stderr
        assert str(path) in result.stderr and words in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "listening on" not in result.stdout


def test_a_worker_that_cannot_go_on_stops_the_learner_with_one_line_and_a_checkpoint(tmp_path):
    """A fake worker built from the package's channel code tells a real learner it failed."""
    import os
    import subprocess

    from retro_rl.cluster import children
    from retro_rl.rl import transport
    from retro_rl.rl.channels import LocalChannel
    from retro_rl.rl.config import WorkerSettings
    from tests.support import ROOT, assert_one_line_error

    # Port 0, and the address the learner bound read from its pipe, as the launchers do.
    learner, address_pipe = children.start_learner(
        ["--workspace_path", str(tmp_path), "--bind", "127.0.0.1:0", "--algorithm", "ppo"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        address = children.read_address(address_pipe, timeout_s=120)
        assert address is not None, "the learner ended without listening"
        with transport.WorkerClient(address, deadline_s=120) as client:
            settings = WorkerSettings.from_dict(client.get_settings()[0])
        assert "token" not in settings.to_dict()  # nothing secret is served
        assert os.stat(os.path.dirname(settings.local_address)).st_mode & 0o777 == 0o700
        channel = LocalChannel(settings.local_address, 0, settings.observation_shape, 10)
        channel.fail("ValueError: high <= 0")
        channel.close()
        stdout, stderr = learner.communicate(timeout=120)
    finally:
        learner.kill()
    result = subprocess.CompletedProcess(learner.args, learner.returncode, stdout, stderr)
    assert_one_line_error(result, "worker 0 cannot go on: ValueError: high <= 0")
    assert (tmp_path / "model" / "reinforcement_model_0").is_dir()
    assert list((tmp_path / "tmp").iterdir()) == []  # its temporaries went with it
