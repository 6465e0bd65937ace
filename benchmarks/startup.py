"""Start-up time of the command line's light verbs, each a fresh process, against a
process that only imports TensorFlow (what every verb that trains or runs a model pays
first) and an empty Python.

``--help``, ``recipes``, ``config RECIPE`` and ``runs`` read the config classes and the run
folders' text files only, so they should answer well under the 2 seconds that importing
TensorFlow takes on a small machine. Each figure is the median of ``--repeats`` runs after
one warm-up run (which fills the file cache).

Example:
    python benchmarks/startup.py                # median of 5
    python benchmarks/startup.py --repeats 9
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_name

CLI = [sys.executable, "-m", "rnn_apps"]


def timed(command: list[str], repeats: int) -> float:
    """Median wall-clock seconds of ``command`` as a fresh process (after a warm-up)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--recipe", default="translator", help="the recipe of config RECIPE")
    args = parser.parse_args()
    fixtures = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "runs_0.1.0"
    runs_folder = fixtures if fixtures.is_dir() else Path(tempfile.mkdtemp())
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import tensorflow' (baseline)": [sys.executable, "-c", "import tensorflow"],
        "rnn-apps --help": [*CLI, "--help"],
        "rnn-apps recipes": [*CLI, "recipes"],
        f"rnn-apps config {args.recipe}": [*CLI, "config", args.recipe],
        "rnn-apps runs FOLDER (6 runs)": [*CLI, "runs", str(runs_folder)],
    }
    print(f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"median of {args.repeats} fresh processes\n")
    seconds = {name: timed(command, args.repeats) for name, command in commands.items()}
    baseline = seconds["python -c 'import tensorflow' (baseline)"]
    width = max(len(name) for name in seconds)
    print(f"| {'command'.ljust(width)} | seconds | vs import tensorflow |")
    print(f"|{'-' * (width + 2)}|---------|----------------------|")
    for name, value in seconds.items():
        print(f"| {name.ljust(width)} | {value:7.2f} | {value / baseline:20.2f} |")


if __name__ == "__main__":
    main()
