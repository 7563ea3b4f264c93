"""A small pygame window: one game screen, scaled up, with a few lines of text beneath it.

    window = open_window("my-model on Airstriker-Genesis-v0", screen_shape=(224, 320))
    if window is not None:                      # None: no display, carry on headless
        window.show(screen, ["episode 0", "action B+LEFT   return 120"])
        window.tick(15)                         # at most 15 frames a second

`show` returns False once the user has closed the window. A caller that needs the keyboard
(a human recorder) reads it with pygame after `poll()`, which pumps the event queue.
"""

import os
import sys

# pygame greets on import; a one-line CLI should not print a banner.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np
import pygame

TEXT_COLOUR = (235, 235, 235)
PANEL_COLOUR = (20, 20, 20)
LINE_HEIGHT = 20


def missing_display_reason():
    """Why no window can open here, or None when one might. On Linux a window needs an X or
    Wayland display unless SDL is told to draw elsewhere (SDL_VIDEODRIVER=dummy in tests)."""
    if not sys.platform.startswith("linux") or os.environ.get("SDL_VIDEODRIVER"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return "DISPLAY is not set"


def open_window(title, screen_shape, scale=2, text_lines=2):
    """A Window for screens of `screen_shape` (height, width[, channels]), or None after one
    line on stderr when there is no display to open it on."""
    reason = missing_display_reason()
    if reason is None:
        try:
            return Window(title, screen_shape, scale, text_lines)
        except pygame.error as error:
            pygame.display.quit()
            reason = str(error) or "pygame could not open a window"
    print(f"no display ({reason}); continuing without a window", file=sys.stderr)
    return None


class Window:
    """The screen scaled by an integer `scale`, and a panel of `text_lines` lines under it.
    Raises pygame.error when the display cannot be opened (`open_window` handles that)."""

    def __init__(self, title, screen_shape, scale=2, text_lines=2):
        height, width = screen_shape[:2]
        self.screen_size = (width * scale, height * scale)
        # Only the parts we use: pygame.init() would also open audio and complain without it.
        pygame.display.init()
        pygame.font.init()
        self.surface = pygame.display.set_mode(
            (self.screen_size[0], self.screen_size[1] + text_lines * LINE_HEIGHT + 8))
        pygame.display.set_caption(title)
        self.font = pygame.font.Font(None, LINE_HEIGHT + 4)
        self.clock = pygame.time.Clock()
        self.closed = False

    def poll(self):
        """Pumps the event queue (the OS marks a window that does not as hung) and returns the
        events; a close request sets `closed`."""
        events = pygame.event.get()
        if any(event.type == pygame.QUIT for event in events):
            self.closed = True
        return events

    def show(self, screen, lines=()):
        """Draws screen, uint8 [H, W, 3], and the text lines. Returns False once closed."""
        self.poll()
        if self.closed:
            return False
        # pygame indexes surfaces (x, y); numpy images are (row, column).
        frame = pygame.surfarray.make_surface(np.ascontiguousarray(np.swapaxes(screen, 0, 1)))
        self.surface.fill(PANEL_COLOUR)
        self.surface.blit(pygame.transform.scale(frame, self.screen_size), (0, 0))
        for index, line in enumerate(lines):
            text = self.font.render(str(line), True, TEXT_COLOUR)
            self.surface.blit(text, (6, self.screen_size[1] + 4 + index * LINE_HEIGHT))
        pygame.display.flip()
        return True

    def tick(self, fps):
        """Waits so that calls come at most `fps` times a second (0 or None: no wait)."""
        self.clock.tick(fps or 0)

    def close(self):
        pygame.display.quit()
        self.closed = True
