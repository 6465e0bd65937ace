"""Ready recurrent-network applications built on :mod:`custom_layers`.

Each application is a package of its own (``recipes/<name>/``) on the shared core
(``recipes/core/``): the recipe life cycle, the training settings every config extends,
data sources, training machinery, run folders and export. Every recipe class has the
same life cycle (see :class:`recipes.core.recipe.Recipe`)::

    from recipes import Translator
    app = Translator(units=128)
    app.fit(epochs=3, run_dir="runs/dates")

Names are imported on first use: ``import recipes`` alone starts no TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from recipes.core.errors import UserError

if TYPE_CHECKING:
    from recipes.core.config import RecipeConfig
    from recipes.core.recipe import Recipe
    from recipes.core.runs import load_run

#: application name -> (its recipe class, its config class), as the command line knows them
APPLICATIONS: dict[str, tuple[str, str]] = {
    "sentiment": ("Sentiment", "SentimentConfig"),
    "char_text": ("CharText", "CharTextConfig"),
    "char_music": ("CharMusic", "CharMusicConfig"),
    "translator": ("Translator", "TranslatorConfig"),
    "ner": ("NER", "NERConfig"),
    "trigger_word": ("TriggerWord", "TriggerWordConfig"),
    "forecaster": ("Forecaster", "ForecasterConfig"),
}
_OFFERED = {
    **{cls: app for app, names in APPLICATIONS.items() for cls in names},
    "Recipe": "core.recipe",
    "load_run": "core.runs",
}

__all__ = [
    "APPLICATIONS",
    "RECIPES",
    "Recipe",
    "UserError",
    "answers",
    "config_class",
    "get_recipe",
    "load_run",
    *sorted(cls for names in APPLICATIONS.values() for cls in names),
]


def _check(name: str) -> None:
    if name not in APPLICATIONS:
        from recipes.core.config import nearest

        raise UserError(
            f"Unknown recipe '{name}'{nearest(name, list(APPLICATIONS))}; see rnn-apps recipes."
        )


def get_recipe(name: str) -> type[Recipe]:
    """The recipe class called ``name``; unknown names are a :class:`UserError`, and so is
    a recipe whose pip extra is not installed."""
    from recipes.core.config import missing_extra

    message = missing_extra(name, config_class(name))
    if message:
        raise UserError(message)
    return getattr(importlib.import_module(f"recipes.{name}"), APPLICATIONS[name][0])


def config_class(name: str) -> type[RecipeConfig]:
    """The config class of the recipe called ``name``, without importing TensorFlow."""
    _check(name)
    return getattr(importlib.import_module(f"recipes.{name}"), APPLICATIONS[name][1])


#: the package of each recipe's :func:`answer` where it is not the recipe's own
_ANSWERS = {"char_text": "charlm"}


def answers(name: str):
    """The recipe's ``answer(inputs, outputs) -> dict``: one instance of its export's
    signatures (JSON values) read as ``rnn-apps predict`` prints it. No TensorFlow and no
    extra is imported (a server of exports needs neither)."""
    _check(name)
    package = _ANSWERS.get(name, name)
    return importlib.import_module(f"recipes.{package}.answers").answer


def __getattr__(name: str):
    if name == "RECIPES":  # name -> recipe class, every application imported
        return {app: get_recipe(app) for app in APPLICATIONS}
    if name in _OFFERED:
        return getattr(importlib.import_module(f"recipes.{_OFFERED[name]}"), name)
    raise AttributeError(f"module 'recipes' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
