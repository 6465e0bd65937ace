"""Character language models: the shared core of ``char_text`` and ``char_music``.

- ``config.py``: :class:`CharLMConfig`, the settings both generators extend.
- ``recipe.py``: :class:`CharLM`: corpus windows, model, bits per character, generation,
  export.
"""

from recipes.core.exports import lazy

__all__ = ["CharLM", "CharLMConfig"]
__getattr__, __dir__ = lazy(__name__, {"CharLM": "recipe", "CharLMConfig": "config"})
