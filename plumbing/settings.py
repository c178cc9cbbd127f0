"""Settings for both services from a TOML file, environment variables and flags, in that order
of precedence (a flag beats a variable beats the file beats the default).

A settings class is a dataclass whose fields carry `setting(...)` metadata; each field `max_body`
is `--max-body` on the command line, `<PREFIX>_MAX_BODY` in the environment and `max_body` in
the file. Lists are comma-separated in flags and variables, TOML arrays in the file; a boolean
flag is also a switch (`--log-full-numbers`, `--no-access-log`)."""

from __future__ import annotations

import argparse
import dataclasses
import math
import tomllib
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# Bound so that `dataclasses.fields(cls)` type-checks: a settings class is always a dataclass.
T = TypeVar("T", bound="DataclassInstance")


class SettingsError(ValueError):
    """A setting that cannot be used; the message names where it came from."""


def setting(default: Any, help: str, *, secret: bool = False) -> Any:
    """A dataclass field that is also a flag, a variable and a file key."""
    if isinstance(default, list):
        default = tuple(default)
    return dataclasses.field(
        default=default, metadata={"help": help, "secret": secret}, repr=not secret
    )


def _kind(cls: type, field: dataclasses.Field) -> type:
    hint = typing.get_type_hints(cls)[field.name]
    origin = typing.get_origin(hint)
    if origin is tuple:
        return tuple
    if origin is typing.Union or str(origin) == "types.UnionType":
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def _convert(kind: type, value: Any, where: str) -> Any:
    try:
        if kind is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(i).strip() for i in items if str(i).strip())
        if kind is bool:
            if isinstance(value, bool):
                return value
            lowered = str(value).strip().lower()
            if lowered not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError
            return lowered in ("1", "true", "yes", "on")
        if kind in (int, float) and isinstance(value, bool):
            raise ValueError
        converted = kind(value)
        if kind is float and not math.isfinite(converted):
            raise ValueError
        return converted
    except (TypeError, ValueError):
        raise SettingsError(f"{where}: expected {kind.__name__}, got {value!r}") from None


def add_arguments(parser: argparse.ArgumentParser, cls: type, prefix: str) -> None:
    """One flag per setting; help shows the variable and the default (never a secret's)."""
    parser.add_argument("--config", help=f"TOML settings file (or {prefix}_CONFIG)")
    for field in dataclasses.fields(cls):
        env = f"{prefix}_{field.name.upper()}"
        default = "" if field.metadata["secret"] else f", default {field.default!r}"
        flag = f"--{field.name.replace('_', '-')}"
        help = f"{field.metadata['help']} [{env}{default}]"
        if _kind(cls, field) is bool:
            # A switch (`--log-full-numbers`, `--no-access-log`) that also takes a value, so
            # `--access-log false` as in the variables and the file works too.
            parser.add_argument(flag, dest=field.name, nargs="?", const="true", help=help)
            parser.add_argument(
                f"--no-{flag[2:]}",
                dest=field.name,
                action="store_const",
                const="false",
                help=f"the same as {flag} false",
            )
        else:
            parser.add_argument(flag, dest=field.name, default=None, help=help)


def resolve(cls: type[T], args: argparse.Namespace, env: Mapping[str, str], prefix: str) -> T:
    """Builds the settings: defaults, then the file, then the environment, then flags."""
    values: dict[str, Any] = {}
    config = getattr(args, "config", None) or env.get(f"{prefix}_CONFIG")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if config:
        try:
            document = tomllib.loads(Path(config).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise SettingsError(f"{config}: {error}") from None
        for key, value in document.items():
            if key not in fields:
                raise SettingsError(f"{config}: unknown setting {key!r}")
            values[key] = _convert(_kind(cls, fields[key]), value, f"{config}: {key}")
    for name, field in fields.items():
        variable = f"{prefix}_{name.upper()}"
        if variable in env:
            values[name] = _convert(_kind(cls, field), env[variable], variable)
        flag = getattr(args, name, None)
        if flag is not None:
            values[name] = _convert(_kind(cls, field), flag, f"--{name.replace('_', '-')}")
    return cls(**values)


def parse_duration(text: str) -> float:
    """Seconds in "7d", "36h", "15m", "30s" or a plain number of seconds; ValueError naming the
    text otherwise (or for nothing, or a length of 0 or less)."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    text = text.strip()
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise ValueError(f"{text!r} is not a duration like 15m, 36h or 7d") from None
    if not 0 < seconds < 10**9:
        raise ValueError(f"{text!r}: expected a positive duration")
    return seconds


def listen_problem(flag: str, listen: str) -> str | None:
    """Why `listen` is not host:port with a port from 0 to 65535 (None when it is, or empty).
    Socket calls would otherwise take 99999 as 34463, its value modulo 65536."""
    if not listen:
        return None
    port = listen.rpartition(":")[2]
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        return f"{flag}: {listen!r} is not host:port with a port from 0 to 65535"
    return None


def out_of_range(settings: object, ranges: Sequence[tuple[str, float, float | None]]) -> str | None:
    """Why the first setting outside its (name, lowest, highest or None) range is wrong."""
    for name, low, high in ranges:
        value = getattr(settings, name)
        flag = f"--{name.replace('_', '-')}"
        if high is None and value < low:
            return f"{flag} must be at least {low}"
        if high is not None and not low <= value <= high:
            return f"{flag} must be from {low} to {high}"
    return None


def settings_epilog(cls: type, prefix: str, command: str) -> str:
    """Every setting of `command` in one block, for the top-level --help."""
    lines = [
        f"settings of `{command}` (flag / variable / default; a --config TOML file takes "
        "the same names):"
    ]
    for field in dataclasses.fields(cls):
        default = "" if field.metadata["secret"] else f" [{field.default!r}]"
        lines.append(
            f"  --{field.name.replace('_', '-'):<27} {prefix}_{field.name.upper()}{default}"
        )
        lines.append(f"      {field.metadata['help']}")
    return "\n".join(lines)
