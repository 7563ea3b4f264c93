"""The pad's buttons and the discrete action tables agents choose from.

Every module that plays, records, replays or learns imports the button order and the tables from
here. `buttons_to_action` projects any of the 4,096 button combinations onto a table, so every
frame of a human movie gets an action index.
"""

import numpy as np

from retro_rl.errors import UserError

# stable-retro's button order for the Genesis pad: index i of a button mask is BUTTONS[i].
BUTTONS = ("B", "A", "MODE", "START", "UP", "DOWN", "LEFT", "RIGHT", "C", "Y", "X", "Z")
NUM_BUTTONS = len(BUTTONS)

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
}


def action_table(action_set="full"):
    """Returns the button masks of an action set: uint8 [num_actions, 12] in BUTTONS order."""
    rows = _action_rows(action_set)
    table = np.zeros((len(rows), NUM_BUTTONS), np.uint8)
    for index, row in enumerate(rows):
        for button in row:
            table[index, BUTTONS.index(button)] = 1
    return table


def action_names(action_set="full"):
    """Human-readable names of an action set's rows, e.g. 'B+RIGHT+DOWN' or 'none'."""
    return ["+".join(row) or "none" for row in _action_rows(action_set)]


def combination_name(mask):
    """Button bit mask (bit i = BUTTONS[i]) -> 'B+UP+RIGHT' (BUTTONS order), 'none' if 0."""
    return "+".join(b for i, b in enumerate(BUTTONS) if mask >> i & 1) or "none"


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


def _projection(action_set):
    """uint16 mask (bit i = BUTTONS[i]) -> action index, for all 4,096 masks."""
    rows = [frozenset(row) for row in _action_rows(action_set)]
    lookup = np.zeros(1 << NUM_BUTTONS, np.int64)
    for mask in range(1 << NUM_BUTTONS):
        held = _normalize(b for i, b in enumerate(BUTTONS) if mask >> i & 1)
        # Exact row if there is one (always, for the full table); otherwise the row that differs
        # from it in the fewest buttons, the earliest row on a tie. In the contest set (no
        # no-op, no A) a released pad thus becomes LEFT, and A becomes B.
        held = frozenset("B" if b == "A" else b for b in held) if held not in rows else held
        lookup[mask] = min(range(len(rows)), key=lambda i: (len(rows[i] ^ held), i))
    return lookup


_PROJECTIONS = {name: _projection(name) for name in ACTION_SETS}
BIT_WEIGHTS = 1 << np.arange(NUM_BUTTONS)


def button_masks(pads):
    """uint8/bool [N, 12] pads -> int [N] bit masks (bit i = BUTTONS[i])."""
    return np.asarray(pads).astype(bool) @ BIT_WEIGHTS


def buttons_to_action(buttons, action_set="full"):
    """Projects held buttons onto an action set (see `_normalize` for the rule).

    Args:
      buttons: 12 truthy values in BUTTONS order (one frame of a pad), or an int bit mask.
      action_set: a key of ACTION_SETS.
    Returns:
      The action index (int).
    """
    if isinstance(buttons, (int, np.integer)):
        mask = int(buttons)
    else:
        buttons = np.asarray(buttons)
        if buttons.shape != (NUM_BUTTONS,):
            raise ValueError(f"expected {NUM_BUTTONS} buttons, got shape {buttons.shape}")
        mask = int(np.dot(buttons.astype(bool), BIT_WEIGHTS))
    _action_rows(action_set)
    return int(_PROJECTIONS[action_set][mask])


def buttons_to_actions(buttons, action_set="full"):
    """Vectorized `buttons_to_action`: bool/uint8 [N, 12] -> int64 [N]."""
    _action_rows(action_set)
    return _PROJECTIONS[action_set][button_masks(buttons)]
