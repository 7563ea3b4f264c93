"""The learner's update on one batch, parameter sync to an actor, settings and flag handling."""

import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

import actor
import env_wrappers
import impala_update
import learner
import network as nw
import transport
from agent import Agent
from cli import UserError
from conftest import ROOT

OBS_SHAPE = (36, 36, 3)
NUM_ACTIONS = 5
TINY = nw.NetworkConfig(num_actions=NUM_ACTIONS, lstm_units=16, use_prev_action=True,
                        use_prev_reward=True)


def fake_unroll(rng, steps, version=0):
    """A well-formed unroll: a game over at step 1, a time-limit truncation at step 4."""
    dones = np.zeros(steps, bool)
    dones[[1, 4]] = True
    terminated = np.zeros(steps, bool)
    terminated[1] = True
    truncation_values = np.zeros(steps, np.float32)
    truncation_values[4] = 2.5
    return {
        "parameter_version": version,
        "observations": rng.integers(0, 256, (steps + 1, *OBS_SHAPE), dtype=np.uint8),
        "actions": rng.integers(0, NUM_ACTIONS, steps).astype(np.int32),
        "rewards": rng.normal(size=steps).astype(np.float32),
        "dones": dones, "terminated": terminated,
        "behaviour_logits": rng.normal(size=(steps, NUM_ACTIONS)).astype(np.float32),
        "episode_start": np.concatenate([[False], dones]),
        "initial_state_h": rng.normal(size=TINY.lstm_units).astype(np.float32) * 0.1,
        "initial_state_c": rng.normal(size=TINY.lstm_units).astype(np.float32) * 0.1,
        "last_action": 3, "last_reward": 1.0, "truncation_values": truncation_values,
        "episodes": [{"episode_return": 1.0, "length": 2, "frames": 8, "x_progress": 0.0}] * 2,
    }


def test_value_warmup_trains_the_value_head_alone_then_everything():
    config = impala_update.LearnerConfig(unroll_length=6, batch_size=2, learning_rate=1e-3)
    network = nw.create_network(TINY, OBS_SHAPE, seed=0)
    update = impala_update.make_update(network, impala_update.make_optimizer(network, config),
                                       config)
    value_head = {id(v) for v in network.value_head.trainable_variables}
    is_value = [id(v) in value_head for v in network.trainable_variables]
    assert any(is_value) and not all(is_value)
    rng = np.random.default_rng(2)

    def changed_by(train_policy):
        before = [v.numpy().copy() for v in network.trainable_variables]
        update(impala_update.stack_unrolls([fake_unroll(rng, 6) for _ in range(2)]),
               train_policy)
        return [not np.array_equal(b, v.numpy())
                for b, v in zip(before, network.trainable_variables)]

    for _ in range(2):  # frozen stays frozen after Adam has moments for the value head
        assert changed_by(train_policy=False) == is_value
    assert all(changed_by(train_policy=True))


def test_the_value_head_steps_at_its_own_learning_rate():
    """Adam's first step moves each weight by about its step size, whatever the gradient's
    scale: the value head's by value_learning_rate, every other weight's by learning_rate."""
    config = impala_update.LearnerConfig(unroll_length=6, batch_size=2, learning_rate=1e-6,
                                         value_learning_rate=1e-2)
    network = nw.create_network(TINY, OBS_SHAPE, seed=0)
    update = impala_update.make_update(network, impala_update.make_optimizer(network, config),
                                       config)
    before = [v.numpy().copy() for v in network.trainable_variables]
    update(impala_update.stack_unrolls([fake_unroll(np.random.default_rng(3), 6)
                                        for _ in range(2)]))
    value_head = {id(v) for v in network.value_head.trainable_variables}
    steps = {True: [], False: []}
    for old, variable in zip(before, network.trainable_variables):
        steps[id(variable) in value_head].append(np.abs(variable.numpy() - old).max())
    assert 0.5e-2 < max(steps[True]) <= 1.05e-2  # float32 rounding of the weights
    assert 0 < max(steps[False]) <= 1.05e-6


def test_stacked_batch_is_time_major():
    rng = np.random.default_rng(0)
    unrolls = [fake_unroll(rng, 6) for _ in range(3)]
    batch = impala_update.stack_unrolls(unrolls)
    assert batch["observations"].shape == (7, 3, *OBS_SHAPE)
    assert batch["behaviour_logits"].shape == (6, 3, NUM_ACTIONS)
    assert batch["initial_state_h"].shape == (3, TINY.lstm_units)
    np.testing.assert_array_equal(batch["actions"][:, 2], unrolls[2]["actions"])
    np.testing.assert_array_equal(batch["last_action"], [3, 3, 3])
    # An actor that sends no truncation values or last action/reward still fits the batch.
    bare = {k: v for k, v in unrolls[0].items()
            if k not in ("truncation_values", "last_action", "last_reward")}
    batch = impala_update.stack_unrolls([bare, unrolls[1]])
    assert batch["truncation_values"][:, 0].tolist() == [0.0] * 6
    assert batch["last_reward"].tolist() == [0.0, 1.0]


def test_one_update_trains_every_term_and_an_actor_syncs_the_new_weights():
    config = impala_update.LearnerConfig(unroll_length=6, batch_size=2, kl_cost=0.5,
                                   learning_rate=1e-3)
    network = nw.create_network(TINY, OBS_SHAPE, seed=0)
    anchor = nw.create_network(TINY, OBS_SHAPE, seed=1)  # a different "pretrained" policy
    anchor_before = [w.copy() for w in anchor.get_weights()]
    before = [w.copy() for w in network.get_weights()]
    update = impala_update.make_update(network, keras.optimizers.Adam(config.learning_rate), config,
                                 anchor)
    rng = np.random.default_rng(1)
    metrics = update(impala_update.stack_unrolls([fake_unroll(rng, 6) for _ in range(2)]))
    metrics = {name: float(value) for name, value in metrics.items()}

    for name in ("losses/policy", "losses/value", "losses/entropy", "losses/kl", "losses/total"):
        assert np.isfinite(metrics[name]) and metrics[name] != 0.0, (name, metrics[name])
    assert metrics["losses/entropy"] < 0  # a bonus: more entropy lowers the loss
    assert 0 < metrics["charts/entropy"] <= np.log(NUM_ACTIONS) + 1e-5
    assert metrics["charts/kl_to_pretrained"] > 0
    assert 0 <= metrics["vtrace/rho_clip_fraction"] <= 1
    after = network.get_weights()
    changed = [not np.array_equal(b, a) for b, a in zip(before, after)]
    assert all(changed), f"{changed.count(False)} weight arrays did not change"
    for frozen, now in zip(anchor_before, anchor.get_weights()):
        np.testing.assert_array_equal(frozen, now)

    # The learner publishes the new version; an actor holding version 0 syncs to it.
    spec = transport.UnrollSpec(6, OBS_SHAPE, NUM_ACTIONS, TINY.lstm_units)
    with transport.LearnerServer(spec) as server:
        server.set_parameters(0, before)
        server.set_parameters(1, network.get_weights())
        actor_agent = Agent(nw.create_network(TINY, OBS_SHAPE, seed=7), num_envs=1)
        with transport.ActorClient(server.address, deadline_s=10) as client:
            assert actor.sync_parameters(client, actor_agent, 0) == (1, False)
            assert actor.sync_parameters(client, actor_agent, 1) == (1, False)  # nothing new
    for mine, theirs in zip(actor_agent.network.get_weights(), after):
        np.testing.assert_array_equal(mine, theirs)


def test_a_game_over_bootstraps_from_nothing_and_a_truncation_from_its_value():
    """With one step per unroll the value target is exactly r + gamma * (bootstrap)."""
    config = impala_update.LearnerConfig(unroll_length=1, batch_size=3, discount=0.5,
                                   learning_rate=1e-9)
    network = nw.create_network(TINY, OBS_SHAPE, seed=0)
    rng = np.random.default_rng(2)
    unrolls = []
    for done, terminated, truncation_value in [(False, False, 0.0), (True, True, 0.0),
                                               (True, False, 8.0)]:
        unroll = fake_unroll(rng, 5)
        unroll = {**{k: v[:1] if k in ("actions", "rewards", "behaviour_logits") else v
                     for k, v in unroll.items()},
                  "observations": unroll["observations"][:2], "rewards": np.array([1.0], "f4"),
                  "dones": np.array([done]), "terminated": np.array([terminated]),
                  "episode_start": np.array([False, done]),
                  "truncation_values": np.array([truncation_value], "f4"),
                  "episodes": unroll["episodes"][:int(done)]}
        unrolls.append(unroll)
    batch = impala_update.stack_unrolls(unrolls)
    logits, values, _ = impala_update.unroll_network(network, batch)
    # Greedy behaviour logits equal to the learner's: on-policy, every ratio is 1.
    batch["behaviour_logits"] = logits.numpy()[:1]
    update = impala_update.make_update(network, keras.optimizers.SGD(1e-9), config)
    metrics = update(batch)
    assert float(metrics["vtrace/importance_ratio"]) == pytest.approx(1.0, abs=1e-5)
    v0, bootstrap = values.numpy()[0], values.numpy()[1]
    expected_targets = [1.0 + 0.5 * bootstrap[0], 1.0, 1.0 + 0.5 * 8.0]
    expected_loss = 0.5 * 0.5 * np.mean((np.array(expected_targets) - v0) ** 2)
    assert float(metrics["losses/value"]) == pytest.approx(expected_loss, rel=1e-4)


def test_config_checks_itself():
    with pytest.raises(UserError, match="discount"):
        impala_update.LearnerConfig(discount=1.5)
    with pytest.raises(UserError, match="unroll_length.*batch_size"):
        impala_update.LearnerConfig(unroll_length=0, batch_size=0)
    with pytest.raises(UserError, match="kl_cost"):
        impala_update.LearnerConfig(kl_cost=-1)


def test_flags_meant_for_actors_are_ignored_and_unknown_ones_are_errors():
    args, config = learner.parse_args(["--batch_size", "3", "--actor_id", "2",
                                       "--learner_address", "10.0.0.1:5"])
    assert config.batch_size == 3 and args.bind == learner.DEFAULT_BIND
    assert actor.parse_args(["--total_frames", "99", "--actor_id", "2"]).actor_id == 2
    with pytest.raises(UserError, match="--bogus"):
        learner.parse_args(["--bogus", "1"])
    with pytest.raises(UserError, match="--bogus"):
        actor.parse_args(["--bogus"])
    with pytest.raises(UserError, match="HOST:PORT"):
        learner.parse_args(["--bind", "50051"])
    with pytest.raises(UserError, match="invalid int"):
        learner.parse_args(["--batch_size", "two"])
    with pytest.raises(UserError, match="--max_episode_steps"):
        learner.parse_args(["--max_episode_steps", "-1"])
    with pytest.raises(UserError, match="--life_loss_penalty"):
        learner.parse_args(["--life_loss_penalty", "-5"])


def test_learner_refuses_a_port_in_use_with_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(ROOT / "learner.py"), "--workspace_path", str(tmp_path),
             "--bind", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"127.0.0.1:{port}" in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def test_defaults_follow_where_training_starts(tmp_path):
    """From scratch: LearnerConfig's values; from a pretrained model: FINE_TUNING_DEFAULTS. The
    reward settings: the game's training defaults, unless the model is an RL model (its own are
    kept) or a flag is given."""
    game_defaults = env_wrappers.TRAINING_DEFAULTS[env_wrappers.DEFAULT_GAME]
    for kind, reward_scale in (("supervised", 1.0), ("reinforcement", 0.5)):
        env_config = env_wrappers.EnvConfig(obs_size=36, reward_scale=reward_scale)
        nw.save_model(str(tmp_path / "model" / kind), nw.create_network(TINY, OBS_SHAPE),
                      env_config, {"kind": kind})
    workspace = ["--workspace_path", str(tmp_path)]

    args, config = learner.parse_args(workspace)
    assert config == impala_update.LearnerConfig()
    _, scratch_env, *_ = learner.load_start(args, config)
    assert {name: getattr(scratch_env, name) for name in game_defaults} == game_defaults

    args, config = learner.parse_args(workspace + ["--pretrained_model", "supervised"])
    assert config == impala_update.LearnerConfig(**impala_update.FINE_TUNING_DEFAULTS)
    _, cloned_env, *_ = learner.load_start(args, config)
    assert cloned_env == scratch_env.replace(obs_size=36)

    args, config = learner.parse_args(workspace + ["--pretrained_model", "reinforcement",
                                                   "--learning_rate", "1e-4",
                                                   "--max_episode_steps", "0"])
    assert config.learning_rate == 1e-4 and config.kl_cost == 1.0
    _, rl_env, *_ = learner.load_start(args, config)
    assert rl_env.reward_scale == 0.5 and rl_env.max_episode_steps is None
    assert rl_env.life_loss_penalty == 0


def test_resume_continues_the_newest_checkpoint_and_a_fresh_run_refuses_it(tmp_path):
    env_config = env_wrappers.EnvConfig(obs_size=36)
    pretrained = nw.create_network(TINY, OBS_SHAPE, seed=4)
    nw.save_model(str(tmp_path / "model" / "sl"), pretrained, env_config, {"kind": "supervised"})
    flags = ["--workspace_path", str(tmp_path), "--kl_cost", "0.1"]
    args, config = learner.parse_args(flags + ["--pretrained_model", "sl", "--reward_scale", "0.5",
                                               "--max_episode_steps", "300",
                                               "--life_loss_penalty", "100"])
    network, start_env, states, meta, anchor = learner.load_start(args, config)
    assert meta["pretrained"] == str(tmp_path / "model" / "sl") and meta["update"] == 0
    assert start_env.reward_scale == 0.5 and states == [None]
    assert start_env.life_loss_penalty == 100 and env_config.life_loss_penalty == 0
    assert start_env.max_episode_steps == 300 and env_config.max_episode_steps is None
    for mine, theirs in zip(network.get_weights(), pretrained.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    assert anchor is not network

    step_config = impala_update.LearnerConfig(unroll_length=6, batch_size=1, kl_cost=0.1)
    optimizer = impala_update.make_optimizer(network, step_config)
    update = impala_update.make_update(network, optimizer, step_config, anchor)
    update(impala_update.stack_unrolls([fake_unroll(np.random.default_rng(0), 6)]))
    meta.update(update=7, frames=168)
    for number in (3, 7):
        learner.save_checkpoint(args, network, start_env, optimizer, dict(meta, update=number),
                                states, impala_update.LearnerConfig())

    with pytest.raises(UserError, match="reinforcement_model_7 is from an earlier run"):
        learner.load_start(args, config)
    args, config = learner.parse_args(flags + ["--resume"])
    resumed, resumed_env, _, resumed_meta, anchor = learner.load_start(args, config)
    assert (resumed_meta["update"], resumed_meta["frames"]) == (7, 168)
    assert resumed_meta["run_name"] == meta["run_name"]  # TensorBoard curves continue
    assert resumed_env == start_env and anchor is not None
    for mine, theirs in zip(resumed.get_weights(), network.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    restored = impala_update.make_optimizer(resumed, step_config)
    assert nw.load_optimizer_state(resumed_meta["resume_folder"], restored,
                                   resumed.trainable_variables)
    assert int(restored.policy.iterations.numpy()) == 1
    for mine, theirs in zip(restored.variables, optimizer.variables):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    assert len(restored.value.variables) > 2  # the value head's moments came back too
