"""Typed recipe configurations: dataclasses validated on creation.

They merge left to right: defaults, then a TOML file, then ``--set`` overrides.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from recipes.errors import UserError

C = TypeVar("C", bound="RecipeConfig")


def nearest(key: str, valid: list[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest valid key, or an empty string."""
    match = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _allowed_types(annotation: Any) -> tuple[Any, ...]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return typing.get_args(annotation)
    return (annotation,)


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """``value`` converted to the field's type, or a :class:`UserError` naming the key."""
    allowed = _allowed_types(annotation)
    literal = [a for a in allowed if typing.get_origin(a) is typing.Literal]
    choices = [c for lit in literal for c in typing.get_args(lit)]
    if value is None and type(None) in allowed:
        return None
    if choices and value in choices:
        return value
    for kind in (bool, int, float, str):
        if kind not in allowed:
            continue
        if kind is bool and isinstance(value, bool):
            return value
        if kind is bool and isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is int and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if kind is float and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        if kind is str and isinstance(value, str):
            return value
    expected = " or ".join(
        [repr(c) for c in choices]
        + [getattr(a, "__name__", str(a)) for a in allowed if a not in literal]
    )
    raise UserError(f"Config key '{name}' expects {expected}, got {value!r}.")


@dataclasses.dataclass
class RecipeConfig:
    """Base of every recipe's configuration; subclasses add documented fields."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            setattr(
                self, field.name, _coerce(field.name, getattr(self, field.name), hints[field.name])
            )
        self.validate()

    def validate(self) -> None:
        """Checks across fields; raise :class:`UserError` naming the key."""

    # -- range checks for validate(), one message form for every recipe ---------------
    def require_positive_integers(self, *keys: str) -> None:
        for key in keys:
            if getattr(self, key) < 1:
                raise UserError(
                    f"Config key '{key}' must be a positive integer, got {getattr(self, key)}."
                )

    def require_non_negative(self, *keys: str) -> None:
        for key in keys:
            if not getattr(self, key) >= 0:  # NaN too
                raise UserError(f"Config key '{key}' must be 0 or more, got {getattr(self, key)}.")

    def require_positive(self, *keys: str) -> None:
        for key in keys:
            if not getattr(self, key) > 0:  # NaN too
                raise UserError(f"Config key '{key}' must be positive, got {getattr(self, key)}.")

    def require_fractions(self, *keys: str, below: float = 1.0) -> None:
        """Each key in ``[0, below)``."""
        for key in keys:
            if not 0 <= getattr(self, key) < below:
                raise UserError(
                    f"Config key '{key}' must be in [0, {below:g}), got {getattr(self, key)}."
                )

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls: type[C], values: dict[str, Any]) -> C:
        """Builds a config, rejecting unknown keys with the nearest valid one."""
        valid = cls.keys()
        for key in values:
            if key not in valid:
                raise UserError(f"Unknown config key '{key}'{nearest(key, valid)}.")
        return cls(**values)

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes`` applied (validated like a new config)."""
        return type(self).from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        """The config as TOML (keys whose value is None are left out)."""
        lines = []
        for key, value in self.to_dict().items():
            if value is None:
                continue
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, (int, float)):
                text = repr(value)
            else:
                text = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
            lines.append(f"{key} = {text}")
        return "\n".join(lines) + "\n"


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict, with one-line errors for a missing or malformed file."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise UserError(f"Config file {path} does not exist.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"Config file {path} is not valid TOML: {err}.") from None
    except OSError as err:
        raise UserError(f"Cannot read config file {path}: {err.strerror}.") from None


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["units=64", "cell=gru"]`` as a dict; values parsed as TOML when they can be."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"Expected KEY=VALUE after --set, got {pair!r}.")
        try:
            values[key] = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            values[key] = raw.strip()
    return values
