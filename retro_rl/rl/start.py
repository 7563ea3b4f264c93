"""Where a learner's run starts (a pretrained model, its own newest checkpoint, or scratch), with
which environment settings, and the checkpoints it leaves to start from again.

Checkpoints are <workspace>/model/reinforcement_model_<update>/: a model folder (model/
checkpoints.py), plus the optimizer; config.json carries kind, update, frames, pretrained,
states, run_name, final (written where a run ended) and the learner's settings. Only the newest
--keep_checkpoints of them stay, besides the final ones and the pretrained model.
"""

import dataclasses
import logging
import os
import time

from retro_rl import fileio
from retro_rl.envs import EnvConfig, games
from retro_rl.errors import UserError
from retro_rl.model import checkpoints, folders
from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network, with_intrinsic_head

log = logging.getLogger("learner")


def split_env_flags(env_flags):
    """(model, run): of the environment settings given on the command line (`env_flags`,
    {EnvConfig field: value}), those a model is made for (its game, observations, actions: for a
    network from scratch) and the others (over whatever the run starts from). The state is left
    out (its flag names the run's start states) and max_episode_steps 0 is no limit."""
    given = {name: value for name, value in env_flags.items() if name != "state"}
    if "game" in given:
        given["game"] = games.resolve_game(given["game"])
    if given.get("max_episode_steps") == 0:
        given["max_episode_steps"] = None
    model = {field.name for field in dataclasses.fields(EnvConfig) if field.metadata.get("model")}
    return ({name: value for name, value in given.items() if name in model},
            {name: value for name, value in given.items() if name not in model})


def load_start(flags):
    """Decides where training starts, for what the learner's command line says
    (flags.LearnerFlags: the run's settings, the environment settings given, the learner's).
    Returns (network, env_config, states, meta, anchor): meta has update, frames, pretrained
    (folder or None), run_name and resume_folder; anchor is the KL term's pretrained network,
    or None."""
    run, env_flags, config = flags.run, flags.env, flags.learner
    fileio.remove_stale_temporaries(folders.models_folder(run.workspace_path))
    model_flags, run_flags = split_env_flags(env_flags)
    network, env_config, saved, meta = _starting_model(run, model_flags, config)
    if run.resume and not env_flags.get("state"):
        states = saved.get("states", [env_config.state])
    else:
        states = games.resolve_states(env_config.game, env_flags.get("state"), env_config.state)
    differ = [f"--{name} {value} (the model's: {getattr(env_config, name)})"
              for name, value in model_flags.items() if getattr(env_config, name) != value]
    if differ:
        raise UserError(f"{', '.join(differ)}: a model plays the game, and sees the observations "
                        "and chooses among the actions, it was trained with; these flags are for "
                        "a run from scratch")
    games.check_rom(env_config.game)
    if config.rnd_coef > 0 and network.intrinsic_value_head is None:
        network = with_intrinsic_head(network, seed=run.seed)
        log.info("RND: the model gets an intrinsic value head (new, untrained)")
    env_config = env_config.replace(state=states[0])
    # What is trained on: the flags, else an RL model's own settings, else the game's training
    # defaults (a cloned model never trained on rewards, so its settings were never chosen).
    if saved.get("kind") != "reinforcement":
        env_config = env_config.with_training_defaults()
    env_config = env_config.replace(**run_flags)
    meta["run_name"] = meta["run_name"] or time.strftime("reinforcement_%Y%m%d-%H%M%S")
    return network, env_config, states, meta, _kl_anchor(config, meta["pretrained"])


def _starting_model(run, model_flags, config):
    """(network, env_config, its saved config.json or {}, meta) of what the run starts from:
    with --resume the newest checkpoint that loads, else the pretrained model, else a new
    network made for `model_flags` over EnvConfig's defaults."""
    meta = {"update": 0, "frames": 0, "pretrained": None, "run_name": run.run_name,
            "resume_folder": None}
    prefix = folders.REINFORCEMENT_PREFIX
    if run.resume:
        folder, loaded = checkpoints.newest_loadable_checkpoint(
            run.workspace_path, prefix, lambda path: checkpoints.load_checkpoint(path, "update"))
        if folder is None:
            raise UserError(f"--resume: no {prefix}<update> folder under "
                            f"{folders.models_folder(run.workspace_path)} that loads; start "
                            "without it")
        network, env_config, saved = loaded
        meta.update(update=saved["update"], frames=saved["frames"], resume_folder=folder,
                    pretrained=saved.get("pretrained"),
                    run_name=run.run_name or saved.get("run_name"))
        return network, env_config, saved, meta
    earlier = folders.newest_checkpoint(run.workspace_path, prefix)
    if earlier:  # a second run's numbering would interleave with the first's, confusing --resume
        raise UserError(f"{earlier} is from an earlier run: pass --resume to continue it, or "
                        "give this run another --workspace_path")
    if run.pretrained_model != "none":
        folder = folders.find_model_folder(run.workspace_path, run.pretrained_model)
        network, env_config, saved = checkpoints.load_model(folder)
        meta["pretrained"] = folder
        return network, env_config, saved, meta
    env_config = EnvConfig(**model_flags)
    network = create_network(NetworkConfig(num_actions=env_config.num_actions,
                                           intrinsic_value=config.rnd_coef > 0),
                             env_config.observation_shape, seed=run.seed)
    return network, env_config, {}, meta


def _kl_anchor(config, pretrained):
    """The pretrained network the KL term keeps the policy near (config.kl_cost > 0), or None."""
    if config.kl_cost <= 0:
        return None
    if pretrained is None:
        raise UserError("--kl_cost > 0 keeps the policy near a pretrained one: give "
                        "--pretrained_model")
    if not os.path.isdir(pretrained):
        raise UserError(f"the pretrained model {pretrained} (the KL anchor) is gone")
    return checkpoints.load_model(pretrained)[0]


def announce_address(address_fd, address):
    """Writes HOST:PORT, one line, to the launcher's pipe (--address_fd; None: none) and
    closes it."""
    if address_fd is None:
        return
    try:
        with os.fdopen(address_fd, "w") as pipe:
            pipe.write(f"{address}\n")
    except OSError as error:
        raise UserError(f"--address_fd {address_fd}: cannot write the address to it "
                        f"({error.strerror or error})") from None


def save_checkpoint(workspace_path, network, env_config, optimizer, meta, states, config,
                    rnd=None, final=False):
    """Writes reinforcement_model_<update> (with RND's state where `rnd` is given), then removes
    the checkpoints --keep_checkpoints leaves out; weights that are not finite stop the run with
    the newest good checkpoint left as it is. `final`: where the run ends, kept always."""
    path = folders.checkpoint_path(workspace_path, folders.REINFORCEMENT_PREFIX, meta["update"])
    try:
        checkpoints.save_model(path, network, env_config, optimizer=optimizer,
                               metadata=checkpoint_metadata(meta, states, config, final),
                               arrays={folders.RND_FILE: rnd.state()} if rnd is not None else None)
    except checkpoints.NonFiniteWeights:
        newest = folders.newest_checkpoint(workspace_path, folders.REINFORCEMENT_PREFIX)
        raise UserError(f"the weights hold NaN or infinity at update {meta['update']}; no "
                        f"checkpoint is written, the newest good one is {newest}") from None
    log.info(f"saved {path}")
    for removed in remove_old_checkpoints(workspace_path, config.keep_checkpoints,
                                          meta["pretrained"]):
        log.info(f"removed {removed} (--keep_checkpoints {config.keep_checkpoints})")


def checkpoint_metadata(meta, states, config, final=False):
    """What a reinforcement model's config.json says of its run (the module docstring)."""
    return {"kind": "reinforcement", "update": meta["update"], "frames": meta["frames"],
            "pretrained": meta["pretrained"], "states": states, "run_name": meta["run_name"],
            "final": final, "learner": dataclasses.asdict(config)}


def remove_old_checkpoints(workspace_path, keep, pretrained):
    """Removes the reinforcement checkpoints of `workspace_path` but the newest `keep` (0: none
    removed), those written where a run ended, and `pretrained`. Returns the removed folders."""
    if keep == 0:
        return []
    prefix = folders.REINFORCEMENT_PREFIX
    updates = sorted(int(name[len(prefix):]) for name in folders.list_models(workspace_path)
                     if name.startswith(prefix) and name[len(prefix):].isdigit())
    protected = {os.path.abspath(pretrained)} if pretrained else set()
    removable = []
    for update in updates:
        path = folders.checkpoint_path(workspace_path, prefix, update)
        try:
            final = folders.read_config(path).get("final", False)
        except UserError:
            final = False  # damaged: as good to remove as any older one
        if not final and os.path.abspath(path) not in protected:
            removable.append(path)
    removed = removable[:-keep]
    for path in removed:
        fileio.remove_folder(path)
    return removed
