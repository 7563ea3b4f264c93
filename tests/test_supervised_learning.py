"""Behaviour cloning: the sequence pipeline, and run_supervised_learning.py end to end on movies
recorded here with the real emulator (tiny observations and LSTM: the point is the mechanics)."""

import json
import os
import pathlib
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import network as nw
import replay_parser
import run_supervised_learning as sl
import sl_data

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "run_supervised_learning.py"
GAME = "Airstriker-Genesis-v0"
TINY = ["--obs_size", "36", "--lstm_units", "16", "--batch_size", "4", "--seq_len", "8",
        "--workers", "1", "--val_fraction", "0.34", "--learning_rate", "2e-3",
        "--log_every", "5", "--eval_every", "20", "--save_every", "20"]

# Plays a demonstrator that mostly fires to the right (B+RIGHT) and holds each action for a few
# steps, like a person. A fresh environment per movie: one emulator per process at a time.
RECORDER = """
import os, sys
import numpy as np
import env_wrappers
out, movies, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
for movie in range(movies):
    folder = os.path.join(out, str(movie))
    env = env_wrappers.make_env(record_path=folder, obs_size=36)
    env.reset(seed=movie)
    step = 0
    while step < steps:
        action = 8 if rng.random() < 0.6 else int(rng.choice([0, 1, 2, 4, 6]))
        for _ in range(int(rng.integers(1, 6))):
            _, _, terminated, truncated, _ = env.step(action)
            step += 1
            if terminated or truncated or step == steps:
                break
        if terminated or truncated:
            break
    env.close()
    (name,) = os.listdir(folder)
    renamed = name.replace("-000000", f"-{movie:06d}")
    os.replace(os.path.join(folder, name), os.path.join(out, renamed))
    os.rmdir(folder)
"""


def run_script(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def assert_one_line_error(result, *words):
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    (line,) = error_lines(result)
    for word in words:
        assert word in line, line


@pytest.fixture(scope="module")
def movies(tmp_path_factory):
    folder = tmp_path_factory.mktemp("movies")
    subprocess.run([sys.executable, "-c", RECORDER, str(folder), "3", "120"], cwd=ROOT,
                   check=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return folder


@pytest.fixture(scope="module")
def trained(movies, tmp_path_factory):
    workspace = tmp_path_factory.mktemp("workspace")
    result = run_script("--workspace_path", workspace, "--replay_path", movies,
                        "--training_steps", 40, *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    return workspace, result


def scalars(workspace, tag):
    """{step: value} of one scalar tag over every TensorBoard event file in the workspace."""
    values = {}
    for path in (workspace / "tensorboard").rglob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == tag:
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    return values


def test_short_run_learns_and_writes_model_logs_and_curve(trained, movies):
    workspace, result = trained
    losses = scalars(workspace, "losses/train_cross_entropy")
    assert sorted(losses) == list(range(5, 45, 5))
    # The demonstrator fires right 60%+ of the time: a uniform guess costs ln 23 = 3.1 nats.
    assert losses[40] < 0.75 * losses[5], losses
    for tag in ("losses/val_cross_entropy", "metrics/val_accuracy", "metrics/train_accuracy",
                "metrics/train_balanced_accuracy", "metrics/val_balanced_accuracy",
                "charts/learning_rate", "charts/frames_per_second"):
        assert scalars(workspace, tag), f"no {tag} in the TensorBoard log"
    assert 0 < scalars(workspace, "metrics/train_accuracy")[40] <= 1

    model = workspace / "model" / "supervised_model_40"
    assert (workspace / "model" / "supervised_model_20").is_dir()
    network, env_config, config = nw.load_model(model)
    assert (env_config.game, env_config.obs_size, env_config.frame_skip) == (GAME, 36, 4)
    assert network.observation_shape == (36, 36, 3) and network.config.lstm_units == 16
    assert config["kind"] == "supervised" and config["step"] == 40
    assert pathlib.Path(config["dataset"]).is_dir()
    assert (model / nw.OPTIMIZER_FILE).is_file()

    image = workspace / "image" / "supervised_learning.png"
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.stat().st_size > 10_000
    assert (f"python run_evaluation.py --workspace_path {workspace} "
            f"--model_name supervised_model_40") in result.stdout


def test_resume_restores_optimizer_and_continues_the_step_count(trained, movies):
    workspace, _ = trained
    checkpoint = workspace / "model" / "supervised_model_40"
    network, optimizer, variables, step = sl.build_learner(
        None, None, 1e-3, seed=0, checkpoint=str(checkpoint))
    assert step == 40 and int(optimizer.iterations.numpy()) == 40
    with np.load(checkpoint / nw.OPTIMIZER_FILE) as saved:
        saved_values = [saved[key] for key in sorted(saved.files)]
    assert len(saved_values) == len(optimizer.variables) > 2
    for variable, value in zip(optimizer.variables, saved_values):
        np.testing.assert_array_equal(variable.numpy(), value, err_msg=variable.path)
    assert any(np.abs(value).sum() > 0 for value in saved_values[2:])  # the Adam moments

    before = scalars(workspace, "losses/train_cross_entropy")
    result = run_script("--workspace_path", workspace, "--replay_path", movies, "--resume",
                        "--training_steps", 50, *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming" in result.stdout and "step 40" in result.stdout
    _, _, config = nw.load_model(workspace / "model" / "supervised_model_50")
    assert config["step"] == 50
    resumed_optimizer = np.load(workspace / "model" / "supervised_model_50" / nw.OPTIMIZER_FILE)
    assert int(resumed_optimizer[sorted(resumed_optimizer.files)[0]]) == 50  # iterations
    after = scalars(workspace, "losses/train_cross_entropy")
    assert sorted(set(after) - set(before)) == [45, 50]  # same run, steps carry on
    # Trained weights came back: the loss goes on from where it was, far below a fresh start.
    assert after[45] < 0.85 * before[5]


def synthetic_episodes(lengths, num_actions=23):
    """Episodes whose frames say where they come from: pixel (0, 0) holds [movie, step % 256,
    step // 256]; action at step t is (movie + t) % num_actions."""
    episodes = []
    for movie, length in enumerate(lengths):
        steps = np.arange(length)
        observations = np.zeros((length, 4, 4, 3), np.uint8)
        observations[:, 0, 0] = np.stack([np.full(length, movie), steps % 256, steps // 256], -1)
        dones = np.zeros(length, bool)
        dones[-1] = True
        episodes.append(replay_parser.Episode(
            f"movie{movie:02d}", observations, ((movie + steps) % num_actions).astype(np.int32),
            (steps * 0.5).astype(np.float32), dones))
    return episodes


def origins(batch):
    """(movie, step) of every [t, b] of a batch."""
    pixel = batch.observations[:, :, 0, 0].astype(np.int64)
    return pixel[..., 0], pixel[..., 1] + 256 * pixel[..., 2]


def test_validation_split_never_shares_a_movie():
    episodes = synthetic_episodes([30 + 7 * i for i in range(10)])
    train, val = sl_data.split_by_movie(episodes, 0.3, seed=5)
    assert len(val) == 3 and len(train) == 7
    assert {e.name for e in train}.isdisjoint({e.name for e in val})
    assert {e.name for e in train} | {e.name for e in val} == {e.name for e in episodes}
    # A resumed run keeps its predecessor's validation set whatever the seed.
    _, val_again = sl_data.split_by_movie(episodes, 0.3, seed=99,
                                          val_names=[e.name for e in val])
    assert [e.name for e in val_again] == [e.name for e in val]

    val_ids = {int(e.name[-2:]) for e in val}
    stream = sl_data.LaneStream(sl_data.Movies(train), batch_size=6, seq_len=9, seed=0)
    seen_train = set()
    for _ in range(40):
        movie, _ = origins(next(stream))
        seen_train |= set(np.unique(movie).tolist())
    assert seen_train == {int(e.name[-2:]) for e in train}  # all of them, and only them
    # Validation covers every step of every held-out movie exactly once.
    val_movies = sl_data.Movies(val)
    seen = []
    for batch in sl_data.evaluation_batches(val_movies, batch_size=2, seq_len=7):
        movie, step = origins(batch)
        seen += [(f"movie{m:02d}", s) for m, s in zip(movie[batch.mask], step[batch.mask])]
    assert sorted(seen) == sorted((e.name, s) for e in val for s in range(len(e.actions)))
    assert {int(name[-2:]) for name, _ in seen} == val_ids


def test_lanes_continue_movies_across_chunks_with_episode_starts():
    episodes = synthetic_episodes([7, 12, 4, 9, 15])
    movies = sl_data.Movies(episodes)
    stream = sl_data.LaneStream(movies, batch_size=3, seq_len=5, seed=3)
    batches = [next(stream) for _ in range(30)]
    for lane in range(3):
        movie = np.concatenate([origins(b)[0][:, lane] for b in batches])
        step = np.concatenate([origins(b)[1][:, lane] for b in batches])
        start = np.concatenate([b.episode_start[:, lane] for b in batches])
        prev_action = np.concatenate([b.prev_actions[:, lane] for b in batches])
        prev_reward = np.concatenate([b.prev_rewards[:, lane] for b in batches])
        action = np.concatenate([b.actions[:, lane] for b in batches])
        assert start[0]  # a lane begins anywhere in its first movie, with a fresh state
        for t in range(1, len(step)):
            if start[t]:  # a new movie, from its first step, after the last one ended
                assert step[t] == 0 and step[t - 1] == len(episodes[movie[t - 1]].actions) - 1
                assert prev_action[t] == 0 and prev_reward[t] == 0
            else:  # the same movie, next step, with the step before's action and reward
                assert movie[t] == movie[t - 1] and step[t] == step[t - 1] + 1
                assert prev_action[t] == action[t - 1] and prev_reward[t] == 0.5 * step[t - 1]
        assert (action == (movie + step) % 23).all()


def test_tf_data_pipeline_delivers_the_chunks_in_order():
    movies = sl_data.Movies(synthetic_episodes([13, 8, 21]))
    plain = sl_data.LaneStream(movies, batch_size=3, seq_len=4, seed=7)
    expected = [next(plain) for _ in range(6)]
    dataset = sl_data.training_dataset(sl_data.LaneStream(movies, 3, 4, seed=7), (4, 4, 3))
    for want, got in zip(expected, dataset.take(6)):
        for field in sl_data.Batch._fields:
            np.testing.assert_array_equal(getattr(got, field).numpy(), getattr(want, field))


@pytest.fixture(scope="module")
def tiny_network():
    return nw.create_network(nw.NetworkConfig(lstm_units=8), (36, 36, 3), seed=0)


def test_training_step_hands_the_lanes_state_to_the_next_chunk(tiny_network):
    rng = np.random.default_rng(0)
    episodes = [e._replace(observations=rng.integers(0, 256, (len(e.actions), 36, 36, 3),
                                                     dtype=np.uint8))
                for e in synthetic_episodes([11, 6, 9])]
    stream = sl_data.LaneStream(sl_data.Movies(episodes), batch_size=2, seq_len=4, seed=1)
    first, second = next(stream), next(stream)
    optimizer = keras.optimizers.Adam(0.0)  # no update: the weights stay comparable
    variables = tiny_network.policy_variables
    optimizer.build(variables)
    train_step = sl.make_train_step(tiny_network, optimizer, variables)
    _, _, state = train_step(first, tiny_network.initial_state(2))
    _, _, state = train_step(second, state)
    both = [np.concatenate([a, b]) for a, b in zip(first[:4], second[:4])]
    _, _, whole_state = tiny_network.unroll(*both, tiny_network.initial_state(2))
    for carried, whole in zip(state, whole_state):
        np.testing.assert_allclose(carried.numpy(), whole.numpy(), atol=1e-5)


def test_validation_scores_do_not_depend_on_the_chunk_length(tiny_network):
    rng = np.random.default_rng(1)
    episodes = [e._replace(observations=rng.integers(0, 256, (len(e.actions), 36, 36, 3),
                                                     dtype=np.uint8))
                for e in synthetic_episodes([23, 9, 14])]
    movies = sl_data.Movies(episodes)
    short = sl.evaluate(tiny_network, movies, batch_size=2, seq_len=3)
    whole = sl.evaluate(tiny_network, movies, batch_size=2, seq_len=40)
    assert short["cross_entropy"] == pytest.approx(whole["cross_entropy"], rel=1e-5)
    np.testing.assert_array_equal(short["confusion"], whole["confusion"])
    assert short["confusion"].sum() == 23 + 9 + 14


def test_balanced_accuracy_weighs_every_demonstrated_action_alike():
    labels = np.array([0] * 90 + [2] * 10)
    always_none = sl_data.confusion_counts(labels, np.zeros(100, int), np.ones(100, bool), 23)
    assert sl_data.accuracy(always_none) == pytest.approx(0.9)
    assert sl_data.balanced_accuracy(always_none) == pytest.approx(0.5)


def test_empty_replay_folder_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_script("--workspace_path", tmp_path, "--replay_path", tmp_path / "empty")
    assert_one_line_error(result, str(tmp_path / "empty"), "no .bk2")


def test_movies_of_a_game_without_its_rom_are_one_line(movies, tmp_path):
    game = "SonicTheHedgehog2-Genesis"
    try:
        import env_wrappers
        env_wrappers.check_rom(env_wrappers.resolve_game(game))
        pytest.skip("the Sonic 2 ROM is imported here")
    except sl.cli.UserError:
        pass
    source = sorted(movies.glob("*.bk2"))[0]
    target = tmp_path / "sonic" / "SonicTheHedgehog2-Genesis-EmeraldHillZone.Act1-0000.bk2"
    target.parent.mkdir()
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == "Header.txt":
                data = data.replace(GAME.encode(), game.encode())
            new.writestr(item, data)
    result = run_script("--workspace_path", tmp_path, "--replay_path", target.parent)
    assert_one_line_error(result, "not imported", "stable_retro.import")


def test_resume_refuses_other_settings(trained, movies):
    workspace, _ = trained
    other = [*TINY[:1], "40", *TINY[2:]]  # obs_size 40 instead of 36
    result = run_script("--workspace_path", workspace, "--replay_path", movies, "--resume",
                        "--training_steps", 60, *other)
    assert_one_line_error(result, "cannot resume", "obs_size=36", "40")


def test_dataset_parsed_with_other_settings_is_refused(trained, movies):
    workspace, _ = trained
    _, _, config = nw.load_model(workspace / "model" / "supervised_model_40")
    other = [*TINY[:1], "40", *TINY[2:]]
    result = run_script("--workspace_path", workspace, "--replay_path", movies,
                        "--dataset_path", config["dataset"], "--training_steps", 5, *other)
    assert_one_line_error(result, config["dataset"])


@pytest.mark.parametrize("flags, words", [
    (["--batch_size", "many"], ["--batch_size", "invalid int"]),
    (["--seq_len", "0"], ["--seq_len", "at least 1"]),
    (["--val_fraction", "1"], ["--val_fraction"]),
])
def test_bad_flags_are_one_line(tmp_path, flags, words):
    result = run_script("--workspace_path", tmp_path, *flags)
    assert_one_line_error(result, *words)
    assert not (tmp_path / "datasets").exists()  # refused before any work


def test_resume_without_a_checkpoint_is_one_line(movies, tmp_path):
    result = run_script("--workspace_path", tmp_path, "--replay_path", movies, "--resume")
    assert_one_line_error(result, "nothing to resume")
