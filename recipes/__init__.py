"""Ready recurrent-network applications built on :mod:`custom_layers`.

Each recipe is a class with the same life cycle (see :class:`recipes.base.Recipe`).
"""

from recipes.base import Recipe
from recipes.char_music import CharMusic, CharMusicConfig
from recipes.char_text import CharText, CharTextConfig
from recipes.errors import UserError
from recipes.ner import NER, NERConfig
from recipes.sentiment import Sentiment, SentimentConfig
from recipes.translator import Translator, TranslatorConfig
from recipes.trigger_word import TriggerWord, TriggerWordConfig

#: name -> recipe class, as the command line knows them
RECIPES: dict[str, type[Recipe]] = {
    r.name: r for r in (Sentiment, CharText, CharMusic, Translator, NER, TriggerWord)
}

__all__ = [
    "RECIPES",
    "CharMusic",
    "CharMusicConfig",
    "CharText",
    "CharTextConfig",
    "NER",
    "NERConfig",
    "Recipe",
    "Sentiment",
    "SentimentConfig",
    "Translator",
    "TranslatorConfig",
    "TriggerWord",
    "TriggerWordConfig",
    "UserError",
    "get_recipe",
]


def get_recipe(name: str) -> type[Recipe]:
    """The recipe class called ``name``; unknown names are a :class:`UserError`."""
    from recipes.config import nearest

    if name not in RECIPES:
        raise UserError(
            f"Unknown recipe '{name}'{nearest(name, list(RECIPES))}; see rnn-apps recipes."
        )
    return RECIPES[name]
