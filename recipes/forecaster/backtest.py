"""The rolling-origin backtest, its metrics and the statistical baselines.

A backtest forecasts the last ``windows`` windows of ``horizon`` steps of every series
from the history before each window (:func:`rolling_origins`) and scores each method
by the M4 competition's point metrics (:func:`mae`, :func:`smape`, :func:`mase`) and,
for methods that forecast quantiles, GluonTS's weighted quantile loss
(:func:`quantile_loss`) and the :func:`coverage` of an interval.

The baselines (:func:`baselines`): :func:`seasonal_naive`, and the automatic ETS and
ARIMA of statsmodels (:func:`ets_forecast`, :func:`arima_forecast`), each choosing its
model by AICc over a small grid. statsmodels is imported by those two functions only:
the rest of the module needs NumPy alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

#: a backtest method: (history, horizon, series index) -> (horizon,) point forecasts, or
#: (horizon, 1 + Q): the point forecast, then the quantiles in the backtest's order
Method = Callable[[np.ndarray, int, int], np.ndarray]

#: ETS trends tried (statsmodels' ``trend``, ``damped_trend``), simplest first
_ETS_TRENDS = ((None, False), ("add", False), ("add", True))
#: ARIMA's non-seasonal (p, q) tried, simplest first
_ARIMA_ORDERS = tuple(itertools.product(range(3), range(3)))
#: STL seasonal strength from which ARIMA takes a seasonal difference (Wang, Smith and
#: Hyndman 2006; the forecast package's ``nsdiffs`` default)
_SEASONAL_STRENGTH = 0.64


# -- metrics -------------------------------------------------------------------------


def _pair(actual, forecast) -> tuple[np.ndarray, np.ndarray]:
    """``actual`` and ``forecast`` as float arrays of one shape, not empty."""
    actual = np.asarray(actual, dtype=float)
    forecast = np.asarray(forecast, dtype=float)
    if actual.shape != forecast.shape:
        raise ValueError(
            f"Expected 'actual' and 'forecast' of one shape, got {actual.shape} and "
            f"{forecast.shape}."
        )
    if actual.size == 0:
        raise ValueError("Expected at least one value in 'actual', got none.")
    return actual, forecast


def mae(actual, forecast) -> float:
    """Mean absolute error.

    Args:
        actual: the observed values.
        forecast: the forecasts, of ``actual``'s shape.

    Returns:
        ``mean(|actual - forecast|)``.
    """
    actual, forecast = _pair(actual, forecast)
    return float(np.mean(np.abs(actual - forecast)))


def smape(actual, forecast) -> float:
    """Symmetric mean absolute percentage error, as the M4 competition defines it.

    Args:
        actual: the observed values.
        forecast: the forecasts, of ``actual``'s shape.

    Returns:
        ``200 * mean(|y - f| / (|y| + |f|))``, in [0, 200]; a point where both are 0
        counts 0.
    """
    actual, forecast = _pair(actual, forecast)
    error = np.abs(actual - forecast)
    total = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(error, total, out=np.zeros_like(error), where=total > 0)
    return float(200.0 * np.mean(ratio))


def mase(actual, forecast, history, season: int) -> float:
    """Mean absolute scaled error, as the M4 competition defines it.

    Args:
        actual: the observed values.
        forecast: the forecasts, of ``actual``'s shape.
        history: the series before ``actual`` (the in-sample part).
        season: steps per season; 1 when the history has fewer than ``season + 1``
            points.

    Returns:
        The MAE divided by the history's mean absolute seasonal difference
        ``mean(|y[t] - y[t - season]|)`` (the in-sample error of the seasonal naive
        forecast).

    Raises:
        ValueError: when the history has fewer than two points, or its scale is 0 (a
            history that repeats itself exactly, e.g. a constant).
    """
    history = np.asarray(history, dtype=float).ravel()
    _check_positive("season", season)
    if len(history) < 2:
        raise ValueError(
            f"MASE needs a history of at least 2 points to scale the error, got {len(history)}."
        )
    lag = season if len(history) > season else 1
    scale = float(np.mean(np.abs(history[lag:] - history[:-lag])))
    if not scale > 0:
        raise ValueError(
            f"MASE is undefined for this history: its mean absolute difference at lag {lag} "
            f"(the scale) is {scale}, e.g. a constant series; score it by MAE or sMAPE."
        )
    return mae(actual, forecast) / scale


def quantile_loss(actual, quantile_forecasts, quantiles) -> float:
    """Weighted quantile loss, as DeepAR and GluonTS define it.

    Args:
        actual: the observed values, shape ``(n,)``.
        quantile_forecasts: the forecast quantiles, shape ``(n, Q)`` (``(n,)`` for one
            quantile).
        quantiles: the ``Q`` quantile levels, in (0, 1), in the columns' order.

    Returns:
        The mean over the quantiles ``q`` of ``2 * sum(pinball_q) / sum(|y|)``, where
        ``pinball_q = max(q * (y - f), (q - 1) * (y - f))`` for the column of ``q``.

    Raises:
        ValueError: on shapes that do not match, a level outside (0, 1), or
            ``sum(|y|) == 0``.
    """
    actual = np.asarray(actual, dtype=float).ravel()
    levels = np.asarray(quantiles, dtype=float).ravel()
    forecasts = np.asarray(quantile_forecasts, dtype=float)
    if forecasts.ndim == 1 and len(levels) == 1:
        forecasts = forecasts[:, None]
    if levels.size == 0 or forecasts.shape != (len(actual), len(levels)):
        raise ValueError(
            f"Expected 'quantile_forecasts' of shape (n, Q) = ({len(actual)}, {len(levels)}) "
            f"for {len(actual)} actual values and {len(levels)} quantiles, got "
            f"{forecasts.shape}."
        )
    if not np.all((levels > 0) & (levels < 1)):
        raise ValueError(f"Expected quantile levels in (0, 1), got {levels.tolist()}.")
    weight = float(np.sum(np.abs(actual)))
    if not weight > 0:
        raise ValueError("The weighted quantile loss is undefined when every actual value is 0.")
    error = actual[:, None] - forecasts
    pinball = np.maximum(levels * error, (levels - 1) * error)
    return float(np.mean(2.0 * pinball.sum(axis=0) / weight))


def coverage(actual, lower, upper) -> float:
    """Share of the actual values inside their interval.

    Args:
        actual: the observed values.
        lower: the intervals' lower bounds, of ``actual``'s shape.
        upper: the intervals' upper bounds, of ``actual``'s shape.

    Returns:
        The share of points with ``lower <= actual <= upper`` (bounds included), in
        [0, 1].
    """
    actual, lower = _pair(actual, lower)
    _, upper = _pair(actual, upper)
    return float(np.mean((actual >= lower) & (actual <= upper)))


# -- baselines -----------------------------------------------------------------------


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"Expected a positive integer for {name!r}, got {value!r}.")


def _history(history, horizon: int, season: int) -> np.ndarray:
    """The checked history as a 1-D float array (``horizon``, ``season`` checked too)."""
    _check_positive("horizon", horizon)
    _check_positive("season", season)
    values = np.asarray(history, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"Expected a non-empty 1-D history, got shape {values.shape}.")
    if not np.all(np.isfinite(values)):
        raise ValueError("Expected a history of finite values; fill or drop its NaNs first.")
    return values


def _model_history(history, horizon: int, season: int, model: str):
    """For ETS and ARIMA: the checked history and, when it is constant, its forecast (that
    constant; else None). Raises ValueError on a varying history of fewer than 3 points."""
    values = _history(history, horizon, season)
    if np.ptp(values) == 0:
        return values, np.full(horizon, values[0])
    if len(values) < 3:
        raise ValueError(f"{model} needs a history of at least 3 points, got {len(values)}.")
    return values, None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """statsmodels' warnings (convergence, start parameters, ...) and NumPy's
    floating-point warnings silenced."""
    # statsmodels' first import puts "always" filters for its warnings first in line:
    # made here, before ours, they stay behind ours
    import statsmodels.tools.sm_exceptions  # noqa: F401

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _one_blas_thread() -> contextlib.AbstractContextManager:
    """BLAS and LAPACK on one thread when threadpoolctl is installed (limits the
    libraries loaded so far: enter it after importing statsmodels). The state-space
    models' matrices are tiny: with more threads, OpenBLAS spends its time waking
    them, up to 200 times the work itself on a busy 2-core machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The seasonal naive forecast: each step repeats the same step of the last season.

    Args:
        history: the series so far, shape ``(T,)``.
        horizon: steps to forecast.
        season: steps per season; 1 is the naive forecast (the last value). A history
            shorter than one season gets the naive forecast too.

    Returns:
        ``y_hat[T + h] = y[T + h - season * k]``, ``k`` the fewest seasons back that land
        inside the history; shape ``(horizon,)``.
    """
    values = _history(history, horizon, season)
    lag = season if len(values) >= season else 1
    last = values[len(values) - lag :]
    return last[np.arange(horizon) % lag].copy()


def ets_forecast(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Forecast of the exponential-smoothing (ETS) model of least AICc.

    The grid (statsmodels' ``ETSModel``, additive errors, parameters and initial states
    by maximum likelihood): trend none, additive or additive damped, times seasonality
    none or additive, the seasonal models only when ``season > 1`` and the history
    holds at least two seasons: 3 or 6 models. A model whose fit fails, or whose
    forecast is not finite, gives way to the next best. A constant history is forecast
    as that constant.

    Args:
        history: the series so far, shape ``(T,)``, ``T >= 3``.
        horizon: steps to forecast.
        season: steps per season (1: none).

    Returns:
        The point forecasts (the model's mean), shape ``(horizon,)``.

    Raises:
        ValueError: on a history of fewer than 3 points.
        RuntimeError: when no model of the grid could be fitted.
    """
    values, constant = _model_history(history, horizon, season, "ETS")
    if constant is not None:
        return constant
    seasonals = [None, "add"] if season > 1 and len(values) >= 2 * season else [None]
    with _quiet():
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        # fitted in units of the series' spread: the same ranking by AICc, fewer failed fits
        unit = float(np.std(values))
        fits, failures = [], []
        with _one_blas_thread():
            for (trend, damped), seasonal in itertools.product(_ETS_TRENDS, seasonals):
                try:
                    model = ETSModel(
                        values / unit,
                        error="add",
                        trend=trend,
                        damped_trend=damped,
                        seasonal=seasonal,
                        seasonal_periods=season if seasonal else None,
                    )
                    fits.append(model.fit(disp=False))
                except Exception as err:  # any failed fit gives way to the next
                    failures.append(f"{trend},{damped},{seasonal}: {err}")
            future = _best_forecast(fits, lambda fit: fit.forecast(horizon), "ETS", failures)
    return future * unit


def _best_forecast(fits: list, forecast: Callable, name: str, failures: list[str]) -> np.ndarray:
    """The finite forecast of the fit of least AICc (ties: the earlier, simpler one)."""
    ranked = sorted(fits, key=lambda fit: _finite_or_inf(fit.aicc))
    for fit in ranked:
        try:
            values = np.asarray(forecast(fit), dtype=float)
        except Exception as err:  # a failed forecast gives way to the next
            failures.append(str(err))
            continue
        if np.all(np.isfinite(values)):
            return values
    raise RuntimeError(f"No {name} model could be fitted: {'; '.join(failures) or 'no fit'}.")


def _finite_or_inf(value) -> float:
    value = float(value)
    return value if math.isfinite(value) else math.inf


def _difference_polynomial(d: int, seasonal_d: int, season: int) -> np.ndarray:
    """Coefficients of ``(1 - B)^d (1 - B^season)^D`` in powers of the lag ``B``."""
    polynomial = np.ones(1)
    for _ in range(d):
        polynomial = np.convolve(polynomial, [1.0, -1.0])
    for _ in range(seasonal_d):
        polynomial = np.convolve(polynomial, np.r_[1.0, np.zeros(season - 1), -1.0])
    return polynomial


def _integrate(history: np.ndarray, differenced: np.ndarray, polynomial: np.ndarray) -> np.ndarray:
    """The future values whose differences (``polynomial``) after ``history`` are
    ``differenced``: ``y[t] = w[t] - sum_k c[k] y[t - k]``."""
    lags = len(polynomial) - 1
    values = np.concatenate([history[len(history) - lags :], np.zeros(len(differenced))])
    for step, change in enumerate(differenced):
        t = lags + step
        values[t] = change - np.dot(polynomial[1:], values[t - lags : t][::-1])
    return values[lags:]


def _seasonal_strength(values: np.ndarray, season: int) -> float:
    """``max(0, 1 - var(remainder) / var(seasonal + remainder))`` of the series' STL
    decomposition."""
    from statsmodels.tsa.seasonal import STL

    parts = STL(values, period=season).fit()
    spread = np.var(parts.seasonal + parts.resid)
    return max(0.0, 1.0 - np.var(parts.resid) / spread) if spread > 0 else 0.0


def _kpss_rejects(values: np.ndarray) -> bool:
    """Whether KPSS rejects level stationarity at 5%; no for fewer than 10 points or a
    constant."""
    from statsmodels.tsa.stattools import kpss

    if len(values) < 10 or np.ptp(values) == 0:
        return False
    # a tuple now, a result object in later statsmodels: both begin (statistic, p-value)
    _, pvalue, *_ = kpss(values, regression="c", nlags="auto")
    return bool(pvalue < 0.05)


def arima_forecast(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Forecast of the (seasonal) ARIMA model of least AICc.

    The differencing is chosen by tests, as the forecast package's ``auto.arima`` does:
    one seasonal difference (``D = 1``) when ``season > 1``, the history holds at least
    three seasons and its STL seasonal strength is at least 0.64; then one difference
    (``d = 1``) when KPSS rejects level stationarity at 5% (of the seasonally
    differenced series when ``D = 1``). The series is differenced once, before the fits
    (statsmodels' "simple differencing": every candidate fits the same data, so their
    AICc compare), and statsmodels' ``SARIMAX`` fits by maximum likelihood the grid

    - ``p`` in 0..2 times ``q`` in 0..2 (9 orders), times
    - the seasonal part, with period ``season``, when ``season > 1`` and the history
      holds at least three seasons: ``(0, 1, 1)`` or none (``(0, 1, 0)``) when
      ``D = 1``, ``(1, 0, 0)`` or none when ``D = 0``,

    9 or 18 models, with a constant (the mean, or the drift when ``d + D = 1``) when
    ``d + D <= 1``. The fit of least AICc forecasts (a fit that fails gives way to the
    next best), and the forecasts are integrated back. A constant history is forecast
    as that constant.

    Args:
        history: the series so far, shape ``(T,)``, ``T >= 3``.
        horizon: steps to forecast.
        season: steps per season (1: none).

    Returns:
        The point forecasts (the model's mean), shape ``(horizon,)``.

    Raises:
        ValueError: on a history of fewer than 3 points.
        RuntimeError: when no model of the grid could be fitted.
    """
    values, constant = _model_history(history, horizon, season, "ARIMA")
    if constant is not None:
        return constant
    seasonal = season > 1 and len(values) >= 3 * season
    with _quiet():
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        with _one_blas_thread():
            strength = _seasonal_strength(values, season) if seasonal else 0.0
            seasonal_d = int(strength >= _SEASONAL_STRENGTH)
            once = np.convolve(values, _difference_polynomial(0, seasonal_d, season), "valid")
            d = int(_kpss_rejects(once))
            polynomial = _difference_polynomial(d, seasonal_d, season)
            differenced = np.convolve(values, polynomial, mode="valid")
            if np.ptp(differenced) == 0:  # an exact trend or season: nothing left to model
                return _integrate(values, np.full(horizon, differenced[0]), polynomial)
            # fitted in units of its spread: the same ranking by AICc, an easier optimization
            unit = float(np.std(differenced))
            seasonal_parts = [(0, 0, 0, 0)]
            if seasonal:
                seasonal_parts.append((0, 0, 1, season) if seasonal_d else (1, 0, 0, season))
            trend = "c" if d + seasonal_d <= 1 else "n"
            fits, failures = [], []
            for (p, q), seasonal_order in itertools.product(_ARIMA_ORDERS, seasonal_parts):
                free = p + q + sum(seasonal_order[:3]) + (trend == "c")
                try:
                    model = SARIMAX(
                        differenced / unit,
                        order=(p, 0, q),
                        seasonal_order=seasonal_order,
                        trend=trend,
                        # the variance solved for, not searched (but a model with no other
                        # parameter still needs one for the optimizer)
                        concentrate_scale=free > 0,
                    )
                    fits.append(model.fit(disp=False, cov_type="none", low_memory=True))
                except Exception as err:  # any failed fit gives way to the next
                    failures.append(f"({p},{d},{q}){seasonal_order}: {err}")
            future = _best_forecast(fits, lambda fit: fit.forecast(horizon), "ARIMA", failures)
    return _integrate(values, future * unit, polynomial)


def baselines(season: int) -> dict[str, Method]:
    """The statistical baselines as backtest methods: ``seasonal_naive``, ``ets`` and
    ``arima`` (:func:`seasonal_naive`, :func:`ets_forecast`, :func:`arima_forecast`),
    each with ``season`` steps per season."""
    _check_positive("season", season)

    def method(forecast: Callable[[np.ndarray, int, int], np.ndarray]) -> Method:
        def run(history: np.ndarray, horizon: int, series_index: int) -> np.ndarray:
            return forecast(history, horizon, season)

        return run

    return {
        "seasonal_naive": method(seasonal_naive),
        "ets": method(ets_forecast),
        "arima": method(arima_forecast),
    }


# -- backtest ------------------------------------------------------------------------


def rolling_origins(length: int, horizon: int, windows: int, step: int | None = None) -> list[int]:
    """The forecast origins of a series' last windows.

    Args:
        length: points in the series.
        horizon: points per window.
        windows: windows, the last one ending at the series' end.
        step: points between one origin and the next (default ``horizon``: windows
            side by side; less makes them overlap).

    Returns:
        The index of each window's first point, ascending: ``length - horizon - step *
        (windows - 1)``, ..., ``length - horizon``.

    Raises:
        ValueError: when the windows leave no point of history before the first one.
    """
    step = horizon if step is None else step
    for name, value in (("length", length), ("horizon", horizon), ("windows", windows)):
        _check_positive(name, value)
    _check_positive("step", step)
    first = length - horizon - step * (windows - 1)
    if first < 1:
        raise ValueError(
            f"A series of {length} points is too short for {windows} windows of horizon "
            f"{horizon}, {step} apart: they need at least {length - first + 1} points (one "
            "of history before the first window). Ask for fewer windows, a shorter horizon "
            "or a smaller step, or use longer series."
        )
    return [first + step * i for i in range(windows)]


@dataclasses.dataclass
class BacktestResult:
    """The scores of a backtest.

    Attributes:
        metrics: method -> metric -> value. Every method has ``mae``, ``smape`` and
            ``mase`` (the means of the per-window values over all windows of all
            series); methods that forecast quantiles also have ``quantile_loss`` (over
            all points) and, when the backtest had an interval, its ``coverage``.
        windows: windows per series.
        horizon: points per window.
        seconds: method -> seconds its forecasts took, all windows together.
    """

    metrics: dict[str, dict[str, float]]
    windows: int
    horizon: int
    seconds: dict[str, float]

    def table(self) -> str:
        """The metrics as a Markdown table, one row per method: MASE (3 decimals),
        sMAPE (2 decimals), MAE (4 significant digits, never an exponent), wQL (4
        decimals) and coverage (3 decimals); "-" where a method has none."""
        columns = (
            ("MASE", "mase", "{:.3f}".format),
            ("sMAPE", "smape", "{:.2f}".format),
            ("MAE", "mae", _significant),
            ("wQL", "quantile_loss", "{:.4f}".format),
            ("coverage", "coverage", "{:.3f}".format),
        )
        lines = [
            "| method | " + " | ".join(title for title, _, _ in columns) + " |",
            "|---|" + "---:|" * len(columns),
        ]
        for method, scores in self.metrics.items():
            cells = [form(scores[key]) if key in scores else "-" for _, key, form in columns]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_json(self) -> dict:
        """The result as plain JSON types: ``metrics``, ``windows``, ``horizon`` and
        ``seconds``."""
        return {
            "metrics": {m: {k: float(v) for k, v in s.items()} for m, s in self.metrics.items()},
            "windows": int(self.windows),
            "horizon": int(self.horizon),
            "seconds": {m: float(s) for m, s in self.seconds.items()},
        }


def _significant(value: float) -> str:
    """``value`` to 4 significant digits, positional: 123500, 1235, 0.0001235."""
    return np.format_float_positional(value, precision=4, unique=False, fractional=False, trim="-")


def _interval_columns(
    quantiles: Sequence[float], interval: tuple[float, float] | None
) -> tuple[int, int] | None:
    """The quantile columns (0-based among the quantiles) of the interval's bounds."""
    for q in quantiles:
        if not 0 < q < 1:
            raise ValueError(f"Expected quantile levels in (0, 1), got {list(quantiles)}.")
    if interval is None:
        return None
    if len(interval) != 2 or not interval[0] < interval[1]:
        raise ValueError(f"Expected an interval (lower, upper) with lower < upper, got {interval}.")
    missing = [bound for bound in interval if bound not in quantiles]
    if missing:
        raise ValueError(
            f"The interval's bounds {missing} are not among the quantiles {list(quantiles)}; "
            "add them to 'quantiles' or choose an interval of those."
        )
    return list(quantiles).index(interval[0]), list(quantiles).index(interval[1])


def backtest(
    series: Sequence[np.ndarray],
    methods: Mapping[str, Callable],
    horizon: int,
    windows: int,
    season: int,
    quantiles: Sequence[float] = (),
    interval: tuple[float, float] | None = None,
) -> BacktestResult:
    """Every method forecasts the last ``windows`` windows of every series.

    At each origin of :func:`rolling_origins` (``step = horizon``), a method gets the
    history ``series[:origin]`` and is scored on ``series[origin:origin + horizon]``.

    Args:
        series: the series, 1-D each.
        methods: name -> ``method(history, horizon, series_index)``, which returns the
            point forecasts, shape ``(horizon,)``, or ``(horizon, 1 + Q)``: the point
            forecasts, then the ``Q`` quantiles in the order of ``quantiles``.
        horizon: points per window.
        windows: windows per series.
        season: steps per season, the MASE's lag.
        quantiles: the quantile levels that methods may forecast.
        interval: the levels of the interval whose coverage is reported, e.g.
            ``(0.1, 0.9)``; both among ``quantiles``.

    Returns:
        The :class:`BacktestResult`: MAE, sMAPE and MASE per window, averaged over all
        windows of all series (each window's MASE scaled by its own history); for
        methods that forecast quantiles, the weighted quantile loss and the
        interval's coverage over all points.

    Raises:
        ValueError: on a series too short for the windows, a method's forecast of the
            wrong shape or not finite, or an interval not among the quantiles.
    """
    _check_positive("season", season)
    if not methods:
        raise ValueError("Expected at least one method to backtest, got none.")
    bounds = _interval_columns(quantiles, interval)
    arrays = [np.asarray(one, dtype=float) for one in series]
    if not arrays:
        raise ValueError("Expected at least one series to backtest, got none.")
    origins = []
    for index, values in enumerate(arrays):
        if values.ndim != 1:
            raise ValueError(f"Expected 1-D series, got shape {values.shape} for series {index}.")
        try:
            origins.append(rolling_origins(len(values), horizon, windows))
        except ValueError as err:
            raise ValueError(f"Series {index}: {err}") from None
    metrics, seconds = {}, {}
    for name, method in methods.items():
        scores = {"mae": [], "smape": [], "mase": []}
        actuals, quantile_forecasts = [], []
        seconds[name] = 0.0
        for index, values in enumerate(arrays):
            for origin in origins[index]:
                history, actual = values[:origin], values[origin : origin + horizon]
                start = time.perf_counter()
                output = method(history.copy(), horizon, index)
                seconds[name] += time.perf_counter() - start
                point, quantile = _split_output(output, name, horizon, len(quantiles))
                where = f"method {name!r}, series {index}, origin {origin}"
                if not (np.all(np.isfinite(point)) and np.all(np.isfinite(quantile))):
                    raise ValueError(f"The forecast of {where} is not finite.")
                scores["mae"].append(mae(actual, point))
                scores["smape"].append(smape(actual, point))
                try:
                    scores["mase"].append(mase(actual, point, history, season))
                except ValueError as err:
                    raise ValueError(f"{where}: {err}") from None
                actuals.append(actual)
                quantile_forecasts.append(quantile)
        metrics[name] = {key: float(np.mean(value)) for key, value in scores.items()}
        quantile_counts = {part.shape[1] for part in quantile_forecasts}
        if quantile_counts == {len(quantiles)} and quantiles:
            actual, quantile = np.concatenate(actuals), np.concatenate(quantile_forecasts)
            metrics[name]["quantile_loss"] = quantile_loss(actual, quantile, quantiles)
            if bounds is not None:
                lower, upper = bounds
                metrics[name]["coverage"] = coverage(actual, quantile[:, lower], quantile[:, upper])
        elif len(quantile_counts) > 1:
            raise ValueError(
                f"Method {name!r} forecast quantiles in some windows and not in others."
            )
    return BacktestResult(metrics, windows, horizon, seconds)


def _split_output(
    output, name: str, horizon: int, quantile_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """A method's output as its point forecasts ``(horizon,)`` and quantiles
    ``(horizon, Q)`` (``Q = 0`` for a point forecast)."""
    output = np.asarray(output, dtype=float)
    if output.shape == (horizon,):
        return output, np.zeros((horizon, 0))
    if output.shape in {(horizon, 1), (horizon, 1 + quantile_count)}:
        return output[:, 0], output[:, 1:]
    raise ValueError(
        f"Method {name!r} returned shape {output.shape}; expected ({horizon},) point "
        f"forecasts or ({horizon}, {1 + quantile_count}): the point forecasts, then the "
        f"{quantile_count} quantiles."
    )
