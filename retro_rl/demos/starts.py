"""Episodes that start along a demonstration (Salimans & Chen 2018): an agent begins from an
emulator state a demonstrator reached, so it practises the whole level, not only its start.

The learner replays the demonstrations once (`demonstration_checkpoints`): every `every` frames
it keeps the emulator's state, compressed (a Genesis state is 1 MB, 18 KB compressed). A worker
starts an episode at agent step i of a movie by restoring the checkpoint before frame 4i and
emulating the movie's own buttons up to it (`DemoStarts.start`): the state is the
demonstration's and the first observation is the demonstration's screen at step i, exactly. A
saved state alone would not do: restoring one does not redraw the screen.

Frames count as the replay parser counts them: frame 0 comes after the movie's reset frame, and
agent step i of the dataset is the screen after 4i frames (frame skip 4).
"""

import logging
import pathlib
import zlib

import numpy as np

from retro_rl.demos import dataset, movies
from retro_rl.envs.emulator import make_retro, restore, run_frames
from retro_rl.errors import UserError

CHECKPOINT_EVERY = 300  # frames: at most this many are emulated at an episode's start
MAX_STATE_BYTES = 16 << 20  # a decompressed state larger than this is not a Genesis state
log = logging.getLogger("learner")


def start_steps(frames, frame_skip):
    """The agent steps an episode may start at along a movie of `frames` frames: 1 .. the last
    whole step before its end (step 0 is the game's own start)."""
    return max(frames // frame_skip - 1, 0)


def demonstration_paths(path):
    """The movies `path` names: .bk2 files and folders of them, or a parsed dataset (its
    manifest's source movies). UserError naming the path when there are none."""
    folder = pathlib.Path(path)
    if (folder / dataset.MANIFEST).is_file():
        sources = [pathlib.Path(entry["source"])
                   for entry in dataset.read_manifest(folder)["movies"]]
        missing = [source for source in sources if not source.is_file()]
        if missing:
            raise UserError(f"--demo_starts {path}: its movie {missing[0]} is gone")
        return sources
    paths, _ = movies.find_some_movies(path)
    return paths


def demonstration_checkpoints(paths, game, frame_skip, every=CHECKPOINT_EVERY):
    """Replays each movie in an emulator of this process and keeps its state every `every`
    frames. Returns [{"name", "pads" uint8 [F, 12], "checkpoints" [(frame, zlib bytes)]}].
    A movie with no agent step of `frame_skip` frames to start at is skipped, with a warning.
    UserError for a movie that is unreadable or of another game than `game`, or when no movie
    is left."""
    loaded = []
    for path in paths:
        inputs = movies.read_movie(path)
        if inputs.game != game:
            raise UserError(f"--demo_starts: {path} is a {inputs.game} movie, but this run "
                            f"plays {game}")
        loaded.append(inputs)
    retro_env = make_retro(game)
    try:
        result = []
        for inputs in loaded:
            retro_env.initial_state = inputs.start_state
            retro_env.reset()
            saved, played_frames = [], 0
            for frame in range(0, len(inputs.pads), every):
                saved.append((frame, zlib.compress(retro_env.em.get_state(), 1)))
                _, played, game_over = run_frames(retro_env, inputs.pads[frame:frame + every])
                played_frames += played
                if game_over:
                    break  # nothing after a game over is a start worth playing from
            if start_steps(played_frames, frame_skip) < 1:
                log.warning(f"warning: --demo_starts: {inputs.path} has {played_frames} frames, "
                            f"too few to start from (at least {2 * frame_skip}); skipped")
                continue
            result.append({"name": inputs.path.stem, "pads": inputs.pads[:played_frames],
                           "checkpoints": saved})
    finally:
        retro_env.close()
    if not result:
        raise UserError(f"--demo_starts: no movie has the {2 * frame_skip} frames or more an "
                        "episode can start along")
    return result


class DemoStarts:
    """Chooses and prepares an episode's start along the demonstrations (the output of
    demonstration_checkpoints), at agent-step boundaries of `frame_skip` frames."""

    def __init__(self, demonstrations, frame_skip):
        if not demonstrations:
            raise ValueError("no demonstrations to start from")
        self.demonstrations, self.frame_skip = demonstrations, frame_skip
        self.steps = np.array([start_steps(len(movie["pads"]), frame_skip)
                               for movie in demonstrations])
        for movie, steps in zip(demonstrations, self.steps):
            if steps < 1:
                raise ValueError(f"demonstration {movie['name']!r} of {len(movie['pads'])} "
                                 "frames has no agent step to start at")

    def sample(self, rng):
        """(movie index, agent step), uniform over every step of every movie."""
        step = int(rng.integers(self.steps.sum()))
        movie = int(np.searchsorted(np.cumsum(self.steps), step, side="right"))
        return movie, step - int(self.steps[:movie].sum()) + 1

    def start(self, retro_env, movie, step):
        """Puts the emulator where movie `movie` is after `step` agent steps, its screen drawn:
        restores the nearest earlier checkpoint, then plays the movie's own buttons."""
        demonstration = self.demonstrations[movie]
        frame = step * self.frame_skip
        saved_frame, state = max(
            (checkpoint for checkpoint in demonstration["checkpoints"]
             if checkpoint[0] < frame), key=lambda checkpoint: checkpoint[0])
        restore(retro_env, _decompress(state))
        run_frames(retro_env, demonstration["pads"][saved_frame:frame])


def _decompress(state):
    decompressor = zlib.decompressobj()
    data = decompressor.decompress(state, MAX_STATE_BYTES)
    if decompressor.unconsumed_tail:
        raise ValueError("a demonstration state larger than any emulator's")
    return data
