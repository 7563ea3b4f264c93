"""LearnerConfig checks itself; the learner and the actor each take their own flags from the
launcher's shared list and refuse what neither knows."""

import pytest

from retro_rl.errors import UserError
from retro_rl.rl.config import DEFAULT_BIND, LearnerConfig
from retro_rl.rl.flags import parse_actor_args, parse_learner_args


def test_config_checks_itself():
    with pytest.raises(UserError, match="discount"):
        LearnerConfig(discount=1.5)
    with pytest.raises(UserError, match="unroll_length.*batch_size"):
        LearnerConfig(unroll_length=0, batch_size=0)
    with pytest.raises(UserError, match="kl_cost"):
        LearnerConfig(kl_cost=-1)


def test_flags_meant_for_actors_are_ignored_and_unknown_ones_are_errors():
    args, config = parse_learner_args(["--batch_size", "3", "--actor_id", "2",
                                       "--learner_address", "10.0.0.1:5"])
    assert config.batch_size == 3 and args.bind == DEFAULT_BIND
    assert parse_actor_args(["--total_frames", "99", "--actor_id", "2"]).actor_id == 2
    with pytest.raises(UserError, match="--bogus"):
        parse_learner_args(["--bogus", "1"])
    with pytest.raises(UserError, match="--bogus"):
        parse_actor_args(["--bogus"])
    with pytest.raises(UserError, match="HOST:PORT"):
        parse_learner_args(["--bind", "50051"])
    with pytest.raises(UserError, match="invalid int"):
        parse_learner_args(["--batch_size", "two"])
    with pytest.raises(UserError, match="--max_episode_steps"):
        parse_learner_args(["--max_episode_steps", "-1"])
    with pytest.raises(UserError, match="--life_loss_penalty"):
        parse_learner_args(["--life_loss_penalty", "-5"])
