"""Sentiment classifier: a text in, a label with probabilities out (many-to-one).

- ``config.py``: :class:`SentimentConfig`, the settings.
- ``recipe.py``: :class:`Sentiment`: data, vectorizer, model, metrics, prediction, export.
"""

from recipes.core.exports import lazy

__all__ = ["Sentiment", "SentimentConfig"]
__getattr__, __dir__ = lazy(__name__, {"Sentiment": "recipe", "SentimentConfig": "config"})
