"""Trigger-word detector: raw audio in, the times a chosen word was said out.

- ``config.py``: :class:`TriggerWordConfig`.
- ``recipe.py``: :class:`TriggerWord`.
- ``audio.py``: WAV files, levels, noise, resampling, chimes.
- ``synthesis.py``: eSpeak NG speech synthesis.
- ``mixing.py``: clips read and synthesized into splits, training examples composed.
- ``frontend.py``: the log-mel front end (``LogMel``, ``LeftPad``) and its history.
- ``detection.py``: ``Detector``; misses, false accepts, metrics, the calibrated threshold.
- ``streaming.py``: the streaming step, ``Streamer``, TFLite export and ``TFLiteStep``.
- ``plots.py``: the ``--plot`` figure (spectrogram over the detection probability).
"""

from recipes.core.exports import lazy

__all__ = ["TriggerWord", "TriggerWordConfig"]
__getattr__, __dir__ = lazy(__name__, {"TriggerWord": "recipe", "TriggerWordConfig": "config"})
