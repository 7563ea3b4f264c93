"""Recording a person at the keyboard: a pygame window shows the game while the pad is recorded.

Arrows are the pad, Z/X/C are A/B/C, Enter is START; the movie is written when the game ends, at
Esc, or when the window is closed.
"""

import os

import numpy as np

from retro_rl.envs.actions import BUTTONS
from retro_rl.envs.emulator import run_frames

# pygame key name -> pad button (BUTTONS names).
KEYS = {"up": "UP", "down": "DOWN", "left": "LEFT", "right": "RIGHT",
        "z": "A", "x": "B", "c": "C", "return": "START"}


def play_human(retro_env, path, scale=3, fps=60, max_frames=None, before_frame=None):
    """Shows the game in a pygame window and records the pad into `path` until the game ends,
    Esc, the window closes, or `max_frames` frames. Returns (score, frames).

    Keys are read from pygame's event queue (KEYDOWN/KEYUP), so a test can drive it headless
    (SDL_VIDEODRIVER=dummy) by posting events from `before_frame(frame_index)`. fps 0 runs
    as fast as the emulator can.
    """
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    pygame.init()
    keymap = {pygame.key.key_code(name): button for name, button in KEYS.items()}
    height, width = retro_env.get_screen().shape[:2]
    window = pygame.display.set_mode((width * scale, height * scale))
    clock = pygame.time.Clock()
    retro_env.record_movie(str(path))
    retro_env.reset()
    held, frames, score, playing = set(), 0, 0.0, True
    try:
        while playing and (max_frames is None or frames < max_frames):
            if before_frame:
                before_frame(frames)
            for event in pygame.event.get():
                if event.type == pygame.QUIT or (
                        event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
                    playing = False
                elif event.type == pygame.KEYDOWN and event.key in keymap:
                    held.add(keymap[event.key])
                elif event.type == pygame.KEYUP and event.key in keymap:
                    held.discard(keymap[event.key])
            if not playing:
                break
            pad = np.array([button in held for button in BUTTONS], np.uint8)
            reward, _, game_over = run_frames(retro_env, [pad])
            score += reward
            frames += 1
            image = pygame.surfarray.make_surface(retro_env.get_screen().swapaxes(0, 1))
            window.blit(pygame.transform.scale(image, window.get_size()), (0, 0))
            pygame.display.flip()
            if frames % 30 == 0:
                pygame.display.set_caption(f"score {score:.0f}  frame {frames}  (Esc saves)")
            playing = not game_over
            if fps:
                clock.tick(fps)
    finally:
        retro_env.stop_record()
        pygame.quit()
    return score, frames
