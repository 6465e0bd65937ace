"""Time series in: CSV and Parquet files, statsmodels' bundled data sets, tfds sources.

Every source becomes a list of :class:`Series` on one regular time grid: the timestamps'
frequency is inferred (or given), missing steps are filled by linear interpolation, and
each step's place in its season (its *phase*: the month for monthly data, the weekday
for daily data) comes from the timestamp itself, so that a history given later to
``forecast`` gets the same calendar features as the training data.

pandas reads the files and does the calendar arithmetic; statsmodels ships the default
data (public domain).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from recipes.core.data import TFDS_PREFIX, read_tfds
from recipes.core.errors import UserError

STATSMODELS_PREFIX = "statsmodels:"
#: statsmodels' bundled data sets offered as sources, and what each becomes
STATSMODELS_SETS = {
    "co2": "Mauna Loa CO2 (ppm), weekly 1958-2001, as monthly means: 526 months",
    "sunspots": "yearly sunspot activity, 1700-2008: 309 years",
    "elnino": "monthly sea surface temperature of the El Nino region, 1950-2010: 732 months",
    "nile": "the Nile's yearly flow at Aswan, 1871-1970: 100 years",
    "macrodata": "US quarterly macroeconomic series, 1959-2009: 12 series of 203 quarters",
}
#: steps per season of each frequency (its base unit, as pandas names it)
SEASONS = {"M": 12, "Q": 4, "W": 52, "D": 7, "B": 5, "h": 24, "H": 24, "min": 60, "Y": 1, "A": 1}
#: pandas frequencies that start their period, and the period's own name
_PERIOD_NAMES = {"MS": "M", "QS": "Q", "YS": "Y", "AS": "Y", "BMS": "M", "BQS": "Q"}


@dataclasses.dataclass
class Series:
    """One series on a regular grid: its name, values and timestamps (datetime64, or
    integer steps for data without dates)."""

    id: str
    values: np.ndarray
    times: np.ndarray

    def __len__(self) -> int:
        return len(self.values)

    def head(self, length: int) -> Series:
        """The first ``length`` steps."""
        return Series(self.id, self.values[:length], self.times[:length])


@dataclasses.dataclass
class Panel:
    """Series and the number of windows of ``horizon`` steps scored at the end of each
    (the training, validation or test part of a source)."""

    series: list[Series]
    windows: int
    #: whether its metrics also score the baselines (validation and test, not train)
    baselines: bool = True

    def __len__(self) -> int:
        return len(self.series) * self.windows


# -- calendar -------------------------------------------------------------------------------
def _base(frequency: str) -> str:
    """``"MS"`` -> ``"M"``, ``"W-SUN"`` -> ``"W"``, ``"15min"`` -> ``"min"``."""
    name = frequency.split("-")[0].lstrip("0123456789")
    return _PERIOD_NAMES.get(name, name)


def season_of(frequency: str) -> int:
    """Steps per season of a pandas frequency (1 when it has no natural season)."""
    if not frequency:
        return 1
    base = _base(frequency)
    return SEASONS.get(base, SEASONS.get(base.rstrip("E"), 1))


def phases(times: np.ndarray, frequency: str, season: int) -> np.ndarray:
    """Each step's place in its season, ``0 .. season-1``, from its timestamp: the period's
    number since 1970 (months, quarters, weeks, ... as pandas counts them) modulo
    ``season``; for integer steps, the step modulo ``season``."""
    if season <= 1:
        return np.zeros(len(times), "int32")
    if not frequency:
        return (np.asarray(times, "int64") % season).astype("int32")
    import pandas as pd

    index = pd.DatetimeIndex(times)
    try:
        ordinals = index.to_period(_base(frequency)).asi8
    except (ValueError, TypeError):
        ordinals = index.to_period(frequency).asi8
    return (ordinals % season).astype("int32")


def future_times(series: Series, frequency: str, steps: int) -> list[str]:
    """The ``steps`` timestamps after the series' last, as ISO text (dates) or integers."""
    if not frequency:
        last = int(series.times[-1])
        return [str(last + k) for k in range(1, steps + 1)]
    import pandas as pd

    grid = pd.date_range(pd.Timestamp(series.times[-1]), periods=steps + 1, freq=frequency)
    return [_iso(t) for t in grid[1:]]


def time_texts(times: np.ndarray, frequency: str) -> list[str]:
    """Timestamps as :func:`future_times` writes them."""
    if not frequency:
        return [str(int(t)) for t in times]
    import pandas as pd

    return [_iso(t) for t in pd.DatetimeIndex(times)]


def _iso(timestamp) -> str:
    text = timestamp.isoformat()
    return text[:10] if text.endswith("T00:00:00") else text


# -- reading -------------------------------------------------------------------------------
def read_source(
    source: str,
    time_column: str = "",
    value_columns: str = "",
    id_column: str = "",
    frequency: str = "",
    data_dir: str | None = None,
) -> tuple[list[Series], str]:
    """A source's series on a regular grid, and the grid's frequency (``""`` for integer
    steps).

    Args:
        source: a ``.csv``/``.tsv``/``.parquet`` file, ``statsmodels:NAME`` (see
            :data:`STATSMODELS_SETS`) or ``tfds:NAME`` (a data set of time and value
            features).
        time_column, value_columns, id_column, frequency: as the config's keys.
        data_dir: where tensorflow-datasets keeps its data sets.
    """
    if source.startswith(TFDS_PREFIX):
        frame = _tfds_frame(source, data_dir, time_column, value_columns, id_column)
    else:
        frame = _read_frame(source)
    return frame_series(frame, source, time_column, value_columns, id_column, frequency)


def _tfds_frame(source: str, data_dir: str | None, time: str, values: str, ids: str):
    """A tfds data set's named features, all splits joined (the forecaster holds out the
    end of each series itself)."""
    import pandas as pd

    names = [c.strip() for c in values.split(",") if c.strip()]
    if not time or not names:
        raise UserError(
            f"{source}: name its features with --set time_column=... and "
            "--set value_columns=... (and id_column for several series)."
        )
    features = (time, *names, *([ids] if ids else []))
    parts = read_tfds(source, data_dir, features, "time_column, value_columns and id_column")
    return pd.concat([pd.DataFrame(part) for part in parts.values()], ignore_index=True)


def _read_frame(source: str):
    import pandas as pd

    if source.startswith(STATSMODELS_PREFIX):
        return statsmodels_frame(source[len(STATSMODELS_PREFIX) :])
    path = Path(source).expanduser()
    if not path.exists():
        raise UserError(f"Data path {path} does not exist.")
    if path.is_dir():
        raise UserError(f"Data path {path} is a folder; expected a CSV or Parquet file.")
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        separator = "\t" if path.suffix.lower() == ".tsv" else ","
        return pd.read_csv(path, sep=separator)
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; save the file as UTF-8 CSV.") from None
    except OSError as err:
        raise UserError(f"Cannot read {path}: {err.strerror or err}.") from None
    except Exception as err:  # pandas' and pyarrow's parse errors have no common base
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        kind = "Parquet" if path.suffix.lower() == ".parquet" else "CSV"
        raise UserError(f"{path}: not a readable {kind} file ({first}).") from None


def statsmodels_frame(name: str):
    """One of statsmodels' bundled data sets as a frame with a ``time`` column."""
    import pandas as pd

    if name not in STATSMODELS_SETS:
        raise UserError(
            f"Unknown data set statsmodels:{name}; expected one of "
            f"{', '.join(STATSMODELS_PREFIX + n for n in STATSMODELS_SETS)}."
        )
    from statsmodels import datasets

    data = getattr(datasets, name).load_pandas().data
    if name == "co2":
        monthly = data["co2"].resample("MS").mean().interpolate()
        return pd.DataFrame({"time": monthly.index, "co2": monthly.to_numpy()})
    if name == "sunspots":
        years = data["YEAR"].astype(int).astype(str)
        return pd.DataFrame({"time": pd.to_datetime(years), "sunactivity": data["SUNACTIVITY"]})
    if name == "nile":
        years = data["year"].astype(int).astype(str)
        return pd.DataFrame({"time": pd.to_datetime(years), "volume": data["volume"]})
    if name == "elnino":
        long = data.melt(id_vars="YEAR", var_name="month", value_name="temperature")
        months = pd.to_datetime(
            long["YEAR"].astype(int).astype(str) + "-" + long["month"], format="%Y-%b"
        )
        frame = pd.DataFrame({"time": months, "temperature": long["temperature"]})
        return frame.sort_values("time", ignore_index=True)
    quarters = pd.PeriodIndex.from_fields(
        year=data["year"].astype(int), quarter=data["quarter"].astype(int), freq="Q"
    )
    frame = data.drop(columns=["year", "quarter"])
    frame.insert(0, "time", quarters.to_timestamp())
    return frame


def _named(frame, name: str, what: str, where: str) -> str:
    if name not in frame.columns:
        columns = ", ".join(map(str, frame.columns))
        raise UserError(f"{where}: no {what} column {name!r}; its columns are {columns}.")
    return name


def frame_series(
    frame,
    where: str,
    time_column: str = "",
    value_columns: str = "",
    id_column: str = "",
    frequency: str = "",
) -> tuple[list[Series], str]:
    """The series of a frame (see :func:`read_source`); ``where`` names it in errors."""
    import pandas as pd

    if frame.shape[1] < 2 or len(frame) == 0:
        raise UserError(
            f"{where}: expected a time column and one or more value columns, got "
            f"{frame.shape[1]} column(s) and {len(frame)} row(s)."
        )
    time = _named(frame, time_column, "time", where) if time_column else frame.columns[0]
    ids = _named(frame, id_column, "id", where) if id_column else None
    if value_columns:
        names = [c.strip() for c in value_columns.split(",") if c.strip()]
        values = [_named(frame, c, "value", where) for c in names]
    else:
        values = [
            c
            for c in frame.columns
            if c not in (time, ids) and pd.api.types.is_numeric_dtype(frame[c])
        ]
        if not values:
            others = [c for c in frame.columns if c not in (time, ids)]
            if others:
                raise UserError(_non_number(frame, others[0], where))
            raise UserError(f"{where}: no column to forecast beside {time!r}.")
    for column in values:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise UserError(_non_number(frame, column, where))
    stamps = frame[time]
    dated = not pd.api.types.is_integer_dtype(stamps)
    if dated:
        try:
            with warnings.catch_warnings():  # (dates of no single format: parsed one by one)
                warnings.simplefilter("ignore", UserWarning)
                stamps = pd.to_datetime(stamps)
        except (ValueError, TypeError) as err:
            raise UserError(
                f"{where}: the time column {time!r} holds values that are neither dates nor "
                f"integers ({str(err).splitlines()[0]}); set time_column."
            ) from None
        if getattr(stamps.dt, "tz", None) is not None:
            stamps = stamps.dt.tz_convert(None)
    frame = frame.assign(**{str(time): stamps})
    groups = frame.groupby(ids, sort=True) if ids is not None else [(None, frame)]
    series, frequencies = [], set()
    for key, group in groups:
        for column in values:
            name = (
                str(column) if key is None else f"{key}" if len(values) == 1 else f"{key}/{column}"
            )
            one, freq = _regular(group[time], group[column], frequency, dated, f"{where} ({name})")
            frequencies.add(freq)
            series.append(Series(name, *one))
    if len(frequencies) > 1:
        raise UserError(
            f"{where}: the series have different frequencies ({', '.join(sorted(frequencies))}); "
            "set frequency to one of them."
        )
    return series, frequencies.pop()


def _non_number(frame, column, where: str) -> str:
    """The error of a value column that holds text: its first such value and row."""
    import pandas as pd

    numbers = pd.to_numeric(frame[column], errors="coerce")
    bad = frame[column][numbers.isna() & frame[column].notna()]
    if len(bad) == 0:
        return f"{where}: column {column!r} holds no numbers."
    row = int(bad.index[0]) + 2  # the header is line 1
    return (
        f"{where}, line {row}: {bad.iloc[0]!r} in column {column!r} is not a number; "
        "fix it or leave the cell empty (a missing value is interpolated)."
    )


def _regular(times, values, frequency: str, dated: bool, where: str):
    """One series on its regular grid: sorted, duplicates refused, gaps interpolated."""
    import pandas as pd

    data = pd.Series(values.to_numpy("float64"), index=pd.Index(times.to_numpy())).sort_index()
    data = data[data.index.notna()]
    if data.index.has_duplicates:
        first = data.index[data.index.duplicated()][0]
        raise UserError(
            f"{where}: the time {first} appears twice; give one row per time (or an id_column)."
        )
    data = (
        data.loc[data.first_valid_index() : data.last_valid_index()] if data.notna().any() else data
    )
    if data.notna().sum() < 2:
        raise UserError(f"{where}: fewer than two values.")
    if dated:
        freq = frequency or _infer_frequency(data.index)
        if not freq:
            raise UserError(f"{where}: cannot tell the series' frequency; set frequency.")
        try:
            grid = pd.date_range(data.index[0], data.index[-1], freq=freq)
        except ValueError as err:
            raise UserError(
                f"{where}: frequency {freq!r} is not a pandas frequency ({err})."
            ) from None
        if len(grid) == 0 or not data.index.isin(grid).all():
            raise UserError(
                f"{where}: the timestamps do not lie on a grid of frequency {freq!r}; "
                "set frequency to theirs."
            )
    else:
        freq = ""
        grid = pd.RangeIndex(int(data.index[0]), int(data.index[-1]) + 1)
    data = data.reindex(grid).interpolate(limit_area="inside")
    return (data.to_numpy("float64"), np.asarray(grid)), freq


def _infer_frequency(index) -> str:
    """The frequency of sorted timestamps: pandas' inference, or with gaps, the coarsest
    usual frequency whose grid holds every timestamp ("" when none does)."""
    import pandas as pd

    if len(index) >= 3:
        inferred = pd.infer_freq(index)
        if inferred:
            return inferred
    weekday = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")[index[0].weekday()]
    candidates = ("YS", "YE", "QS", "QE", "MS", "ME", f"W-{weekday}", "B", "D", "h", "min", "s")
    best, size = "", None
    for candidate in candidates:
        grid = pd.date_range(index[0], index[-1], freq=candidate)
        if len(grid) and index.isin(grid).all() and (size is None or len(grid) < size):
            best, size = candidate, len(grid)
    return best


def split_series(
    series: Sequence[Series], horizon: int, test_windows: int, validation_windows: int, context: int
) -> tuple[list[Series], list[Series]]:
    """Each series cut before its validation windows (the training part) and before its
    test windows (the history of the validation windows).

    Raises:
        UserError: a series too short for the context and the held-out windows.
    """
    train, validation = [], []
    for one in series:
        test_start = len(one) - test_windows * horizon
        val_start = test_start - validation_windows * horizon
        needed = context + horizon + (test_windows + validation_windows) * horizon
        if val_start - horizon < context:
            raise UserError(
                f"Series {one.id!r} has {len(one)} steps; it needs {needed} or more (context "
                f"{context}, one training window and {test_windows} test and "
                f"{validation_windows} validation windows of horizon {horizon}). Lower "
                "context, horizon, backtest_windows or validation_windows."
            )
        train.append(one.head(val_start))
        validation.append(one.head(test_start))
    return train, validation
