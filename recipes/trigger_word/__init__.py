"""Trigger-word detector: raw audio in, the times a chosen word was said out.

- ``config.py``: :class:`TriggerWordConfig`.
- ``recipe.py``: :class:`TriggerWord`.
- ``audio.py``: WAV files, levels, noise, resampling.
- ``synthesis.py``: eSpeak NG speech synthesis.
- ``mixing.py``: clips read and synthesized, training examples composed.
"""

from recipes.core.exports import lazy

__all__ = ["TriggerWord", "TriggerWordConfig"]
__getattr__, __dir__ = lazy(__name__, {"TriggerWord": "recipe", "TriggerWordConfig": "config"})
