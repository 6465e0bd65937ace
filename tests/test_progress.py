"""Long phases say what they do on stderr while stdout keeps the results: ``rnn-apps
evaluate`` and ``rnn-apps export`` on runs of 0.1.0 (tests/fixtures/runs_0.1.0, copied
first) and a tiny ``rnn-apps fit``, each in a fresh process; and the lines of
:class:`~recipes.core.training.Progress` on a terminal and in a log."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from recipes.core import training
from recipes.core.training import Progress
from tests.journey import SETTINGS, rnn_apps, set_arguments, write_sentiment, write_translator

FIXTURES = Path(__file__).parent / "fixtures" / "runs_0.1.0"
SECONDS = r"(\d+(\.\d)? s|\d+ min \d\d s)"


def command(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        rnn_apps(*args), capture_output=True, text=True, encoding="utf-8", timeout=300, cwd=cwd
    )


def notes(stderr: str) -> list[str]:
    """The lines of the phases (TensorFlow's own lines and Keras's bars left out)."""
    return [line for line in stderr.splitlines() if line.startswith("rnn-apps: ")]


def assert_phases(stderr: str, phases: list[tuple[str, str]]) -> None:
    """stderr's phase lines are, for each ``(what, counts)`` in order, its start line and
    its done line (``counts``: a pattern of the counts before the seconds, or "")."""
    lines = notes(stderr)
    assert len(lines) == 2 * len(phases), stderr[-3000:]
    for (what, counts), start, end in zip(phases, lines[::2], lines[1::2], strict=True):
        head = f"rnn-apps: {what} ..."
        assert start == head
        done = re.escape(head) + " " + (f"{counts}, " if counts else "") + f"done in {SECONDS}"
        assert re.fullmatch(done, end), end


def test_evaluate_says_its_progress_on_stderr_and_its_json_on_stdout(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "translator", run)
    data = write_translator(tmp_path)
    done = command("evaluate", run, "--data", data, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert set(json.loads(done.stdout)) == {"bleu", "chrf", "exact_match"}
    # the beam search over the pairs, counted in batches
    assert_phases(done.stderr, [(f"computing the metrics on {data}", r"(\d+)/\1 batches")])


def test_export_says_each_step_and_prints_only_the_folder(tmp_path):
    pytest.importorskip("scipy")  # the audio extra (trigger_word)
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "trigger_word", run)
    out = tmp_path / "exported"
    done = command("export", run, "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == f"exported: {out}\n"
    assert_phases(
        done.stderr,
        [
            # serving_default, wav, stream_step
            ("tracing the serving signatures", "3/3 signatures"),
            ("writing the SavedModel", ""),
            ("converting the streaming step to TFLite", ""),
        ],
    )
    assert (out / "saved_model.pb").is_file() and (out / "stream_step.tflite").is_file()


@pytest.mark.parametrize("quiet", [False, True])
def test_fit_says_its_final_metrics_unless_quiet(tmp_path, quiet):
    data = write_sentiment(tmp_path)
    args = ["fit", "sentiment", "--data", data, *set_arguments(SETTINGS["sentiment"])]
    args += ["--epochs", "1", "--out", tmp_path / "run", *(["--quiet"] if quiet else [])]
    done = command(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["epochs_done"] == 1  # the whole of stdout
    if quiet:
        assert notes(done.stderr) == [] and "run folder" not in done.stderr
    else:
        batches = r"(\d+)/\1 batches"
        assert_phases(
            done.stderr,
            [
                ("computing the train metrics", batches),
                ("computing the validation metrics", batches),
            ],
        )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def screen(written: str) -> list[str]:
    """What a terminal shows of ``written``: each line as its last redraw left it."""
    return [line.split("\r\x1b[K")[-1] for line in written.split("\n")]


def test_progress_lines_in_a_log_and_on_a_terminal(monkeypatch):
    # a log: a line at the start, the count every LOG_INTERVAL, the end with every count
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    monkeypatch.setattr(training, "LOG_INTERVAL", 0.0)
    with Progress("calibrating") as phase:
        assert list(phase.count(range(2), "batches")) == [0, 1]
        assert list(phase.count(iter("ab"), "thresholds")) == ["a", "b"]
    assert [re.sub(r"\d+\.\d s", "T", line) for line in log.getvalue().splitlines()] == [
        "rnn-apps: calibrating ...",
        "rnn-apps: calibrating ... 1/2 batches (T)",
        "rnn-apps: calibrating ... 2/2 batches (T)",
        "rnn-apps: calibrating ... 1/2 thresholds (T)",
        "rnn-apps: calibrating ... 2/2 thresholds (T)",
        "rnn-apps: calibrating ... 2/2 batches, 2/2 thresholds, done in T",
    ]
    # quiet (fit --quiet): nothing
    monkeypatch.setattr(sys, "stderr", quiet := Terminal())
    with Progress("synthesizing", verbose=0) as phase:
        assert list(phase.count(range(3), "clips")) == [0, 1, 2]
    assert quiet.getvalue() == ""
    # a terminal: one line redrawn in place; a phase inside another gets a line of its own;
    # an error ends the line and adds nothing (the error says it)
    monkeypatch.setattr(sys, "stderr", terminal := Terminal())
    with pytest.raises(KeyError), Progress("computing the test metrics") as outer:
        for _ in outer.count(range(2), "batches"):
            with Progress("calibrating the threshold"):
                pass
        raise KeyError("stop")
    assert [re.sub(r"\d+\.\d s", "T", line) for line in screen(terminal.getvalue())] == [
        "rnn-apps: computing the test metrics ... 0/2 batches",
        "rnn-apps: calibrating the threshold ... done in T",
        "rnn-apps: calibrating the threshold ... done in T",
        "rnn-apps: computing the test metrics ... 2/2 batches",
        "",
    ]
