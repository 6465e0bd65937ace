"""The export's outputs read as ``rnn-apps predict`` prints them (no TensorFlow needed).

:func:`answer` turns one instance of ``serving_default`` (its inputs and outputs as JSON
values, as TensorFlow Serving's row format gives them) into predict's dict.
"""

from __future__ import annotations

from typing import Any


def answer(inputs: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
    """``{"text", "label", "probabilities": {label: p}}``, as :meth:`Sentiment.predict`."""
    return {
        "text": inputs["text"],
        "label": outputs["label"],
        "probabilities": {
            name: round(float(p), 6)
            for name, p in zip(outputs["labels"], outputs["probabilities"], strict=True)
        },
    }
