"""Typed recipe configurations: dataclasses validated on creation.

They merge left to right: defaults, then a TOML file, then ``--set`` overrides.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import numbers
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from recipes.core.errors import UserError

C = TypeVar("C", bound="RecipeConfig")

_BOUND = r"\s*(-?\d[\d_]*(?:\.\d*)?(?:e[-+]?\d+)?)\s*"
_INTERVAL = re.compile(rf"([\[(]){_BOUND},{_BOUND}([\])])")


@dataclasses.dataclass(frozen=True)
class Interval:
    """Numbers from ``low`` to ``high``, written as in mathematics: ``"[1, 16384]"``
    (both ends included), ``"(0, 1]"``, ``"[0, 1)"`` (a parenthesis leaves its end out).
    NaN and infinities are never inside."""

    low: float
    high: float
    low_open: bool
    high_open: bool
    text: str

    @classmethod
    def parse(cls, text: str) -> Interval:
        match = _INTERVAL.fullmatch(text.strip())
        if not match:
            raise ValueError(f"Expected an interval such as '[1, 16384]', got {text!r}.")
        left, low, high, right = match.groups()

        def number(bound: str) -> float:
            return float(bound) if any(c in bound for c in ".e") else int(bound)

        interval = cls(number(low), number(high), left == "(", right == ")", text.strip())
        if not interval.low <= interval.high:
            raise ValueError(f"Interval {text!r} is empty.")
        return interval

    def __contains__(self, value: float) -> bool:
        if not isinstance(value, numbers.Integral) and not math.isfinite(value):
            return False  # (ints of any size compare exactly; math.isfinite would overflow)
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def __str__(self) -> str:
        return self.text


def setting(default: Any, interval: str, doc: str = "") -> Any:
    """A numeric config field with its allowed range and what it means:
    ``units: int = setting(32, SIZE, "units per direction")``.

    ``RecipeConfig`` refuses values outside the interval (and NaN, infinities) when a
    config is made. A subclass that declares the field again with a plain default
    (``units: int = 256``) keeps the range and the documentation of the class it extends.
    """
    return dataclasses.field(
        default=default, metadata={"range": Interval.parse(interval), "doc": doc}
    )


def option(default: Any, doc: str) -> Any:
    """A config field that is not a number (a choice, a flag, a path), with what it means:
    ``cell: Literal["lstm", "gru"] = option("lstm", "the recurrent layer")``."""
    return dataclasses.field(default=default, metadata={"doc": doc})


def field_doc(config_class: type, name: str) -> str:
    """What a field of ``config_class`` means: its documentation in the nearest class
    (itself or one it extends) that declares it with one."""
    for cls in config_class.__mro__:
        field = getattr(cls, "__dataclass_fields__", {}).get(name)
        if field is not None and field.metadata.get("doc"):
            return field.metadata["doc"]
    return ""


def field_range(config_class: type, name: str) -> Interval | None:
    """The declared range of a field of ``config_class`` (or of a class it extends)."""
    for cls in config_class.__mro__:
        field = getattr(cls, "__dataclass_fields__", {}).get(name)
        if field is not None and "range" in field.metadata:
            return field.metadata["range"]
    return None


def check_range(name: str, value: Any, interval: str | Interval, integer: bool) -> Any:
    """``value`` when it is an integer (or, with ``integer`` False, a number) inside
    ``interval``; otherwise a one-line :class:`UserError` naming ``name``, the range and
    the value. ``name`` is how the error calls the value ("Config key 'units'")."""
    if isinstance(interval, str):
        interval = Interval.parse(interval)
    kind = "an integer" if integer else "a number"
    allowed = numbers.Integral if integer else numbers.Real
    if not isinstance(value, allowed) or isinstance(value, bool) or value not in interval:
        raise UserError(f"{name} must be {kind} in {interval}, got {shown(value)}.")
    return int(value) if integer else float(value)


def check_setting(config_class: type, name: str, value: Any) -> Any:
    """A value given for the setting ``name`` outside a config (an option of the task
    verb that overrides it), checked as the config would check it: its kind (integer or
    number) and its range. A one-line :class:`UserError` naming ``name`` otherwise."""
    kinds = _allowed_types(typing.get_type_hints(config_class)[name])
    interval = field_range(config_class, name)
    return check_range(name, value, interval, integer=float not in kinds)


# -- ranges that many recipes share ------------------------------------------------------
SEED = "[0, 4294967295]"  # NumPy's seeds are 32-bit (keras.utils.set_random_seed)
SIZE = "[1, 16384]"  # units, vector and attention sizes
BATCH_SIZE = "[1, 65536]"
EPOCHS = "[1, 100000]"
PATIENCE = "[0, 100000]"  # epochs without improvement (0: never stop early)
LEARNING_RATE = "(0, 10]"
CLIPNORM = "[0, 1000000]"  # 0: no clipping
MINUTES = "[0, 525600]"  # a time budget of up to a year (0: none)
SHARE = "[0, 1)"  # dropout rates and other shares of a whole
HELD_OUT = "[0, 0.5)"  # validation and test shares
COLUMN = "[-100000, 100000]"  # a column index (negative: from the last)


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)`` for an error message: long integers by their number of digits,
    other long values cut short; never an error itself (Python refuses to write ints of
    more than 4300 digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        digits = int(abs(value).bit_length() * math.log10(2))  # one short at most
        digits += abs(value) >= 10**digits
        return f"an integer of {digits} digits"
    try:
        text = repr(value)
    except ValueError:  # a container of such ints
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def nearest(key: str, valid: list[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest valid key, or an empty string."""
    match = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _allowed_types(annotation: Any) -> tuple[Any, ...]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return typing.get_args(annotation)
    return (annotation,)


def _coerce(name: str, value: Any, annotation: Any, interval: Interval | None = None) -> Any:
    """``value`` converted to the field's type, or a :class:`UserError` naming the key
    (and ``interval``, the field's range, for an int too large for a float)."""
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
            try:
                return float(value)
            except OverflowError:  # an int beyond any float: out of every range
                raise UserError(
                    f"Config key '{name}' must be a number in {interval or 'its range'}, "
                    f"got {shown(value)}."
                ) from None
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
    raise UserError(f"Config key '{name}' expects {expected}, got {shown(value)}.")


def numeric_fields(config_class: type) -> list[str]:
    """The fields of a config that can hold an int or a float (bools are not numbers)."""
    hints = typing.get_type_hints(config_class)
    return [
        f.name
        for f in dataclasses.fields(config_class)
        if {int, float} & set(_allowed_types(hints[f.name]))
    ]


@dataclasses.dataclass
class RecipeConfig:
    """Base of every recipe's configuration; subclasses add documented fields.

    Every numeric field declares its range (:func:`setting`); values outside it are
    refused here, before any data is read or model built. Checks that involve more
    than one field go in :meth:`validate`.
    """

    def __post_init__(self) -> None:
        cls = type(self)
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(self):
            interval = field_range(cls, field.name)
            value = _coerce(field.name, getattr(self, field.name), hints[field.name], interval)
            # (a numeric field without a range: tests/test_config.py finds it)
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if interval is not None and numeric:
                integer = isinstance(value, int)
                value = check_range(f"Config key '{field.name}'", value, interval, integer)
            setattr(self, field.name, value)
        self.validate()

    def validate(self) -> None:
        """Checks across fields; raise :class:`UserError` naming the key."""

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    #: old key -> its present name: configs of run folders saved before a rename load
    renamed: typing.ClassVar[dict[str, str]] = {}

    @classmethod
    def from_dict(cls: type[C], values: dict[str, Any]) -> C:
        """Builds a config, rejecting unknown keys with the nearest valid one (a key of
        :attr:`renamed` is read as its present name)."""
        valid = cls.keys()
        values = {cls.renamed.get(key, key): value for key, value in values.items()}
        for key in values:
            if key not in valid:
                raise UserError(f"Unknown config key '{key}'{nearest(key, valid)}.")
        return cls(**values)

    #: key -> the value that a run folder whose config.toml lacks the key (saved before the
    #: key existed) keeps, where the key's default for new runs behaves otherwise
    saved_without: typing.ClassVar[dict[str, Any]] = {}

    @classmethod
    def from_run_folder(cls: type[C], run_dir: str | Path) -> C:
        """The config of a run folder (its ``config.toml``), keys it lacks read as
        :attr:`saved_without` says, so that an older run behaves as it did."""
        return cls.from_dict({**cls.saved_without, **read_toml(Path(run_dir) / "config.toml")})

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes`` applied (validated like a new config)."""
        return type(self).from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        """The config as TOML (keys whose value is None are left out)."""
        lines = [f"{k} = {toml_text(v)}" for k, v in self.to_dict().items() if v is not None]
        return "\n".join(lines) + "\n"

    def to_commented_toml(self, recipe: str = "RECIPE") -> str:
        """Every setting with what it means, its allowed values and its value, as a TOML
        file to edit and pass back with ``--config``: the recipe's own settings first, then
        the training settings that every recipe shares. A setting that is not set (None)
        is a comment. ``recipe``: the recipe's name, for the header lines."""
        lines = [f"# settings of the {recipe} recipe", f"# (rnn-apps fit {recipe} --config FILE)"]
        for heading, keys in groups(type(self)):
            lines += ["", f"# == {heading} =="]
            for key in keys:
                lines += [""] + [f"# {line}" for line in describe(type(self), key)]
                value = getattr(self, key)
                lines.append(
                    f"# {key} = (not set)" if value is None else f"{key} = {toml_text(value)}"
                )
        return "\n".join(lines) + "\n"


def groups(config_class: type) -> list[tuple[str, list[str]]]:
    """A config's keys in two groups: the recipe's own settings, then the training
    settings of :class:`TrainConfig`."""
    shared = set(TrainConfig.keys())
    own = [k for k in config_class.keys() if k not in shared]
    return [
        (heading, keys)
        for heading, keys in (
            ("the recipe's own settings", own),
            (
                "training settings (every recipe has them)",
                [k for k in config_class.keys() if k in shared],
            ),
        )
        if keys
    ]


def settings_help(config_class: type, name: str) -> str:
    """The settings of a recipe, their defaults and meaning, for ``fit RECIPE --help``."""
    defaults = config_class()
    lines = [f"settings of {name} (--set KEY=VALUE; rnn-apps config {name} writes them as TOML):"]
    for heading, keys in groups(config_class):
        lines += ["", f"{heading}:"]
        for key in keys:
            value = getattr(defaults, key)
            lines.append(f"  {key} = {'(not set)' if value is None else toml_text(value)}")
            lines += [f"      {line}" for line in describe(config_class, key)]
    return "\n".join(lines)


def toml_text(value: Any) -> str:
    """A value as TOML: booleans, numbers, strings (JSON's escapes are TOML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def allowed(config_class: type, name: str) -> str:
    """The values a field takes, in words: its range, its choices, or its type."""
    hint = typing.get_type_hints(config_class)[name]
    kinds = _allowed_types(hint)
    choices = [
        c for k in kinds if typing.get_origin(k) is typing.Literal for c in typing.get_args(k)
    ]
    words = []
    if choices:
        words.append("one of " + ", ".join(json.dumps(c) for c in choices))
    interval = field_range(config_class, name)
    for kind in kinds:
        if kind is bool:
            words.append("true or false")
        elif kind in (int, float):
            number = "an integer" if kind is int else "a number"
            words.append(f"{number} in {interval}" if interval else number)
        elif kind is str and not choices:
            words.append("text")
    if type(None) in kinds:
        words.append("not set")
    return " or ".join(dict.fromkeys(words))


def describe(config_class: type, name: str) -> list[str]:
    """Lines that say what a field means and what it takes (for comments and --help)."""
    import textwrap

    doc = field_doc(config_class, name) or name
    return [*textwrap.wrap(doc, 86), f"({allowed(config_class, name)})"]


DISTRIBUTION = typing.Literal["auto", "none", "mirrored", "multi_worker"]
#: settings that ``fit --resume`` may change: they steer training, not the model's shape
RESUMABLE = ("epochs", "patience", "learning_rate", "max_minutes", "distribution")


@dataclasses.dataclass(frozen=True)
class TaskOption:
    """An option of a recipe's task verb (``rnn-apps predict`` and its alias), given on
    the command line as ``--name`` (``top_k``: ``--top-k``) and passed to ``predict``.

    ``output``: ``"folder"`` or a file suffix (``".png"``) for an option that names where
    to write; the command line checks that path before any work."""

    name: str
    type: type
    help: str
    output: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


#: modules every recipe imports that the package's base install leaves out (each extra
#: installs them): data sets, training-curve plots, TensorBoard logs
SHARED_REQUIRES = ("tensorflow_datasets", "matplotlib", "tensorboard")


def missing_extra(name: str, config_class: type[TrainConfig]) -> str | None:
    """The one-line message when a module that recipe ``name`` needs is not installed
    (its pip extra was left out), or None when all are there."""
    import importlib.util

    for module in (*SHARED_REQUIRES, *config_class.requires):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return (
                f"{name} needs the {config_class.extra} extra ({module} is not installed): "
                f"pip install 'rnn-apps[{config_class.extra}]'"
            )
    return None


@dataclasses.dataclass
class TrainConfig(RecipeConfig):
    """The settings that every recipe shares: data, splits, training, time budget,
    devices. A recipe's config extends it, adds its own settings and may give these other
    defaults (``epochs: int = 15``; the range and documentation stay).

    The class also names the recipe's task verb (the alias of ``rnn-apps predict``) and
    its options, so that the command line knows them without importing TensorFlow.
    """

    #: one line on what the recipe does (``rnn-apps recipes``)
    description: typing.ClassVar[str] = ""
    #: the data it trains on when ``data`` is not set
    default_data: typing.ClassVar[str] = ""
    #: the pip extra that installs what it needs: ``pip install 'rnn-apps[EXTRA]'``
    extra: typing.ClassVar[str] = "all"
    #: the modules of that extra it imports, beyond :data:`SHARED_REQUIRES`
    requires: typing.ClassVar[tuple[str, ...]] = ()
    #: the metric ``rnn-apps runs`` shows for a run (from its metrics.json)
    headline: typing.ClassVar[str] = "val_loss"
    #: the task verb, an alias of ``rnn-apps predict`` for the recipe's runs
    task_verb: typing.ClassVar[str] = "predict"
    #: the options the task verb takes
    task_options: typing.ClassVar[tuple[TaskOption, ...]] = ()
    #: whether the task verb without inputs reads them from stdin, one per line
    task_reads_stdin: typing.ClassVar[bool] = True

    data: str | None = option(
        None,
        "a local file or folder, or tfds:NAME[/CONFIG]; not set: the recipe's default data "
        "(rnn-apps recipes lists it)",
    )
    data_dir: str | None = option(None, "where tensorflow-datasets keeps its data sets")
    validation_split: float = setting(
        0.1, HELD_OUT, "share held out for validation (from sources without a validation split)"
    )
    test_split: float = setting(
        0.1, HELD_OUT, "share held out for test (from sources without a test split)"
    )
    seed: int = setting(1337, SEED, "splits, initialization, dropout, shuffling")
    batch_size: int = setting(32, BATCH_SIZE, "examples per training step")
    epochs: int = setting(20, EPOCHS, "at most (early stopping or max_minutes may end sooner)")
    learning_rate: float = setting(2e-3, LEARNING_RATE, "Adam's (under a cosine: its peak)")
    schedule: typing.Literal["constant", "cosine"] = option(
        "constant",
        "the learning rate: constant, or along a cosine from learning_rate down to "
        "schedule_floor x learning_rate over the run's steps, or over max_minutes when "
        "that ends first",
    )
    schedule_floor: float = setting(
        0.1, "[0, 1]", "cosine: the learning rate at the end, as a share of learning_rate"
    )
    clipnorm: float = setting(0.0, CLIPNORM, "global gradient norm clipping (0: none)")
    patience: int = setting(
        3, PATIENCE, "epochs without validation improvement before stopping (0: never)"
    )
    max_minutes: float = setting(
        0.0,
        MINUTES,
        "time budget: training stops at the last epoch boundary within it (0: none)",
    )
    jit_compile: bool = option(False, "train the numeric model under XLA")
    distribution: DISTRIBUTION = option(
        "auto",
        "tf.distribute: auto (mirrored over several GPUs, else one device), none, "
        "mirrored (all local GPUs, or the logical CPUs), multi_worker (the machines of "
        "TF_CONFIG; fit --workers N sets it for N local processes)",
    )


def default_run_dir(recipe: str) -> Path:
    """Where ``fit`` trains when not told: ``runs/RECIPE-YYYYmmdd-HHMMSS``."""
    import datetime

    return Path("runs") / f"{recipe}-{datetime.datetime.now():%Y%m%d-%H%M%S}"


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
        values[key] = _toml_value(raw.strip())
    return values


def _toml_value(raw: str) -> Any:
    """``raw`` read as one TOML value, or ``raw`` itself when it is not exactly one."""
    try:
        parsed = tomllib.loads(f"v = {raw}")
    # (RecursionError: arrays nested thousands deep; ValueError: ints of over 4300 digits)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        return raw
    # a line break in raw can add keys of its own ("4\nother = 1"): then it is not a value
    return parsed["v"] if list(parsed) == ["v"] else raw
