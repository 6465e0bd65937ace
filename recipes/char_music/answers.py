"""The export's outputs read as ``rnn-apps predict`` prints them (no TensorFlow needed).

:func:`answer` turns one instance of ``serving_default`` or ``generate`` into predict's
dict: the character generators' (:mod:`recipes.charlm.answers`) with the tune's checks.
"""

from __future__ import annotations

from typing import Any

from recipes.char_music.tunes import check_tune, whole_tune
from recipes.charlm.answers import answer as sample_answer


def answer(inputs: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
    """``{"prime", "seed", "text", "parses", "headers"}``, as :meth:`CharMusic.predict`:
    the text ends at the tune's end with one newline, and music21 checks it (the ``music``
    extra; without it, one line saying so)."""
    result = sample_answer(inputs, outputs)
    result["text"] = whole_tune(result["text"])  # as generate ends it
    check = check_tune(result["text"])
    return {**result, "parses": check["parses"], "headers": check["headers"]}
