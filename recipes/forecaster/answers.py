"""The export's outputs read as ``rnn-apps forecast`` prints them (no TensorFlow needed).

:func:`answer` turns one instance of ``serving_default`` (its inputs and outputs as JSON
values, as TensorFlow Serving's row format gives them) into a dict like
:meth:`Forecaster.forecast_series`'s, with the interval's ends by name.
"""

from __future__ import annotations

from typing import Any


def answer(inputs: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
    """``{"series", "timestamps", "forecast", "lower", "upper"}``: the forecast's times,
    the median and the interval's ends."""
    return {
        "series": inputs["series"],
        "timestamps": [str(t) for t in outputs["timestamps"]],
        "forecast": [round(float(v), 6) for v in outputs["forecast"]],
        "lower": [round(float(v), 6) for v in outputs["lower"]],
        "upper": [round(float(v), 6) for v in outputs["upper"]],
    }
