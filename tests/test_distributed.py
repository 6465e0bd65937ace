"""Multi-worker training, the way users run it: ``rnn-apps fit ... --workers N`` starts N
worker processes (MultiWorkerMirroredStrategy, TF_CONFIG on 127.0.0.1), each command in
a fresh process, every one bounded in time; the run folders are read back by Keras
itself."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from recipes.core.distributed import Task, task_from_env
from recipes.core.errors import UserError
from tests.journey import SETTINGS, rnn_apps, set_arguments
from tests.sentiment_data import write_tsv

#: seconds any one command may take (two workers start TensorFlow on 2 cores)
TIMEOUT = 300
#: the journey's tiny sentiment model without dropout: one process and two workers then
#: draw no random masks, and their runs can be compared
SENTIMENT = {**SETTINGS["sentiment"], "dropout": 0.0, "word_dropout": 0.0}


def _env(tmp: Path) -> dict[str, str]:
    # the workers' temporary folders go here, to be checked for leftovers
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TMPDIR": str(tmp)}


def _fit(root: Path, *args, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(
        rnn_apps("fit", *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=root,
        env=_env(root / "tmp"),
    )


def _history(run: Path) -> dict[str, list[float]]:
    return json.loads((run / "state.json").read_text())["history"]


def _weights(path: Path) -> list[np.ndarray]:
    import recipes.sentiment.layers  # noqa: F401 (its layers, for Keras to load the model)

    return keras.saving.load_model(path).get_weights()


@pytest.fixture(scope="module")
def sentiment(tmp_path_factory):
    """One run of one process and one of two workers, same data, settings and global
    batch: (root, the data, the one-process run, the two-worker run, its output)."""
    root = tmp_path_factory.mktemp("distributed")
    (root / "tmp").mkdir()
    data = write_tsv(root / "reviews.tsv", n=96)
    args = ["sentiment", "--data", data, "--epochs", "2", *set_arguments(SENTIMENT)]
    single = _fit(root, *args, "--out", "single", "--quiet")
    assert single.returncode == 0, single.stderr
    two = _fit(root, *args, "--out", "two", "--workers", "2")
    assert two.returncode == 0, two.stderr
    return root, data, root / "single", root / "two", two


def test_two_workers_train_like_one_process(sentiment):
    root, _, single, two, result = sentiment
    assert "started 2 workers on 127.0.0.1:" in result.stderr
    assert json.loads(result.stdout)["epochs_done"] == 2  # the chief's result, once
    # the same global batch split over two workers: the same losses and weights, up to
    # the order of float sums (Adam magnifies it in the weights a little)
    one, both = _history(single), _history(two)
    assert set(one) == set(both)
    for key in one:  # (an accuracy may differ by an example: 10 validate)
        close = {"rtol": 0.01} if key.endswith("loss") else {"atol": 0.11}
        np.testing.assert_allclose(both[key], one[key], **close, err_msg=key)
    ours = np.concatenate([w.ravel() for w in _weights(two / "model.keras")])
    theirs = np.concatenate([w.ravel() for w in _weights(single / "model.keras")])
    assert np.linalg.norm(ours - theirs) < 0.01 * np.linalg.norm(theirs)
    # only the chief wrote a run folder, the same as one process writes; the other
    # worker's temporary folder is gone
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in single.iterdir())
    assert list((root / "tmp").iterdir()) == []
    config = (two / "config.toml").read_text()
    assert 'distribution = "multi_worker"' in config


def test_the_same_command_continues_an_interrupted_run(sentiment):
    """A cluster restarts its workers with the command they had: the run continues from
    its last complete epoch; a changed setting that built the model is refused."""
    root, data, _, two, _ = sentiment
    run = root / "interrupted"
    shutil.copytree(two, run)
    (run / "metrics.json").unlink()  # as a run stopped after its second epoch leaves it
    args = ["sentiment", "--data", data, "--out", run, "--workers", "2", "--quiet"]
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    refused = _fit(root, *args, "--epochs", "3", *set_arguments({**SENTIMENT, "units": 9}))
    assert refused.returncode == 2
    assert [line for line in refused.stderr.splitlines() if "error" in line] == [
        f"rnn-apps: error: Config key 'units' cannot change when resuming {run} (it was 8 "
        "when the model was built); only epochs, patience, learning_rate, max_minutes, "
        "distribution can, or start a new run."
    ]
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    done = _fit(root, *args, "--epochs", "3", *set_arguments(SENTIMENT))
    assert done.returncode == 0, done.stderr
    assert "continuing the interrupted run" in done.stderr
    assert len(_history(run)["loss"]) == 3
    assert json.loads(done.stdout)["epochs_done"] == 3


def test_a_killed_worker_is_restarted_and_the_run_completes(tmp_path):
    """Worker 1 is SIGKILLed in the second epoch, after the first epoch's checkpoint;
    the launcher restarts both workers, which go on from that checkpoint."""
    (tmp_path / "tmp").mkdir()
    data = write_tsv(tmp_path / "reviews.tsv", n=600)  # epochs long enough to kill in
    run = tmp_path / "run"
    settings = set_arguments({**SETTINGS["sentiment"], "patience": 0})
    command = rnn_apps(
        "fit", "sentiment", "--data", data, "--epochs", "4", *settings, "--out", run,
        "--workers", "2", "--restarts", "1",
    )  # fmt: skip
    launcher = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_env(tmp_path / "tmp"),
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(launcher.stderr), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        state = run / "state.json"
        while not (state.exists() and json.loads(state.read_text())["epochs_done"] >= 1):
            assert time.monotonic() < deadline and launcher.poll() is None, "".join(lines)
            time.sleep(0.05)
        started = next(line for line in lines if "started 2 workers" in line)
        worker = int(started.split("(pids ")[1].split(",")[1].split(")")[0])
        os.kill(worker, signal.SIGKILL)
        # what the run folder holds now is whole: the checkpoint of epoch 1
        assert zipfile.ZipFile(run / "checkpoints" / "last.keras").testzip() is None
        steps = int(
            keras.saving.load_model(run / "checkpoints" / "last.keras").optimizer.iterations
        )
        stdout, rest = launcher.communicate(timeout=TIMEOUT)  # (rest: what the reader left)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    reader.join(timeout=10)
    log = "".join(lines) + (rest or "")
    assert launcher.returncode == 0, log
    assert "worker 1 was killed by SIGKILL; the run folder keeps epoch 1" in log, log
    assert "restarting the 2 workers (restart 1 of 1)" in log
    assert "continuing the interrupted run" in log
    history = _history(run)
    assert [len(v) for v in history.values()] == [4] * len(history)
    assert json.loads(stdout)["epochs_done"] == 4
    # the restart went on from the checkpoint's weights and optimizer state: four epochs
    # of steps in all, not three (a fresh optimizer) and no epoch twice
    assert steps > 0
    final = keras.saving.load_model(run / "checkpoints" / "last.keras")
    assert int(final.optimizer.iterations) == 4 * steps
    assert len(set(history["loss"])) == 4
    assert list((tmp_path / "tmp").iterdir()) == []


def test_char_text_trains_on_two_workers_under_a_time_budget(tmp_path):
    """The cosine schedule over a time budget follows the chief's clock on both workers;
    the run folder is then read by the text generator in another process."""
    (tmp_path / "tmp").mkdir()
    from tests.test_charlm import pattern_text

    data = tmp_path / "counting.txt"
    data.write_text(pattern_text())
    settings = {**SETTINGS["char_text"], "max_minutes": 3.0, "schedule": "cosine"}
    result = _fit(
        tmp_path, "char_text", "--data", data, "--epochs", "2", *set_arguments(settings),
        "--out", "run", "--workers", "2", "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    history = _history(tmp_path / "run")
    assert len(history["loss"]) == 2
    rates = history["learning_rate"]
    assert rates[0] > rates[1] > 0  # annealing, the chief's rate on every worker
    assert math.isfinite(json.loads(result.stdout)["val_bits_per_char"])
    generated = subprocess.run(
        rnn_apps("generate", tmp_path / "run", "one", "--length", "20", "--seed", "1"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=_env(tmp_path / "tmp"),
    )
    assert generated.returncode == 0, generated.stderr
    assert json.loads(generated.stdout.splitlines()[0])["text"].startswith("one")
    assert list((tmp_path / "tmp").iterdir()) == []


def test_early_stopping_is_the_chiefs_decision_and_every_worker_follows(tmp_path):
    """Labels of noise: validation stops improving, the chief stops the run early, and
    the other worker stops with it (the command ends: no worker waits in a collective)."""
    (tmp_path / "tmp").mkdir()
    rng = np.random.default_rng(0)
    rows = [f"word{rng.integers(50)} word{rng.integers(50)}\t{rng.integers(2)}" for _ in range(80)]
    (tmp_path / "noise.tsv").write_text("\n".join(rows) + "\n")
    settings = set_arguments({**SETTINGS["sentiment"], "patience": 1})
    result = _fit(
        tmp_path, "sentiment", "--data", "noise.tsv", "--epochs", "12", *settings,
        "--out", "run", "--workers", "2", "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["epochs_done"] < 12
    assert metrics["best_epoch"] == metrics["epochs_done"] - 1
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_failure_while_starting_stops_every_worker_with_one_line(tmp_path):
    (tmp_path / "tmp").mkdir()
    missing = tmp_path / "missing.tsv"
    started = time.monotonic()
    result = _fit(tmp_path, "sentiment", "--data", missing, "--out", "run", "--workers", "2")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("rnn-apps: error")]
    assert errors == [
        f"rnn-apps: error: Data path {missing} does not exist; give a file, a folder or tfds:NAME."
    ]
    assert time.monotonic() - started < 120  # no worker waited for the others in vain
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


@pytest.mark.parametrize(
    "args, message",
    [
        (["--workers", "0"], "--workers 0: give 1 or more worker processes."),
        (["--workers", "2", "--restarts", "-1"], "--restarts -1: give 0 or more restarts."),
        (["--restarts", "2"], "--restarts applies to --workers N (local worker processes)."),
    ],
)
def test_launcher_arguments_are_checked(tmp_path, args, message):
    result = _fit(tmp_path, "sentiment", *args, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"rnn-apps: error: {message}"]


def test_tf_config_gives_each_worker_its_rank():
    def task(cluster, kind, index):
        config = {"cluster": cluster, "task": {"type": kind, "index": index}}
        return task_from_env({"TF_CONFIG": json.dumps(config)})

    workers = {"worker": ["a:1", "b:2", "c:3"]}
    assert task_from_env({}) == Task(0, 1)
    assert [task(workers, "worker", i) for i in range(3)] == [Task(r, 3) for r in range(3)]
    assert task(workers, "worker", 0).is_chief and not task(workers, "worker", 2).is_chief
    with_chief = {"chief": ["a:1"], "worker": ["b:2", "c:3"]}
    assert task(with_chief, "chief", 0) == Task(0, 3)
    assert task(with_chief, "worker", 0) == Task(1, 3)
    for bad, says in [
        ("{not json", "TF_CONFIG is not a cluster description"),
        (json.dumps({"cluster": workers}), "TF_CONFIG is not a cluster description"),
        (json.dumps({"cluster": workers, "task": {"type": "ps", "index": 0}}), "type 'ps'"),
        (json.dumps({"cluster": workers, "task": {"type": "worker", "index": 3}}), "not in"),
    ]:
        with pytest.raises(UserError, match=says):
            task_from_env({"TF_CONFIG": bad})


def test_the_launcher_needs_no_tensorflow(tmp_path):
    """``--workers`` only starts processes: the launcher itself never imports TensorFlow
    (its workers do)."""
    code = (
        "import sys; from rnn_apps.cli import main; "
        "rc = main(['fit', 'sentiment', '--workers', '0']); "
        "print(rc, 'tensorflow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["2", "False"], done.stderr
