"""The pads' buttons and the discrete action tables agents choose from, per platform.

Every module that plays, records, replays or learns imports the button orders and the tables
from here. `buttons_to_action` projects any button combination (4,096 on the Genesis pad, 256 on
the Atari 2600's) onto a table, so every frame of a human movie gets an action index. Action set
names are unique across platforms: "full" and "contest" are the Genesis's, "ale" the Atari's.
"""

import numpy as np

from retro_rl.errors import UserError

# stable-retro's button order for the Genesis pad: index i of a button mask is BUTTONS[i].
BUTTONS = ("B", "A", "MODE", "START", "UP", "DOWN", "LEFT", "RIGHT", "C", "Y", "X", "Z")
NUM_BUTTONS = len(BUTTONS)
# ... and for the Atari 2600 joystick (stable-retro's Stella core; index 1 is unused).
ATARI_BUTTONS = ("BUTTON", "UNUSED", "SELECT", "RESET", "UP", "DOWN", "LEFT", "RIGHT")
PLATFORM_BUTTONS = {"Genesis": BUTTONS, "Atari2600": ATARI_BUTTONS}

# Each action is the set of buttons it holds. Order matters: an index names a row for good.
ACTION_SETS = {
    "full": (
        (), ("LEFT",), ("RIGHT",), ("A",), ("B",), ("DOWN",), ("UP",),
        ("B", "LEFT"), ("B", "RIGHT"), ("B", "DOWN"),
        ("A", "LEFT"), ("A", "RIGHT"), ("A", "DOWN"),
        ("DOWN", "RIGHT"), ("DOWN", "LEFT"), ("LEFT", "RIGHT"),
        ("B", "RIGHT", "DOWN"), ("B", "LEFT", "DOWN"),
        ("A", "LEFT", "DOWN"), ("A", "LEFT", "RIGHT"), ("A", "RIGHT", "DOWN"),
        ("B", "LEFT", "RIGHT"), ("DOWN", "LEFT", "RIGHT"),
    ),
    "contest": (
        ("LEFT",), ("RIGHT",), ("LEFT", "DOWN"), ("RIGHT", "DOWN"), ("DOWN",),
        ("DOWN", "B"), ("B",),
    ),
    # The Arcade Learning Environment's 18 actions, in its order (NOOP, FIRE, UP, RIGHT, ...).
    "ale": (
        (), ("BUTTON",), ("UP",), ("RIGHT",), ("LEFT",), ("DOWN",),
        ("UP", "RIGHT"), ("UP", "LEFT"), ("DOWN", "RIGHT"), ("DOWN", "LEFT"),
        ("UP", "BUTTON"), ("RIGHT", "BUTTON"), ("LEFT", "BUTTON"), ("DOWN", "BUTTON"),
        ("UP", "RIGHT", "BUTTON"), ("UP", "LEFT", "BUTTON"), ("DOWN", "RIGHT", "BUTTON"),
        ("DOWN", "LEFT", "BUTTON"),
    ),
}
SET_PLATFORM = {"full": "Genesis", "contest": "Genesis", "ale": "Atari2600"}
DEFAULT_ACTION_SET = {"Genesis": "full", "Atari2600": "ale"}


def buttons_of(action_set):
    """The button order of the platform an action set is for."""
    _action_rows(action_set)
    return PLATFORM_BUTTONS[SET_PLATFORM[action_set]]


def action_table(action_set="full"):
    """Returns the button masks of an action set: uint8 [num_actions, buttons] in its
    platform's button order."""
    rows, buttons = _action_rows(action_set), buttons_of(action_set)
    table = np.zeros((len(rows), len(buttons)), np.uint8)
    for index, row in enumerate(rows):
        for button in row:
            table[index, buttons.index(button)] = 1
    return table


def action_names(action_set="full"):
    """Human-readable names of an action set's rows, e.g. 'B+RIGHT+DOWN' or 'none'."""
    return ["+".join(row) or "none" for row in _action_rows(action_set)]


def combination_name(mask, buttons=BUTTONS):
    """Button bit mask (bit i = buttons[i]) -> 'B+UP+RIGHT' (that order), 'none' if 0."""
    return "+".join(b for i, b in enumerate(buttons) if mask >> i & 1) or "none"


def _action_rows(action_set):
    if action_set not in ACTION_SETS:
        raise UserError(f"unknown action set {action_set!r}; choose one of {sorted(ACTION_SETS)}")
    return ACTION_SETS[action_set]


def _normalize(held):
    """Reduces a set of held button names to what a table row can express.

    The projection, in order:
      1. START and MODE are dropped: they pause or configure the console, not play.
      2. X, Y and Z are dropped: three-button games (Sonic 2, Airstriker) ignore them.
      3. C becomes B: all three face buttons jump in Sonic, and B is the contest set's jump.
      4. A and B together keep B alone (no row holds two face buttons).
      5. UP is dropped whenever any other button is held: no row combines UP with anything,
         and in Sonic UP only matters standing still (looking up).
      6. A face button with DOWN, LEFT and RIGHT drops LEFT and RIGHT, which cancel out.
    Every result is a row of the full table, so the full table is covered exactly.
    """
    held = set(held) - {"START", "MODE", "X", "Y", "Z"}
    if "C" in held:
        held = (held - {"C"}) | {"B"}
    if {"A", "B"} <= held:
        held.discard("A")
    if "UP" in held and len(held) > 1:
        held.discard("UP")
    if held & {"A", "B"} and {"DOWN", "LEFT", "RIGHT"} <= held:
        held -= {"LEFT", "RIGHT"}
    return frozenset(held)


def _normalize_atari(held):
    """The Atari joystick's projection: SELECT, RESET and the unused bit are dropped (they
    configure the console, not play), and opposite directions held together cancel out. Every
    result is a row of the "ale" table."""
    held = set(held) - {"SELECT", "RESET", "UNUSED"}
    for first, second in (("UP", "DOWN"), ("LEFT", "RIGHT")):
        if {first, second} <= held:
            held -= {first, second}
    return frozenset(held)


def _projection(action_set):
    """Bit mask (bit i = the platform's button i) -> action index, for every mask."""
    rows = [frozenset(row) for row in _action_rows(action_set)]
    buttons = buttons_of(action_set)
    normalize = _normalize_atari if SET_PLATFORM[action_set] == "Atari2600" else _normalize
    lookup = np.zeros(1 << len(buttons), np.int64)
    for mask in range(1 << len(buttons)):
        held = normalize(b for i, b in enumerate(buttons) if mask >> i & 1)
        # Exact row if there is one (always, for the full table); otherwise the row that differs
        # from it in the fewest buttons, the earliest row on a tie. In the contest set (no
        # no-op, no A) a released pad thus becomes LEFT, and A becomes B.
        held = frozenset("B" if b == "A" else b for b in held) if held not in rows else held
        lookup[mask] = min(range(len(rows)), key=lambda i: (len(rows[i] ^ held), i))
    return lookup


_PROJECTIONS = {name: _projection(name) for name in ACTION_SETS}


def button_masks(pads):
    """uint8/bool [N, buttons] pads -> int [N] bit masks (bit i = button i)."""
    pads = np.asarray(pads).astype(bool)
    return pads @ (1 << np.arange(pads.shape[-1]))


def buttons_to_action(buttons, action_set="full"):
    """Projects held buttons onto an action set (see `_normalize` for the rule).

    Args:
      buttons: one frame of the action set's pad (its platform's buttons, in their order, as
        truthy values), or an int bit mask.
      action_set: a key of ACTION_SETS.
    Returns:
      The action index (int).
    """
    count = len(buttons_of(action_set))
    if isinstance(buttons, (int, np.integer)):
        mask = int(buttons)
    else:
        buttons = np.asarray(buttons)
        if buttons.shape != (count,):
            raise ValueError(f"expected {count} buttons, got shape {buttons.shape}")
        mask = int(button_masks(buttons[None])[0])
    return int(_PROJECTIONS[action_set][mask])


def buttons_to_actions(buttons, action_set="full"):
    """Vectorized `buttons_to_action`: bool/uint8 [N, buttons] -> int64 [N]."""
    _action_rows(action_set)
    return _PROJECTIONS[action_set][button_masks(buttons)]
