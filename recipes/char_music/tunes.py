"""Checks of ABC tunes, without TensorFlow: the headers a tune carries and whether
music21 (the ``music`` extra) parses it into notes. ``rnn-apps generate`` reports both for
each tune, and so does ``rnn-apps serve``'s ``:answer``."""

from __future__ import annotations

from typing import Any

from recipes.charlm.onnx_inference import (  # shipped in exports, needing no TensorFlow
    headers,
    parsed_tune,
    tune_parts,
    whole_tune,  # noqa: F401
    write_midi,  # noqa: F401
)
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
    require_music21()
    score = parsed_tune(tune)
    has_headers = all(key in headers(tune) for key in REQUIRED_HEADERS)
    return {"headers": has_headers, "parses": score is not None, "score": score}


def bars_fit_meter(tune: str, score: Any) -> bool:
    """Whether every bar of a tune lasts what its ``M:`` field says (``score``: the tune
    parsed by music21, as :func:`check_tune` gives it).

    No bar may be longer than the meter allows. A bar may be shorter where music begins or
    ends: the tune's first and last bars, a bar beside a repeat sign, and a short bar that
    makes a whole bar with its neighbour (a part's pickup and the bar that completes it).
    The meter is the tune's ``M:`` field: music21 reads no inline changes (``[M:2/4]``).
    """
    music21 = require_music21()
    if isinstance(score, music21.stream.Opus):  # more than one tune (X:) in the text
        return False
    handler = music21.abcFormat.ABCHandler()
    handler.process(tune)
    kinds = (music21.abcFormat.ABCNote, music21.abcFormat.ABCChord)
    written = sum(
        any(isinstance(token, kinds) for token in bar.tokens) for bar in handler.splitByMeasure()
    )
    part = score.parts[0] if score.parts else score
    bars = [bar for bar in part.getElementsByClass("Measure") if bar.notesAndRests]
    meter = part.recurse().getElementsByClass("TimeSignature").first()
    # music21 splits a bar longer than its meter into more bars: then they are not as written
    if not bars or meter is None or len(bars) != written:
        return False
    full = meter.barDuration.quarterLength
    lengths = [bar.duration.quarterLength for bar in bars]
    for i, length in enumerate(lengths):
        if length == full:
            continue
        if length > full:
            return False
        at_repeat = any(
            isinstance(line, music21.bar.Repeat)
            for line in (bars[i].leftBarline, bars[i].rightBarline)
        )
        neighbours = [lengths[j] for j in (i - 1, i + 1) if 0 <= j < len(lengths)]
        completed = any(length + n == full for n in neighbours)
        if not (i in (0, len(bars) - 1) or at_repeat or completed):
            return False
    return True


def repeats_expand(score: Any) -> bool:
    """Whether music21 can expand a parsed tune's repeats and endings (``score``, as
    :func:`check_tune` gives it), as writing MIDI does first: a tune whose repeat signs or
    endings do not pair up parses, but gets no MIDI file ("cannot expand Stream: badly
    formed repeats or repeat expressions")."""
    music21 = require_music21()
    return all(
        music21.repeat.Expander(part).isExpandable() is not False
        for part in tune_parts(score)
        if part.getElementsByClass("Measure")  # (no bars: no repeats to expand)
    )
