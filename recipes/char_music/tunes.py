"""Checks of ABC tunes, without TensorFlow: the headers a tune carries and whether
music21 (the ``music`` extra) parses it into notes. ``rnn-apps generate`` reports both for
each tune, and so does ``rnn-apps serve``'s ``:answer``."""

from __future__ import annotations

from typing import Any

from recipes.charlm.onnx_inference import headers, whole_tune  # noqa: F401 - shipped in exports
from recipes.core.errors import UserError

REQUIRED_HEADERS = ("X", "M", "K")


def require_music21():
    """The ``music21`` module, or a one-line error naming the extra to install."""
    try:
        import music21
    except ImportError:
        raise UserError(
            "char_music needs music21 to read its default tunes and check generated ones; "
            "install the extra: pip install 'rnn-apps[music]'."
        ) from None
    return music21


def check_tune(tune: str) -> dict[str, Any]:
    """Whether a tune carries the X, M and K headers and parses with music21 into notes.

    Returns ``{"headers": bool, "parses": bool, "score": music21 stream or None}``.
    """
    music21 = require_music21()
    has_headers = all(key in headers(tune) for key in REQUIRED_HEADERS)
    score = None
    try:
        score = music21.converter.parse(tune, format="abc")
        parses = len(score.flatten().notes) > 0
    except Exception:  # music21 raises many kinds on malformed ABC
        parses = False
    return {"headers": has_headers, "parses": parses, "score": score if parses else None}
