"""Sentiment classifier: a text in, a label with probabilities out (many-to-one).

- ``config.py``: :class:`SentimentConfig`, the settings.
- ``recipe.py``: :class:`Sentiment`: data, vectorizer, model, metrics, prediction, export.
- ``lexicon.py``: VADER's word polarities, standardized as the vectorizer reads words.
- ``layers.py``: the model's own layers (negated polarities, their sums, masked max).
"""

from recipes.core.exports import lazy

__all__ = ["Sentiment", "SentimentConfig"]
__getattr__, __dir__ = lazy(__name__, {"Sentiment": "recipe", "SentimentConfig": "config"})
