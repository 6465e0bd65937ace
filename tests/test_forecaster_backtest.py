"""The forecaster's backtest: metrics on hand-computed cases, the rolling origins, the
baselines on series whose answer is known, and the backtest's aggregation.

Expected numbers are literals worked out by hand (the arithmetic is in the comments),
never recomputed with the code under test.
"""

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from recipes.forecaster.backtest import (
    BacktestResult,
    arima_forecast,
    backtest,
    baselines,
    coverage,
    ets_forecast,
    mae,
    mase,
    quantile_loss,
    rolling_origins,
    seasonal_naive,
    smape,
)

ROOT = Path(__file__).resolve().parents[1]


def trend_season(length: int, seed: int) -> np.ndarray:
    """20 + 0.3 t + 4 sin(2 pi t / 12) + N(0, 0.3): a monthly series with a trend."""
    t = np.arange(length)
    noise = np.random.default_rng(seed).normal(0.0, 0.3, length)
    return 20 + 0.3 * t + 4 * np.sin(2 * np.pi * t / 12) + noise


# -- metrics -------------------------------------------------------------------------


def test_mae_and_smape_by_hand():
    actual, forecast = [1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 1.0, 8.0]
    # |errors| 1, 0, 2, 4
    assert mae(actual, forecast) == pytest.approx(1.75)
    # 200 * mean(1/3, 0/4, 2/4, 4/12) = 200 * (7/6) / 4 = 175/3
    assert smape(actual, forecast) == pytest.approx(58.333333333333336)
    # 0/0 counts 0: 200 * mean(0, 1/3)
    assert smape([0.0, 2.0], [0.0, 1.0]) == pytest.approx(33.333333333333336)
    assert smape([5.0], [-5.0]) == pytest.approx(200.0)


def test_mase_by_hand():
    history = [1.0, 3.0, 2.0, 6.0, 4.0, 5.0]
    # lag-2 differences 1, 3, 2, -1: scale 7/4; MAE of (4, 6) vs (5, 4) is 3/2
    assert mase([4.0, 6.0], [5.0, 4.0], history, 2) == pytest.approx(6 / 7)
    # 3 points, season 4: lag 1, differences 3, -2: scale 5/2; MAE 1
    assert mase([5.0], [4.0], [1.0, 4.0, 2.0], 4) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="scale"):
        mase([1.0], [2.0], [3.0, 3.0, 3.0], 1)
    # a history that repeats its season exactly has no seasonal error either
    with pytest.raises(ValueError, match="lag 2"):
        mase([1.0], [2.0], [1.0, 2.0, 1.0, 2.0], 2)
    with pytest.raises(ValueError, match="at least 2 points"):
        mase([1.0], [2.0], [3.0], 1)


def test_quantile_loss_by_hand():
    actual = [2.0, 4.0]
    forecasts = [[1.0, 3.0], [5.0, 6.0]]
    # q=0.1: errors 1, -1 -> 0.1 + 0.9 = 1.0 -> 2 * 1.0 / 6 = 1/3
    # q=0.9: errors -1, -2 -> 0.1 + 0.2 = 0.3 -> 2 * 0.3 / 6 = 1/10; mean 13/60
    assert quantile_loss(actual, forecasts, (0.1, 0.9)) == pytest.approx(13 / 60)
    # a perfect median: no loss
    assert quantile_loss(actual, actual, (0.5,)) == 0.0
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        quantile_loss(actual, forecasts, (0.1, 0.5, 0.9))
    with pytest.raises(ValueError, match="every actual value is 0"):
        quantile_loss([0.0, 0.0], forecasts, (0.1, 0.9))


def test_coverage_by_hand():
    actual = [1.0, 2.0, 3.0, 4.0, 5.0]
    lower = [0.0, 2.5, 3.0, 0.0, 6.0]
    upper = [2.0, 3.0, 3.0, 3.0, 7.0]
    # inside: 1 (in [0, 2]) and 3 (on both bounds); 2, 4 and 5 outside
    assert coverage(actual, lower, upper) == pytest.approx(0.4)


# -- baselines -----------------------------------------------------------------------


def test_seasonal_naive_repeats_a_season():
    sawtooth = np.tile([0.0, 1.0, 2.0, 3.0], 5)[:18]  # ends ..., 2, 3, 0, 1
    np.testing.assert_array_equal(seasonal_naive(sawtooth, 6, 4), [2, 3, 0, 1, 2, 3])
    t = np.arange(84)
    sine = np.sin(2 * np.pi * t / 12)
    np.testing.assert_allclose(seasonal_naive(sine[:60], 24, 12), sine[60:], atol=1e-12)
    # a history of exactly one season: that season
    np.testing.assert_array_equal(seasonal_naive([1.0, 2.0, 3.0, 4.0], 6, 4), [1, 2, 3, 4, 1, 2])
    # season 1: the last value; a history shorter than its season: the last value too
    np.testing.assert_array_equal(seasonal_naive([5.0, 3.0, 7.0], 3, 1), [7, 7, 7])
    np.testing.assert_array_equal(seasonal_naive([5.0, 3.0, 7.0], 2, 12), [7, 7])


@pytest.mark.parametrize("forecast", [ets_forecast, arima_forecast])
def test_statistical_baselines_on_simple_series(forecast):
    np.testing.assert_array_equal(forecast(np.full(20, 3.5), 4, 12), [3.5] * 4)
    # a straight line: ETS and ARIMA both continue it
    np.testing.assert_allclose(forecast(np.arange(50.0), 3, 1), [50, 51, 52], atol=1e-3)
    with pytest.raises(ValueError, match="at least 3 points"):
        forecast([1.0, 2.0], 3, 1)
    with pytest.raises(ValueError, match="finite"):
        forecast([1.0, np.nan, 2.0, 3.0], 3, 1)


def test_statistical_baselines_write_nothing(capfd):
    """A short series on which statsmodels warns when nothing silences it: ARIMA (no
    season) 6 times (convergence, start parameters, KPSS's p-value table and its
    coming result object)."""
    series = trend_season(48, seed=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ets_forecast(series, 12, 12)
        arima_forecast(series, 12, 1)
    assert [str(w.message) for w in caught] == []
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_statistical_baselines_write_nothing_on_first_import():
    """statsmodels' first import adds "always" filters for its warnings: in a fresh
    process, they must not get ahead of the baselines' silencing."""
    code = textwrap.dedent(
        """
        import numpy as np
        from recipes.forecaster.backtest import arima_forecast, ets_forecast

        t = np.arange(48)
        noise = np.random.default_rng(2).normal(0.0, 0.3, 48)
        series = 20 + 0.3 * t + 4 * np.sin(2 * np.pi * t / 12) + noise
        arima_forecast(series, 12, 1)
        ets_forecast(series, 12, 12)
        print("done")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "done\n", "")


# -- backtest ------------------------------------------------------------------------


def test_rolling_origins():
    # the last window starts at 20 - 3 = 17, the others 3 apart
    assert rolling_origins(20, 3, 4) == [8, 11, 14, 17]
    assert rolling_origins(20, 3, 4, step=1) == [14, 15, 16, 17]
    assert rolling_origins(13, 3, 4) == [1, 4, 7, 10]  # one point of history
    with pytest.raises(ValueError, match="too short.*at least 13 points.*fewer windows"):
        rolling_origins(12, 3, 4)
    with pytest.raises(ValueError, match="'windows'"):
        rolling_origins(20, 3, 0)


def test_backtest_seasonal_naive_beats_naive():
    rng = np.random.default_rng(0)
    t = np.arange(144)
    series = [10 + 5 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.5, 144) for _ in range(2)]
    methods = {
        "seasonal_naive": baselines(12)["seasonal_naive"],
        "naive": lambda history, horizon, index: seasonal_naive(history, horizon, 1),
    }
    result = backtest(series, methods, horizon=12, windows=3, season=12)
    assert set(result.metrics) == {"seasonal_naive", "naive"}
    assert set(result.metrics["naive"]) == {"mae", "smape", "mase"}
    assert (result.windows, result.horizon) == (3, 12)
    assert set(result.seconds) == {"seasonal_naive", "naive"}
    # the seasonal naive error is the scale's own noise: MASE about 1; the naive
    # forecast misses the 5-high wave: several times worse
    assert 0.5 < result.metrics["seasonal_naive"]["mase"] < 1.5
    assert result.metrics["naive"]["mase"] > 5 * result.metrics["seasonal_naive"]["mase"]


def test_backtest_ets_and_arima_beat_seasonal_naive_on_a_trend():
    result = backtest([trend_season(96, seed=1)], baselines(12), horizon=12, windows=2, season=12)
    assert set(result.metrics) == {"seasonal_naive", "ets", "arima"}
    # the seasonal naive forecast misses a year of trend, 0.3 * 12 = 3.6 a point: about
    # the MASE scale itself; ETS and ARIMA follow the trend, off by the noise
    assert result.metrics["seasonal_naive"]["mae"] > 3
    assert result.metrics["seasonal_naive"]["mase"] > 0.7
    for name in ("ets", "arima"):
        assert result.metrics[name]["mae"] < 1
        assert result.metrics[name]["mase"] < 0.5 * result.metrics["seasonal_naive"]["mase"]


def test_backtest_quantile_method_by_hand():
    history = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    windows = [[0.5, 2.0, -0.5, -3.0], [1.0, 0.2, 1.5, -1.0]]
    series = np.array(history + windows[0] + windows[1])

    def zero_plus_minus_one(history, horizon, index):
        point = np.zeros(horizon)
        return np.stack([point, point - 1, point + 1], axis=1)  # point, q0.1, q0.9

    result = backtest(
        [series],
        {"band": zero_plus_minus_one},
        horizon=4,
        windows=2,
        season=1,
        quantiles=(0.1, 0.9),
        interval=(0.1, 0.9),
    )
    scores = result.metrics["band"]
    # MAE per window: 6/4 = 1.5 and 3.7/4 = 0.925
    assert scores["mae"] == pytest.approx((1.5 + 0.925) / 2)
    assert scores["smape"] == pytest.approx(200.0)  # a zero forecast: |y| / |y| each
    # scales: 7 unit steps / 7 = 1; then + 0.5, 1.5, 2.5, 2.5: 14 / 11
    assert scores["mase"] == pytest.approx((1.5 / 1 + 0.925 / (14 / 11)) / 2)
    # in [-1, 1]: 0.5, -0.5, 1.0, 0.2, -1.0 (bounds count), not 2, -3, 1.5
    assert scores["coverage"] == pytest.approx(5 / 8)
    # sum |y| = 9.7; pinball q0.1 (f = -1): 0.15+0.3+0.05+1.8+0.2+0.12+0.25+0 = 2.87;
    # q0.9 (f = +1): 0.05+0.9+0.15+0.4+0+0.08+0.45+0.2 = 2.23; mean of 2 * . / 9.7
    assert scores["quantile_loss"] == pytest.approx(51 / 97)


def test_backtest_checks_its_inputs():
    series = [np.arange(30.0)]
    naive = baselines(1)["seasonal_naive"]
    with pytest.raises(ValueError, match=r"Method 'wide' returned shape \(4, 3\)"):
        backtest(series, {"wide": lambda h, n, i: np.zeros((n, 3))}, 4, 2, 1)
    with pytest.raises(ValueError, match=r"\[0\.05\] are not among the quantiles"):
        backtest(series, {"naive": naive}, 4, 2, 1, quantiles=(0.1, 0.5), interval=(0.05, 0.5))
    with pytest.raises(ValueError, match="Series 0: A series of 30 points is too short"):
        backtest(series, {"naive": naive}, 10, 3, 1)
    with pytest.raises(ValueError, match="'nan', series 0, origin 22.*not finite"):
        backtest(series, {"nan": lambda h, n, i: np.full(n, np.nan)}, 4, 2, 1)


def test_result_table_and_json():
    result = BacktestResult(
        metrics={
            "model": {
                "mae": 123456.7,
                "smape": 12.3456,
                "mase": 0.98765,
                "quantile_loss": 0.123456,
                "coverage": 0.8,
            },
            "seasonal_naive": {"mae": 0.000123456, "smape": 5.0, "mase": 1.0},
        },
        windows=3,
        horizon=12,
        seconds={"model": 1.5, "seasonal_naive": 0.01},
    )
    assert result.table() == (
        "| method | MASE | sMAPE | MAE | wQL | coverage |\n"
        "|---|---:|---:|---:|---:|---:|\n"
        "| model | 0.988 | 12.35 | 123500 | 0.1235 | 0.800 |\n"
        "| seasonal_naive | 1.000 | 5.00 | 0.0001235 | - | - |"
    )
    data = json.loads(json.dumps(result.to_json()))
    assert data == {
        "metrics": result.metrics,
        "windows": 3,
        "horizon": 12,
        "seconds": {"model": 1.5, "seasonal_naive": 0.01},
    }
