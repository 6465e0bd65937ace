"""Character text generator: learns any text, character by character, and writes more.

- ``config.py``: :class:`CharTextConfig` (the settings of :mod:`recipes.charlm`, and the
  tfds text feature).
- ``recipe.py``: :class:`CharText` and its corpus readers (files, folders, globs, tfds,
  the embedded standard-library default).

The model, training, generation and export are :class:`recipes.charlm.recipe.CharLM`'s.
"""

from recipes.core.exports import lazy

__all__ = ["CharText", "CharTextConfig"]
__getattr__, __dir__ = lazy(__name__, {"CharText": "recipe", "CharTextConfig": "config"})
