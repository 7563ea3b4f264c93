"""Parsing folders of movies: bad movies reported one line each while the good ones are parsed,
datasets never mixed, and Ctrl-C leaving only whole files."""

import shutil
import signal
import time
import zipfile

import numpy as np
import pytest

from retro_rl import fileio
from retro_rl.demos import dataset, movies, parsing
from retro_rl.envs import games
from retro_rl.errors import UserError
from tests.demos.recordings import record_live
from tests.support import DEMOS, game_without_rom, run_command, start_interruptible


def run_cli(*args, **kwargs):
    return run_command("replay_parser.py", *args, **kwargs)


@pytest.fixture(scope="module")
def game_over_movie(tmp_path_factory):
    """A whole random-play Airstriker episode recorded by make_env, to game over."""
    return record_live(tmp_path_factory.mktemp("live"), seed=3)


# ------------------------------------------------------------------------------ bad input


def write_variant(source, target, **replace):
    """Copies a .bk2, replacing members' contents: write_variant(a, b, **{"Header.txt": ...})."""
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w") as out:
        for name in archive.namelist():
            key = name.replace(" ", "_").replace(".", "_")
            out.writestr(name, replace.get(key, archive.read(name)))


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory, game_over_movie):
    """Two good movies beside one of each kind of bad one."""
    folder = tmp_path_factory.mktemp("mixed")
    good = game_over_movie[0]
    shutil.copy(good, folder / "good-a.bk2")
    record_live(tmp_path_factory.mktemp("short"), 7, steps=60)[0].replace(folder / "good-b.bk2")
    data = good.read_bytes()
    (folder / "truncated.bk2").write_bytes(data[: len(data) // 2])
    (folder / "notes.bk2").write_text("not a movie\n")
    log = zipfile.ZipFile(good).read("Input Log.txt").decode().splitlines()
    write_variant(good, folder / "empty.bk2", Input_Log_txt="\n".join(log[:2] + ["[/Input]"]))
    write_variant(good, folder / "badstate.bk2", Core_bin=bytes(4096))
    header = zipfile.ZipFile(good).read("Header.txt").decode()
    write_variant(good, folder / "norom.bk2",
                  Header_txt=header.replace(games.DEFAULT_GAME, game_without_rom()))
    return folder


@pytest.mark.slow
def test_bad_movies_are_reported_and_the_good_ones_still_parsed(mixed_folder, tmp_path):
    result = run_cli("--replay_path", mixed_folder, "--dataset_path", tmp_path, "--workers", 2)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 5
    expected = {"truncated.bk2": "truncated or corrupt zip", "notes.bk2": "not a .bk2 movie",
                "empty.bk2": "zero frames", "norom.bk2": "python -m stable_retro.import",
                "badstate.bk2": "start state does not load"}
    for name, reason in expected.items():
        line, = [line for line in errors if name in line]
        assert reason in line
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "good-a.npz", "good-b.npz", "manifest.json"]
    assert [episode.name for episode in dataset.load_dataset(tmp_path)] == ["good-a", "good-b"]
    assert "2 usable, 5 failed" in result.stdout

    # A second run replays nothing already parsed.
    before = {path: path.stat().st_mtime_ns for path in tmp_path.glob("*.npz")}
    again = run_cli("--replay_path", mixed_folder, "--dataset_path", tmp_path)
    assert again.returncode == 0
    assert again.stdout.count("skipped (already parsed)") == 2
    assert before == {path: path.stat().st_mtime_ns for path in tmp_path.glob("*.npz")}


@pytest.mark.parametrize("names", [["truncated.bk2", "notes.bk2"], ["empty.bk2"], ["norom.bk2"]])
def test_nothing_usable_is_exit_status_2_and_writes_nothing(mixed_folder, tmp_path, names):
    result = run_cli("--replay_path", *(mixed_folder / name for name in names),
                     "--dataset_path", tmp_path / "data")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: no usable movie")
    assert not (tmp_path / "data").exists()


def test_a_gymnasium_action_table_is_refused_by_the_movie_commands(tmp_path):
    """The observation flags come from EnvConfig's fields, whose action_set also takes a
    Gymnasium id's own actions; .bk2 movies are stable-retro's, so these commands do not."""
    result = run_cli("--replay_path", DEMOS, "--dataset_path", tmp_path / "data",
                     "--action_set", "native")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: argument --action_set: invalid choice: 'native'")
    assert not (tmp_path / "data").exists()


def test_empty_or_missing_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    for folder, reason in [(tmp_path / "empty", "folder holds no .bk2 movies"),
                           (tmp_path / "gone", "no such file or folder")]:
        result = run_cli("--replay_path", folder, "--dataset_path", tmp_path / "data")
        assert (result.returncode, result.stderr) == (2, f"error: {folder}: {reason}\n")
        assert not (tmp_path / "data").exists()
    with pytest.raises(UserError, match="holds no .bk2"):
        parsing.parse_movies(tmp_path / "empty", tmp_path / "data", progress=False)


def test_a_dataset_is_not_mixed_with_other_settings(game_over_movie, tmp_path):
    parsing.parse_movies(game_over_movie[0], tmp_path, workers=1, progress=False)
    with pytest.raises(UserError, match="frame_skip"):
        parsing.parse_movies(game_over_movie[0], tmp_path, frame_skip=2, progress=False)


@pytest.mark.slow
def test_ctrl_c_keeps_the_movies_parsed_and_leaves_no_partial_file(tmp_path):
    """Ten movies take seconds; the interrupt comes as soon as the first is in the manifest,
    while both workers are still replaying, so it always cuts a parse in the middle."""
    paths = sorted(DEMOS.glob("*.bk2"))
    process = start_interruptible("replay_parser.py", "--replay_path", *paths,
                                  "--dataset_path", tmp_path, "--workers", "2")
    deadline = time.monotonic() + 120
    while not (tmp_path / dataset.MANIFEST).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (tmp_path / dataset.MANIFEST).exists(), "no movie was parsed within two minutes"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert not list(tmp_path.glob(".*"))  # no temporary file
    # What was written is whole: every manifest entry loads, and no .npz is outside it.
    episodes = dataset.load_dataset(tmp_path)
    assert 1 <= len(episodes) < len(paths)
    assert sorted(path.stem for path in tmp_path.glob("*.npz")) == sorted(
        episode.name for episode in episodes)
    for episode in episodes:
        assert len(episode.observations) == len(episode.actions) == len(episode.dones) > 0


def test_the_python_api_reports_bad_movies_in_its_result(mixed_folder, tmp_path):
    manifest = parsing.parse_movies([mixed_folder / "good-b.bk2", mixed_folder / "truncated.bk2"],
                                          tmp_path / "data", workers=1, progress=False)
    assert [movie["name"] for movie in manifest["movies"]] == ["good-b"]
    error, = manifest["errors"]
    assert "truncated.bk2: truncated or corrupt zip" in error
    with pytest.raises(UserError, match="empty.bk2: the movie has zero frames"):
        parsing.parse_movies(mixed_folder / "empty.bk2", tmp_path / "other", progress=False)


def corrupted_copies(source, folder, count):
    """Copies of a movie with one byte flipped inside its compressed Input Log each, at
    positions spread over the member's data."""
    with zipfile.ZipFile(source) as archive:
        info = archive.getinfo("Input Log.txt")
    data = bytearray(source.read_bytes())
    name_length, extra_length = np.frombuffer(
        bytes(data[info.header_offset + 26:info.header_offset + 30]), "<u2")
    start = info.header_offset + 30 + int(name_length) + int(extra_length)
    copies = []
    for index, position in enumerate(np.linspace(start, start + info.compress_size - 1, count,
                                                 dtype=int)):
        damaged = bytearray(data)
        damaged[position] ^= 0x5A
        copies.append(folder / f"corrupt-{index:02d}.bk2")
        copies[-1].write_bytes(bytes(damaged))
    return copies


def test_corrupt_compressed_inputs_are_one_line_each_and_the_rest_is_parsed(game_over_movie,
                                                                           tmp_path):
    copies = corrupted_copies(game_over_movie[0], tmp_path, 40)
    refused = 0
    for path in copies:
        try:
            movies.read_movie(path)  # a flip may land where nothing checks it: then it reads
        except UserError as error:
            assert str(path) in str(error) and "\n" not in str(error)
            refused += 1
    assert refused >= 30  # the CRC catches nearly every flip, zlib the rest
    good = tmp_path / "good.bk2"
    shutil.copy(game_over_movie[0], good)
    result = run_cli("--replay_path", good, *copies[:8], "--dataset_path", tmp_path / "data",
                     "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert [episode.name for episode in dataset.load_dataset(tmp_path / "data")][0] == "good"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert all("corrupt-" in line for line in errors) and len(errors) >= 6


def test_a_damaged_npz_is_parsed_again_not_skipped(game_over_movie, tmp_path):
    movie = game_over_movie[0]
    parsing.parse_movies(movie, tmp_path, workers=1, progress=False)
    npz = tmp_path / f"{movie.stem}.npz"
    original = dataset.load_dataset(tmp_path)[0]
    for damage in (lambda data: data[: len(data) // 2],  # truncated
                   lambda data: data[:500] + bytes(b ^ 1 for b in data[500:520]) + data[520:],
                   lambda data: b""):  # zero bytes
        npz.write_bytes(damage(npz.read_bytes()))
        with pytest.raises(UserError, match=f"{npz}.*parse {movie}"):
            dataset.load_dataset(tmp_path)
        manifest = parsing.parse_movies(movie, tmp_path, workers=1, progress=False)
        assert manifest["movies"][0]["npz_sha256"] == fileio.sha256_file(npz)
        np.testing.assert_array_equal(dataset.load_dataset(tmp_path)[0].actions,
                                      original.actions)


def test_an_unwritable_dataset_folder_is_refused_before_any_replay(game_over_movie, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the dataset folder's parent should be")
    result = run_cli("--replay_path", game_over_movie[0], "--dataset_path", blocker / "data")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: cannot write to {blocker / 'data'}")
    assert "replaying" not in result.stderr  # no progress bar: nothing was replayed
