"""The export's outputs read as ``rnn-apps predict`` prints them (no TensorFlow needed).

:func:`answer` turns one instance of ``serving_default`` (a waveform) or ``wav`` (a WAV
file's bytes) into predict's dict, less the ``file`` a served request does not have.
"""

from __future__ import annotations

from typing import Any

#: samples per second of ``serving_default``'s waveform
SAMPLE_RATE = 16000


def answer(inputs: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
    """``{"seconds", "detections": [{"time", "score"}]}``, as :meth:`TriggerWord.predict`
    rounds them (the -1 padding dropped)."""
    if "seconds" in outputs:  # wav's float32 samples / 16000, as whole samples again: it
        # rounds as predict's float64 does (2.3705 s is 2.371 in float32, 2.37 in float64)
        seconds = round(float(outputs["seconds"]) * SAMPLE_RATE) / SAMPLE_RATE
    else:
        seconds = len(inputs["waveform"]) / SAMPLE_RATE
    return {
        "seconds": round(seconds, 3),
        "detections": [
            {"time": round(float(t), 3), "score": round(float(s), 4)}
            for t, s in zip(outputs["detection_time"], outputs["detection_score"], strict=True)
            if t >= 0
        ],
    }
