"""The benchmark scripts as a developer runs them: a fresh process on saved run folders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_journey import journey_of

SCRIPTS = Path(__file__).resolve().parents[1] / "benchmarks"


def tasks_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "tasks.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("recipe", ["sentiment", "translator"])
def test_tasks_script_times_the_verbs_of_saved_runs(recipe, tiny_runs):
    """benchmarks/tasks.py on a run folder the journey's fit saved: one table row per
    verb, with both ways timed and the recipe's verb faster than model.predict per call."""
    journey = journey_of(tiny_runs, recipe)
    done = tasks_script(str(journey.run), "--calls", "3")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [
        line.split("|")[1:-1]
        for line in done.stdout.splitlines()
        if line.startswith(f"| {recipe} ")
    ]
    requests = {
        "sentiment": ["`predict`, one sentence"],
        "translator": ["`translate`, one sentence, greedy", "`translate`, one sentence, beam 4"],
    }[recipe]
    assert [cells[1].strip() for cells in rows] == requests, done.stdout
    for cells in rows:
        common, ours = (float(cells[k].strip().replace(",", "")) for k in (3, 4))
        assert cells[2].strip() == "ms" and 0 < ours < common, done.stdout


def test_tasks_script_names_a_folder_that_is_no_run(tmp_path):
    (tmp_path / "notes.txt").write_text("not a run")
    done = tasks_script(str(tmp_path))
    assert done.returncode == 2
    # the last line (TensorFlow's start-up may log before it)
    assert done.stderr.strip().splitlines()[-1] == (
        f"benchmarks/tasks.py: {tmp_path} is not a run folder (no run.json)."
    )
    assert done.stdout == ""
