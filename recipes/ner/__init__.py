"""Named-entity tagger: BiLSTM over word and character features, CRF (many-to-many).

- ``config.py``: :class:`NERConfig`.
- ``recipe.py``: :class:`NER`.
- ``conll.py``: CoNLL files read and written.
"""

from recipes.core.exports import lazy

__all__ = ["NER", "NERConfig"]
__getattr__, __dir__ = lazy(__name__, {"NER": "recipe", "NERConfig": "config"})
