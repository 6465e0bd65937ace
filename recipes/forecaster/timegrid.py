"""The forecaster's time grid, one definition for numpy (training) and TensorFlow (export).

A series lies on a regular grid named by a pandas frequency (``"MS"``, ``"QS-OCT"``,
``"W-SUN"``, ``"B"``, ``"15min"``, ...) or by ``""`` for integer steps. Each frequency
counts time in one *unit*:

- ``months`` (``MS``, ``ME``, ``QS-*``, ``QE-*``, ``YS-*``, ``YE-*`` and their business
  variants ``BMS``, ``BME``, ``BQS-*``, ``BQE-*``, ``BYS-*``, ``BYE-*``): a time's units are
  ``(year - 1970) * 12 + month - 1``; the day and the time of day are left out;
- ``business_days`` (``B``): the Monday-to-Friday days since 1970-01-01 (a Thursday, unit
  0); a Saturday or a Sunday counts as the Monday after it, as pandas rolls it forward;
- ``seconds`` (``W-*``, ``D``, ``h``, ``min``, ``s``): seconds since 1970-01-01T00:00:00;
- ``steps`` (``""``): the integer time itself.

A frequency's *step* is its units per grid step (``"QS-OCT"``: 3 months, ``"2h"``: 7200
seconds), a time's *ordinal* is ``floor(units / step)`` (consecutive times of a grid have
consecutive ordinals, whatever the grid's alignment) and its *phase*, its place in a season
of ``season`` steps, is ``ordinal mod season``. Divisions round down, so times before 1970
(statsmodels' sunspots start in 1700) follow the same rules.

numpy computes units from ``datetime64`` arrays; the ``tf_*`` functions compute them from
ISO 8601 text with plain TensorFlow ops (civil-calendar integer arithmetic, Howard
Hinnant's ``days_from_civil`` and ``civil_from_days``), so that an exported SavedModel
reads the last timestamp of a history and writes its forecast's timestamps as text with no
Python at serving time. Their text is what :func:`recipes.forecaster.series.future_times`
writes: ``YYYY-MM-DD`` at midnight, else ``YYYY-MM-DDTHH:MM:SS``.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import warnings

import numpy as np
import tensorflow as tf

from recipes.core.errors import UserError

#: the grid's unit of each frequency family
MONTHS, BUSINESS_DAYS, SECONDS, STEPS = "months", "business_days", "seconds", "steps"
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
#: months-unit frequencies: (months per step, the period's anchor month without a suffix,
#: the day of the month its times fall on)
_MONTHLY = {
    "MS": (1, 1, "first"),
    "ME": (1, 1, "last"),
    "BMS": (1, 1, "first business"),
    "BME": (1, 1, "last business"),
    "QS": (3, 1, "first"),
    "QE": (3, 12, "last"),
    "BQS": (3, 1, "first business"),
    "BQE": (3, 12, "last business"),
    "YS": (12, 1, "first"),
    "YE": (12, 12, "last"),
    "BYS": (12, 1, "first business"),
    "BYE": (12, 12, "last business"),
}
#: seconds-unit frequencies: seconds per step
_SECONDLY = {"W": 604_800, "D": 86_400, "h": 3_600, "min": 60, "s": 1}
#: steps per natural season of each base frequency (months: 12 months)
_SEASONS = {"W": 52, "D": 7, "B": 5, "h": 24, "min": 60, "s": 60}
_FREQUENCY = re.compile(r"(\d*)([A-Za-z]+)(?:-([A-Z]{3}))?")
_EPOCH_DAY = np.datetime64("1970-01-01", "D")
# ISO 8601 text as the recipe reads it (RE2 syntax), and integer steps
_TIME_PATTERN = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?"
_INTEGER_PATTERN = r"[+-]?\d{1,18}"


@dataclasses.dataclass(frozen=True)
class Grid:
    """A supported frequency, parsed (see :func:`grid`)."""

    #: the frequency as given
    frequency: str
    #: :data:`MONTHS`, :data:`BUSINESS_DAYS`, :data:`SECONDS` or :data:`STEPS`
    unit: str
    #: units per grid step
    step: int
    #: the frequency without its multiple and anchor: ``"QS"``, ``"W"``, ``"min"``, ``""``
    base: str = ""
    #: its multiple (``"2h"``: 2)
    multiple: int = 1
    #: the anchor: a month 1-12 for months (``"QS-OCT"``: 10), a weekday 0-6 (Monday 0)
    #: for weeks, else -1
    anchor: int = -1
    #: months: the day of the month a time falls on (``"first"``, ``"last"``,
    #: ``"first business"``, ``"last business"``), else ``""``
    day: str = ""


def exportable(frequency: str) -> bool:
    """Whether ``frequency`` is a grid this module supports (numpy and TensorFlow)."""
    try:
        grid(frequency)
    except UserError:
        return False
    return True


@functools.lru_cache(maxsize=64)
def grid(frequency: str) -> Grid:
    """The unit, step and anchor of a frequency.

    Raises:
        UserError: a frequency off the supported grids (semi-months, sub-second steps,
            business hours, custom calendars, ...), naming it and what to do.
    """
    parsed = _parse(frequency)
    if parsed is None:
        # pandas' other spellings of a supported frequency ("d", "1D2h", "W")
        canonical = _pandas_name(frequency)
        parsed = _parse(canonical) if canonical and canonical != frequency else None
    if parsed is None:
        raise UserError(
            f"Frequency {frequency!r} is not supported by the forecaster's calendar (and its "
            "export): use months (MS, ME, QS-OCT, QE-DEC, YS-JAN, YE-DEC, ... and business "
            "variants like BMS), business days (B), weeks, days, hours, minutes or seconds "
            "(W-SUN, D, h, min, s, with multiples like 2D or 15min) or integer steps; resample "
            "the series to one of them and set frequency."
        )
    return dataclasses.replace(parsed, frequency=frequency)


def _parse(frequency: str) -> Grid | None:
    if frequency == "":
        return Grid("", STEPS, 1)
    match = _FREQUENCY.fullmatch(frequency)
    if match is None:
        return None
    digits, base, suffix = match.groups()
    multiple = int(digits) if digits else 1
    if multiple < 1:
        return None
    if base in _MONTHLY:
        months, anchor, day = _MONTHLY[base]
        if suffix is not None:
            if months == 1 or suffix not in _MONTH_NAMES:
                return None
            anchor = _MONTH_NAMES.index(suffix) + 1
        return Grid(frequency, MONTHS, months * multiple, base, multiple, anchor, day)
    if base == "W":
        if suffix is not None and suffix not in _DAY_NAMES:
            return None
        anchor = _DAY_NAMES.index(suffix or "SUN")
        return Grid(frequency, SECONDS, _SECONDLY["W"] * multiple, base, multiple, anchor)
    if suffix is not None:
        return None
    if base == "B":
        return Grid(frequency, BUSINESS_DAYS, multiple, base, multiple)
    if base in _SECONDLY:
        return Grid(frequency, SECONDS, _SECONDLY[base] * multiple, base, multiple)
    return None


def _pandas_name(frequency: str) -> str:
    """pandas' own name of a frequency (``""`` when pandas does not know it)."""
    try:
        from pandas.tseries.frequencies import to_offset

        with warnings.catch_warnings():  # (an older pandas' deprecated aliases, like "M")
            warnings.simplefilter("ignore")
            return to_offset(frequency).freqstr
    except Exception:  # ImportError, or pandas' ValueError of an unknown frequency
        return ""


def default_season(frequency: str) -> int:
    """Steps per natural season of a frequency: a year of months (``"MS"``: 12,
    ``"QS"``: 4, ``"YS"``: 1), a week of days (7) or business days (5), a year of weeks
    (52), a day of hours (24), an hour of minutes (60), a minute of seconds (60); with a
    multiple ``n``, the base season divided by ``n`` when ``n`` divides it, else 1. 1 for
    integer steps and for frequencies :func:`grid` does not support."""
    if not exportable(frequency):
        return 1
    one = grid(frequency)
    if one.unit == MONTHS:
        return 12 // one.step if 12 % one.step == 0 else 1
    base = _SEASONS.get(one.base, 1)
    return base // one.multiple if base % one.multiple == 0 else 1


# -- numpy ---------------------------------------------------------------------------------
def units(times: np.ndarray, frequency: str) -> np.ndarray:
    """Each time's count of the frequency's unit since 1970 (int64; see the module's
    docstring).

    Args:
        times: ``datetime64`` times (or ISO text numpy parses); integers for ``""``.
        frequency: a frequency :func:`grid` supports.
    """
    one = grid(frequency)
    times = np.asarray(times)
    if one.unit == STEPS:
        return times.astype("int64")
    if times.dtype.kind in "iub":
        raise TypeError(f"Expected datetime64 times for frequency {frequency!r}, got integers.")
    if one.unit == MONTHS:
        return times.astype("datetime64[M]").astype("int64")
    if one.unit == BUSINESS_DAYS:
        # numpy counts the weekdays in [epoch, day), negative before the epoch: a weekend
        # day gets the count of the Monday after it
        return np.busday_count(_EPOCH_DAY, times.astype("datetime64[D]")).astype("int64")
    return times.astype("datetime64[s]").astype("int64")


def ordinals(times: np.ndarray, frequency: str) -> np.ndarray:
    """Each time's grid ordinal, ``floor(units / step)`` (int64)."""
    return units(times, frequency) // grid(frequency).step


def phases(times: np.ndarray, frequency: str, season: int) -> np.ndarray:
    """Each time's place in its season, ``ordinal mod season`` (int32, ``0 .. season-1``);
    all 0 when ``season`` is 0 or 1 (whatever the frequency).

    Raises:
        UserError: a frequency :func:`grid` does not support (and ``season`` above 1).
    """
    if season <= 1:
        return np.zeros(len(times), "int32")
    return (ordinals(times, frequency) % season).astype("int32")


# -- TensorFlow ----------------------------------------------------------------------------
def tf_units(text: tf.Tensor, frequency: str) -> tf.Tensor:
    """:func:`units` of ISO 8601 text, in TensorFlow ops (int64, the shape of ``text``).

    Args:
        text: strings ``YYYY-MM-DD``, ``YYYY-MM-DDTHH:MM`` or ``YYYY-MM-DDTHH:MM:SS`` (a
            space may replace the ``T``); integers such as ``"123"`` or ``"-5"`` for
            frequency ``""``.
        frequency: a frequency :func:`grid` supports.

    Raises:
        tf.errors.InvalidArgumentError: when run on text that is no such time (a bad
            month, day, hour, ...); the message names it.
    """
    return _tf_time(text, grid(frequency))[0]


def tf_text(units: tf.Tensor, frequency: str) -> tf.Tensor:
    """The inverse of :func:`tf_units`: times as text (the shape of ``units``).

    Dates are ``YYYY-MM-DD`` at midnight, else ``YYYY-MM-DDTHH:MM:SS`` (years 0-9999); a
    month is written as its first day for start-anchored frequencies (``MS``, ``QS-*``,
    ``YS-*``), its last for end-anchored ones (``ME``, ``QE-*``, ``YE-*``), its first or last
    weekday for their business variants; integer steps as integers.
    """
    one = grid(frequency)
    units = tf.convert_to_tensor(units, tf.int64)
    if one.unit == STEPS:
        return tf.strings.as_string(units)
    if one.unit == SECONDS:
        return _tf_format(units // 86_400, units % 86_400)
    return _tf_format(_tf_days(units, one), tf.zeros_like(units))


def tf_future(last: tf.Tensor, frequency: str, steps: int) -> tuple[tf.Tensor, tf.Tensor]:
    """The ``steps`` grid times after each last time, as pandas'
    ``date_range(last, periods=steps + 1, freq=frequency)[1:]`` writes them.

    The time of day of a last time carries over to the future times of months and
    business days (a business-day grid at 09:30 stays at 09:30). The phase of a window of
    ``context`` values ending at ``last`` starts at ``(ordinal - (context - 1)) mod season``.

    Args:
        last: ISO text of shape ``[batch]`` (see :func:`tf_units`).
        frequency: a frequency :func:`grid` supports.
        steps: how many future times (1 or more).

    Returns:
        The future times' text ``[batch, steps]`` and the last times' ordinals ``[batch]``
        (int64).

    Raises:
        tf.errors.InvalidArgumentError: when run on text that is no time, or a time off the
            frequency's grid (``"2020-01-15"`` for ``"MS"``, a Monday for ``"W-SUN"``, a
            Saturday for ``"B"``); the message names it.
    """
    one = grid(frequency)
    if steps < 1:
        raise ValueError(f"Expected a positive integer for 'steps', got {steps!r}.")
    units, days, seconds = _tf_time(last, one)
    if one.unit != STEPS:
        check = _tf_assert_on_grid(last, units, days, one)
        with tf.control_dependencies([check]):
            units = tf.identity(units)
    ahead = tf.range(1, steps + 1, dtype=tf.int64) * one.step
    future = units[..., None] + ahead
    if one.unit in (STEPS, SECONDS):
        texts = tf_text(future, frequency)
    else:
        # months and business days: the dates of the units, at the last time's time of day
        days = _tf_days(future, one)
        texts = _tf_format(days, seconds[..., None] + tf.zeros_like(days))
    return texts, tf.math.floordiv(units, one.step)


def _tf_time(text: tf.Tensor, one: Grid) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(units, days since 1970, seconds of the day) of text, asserted to be times."""
    text = tf.strings.strip(tf.convert_to_tensor(text, tf.string))
    if one.unit == STEPS:
        valid = tf.strings.regex_full_match(text, _INTEGER_PATTERN)
        check = _tf_assert(valid, text, "Not an integer step:")
        with tf.control_dependencies([check]):
            steps = tf.strings.to_number(tf.where(valid, text, "0"), tf.int64)
        return steps, tf.zeros_like(steps), tf.zeros_like(steps)
    shaped = tf.strings.regex_full_match(text, _TIME_PATTERN)
    length = tf.strings.length(text)
    # every time padded to YYYY-MM-DDTHH:MM:SS (and one that is none, replaced) to cut
    full = tf.where(length == 10, text + "T00:00:00", tf.where(length == 16, text + ":00", text))
    full = tf.where(shaped, full, "1970-01-01T00:00:00")

    def field(start: int, width: int) -> tf.Tensor:
        return tf.strings.to_number(tf.strings.substr(full, start, width), tf.int64)

    year, month, day = field(0, 4), field(5, 2), field(8, 2)
    hour, minute, second = field(11, 2), field(14, 2), field(17, 2)
    days = _days_from_civil(year, month, day)
    month_days = _days_from_civil(year + month // 12, month % 12 + 1, 1) - _days_from_civil(
        year, month, 1
    )
    valid = (
        shaped
        & (month >= 1)
        & (month <= 12)
        & (day >= 1)
        & (day <= month_days)
        & (hour < 24)
        & (minute < 60)
        & (second < 60)
    )
    check = _tf_assert(
        valid, text, "Not a time (YYYY-MM-DD, YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS):"
    )
    with tf.control_dependencies([check]):
        days = tf.identity(days)
        seconds = tf.identity(hour * 3_600 + minute * 60 + second)
    if one.unit == MONTHS:
        units = (year - 1970) * 12 + month - 1
    elif one.unit == BUSINESS_DAYS:
        units = _business_from_days(days)
    else:
        units = days * 86_400 + seconds
    return units, days, seconds


def _tf_assert(valid: tf.Tensor, text: tf.Tensor, message: str):
    """An assertion that every text is valid, naming the ones that are not."""
    valid, text = tf.reshape(valid, [-1]), tf.reshape(text, [-1])
    bad = tf.boolean_mask(text, ~valid)
    bad = tf.where(bad == "", "(empty text)", bad)  # (TensorFlow prints texts unquoted)
    return tf.debugging.Assert(tf.reduce_all(valid), [message, bad], summarize=5)


def _tf_assert_on_grid(text: tf.Tensor, units: tf.Tensor, days: tf.Tensor, one: Grid):
    """An assertion that every time lies on the grid's anchors (pandas would roll one that
    does not forward, and the future times would differ)."""
    weekday = _weekday(days)
    if one.unit == MONTHS:
        periods = _MONTHLY[one.base][0]
        months = [
            _MONTH_NAMES[m - 1].title() for m in range(1, 13) if (m - one.anchor) % periods == 0
        ]
        if periods == 1:
            named = "a month"
        else:  # "Mar, Jun, Sep or Dec", "Jan"
            named = " or ".join(filter(None, [", ".join(months[:-1]), months[-1]]))
        place = f"the {one.day} day of {named}"
        on_grid = (units - (one.anchor - 1)) % periods == 0
        on_grid &= _tf_days(units, one) == days
    elif one.unit == BUSINESS_DAYS:
        place, on_grid = "Monday to Friday", weekday < 5
    elif one.base == "W":
        place, on_grid = f"a {_DAY_NAMES[one.anchor].title()}", weekday == one.anchor
    else:
        return tf.no_op()
    return _tf_assert(on_grid, text, f"Not a time of the {one.frequency} grid ({place}):")


def _tf_days(units: tf.Tensor, one: Grid) -> tf.Tensor:
    """Days since 1970 of months or business-day units (the grid's day of each month)."""
    if one.unit == BUSINESS_DAYS:
        # the inverse of _business_from_days: 5 units a week, weeks starting Monday
        return 7 * ((units + 3) // 5) + (units + 3) % 5 - 3
    year, month = units // 12 + 1970, units % 12 + 1
    if one.day.startswith("first"):
        days = _days_from_civil(year, month, tf.ones_like(month))
    else:
        days = _days_from_civil(year + month // 12, month % 12 + 1, tf.ones_like(month)) - 1
    if one.day == "first business":
        days += tf.gather(tf.constant([0, 0, 0, 0, 0, 2, 1], tf.int64), _weekday(days))
    elif one.day == "last business":
        days -= tf.gather(tf.constant([0, 0, 0, 0, 0, 1, 2], tf.int64), _weekday(days))
    return days


def _weekday(days):
    """0 for Monday .. 6 for Sunday (1970-01-01 was a Thursday)."""
    return (days + 3) % 7


def _business_from_days(days):
    """Monday-to-Friday days since 1970-01-01 (unit 0); Saturday and Sunday count as the
    Monday after them (as np.busday_count counts them)."""
    return 5 * ((days + 3) // 7) + tf.minimum((days + 3) % 7, 5) - 3


def _days_from_civil(year, month, day):
    """Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's days_from_civil;
    ``//`` and ``%`` of int64 tensors round down, so negative years work)."""
    year = year - tf.cast(month <= 2, tf.int64)
    era = year // 400
    year_of_era = year - era * 400  # [0, 399]
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1  # [0, 365], March first
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def _civil_from_days(days):
    """(year, month, day) of days since 1970-01-01 (Hinnant's civil_from_days)."""
    days = days + 719_468
    era = days // 146_097
    day_of_era = days - era * 146_097  # [0, 146096]
    year_of_era = (
        day_of_era - day_of_era // 1_460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365  # [0, 399]
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153  # [0, 11], March first
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = tf.where(shifted_month < 10, shifted_month + 3, shifted_month - 9)
    year = year_of_era + era * 400 + tf.cast(month <= 2, tf.int64)
    return year, month, day


def _tf_format(days: tf.Tensor, seconds: tf.Tensor) -> tf.Tensor:
    """``YYYY-MM-DD`` (``seconds`` 0) or ``YYYY-MM-DDTHH:MM:SS`` of days since 1970 and
    seconds of the day (tensors of one shape)."""

    def padded(number: tf.Tensor, width: int) -> tf.Tensor:
        return tf.strings.as_string(number, width=width, fill="0")

    year, month, day = _civil_from_days(days)
    date = tf.strings.join([padded(year, 4), "-", padded(month, 2), "-", padded(day, 2)])
    clock = tf.strings.join(
        [
            "T",
            padded(seconds // 3_600, 2),
            ":",
            padded(seconds // 60 % 60, 2),
            ":",
            padded(seconds % 60, 2),
        ]
    )
    return tf.where(seconds == 0, date, date + clock)
