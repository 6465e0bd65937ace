"""Run folders: which recipe made them, and loading them back."""

from __future__ import annotations

import json
from pathlib import Path

from recipes.core.errors import UserError
from recipes.core.recipe import RUN_FILE, Recipe


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
    return get_recipe(info["recipe"]).load(run_dir)
