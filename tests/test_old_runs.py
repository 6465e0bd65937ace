"""Run folders saved by earlier versions keep working: each recipe's run of rnn-apps 0.1.0
(tests/fixtures/runs_0.1.0, see its README) is loaded by ``rnn-apps predict`` in a fresh
process and must print what 0.1.0 printed for the same inputs."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.journey import RECIPES, REQUIRES, Journey, rnn_apps

FIXTURES = Path(__file__).parent / "fixtures" / "runs_0.1.0"
#: the recipes that version 0.1.0 had (the forecaster came later)
OLD_RECIPES = tuple(r for r in RECIPES if r != "forecaster")


def same(actual, expected, path: str = "") -> None:
    """``actual`` equals ``expected``; floats within 1e-5 (another machine's round-off)."""
    if isinstance(expected, float) and isinstance(actual, (int, float)):
        assert math.isclose(actual, expected, abs_tol=1e-5), f"{path}: {actual} != {expected}"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and sorted(actual) == sorted(expected), (
            f"{path}: keys {sorted(actual)} != {sorted(expected)}"
        )
        for key in expected:
            same(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            same(a, e, f"{path}[{i}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


@pytest.mark.parametrize("recipe", OLD_RECIPES)
def test_a_run_of_version_0_1_0_predicts_as_it_did(recipe, tmp_path):
    if recipe in REQUIRES:
        pytest.importorskip(REQUIRES[recipe])  # an optional extra (music, speech)
    run = tmp_path / recipe
    shutil.copytree(FIXTURES / recipe, run)
    expected = json.loads((run / "expected.json").read_text(encoding="utf-8"))
    journey = Journey(recipe, run)
    journey.run_step(
        "predict", rnn_apps(expected["verb"], run, *expected["inputs"], *expected["options"])
    )
    same(journey.json_lines("predict"), expected["stdout"], recipe)
    # the run folder is only read
    for path in (FIXTURES / recipe).iterdir():
        assert (run / path.name).read_bytes() == path.read_bytes(), path.name


def test_the_trigger_word_run_of_0_1_0_gives_its_probabilities_and_threshold():
    from recipes import load_run
    from recipes.trigger_word import audio

    folder = FIXTURES / "trigger_word"
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    recipe = load_run(folder)
    probabilities = recipe.probabilities(audio.read_wav(folder / "listen.wav"))
    np.testing.assert_allclose(probabilities, expected["probabilities"], atol=1e-5)
    assert recipe.threshold() == expected["threshold"]
