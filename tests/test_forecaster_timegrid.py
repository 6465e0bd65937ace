"""The forecaster's time grid: units, text, ordinals and future times of every supported
frequency, in numpy and in TensorFlow ops (eager, traced and saved).

pandas is the oracle: its ``date_range`` builds the grids and the future times, its
periods give the months and quarters, and the recipe's ``_iso`` writes the text; nothing
expected is recomputed with the code under test.
"""

import zlib

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from recipes.core.errors import UserError
from recipes.forecaster.series import _iso
from recipes.forecaster.timegrid import (
    BUSINESS_DAYS,
    MONTHS,
    SECONDS,
    STEPS,
    default_season,
    exportable,
    grid,
    ordinals,
    phases,
    tf_future,
    tf_text,
    tf_units,
    units,
)

#: frequencies whose grids lie on midnights (months and business days)
CALENDAR = [
    "MS",
    "ME",
    "2MS",
    "QS-JAN",
    "QS-OCT",
    "QE-DEC",
    "QE-NOV",
    "2QS-OCT",
    "YS-JAN",
    "YS-JUL",
    "YE-DEC",
    "YE-FEB",
    "BMS",
    "BME",
    "BQS-JAN",
    "BQE-DEC",
    "BYS-JAN",
    "BYE-DEC",
    "B",
    "2B",
]
#: frequencies of a fixed number of seconds, their grids at any time of day
CLOCK = ["W-SUN", "W-WED", "2W-MON", "D", "2D", "h", "6h", "15min", "s"]
DATED = CALENDAR + CLOCK
#: grid starts around leap days (1696 and 2000 leap, 1700 and 1900 not), year ends and the
#: epoch, before and after it
EDGES = [
    "1696-02-28",
    "1699-12-31",
    "1700-02-28",
    "1900-02-28",
    "1969-12-31",
    "1970-01-01",
    "2000-02-28",
    "2023-12-31",
    "2024-02-29",
    "2100-02-28",
]
LENGTH = 40


def grids(frequency: str) -> list[pd.DatetimeIndex]:
    """pandas grids of ``LENGTH`` times: around each edge (a clock grid crosses its
    midnight) and from random days 1669-2271 (a clock grid at a random time of day)."""
    rng = np.random.default_rng(zlib.crc32(frequency.encode()))
    starts = [pd.Timestamp(edge) for edge in EDGES]
    randoms = [
        pd.Timestamp("1970-01-01") + pd.Timedelta(days=int(d))
        for d in rng.integers(-110_000, 110_000, 6)
    ]
    if frequency in CLOCK:
        offset = pd.tseries.frequencies.to_offset(frequency)
        starts = [start - (LENGTH // 2) * offset for start in starts]
        seconds = rng.integers(0, 86_400, len(randoms))
        randoms = [
            day + pd.Timedelta(seconds=int(s)) for day, s in zip(randoms, seconds, strict=True)
        ]
    return [pd.date_range(start, periods=LENGTH, freq=frequency) for start in starts + randoms]


def texts_of(times) -> list[str]:
    """Times as the recipe writes them."""
    return [_iso(t) for t in pd.DatetimeIndex(times)]


def strings(tensor: tf.Tensor) -> list:
    return tensor.numpy().astype(str).tolist()


@pytest.mark.parametrize("frequency", DATED)
def test_text_round_trip(frequency):
    texts = [text for times in grids(frequency) for text in texts_of(times)]
    assert strings(tf_text(tf_units(texts, frequency), frequency)) == texts


@pytest.mark.parametrize("frequency", DATED)
def test_numpy_units_equal_tf_units(frequency):
    times = np.concatenate([times.values for times in grids(frequency)])
    ours = units(times, frequency)
    assert ours.dtype == np.int64
    np.testing.assert_array_equal(ours, tf_units(texts_of(times), frequency).numpy())
    # the times' resolution does not matter (pandas 3 keeps microseconds)
    np.testing.assert_array_equal(units(times.astype("datetime64[s]"), frequency), ours)


@pytest.mark.parametrize("frequency", DATED)
def test_consecutive_times_have_consecutive_ordinals(frequency):
    times = np.stack([times.values for times in grids(frequency)])
    numbered = ordinals(times, frequency)
    np.testing.assert_array_equal(np.diff(numbered), np.ones((len(times), LENGTH - 1)))
    _, last = tf_future(texts_of(times.ravel()), frequency, 1)
    np.testing.assert_array_equal(last.numpy(), numbered.ravel())


@pytest.mark.parametrize("frequency", DATED)
def test_future_times_are_pandas_date_range(frequency):
    steps = 14
    lasts = [times[k] for times in grids(frequency) for k in (0, 17, LENGTH - 1)]
    expected = [
        texts_of(pd.date_range(last, periods=steps + 1, freq=frequency)[1:]) for last in lasts
    ]
    future, last = tf_future(texts_of(lasts), frequency, steps)
    assert strings(future) == expected
    np.testing.assert_array_equal(last.numpy(), ordinals(pd.DatetimeIndex(lasts).values, frequency))


@pytest.mark.parametrize("frequency", ["MS", "QE-DEC", "BME", "YS-JUL", "B", "2B", "W-SUN"])
def test_future_times_keep_the_time_of_day(frequency):
    # pandas keeps a grid's time of day: a business-day grid at 09:30 stays at 09:30
    times = pd.date_range("2019-12-31 09:30", periods=5, freq=frequency)
    expected = texts_of(pd.date_range(times[-1], periods=7, freq=frequency)[1:])
    assert strings(tf_future([_iso(times[-1])], frequency, 6)[0]) == [expected]


@pytest.mark.parametrize(
    "frequency", ["MS", "ME", "2MS", "BMS", "QS-JAN", "QS-OCT", "QE-NOV", "2QS-OCT", "YS-JUL"]
)
def test_phases_are_pandas_months_and_quarters(frequency):
    step = grid(frequency).step  # months per step; a year is a season of 12 // step steps
    for times in grids(frequency):
        found = phases(times.values, frequency, 12 // step)
        assert found.dtype == np.int32
        months = times.to_period("M").month.to_numpy() - 1
        np.testing.assert_array_equal(found, months // step)
        if step == 3:
            np.testing.assert_array_equal(found, times.to_period("Q").quarter.to_numpy() - 1)


@pytest.mark.parametrize(
    ("frequency", "season", "field", "size"),
    [
        ("h", 24, "hour", 1),
        ("6h", 4, "hour", 6),
        ("15min", 4, "minute", 15),
        ("s", 60, "second", 1),
    ],
)
def test_phases_are_pandas_clock_fields(frequency, season, field, size):
    for times in grids(frequency):
        expected = getattr(times, field).to_numpy() // size
        np.testing.assert_array_equal(phases(times.values, frequency, season), expected)


@pytest.mark.parametrize(("frequency", "season", "shift"), [("D", 7, 4), ("B", 5, 2)])
def test_phases_follow_the_weekday(frequency, season, shift):
    # 1970-01-01, a Thursday (pandas' weekday 3), is phase 0: (0 - 3) % 7 = 4 for days;
    # Monday 1970-01-05 is business day 2 of the epoch: (2 - 0) % 5 = 2
    for times in grids(frequency):
        found = (phases(times.values, frequency, season) - times.dayofweek.to_numpy()) % season
        np.testing.assert_array_equal(found, np.full(LENGTH, shift))


def test_integer_steps():
    assert tf_units(["123", "-5", " 7 ", "+4"], "").numpy().tolist() == [123, -5, 7, 4]
    assert strings(tf_text(tf.constant([123, -5], tf.int64), "")) == ["123", "-5"]
    future, last = tf_future(["-2", "41"], "", 3)
    assert strings(future) == [["-1", "0", "1"], ["42", "43", "44"]]
    assert last.numpy().tolist() == [-2, 41]
    assert units(np.array([3, -5]), "").tolist() == [3, -5]
    assert phases(np.arange(-3, 4), "", 3).tolist() == [0, 1, 2, 0, 1, 2, 0]


@pytest.mark.parametrize("frequency", ["D", "MS", "B", "15min"])
@pytest.mark.parametrize(
    "bad", ["2020-13-01", "yesterday", "2021-02-29", "2020-01-01T24:00", "2020-1-01", "20200101"]
)
def test_bad_text_fails_naming_it(frequency, bad):
    with pytest.raises(tf.errors.InvalidArgumentError, match=bad):
        tf_units(["2020-01-01", bad], frequency)


def test_empty_text_fails_saying_so():
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)Not a time.*\(empty text\)"):
        tf_units(["2020-01-01", ""], "D")
    for bad in ("1.5", "abc", ""):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"Not an integer step"):
            tf_future(["3", bad], "", 2)


@pytest.mark.parametrize(
    ("frequency", "last"),
    [
        ("MS", "2020-01-15"),
        ("ME", "2020-02-28"),
        ("QS-OCT", "2020-02-01"),
        ("YE-DEC", "2020-11-30"),
        ("BYS-JAN", "2022-01-01"),
        ("W-SUN", "2020-01-06"),
        ("B", "2020-01-04"),
    ],
)
def test_a_last_time_off_the_grid_fails_naming_it(frequency, last):
    # pandas would roll it forward onto the grid
    assert _iso(pd.date_range(last, periods=1, freq=frequency)[0]) != last
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"(?s){frequency} grid.*{last}"):
        tf_future([last], frequency, 3)


def traced(frequency: str) -> tf.types.experimental.PolymorphicFunction:
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def calendar(last):
        future, ordinal = tf_future(last, frequency, 5)
        return {
            "future": future,
            "ordinal": ordinal,
            "text": tf_text(tf_units(last, frequency), frequency),
        }

    return calendar


def case(frequency: str) -> tuple[list[str], list[list[str]]]:
    """Last times and pandas' 5 times after each."""
    if not frequency:
        return ["-1", "9"], [["0", "1", "2", "3", "4"], ["10", "11", "12", "13", "14"]]
    lasts = [times[-1] for times in grids(frequency)[:4]]
    return texts_of(lasts), [
        texts_of(pd.date_range(last, periods=6, freq=frequency)[1:]) for last in lasts
    ]


@pytest.mark.parametrize("frequency", ["QE-DEC", "BMS", "B", "W-WED", "15min", ""])
def test_traced(frequency):
    texts, expected = case(frequency)
    calendar = traced(frequency)
    result = calendar(tf.constant(texts))
    assert strings(result["future"]) == expected
    assert strings(result["text"]) == texts
    assert result["ordinal"].dtype == tf.int64
    bad = "2020-13-01" if frequency else "1.5"
    with pytest.raises(tf.errors.InvalidArgumentError, match=bad):
        calendar(tf.constant([bad]))


def test_saved_and_loaded(tmp_path):
    frequencies = {"months": "BME", "seconds": "15min"}
    module = tf.Module()
    module.functions = {name: traced(frequency) for name, frequency in frequencies.items()}
    signatures = {name: f.get_concrete_function() for name, f in module.functions.items()}
    tf.saved_model.save(module, str(tmp_path), signatures=signatures)
    loaded = tf.saved_model.load(str(tmp_path))
    for name, frequency in frequencies.items():
        texts, expected = case(frequency)
        result = loaded.signatures[name](last=tf.constant(texts))
        assert strings(result["future"]) == expected
        assert strings(result["text"]) == texts
        with pytest.raises(tf.errors.InvalidArgumentError, match="2020-13-01"):
            loaded.signatures[name](last=tf.constant(["2020-13-01"]))


def test_default_season():
    expected = {
        "MS": 12,
        "ME": 12,
        "2MS": 6,
        "5MS": 1,
        "QS-OCT": 4,
        "QE-DEC": 4,
        "2QS": 2,
        "YS-JAN": 1,
        "YE-DEC": 1,
        "BMS": 12,
        "W-SUN": 52,
        "2W-MON": 26,
        "D": 7,
        "2D": 1,
        "B": 5,
        "h": 24,
        "6h": 4,
        "5h": 1,
        "min": 60,
        "15min": 4,
        "s": 60,
        "": 1,
        "SMS": 1,
        "ms": 1,
        "nonsense": 1,
    }
    assert {frequency: default_season(frequency) for frequency in expected} == expected


def test_grid_units_and_steps():
    expected = {
        "QS-OCT": (MONTHS, 3),
        "2MS": (MONTHS, 2),
        "YE-DEC": (MONTHS, 12),
        "B": (BUSINESS_DAYS, 1),
        "2h": (SECONDS, 7_200),
        "W-SUN": (SECONDS, 604_800),
        "15min": (SECONDS, 900),
        "": (STEPS, 1),
        # pandas' other spellings
        "d": (SECONDS, 86_400),
        "1D2h": (SECONDS, 93_600),
        "W": (SECONDS, 604_800),
    }
    assert {f: (grid(f).unit, grid(f).step) for f in expected} == expected
    assert grid("W").anchor == grid("W-SUN").anchor == 6
    assert grid("QE").anchor == 12 and grid("QS-OCT").anchor == 10


@pytest.mark.parametrize("frequency", ["SMS", "ms", "us", "C", "W-XYZ", "MS-JAN", "0D", "x"])
def test_unsupported_frequencies(frequency):
    assert not exportable(frequency)
    with pytest.raises(UserError, match=f"Frequency '{frequency}' is not supported"):
        grid(frequency)
    with pytest.raises(UserError):
        tf_units(["2020-01-01"], frequency)
    times = pd.date_range("2020-01-01", periods=3, freq="D").values
    np.testing.assert_array_equal(phases(times, frequency, 1), np.zeros(3))


def test_dated_units_refuse_integers():
    with pytest.raises(TypeError, match="'MS'"):
        units(np.array([1, 2]), "MS")
