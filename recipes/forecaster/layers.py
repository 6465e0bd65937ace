"""The forecaster's own layers and loss: scaling held inside the model, calendar features,
ordered quantiles, the pinball loss."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

PACKAGE = "rnn_apps_forecaster"


@keras.saving.register_keras_serializable(package=PACKAGE)
class WindowScale(keras.layers.Layer):
    """Raw values of a window -> ``(scaled, level, scale)``.

    ``level`` is the window's last value, so the network reads and forecasts changes from
    where the series is now (a trend carries over). ``scale`` is the series' mean absolute
    step on its training part (``scales[i]`` for series ``i``; fitted once, before
    training, and kept in the model); series 0, one the model never saw, uses the window's
    own mean absolute step.

    Args:
        scales: the training scale of each series id 1..N.
    """

    def __init__(self, scales: list[float], **kwargs: Any):
        super().__init__(**kwargs)
        self.scales = [float(s) for s in scales]

    def build(self, input_shape):
        self.table = self.add_weight(
            shape=(len(self.scales) + 1,),
            initializer=keras.initializers.Constant([0.0, *self.scales]),
            trainable=False,
            name="scales",
        )

    def call(self, values, series):
        level = values[:, -1:]
        steps = ops.abs(values[:, 1:] - values[:, :-1])
        own = ops.mean(steps, axis=1, keepdims=True)
        known = ops.take(self.table, ops.cast(series, "int32"))[:, None]
        scale = ops.where(known > 0, known, own)
        scale = ops.where(scale > 0, scale, ops.ones_like(scale))
        scaled = (values - level) / scale
        return scaled[:, :, None], level, scale

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scales": self.scales}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SeasonFeatures(keras.layers.Layer):
    """The phase of a window's first step -> sine and cosine of the place in the season
    of each of its ``steps`` steps, ``(batch, steps, 2)``."""

    def __init__(self, season: int, steps: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.season, self.steps = int(season), int(steps)

    def call(self, phase):
        offsets = ops.arange(self.steps, dtype="float32")[None, :]
        angle = (ops.cast(phase, "float32")[:, None] + offsets) * (2 * math.pi / self.season)
        return ops.stack([ops.sin(angle), ops.cos(angle)], axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "season": self.season, "steps": self.steps}


@keras.saving.register_keras_serializable(package=PACKAGE)
class HorizonSteps(keras.layers.Layer):
    """Any batch -> ``(batch, horizon, 1)``: each forecast step's place in the horizon,
    ``k / horizon``, the decoder's input when there is no other."""

    def __init__(self, horizon: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.horizon = int(horizon)

    def call(self, like):
        steps = ops.arange(self.horizon, dtype="float32") / self.horizon
        return ops.zeros_like(like[:, :1])[:, :, None] + steps[None, :, None]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "horizon": self.horizon}


@keras.saving.register_keras_serializable(package=PACKAGE)
class OrderedQuantiles(keras.layers.Layer):
    """Scaled network outputs ``(batch, horizon, Q)`` -> forecast values, quantiles in
    rising order: the middle column is the median; each further column adds a positive
    step (softplus) outward from it; then ``level + scale * q``.

    ``widening`` (a weight, 0 until the interval is calibrated after training, never
    negative) moves each quantile outward from the median by that many scale units.
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.widening = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="widening"
        )

    def call(self, outputs, level, scale, shift=None):
        count = outputs.shape[-1]
        middle = count // 2
        median = outputs[..., middle : middle + 1]
        if shift is not None:  # (batch, horizon) added to the median
            median = median + shift[..., None]
        below = ops.flip(ops.cumsum(ops.softplus(ops.flip(outputs[..., :middle], -1)), -1), -1)
        above = ops.cumsum(ops.softplus(outputs[..., middle + 1 :]), -1)
        widening = self.widening
        quantiles = ops.concatenate(
            [median - below - widening, median, median + above + widening], axis=-1
        )
        return level[:, :, None] + scale[:, :, None] * quantiles


@keras.saving.register_keras_serializable(package=PACKAGE)
class PinballLoss(keras.losses.Loss):
    """The mean pinball (quantile) loss of ``(batch, horizon, Q)`` forecasts of the given
    ``quantiles`` against ``(batch, horizon)`` targets. Weighted by one over the series'
    scale (the sample weights), it is the loss on the scaled values: every series counts
    alike whatever its units."""

    def __init__(self, quantiles: list[float], name: str = "pinball", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.quantiles = [float(q) for q in quantiles]

    def call(self, y_true, y_pred):
        q = ops.convert_to_tensor(self.quantiles, dtype=y_pred.dtype)
        error = ops.cast(y_true, y_pred.dtype)[..., None] - y_pred
        return ops.mean(ops.maximum(q * error, (q - 1) * error), axis=(-2, -1))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "quantiles": self.quantiles}
