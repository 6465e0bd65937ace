"""The export's outputs read as ``rnn-apps predict`` prints them (no TensorFlow needed).

:func:`answer` turns one instance of ``serving_default`` or ``translate`` (its inputs and
outputs as JSON values, as TensorFlow Serving's row format gives them) into predict's dict.
"""

from __future__ import annotations

from typing import Any


def answer(inputs: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
    """``{"source", "translation"}`` as :meth:`Translator.predict`, with ``n_best``
    (``[{"translation", "score"}]``, best first) when the instance asked for more than one."""
    result = {"source": inputs["text"], "translation": outputs["translation"]}
    if int(inputs.get("n_best", 1)) > 1:
        result["n_best"] = [
            {"translation": t, "score": round(float(s), 4)}
            for t, s in zip(outputs["translations"], outputs["scores"], strict=True)
        ]
    return result
