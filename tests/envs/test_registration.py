"""The toolkit's environments as Gymnasium ids: what gymnasium.make builds, Gymnasium's own
checker, and Gymnasium's episode statistics beside the toolkit's."""

import os
import pathlib
import subprocess
import sys

import gymnasium as gym
import numpy as np
import stable_retro as retro
from gymnasium.utils.env_checker import check_env

import retro_rl  # noqa: F401  (registers the ids)
from retro_rl.envs import EnvConfig, make_env
from tests.support import ROOT

SETTINGS = {"frame_skip": 3, "grayscale": True, "frame_stack": 4, "sticky_action_prob": 0.25}


def play(env, actions, seed):
    observations = [env.reset(seed=seed)[0]]
    for action in actions:
        observations.append(env.step(action)[0])
    env.close()  # stable-retro runs one emulator per process
    return np.stack(observations)


def test_gymnasium_make_builds_what_make_env_builds():
    """From the same settings: by name through gymnasium.make and make_env, or as an EnvConfig."""
    actions = np.random.default_rng(0).integers(23, size=60)
    registered = play(gym.make("retro_rl/Airstriker-Genesis-v0", **SETTINGS), actions, seed=7)
    by_name = play(make_env(**SETTINGS), actions, seed=7)
    from_config = play(make_env(EnvConfig(**SETTINGS)), actions, seed=7)
    assert registered.shape == (61, 84, 84, 4)
    assert len({frame.tobytes() for frame in registered}) > 10  # the screen moves
    np.testing.assert_array_equal(registered, by_name)
    np.testing.assert_array_equal(registered, from_config)


def test_the_registered_environment_passes_gymnasiums_checker():
    env = gym.make("retro_rl/Airstriker-Genesis-v0")
    # The render and close checks make a second environment while this one is open, which
    # stable-retro refuses (one emulator per process); what they check is checked below.
    check_env(env, skip_render_check=True, skip_close_check=True)
    env.close()
    env.close()  # closing twice is allowed
    again = gym.make("retro_rl/Airstriker-Genesis-v0", render_mode="rgb_array")
    again.reset(seed=0)
    assert again.render().shape == (224, 320, 3)  # the Genesis screen
    again.close()


def test_record_episode_statistics_agrees_with_the_toolkits_statistics():
    env = gym.wrappers.RecordEpisodeStatistics(make_env(max_episode_steps=300))
    env.reset(seed=0)
    for step in range(300):
        # Tapping fire (B) shoots something down within 300 steps.
        _, _, terminated, truncated, info = env.step(4 if step % 2 == 0 else 0)
        if terminated or truncated:
            break
    env.close()
    assert truncated and step == 299
    ours, theirs = info["episode_stats"], info["episode"]
    assert ours["return"] > 0
    assert theirs["r"] == ours["return"] and theirs["l"] == ours["length"] == 300


def test_importing_the_package_registers_the_games_of_a_data_folder_with_stable_games_only(
        tmp_path):
    # A data folder of one's own (RETRO_DATA_PATH, as on a Ray node) need not have stable-retro's
    # experimental or contrib folders; `import retro_rl` still works and registers what is there.
    stable = tmp_path / "stable"
    stable.mkdir()
    installed = retro.data.get_file_path("Airstriker-Genesis-v0", "rom.sha",
                                         retro.data.Integrations.ALL)
    (stable / "Airstriker-Genesis-v0").symlink_to(pathlib.Path(installed).parent)
    check = ("import gymnasium, retro_rl; "
             "print(sorted(i for i in gymnasium.registry if i.startswith('retro_rl/')))")
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                            cwd=ROOT, env={**os.environ, "RETRO_DATA_PATH": str(tmp_path)},
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "['retro_rl/Airstriker-Genesis-v0']"
