"""``rnn-apps runs``: the run folders under a folder, listed in a fresh process without
TensorFlow, as a table and as JSON, from the files the runs saved."""

from __future__ import annotations

import json
import shutil

from tests.test_old_runs import FIXTURES
from tests.test_settings import command


def test_runs_lists_saved_runs_with_their_headline_metric(tmp_path):
    root = tmp_path / "runs"
    for name in ("sentiment", "ner", "translator"):
        shutil.copytree(FIXTURES / name, root / name)
    unfinished = root / "nested" / "half"
    shutil.copytree(FIXTURES / "char_text", unfinished)
    (unfinished / "metrics.json").unlink()
    (unfinished / "state.json").write_text(json.dumps({"epochs_done": 2}))
    (root / "notes").mkdir()  # not a run folder: left out

    done = command("runs", str(root), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "TENSORFLOW: False" in done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["run"] for r in rows] == ["ner", "nested/half", "sentiment", "translator"]
    by_run = {r["run"]: r for r in rows}
    for name, metric in (("sentiment", "val_accuracy"), ("ner", "val_f1"),
                         ("translator", "val_exact_match")):  # fmt: skip
        saved = json.loads((FIXTURES / name / "metrics.json").read_text())
        row = by_run[name]
        assert (row["recipe"], row["metric"], row["finished"]) == (name, metric, True)
        assert row["value"] == saved[metric] and row["epochs"] == saved["epochs_done"]
        config = (FIXTURES / name / "config.toml").read_text()
        assert f'data = "{row["data"]}"' in config
    half = by_run["nested/half"]
    assert (half["finished"], half["epochs"], half["value"]) == (False, 2, None)

    table = command("runs", str(root))
    assert table.returncode == 0, table.stderr[-2000:]
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["run", "recipe", "version", "data", "epochs", "metric", "value"]
    assert len(lines) == 5
    sentiment = next(line for line in lines if line.startswith("sentiment"))
    value = json.loads((FIXTURES / "sentiment" / "metrics.json").read_text())["val_accuracy"]
    assert sentiment.split()[-2:] == ["val_accuracy", f"{value:.4f}"]
    assert "2 (unfinished)" in next(line for line in lines if line.startswith("nested/half"))


def test_runs_of_a_missing_folder_is_one_line(tmp_path):
    done = command("runs", str(tmp_path / "nowhere"))
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == (
        f"rnn-apps: error: {tmp_path / 'nowhere'} is not a folder; "
        "give the folder that holds the run folders."
    )


def test_runs_of_an_empty_folder_says_so(tmp_path):
    done = command("runs", str(tmp_path))
    assert done.returncode == 0 and done.stdout == ""
    assert "no run folders under" in done.stderr
