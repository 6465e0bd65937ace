"""The export's outputs read as ``rnn-apps predict`` prints them (no TensorFlow needed).

:func:`answer` turns one instance of ``serving_default`` or ``generate`` (one prime with
the sampling options, and its text) into predict's dict.
"""

from __future__ import annotations

from typing import Any


def answer(inputs: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
    """``{"prime", "seed", "text"}``, as :meth:`CharLM.predict`."""
    return {"prime": inputs["prime"], "seed": int(inputs["seed"]), "text": outputs["text"]}
