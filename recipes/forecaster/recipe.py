"""Time-series forecaster (many-to-many): a window of the past in, the next ``horizon``
values with a prediction interval out.

Reads top to bottom: settings, data, model, evaluation, inference, run folder, export.

    values (context steps) -> WindowScale (minus the last value, over the series' scale)
      [+ sine/cosine of each step's place in the season] [+ the series' vector]
      -> custom_layers LSTM/GRU encoder -> its final state starts
      -> a decoder LSTM/GRU over the horizon's steps (their calendar features: known
         future inputs) -> Dense(3) -> ordered quantiles -> level + scale * quantiles

The decoder is direct (all horizon steps at once, no forecast fed back), trained with
the pinball loss of the interval's two quantiles and the median; the median is the point
forecast. One model serves every series of a source (a global model over a panel).
Evaluation is a rolling-origin backtest of the last windows of each series, beside the
seasonal naive forecast and statsmodels' ETS and ARIMA on the same windows
(:mod:`recipes.forecaster.backtest`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import custom_layers as cl
from recipes.core.data import Splits
from recipes.core.errors import UserError
from recipes.core.recipe import Recipe, string_lookup
from recipes.core.training import save_figure, write_json
from recipes.forecaster import backtest
from recipes.forecaster.config import ForecasterConfig
from recipes.forecaster.layers import (
    HorizonSteps,
    OrderedQuantiles,
    PinballLoss,
    SeasonFeatures,
    WindowScale,
)
from recipes.forecaster.series import (
    Panel,
    Series,
    future_times,
    read_source,
    split_series,
)
from recipes.forecaster.timegrid import default_season, grid, phases, tf_future

#: the run folder's record of the series the model knows and the time grid
SERIES_FILE = "series.json"


# -- settings ---------------------------------------------------------------------------
class Forecaster(Recipe):
    """Multi-horizon forecasts with quantiles from an LSTM/GRU encoder-decoder."""

    name = "forecaster"
    config_class = ForecasterConfig
    monitor = ("val_loss", "min")

    def __init__(self, config: ForecasterConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        #: the training series' names (the model's series 1..N; 0: a series it never saw)
        self.ids: list[str] = []
        #: each training series' mean absolute step on its training part
        self.scales: list[float] = []
        #: the time grid's pandas frequency ("" for integer steps) and its season
        self.frequency = ""
        self.season = 1
        #: each covariate's mean and standard deviation on the training part
        self.covariate_mean: list[float] = []
        self.covariate_std: list[float] = []

    # -- data ------------------------------------------------------------------------
    def _read(self, source: str) -> tuple[list[Series], str]:
        c = self.config
        frequency = c.frequency or self.frequency
        return read_source(
            source,
            c.time_column,
            c.value_columns,
            c.id_column,
            frequency,
            c.data_dir,
            c.covariate_columns,
        )

    def load_splits(self, data: str | None) -> Splits:
        c = self.config
        series, frequency = self._read(data or self.default_data)
        self.frequency = frequency
        train, validation = split_series(
            series, c.horizon, c.backtest_windows, c.validation_windows, c.context
        )
        return Splits(
            Panel(train, min(c.validation_windows, c.backtest_windows), baselines=False),
            Panel(validation, c.validation_windows, baselines=c.baselines),
            Panel(series, c.backtest_windows, baselines=c.baselines),
        )

    def load_examples(self, data: str) -> Panel:
        series, _ = self._read(data)
        c = self.config
        for one in series:
            if len(one) < c.context + c.backtest_windows * c.horizon:
                raise UserError(
                    f"{data}: series {one.id!r} has {len(one)} steps; scoring "
                    f"{c.backtest_windows} windows of {c.horizon} after a context of "
                    f"{c.context} needs {c.context + c.backtest_windows * c.horizon}."
                )
        return Panel(series, c.backtest_windows, baselines=c.baselines)

    def prepare(self, splits: Splits) -> None:
        c = self.config
        self.season = c.season or default_season(self.frequency)
        self.ids = [one.id for one in splits.train.series]
        self.scales = [_mean_step(one.values) for one in splits.train.series]
        if c.covariate_columns:
            seen = np.concatenate(
                [one.covariates[: len(one)] for one in splits.train.series], axis=0
            )
            self.covariate_mean = [float(m) for m in seen.mean(axis=0)]
            self.covariate_std = [float(s) if s > 0 else 1.0 for s in seen.std(axis=0)]

    @property
    def covariates(self) -> int:
        """How many covariate columns the model reads."""
        return len(self.covariate_mean)

    def _index(self, name: str) -> int:
        """The model's number of a series (0: one it never saw)."""
        return self.ids.index(name) + 1 if name in self.ids else 0

    def _windows(self, panel: Panel, training: bool) -> dict[str, np.ndarray]:
        """Every window of the panel (training: all that fit in each series, else the
        last ``panel.windows`` of each): inputs, targets and weights (1 / scale)."""
        c = self.config
        values, series, phase, targets, weights, known = [], [], [], [], [], []
        for one in panel.series:
            if training:
                origins = range(c.context, len(one) - c.horizon + 1)
            else:
                origins = backtest.rolling_origins(len(one), c.horizon, panel.windows)
            steps = phases(one.times, self.frequency, self.season)
            index = self._index(one.id)
            scale = self.scales[index - 1] if index else _mean_step(one.values)
            for origin in origins:
                values.append(one.values[origin - c.context : origin])
                targets.append(one.values[origin : origin + c.horizon])
                series.append(index)
                phase.append(steps[origin - c.context])
                weights.append(1.0 / scale)
                if self.covariates:
                    known.append(one.covariates[origin - c.context : origin + c.horizon])
        windows = {
            "values": np.asarray(values, "float32").reshape(-1, c.context),
            "series": np.asarray(series, "int32"),
            "phase": np.asarray(phase, "int32"),
            "targets": np.asarray(targets, "float32").reshape(-1, c.horizon),
            "weights": np.asarray(weights, "float32"),
        }
        if self.covariates:
            shape = (-1, c.context + c.horizon, self.covariates)
            windows["covariates"] = np.asarray(known, "float32").reshape(shape)
        return windows

    def _input_names(self) -> tuple[str, ...]:
        return ("values", "series", "phase") + (("covariates",) if self.covariates else ())

    def to_dataset(self, examples: Panel, training: bool) -> tf.data.Dataset:
        w = self._windows(examples, training)
        inputs = {k: w[k] for k in self._input_names()}
        ds = tf.data.Dataset.from_tensor_slices((inputs, w["targets"], w["weights"]))
        if training:
            ds = ds.shuffle(len(w["targets"]), seed=self.config.seed, reshuffle_each_iteration=True)
        return ds.batch(self.config.batch_size).prefetch(tf.data.AUTOTUNE)

    # -- model -----------------------------------------------------------------------
    def build_model(self) -> keras.Model:
        c = self.config
        keras.utils.set_random_seed(c.seed)
        values = keras.Input((c.context,), name="values")
        series = keras.Input((), dtype="int32", name="series")
        phase = keras.Input((), dtype="int32", name="phase")
        inputs = [values, series, phase]
        scaled, level, scale = WindowScale(self.scales, name="scale")(values, series)
        past, future = [scaled], [HorizonSteps(c.horizon, name="horizon_steps")(values)]
        if self.covariates:
            known = keras.Input((c.context + c.horizon, self.covariates), name="covariates")
            inputs.append(known)
            standard = keras.layers.Normalization(
                mean=self.covariate_mean,
                variance=[s * s for s in self.covariate_std],
                name="covariate_scale",
            )(known)
            past.append(standard[:, : c.context])
            future.append(standard[:, c.context :])
        if c.calendar and self.season > 1:
            calendar = SeasonFeatures(self.season, c.context + c.horizon, name="calendar")(phase)
            past.append(calendar[:, : c.context])
            future.append(calendar[:, c.context :])
        if c.series_dim and len(self.ids) > 1:
            # zeros at first: series 0 (never seen in training) keeps the zero vector
            vector = keras.layers.Embedding(
                len(self.ids) + 1,
                c.series_dim,
                embeddings_initializer="zeros",
                name="series_vector",
            )(series)
            past.append(keras.layers.RepeatVector(c.context)(vector))
            future.append(keras.layers.RepeatVector(c.horizon)(vector))
        past, future = _joined(past), _joined(future)
        members = [self._member(past, future, k) for k in range(c.members)]
        # an ensemble inside one model: each member's scaled quantiles averaged
        raw = members[0] if c.members == 1 else keras.layers.Average(name="members")(members)
        if c.linear:
            # a linear map of the scaled window added to the median (LSTNet's
            # autoregressive part): the network models what it leaves
            flat = keras.layers.Flatten()(scaled)
            shift = keras.layers.Dense(c.horizon, kernel_initializer="zeros", name="linear")(flat)
            quantiles = OrderedQuantiles(name="quantiles")(raw, level, scale, shift)
        else:
            quantiles = OrderedQuantiles(name="quantiles")(raw, level, scale)
        model = keras.Model(inputs, quantiles, name="forecaster")
        model.compile(
            optimizer=self.optimizer(),
            loss=PinballLoss(list(c.quantiles)),
            jit_compile=self.jit_compile(),
        )
        return model

    def _member(self, past, future, k: int):
        """One encoder-decoder of the ensemble (``members`` of them; the only one by
        default): the scaled inputs -> the horizon's unordered quantiles."""
        c = self.config
        seed = c.seed + 2 * k
        suffix = "" if c.members == 1 else f"_{k}"
        rnn = {"lstm": cl.LSTM, "gru": cl.GRU}[c.cell]
        encoded = rnn(c.units, return_state=True, seed=seed, name=f"encoder{suffix}")(past)
        states = [keras.layers.Dropout(c.dropout, seed=seed)(s) for s in encoded[1:]]
        dense = keras.layers.Dense(len(c.quantiles), name=f"quantile_steps{suffix}")
        if c.decoder == "direct":
            decoded = rnn(c.units, return_sequences=True, seed=seed + 1, name=f"decoder{suffix}")(
                future, initial_state=states
            )
            return dense(decoded)
        # one step at a time, each reading the median forecast before it (scaled: the
        # window's last value is 0)
        step = rnn(
            c.units,
            return_sequences=True,
            return_state=True,
            seed=seed + 1,
            name=f"decoder{suffix}",
        )
        middle = len(c.quantiles) // 2
        previous = keras.ops.zeros_like(future[:, :1, :1])
        outputs = []
        for k in range(c.horizon):
            inputs = keras.layers.Concatenate()([future[:, k : k + 1], previous])
            decoded, *states = step(inputs, initial_state=states)
            outputs.append(dense(decoded))
            previous = outputs[-1][:, :, middle : middle + 1]
        return _joined(outputs, axis=1)

    # -- evaluation ------------------------------------------------------------------
    def metrics(self, examples: Panel) -> dict[str, float]:
        """The backtest of the model's median and interval on the panel's last windows:
        ``mase``, ``smape``, ``mae``, ``quantile_loss`` (weighted) and ``coverage`` of the
        interval; with baselines, each one's ``mase``, ``smape`` and ``mae`` prefixed by
        its name (``seasonal_naive_``, ``ets_``, ``arima_``)."""
        self._require_model()
        c = self.config
        methods = {"model": self._backtest_method(examples)}
        if examples.baselines:
            methods.update(backtest.baselines(self.season))
        try:
            result = backtest.backtest(
                [one.values for one in examples.series],
                methods,
                c.horizon,
                examples.windows,
                self.season,
                quantiles=c.quantiles,
                interval=(c.quantiles[0], c.quantiles[-1]),
            )
        except ValueError as err:  # e.g. a constant history: no scale for MASE
            raise UserError(f"The backtest cannot score this data: {err}") from None
        metrics = dict(result.metrics.pop("model"))
        for name, scores in result.metrics.items():
            metrics.update({f"{name}_{k}": v for k, v in scores.items()})
        return {k: float(v) for k, v in metrics.items()}

    def _backtest_method(self, panel: Panel):
        """The model as a backtest method: one history -> (horizon, 1 + Q) (median,
        then the quantiles)."""
        forecast = self._forecast_function()

        def method(history: np.ndarray, horizon: int, index: int) -> np.ndarray:
            one = panel.series[index]
            inputs = self._inputs([one.head(len(history))], horizon)
            quantiles = forecast(inputs).numpy()[0, :horizon]
            return np.concatenate([quantiles[:, 1:2], quantiles], axis=1)

        return method

    def finish_training(self, splits: Splits) -> dict[str, Any]:
        """Calibrates the interval on the validation windows (``calibrate``), then draws
        ``forecast.png``: the end of each series (up to four), the test part's last
        window forecast with its interval."""
        chosen = {}
        if self.config.calibrate:
            chosen["interval_widening"] = self._calibrate(splits.validation)
        self._plot(splits.test, self.run_dir / "forecast.png")
        return chosen

    def _calibrate(self, panel: Panel) -> float:
        """Conformalized quantile regression (Romano et al., 2019): each validation value's
        distance outside the interval (negative inside), in its series' scale units; the
        interval's ends move outward by the ``interval`` quantile of those distances (by
        ``ceil((n + 1) * interval) / n`` of them, for ``n`` values), when it is positive.
        Returns the widening (0: the interval covered enough)."""
        widening = self.model.get_layer("quantiles").widening
        widening.assign(0.0)
        windows = self._windows(panel, training=False)
        inputs = {k: tf.constant(windows[k]) for k in self._input_names()}
        quantiles = self.model(inputs, training=False).numpy()
        targets = windows["targets"]
        outside = np.maximum(quantiles[..., 0] - targets, targets - quantiles[..., -1])
        scores = (outside * windows["weights"][:, None]).ravel()
        level = min(1.0, np.ceil((len(scores) + 1) * self.config.interval) / len(scores))
        # only ever widened: a few validation windows are too few to narrow it safely
        value = max(0.0, float(np.quantile(scores, level, method="higher")))
        widening.assign(value)  # (compiled functions read the variable when called)
        return value

    def _plot(self, panel: Panel, path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt

        c = self.config
        shown = panel.series[:4]
        figure, axes = plt.subplots(len(shown), 1, figsize=(9, 2.6 * len(shown)), squeeze=False)
        low, high = c.quantiles[0], c.quantiles[-1]
        for axis, one in zip(axes[:, 0], shown, strict=True):
            origin = len(one) - c.horizon
            history = one.head(origin)
            result = self.forecast_series(history)
            start = max(0, origin - 4 * c.horizon)
            times = one.times
            axis.plot(times[start:], one.values[start:], color="black", lw=1, label="actual")
            future = times[origin:]
            axis.plot(future, result["forecast"], color="C0", lw=1.5, label="forecast (median)")
            axis.fill_between(
                future,
                result["quantiles"][str(low)],
                result["quantiles"][str(high)],
                color="C0",
                alpha=0.25,
                label=f"{c.interval:.0%} interval",
            )
            axis.set_title(one.id, fontsize=9)
            axis.legend(fontsize=7, loc="upper left")
        save_figure(figure, path, dpi=90)

    # -- inference -------------------------------------------------------------------
    def _forecast_function(self):
        model = self.model

        def forecast(inputs):
            return model(inputs, training=False)

        # (a named function: autograph mistakes one lambda for another on the same line)
        return self._compiled("forecast", lambda: tf.function(forecast, reduce_retracing=True))

    def _inputs(self, histories: list[Series], horizon: int) -> dict[str, tf.Tensor]:
        """The model's inputs of the last ``context`` steps of each history (and of the
        covariates of those steps and of the ``horizon`` after them)."""
        c = self.config
        values, series, phase, known = [], [], [], []
        for one in histories:
            if len(one) < c.context:
                raise UserError(
                    f"Series {one.id!r} has {len(one)} steps; the model reads the last "
                    f"{c.context} (its context): give a longer history."
                )
            values.append(one.values[-c.context :])
            series.append(self._index(one.id))
            first = one.times[len(one) - c.context : len(one) - c.context + 1]
            phase.append(phases(first, self.frequency, self.season)[0])
            if self.covariates:
                known.append(self._known(one, horizon))
        inputs = {
            "values": tf.constant(np.asarray(values, "float32")),
            "series": tf.constant(series, tf.int32),
            "phase": tf.constant(phase, tf.int32),
        }
        if self.covariates:
            inputs["covariates"] = tf.constant(np.asarray(known, "float32"))
        return inputs

    def _known(self, history: Series, horizon: int) -> np.ndarray:
        """The covariates of a history's last ``context`` steps and of the trained
        horizon after them; the steps after the ``horizon`` asked for, when not given,
        hold the last given row (the decoder reads the steps in order, so they change
        nothing before them)."""
        c = self.config
        if history.covariates is None or history.covariates.shape[1] != self.covariates:
            given = 0 if history.covariates is None else history.covariates.shape[1]
            raise UserError(
                f"Series {history.id!r} has {given} covariate column(s); the model reads "
                f"{self.covariates} ({c.covariate_columns}): give them in the file."
            )
        if history.future < horizon:
            raise UserError(
                f"Series {history.id!r} has covariates ({c.covariate_columns}) for "
                f"{history.future} step(s) after its last value; forecasting {horizon} "
                f"needs them for {horizon}: add rows after the history with the "
                "covariates filled in and the value left empty."
            )
        rows = history.covariates[len(history) - c.context : len(history) + c.horizon]
        missing = c.context + c.horizon - len(rows)
        return np.concatenate([rows, np.repeat(rows[-1:], missing, axis=0)]) if missing else rows

    def forecast_series(self, history: Series, horizon: int | None = None) -> dict[str, Any]:
        """The next ``horizon`` steps (default: the trained horizon) after a history.

        Returns:
            ``{"series", "timestamps", "forecast", "quantiles": {q: values}}``: the
            median as the point forecast, and each quantile, by the quantile's text.
        """
        c = self.config
        horizon = c.horizon if horizon is None else int(horizon)
        if not 1 <= horizon <= c.horizon:
            raise UserError(
                f"--horizon {horizon}: the model forecasts 1 to {c.horizon} steps "
                "(its horizon setting); train a run with a longer horizon for more."
            )
        inputs = self._inputs([history], horizon)
        quantiles = self._forecast_function()(inputs).numpy()[0, :horizon]
        return {
            "series": history.id,
            "timestamps": future_times(history, self.frequency, horizon),
            "forecast": [round(float(v), 6) for v in quantiles[:, 1]],
            "quantiles": {
                str(q): [round(float(v), 6) for v in quantiles[:, k]]
                for k, q in enumerate(c.quantiles)
            },
        }

    def predict(self, inputs: list[str], horizon: int | None = None) -> list[dict]:
        """Forecasts after each series of each file (CSV or Parquet, the training data's
        columns): one dict per series, with ``"file"`` added."""
        self._require_model()
        if not inputs:
            raise UserError("Give one or more CSV or Parquet files of history to forecast.")
        results = []
        for path in inputs:
            series, _ = self._read(str(path))
            for one in series:
                results.append({"file": str(path), **self.forecast_series(one, horizon)})
        return results

    # -- run folder --------------------------------------------------------------------
    def save_assets(self, run_dir: Path) -> None:
        write_json(
            run_dir / SERIES_FILE,
            {
                "ids": self.ids,
                "scales": self.scales,
                "frequency": self.frequency,
                "season": self.season,
                "covariate_mean": self.covariate_mean,
                "covariate_std": self.covariate_std,
            },
        )

    def load_assets(self, run_dir: Path) -> None:
        try:
            saved = json.loads((run_dir / SERIES_FILE).read_text(encoding="utf-8"))
            self.ids = [str(i) for i in saved["ids"]]
            self.scales = [float(s) for s in saved["scales"]]
            self.frequency = str(saved["frequency"])
            self.season = int(saved["season"])
            self.covariate_mean = [float(m) for m in saved.get("covariate_mean", [])]
            self.covariate_std = [float(s) for s in saved.get("covariate_std", [])]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UserError(f"{run_dir / SERIES_FILE} is missing or unreadable ({err}).") from None

    # -- export ------------------------------------------------------------------------
    def serving_resources(self) -> list:
        self._lookup = string_lookup(self.ids, num_oov_indices=1)
        return [self._lookup, self.model]

    def serving_signature(self) -> list[tf.TensorSpec]:
        c = self.config
        signature = [
            tf.TensorSpec([None, c.context], tf.float32, name="values"),
            tf.TensorSpec([None], tf.string, name="series"),
            tf.TensorSpec([None], tf.string, name="last_time"),
        ]
        if self.covariates:
            shape = [None, c.context + c.horizon, self.covariates]
            signature.append(tf.TensorSpec(shape, tf.float32, name="covariates"))
        return signature

    def serving_function(self):
        """The last ``context`` raw values, the series' name (one the model never saw:
        any other text) and the time of the last value (ISO 8601 text, or an integer
        step) in, and with covariates, theirs at those steps and the ``horizon`` after
        them; ``forecast`` (the median), ``lower`` and ``upper`` (the interval),
        ``quantiles`` and the forecast's ``timestamps`` out."""
        c, lookup, model = self.config, self._lookup, self.model
        grid(self.frequency)  # a frequency with no calendar in TensorFlow: one clear line
        frequency, season = self.frequency, self.season

        def serve(values, series, last_time, covariates=None):
            timestamps, last = tf_future(last_time, frequency, c.horizon)
            phase = tf.cast(tf.math.floormod(last - (c.context - 1), max(season, 1)), tf.int32)
            inputs = {"values": values, "series": tf.cast(lookup(series), tf.int32), "phase": phase}
            if covariates is not None:
                inputs["covariates"] = covariates
            q = model(inputs, training=False)
            return {
                "forecast": q[..., 1],
                "lower": q[..., 0],
                "upper": q[..., -1],
                "quantiles": q,
                "timestamps": timestamps,
            }

        return serve


def _joined(parts: list, axis: int = -1) -> Any:
    return parts[0] if len(parts) == 1 else keras.layers.Concatenate(axis=axis)(parts)


def _mean_step(values: np.ndarray) -> float:
    """Mean absolute step of a series (1.0 for a constant one)."""
    steps = np.abs(np.diff(values))
    scale = float(np.mean(steps)) if len(steps) else 0.0
    return scale if scale > 0 else 1.0
