"""Type checks for the settings dataclasses (EnvConfig, NetworkConfig, LearnerConfig): a value
read from a file or a message ("4" where 4 belongs) fails where it is read, naming the setting,
instead of deep inside the emulator or TensorFlow."""

import dataclasses
import typing

from retro_rl.errors import UserError

_ACCEPTED = {int: (int,), float: (int, float), bool: (bool,), str: (str,)}


def type_problems(instance):
    """Messages for the fields of a dataclass instance whose value is not of its annotated type
    (int, float, bool, str, or one of them | None; bool is not taken for int or float)."""
    problems = []
    for field in dataclasses.fields(instance):
        value = getattr(instance, field.name)
        kinds = typing.get_args(field.type) or (field.type,)
        if value is None and type(None) in kinds:
            continue
        allowed = tuple(accepted for kind in kinds for accepted in _ACCEPTED.get(kind, ()))
        if not allowed:
            continue  # a type this check does not know (tuples, nested settings)
        if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
            names = " or ".join(kind.__name__ for kind in kinds if kind is not type(None))
            problems.append(f"{field.name} must be {names} (got {value!r})")
    return problems


def check_types(instance):
    """For __post_init__: UserError naming every field whose value is not of its type."""
    problems = type_problems(instance)
    if problems:
        raise UserError("; ".join(problems))


def from_dict(cls, values, what):
    """cls(**values) of a settings dataclass; UserError naming the keys it has no field for
    (`what`: which settings, for the message)."""
    unknown = set(values) - {field.name for field in dataclasses.fields(cls)}
    if unknown:
        raise UserError(f"unknown {what} settings {sorted(unknown)}")
    return cls(**values)
