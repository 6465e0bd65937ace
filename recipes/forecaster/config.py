"""The forecaster's settings (no TensorFlow: ``rnn-apps config`` reads them)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from recipes.core.config import SHARE, SIZE, TaskOption, TrainConfig, option, setting


@dataclasses.dataclass
class ForecasterConfig(TrainConfig):
    """Settings of the time-series forecaster (every key can be given with ``--set``)."""

    description = (
        "time series -> its next values with intervals (many-to-many): LSTM/GRU encoder-decoder"
    )
    default_data = "statsmodels:co2"
    headline = "val_mase"
    extra = "forecast"
    requires = ("statsmodels", "pandas")
    task_verb = "forecast"
    task_options = (
        TaskOption(
            "horizon",
            int,
            "steps to forecast after each history (at most the trained horizon; default it)",
        ),
    )
    task_reads_stdin = False

    time_column: str = option(
        "",
        "the time column of a CSV or Parquet file (dates, or integers for steps without "
        "dates); empty: the first column",
    )
    value_columns: str = option(
        "",
        "the columns to forecast, comma-separated (each is a series of its own); empty: "
        "every numeric column other than the time and id columns",
    )
    id_column: str = option(
        "",
        "a column naming the series of each row (a panel in long format: one model for "
        "all series); empty: none",
    )
    covariate_columns: str = option(
        "",
        "columns of inputs known in advance (prices, promotions, holidays, planned events, "
        "weather forecasts), comma-separated: read at every past and future step; a "
        "forecast then needs them for the horizon's steps, as rows after the history's "
        "last value (value cell empty); empty: none",
    )
    frequency: str = option(
        "",
        "the series' pandas frequency (MS: month starts, W: weeks, D: days, h: hours, ...); "
        "empty: inferred from the timestamps",
    )
    season: int = setting(
        0,
        "[0, 100000]",
        "steps in one season (12 for months, 7 for days, ...); 0: from the frequency",
    )
    horizon: int = setting(12, "[1, 10000]", "steps forecast at once")
    context: int = setting(48, "[2, 100000]", "past steps the encoder reads")
    backtest_windows: int = setting(
        6,
        "[1, 10000]",
        "test windows of horizon steps at the end of each series (rolling origin)",
    )
    validation_windows: int = setting(
        2, "[1, 10000]", "validation windows of horizon steps before the test windows"
    )
    interval: float = setting(
        0.8,
        "(0, 1)",
        "the central prediction interval: quantiles (1 - interval) / 2, 0.5, (1 + interval) / 2",
    )
    calibrate: bool = option(
        True,
        "after training, widen the interval (never narrow it) by the amount that makes it "
        "cover `interval` of the validation windows' values (conformalized quantile "
        "regression)",
    )
    cell: Literal["lstm", "gru"] = option("lstm", "the encoder's and decoder's recurrent layer")
    decoder: Literal["direct", "autoregressive"] = option(
        "direct",
        "direct: the decoder reads only the future steps' known inputs and forecasts all "
        "steps at once; autoregressive: each step also reads the median it forecast for "
        "the step before (in training too)",
    )
    units: int = setting(64, SIZE, "units of the encoder and of the decoder")
    series_dim: int = setting(
        4, "[0, 1024]", "size of each series' learned vector (used with two or more series)"
    )
    calendar: bool = option(
        True,
        "the place of every past and future step in its season (sine and cosine) goes in "
        "beside the values: a covariate known for the future",
    )
    dropout: float = setting(0.1, SHARE, "on the encoder's summary")
    linear: bool = option(
        False,
        "add a linear map of the scaled window to the median forecast (LSTNet's "
        "autoregressive part); the network then models what it leaves",
    )
    members: int = setting(
        3,
        "[1, 16]",
        "encoder-decoders in the model (seeds seed, seed+1, ...), each quantile averaged "
        "over them: an ensemble inside one model, trained together (x members the time)",
    )
    baselines: bool = option(
        True,
        "validation and test metrics also score the seasonal naive forecast and "
        "statsmodels' ETS and ARIMA on the same windows",
    )
    epochs: int = 200
    patience: int = 20
    batch_size: int = 64
    jit_compile: bool = True

    @property
    def quantiles(self) -> tuple[float, float, float]:
        """The forecast quantiles: the interval's ends and the median."""
        low = round((1 - self.interval) / 2, 6)
        return (low, 0.5, round(1 - low, 6))
