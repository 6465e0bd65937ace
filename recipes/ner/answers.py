"""The export's outputs read as ``rnn-apps predict`` prints them (no TensorFlow needed).

:func:`answer` turns one instance of ``serving_default`` (its inputs and outputs as JSON
values, as TensorFlow Serving's row format gives them) into predict's dict.
"""

from __future__ import annotations

from typing import Any


def answer(inputs: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
    """``{"text", "tokens", "tags", "entities"}``, as :meth:`NER.predict`: the padding
    ("" after the last tag, -1 after the last entity) dropped."""
    tags = [t for t in outputs["tags"] if t]
    columns = [outputs[f"entity_{k}"] for k in ("type", "start", "end", "text")]
    return {
        "text": inputs["sentence"],
        "tokens": outputs["tokens"][: len(tags)],
        "tags": tags,
        "entities": [
            {"type": kind, "start": int(start), "end": int(end), "text": text}
            for kind, start, end, text in zip(*columns, strict=True)
            if start >= 0
        ],
    }
