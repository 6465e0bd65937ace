"""``rnn-apps serve`` as its users meet it: a fresh ``rnn-apps serve`` process on saved runs
and an export in TensorFlow Serving's version-folder layout, spoken to over a real socket on
127.0.0.1 with an HTTP client (``requests``), in the request and response formats of
TensorFlow Serving's REST API documentation; its answers must equal what ``rnn-apps
predict`` printed for the same runs (tests/fixtures/runs_0.1.0/*/expected.json)."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
import requests

from recipes.core.runs import load_run
from tests.serving import serve_command, serving
from tests.test_old_runs import FIXTURES, same

SERVED = ("sentiment", "translator", "ner")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One ``rnn-apps serve`` process: the sentiment run exported as models/sentiment/1,
    the translator, tagger and trigger word given as run folders (exported on the fly)."""
    root = tmp_path_factory.mktemp("serve")
    for name in (*SERVED, "trigger_word"):
        shutil.copytree(FIXTURES / name, root / name)
    # exported in this process, as ``rnn-apps export RUN --out E`` does (load_run, export):
    # the server is the process started as users start it
    load_run(root / "sentiment").export(root / "models" / "sentiment" / "1")
    paths = [root / "models" / "sentiment", *(root / n for n in (*SERVED[1:], "trigger_word"))]
    with serving(paths, root / "serve.log", "--batch-timeout-ms", "50") as url:
        yield url, root


def expected(name: str) -> dict:
    return json.loads((FIXTURES / name / "expected.json").read_text(encoding="utf-8"))


def predict(url: str, name: str, body, **kwargs) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(f"{url}/v1/models/{name}:predict", data=data, timeout=60, **kwargs)


def test_status_and_metadata_as_tf_serving_answers_them(server):
    url, _ = server
    for name in SERVED:
        status = requests.get(f"{url}/v1/models/{name}", timeout=10)
        assert status.status_code == 200
        assert status.json() == {
            "model_version_status": [
                {"version": "1", "state": "AVAILABLE",
                 "status": {"error_code": "OK", "error_message": ""}}
            ]
        }  # fmt: skip
    assert requests.get(f"{url}/v1/models/sentiment/versions/1", timeout=10).status_code == 200
    meta = requests.get(f"{url}/v1/models/sentiment/metadata", timeout=10).json()
    assert meta["model_spec"] == {"name": "sentiment", "signature_name": "", "version": "1"}
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["text"]["dtype"] == "DT_STRING"
    assert signature["inputs"]["text"]["tensor_shape"]["dim"] == [{"size": "-1", "name": ""}]
    assert signature["outputs"]["probabilities"]["dtype"] == "DT_FLOAT"
    assert signature["method_name"] == "tensorflow/serving/predict"
    assert meta["rnn_apps"] == {"recipe": "sentiment"}  # from the export's assets.extra
    listing = requests.get(f"{url}/v1/models", timeout=10).json()["models"]
    assert sorted(m["name"] for m in listing) == sorted([*SERVED, "trigger_word"])


def test_row_format_answers_what_predict_printed(server):
    url, _ = server
    wanted = expected("sentiment")
    answer = predict(url, "sentiment", {"instances": wanted["inputs"]})
    assert answer.status_code == 200, answer.text
    for row, printed in zip(answer.json()["predictions"], wanted["stdout"], strict=True):
        assert row["label"] == printed["label"]  # the export names the columns: labels
        same(dict(zip(row["labels"], row["probabilities"], strict=True)), printed["probabilities"])
    wanted = expected("translator")
    named = [{"text": text} for text in wanted["inputs"]]  # instances as objects
    rows = predict(url, "translator", {"instances": named}).json()["predictions"]
    assert rows == [p["translation"] for p in wanted["stdout"]]  # one output: bare values
    wanted = expected("ner")
    rows = predict(url, "ner", {"instances": wanted["inputs"]}).json()["predictions"]
    for row, printed in zip(rows, wanted["stdout"], strict=True):
        n = len(printed["tokens"])
        assert row["tokens"][:n] == printed["tokens"] and row["tags"][:n] == printed["tags"]
        assert set(row["tokens"][n:]) <= {""}  # padded to the longest sentence


def test_answer_gives_the_dicts_predict_printed(server):
    """``:answer`` (rnn-apps's own method): one dict per instance, those of predict's JSON."""
    url, _ = server
    for name in SERVED:
        wanted = expected(name)
        answer = requests.post(
            f"{url}/v1/models/{name}:answer",
            json={"instances": wanted["inputs"]},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        same(answer.json()["answers"], wanted["stdout"], name)
    # the trigger word's wav signature on the WAV file itself, base64 in JSON
    wav = base64.b64encode((FIXTURES / "trigger_word" / "listen.wav").read_bytes()).decode()
    answer = requests.post(
        f"{url}/v1/models/trigger_word:answer",
        json={"signature_name": "wav", "instances": [{"b64": wav}]},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    (detected,) = expected("trigger_word")["stdout"]
    same(answer.json()["answers"], [{k: v for k, v in detected.items() if k != "file"}], "wav")
    if any(line["entities"] for line in expected("ner")["stdout"]):
        return
    pytest.fail("the ner fixture's predictions hold no entity: the spans went unchecked")


def test_translate_signature_answers_the_n_best_of_rnn_apps_translate(server):
    """The translator's ``translate`` signature (beam width and n-best as inputs; scalars,
    so the columnar format) answers what ``rnn-apps translate --n-best`` prints."""
    url, root = server
    sources = expected("translator")["inputs"]
    printed = subprocess.run(
        [sys.executable, "-m", "rnn_apps", "translate", str(root / "translator"), *sources,
         "--beam-width", "3", "--n-best", "3"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr[-2000:]
    lines = [json.loads(line) for line in printed.stdout.splitlines()]
    assert [len(line["n_best"]) for line in lines] == [3, 3], lines
    body = {
        "signature_name": "translate",
        "inputs": {"text": sources, "beam_width": 3, "n_best": 3},
    }
    answer = requests.post(f"{url}/v1/models/translator:answer", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    same(answer.json()["answers"], lines, "translator translate")
    outputs = predict(url, "translator", body).json()["outputs"]
    assert outputs["translation"] == [line["translation"] for line in lines]
    assert np.array(outputs["attention"]).shape[:2] == np.array(outputs["output_tokens"]).shape
    too_wide = predict(url, "translator", {**body, "inputs": {**body["inputs"], "n_best": 4}})
    assert too_wide.status_code == 400
    assert too_wide.json() == {
        "error": "The model refused the inputs: n_best must be at most beam_width "
        "(n_best = 4, beam_width = 3)"
    }


def test_columnar_format_and_base64_strings(server):
    url, _ = server
    wanted = expected("translator")
    text = wanted["inputs"][1]
    b64 = {"b64": base64.b64encode(text.encode()).decode()}
    columnar = predict(url, "translator", {"inputs": {"text": [text, b64]}})
    assert columnar.status_code == 200, columnar.text
    assert columnar.json() == {"outputs": [wanted["stdout"][1]["translation"]] * 2}
    bare = predict(url, "translator", {"signature_name": "serving_default", "inputs": [text]})
    assert bare.json() == columnar.json() | {"outputs": [wanted["stdout"][1]["translation"]]}


def test_concurrent_requests_each_get_their_own_rows(server):
    url, _ = server
    wanted = expected("sentiment")
    texts = wanted["inputs"] * 6
    answers: dict[int, dict] = {}

    def ask(i: int) -> None:
        answers[i] = predict(url, "sentiment", {"instances": [texts[i]]}).json()

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for i, text in enumerate(texts):
        printed = wanted["stdout"][wanted["inputs"].index(text)]
        assert answers[i]["predictions"][0]["label"] == printed["label"], answers[i]


BAD = [
    ("malformed JSON", "sentiment", b'{"instances": [', 400, "not JSON"),
    ("not an object", "sentiment", b"[1, 2]", 400, "must be a JSON object"),
    ("wrong input name", "sentiment", {"instances": [{"txt": "a"}]}, 400, "['text']"),
    ("wrong type", "sentiment", {"instances": [1, 2]}, 400, "expected a string"),
    ("both formats", "sentiment", {"instances": ["a"], "inputs": ["a"]}, 400, "exactly one"),
    ("no instances", "sentiment", {"instances": []}, 400, "non-empty"),
    ("unknown signature", "sentiment", {"signature_name": "x", "instances": ["a"]}, 400,
     '"x" not found'),
    ("too many instances", "sentiment", {"instances": ["a"] * 300}, 400, "at most 256"),
    ("oversized body", "sentiment", {"instances": ["a" * (11 * 2**20)]}, 413, "at most"),
    ("unknown model", "nope", {"instances": ["a"]}, 404, "Servable not found"),
    ("value out of range", "translator",
     {"signature_name": "translate", "inputs": {"text": ["1"], "beam_width": 40, "n_best": 1}},
     400, "refused the inputs: beam_width must be at most 16, the widest beam of this export "
     "(beam_width = 40)"),
    ("not a WAV file", "trigger_word",
     {"signature_name": "wav", "instances": [{"b64": base64.b64encode(b"ID3 mp3").decode()}]},
     400, "refused the inputs: wav[0] is not a WAV file (no RIFF/WAVE header); send 16 kHz "
     "16-bit PCM WAV (e.g. ffmpeg -i IN -ar 16000 -ac 1 -c:a pcm_s16le OUT.wav), or post the "
     "waveform (float32 at 16 kHz) to serving_default"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "model", "body", "status", "message"), BAD, ids=[b[0] for b in BAD]
)
def test_bad_requests_get_one_clear_error(server, case, model, body, status, message):
    url, _ = server
    answer = predict(url, model, body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert message in error and "\n" not in error and "Traceback" not in error, error
    if case in ("value out of range", "not a WAV file"):
        assert error.endswith(message), error  # the whole line: nothing after the values


def test_unknown_version_and_method_and_endpoint(server):
    url, _ = server
    answer = requests.post(f"{url}/v1/models/sentiment/versions/7:predict", data="{}", timeout=10)
    assert answer.status_code == 404 and "Specific(sentiment, 7)" in answer.json()["error"]
    answer = requests.post(f"{url}/v1/models/sentiment:classify", data="{}", timeout=10)
    assert answer.status_code == 400 and "classify" in answer.json()["error"]
    answer = requests.get(f"{url}/v2/anything", timeout=10)
    assert answer.status_code == 404 and "No such endpoint" in answer.json()["error"]


def test_a_bad_path_or_a_taken_port_is_one_line(tmp_path, server):
    done = subprocess.run(serve_command(str(tmp_path / "missing")), capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"rnn-apps: error: {tmp_path / 'missing'} does not exist; give an exported "
        "SavedModel or a run folder."
    )
    (tmp_path / "empty").mkdir()
    done = subprocess.run(serve_command(str(tmp_path / "empty")), capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and "neither a SavedModel" in done.stderr.splitlines()[-1]
    url, root = server
    port = url.rsplit(":", 1)[1]
    done = subprocess.run(serve_command(str(root / "models" / "sentiment"), "--port", port),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"Cannot listen on 127.0.0.1:{port}" in done.stderr.strip().splitlines()[-1]


def test_the_batcher_runs_concurrent_requests_as_one_batch():
    from rnn_apps.serve.batching import Batcher

    sizes = []

    def call(arrays):
        sizes.append(len(arrays["x"]))
        return {"y": arrays["x"] * 2}

    batcher = Batcher(call, max_batch=8, timeout_ms=100)

    async def main():
        requests_ = [np.full((n, 3), float(i)) for i, n in enumerate((1, 2, 3, 1))]
        outputs = await asyncio.gather(*(batcher.run({"x": x}, len(x)) for x in requests_))
        for x, out in zip(requests_, outputs, strict=True):
            np.testing.assert_array_equal(out["y"], x * 2)
        other = await batcher.run({"x": np.zeros((1, 5))}, 1)  # another shape: its own batch
        assert other["y"].shape == (1, 5)

    asyncio.run(main())
    assert sizes == [8, 1]  # 7 instances padded to a power of two
    assert [batcher.padded_size(n) for n in (1, 3, 5, 8, 9, 20)] == [1, 4, 8, 8, 9, 20]
