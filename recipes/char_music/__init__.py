"""Character music generator: learns ABC tunes and writes new whole tunes.

- ``config.py``: :class:`CharMusicConfig` (the settings of :mod:`recipes.charlm`, sized
  for tune collections).
- ``recipe.py``: :class:`CharMusic`: tunes read (``.abc`` files, music21's collection),
  generated tunes checked and written as ABC and MIDI (music21).

The model, training, generation and export are :class:`recipes.charlm.recipe.CharLM`'s.
"""

from recipes.core.exports import lazy

__all__ = ["CharMusic", "CharMusicConfig"]
__getattr__, __dir__ = lazy(__name__, {"CharMusic": "recipe", "CharMusicConfig": "config"})
