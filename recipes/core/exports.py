"""Names a package offers from its modules, imported on first use (PEP 562).

An application's package (``recipes.translator``) offers its recipe class and its config
class; importing the package itself imports neither, so that reading a config class
(``rnn-apps config``, ``fit --help``) does not start TensorFlow.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``names`` maps each offered name to
    the module of the package that defines it (``{"Translator": "recipe"}``)."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{names[name]}"), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
