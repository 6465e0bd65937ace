"""Every numeric setting has a checked range, and predict options are checked too.

Each config class of :data:`recipes.RECIPES` declares the range of every int and float
field (``recipes.core.config.setting``); a value outside it, NaN, an infinity or an integer
far beyond int64 is one :class:`UserError` line naming the key, the range and the value,
raised when the config is made: before any data is read or model built. The overrides of
the command line are fuzzed: the only failure allowed is such a line.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recipes
from recipes.core.config import Interval, field_range, numeric_fields, parse_overrides
from recipes.core.errors import UserError

CONFIGS = [r.config_class for r in recipes.RECIPES.values()]


@pytest.mark.parametrize("config_class", CONFIGS, ids=lambda c: c.__name__)
def test_every_numeric_field_declares_a_range(config_class):
    assert numeric_fields(config_class), config_class
    missing = [n for n in numeric_fields(config_class) if field_range(config_class, n) is None]
    assert not missing, f"{config_class.__name__}: no range declared for {missing}"
    defaults = config_class()  # the defaults are inside their own ranges
    for name in numeric_fields(config_class):
        interval = field_range(config_class, name)
        assert math.isfinite(interval.low) and math.isfinite(interval.high), name
        value = getattr(defaults, name)
        assert value is None or value in interval, (name, value, interval)


def _cases():
    for config_class in CONFIGS:
        for name in numeric_fields(config_class):
            yield pytest.param(config_class, name, id=f"{config_class.__name__}.{name}")


def _is_integer(config_class: type, name: str) -> bool:
    return isinstance(getattr(config_class(), name), int) or name.endswith("_column")


def _outside(interval: Interval, integer: bool) -> list:
    """Values just outside each end, far outside, and (for floats) NaN and infinities."""
    if integer:
        low = interval.low if interval.low_open else interval.low - 1
        high = interval.high if interval.high_open else interval.high + 1
        return [low, high, -(2**64), 2**64, 10**30]
    low = interval.low if interval.low_open else math.nextafter(interval.low, -math.inf)
    high = interval.high if interval.high_open else math.nextafter(interval.high, math.inf)
    return [low, high, math.nan, math.inf, -math.inf, -1e300, 1e300]


def _inside(interval: Interval, integer: bool) -> list:
    if integer:
        return [interval.low + interval.low_open, interval.high - interval.high_open]
    low = math.nextafter(interval.low, math.inf) if interval.low_open else interval.low
    high = math.nextafter(interval.high, -math.inf) if interval.high_open else interval.high
    return [low, high]


@pytest.mark.parametrize("config_class, name", _cases())
def test_values_out_of_range_are_one_line_naming_the_key(config_class, name):
    interval = field_range(config_class, name)
    integer = _is_integer(config_class, name)
    kind = "an integer" if integer else "a number"
    for value in _outside(interval, integer):
        with pytest.raises(UserError) as error:
            config_class.from_dict({name: value})
        message = str(error.value)
        assert message.startswith(f"Config key '{name}' must be {kind} in {interval}, got "), (
            value,
            message,
        )
        assert "\n" not in message
    for value in _inside(interval, integer):
        try:
            config = config_class.from_dict({name: value})
        except UserError as err:  # a check across fields may refuse it, the range not
            assert f"Config key '{name}' must be" not in str(err), (value, str(err))
        else:
            assert getattr(config, name) == value


@pytest.mark.parametrize(
    "config_class, pair, line",
    [
        (
            recipes.SentimentConfig,
            "max_tokens=1",
            "Config key 'max_tokens' must be an integer in [3, 10000000], got 1.",
        ),
        (
            recipes.SentimentConfig,
            "units=99999999999999999999",
            "Config key 'units' must be an integer in [1, 16384], got 99999999999999999999.",
        ),
        (
            recipes.CharTextConfig,
            "units=99999999999999999999",
            "Config key 'units' must be an integer in [1, 16384], got 99999999999999999999.",
        ),
        (
            recipes.NERConfig,
            "dropout=nan",
            "Config key 'dropout' must be a number in [0, 1), got nan.",
        ),
        (
            recipes.TranslatorConfig,
            "max_minutes=inf",
            "Config key 'max_minutes' must be a number in [0, 525600], got inf.",
        ),
        (
            recipes.CharMusicConfig,  # a field declared again keeps its parent's range
            "units=0",
            "Config key 'units' must be an integer in [1, 16384], got 0.",
        ),
        (
            recipes.CharTextConfig,  # an int too large for any float
            "learning_rate=1" + "0" * 400,
            "Config key 'learning_rate' must be a number in (0, 10], got an integer of 401 digits.",
        ),
    ],
)
def test_bad_overrides_are_these_lines(config_class, pair, line):
    with pytest.raises(UserError) as error:
        config_class.from_dict(parse_overrides([pair]))
    assert str(error.value) == line


def test_an_interval_is_written_as_in_mathematics():
    interval = Interval.parse("(0, 1]")
    assert 0 not in interval and 1 in interval and 0.5 in interval
    assert math.nan not in interval and math.inf not in interval
    assert 10**400 not in Interval.parse("[1, 16384]")
    for bad in ("1..3", "[1; 3]", "[3, 1]", "(0, inf)"):
        with pytest.raises(ValueError):
            Interval.parse(bad)


# -- predict options -------------------------------------------------------------------
GENERATOR_OPTIONS = [
    ("samples", 0, "samples must be an integer in [1, 100000], got 0."),
    ("samples", 100001, "samples must be an integer in [1, 100000], got 100001."),
    ("samples", 2.5, "samples must be an integer in [1, 100000], got 2.5."),
    ("samples", True, "samples must be an integer in [1, 100000], got True."),
    ("length", 0, "length must be an integer in [1, 1000000], got 0."),
    ("length", 10**30, f"length must be an integer in [1, 1000000], got {10**30}."),
    ("temperature", -0.5, "temperature must be a number in [0, 1000], got -0.5."),
    ("temperature", math.nan, "temperature must be a number in [0, 1000], got nan."),
    ("temperature", math.inf, "temperature must be a number in [0, 1000], got inf."),
    ("top_k", -1, "top_k must be an integer in [0, 1000000], got -1."),
    ("top_p", 0.0, "top_p must be a number in (0, 1], got 0.0."),
    ("top_p", 1.5, "top_p must be a number in (0, 1], got 1.5."),
    ("top_p", math.nan, "top_p must be a number in (0, 1], got nan."),
    ("seed", -1, "seed must be an integer in [0, 4294967295], got -1."),
    ("seed", 2**64, f"seed must be an integer in [0, 4294967295], got {2**64}."),
]


@pytest.mark.parametrize("recipe", [recipes.CharText, recipes.CharMusic])
@pytest.mark.parametrize("option, value, line", GENERATOR_OPTIONS)
def test_generator_options_are_checked_before_any_work(recipe, option, value, line):
    app = recipe()  # no model: the option is refused before one is needed
    with pytest.raises(UserError) as error:
        app.predict([], **{option: value})
    assert str(error.value) == line
    with pytest.raises(UserError) as error:
        app.generate("a prime", **{option: value})
    assert str(error.value) == line


def test_generator_predict_refuses_an_unknown_option():
    with pytest.raises(UserError, match="Unknown option 'beam_width' of char_text predict"):
        recipes.CharText().predict([], beam_width=2)


@pytest.mark.parametrize(
    "options, line",
    [
        ({"beam_width": 0}, "beam_width must be an integer in [1, 512], got 0."),
        ({"beam_width": 10**30}, f"beam_width must be an integer in [1, 512], got {10**30}."),
        ({"max_length": -1}, "max_length must be an integer in [0, 10000], got -1."),
        ({"length_penalty": math.nan}, "length_penalty must be a number in [0, 10], got nan."),
    ],
)
def test_translator_options_are_checked_before_any_work(options, line):
    app = recipes.Translator()  # no model: the option is refused before one is needed
    with pytest.raises(UserError) as error:
        app.translate(["3 May 1979"], **options)
    assert str(error.value) == line
    if list(options) == ["beam_width"]:
        with pytest.raises(UserError) as error:
            app.predict(["3 May 1979"], **options)
        assert str(error.value) == line


def test_task_verbs():
    verbs = {name: recipes.config_class(name).task_verb for name in recipes.APPLICATIONS}
    assert verbs == {
        "sentiment": "predict",
        "char_text": "generate",
        "char_music": "generate",
        "translator": "translate",
        "ner": "tag",
        "trigger_word": "detect",
        "forecaster": "forecast",
    }
    assert recipes.get_recipe("translator")().task_verb == "translate"


# -- fuzzing: the only failure allowed is one UserError line ---------------------------
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.sampled_from([2**63, -(2**63) - 1, 0, -1, 1]),
    st.integers(4300, 5000).map(lambda n: -(10**n)),  # too long for repr() and int(str)
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
#: raw text after ``KEY=`` as a user might type it: numbers, TOML arrays, inline tables,
#: strings, nested brackets, line breaks, and arbitrary text
_RAW = st.one_of(
    st.integers().map(str),
    st.sampled_from(["nan", "-nan", "inf", "-inf", "+inf", "1e999", "-0.0", "1_000", "0x10"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["true", "false", "[]", "[1, 2]", "{}", "{a = 1}", '"x"', "'''y'''"]),
    st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),
    st.integers(4300, 5000).map(lambda n: "9" * n),
    st.sampled_from(["4\nother = 1", "[1,\n2]", "=", '"unclosed', "{a = {b = [1]}}"]),
    st.text(max_size=40),
)


def _keys(config_class: type):
    return st.one_of(st.sampled_from(config_class.keys()), st.text(min_size=1, max_size=12))


@st.composite
def _class_and_pairs(draw):
    config_class = draw(st.sampled_from(CONFIGS))
    keys = _keys(config_class)
    pairs = draw(
        st.lists(
            st.one_of(
                st.tuples(keys, _RAW).map(lambda kv: f"{kv[0]}={kv[1]}"),
                st.text(max_size=20),  # not KEY=VALUE at all
            ),
            max_size=4,
        )
    )
    return config_class, pairs


@st.composite
def _class_and_values(draw):
    config_class = draw(st.sampled_from(CONFIGS))
    values = draw(st.dictionaries(_keys(config_class), _VALUES, max_size=4))
    return config_class, values


def _only_one_line_errors(make) -> None:
    try:
        make()
    except UserError as err:
        message = str(err)
        assert message and "\n" not in message and "\r" not in message, repr(message)


_FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_FUZZ
@given(_class_and_pairs())
def test_fuzzed_overrides_fail_only_with_one_line(case):
    config_class, pairs = case
    _only_one_line_errors(lambda: config_class.from_dict(parse_overrides(pairs)))


@_FUZZ
@given(_class_and_values())
def test_fuzzed_config_values_fail_only_with_one_line(case):
    config_class, values = case

    def make():
        config = config_class.from_dict(values)
        config.replace()  # what was accepted is accepted again (to_dict, from_dict)
        config.to_toml()

    _only_one_line_errors(make)
