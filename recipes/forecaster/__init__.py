"""Time-series forecaster: a window of the past in, the next values with an interval out.

- ``config.py``: :class:`ForecasterConfig`, the settings.
- ``series.py``: sources (CSV, Parquet, statsmodels' data sets, tfds) as series on a
  regular time grid, their calendar, the held-out windows.
- ``layers.py``: the model's own layers (scaling, calendar features, ordered quantiles)
  and the pinball loss.
- ``recipe.py``: :class:`Forecaster`: data, model, backtest, forecasts, export.
- ``backtest.py``: the rolling-origin backtest, its metrics and the statistical
  baselines (seasonal naive, ETS, ARIMA).
"""

from recipes.core.exports import lazy

__all__ = ["Forecaster", "ForecasterConfig"]
__getattr__, __dir__ = lazy(__name__, {"Forecaster": "recipe", "ForecasterConfig": "config"})
