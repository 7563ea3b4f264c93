"""The pygame window evaluation and human recording share, drawn headless."""

import numpy as np
import pygame

from retro_rl import display


def test_window_draws_the_screen_scaled_with_text_beneath(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    screen = np.zeros((224, 320, 3), np.uint8)
    screen[:112] = (200, 30, 30)  # top half red, bottom half black
    window = display.open_window("test", screen.shape, scale=2, text_lines=2)
    try:
        assert window.show(screen, ["episode 0", "action B    return 40"])
        surface = pygame.display.get_surface()
        assert surface.get_size()[0] == 640 and surface.get_size()[1] > 448
        assert tuple(surface.get_at((600, 220)))[:3] == (200, 30, 30)
        assert tuple(surface.get_at((600, 230)))[:3] == (0, 0, 0)
        panel = pygame.surfarray.array3d(surface)[:, 448:]
        assert (panel > 200).any()  # the text lines were drawn
        pygame.event.post(pygame.event.Event(pygame.QUIT))  # the user closes the window
        assert not window.show(screen) and window.closed
    finally:
        window.close()
