"""What the settings dataclasses (EnvConfig, NetworkConfig, LearnerConfig) share: type checks,
so that a value read from a file or a message ("4" where 4 belongs) fails where it is read,
naming the setting, instead of deep inside the emulator or TensorFlow; reading one from a dict;
and their command-line flags, made from the fields (`setting` carries each one's help), so that
a setting added later is one field."""

import argparse
import dataclasses
import typing
from typing import Any, Self

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


class Settings:
    """Base of the settings dataclasses: a value of the wrong type fails when one is made (a
    subclass's own __post_init__ calls this one first), and from_dict reads one from a dict (a
    saved model's, a message's), naming the keys it has no field for. SETTINGS_NAME says which
    settings in that message."""

    SETTINGS_NAME = "the"

    def __post_init__(self) -> None:
        check_types(self)

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes` (checked as any new one is)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Self:
        unknown = set(values) - {field.name for field in dataclasses.fields(cls)}
        if unknown:
            raise UserError(f"unknown {cls.SETTINGS_NAME} settings {sorted(unknown)}")
        return cls(**values)


def setting(default, help, **metadata):
    """A settings dataclass field whose `help` is its command-line flag's (add_flags). Further
    metadata: `choices` (the flag's), and what else a program wants to know of the field."""
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


def value_type(field):
    """The type a field's values have: int for `int | None`."""
    kinds = [kind for kind in typing.get_args(field.type) or (field.type,)
             if kind is not type(None)]
    if len(kinds) != 1:
        raise TypeError(f"{field.name}: a flag needs one type, not {field.type}")
    return kinds[0]


def add_flags(parser, cls, describe=None, names=None, choices=None):
    """A --<name> flag for every field of the settings dataclass `cls` (or those in `names`), of
    the field's type (a bool field takes --<name> and --no-<name>) and `choices` (the field's,
    or `choices[name]` where a command takes fewer), whose help is `describe(field)` (default:
    the field's help). Every flag's default is None, so that given_settings tells a flag given
    from one left out: the help says what leaving it out means (a command that wants values
    instead sets its defaults: parser.set_defaults)."""
    for field in dataclasses.fields(cls):
        if names is not None and field.name not in names:
            continue
        if "help" not in field.metadata:
            raise TypeError(f"{cls.__name__}.{field.name} has no help for its flag: make it with "
                            "fields.setting(default, help)")
        kind = value_type(field)
        options = {"action": argparse.BooleanOptionalAction} if kind is bool else {"type": kind}
        if choices and field.name in choices:
            options["choices"] = choices[field.name]
        elif "choices" in field.metadata:
            options["choices"] = field.metadata["choices"]
        text = describe(field) if describe else field.metadata["help"]
        parser.add_argument(f"--{field.name}", default=None, **options,
                            help=text.replace("%", "%%"))  # argparse formats help with %


def shown(value):
    """A setting's value as a help text says it: on/off for a bool."""
    return ("on" if value else "off") if isinstance(value, bool) else value


def help_with_default(field):
    """A field's help, with its default where it has one (None: the help says what it means)."""
    text = field.metadata["help"]
    return text if field.default is None else f"{text} (default: {shown(field.default)})"


def given_settings(args, cls):
    """{name: value} of the fields of `cls` whose add_flags flag was given in `args`."""
    return {field.name: getattr(args, field.name) for field in dataclasses.fields(cls)
            if getattr(args, field.name) is not None}
