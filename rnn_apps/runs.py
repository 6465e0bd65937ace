"""``rnn-apps runs``: the run folders under a folder, with what each trained and how well.

Reads only the files a run folder keeps (``run.json``, ``config.toml``, ``metrics.json``,
``state.json`` while training), so listing needs no TensorFlow.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

#: the columns of the table, in order
COLUMNS = ("run", "recipe", "version", "data", "epochs", "metric", "value")


def _read(path: Path, reader) -> Any:
    try:
        with path.open("rb") as f:
            return reader(f)
    except (OSError, ValueError):
        return None


def run_summary(run_dir: Path, root: Path) -> dict[str, Any] | None:
    """One row of the table for ``run_dir``, or None when it is not a run folder."""
    import recipes

    info = _read(run_dir / "run.json", json.load)
    if not isinstance(info, dict) or not isinstance(info.get("recipe"), str):
        return None
    name = info["recipe"]
    config = _read(run_dir / "config.toml", tomllib.load) or {}
    metrics = _read(run_dir / "metrics.json", json.load)
    state = _read(run_dir / "state.json", json.load)
    finished = isinstance(metrics, dict)
    numbers = metrics if finished else {}
    epochs = numbers.get("epochs_done")
    if epochs is None and isinstance(state, dict):
        epochs = state.get("epochs_done")
    headline = "val_loss"
    default_data = ""
    if name in recipes.APPLICATIONS:
        config_class = recipes.config_class(name)
        headline = config_class.headline
        default_data = f"default: {config_class.default_data}"
    value = numbers.get(headline)
    try:
        shown = run_dir.relative_to(root).as_posix() or "."
    except ValueError:
        shown = str(run_dir)
    return {
        "run": shown,
        "recipe": name,
        "version": info.get("version"),
        "data": config.get("data") or default_data,
        "epochs": epochs,
        "finished": finished,
        "metric": headline,
        "value": value,
        "metrics": numbers,
    }


def list_runs(root: str | Path) -> list[dict[str, Any]]:
    """The run folders at and under ``root`` (sorted by path), one summary each."""
    root = Path(root)
    found = sorted({p.parent for p in root.glob("**/run.json")})
    rows = [run_summary(run_dir, root) for run_dir in found]
    return [row for row in rows if row is not None]


def _cell(row: dict[str, Any], column: str) -> str:
    value = row[column]
    if column == "value":
        return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)
    if column == "epochs":
        text = "-" if value is None else str(value)
        return text if row["finished"] else f"{text} (unfinished)"
    return "-" if value in (None, "") else str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a plain-text table, columns aligned."""
    cells = [list(COLUMNS)] + [[_cell(row, c) for c in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )
