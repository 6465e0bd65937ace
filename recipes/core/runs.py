"""Run folders: which recipe made them, and loading them back."""

from __future__ import annotations

import json
import re
from pathlib import Path

from recipes.core.errors import UserError
from recipes.core.recipe import RUN_FILE, Recipe
from recipes.core.training import package_version


def load_run(run_dir: str | Path) -> Recipe:
    """The recipe saved in ``run_dir`` (by ``fit`` or ``save``), ready to use."""
    from recipes import get_recipe

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"Run folder {run_dir} does not exist.")
    try:
        info = json.loads((run_dir / RUN_FILE).read_text())
    except FileNotFoundError:
        raise UserError(
            f"{run_dir} is not a run folder (no {RUN_FILE}); give the --out of rnn-apps fit."
        ) from None
    except (json.JSONDecodeError, OSError) as err:
        raise UserError(f"{run_dir / RUN_FILE} is unreadable ({err}).") from None
    if not isinstance(info, dict) or not isinstance(info.get("recipe"), str):
        raise UserError(
            f"{run_dir} is not a run folder ({RUN_FILE} names no recipe); "
            "give the --out of rnn-apps fit."
        )
    saved, installed = info.get("version"), package_version()
    if (
        isinstance(saved, str)
        and None not in (_release(saved), _release(installed))
        and _release(saved) > _release(installed)
    ):
        raise UserError(
            f"{run_dir} was saved by rnn-apps {saved}, newer than the installed {installed}: "
            f"pip install --upgrade 'rnn-apps>={saved}' to load it."
        )
    recipe_class = get_recipe(info["recipe"])  # an unknown name, or a missing extra
    if not isinstance(saved, str):
        raise UserError(
            f"{run_dir / RUN_FILE} names no rnn-apps version; it was not written by rnn-apps fit."
        )
    try:
        return recipe_class.load(run_dir)
    except (UserError, KeyError, ValueError, TypeError, AttributeError) as err:
        if saved == installed:
            raise
        reason = str(err).rstrip(".") if isinstance(err, UserError) else f"{err!r}"
        raise UserError(
            f"{reason}: {run_dir} was saved by rnn-apps {saved} and does not load in "
            f"{installed}; load it with rnn-apps {saved} or train it again."
        ) from err


def _release(version: str) -> tuple[int, ...] | None:
    """The release numbers of a version string ("0.2.0" -> (0, 2, 0)), or None."""
    match = re.match(r"(\d+(?:\.\d+)*)", version)
    return tuple(int(n) for n in match.group(1).split(".")) if match else None
