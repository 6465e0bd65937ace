"""The translator's embedded default data: human-readable dates paired with ISO 8601.

Dates are written the ways people write them ("3 May 1979", "saturday march 3 2001",
"03.05.79", "May 3rd, 1979", "3 de mayo de 1979", ...), in several languages through
Babel's locale data (month and weekday names), and paired with ``1979-05-03``.
Generation is deterministic for a seed; :func:`date_splits` never puts the same date
string in two splits.

Conventions for the numeric forms, where people disagree:

* slashes are month first, as in the United States (``5/3/79`` is 3 May 1979);
* dots and dashes are day first (``03.05.79``, ``03-05-1979``); a year written first
  (``1979-05-03``, ``1979/05/03``) is followed by the month;
* two-digit years are 1950-2049 (``79`` is 1979, ``21`` is 2021).
"""

from __future__ import annotations

import datetime as dt
import random

from recipes.core.data import Examples, Splits
from recipes.core.errors import UserError

#: locales whose month and weekday names appear
LOCALES = ("en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT", "pt_PT", "nl_NL")

#: date patterns (Unicode LDML, as Babel reads them) with month names, any locale
NAMED_PATTERNS = (
    "d MMMM y",
    "d MMM y",
    "d MMMM, y",
    "dd MMMM y",
    "MMMM d, y",
    "MMMM d y",
    "MMM d, y",
    "MMM d y",
    "EEEE d MMMM y",
    "EEEE, d MMMM y",
    "EEEE MMMM d y",
    "EEEE, MMMM d, y",
    "EEE d MMM y",
    "EEE, MMM d, y",
    "d-MMM-y",
    "dd-MMM-yy",
    "d MMM yy",
    "MMMM y d",
    "y MMMM d",
    "d. MMMM y",
    "d 'de' MMMM 'de' y",
)

#: purely numeric patterns (conventions in the module docstring)
NUMERIC_PATTERNS = (
    "dd.MM.y",
    "d.M.y",
    "dd.MM.yy",
    "d.M.yy",
    "dd-MM-y",
    "d-M-y",
    "MM/dd/y",
    "M/d/y",
    "M/d/yy",
    "MM/dd/yy",
    "y-MM-dd",
    "y-M-d",
    "y/MM/dd",
    "y.MM.dd",
    "yyyyMMdd",
)

#: Babel's own full and long formats of each locale (weekday and month names)
LOCALE_FORMATS = ("full", "long")

FIRST_YEAR, LAST_YEAR = 1700, 2199  # four-digit years
SHORT_YEARS = (1950, 2049)  # two-digit years


def _ordinal(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return f"{day}th"
    return f"{day}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th') }"


def _english_ordinal(date: dt.date, rng: random.Random) -> str:
    """English forms with ordinal days: "May 3rd, 1979", "the 3rd of May 1979", ..."""
    from babel.dates import format_date

    month = format_date(date, rng.choice(("MMMM", "MMM")), locale="en_US")
    weekday = format_date(date, rng.choice(("EEEE", "EEE")), locale="en_US")
    day = _ordinal(date.day)
    forms = (
        f"{month} {day}, {date.year}",
        f"{month} {day} {date.year}",
        f"{day} {month} {date.year}",
        f"{day} of {month} {date.year}",
        f"the {day} of {month}, {date.year}",
        f"{weekday}, {month} {day}, {date.year}",
        f"{weekday} the {day} of {month} {date.year}",
    )
    return rng.choice(forms)


def _short_year_ok(date: dt.date) -> bool:
    return SHORT_YEARS[0] <= date.year <= SHORT_YEARS[1]


def write_date(date: dt.date, rng: random.Random) -> str:
    """One human-readable way of writing ``date``, drawn with ``rng``."""
    from babel.dates import format_date

    while True:
        kind = rng.random()
        if kind < 0.15:
            text = _english_ordinal(date, rng)
        elif kind < 0.30:
            text = format_date(date, rng.choice(LOCALE_FORMATS), locale=rng.choice(LOCALES))
        else:
            patterns = NUMERIC_PATTERNS if kind < 0.5 else NAMED_PATTERNS
            pattern = rng.choice(patterns)
            if "yy" in pattern.replace("yyyy", "") and not _short_year_ok(date):
                continue  # two-digit years only where they are unambiguous
            text = format_date(date, pattern, locale=rng.choice(LOCALES))
        break
    case = rng.random()
    if case < 0.3:
        text = text.lower()
    elif case < 0.4:
        text = text.upper()
    elif case < 0.45:
        text = text.title()
    if rng.random() < 0.1:
        text = text.replace(",", "")
    return text


def random_date(rng: random.Random) -> dt.date:
    """A uniformly drawn day; two-digit-year decades are drawn more often."""
    if rng.random() < 0.5:
        first, last = dt.date(SHORT_YEARS[0], 1, 1), dt.date(SHORT_YEARS[1], 12, 31)
    else:
        first, last = dt.date(FIRST_YEAR, 1, 1), dt.date(LAST_YEAR, 12, 31)
    return first + dt.timedelta(days=rng.randrange((last - first).days + 1))


def date_pairs(count: int, seed: int) -> Examples:
    """``count`` distinct date strings (as ``texts``) with their ISO dates (``labels``)."""
    try:
        import babel  # noqa: F401
    except ImportError as err:
        raise UserError(f"The date data needs Babel ({err}); pip install babel.") from None
    rng = random.Random(seed)
    seen: dict[str, str] = {}
    tries = 0
    while len(seen) < count:
        tries += 1
        if tries > 20 * count:
            raise UserError(f"Could not write {count} distinct dates; ask for fewer.")
        date = random_date(rng)
        text = write_date(date, rng)
        seen.setdefault(text, date.isoformat())
    return Examples(list(seen), list(seen.values()))


def date_splits(count: int, validation: float, test: float, seed: int) -> Splits:
    """Train/validation/test date pairs; every date string is in one split only."""
    from recipes.core.data import split_examples

    return split_examples(date_pairs(count, seed), validation, test, seed)
