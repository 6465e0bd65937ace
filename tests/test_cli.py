"""The rnn-apps command line: verbs, JSON output, one-line errors with exit status 2."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rnn_apps import __version__
from rnn_apps.cli import main
from tests.sentiment_data import write_tsv

#: a tiny sentiment model, trained without XLA (compiling costs more than its epochs train)
FAST = [
    *("--set", "units=8", "--set", "embedding_dim=8", "--set", "max_length=10"),
    *("--set", "jit_compile=false", "--quiet"),
]


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"rnn-apps {__version__}"
    assert __version__ != "0.0.0+unknown"


def test_help_without_arguments(capsys):
    assert main([]) == 0
    assert "usage: rnn-apps" in capsys.readouterr().out


def test_recipes(capsys):
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    assert "sentiment" in out and "tfds:imdb_reviews" in out


def test_life_cycle(tmp_path, capsys, monkeypatch):
    data = write_tsv(tmp_path / "reviews.tsv", n=96)
    config = tmp_path / "c.toml"
    config.write_text("batch_size = 16\nunits = 4\n")
    run = tmp_path / "run"
    assert (
        main(
            [
                "fit",
                "sentiment",
                "--data",
                str(data),
                "--config",
                str(config),
                *FAST,
                "--epochs",
                "2",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    fitted = json.loads(capsys.readouterr().out)
    assert fitted["run"] == str(run) and fitted["epochs_done"] == 2
    assert "units = 8" in (run / "config.toml").read_text()  # --set wins over --config

    assert (
        main(["fit", "sentiment", "--out", str(run), "--resume", "--epochs", "3", "--quiet"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["epochs_done"] == 3

    assert main(["evaluate", str(run), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"accuracy", "macro_f1", "loss"}
    assert main(["evaluate", str(run), "--data", str(data)]) == 0
    assert "accuracy: " in capsys.readouterr().out

    assert main(["predict", str(run), "great superb", "awful poor"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text"] for line in lines] == ["great superb", "awful poor"]
    assert all(set(line) == {"text", "label", "probabilities"} for line in lines)

    stdin = io.TextIOWrapper(io.BytesIO(b"fine film\n\nbad plot\r\n"))
    monkeypatch.setattr("sys.stdin", stdin)
    assert main(["predict", str(run)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2

    assert main(["export", str(run), "--out", str(tmp_path / "exported")]) == 0
    assert (tmp_path / "exported" / "saved_model.pb").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["fit", "sentimnet"], "Unknown recipe 'sentimnet' (did you mean 'sentiment'?)"),
        (
            ["fit", "sentiment", "--set", "unitz=3"],
            "Unknown config key 'unitz' (did you mean 'units'?)",
        ),
        (["fit", "sentiment", "--data", "/no/such.tsv"], "Data path /no/such.tsv does not exist"),
        (
            ["fit", "sentiment", "--config", "/no/such.toml"],
            "Config file /no/such.toml does not exist",
        ),
        (["fit", "sentiment", "--resume"], "--resume needs --out"),
        (["evaluate", "/no/run"], "Run folder /no/run does not exist"),
        (["predict", "/tmp", "x"], "/tmp is not a run folder"),
    ],
)
def test_user_errors_are_one_line_with_status_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("rnn-apps: error: ")


def test_malformed_file_error_names_the_line(tmp_path, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("good\t1\nbad\t0\textra\n")
    assert main(["fit", "sentiment", "--data", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert f"{bad}, line 2: expected 2 columns, found 3" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_console_script_prints_only_the_error_line(tmp_path):
    """The installed command, in a fresh process: no TensorFlow start-up noise."""
    result = subprocess.run(
        [sys.executable, "-m", "rnn_apps", "fit", "sentiment", "--data", str(tmp_path / "x.tsv")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"rnn-apps: error: Data path {tmp_path / 'x.tsv'} does not exist; "
        "give a file, a folder or tfds:NAME."
    ]
    debug = subprocess.run(
        [
            sys.executable,
            "-m",
            "rnn_apps",
            "--debug",
            "fit",
            "sentiment",
            "--data",
            str(tmp_path / "x.tsv"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_unknown_option_fails_with_usage():
    result = subprocess.run(
        [sys.executable, "-m", "rnn_apps", "--frobnicate"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "unrecognized arguments: --frobnicate" in result.stderr


def test_char_text_fit_and_generate(tmp_path, capsys):
    from tests.test_charlm import pattern_text

    data = tmp_path / "t.txt"
    data.write_text(pattern_text(60))
    run = tmp_path / "run"
    tiny = ["--set", "units=8", "--set", "window=16", "--set", "embedding_dim=4", "--quiet"]
    assert (
        main(["fit", "char_text", "--data", str(data), *tiny, "--epochs", "1", "--out", str(run)])
        == 0
    )
    assert "val_bits_per_char" in json.loads(capsys.readouterr().out)
    args = ["generate", str(run), "one", "two", "--samples", "2", "--length", "12", "--seed", "4"]
    assert main([*args, "--top-k", "3", "--out", str(tmp_path / "samples")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["prime"] for r in lines] == ["one", "one", "two", "two"]
    assert all(len(r["text"]) == len(r["prime"]) + 12 and r["seed"] == 4 for r in lines)
    assert (tmp_path / "samples" / "sample_004.txt").read_text() == lines[3]["text"]
    assert main(["predict", str(run), "--length", "5", "--seed", "4"]) == 0  # no prime, no stdin
    assert len(capsys.readouterr().out.splitlines()) == 1
    assert main(["evaluate", str(run), "--json"]) == 0  # no test split: validation
    assert set(json.loads(capsys.readouterr().out)) == {"bits_per_char"}


def test_generator_options_do_not_apply_to_a_classifier(capsys):
    """A sentiment run (the one of tests/fixtures/runs_0.1.0: predict only reads it)."""
    run = Path(__file__).parent / "fixtures" / "runs_0.1.0" / "sentiment"
    assert main(["predict", str(run), "great", "--temperature", "0.5"]) == 2
    assert "--temperature does not apply to the sentiment recipe" in capsys.readouterr().err
