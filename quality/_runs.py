"""What the quality scripts share: ``rnn-apps`` commands in fresh processes, and their JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path


def rnn_apps(*args: str) -> dict:
    """Runs ``rnn-apps ARGS --quiet`` (``python -m rnn_apps``) and returns the JSON object it
    prints; the command's error line ends the script."""
    done = subprocess.run(
        [sys.executable, "-m", "rnn_apps", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        sys.exit(f"rnn-apps {' '.join(args)}: exit {done.returncode}: {last[0]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def fit(recipe: str, data: Path, out: Path, settings: list[str]) -> tuple[dict, float]:
    """``rnn-apps fit RECIPE --data DATA --out OUT --set ...``: its metrics and minutes."""
    start = time.perf_counter()
    sets = [part for item in settings for part in ("--set", item)]
    metrics = rnn_apps("fit", recipe, "--data", str(data), "--out", str(out), "--quiet", *sets)
    return metrics, (time.perf_counter() - start) / 60
