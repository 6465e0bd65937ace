"""Time series in: CSV and Parquet files, statsmodels' bundled data sets, tfds sources.

Every source becomes a list of :class:`Series` on one regular time grid: the timestamps'
frequency is inferred (or given) and missing steps are filled by linear interpolation.
Each step's place in its season comes from its timestamp (:mod:`recipes.forecaster.timegrid`).

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


@dataclasses.dataclass
class Series:
    """One series on a regular grid: its name, values and timestamps (datetime64, or
    integer steps for data without dates), and its covariates: inputs known in advance,
    ``(steps, K)`` from the first value's step on, for every step that has a value and
    for the steps given after the last value (their future)."""

    id: str
    values: np.ndarray
    times: np.ndarray
    covariates: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.values)

    @property
    def future(self) -> int:
        """Steps after the last value whose covariates are known."""
        return 0 if self.covariates is None else len(self.covariates) - len(self.values)

    def head(self, length: int) -> Series:
        """The first ``length`` steps; the covariates stay whole (known in advance, the
        steps after ``length`` are its future)."""
        return Series(self.id, self.values[:length], self.times[:length], self.covariates)


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
def future_times(series: Series, frequency: str, steps: int) -> list[str]:
    """The ``steps`` timestamps after the series' last, as ISO text (dates) or integers."""
    if not frequency:
        last = int(series.times[-1])
        return [str(last + k) for k in range(1, steps + 1)]
    import pandas as pd

    grid = pd.date_range(pd.Timestamp(series.times[-1]), periods=steps + 1, freq=frequency)
    return [_iso(t) for t in grid[1:]]


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
    covariate_columns: str = "",
) -> tuple[list[Series], str]:
    """A source's series on a regular grid, and the grid's frequency (``""`` for integer
    steps).

    Args:
        source: a ``.csv``/``.tsv``/``.parquet`` file, ``statsmodels:NAME`` (see
            :data:`STATSMODELS_SETS`) or ``tfds:NAME`` (a data set of time and value
            features).
        time_column, value_columns, id_column, frequency, covariate_columns: as the
            config's keys.
        data_dir: where tensorflow-datasets keeps its data sets.
    """
    if source.startswith(TFDS_PREFIX):
        frame = _tfds_frame(
            source, data_dir, time_column, value_columns, id_column, covariate_columns
        )
    else:
        frame = _read_frame(source)
    return frame_series(
        frame, source, time_column, value_columns, id_column, frequency, covariate_columns
    )


def _tfds_frame(
    source: str, data_dir: str | None, time: str, values: str, ids: str, covariates: str
):
    """A tfds data set's named features, all splits joined (the forecaster holds out the
    end of each series itself)."""
    import pandas as pd

    names = _names(values)
    if not time or not names:
        raise UserError(
            f"{source}: name its features with --set time_column=... and "
            "--set value_columns=... (and id_column for several series)."
        )
    features = (time, *names, *([ids] if ids else []), *_names(covariates))
    parts = read_tfds(
        source, data_dir, features, "time_column, value_columns, id_column and covariate_columns"
    )
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


def _names(columns: str) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]``."""
    return [c.strip() for c in columns.split(",") if c.strip()]


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
    covariate_columns: str = "",
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
    known = [_named(frame, c, "covariate", where) for c in _names(covariate_columns)]
    if value_columns:
        values = [_named(frame, c, "value", where) for c in _names(value_columns)]
    else:
        values = [
            c
            for c in frame.columns
            if c not in (time, ids, *known) and pd.api.types.is_numeric_dtype(frame[c])
        ]
        if not values:
            others = [c for c in frame.columns if c not in (time, ids, *known)]
            if others:
                raise UserError(_non_number(frame, others[0], where))
            raise UserError(f"{where}: no column to forecast beside {time!r}.")
    for column in (*values, *known):
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise UserError(_non_number(frame, column, where))
    overlap = set(values) & set(known)
    if overlap:
        raise UserError(
            f"{where}: column {sorted(overlap)[0]!r} is both a value and a covariate column; "
            "give it in one of value_columns and covariate_columns."
        )
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
            one, freq = _regular(
                group[time], group[column], group[known], frequency, dated, f"{where} ({name})"
            )
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


def _regular(times, values, known, frequency: str, dated: bool, where: str):
    """One series on its regular grid: sorted, duplicates refused, gaps interpolated; its
    covariates (the ``known`` columns) from its first value to its last row where all
    are given (past the last value: the future), gaps interpolated, ends held."""
    import pandas as pd

    index = pd.Index(times.to_numpy())
    data = pd.Series(values.to_numpy("float64"), index=index).sort_index()
    keep = data.index.notna()
    data = data[keep]
    if data.index.has_duplicates:
        first = data.index[data.index.duplicated()][0]
        raise UserError(
            f"{where}: the time {first} appears twice; give one row per time (or an id_column)."
        )
    covariates = None
    if known.shape[1]:
        covariates = pd.DataFrame(known.to_numpy("float64"), index=index).sort_index()[keep]
    end = data.last_valid_index()
    data = data.loc[data.first_valid_index() : end] if data.notna().any() else data
    if data.notna().sum() < 2:
        raise UserError(f"{where}: fewer than two values.")
    if covariates is not None:
        given = covariates.notna().all(axis=1)
        last = max(end, given[given].index.max()) if given.any() else end
        covariates = covariates.loc[data.index[0] : last]
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
    known = None if covariates is None else _covariates(covariates, grid, freq, where)
    return (data.to_numpy("float64"), np.asarray(grid), known), freq


def _covariates(frame, grid, freq: str, where: str) -> np.ndarray:
    """Covariates on the series' grid and after it, ``(steps, K)``: steps between given
    rows interpolated, steps before the first given row hold its values."""
    import pandas as pd

    if len(frame) and frame.index[-1] > grid[-1]:
        extra = (
            pd.date_range(grid[-1], frame.index[-1], freq=freq)[1:]
            if freq
            else pd.RangeIndex(int(grid[-1]) + 1, int(frame.index[-1]) + 1)
        )
        if not frame.index.isin(grid.append(extra)).all():
            raise UserError(
                f"{where}: the covariates' rows after the last value are off the series' grid."
            )
        grid = grid.append(extra)
    frame = frame.reindex(grid).interpolate(limit_area="inside").bfill().ffill()
    if frame.isna().any().any():
        raise UserError(f"{where}: a covariate column holds no number; fill it in.")
    return frame.to_numpy("float64")


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
