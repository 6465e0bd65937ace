"""The forecaster: sources and their calendar, the model's own layers, and what the
journey's run folder holds (tests/journey.py trains it with ``rnn-apps fit`` on a CSV
panel; tests/test_journey.py drives evaluate, forecast, the export and the server):
the backtest beside the baselines, ``forecast --horizon`` and its one-line errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recipes.core.errors import UserError
from recipes.forecaster.layers import OrderedQuantiles, PinballLoss, WindowScale
from recipes.forecaster.series import read_source, split_series
from recipes.forecaster.timegrid import default_season, phases
from tests.journey import SETTINGS, _environment, rnn_apps
from tests.test_errors import one_error_line

#: the tiny settings of the journey's run (tests/journey.py), also for runs of its own
TINY = SETTINGS["forecaster"]


def panel_frame(months: int = 96, seed: int = 0, future: int = 0) -> pd.DataFrame:
    """Two monthly series in long format (store, month, promo, sales): trend, a yearly
    season, noise and the effect of a covariate known in advance (``promo``: 0 or 1, a
    month in four), seeded; ``future`` more months with the promo given and the sales
    empty (a history to forecast)."""
    rng = np.random.default_rng(seed)
    rows = []
    for store, (level, slope, amplitude) in {
        "north": (100, 0.5, 10),
        "south": (40, 0.1, 4),
    }.items():
        t = np.arange(months + future)
        promo = (rng.random(months + future) < 0.25).astype(int)
        sales = (
            level
            + slope * t
            + amplitude * np.sin(2 * np.pi * t / 12)
            + 1.5 * amplitude * promo
            + rng.normal(0, 1, months + future)
        )
        sales[months:] = np.nan
        times = pd.date_range("2010-01-01", periods=months + future, freq="MS")
        rows += [
            {"store": store, "month": m.date().isoformat(), "promo": p, "sales": s}
            for m, p, s in zip(times, promo, sales, strict=True)
        ]
    return pd.DataFrame(rows)


def cli(*args, check: bool = True) -> subprocess.CompletedProcess:
    """``rnn-apps ARGS`` in a fresh process."""
    result = subprocess.run(
        rnn_apps(*args), capture_output=True, text=True, env=_environment(), timeout=600
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture
def trained(recipe, tiny_runs) -> dict[str, Path]:
    """The journey's forecaster run (tests/journey.py: trained by the command line in a
    fresh process, once per session) and its tiny data."""
    journey = tiny_runs[recipe]
    assert journey.steps["fit"].ok, journey.steps["fit"].describe()
    return {"root": journey.root, "data": journey.data, "run": journey.run}


#: the tests on the journey's run ask for the forecaster's journey only
journey_run = pytest.mark.parametrize("recipe", ["forecaster"])


# -- sources and calendar ----------------------------------------------------------------------
def test_csv_with_a_gap_is_put_on_its_grid_and_interpolated(tmp_path):
    frame = pd.DataFrame(
        {
            "day": ["2024-03-01", "2024-03-02", "2024-03-04", "2024-03-05"],
            "load": [1.0, 2.0, 4.0, 5.0],
        }
    )
    frame.to_csv(tmp_path / "load.csv", index=False)
    (series,), frequency = read_source(str(tmp_path / "load.csv"))
    assert frequency == "D"
    assert series.id == "load"
    np.testing.assert_allclose(series.values, [1, 2, 3, 4, 5])
    # weekdays: 2024-03-01 was a Friday; the phase is the same for every Friday
    assert default_season(frequency) == 7
    steps = phases(series.times, frequency, 7)
    assert steps[0] == phases(np.array(["2024-03-08"], "datetime64[ns]"), frequency, 7)[0]
    assert len(set(steps.tolist())) == 5


def test_parquet_and_csv_read_alike_and_long_format_makes_one_series_per_id(tmp_path):
    frame = panel_frame(months=30)
    frame.to_csv(tmp_path / "p.csv", index=False)
    frame.to_parquet(tmp_path / "p.parquet")
    options = dict(time_column="month", id_column="store", covariate_columns="promo")
    from_csv, freq_csv = read_source(str(tmp_path / "p.csv"), **options)
    from_parquet, freq_parquet = read_source(str(tmp_path / "p.parquet"), **options)
    assert freq_csv == freq_parquet == "MS"
    assert [s.id for s in from_csv] == ["north", "south"]
    for a, b in zip(from_csv, from_parquet, strict=True):
        np.testing.assert_allclose(a.values, b.values)
        np.testing.assert_array_equal(a.covariates, b.covariates)
    north = frame[frame.store == "north"]
    np.testing.assert_array_equal(from_csv[0].covariates[:, 0], north.promo)
    # without covariate_columns, every numeric column is a series of its own
    ids = [s.id for s in read_source(str(tmp_path / "p.csv"), "month", id_column="store")[0]]
    assert ids == ["north/promo", "north/sales", "south/promo", "south/sales"]
    # months: January is phase 0 in any year
    assert phases(from_csv[0].times, "MS", 12)[:13].tolist() == [*range(12), 0]


def test_statsmodels_default_data_is_monthly_co2():
    (co2,), frequency = read_source("statsmodels:co2")
    assert (frequency, len(co2)) == ("MS", 526)
    assert str(co2.times[0])[:7] == "1958-03" and 310 < co2.values[0] < 320


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("month,sales\n2020-01-01,1\n2020-02-01,x\n2020-03-01,3\n", "not a number"),
        ("month,sales\n2020-01-01,1\n2020-01-01,2\n2020-02-01,3\n", "appears twice"),
        ("month,sales\nsoon,1\nlater,2\n", "neither dates nor integers"),
    ],
)
def test_bad_files_are_one_clear_error(tmp_path, content, expected):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=expected):
        read_source(str(path))


def test_covariates_fill_their_gaps_and_run_past_the_last_value(tmp_path):
    path = tmp_path / "load.csv"
    path.write_text(
        "day,price,load\n2024-03-01,2,1\n2024-03-02,,2\n2024-03-03,4,3\n"
        "2024-03-04,5,\n2024-03-05,7,\n",
        encoding="utf-8",
    )
    (series,), _ = read_source(str(path), covariate_columns="price")
    np.testing.assert_allclose(series.values, [1, 2, 3])
    np.testing.assert_allclose(series.covariates[:, 0], [2, 3, 4, 5, 7])
    assert series.future == 2 and series.head(2).future == 3
    for columns, expected in [
        ("cost", "no covariate column 'cost'; its columns are day, price, load"),
        ("load", "'load' is both a value and a covariate column"),
    ]:
        with pytest.raises(UserError, match=expected):
            read_source(str(path), value_columns="load", covariate_columns=columns)
    path.write_text("day,price,load\n2024-03-01,cheap,1\n2024-03-02,2,2\n", encoding="utf-8")
    with pytest.raises(UserError, match="line 2: 'cheap' in column 'price' is not a number"):
        read_source(str(path), covariate_columns="price")


def test_sources_by_name_say_what_to_set():
    with pytest.raises(UserError, match="expected one of statsmodels:co2, statsmodels:sunspots"):
        read_source("statsmodels:co3")
    # a tfds set's features are named by the settings (checked before any download)
    with pytest.raises(UserError, match="--set time_column=... and --set value_columns="):
        read_source("tfds:some_series")


def test_a_series_too_short_for_its_windows_names_what_to_lower():
    (co2,), _ = read_source("statsmodels:co2")
    with pytest.raises(UserError, match="Lower context"):
        split_series([co2.head(60)], horizon=12, test_windows=3, validation_windows=1, context=24)


# -- layers --------------------------------------------------------------------------------------
def test_window_scale_uses_the_training_scale_of_known_series_and_the_window_of_others():
    layer = WindowScale([2.0, 0.5])
    values = np.array([[1.0, 3.0, 4.0], [1.0, 3.0, 4.0]], "float32")
    scaled, level, scale = (np.asarray(t) for t in layer(values, np.array([1, 0])))
    np.testing.assert_allclose(level[:, 0], [4.0, 4.0])
    np.testing.assert_allclose(scale[:, 0], [2.0, 1.5])  # window: mean(|2|, |1|)
    np.testing.assert_allclose(scaled[0, :, 0], [-1.5, -0.5, 0.0])


def test_quantiles_come_out_ordered_and_the_pinball_loss_weighs_each_side():
    rng = np.random.default_rng(1)
    raw = rng.normal(0, 3, (4, 5, 3)).astype("float32")
    out = np.asarray(
        OrderedQuantiles()(raw, np.ones((4, 1), "float32"), np.full((4, 1), 2.0, "float32"))
    )
    assert np.all(np.diff(out, axis=-1) > 0)
    np.testing.assert_allclose(out[..., 1], 1.0 + 2.0 * raw[..., 1], rtol=1e-6)
    loss = PinballLoss([0.1, 0.5, 0.9])
    # target 0 above forecasts -1 (under by 1): 0.1, 0.5, 0.9; below forecasts 1: 0.9, 0.5, 0.1
    under = float(loss(np.zeros((1, 1)), -np.ones((1, 1, 3), "float32")))
    over = float(loss(np.zeros((1, 1)), np.ones((1, 1, 3), "float32")))
    assert under == pytest.approx(0.5) and over == pytest.approx(0.5)
    skew = float(loss(np.zeros((1, 1)), np.array([[[-1.0, 0.0, 1.0]]], "float32")))
    assert skew == pytest.approx((0.1 + 0 + 0.1) / 3)


# -- the command line ---------------------------------------------------------------------------
@journey_run
def test_fit_writes_the_run_with_the_backtest_beside_the_baselines(trained):
    run = trained["run"]
    metrics = json.loads((run / "metrics.json").read_text())
    for prefix in ("val_", "val_seasonal_naive_", "val_ets_", "val_arima_"):
        for name in ("mase", "smape", "mae"):
            assert np.isfinite(metrics[prefix + name]), prefix + name
    assert 0.0 <= metrics["val_coverage"] <= 1.0
    # the seasonal naive forecast of a yearly sine with noise: near the in-sample scale
    assert 0 < metrics["val_seasonal_naive_mase"] < 3
    assert (run / "forecast.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((run / "series.json").read_text())
    assert saved["ids"] == ["north", "south"] and saved["frequency"] == "MS"
    assert saved["season"] == 12
    # the interval, calibrated on the 12 validation values, covers ceil(13 * 0.8) = 11 of
    # them (one at its edge may fall either side in float32)
    assert metrics["interval_widening"] >= 0
    assert metrics["val_coverage"] >= 10 / 12


@journey_run
def test_forecast_continues_each_history_with_ordered_quantiles(trained, tmp_path):
    history = panel_frame(months=40, seed=5, future=6)
    history.to_csv(tmp_path / "history.csv", index=False)
    # north again, its promo of the third forecast month turned over
    other = history[history.store == "north"].copy()
    other.loc[other.index[42], "promo"] = 1 - other.loc[other.index[42], "promo"]
    other.to_csv(tmp_path / "other.csv", index=False)
    files = (tmp_path / "history.csv", tmp_path / "other.csv")
    result = cli("forecast", trained["run"], *files, "--horizon", 3)
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["series"] for a in answers] == ["north", "south", "north"]
    for a in answers:
        assert a["timestamps"] == ["2013-05-01", "2013-06-01", "2013-07-01"]
        low, mid, high = (np.array(a["quantiles"][q]) for q in ("0.1", "0.5", "0.9"))
        assert np.all(low < mid) and np.all(mid < high)
        assert a["forecast"] == a["quantiles"]["0.5"]
    # the two stores' levels (about 120 and 44) carry into their forecasts
    assert answers[0]["forecast"][0] > answers[1]["forecast"][0] + 40
    # a future covariate reaches the forecast of its step and of none before it
    north, turned = answers[0]["forecast"], answers[2]["forecast"]
    assert north[:2] == turned[:2] and north[2] != turned[2]


@journey_run
def test_forecast_refuses_a_longer_horizon_and_a_history_without_future_covariates(
    trained, tmp_path
):
    history = panel_frame(months=40, future=6)
    history.to_csv(tmp_path / "h.csv", index=False)
    result = cli("forecast", trained["run"], tmp_path / "h.csv", "--horizon", 7, check=False)
    assert result.returncode == 2
    line = one_error_line(result.stderr)
    assert line.endswith(
        "--horizon 7: the model forecasts 1 to 6 steps (its horizon setting); "
        "train a run with a longer horizon for more."
    )
    panel_frame(months=40, future=2).to_csv(tmp_path / "soon.csv", index=False)
    result = cli("forecast", trained["run"], tmp_path / "soon.csv", "--horizon", 3, check=False)
    assert result.returncode == 2
    assert one_error_line(result.stderr).endswith(
        "Series 'north' has covariates (promo) for 2 step(s) after its last value; "
        "forecasting 3 needs them for 3: add rows after the history with the covariates "
        "filled in and the value left empty."
    )
    from recipes import load_run

    app = load_run(trained["run"])
    panel_frame(months=10, future=6).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(UserError, match="has 10 steps; the model reads the last 24"):
        app.predict([str(tmp_path / "short.csv")])
    with pytest.raises(UserError, match="none.csv does not exist"):
        app.predict([str(tmp_path / "none.csv")])
    # the first forecast step needs its covariates: none given, the file says so
    panel_frame(months=40).to_csv(tmp_path / "now.csv", index=False)
    with pytest.raises(UserError, match="for 0 step\\(s\\) after its last value"):
        app.predict([str(tmp_path / "now.csv")], horizon=1)


def test_the_autoregressive_decoder_trains_saves_and_forecasts_alike(tmp_path):
    """decoder = "autoregressive" (and the linear part): each step reads the median before
    it; a saved run forecasts exactly as the trained model, quantiles ordered."""
    from recipes.forecaster.recipe import Forecaster

    data = tmp_path / "sales.csv"
    panel_frame(months=72).to_csv(data, index=False)
    app = Forecaster(decoder="autoregressive", linear=True, baselines=False, **TINY)
    app.fit(data=str(data), epochs=1, run_dir=tmp_path / "run", verbose=0)
    assert [layer.name for layer in app.model.layers].count("decoder") == 1
    assert app.model.get_layer("linear").kernel.shape == (TINY["context"], TINY["horizon"])
    (north, _), _ = read_source(str(data), "month", "sales", "store", covariate_columns="promo")
    history = north.head(60)
    first = app.forecast_series(history)
    again = Forecaster.load(tmp_path / "run").forecast_series(history)
    assert again == first
    low, mid, high = (np.array(first["quantiles"][q]) for q in ("0.1", "0.5", "0.9"))
    assert np.all(low < mid) and np.all(mid < high)
    # one decoder, called once per forecast step (the direct decoder: once in all)
    assert len(app.model.get_layer("decoder")._inbound_nodes) == TINY["horizon"]
