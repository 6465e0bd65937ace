"""Journeys: each recipe driven the way a new user drives it, one command per process.

``rnn-apps fit`` on tiny data, ``evaluate --json``, ``predict`` (or its alias) on raw
inputs, ``export``; then clients that this package did not write: ``saved_model_cli`` and
a fresh Python that imports only TensorFlow (the SavedModel's serving_default and the
trigger word's TFLite streaming step), and music21 for the tunes. What they return must be
what ``rnn-apps predict`` printed. Last, ``fit --resume`` on a copy of the run and the
export of the resumed run. The commands run once per session (the ``tiny_runs`` fixture,
tests/journey.py); these tests read what each command did.
"""

from __future__ import annotations

import base64
import json
import math
import re
import urllib.error
import urllib.request

import numpy as np
import pytest

from tests.journey import (
    ONNX,
    OURS,
    RECIPES,
    SAMPLING,
    TEXT_INPUT,
    TFLITE,
    WHOLE_TUNE,
    forecaster_instances,
    load_npy_outputs,
)
from tests.serving import serving
from tests.test_old_runs import same

ATOL = 1e-5

#: what each evaluate --json reports (README, "The command line")
METRICS = {
    "sentiment": {"accuracy", "macro_f1", "loss"},
    "char_text": {"bits_per_char", "adapted_bits_per_char"},  # adapt_rate is set
    "char_music": {"bits_per_char"},
    "translator": {"bleu", "chrf", "exact_match"},
    "ner": {"precision", "recall", "f1"},
    "trigger_word": {"miss_rate", "false_accepts_per_hour", "frame_precision", "frame_recall"},
    "forecaster": {"mase", "smape", "mae", "quantile_loss", "coverage", "ets_mase", "arima_mase"},
}
#: the keys of each predict line
PREDICTION_KEYS = {
    "sentiment": {"text", "label", "probabilities"},
    "char_text": {"prime", "seed", "text"},
    "char_music": {"prime", "seed", "text", "parses", "headers"},
    "translator": {"source", "translation"},
    "ner": {"text", "tokens", "tags", "entities"},
    "trigger_word": {"file", "seconds", "detections"},
    "forecaster": {"file", "series", "timestamps", "forecast", "quantiles"},
}
#: the key of each predict line that echoes its input
ECHO = {
    "sentiment": "text",
    "char_text": "prime",
    "char_music": "prime",
    "translator": "source",
    "ner": "text",
    "trigger_word": "file",
    "forecaster": "file",
}
GENERATOR_INPUTS = {
    "prime": "DT_STRING",
    "length": "DT_INT32",
    "temperature": "DT_FLOAT",
    "top_k": "DT_INT32",
    "top_p": "DT_FLOAT",
    "seed": "DT_INT64",
}
#: serving_default's raw inputs (name: dtype) and its outputs (README, "The command line")
SERVING = {
    "sentiment": ({"text": "DT_STRING"}, {"label", "probabilities", "labels"}),
    "char_text": (GENERATOR_INPUTS, {"text"}),
    "char_music": (GENERATOR_INPUTS, {"text"}),
    "translator": ({"text": "DT_STRING"}, {"translation"}),
    "ner": (
        {"sentence": "DT_STRING"},
        {"tokens", "tags", "entity_type", "entity_start", "entity_end", "entity_text"},
    ),
    "trigger_word": (
        {"waveform": "DT_FLOAT"},
        {"probabilities", "detection_time", "detection_score"},
    ),
    "forecaster": (
        {
            "values": "DT_FLOAT",
            "series": "DT_STRING",
            "last_time": "DT_STRING",
            "covariates": "DT_FLOAT",
        },
        {"forecast", "lower", "upper", "quantiles", "timestamps"},
    ),
}
#: the signatures besides serving_default
OTHER_SIGNATURES = {
    "char_text": {"generate"},
    "char_music": {"generate"},
    "translator": {"translate"},
    "trigger_word": {"stream_step", "wav"},
}

recipes = pytest.mark.parametrize("recipe", RECIPES)


def journey_of(tiny_runs, recipe):
    journey = tiny_runs[recipe]
    if journey.skipped:
        pytest.skip(f"{recipe} journey: {journey.skipped}")
    return journey


def predictions(journey) -> list[dict]:
    """predict's lines, one per input (the music generator's last line is its parse rate)."""
    lines = journey.json_lines("predict")
    if journey.recipe == "char_music":
        assert lines and list(lines[-1]) == ["parse_rate"], lines[-1:]
        lines = lines[:-1]
    assert len(lines) == len(journey.inputs), journey.step("predict").stdout
    return lines


def single_texts(outputs) -> list[str]:
    """The text of each of the generator's batch-1 outputs."""
    assert all(len(out["text"]) == 1 for out in outputs), outputs
    return [out["text"][0] for out in outputs]


def assert_serves_like_predict(recipe, outputs, lines, what):
    """``outputs`` of serving_default (batch of every input, or a list of batch-1 outputs
    for the generators) hold what ``rnn-apps predict`` printed as ``lines``."""
    if recipe == "sentiment":
        assert outputs["label"] == [line["label"] for line in lines], what
        expected = [list(line["probabilities"].values()) for line in lines]
        np.testing.assert_allclose(outputs["probabilities"], expected, atol=ATOL, err_msg=what)
        for line, names in zip(lines, outputs["labels"], strict=True):
            # the columns are the labels in the CLI's order, and the export names them
            assert list(names) == list(line["probabilities"]), (what, names, line)
            assert line["label"] == names[int(np.argmax(list(line["probabilities"].values())))]
    elif recipe == "translator":
        assert outputs["translation"] == [line["translation"] for line in lines], what
    elif recipe == "ner":
        for tokens, tags, line in zip(outputs["tokens"], outputs["tags"], lines, strict=True):
            n = len(line["tokens"])
            assert tokens[:n] == line["tokens"] and not any(tokens[n:]), (what, tokens, line)
            assert tags[:n] == line["tags"], (what, tags, line)
        columns = [outputs[f"entity_{k}"] for k in ("type", "start", "end", "text")]
        spans = zip(*columns, strict=True)
        for row, line in zip(spans, lines, strict=True):
            served = [
                {"type": t, "start": int(s), "end": int(e), "text": x}
                for t, s, e, x in zip(*row, strict=True)
                if s >= 0
            ]
            assert served == line["entities"], (what, served, line)
    elif recipe == "forecaster":
        for name, key in (("forecast", "0.5"), ("lower", "0.1"), ("upper", "0.9")):
            expected = [line["quantiles"][key] for line in lines]
            np.testing.assert_allclose(outputs[name], expected, atol=1e-4, err_msg=what)
        assert [line["forecast"] for line in lines] == [line["quantiles"]["0.5"] for line in lines]
        stamps = [
            [t.decode() if isinstance(t, bytes) else t for t in row]
            for row in outputs["timestamps"]
        ]
        assert stamps == [line["timestamps"] for line in lines], what
    elif recipe == "char_text":
        assert single_texts(outputs) == [line["text"] for line in lines], what
    elif recipe == "char_music":
        for text, line in zip(single_texts(outputs), lines, strict=True):
            # the export's loop stops at the blank line that ends a tune, as generate does;
            # the command prints the tune with one final newline
            assert "\n\n" not in text.rstrip("\n"), (what, text)
            assert text.rstrip("\n") == line["text"].rstrip("\n"), (what, text, line["text"])
    else:
        raise AssertionError(f"no comparison for {recipe}")


# -- fit, evaluate, predict: the command line's own promises --------------------------------
@recipes
def test_fit_prints_one_json_object_and_writes_the_run(recipe, tiny_runs):
    journey = journey_of(tiny_runs, recipe)
    fitted = journey.json("fit")
    assert isinstance(fitted, dict) and fitted["run"] == str(journey.run), fitted
    assert fitted["epochs_done"] == 1 and fitted["best_epoch"] == 1, fitted
    headline = {f"val_{m}" for m in METRICS[recipe]} - {"val_loss"}
    assert headline <= set(fitted), (headline, fitted)
    for name in ("config.toml", "run.json", "model.keras", "metrics.json", "state.json"):
        assert (journey.run / name).is_file(), name
    assert json.loads((journey.run / "metrics.json").read_text()) == {
        k: v for k, v in fitted.items() if k != "run"
    }
    # the settings came from rnn-apps config's TOML (--config): the run holds them
    import tomllib

    from tests.journey import SETTINGS

    kept = tomllib.loads((journey.run / "config.toml").read_text(encoding="utf-8"))
    assert {k: kept[k] for k in SETTINGS[recipe]} == SETTINGS[recipe]


@recipes
def test_evaluate_json_is_one_object_of_metrics(recipe, tiny_runs):
    journey = journey_of(tiny_runs, recipe)
    metrics = journey.json("evaluate")
    assert isinstance(metrics, dict) and METRICS[recipe] <= set(metrics), metrics
    for key in METRICS[recipe]:
        value = metrics[key]
        assert isinstance(value, (int, float)) and math.isfinite(value), (key, value)
    if recipe == "ner":  # and the F1 of each entity type of the data
        assert {"f1_person", "f1_location"} <= set(metrics), metrics


@recipes
def test_predict_prints_a_json_line_per_input(recipe, tiny_runs):
    journey = journey_of(tiny_runs, recipe)
    lines = predictions(journey)
    for line, given in zip(lines, journey.inputs, strict=True):
        assert set(line) >= PREDICTION_KEYS[recipe], line
        assert line[ECHO[recipe]] == given, line
    if recipe in SAMPLING:
        seed, length = SAMPLING[recipe]["seed"], SAMPLING[recipe]["length"]
        assert all(
            line["seed"] == seed and line["text"].startswith(line["prime"]) for line in lines
        )
        if recipe == "char_text":  # every prime gets its `length` characters
            assert all(len(line["text"]) == len(line["prime"]) + length for line in lines)
    if recipe == "ner":
        for line in lines:
            assert len(line["tags"]) == len(line["tokens"]) == len(line["text"].split())
            assert all(re.fullmatch(r"O|[BI]-(person|location)", tag) for tag in line["tags"])


def test_detect_reads_the_wav_file(tiny_runs):
    """rnn-apps detect: one JSON line for the file, its length and detections whose
    scores are the probabilities the SavedModel gives at their frames."""
    journey = journey_of(tiny_runs, "trigger_word")
    (line,) = predictions(journey)
    assert line["file"] == str(journey.wav) and line["seconds"] == 2.37, line
    served = journey.json("clean python")["calls"]["export"]["probabilities"][0]
    for detection in line["detections"]:  # its time: the end of its 20 ms frame
        frame = round(detection["time"] / 0.02) - 1
        assert served[frame] == pytest.approx(detection["score"], abs=1e-3), detection


# -- the export, through clients this package did not write ------------------------------
@recipes
def test_saved_model_cli_shows_raw_inputs(recipe, tiny_runs):
    journey = journey_of(tiny_runs, recipe)
    shown = journey.step("saved_model_cli show").stdout
    blocks = dict(
        re.findall(
            r"signature_def\['(\w+)'\]:\n(.*?)(?=\nsignature_def|\nThe Meta)", shown, flags=re.S
        )
    )
    assert "serving_default" in blocks, shown[:3000]
    assert OTHER_SIGNATURES.get(recipe, set()) <= set(blocks), sorted(blocks)
    block = blocks["serving_default"]
    inputs_part, _, outputs_part = block.partition("following output(s)")
    tensors = r"(\w+)s\['(\w+)'\] tensor_info:\s+dtype: (\w+)"
    inputs = {name: dtype for _, name, dtype in re.findall(tensors, inputs_part)}
    outputs = {name for _, name, _ in re.findall(tensors, outputs_part)}
    expected_inputs, expected_outputs = SERVING[recipe]
    assert inputs == expected_inputs, block
    assert outputs == expected_outputs, block


@recipes
def test_saved_model_cli_run_gives_what_predict_printed(recipe, tiny_runs):
    journey = journey_of(tiny_runs, recipe)
    step = journey.step("saved_model_cli run")
    outputs = load_npy_outputs(journey.root / "saved_model_cli")
    assert set(outputs) == SERVING[recipe][1], (outputs, step.stdout)
    what = f"saved_model_cli run vs rnn-apps predict:\n{step.stdout[-2000:]}"
    lines = predictions(journey)
    if recipe == "trigger_word":
        served = journey.json("clean python")["calls"]["export"]["probabilities"]
        np.testing.assert_allclose(outputs["probabilities"], served, atol=ATOL, err_msg=what)
    elif recipe in SAMPLING:  # the first prime
        assert_serves_like_predict(recipe, [outputs], lines[:1], what)
    else:
        assert_serves_like_predict(recipe, outputs, lines, what)


@recipes
def test_clean_python_serves_like_predict(recipe, tiny_runs):
    """tf.saved_model.load in a Python that imports only TensorFlow and NumPy."""
    journey = journey_of(tiny_runs, recipe)
    clean = journey.json("clean python")
    assert clean["not_imported"] == list(OURS)
    assert {"serving_default", *OTHER_SIGNATURES.get(recipe, ())} <= set(
        clean["signatures"][str(journey.export)]
    )
    calls = clean["calls"]
    lines = predictions(journey)
    what = f"{recipe}: clean Python's serving_default vs rnn-apps predict"
    if recipe == "trigger_word":
        served = np.asarray(calls["export"]["probabilities"])
        assert served.shape == (1, int(2.37 * 16000) // 320), served.shape
        assert np.all((served >= 0) & (served <= 1))
    elif recipe in SAMPLING:
        outputs = [calls[f"export/{i}"] for i in range(len(journey.inputs))]
        assert_serves_like_predict(recipe, outputs, lines, what)
    else:
        assert_serves_like_predict(recipe, calls["export"], lines, what)


@pytest.fixture(scope="module")
def served_journeys(tiny_runs, tmp_path_factory):
    """One ``rnn-apps serve`` on the journeys' exports, each as ``RECIPE/1`` (a link to the
    export: TensorFlow Serving's version layout names the model): the URL and the journeys."""
    root = tmp_path_factory.mktemp("served-journeys")
    served = {}
    for recipe, journey in tiny_runs.items():  # the recipes the collected tests ask for
        if journey.skipped or not (journey.steps.get("export") and journey.steps["export"].ok):
            continue
        (root / recipe).mkdir()
        (root / recipe / "1").symlink_to(journey.export, target_is_directory=True)
        served[recipe] = journey
    if not served:
        pytest.skip("no journey exported a model")
    with serving([root / r for r in served], root / "serve.log", "--max-batch", "1") as url:
        yield url, served


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as err:
        pytest.fail(f"{url}: {err.code} {err.read().decode()[:2000]}")


def _requests(journey) -> list[dict]:
    """The request bodies of the journey's inputs (the clean Python's calls, over HTTP)."""
    recipe = journey.recipe
    if recipe in TEXT_INPUT:
        return [{"instances": journey.inputs}]
    if recipe in SAMPLING:
        return [{"inputs": {"prime": [p], **SAMPLING[recipe]}} for p in journey.inputs]
    if recipe == "forecaster":
        return [{"instances": forecaster_instances(journey)}]
    wav = base64.b64encode(journey.wav.read_bytes()).decode()
    return [{"signature_name": "wav", "instances": [{"b64": wav}]}]


@recipes
def test_serve_answers_what_predict_printed(recipe, served_journeys):
    """``rnn-apps serve`` on the journey's export: status, metadata, ``:predict`` (what the
    export gives) and ``:answer`` (predict's JSON lines, less the trigger word's file)."""
    url, served = served_journeys
    if recipe not in served:
        pytest.skip(f"{recipe}: no export to serve")
    journey = served[recipe]
    base = f"{url}/v1/models/{recipe}"
    with urllib.request.urlopen(base, timeout=30) as answer:
        (status,) = json.load(answer)["model_version_status"]
    assert status["state"] == "AVAILABLE" and status["version"] == "1", status
    with urllib.request.urlopen(f"{base}/metadata", timeout=30) as answer:
        meta = json.load(answer)
    defs = meta["metadata"]["signature_def"]["signature_def"]
    assert set(defs) == {"serving_default", *OTHER_SIGNATURES.get(recipe, ())}, sorted(defs)
    inputs, outputs = SERVING[recipe]
    assert {n: spec["dtype"] for n, spec in defs["serving_default"]["inputs"].items()} == inputs
    assert set(defs["serving_default"]["outputs"]) == outputs
    assert meta["rnn_apps"] == {"recipe": recipe}
    lines = predictions(journey)
    bodies = _requests(journey)
    what = f"{recipe}: rnn-apps serve vs rnn-apps predict"
    predicted = [_post(f"{base}:predict", body) for body in bodies]
    answered = [a for body in bodies for a in _post(f"{base}:answer", body)["answers"]]
    if recipe == "trigger_word":
        (row,) = predicted[0]["predictions"]
        clean = journey.json("clean python")["calls"]["export"]["probabilities"][0]
        np.testing.assert_allclose(row["probabilities"], clean, atol=ATOL, err_msg=what)
        (line,) = lines
        same(answered, [{k: v for k, v in line.items() if k != "file"}], what)
        return
    if recipe in SAMPLING:
        outputs = [{"text": p["outputs"]} for p in predicted]
    else:
        rows = predicted[0]["predictions"]
        outputs = (
            {k: [row[k] for row in rows] for k in rows[0]}
            if isinstance(rows[0], dict)
            else {next(iter(defs["serving_default"]["outputs"])): rows}
        )
    assert_serves_like_predict(recipe, outputs, lines, what)
    if recipe == "forecaster":  # the interval's ends by name, no file
        lines = [
            {
                "series": line["series"],
                "timestamps": line["timestamps"],
                **{k: line["quantiles"][q] for k, q in (("lower", "0.1"), ("upper", "0.9"))},
                "forecast": line["forecast"],
            }
            for line in lines
        ]
        for answer, line in zip(answered, lines, strict=True):
            assert answer["series"] == line["series"], (what, answer)
            assert answer["timestamps"] == line["timestamps"], (what, answer)
            for key in ("forecast", "lower", "upper"):
                np.testing.assert_allclose(answer[key], line[key], atol=1e-4, err_msg=what)
        return
    same(answered, lines, what)


#: the files of an ONNX or TFLite export, but the model
PORTABLE_FILES = {"preprocessing.json", "inference.py", "rnn_apps.json", "rnn_apps_runtime.py"}


@recipes
def test_onnx_export_predicts_like_predict_or_says_it_has_none(recipe, tiny_runs):
    """``export --format onnx`` in a fresh process; its inference.py in a Python that
    imports only NumPy and onnxruntime gives predict's dicts (floats within 1e-5)."""
    journey = journey_of(tiny_runs, recipe)
    if recipe not in ONNX:
        step = journey.steps["export onnx"]
        assert step.returncode == 2 and not (journey.root / "onnx").exists(), step.describe()
        assert step.stderr.strip().splitlines()[-1] == (
            f"rnn-apps: error: {recipe} has no ONNX export in this version; export a "
            "SavedModel (--format saved_model), which TensorFlow, TF Serving and rnn-apps "
            "serve run."
        )
        return
    journey.step("export onnx")
    folder = journey.root / "onnx"
    # the trigger word adds stream_step.onnx
    assert {p.name for p in folder.iterdir()} - {"stream_step.onnx"} == {
        "model.onnx", *PORTABLE_FILES
    }  # fmt: skip
    assert json.loads((folder / "rnn_apps.json").read_text())["format"] == "onnx"
    result = journey.json("onnx python")
    assert result["imported"] == [], result["imported"]
    lines = journey.json_lines("predict")  # char_music's parse rate included
    same(result["predictions"], lines, f"{recipe}: ONNX vs rnn-apps predict")


@recipes
def test_tflite_export_predicts_like_predict_or_says_why_it_has_none(recipe, tiny_runs):
    """``export --format tflite`` in a fresh process; its inference.py through
    TensorFlow's TFLite interpreter (nothing of rnn-apps imported) gives predict's dicts;
    a recipe without one says in one line why (the ops TFLite's builtins cannot run)."""
    journey = journey_of(tiny_runs, recipe)
    if recipe not in TFLITE:
        step = journey.steps["export tflite"]
        assert step.returncode == 2 and not (journey.root / "tflite").exists(), step.describe()
        last = step.stderr.strip().splitlines()[-1]
        assert re.fullmatch(
            rf"rnn-apps: error: {recipe} has no TFLite export(: TFLite's builtin ops cannot "
            r"run \w+(, \w+)* \(TensorFlow ops, which TFLite's Python interpreters do not "
            r"run\); export ONNX \(--format onnx\) or a SavedModel \(--format "
            r"saved_model\) instead\.| in this version; export a SavedModel \(--format "
            r"saved_model\) or an ONNX model \(--format onnx\)\.)",
            last,
        ), last
        return
    journey.step("export tflite")
    folder = journey.root / "tflite"
    # the trigger word's model is its streaming step, stream_step.tflite
    models = {p.name for p in folder.iterdir()} - PORTABLE_FILES
    assert models in ({"model.tflite"}, {"stream_step.tflite"}), models
    assert {p.name for p in folder.iterdir()} >= PORTABLE_FILES
    assert json.loads((folder / "rnn_apps.json").read_text())["format"] == "tflite"
    result = journey.json("tflite python")
    assert set(result["imported"]) <= {"tensorflow", "keras"}, result["imported"]
    lines = journey.json_lines("predict")
    same(result["predictions"], lines, f"{recipe}: TFLite vs rnn-apps predict")


def test_tflite_streaming_step_equals_the_saved_model(tiny_runs):
    """E/stream_step.tflite in tf.lite.Interpreter, fed the WAV chunk by chunk with its
    history and states carried, gives serving_default's per-frame probabilities."""
    journey = journey_of(tiny_runs, "trigger_word")
    clean = journey.json("clean python")
    served = np.asarray(clean["calls"]["export"]["probabilities"][0])
    streamed = np.asarray(clean["tflite"]["export"])
    assert streamed.shape == served.shape and served.size > 0, (streamed.shape, served.shape)
    np.testing.assert_allclose(streamed, served, atol=ATOL)


def parses_into_notes(music21, tune: str) -> bool:
    try:
        return len(music21.converter.parse(tune, format="abc").flatten().notes) > 0
    except Exception:  # music21 raises many kinds on malformed ABC
        return False


def test_exported_tunes_parse_with_music21(tiny_runs):
    """The export's tune from a whole-tune prime, read by music21: it parses into notes
    exactly when the command's own ``parses`` says so (the same tune); a completion forced
    to be the whole tune (length 0) parses."""
    music21 = pytest.importorskip("music21")
    journey = journey_of(tiny_runs, "char_music")
    lines = predictions(journey)
    calls = journey.json("clean python")["calls"]
    whole = journey.inputs.index(WHOLE_TUNE)
    tune = calls[f"export/{whole}"]["text"][0].rstrip("\n") + "\n"
    assert tune.startswith(WHOLE_TUNE), tune
    assert lines[whole]["headers"], lines[whole]  # the prime's X:, M: and K: are kept
    assert parses_into_notes(music21, tune) == lines[whole]["parses"], (tune, lines[whole])
    (forced,) = calls["forced/0"]["text"]
    assert forced.rstrip("\n") == WHOLE_TUNE.rstrip("\n"), forced
    assert parses_into_notes(music21, forced), forced


# -- resume and the resumed run's export ---------------------------------------------------
@recipes
def test_resumed_copy_trains_on_and_exports(recipe, tiny_runs):
    journey = journey_of(tiny_runs, recipe)
    resumed = journey.json("resume")
    assert resumed["run"] == str(journey.run2) and resumed["epochs_done"] == 2, resumed
    original = json.loads((journey.run / "state.json").read_text())
    assert original["epochs_done"] == 1  # the copy was resumed, the run left as it was
    journey.step("export2")
    clean = journey.json("clean python")
    assert set(clean["signatures"][str(journey.export2)]) >= {"serving_default"}
    names = [n for n in clean["calls"] if n.split("/")[0] == "export2"]
    assert len(names) == len([n for n in clean["calls"] if n.split("/")[0] == "export"])
    assert names, sorted(clean["calls"])
    for name in names:
        first, second = clean["calls"][name.replace("export2", "export", 1)], clean["calls"][name]
        assert set(second) == SERVING[recipe][1] == set(first), (name, second)
        for key in second:  # the same shapes, from the model trained one epoch longer
            # (as many entity columns as the most entities of a sentence: the batch only)
            dims = 1 if key.startswith("entity_") else None
            assert np.shape(second[key])[:dims] == np.shape(first[key])[:dims], (name, key)
