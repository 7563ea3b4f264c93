"""LearnerConfig checks itself; the learner and the actor each take their own flags from the
launcher's shared list and refuse what neither knows."""

import dataclasses
import json

import pytest

from retro_rl.envs import EnvConfig
from retro_rl.errors import UserError
from retro_rl.rl.config import (DEFAULT_BIND, FINE_TUNING_DEFAULTS, PRESETS, LearnerConfig,
                                RunConfig)
from retro_rl.rl.flags import learner_parser, parse_actor_args, parse_learner_args


def test_config_checks_itself():
    with pytest.raises(UserError, match="discount"):
        LearnerConfig(discount=1.5)
    with pytest.raises(UserError, match="unroll_length.*batch_size"):
        LearnerConfig(unroll_length=0, batch_size=0)
    with pytest.raises(UserError, match="kl_cost"):
        LearnerConfig(kl_cost=-1)


def test_flags_meant_for_actors_are_ignored_and_unknown_ones_are_errors():
    run, _, config, notes = parse_learner_args(["--batch_size", "3", "--actor_id", "2",
                                       "--learner_address", "10.0.0.1:5"])
    assert config.batch_size == 3 and run.bind == DEFAULT_BIND
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


def test_every_run_setting_is_a_learner_flag_that_reaches_the_run_config():
    """A RunConfig field is the one edit a new run setting takes: the learner gets its flag,
    with a help, and the run code its value; a flag left out keeps the field's default."""
    helps = {action.dest: action.help for action in learner_parser()._actions}
    given = {"workspace_path": "w", "pretrained_model": "m", "preset": "ppo_rnd",
             "demo_starts": "movies", "demo_start_fraction": 0.25, "bind": "127.0.0.1:0",
             "gpu": 1, "tf_threads": 2, "run_name": "r", "seed": 5, "workers": 3,
             "address_fd": 9, "wandb_project": "p", "wandb_entity": "e"}
    for field in dataclasses.fields(RunConfig):
        assert helps.get(field.name), f"the learner has no --{field.name} with a help"
        assert field.name in given or field.type is bool, f"no value to try for {field.name}"
    flags = [text for name, value in given.items() for text in (f"--{name}", str(value))]
    run = parse_learner_args([*flags, "--no-resume", "--no-track"]).run
    assert run == RunConfig(**given)
    assert parse_learner_args([]).run == RunConfig()


@pytest.mark.parametrize("flags, refused", [
    (["--demo_start_fraction", "0.5"], "--demo_start_fraction needs --demo_starts"),
    (["--demo_starts", "m", "--demo_start_fraction", "2"], "--demo_start_fraction must be in"),
    (["--workers", "-1"], "--workers must be at least 0"),
    (["--tf_threads", "-2"], "--tf_threads must be at least 0"),
    (["--address_fd", "-3"], "--address_fd must be a file descriptor"),
    (["--gpu", "2"], "invalid choice"),
])
def test_run_settings_are_checked_before_anything_starts(flags, refused):
    with pytest.raises(UserError, match=refused):
        parse_learner_args(flags)


def test_demonstration_starts_take_half_the_episodes_unless_told():
    assert parse_learner_args(["--demo_starts", "m"]).run.demo_start_fraction == 0.5
    assert parse_learner_args([]).run.demo_start_fraction == 0.0


def write_model_config(folder, **metadata):
    """A model folder's config.json alone: what the flags read, without TensorFlow."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({
        "env": EnvConfig().to_dict(), "network": {}, "observation_shape": [84, 84, 3],
        **metadata}))
    return folder


def test_resume_continues_a_ppo_rnd_run_with_its_settings_and_says_so(tmp_path):
    saved = LearnerConfig(**{**PRESETS["ppo_rnd"], "unroll_length": 10})
    write_model_config(tmp_path / "model" / "reinforcement_model_20", kind="reinforcement",
                       update=20, pretrained=None, learner=dataclasses.asdict(saved))
    run, _, config, notes = parse_learner_args(["--workspace_path", str(tmp_path), "--resume",
                                       "--pretrained_model", "none"])  # what the launcher adds
    assert config == saved
    assert (config.algorithm, config.rnd_coef, config.learning_rate) == ("ppo", 1.0, 1e-4)
    (note,) = notes
    assert "ppo + RND, learning_rate 0.0001" in note and "changed by flags: none" in note

    run, _, config, notes = parse_learner_args(["--workspace_path", str(tmp_path), "--resume",
                                       "--learning_rate", "3e-5", "--total_frames", "900"])
    assert (config.learning_rate, config.total_frames, config.discount) == (3e-5, 900, 0.999)
    (note,) = notes
    assert note.endswith("changed by flags: learning_rate 0.0001 -> 3e-05, "
                         "total_frames 10000000 -> 900")


@pytest.mark.parametrize("flags, refused", [
    (["--algorithm", "impala"], "--algorithm impala"),
    (["--preset", "a2c_sonic"], "--algorithm a2c"),
    (["--rnd_coef", "0"], "--rnd_coef 0.0"),
])
def test_resume_refuses_what_would_make_it_another_run(tmp_path, flags, refused):
    write_model_config(tmp_path / "model" / "reinforcement_model_20", kind="reinforcement",
                       learner=dataclasses.asdict(LearnerConfig(**PRESETS["ppo_rnd"])))
    with pytest.raises(UserError, match=refused):
        parse_learner_args(["--workspace_path", str(tmp_path), "--resume", *flags])


def test_resumed_fine_tuning_keeps_its_pretrained_model_and_its_small_steps(tmp_path):
    pretrained = write_model_config(tmp_path / "model" / "supervised_model_3", kind="supervised")
    write_model_config(tmp_path / "model" / "other", kind="supervised")
    fine_tuning = LearnerConfig(**FINE_TUNING_DEFAULTS)
    write_model_config(tmp_path / "model" / "reinforcement_model_40", kind="reinforcement",
                       pretrained=str(pretrained), learner=dataclasses.asdict(fine_tuning))
    run, _, config, notes = parse_learner_args(["--workspace_path", str(tmp_path), "--resume"])
    assert config.learning_rate == config.value_learning_rate == 1e-5 and config.kl_cost == 1.0
    assert run.pretrained_model == str(pretrained)
    same, *_ = parse_learner_args(["--workspace_path", str(tmp_path), "--resume",
                                  "--pretrained_model", "supervised_model_3"])
    assert same.pretrained_model == str(pretrained)
    with pytest.raises(UserError, match="started from .*supervised_model_3"):
        parse_learner_args(["--workspace_path", str(tmp_path), "--resume",
                            "--pretrained_model", "other"])


def test_resume_without_a_checkpoint_is_refused(tmp_path):
    with pytest.raises(UserError, match="--resume: no reinforcement_model_"):
        parse_learner_args(["--workspace_path", str(tmp_path), "--resume"])


def cloned_critic(tmp_path, **targets):
    settings = {"reward_scale": 0.05, "life_loss_penalty": 200.0, "discount": 0.99,
                "cutoff_weight": 0.05, **targets}  # Airstriker's training defaults
    write_model_config(tmp_path / "model" / "clone", kind="supervised", value_targets=settings)
    return ["--workspace_path", str(tmp_path), "--pretrained_model", "clone"]


def test_a_cloned_critic_skips_the_value_warmup_only_for_its_own_discount_and_reward(tmp_path):
    flags = cloned_critic(tmp_path)
    run, _, config, notes = parse_learner_args(flags)
    assert config.value_warmup_updates == 0
    assert notes == ("no value warm-up: the pretrained model's value head learnt the returns "
                     "of this run's reward and discount",)

    run, _, config, notes = parse_learner_args([*flags, "--preset", "ppo_rnd"])  # gamma 0.999
    assert config.value_warmup_updates == FINE_TUNING_DEFAULTS["value_warmup_updates"]
    (note,) = notes
    assert "value warm-up of 500 updates" in note and "discount 0.99 (this run: 0.999)" in note

    run, _, config, notes = parse_learner_args([*flags, "--reward_scale", "1"])
    assert config.value_warmup_updates == 500
    assert "reward_scale 0.05 (this run: 1.0)" in notes[0]

    _, _, config, _ = parse_learner_args([*flags, "--value_warmup_updates", "7"])
    assert config.value_warmup_updates == 7  # a flag given wins


def test_a_model_without_a_cloned_critic_warms_its_value_head_up(tmp_path):
    write_model_config(tmp_path / "model" / "clone", kind="supervised", value_targets=None)
    run, _, config, notes = parse_learner_args(["--workspace_path", str(tmp_path),
                                       "--pretrained_model", "clone"])
    assert config.value_warmup_updates == 500 and notes == ()
