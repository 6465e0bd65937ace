"""Every user error is one line, exit status 2, and loses nothing.

Bad text, bad paths, folders of the user's own files, damaged run files, settings that
cannot change on --resume, aliases used on the wrong run; and the command line fuzzed
with arbitrary argv and stdin bytes: the only failures allowed are one-line errors.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recipes.core.errors import UserError
from recipes.core.recipe import Recipe
from recipes.core.runs import load_run
from recipes.core.training import output_file, output_folder, save_figure, write_text_atomically
from rnn_apps.cli import main
from tests.sentiment_data import write_tsv

#: a tiny sentiment model, trained without XLA (compiling costs more than its epoch trains)
TINY = [
    *("--set", "units=4", "--set", "embedding_dim=4", "--set", "max_length=10"),
    *("--set", "jit_compile=false", "--quiet"),
]


def rnn_apps(*args: str | bytes, stdin: bytes = b"", cwd=None) -> subprocess.CompletedProcess:
    """The command in a fresh process, as a user runs it (bytes arguments allowed)."""
    return subprocess.run(
        [sys.executable, "-m", "rnn_apps", *args],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        timeout=600,
    )


def one_error_line(stderr: str | bytes) -> str:
    text = stderr.decode() if isinstance(stderr, bytes) else stderr
    lines = text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnn-apps: error: "), text
    return lines[0]


def fails(capsys, *args: str) -> str:
    """``main(args)`` in this process: exit status 2 and the one line it printed."""
    assert main(list(args)) == 2
    return one_error_line(capsys.readouterr().err)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny sentiment run, trained from a relative --data path in its own folder."""
    root = tmp_path_factory.mktemp("errors")
    write_tsv(root / "reviews.tsv", n=48)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        args = ["fit", "sentiment", "--data", "reviews.tsv", *TINY, "--epochs", "1"]
        assert main([*args, "--out", "run"]) == 0
    finally:
        os.chdir(cwd)
    return root / "run"


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# -- text that is not UTF-8 ----------------------------------------------------------------
def test_non_utf8_stdin_names_the_line_and_byte(run):
    result = rnn_apps("predict", str(run), stdin=b"fine film\nbad \xff plot\n")
    assert result.returncode == 2 and result.stdout == b""
    line = one_error_line(result.stderr)
    assert "Line 2 of stdin is not UTF-8 text (byte 0xff at offset 4)" in line


def test_non_utf8_argument_names_the_input_and_byte(run):
    result = rnn_apps(b"predict", str(run).encode(), b"ok", b"caf\xe9")
    assert result.returncode == 2
    assert "Input 2 is not UTF-8 text (byte 0xe9 at offset 3)" in one_error_line(result.stderr)


def test_utf8_text_of_any_script_is_read(run, capsys, monkeypatch):
    text = "très bien 👍\r\n\n日本語の映画\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    assert main(["predict", str(run)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == ["très bien 👍", "日本語の映画"]


def test_non_utf8_setting_is_refused(tmp_path, capsys):
    line = fails(capsys, "fit", "sentiment", "--set", os.fsdecode(b"cell=\xffgru"))
    assert "--set" in line and "is not UTF-8 text (byte 0xff" in line


# -- output paths ---------------------------------------------------------------------------
def test_output_paths_that_cannot_be_written(run, tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    folder = tmp_path / "plots"
    folder.mkdir()
    cases = [
        (["fit", "sentiment", "--out", str(a_file)], "is a file, not a folder"),
        (["fit", "sentiment", "--out", str(a_file / "run")], "sits under a file"),
        (["export", str(run), "--out", str(a_file)], "is a file"),
        (["export", str(run), "--out", str(a_file / "e")], "sits under a file"),
        (["predict", str(run), "x", "--out", str(a_file)], "is a file, not a folder"),
        (["predict", str(run), "x", "--plot", str(folder)], "is a folder; give a file name"),
        (["predict", str(run), "x", "--plot", str(tmp_path / "p.jpg")], "ending in .png"),
        (["predict", str(run), "x", "--chime", str(a_file / "c.wav")], "sits under a file"),
        (["predict", str(run), "x", "--chime", str(tmp_path / "c.mp3")], "ending in .wav"),
    ]
    for args, message in cases:
        line = fails(capsys, *args)
        assert message in line, (args, line)
    assert a_file.read_text() == "mine\n" and list(folder.iterdir()) == []
    assert not (tmp_path / "plots.png").exists()  # a folder given to --plot got no sibling


def test_unwritable_folder_is_one_line(tmp_path):
    # /proc refuses new folders even to root, so this holds for any user
    with pytest.raises(UserError, match=r"--out /proc/sys/x: /proc/sys is not writable"):
        output_folder("/proc/sys", "--out", given="/proc/sys/x")
    with pytest.raises(UserError, match=r"--out /proc/sys/x: cannot make the folder"):
        output_folder("/proc/sys/x", "--out")
    assert output_file(tmp_path / "new" / "p.PNG", "--plot", ".png").parent.is_dir()


def test_fit_refuses_a_folder_of_the_users_files(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.toml").write_text("my = 'own'\n")
    (mine / "labels.json").write_text("[1, 2]\n")
    before = files_of(mine)
    data = write_tsv(tmp_path / "r.tsv", n=24)
    line = fails(capsys, "fit", "sentiment", "--data", str(data), *TINY, "--out", str(mine))
    assert "is a folder of other files (not an rnn-apps run)" in line
    assert files_of(mine) == before


def test_run_files_are_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text("units = 4\n")

    def dies_half_way(self, text, *args, **kwargs):
        self.open("w").write(text[:3])
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        write_text_atomically(path, "units = 64\n")
    monkeypatch.undo()
    assert path.read_text() == "units = 4\n"
    write_text_atomically(path, "units = 64\n")
    assert path.read_text() == "units = 64\n" and [p.name for p in tmp_path.iterdir()] == [
        "config.toml"
    ]


def test_plots_are_written_atomically(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = tmp_path / "training.png"
    path.write_bytes(b"old image")
    fig = plt.figure()

    def dies_half_way(target, **kwargs):
        Path(target).write_bytes(b"\x89PNG half")
        raise KeyboardInterrupt

    fig.savefig = dies_half_way
    with pytest.raises(KeyboardInterrupt):
        save_figure(fig, path)
    assert path.read_bytes() == b"old image" and [p.name for p in tmp_path.iterdir()] == [
        "training.png"
    ]
    save_figure(plt.figure(), path)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_a_failed_export_leaves_no_folder(run, tmp_path, monkeypatch):
    app = load_run(run)

    def fails_midway(self, export_dir):
        (export_dir / "saved_model.pb").write_bytes(b"half")
        raise RuntimeError("killed")

    monkeypatch.setattr(Recipe, "write_export", fails_midway)
    with pytest.raises(RuntimeError):
        app.export(tmp_path / "exported")
    assert list(tmp_path.iterdir()) == []


# -- resume -----------------------------------------------------------------------------------
def test_resume_applies_training_settings_and_refuses_the_others(run, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    config = (copy / "config.toml").read_text()
    line = fails(capsys, "fit", "sentiment", "--out", str(copy), "--resume", "--set", "units=5")
    assert "Config key 'units' cannot change when resuming" in line and "learning_rate" in line
    assert (copy / "config.toml").read_text() == config
    assert json.loads((copy / "state.json").read_text())["epochs_done"] == 1

    args = ["fit", "sentiment", "--out", str(copy), "--resume", "--epochs", "2", "--quiet"]
    assert main([*args, "--set", "learning_rate=0.0123", "--set", "units=4"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["epochs_done"] == 2
    assert "resume: learning_rate = 0.0123 (was 0.002)" in captured.err
    assert "learning_rate = 0.0123" in (copy / "config.toml").read_text()
    last = keras.saving.load_model(copy / "checkpoints" / "last.keras")
    assert float(last.optimizer.learning_rate.numpy()) == pytest.approx(0.0123)


def test_resume_of_a_schedule_refuses_a_new_rate(run):
    """A learning rate that follows a saved schedule cannot be set: one line, no change."""
    app = load_run(run)
    app.model.optimizer._learning_rate = keras.optimizers.schedules.CosineDecay(1e-3, 10)
    with pytest.raises(UserError, match="follows a schedule saved with the model"):
        app._set_learning_rate(0.1)


# -- data paths and moved runs ----------------------------------------------------------------
def test_relative_data_is_stored_resolved_and_the_run_can_move(run, tmp_path, capsys):
    stored = (run / "config.toml").read_text()
    assert f'data = "{run.parent / "reviews.tsv"}"' in stored
    moved = tmp_path / "moved"
    shutil.copytree(run, moved)
    os.chdir(tmp_path)  # another working folder (pytest restores it)
    assert main(["evaluate", "moved", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"accuracy", "macro_f1", "loss"}


# -- damaged run files ------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["empty", "truncated", "missing"])
def test_a_damaged_model_file_is_one_line(run, tmp_path, capsys, damage):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    model = copy / "model.keras"
    if damage == "empty":
        model.write_bytes(b"")
    elif damage == "truncated":
        model.write_bytes(model.read_bytes()[:200])
    else:
        model.unlink()
    line = fails(capsys, "predict", str(copy), "good")
    expected = {"empty": "is empty", "truncated": "is damaged", "missing": "holds no trained"}
    assert expected[damage] in line and "model.keras" in line
    checkpoint = copy / "checkpoints" / "last.keras"
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    line = fails(capsys, "fit", "sentiment", "--out", str(copy), "--resume", "--epochs", "3")
    assert "last.keras is damaged" in line or "holds no trained" in line or "is empty" in line


def test_a_run_folder_of_another_kind_is_one_line(tmp_path, capsys):
    (tmp_path / "run.json").write_text('{"recipe": "sentimnet"}')
    assert "Unknown recipe 'sentimnet'" in fails(capsys, "evaluate", str(tmp_path))
    (tmp_path / "run.json").write_text("[1]")
    assert "is not a run folder" in fails(capsys, "evaluate", str(tmp_path))


# -- aliases and flags --------------------------------------------------------------------------
def test_aliases_name_their_recipes(run, capsys):
    for alias in ("tag", "translate", "generate", "detect"):
        line = fails(capsys, alias, str(run), "good film")
        assert f"rnn-apps {alias} is for" in line and "is a sentiment run" in line
    assert main(["predict", "--debug", str(run), "good film"]) == 0  # --debug after the verb
    assert json.loads(capsys.readouterr().out)["text"] == "good film"


def test_debug_after_the_verb_shows_the_traceback(tmp_path):
    result = rnn_apps("evaluate", str(tmp_path / "none"), "--debug")
    assert result.returncode != 0 and b"Traceback" in result.stderr


def test_fit_prints_one_json_object_even_with_progress_bars(tmp_path):
    data = write_tsv(tmp_path / "r.tsv", n=24)
    args = [a for a in TINY if a != "--quiet"]
    result = rnn_apps("fit", "sentiment", "--data", str(data), *args, "--epochs", "1", "--out",
                      str(tmp_path / "run"))  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert json.loads(result.stdout)["epochs_done"] == 1  # the whole of stdout
    assert b"val_loss" in result.stderr  # the progress bar went to stderr


# -- fuzzing: arbitrary argv and stdin, only one-line errors -------------------------------------
def assert_handled(args: list[str], capsys, stdin: bytes = b"") -> None:
    capsys.readouterr()
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse: usage errors are status 2, --help/--version 0
        assert exit_.code in (0, 2), args
        capsys.readouterr()
        return
    finally:
        sys.stdin = sys.__stdin__
    err = capsys.readouterr().err
    assert code in (0, 2), (args, code, err)
    if code == 2:
        one_error_line(err)


TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.binary(max_size=8).map(os.fsdecode)
VERBS = ["fit", "evaluate", "predict", "generate", "translate", "tag", "detect", "export"]


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(verb=st.sampled_from(VERBS), words=st.lists(TEXT, max_size=4), stdin=st.binary(max_size=40))
def test_fuzzed_command_lines_fail_with_one_line(
    run, tmp_path, capsys, monkeypatch, verb, words, stdin
):
    monkeypatch.chdir(tmp_path)  # whatever the words name is made here
    if verb == "fit":  # a setting that passes the config stops at the missing data
        args = ["fit", "sentiment", "--data", str(tmp_path / "none.tsv")]
        args += [a for w in words for a in ("--set", w)]
    elif verb == "export":  # never into the shared run folder
        args = [verb, str(run), *words, "--out", str(tmp_path / "exported")]
    else:
        args = [verb, str(run), *words]
    assert_handled(args, capsys, stdin)


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(key=st.sampled_from(["units", "cell", "max_length", "learning_rate", "zz"]), value=TEXT)
def test_fuzzed_settings_fail_with_one_line(tmp_path, capsys, key, value):
    args = ["fit", "sentiment", "--data", str(tmp_path / "none.tsv"), "--set", f"{key}={value}"]
    assert_handled(args, capsys)


def test_an_op_tf2onnx_leaves_unconverted_is_refused_naming_it(tmp_path):
    """tf2onnx keeps an op it cannot convert (here inside a loop) and only warns; the
    export refuses it in one line naming the op, and leaves no model file."""
    import tensorflow as tf

    from recipes.core import onnx

    signature = [tf.TensorSpec([None], tf.float32, name="x")]

    @tf.function(input_signature=signature)
    def noisy(x):
        def body(i, total):
            return i + 1, total + tf.random.stateless_uniform(tf.shape(x), [1, i])

        return {"y": tf.while_loop(lambda i, total: i < 3, body, (0, x))[1]}

    with pytest.raises(UserError) as refused:
        onnx.convert(noisy, signature, tmp_path / "model.onnx")
    assert str(refused.value) == (
        "tf2onnx could not convert the model (no ONNX operator for "
        "StatelessRandomGetKeyCounter, StatelessRandomUniformV2); export a SavedModel "
        "instead (--format saved_model)."
    )
    assert not (tmp_path / "model.onnx").exists()
