"""Character music generator: learns ABC tunes and writes new whole tunes.

- ``config.py``: :class:`CharMusicConfig`.
- ``recipe.py``: :class:`CharMusic`: tunes read, generated tunes checked and written as
  ABC and MIDI (music21).
"""

from recipes.core.exports import lazy

__all__ = ["CharMusic", "CharMusicConfig"]
__getattr__, __dir__ = lazy(__name__, {"CharMusic": "recipe", "CharMusicConfig": "config"})
