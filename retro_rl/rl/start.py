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

from retro_rl import fields, fileio
from retro_rl.envs import EnvConfig, games
from retro_rl.errors import UserError
from retro_rl.model import checkpoints, folders
from retro_rl.model.config import NetworkConfig
from retro_rl.model.network import create_network, with_intrinsic_head

log = logging.getLogger("learner")


def env_flags(args):
    """(model, run): the EnvConfig settings given on the command line, those a model is made
    for (its game, observations, actions: for a network from scratch) and the others (over
    whatever the run starts from). --state is left out (it names the run's start states) and
    --max_episode_steps 0 is no limit."""
    given = fields.given_settings(args, EnvConfig)
    given.pop("state", None)
    if "game" in given:
        given["game"] = games.resolve_game(given["game"])
    if given.get("max_episode_steps") == 0:
        given["max_episode_steps"] = None
    model = {field.name for field in dataclasses.fields(EnvConfig) if field.metadata.get("model")}
    return ({name: value for name, value in given.items() if name in model},
            {name: value for name, value in given.items() if name not in model})


def load_start(args, config):
    """Decides where training starts. Returns (network, env_config, states, meta, anchor):
    meta has update, frames, pretrained (folder or None), run_name and resume_folder."""
    meta = {"update": 0, "frames": 0, "pretrained": None, "run_name": args.run_name,
            "resume_folder": None}
    prefix = folders.REINFORCEMENT_PREFIX
    kind = None  # of the model training starts from
    fileio.remove_stale_temporaries(folders.models_folder(args.workspace_path))
    model_flags, run_flags = env_flags(args)
    if args.resume:
        folder, loaded = checkpoints.newest_loadable_checkpoint(
            args.workspace_path, prefix, lambda path: checkpoints.load_checkpoint(path, "update"))
        if folder is None:
            raise UserError(f"--resume: no {prefix}<update> folder under "
                            f"{folders.models_folder(args.workspace_path)} that loads; start "
                            "without it")
        network, env_config, saved = loaded
        kind = saved.get("kind")
        meta.update(update=saved["update"], frames=saved["frames"], resume_folder=folder,
                    pretrained=saved.get("pretrained"),
                    run_name=args.run_name or saved.get("run_name"))
        states = games.resolve_states(env_config.game, args.state, env_config.state) \
            if args.state else saved.get("states", [env_config.state])
    elif folders.newest_checkpoint(args.workspace_path, prefix):
        # A second run's numbering would interleave with the first's and confuse --resume.
        raise UserError(f"{folders.newest_checkpoint(args.workspace_path, prefix)} is "
                        "from an earlier run: pass --resume to continue it, or give this run "
                        "another --workspace_path")
    elif args.pretrained_model != "none":
        folder = folders.find_model_folder(args.workspace_path, args.pretrained_model)
        network, env_config, saved = checkpoints.load_model(folder)
        kind = saved.get("kind")
        meta["pretrained"] = folder
        states = games.resolve_states(env_config.game, args.state, env_config.state)
    else:
        env_config = EnvConfig(**model_flags)
        states = games.resolve_states(env_config.game, args.state, None)
        network = create_network(NetworkConfig(num_actions=env_config.num_actions,
                                               intrinsic_value=config.rnd_coef > 0),
                                 env_config.observation_shape, seed=args.seed)
    differ = [f"--{name} {value} (the model's: {getattr(env_config, name)})"
              for name, value in model_flags.items() if getattr(env_config, name) != value]
    if differ:
        raise UserError(f"{', '.join(differ)}: a model plays the game, and sees the observations "
                        "and chooses among the actions, it was trained with; these flags are for "
                        "a run from scratch")
    games.check_rom(env_config.game)
    if config.rnd_coef > 0 and network.intrinsic_value_head is None:
        network = with_intrinsic_head(network, seed=args.seed)
        log.info("RND: the model gets an intrinsic value head (new, untrained)")
    env_config = env_config.replace(state=states[0])
    # What is trained on: the flags, else an RL model's own settings, else the game's training
    # defaults (a cloned model never trained on rewards, so its settings were never chosen).
    if kind != "reinforcement":
        env_config = env_config.with_training_defaults()
    env_config = env_config.replace(**run_flags)
    anchor = None
    if config.kl_cost > 0:
        if meta["pretrained"] is None:
            raise UserError("--kl_cost > 0 keeps the policy near a pretrained one: give "
                            "--pretrained_model")
        if not os.path.isdir(meta["pretrained"]):
            raise UserError(f"the pretrained model {meta['pretrained']} (the KL anchor) is gone")
        anchor = checkpoints.load_model(meta["pretrained"])[0]
    meta["run_name"] = meta["run_name"] or time.strftime("reinforcement_%Y%m%d-%H%M%S")
    return network, env_config, states, meta, anchor


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


def save_checkpoint(args, network, env_config, optimizer, meta, states, config, rnd=None,
                    final=False):
    """Writes reinforcement_model_<update> (with RND's state where `rnd` is given), then removes
    the checkpoints --keep_checkpoints leaves out; weights that are not finite stop the run with
    the newest good checkpoint left as it is. `final`: where the run ends, kept always."""
    path = folders.checkpoint_path(args.workspace_path, folders.REINFORCEMENT_PREFIX,
                                   meta["update"])
    try:
        checkpoints.save_model(path, network, env_config, optimizer=optimizer, metadata={
            "kind": "reinforcement", "update": meta["update"], "frames": meta["frames"],
            "pretrained": meta["pretrained"], "states": states, "run_name": meta["run_name"],
            "final": final, "learner": dataclasses.asdict(config)},
            arrays={folders.RND_FILE: rnd.state()} if rnd is not None else None)
    except checkpoints.NonFiniteWeights:
        newest = folders.newest_checkpoint(args.workspace_path, folders.REINFORCEMENT_PREFIX)
        raise UserError(f"the weights hold NaN or infinity at update {meta['update']}; no "
                        f"checkpoint is written, the newest good one is {newest}") from None
    log.info(f"saved {path}")
    for removed in remove_old_checkpoints(args.workspace_path, config.keep_checkpoints,
                                          meta["pretrained"]):
        log.info(f"removed {removed} (--keep_checkpoints {config.keep_checkpoints})")


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
