"""Seq2seq translator with attention and beam search (many-to-many).

- ``config.py``: :class:`TranslatorConfig`.
- ``recipe.py``: :class:`Translator`.
- ``dates.py``: the embedded default data: generated date pairs.
"""

from recipes.core.exports import lazy

__all__ = ["Translator", "TranslatorConfig"]
__getattr__, __dir__ = lazy(__name__, {"Translator": "recipe", "TranslatorConfig": "config"})
