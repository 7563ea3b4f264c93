"""Watching an evaluation: one episode written to a video file, or every step in a window."""

import os
import sys

import imageio
from tqdm import tqdm

from retro_rl import display
from retro_rl.envs import games
from retro_rl.envs.gymnasium_games import screen
from retro_rl.evaluation.episodes import play_episode

VIDEO_EXTENSIONS = (".mp4", ".gif")


def write_video(path, chosen, label, rows, make_policy, states, emulator, max_steps=None):
    """Plays episode `chosen` of `rows` (default: the best) again, as it was given its seed,
    streaming every agent step's full-resolution screen to `path` (.mp4 or .gif), so no
    episode's frames pile up in memory; with `max_steps`, only its first max_steps agent
    steps. Returns the report's "video" entry."""
    if chosen is None:
        chosen = max(range(len(rows)), key=lambda i: (rows[i]["return"], -i))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fps = 60.0 / emulator.env_config.frame_skip  # real time
    if path.lower().endswith(".gif"):
        writer = imageio.get_writer(path, duration=1000.0 / fps, loop=0)
    else:
        writer = imageio.get_writer(path, fps=fps)
    env = emulator.fresh(games.choose_state(states, episode=chosen))
    seed = rows[chosen]["seed"]
    written = 0

    def write_frame(action, info):
        nonlocal written
        if max_steps is None or written < max_steps:
            writer.append_data(screen(env))
            written += 1

    with writer:
        replay = play_episode(env, make_policy(seed), seed, write_frame)
    if replay["return"] != rows[chosen]["return"]:
        print(f"warning: the video's replay of episode {chosen} scored {replay['return']:g}, "
              f"not {rows[chosen]['return']:g}", file=sys.stderr)
    return {"path": path, "policy": label, "episode": chosen, "frames": written}


class LiveView:
    """--render: each agent step's full screen in a window, with the action and the return.
    The window opens here, before the progress bar, so a no-display notice stays one line."""

    def __init__(self, title, env_config, screen_shape, scale, fps):
        self.action_names = env_config.action_names
        self.fps = 60.0 / env_config.frame_skip if fps is None else fps
        self.window = display.open_window(title, screen_shape, scale)

    def start(self, env, heading):
        self.env, self.heading = env, heading

    def step(self, action, info):
        if self.window is None:
            return
        lines = [self.heading,
                 f"action {self.action_names[action]}    return {info['episode_return']:g}"]
        if not self.window.show(screen(self.env), lines):
            tqdm.write("window closed; the evaluation goes on without it", file=sys.stderr)
            self.window = None
            return
        self.window.tick(self.fps)

    def close(self):
        if self.window is not None:
            self.window.close()
