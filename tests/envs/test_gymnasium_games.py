"""Gymnasium ids as games: the ALE's Atari games with the published setup, on the real ALE."""

import numpy as np
import pytest

from retro_rl.envs import EnvConfig, games, make_env
from retro_rl.errors import UserError


def test_an_ale_game_gets_the_published_atari_setup():
    config = EnvConfig(game="ALE/Pong-v5")
    assert (config.grayscale, config.frame_stack, config.sticky_action_prob, config.noop_max) \
        == (True, 4, 0.25, 30)
    assert config.action_set == "native" and config.num_actions == 6
    assert config.action_names[:2] == ["NOOP", "FIRE"]
    assert config.observation_shape == (84, 84, 4)
    # Clipping and a life lost as an episode's end are for training.
    assert not config.clip_rewards and not config.life_loss_ends_episode
    training = config.with_training_defaults()
    assert training.clip_rewards and training.life_loss_ends_episode
    # A stable-retro game keeps its own defaults.
    assert EnvConfig().observation_shape == (84, 84, 3) and EnvConfig().sticky_action_prob == 0


def first_frame_numbers(noop_max, seeds):
    env = make_env(game="ALE/Pong-v5", noop_max=noop_max)
    numbers = [env.reset(seed=seed)[1]["episode_frame_number"] for seed in seeds]
    env.close()
    return numbers


def test_no_op_starts_begin_each_episode_after_1_to_30_frames_drawn_from_its_seed():
    fire = 4  # Pong waits for FIRE, pressed for one agent step after the no-ops
    drawn = first_frame_numbers(30, range(12))
    assert all(1 <= frames - fire <= 30 for frames in drawn)
    assert len(set(drawn)) >= 5
    assert first_frame_numbers(30, [3, 3]) == [drawn[3]] * 2
    assert first_frame_numbers(0, range(3)) == [fire] * 3


def test_training_sees_clipped_rewards_and_lives_as_episodes_while_statistics_keep_the_game():
    """Space Invaders scores 5 to 30 an invader and has three lives."""
    env = EnvConfig(game="ALE/SpaceInvaders-v5").with_training_defaults().make()
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    rewards, life_ends = [], 0
    for _ in range(3000):
        _, reward, terminated, truncated, info = env.step(int(rng.integers(6)))
        rewards.append(reward)
        if "episode_stats" in info:
            break
        if terminated:
            assert info["life_lost"]
            life_ends += 1
            _, info = env.reset()
            assert info["lives"] == 3 - life_ends  # the game went on
    env.close()
    assert set(rewards) <= {0.0, 1.0} and sum(rewards) > 5
    assert life_ends == 2  # the third life's end is the game's
    score = info["episode_stats"]["return"]
    assert score % 5 == 0 and score > 5 * sum(rewards)  # the game's points, not their signs


def test_evaluation_settings_play_whole_games_with_the_score():
    env = make_env(game="ALE/SpaceInvaders-v5", max_episode_steps=400)
    env.reset(seed=0)
    total = 0.0
    for step in range(400):
        _, reward, terminated, truncated, info = env.step(4 if step % 2 else 5)
        total += reward
        assert not terminated  # a life lost goes on
        if truncated:
            break
    env.close()
    assert total > 1 and info["episode_stats"]["return"] == total


@pytest.mark.parametrize("game, words", [
    ("ALE/Pongg-v5", ["unknown game 'ALE/Pongg-v5'", "ALE/Pong-v5"]),
    ("Pendulum-v1", ["Pendulum-v1", "not discrete"]),
    ("CartPole-v1", ["CartPole-v1", "not RGB screens"]),
])
def test_what_cannot_be_played_is_named(game, words):
    with pytest.raises(UserError) as error:
        games.resolve_game(game)
    for word in words:
        assert word in str(error.value)


def test_gymnasium_ids_have_no_start_states_or_movies(tmp_path):
    with pytest.raises(UserError, match="no start states"):
        games.resolve_states("ALE/Pong-v5", "Level1")
    with pytest.raises(UserError, match=".bk2"):
        make_env(game="ALE/Pong-v5", record_path=str(tmp_path))
