"""--track: a run in Weights & Biases beside its TensorBoard folder, for the learner and for
behaviour cloning.

Every TensorBoard scalar the run writes is synced to it (at the same step: frames for the
learner, optimizer steps for cloning), its settings are the run's config, and the learner adds
the video of each new best policy (--eval_every). The project and entity come from
--wandb_project and --wandb_entity, else from WANDB_PROJECT and WANDB_ENTITY; WANDB_MODE=offline
keeps the run in <workspace>/wandb/ (`wandb sync` sends it later). wandb is imported only for a
tracked run, so it need not be installed otherwise.
"""

import importlib.util
import os

from retro_rl.errors import UserError

DEFAULT_PROJECT = "retro_rl"


# The help of the tracking flags, for every command that takes them (this add_flags, and the
# learner's RunConfig, whose fields make its flags).
FLAG_HELP = {
    "track": "send the TensorBoard scalars, the settings (and the learner's evaluation videos) "
             "to Weights & Biases (pip install wandb; WANDB_MODE=offline keeps the run in "
             "<workspace>/wandb/)",
    "wandb_project": f"--track's project (default: $WANDB_PROJECT, else {DEFAULT_PROJECT})",
    "wandb_entity": "--track's entity, a user or team (default: $WANDB_ENTITY, else your "
                    "account's)",
}


def add_flags(parser):
    parser.add_argument("--track", action="store_true", help=FLAG_HELP["track"])
    for name in ("wandb_project", "wandb_entity"):
        parser.add_argument(f"--{name}", default=None, help=FLAG_HELP[name])


def check(track):
    """Refuses --track where wandb is not installed, before anything slow starts."""
    if track and importlib.util.find_spec("wandb") is None:
        raise UserError("--track needs Weights & Biases: pip install wandb (and wandb login, or "
                        "WANDB_MODE=offline)")


class Tracking:
    """A tracked run; start it before the run's TensorBoard writer is made, so that its
    scalars are synced, and finish it after the writer is closed."""

    def __init__(self, workspace_path, run_name, settings, project=None, entity=None):
        import wandb

        self._wandb = wandb
        try:
            self.run = wandb.init(
                project=project or os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT,
                entity=entity or os.environ.get("WANDB_ENTITY") or None, name=run_name,
                dir=os.path.abspath(workspace_path), config=_plain(settings),
                sync_tensorboard=True, settings=wandb.Settings(console="off", silent=True))
        except Exception as error:  # wandb raises its own kinds for a login or a network
            raise UserError(f"--track: Weights & Biases did not start ({error}); run "
                            "`wandb login`, or set WANDB_MODE=offline") from None

    @property
    def where(self):
        """The run's page, or its local folder when offline."""
        return self.run.url or self.run.dir

    def video(self, tag, path, caption):
        self.run.log({tag: self._wandb.Video(path, format=os.path.splitext(path)[1][1:],
                                             caption=caption)}, commit=False)

    def finish(self):
        self.run.finish()


def _plain(settings):
    """Settings as wandb's config takes them: numbers, strings, lists and dicts."""
    if isinstance(settings, dict):
        return {str(key): _plain(value) for key, value in settings.items()}
    if isinstance(settings, (list, tuple)):
        return [_plain(value) for value in settings]
    if settings is None or isinstance(settings, (bool, int, float, str)):
        return settings
    return str(settings)
