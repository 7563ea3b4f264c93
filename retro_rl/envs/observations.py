"""Screen -> observation, shared by the environment and the replay parser."""

import cv2


def preprocess_frame(frame, obs_size=84, grayscale=False):
    """Screen uint8 [H, W, 3] -> observation uint8 [obs_size, obs_size, 1 or 3].

    Every screen pixel counts: the screen is halved with 2x2 box averages while it stays at
    least twice the target size, then resized bilinearly, so small sprites (bullets) fade
    rather than vanish. On a 224x320 Genesis screen this is ~8x cheaper than one area resize
    (cv2's area filter is slow for non-integer ratios) and within a few grey levels of it.
    """
    if grayscale:
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    while frame.shape[0] >= 2 * obs_size and frame.shape[1] >= 2 * obs_size:
        half = (frame.shape[1] // 2, frame.shape[0] // 2)
        frame = cv2.resize(frame, half, interpolation=cv2.INTER_AREA)
    observation = cv2.resize(frame, (obs_size, obs_size), interpolation=cv2.INTER_LINEAR)
    return observation.reshape(obs_size, obs_size, -1)
