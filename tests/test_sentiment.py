"""The sentiment recipe end to end: fit, evaluate, predict, save/load, resume, export."""

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from recipes import Sentiment, UserError
from recipes.core.runs import load_run
from recipes.core.training import RunState
from recipes.sentiment import onnx_inference
from tests.sentiment_data import write_tsv
from tests.test_journey import journey_of

#: tiny sizes; without XLA, whose compilation costs more than these fits (the module's
#: trained run and the tests that say so train under XLA, the recipe's default)
SMALL = dict(
    units=8,
    embedding_dim=8,
    max_length=10,
    batch_size=16,
    max_tokens=200,
    seed=3,
    jit_compile=False,
)


@functools.cache
def _fixture_run():
    """The sentiment run of tests/fixtures/runs_0.1.0 (its vocabulary: 25 words)."""
    return load_run(Path(__file__).parent / "fixtures" / "runs_0.1.0" / "sentiment")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One small run shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("sentiment")
    data = write_tsv(root / "reviews.tsv", n=160)
    app = Sentiment(**{**SMALL, "jit_compile": True}, epochs=6)
    metrics = app.fit(data=str(data), run_dir=root / "run", verbose=0)
    return app, metrics, root


def test_fit_writes_a_complete_run_folder(trained):
    app, metrics, root = trained
    run = root / "run"
    for name in [
        "config.toml",
        "run.json",
        "model.keras",
        "vocabulary.txt",
        "labels.json",
        "state.json",
        "metrics.json",
        "training.png",
        "checkpoints/last.keras",
    ]:
        assert (run / name).exists(), name
    assert list((run / "logs").rglob("events.out.tfevents*")), "no TensorBoard logs"
    assert json.loads((run / "metrics.json").read_text()) == metrics
    assert {"train_accuracy", "val_accuracy", "val_macro_f1", "val_loss"} <= set(metrics)
    assert metrics["val_accuracy"] >= 0.8  # the words decide the label: learnable
    assert app.model.jit_compile is True  # the numeric model trained under XLA


def test_evaluate_and_predict(trained):
    app, _, root = trained
    scores = app.evaluate(split="test")
    assert set(scores) == {"accuracy", "macro_f1", "loss"}
    assert 0 <= scores["macro_f1"] <= 1 and scores["accuracy"] >= 0.8
    results = app.predict(["wonderful superb film", "awful terrible plot"])
    assert [r["label"] for r in results] == ["1", "0"]
    for r in results:
        assert set(r["probabilities"]) == {"0", "1"}
        assert abs(sum(r["probabilities"].values()) - 1) < 1e-5
    # any other labelled file scores too; unknown labels are a clear error
    other = root / "other.tsv"
    other.write_text("great fine\t1\nawful bad\t0\n")
    assert set(app.evaluate(data=str(other))) == {"accuracy", "macro_f1", "loss"}
    other.write_text("great fine\tpositive\n")
    with pytest.raises(UserError, match="positive"):
        app.evaluate(data=str(other))


def test_load_gives_identical_predictions(trained, tmp_path):
    app, _, root = trained
    texts = ["great phone", "the battery was poor and broken", "", "unseen words only"]
    loaded = load_run(root / "run")
    assert isinstance(loaded, Sentiment)
    assert loaded.predict(texts) == app.predict(texts)
    saved = app.save(tmp_path / "copy")
    assert Sentiment.load(saved).predict(texts) == app.predict(texts)


def test_export_takes_raw_strings(trained, tmp_path):
    app, _, _ = trained
    out = app.export(tmp_path / "exported")
    serving = tf.saved_model.load(str(out)).signatures["serving_default"]
    texts = ["superb and loved", "hated it, boring"]
    result = serving(text=tf.constant(texts))
    expected = app.predict(texts)
    assert [v.decode() for v in result["label"].numpy()] == [e["label"] for e in expected]
    np.testing.assert_allclose(
        result["probabilities"].numpy(),
        [[e["probabilities"][k] for k in app.labels] for e in expected],
        atol=1e-5,
    )
    assert result["labels"].numpy().astype(str).tolist() == [list(app.labels)] * len(texts)
    with pytest.raises(UserError, match="not empty"):
        app.export(out)
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "tensorflow.python.tools.saved_model_cli",
            "run",
            "--dir",
            str(out),
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--input_exprs",
            'text=["superb and loved"]',
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert "b'1'" in cli.stdout


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="AbZéÉİß .,!?'-_\t\n\r\x0b\x0c\u00a0\u2003😀superbloved", max_size=40))
def test_onnx_inference_reads_words_as_text_vectorization(text):
    """inference.py's words and ids are TextVectorization's, any text (non-ASCII letters
    are not lowercased, non-ASCII spaces do not split, in both)."""
    app = _fixture_run()
    expected = app.vectorizer(tf.constant([text])).numpy()
    vocabulary = [str(w) for w in app.vectorizer.get_vocabulary()]
    ids = onnx_inference.token_ids([text], vocabulary, app.config.max_length)
    np.testing.assert_array_equal(ids, expected)


def test_onnx_export_runs_in_onnxruntime_as_the_model(trained, tmp_path):
    app, _, _ = trained
    out = app.export(tmp_path / "onnx", format="onnx")
    texts = ["superb and loved", "hated it, boring", "", "a " * 50]
    served = onnx_inference.load(out)
    expected = tf.nn.softmax(app.model(app.model_inputs(tf.constant(texts)))).numpy()
    np.testing.assert_allclose(served.probabilities(texts), expected, atol=1e-6)
    assert served.predict(texts) == app.predict(texts)


@pytest.mark.parametrize("quantize", [None, "float16"])
def test_tflite_export_runs_in_the_interpreter_as_the_model(trained, tmp_path, quantize):
    """``format="tflite"``: builtin ops only; float32 gives the model's probabilities,
    float16 (weights) nearly; int8 is refused in one line."""
    import tensorflow as tf  # noqa: F811 - the interpreter

    from recipes.core.tflite import flex_ops

    app, _, _ = trained
    out = app.export(tmp_path / "tflite", format="tflite", quantize=quantize)
    assert sorted(p.name for p in out.iterdir()) == [
        "inference.py",
        "model.tflite",
        "preprocessing.json",
        "rnn_apps.json",
        "rnn_apps_runtime.py",
    ]
    model = (out / "model.tflite").read_bytes()
    assert flex_ops(model) == []
    texts = ["superb and loved", "hated it, boring", "", "a " * 50, "loved loved hated"]
    expected = tf.nn.softmax(app.model(app.model_inputs(tf.constant(texts)))).numpy()
    served = onnx_inference.load(out)
    assert type(served.model._run).__name__ == "function"  # the TFLite signature runner
    tolerance = {None: 1e-5, "float16": 2e-3}[quantize]
    np.testing.assert_allclose(served.probabilities(texts), expected, atol=tolerance)
    if quantize is None:
        assert served.predict(texts) == app.predict(texts)
    runner = tf.lite.Interpreter(model_content=model).get_signature_runner()
    assert sorted(runner.get_output_details()) == ["probabilities"]
    with pytest.raises(UserError, match=r"^sentiment: --quantize int8 is not offered .*float16"):
        app.export(tmp_path / "int8", format="tflite", quantize="int8")
    assert not (tmp_path / "int8").exists()


@pytest.mark.parametrize("recipe", ["sentiment"])  # (only this recipe's journey runs)
def test_resume_continues_without_losing_anything(recipe, tiny_runs, tmp_path):
    """Continues a copy of the journey's one-epoch run (``rnn-apps fit`` of SMALL's
    settings on 96 reviews, tests/journey.py) in this process."""
    journey = journey_of(tiny_runs, recipe)
    journey.step("fit")
    data, run = journey.data, tmp_path / "run"
    shutil.copytree(journey.run, run)
    first = json.loads((run / "state.json").read_text())
    assert first["epochs_done"] == 1
    reviews = len(data.read_text().splitlines())
    steps = int(np.ceil(0.8 * reviews / SMALL["batch_size"]))
    app = Sentiment()
    with pytest.raises(UserError, match="already holds a run"):
        app.fit(data=str(data), run_dir=run, verbose=0)
    app.fit(run_dir=run, resume=True, epochs=3, verbose=0)
    state = json.loads((run / "state.json").read_text())
    assert state["epochs_done"] == 3
    assert state["history"]["loss"][0] == first["history"]["loss"][0]
    assert len(state["history"]["val_accuracy"]) == 3
    checkpoint = keras.saving.load_model(run / "checkpoints/last.keras")
    assert int(checkpoint.optimizer.iterations) == 3 * steps  # optimizer state carried over
    assert app.config.units == SMALL["units"]  # the run's own config, not the defaults
    with pytest.raises(UserError, match="already trained 3 epochs"):
        Sentiment().fit(run_dir=run, resume=True, epochs=3, verbose=0)
    with pytest.raises(UserError, match="on its own data"):
        Sentiment().fit(data=str(tmp_path / "other.tsv"), run_dir=run, resume=True, epochs=4)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    data = write_tsv(tmp_path / "d.tsv", n=64)
    original = RunState.on_train_batch_end

    def poisoned(self, batch, logs=None):
        if self._epoch == 1:  # the second epoch diverges
            logs = {**(logs or {}), "loss": float("nan")}
        return original(self, batch, logs)

    monkeypatch.setattr(RunState, "on_train_batch_end", poisoned)
    run = tmp_path / "run"
    with pytest.raises(UserError, match=r"NaN in epoch 2.*last good checkpoint \(epoch 1\)"):
        Sentiment(**SMALL, epochs=4).fit(data=str(data), run_dir=run, verbose=0)
    assert json.loads((run / "state.json").read_text())["epochs_done"] == 1
    keras.saving.load_model(run / "checkpoints/last.keras")  # intact
    Sentiment.load(run).predict(["fine"])


def test_early_stopping_on_validation_accuracy(tmp_path):
    rng = np.random.default_rng(0)
    rows = [f"word{rng.integers(50)} word{rng.integers(50)}\t{rng.integers(2)}" for _ in range(80)]
    (tmp_path / "noise.tsv").write_text("\n".join(rows) + "\n")
    metrics = Sentiment(**SMALL, epochs=12, patience=1).fit(
        data=str(tmp_path / "noise.tsv"), run_dir=tmp_path / "run", verbose=0
    )
    assert metrics["epochs_done"] < 12
    assert metrics["best_epoch"] == metrics["epochs_done"] - 1


def test_multi_class_string_labels_and_gru(tmp_path):
    rows = []
    for i in range(90):
        label = ["sports", "politics", "weather"][i % 3]
        rows.append(f"{label} news about the {label} today {i}\t{label}")
    (tmp_path / "topics.tsv").write_text("\n".join(rows) + "\n")
    app = Sentiment(**{**SMALL, "cell": "gru"}, pooling="max", word_dropout=0.2, epochs=8)
    app.fit(data=str(tmp_path / "topics.tsv"), run_dir=tmp_path / "run", verbose=0)
    assert app.labels == ["politics", "sports", "weather"]
    assert app.predict(["weather news"])[0]["label"] == "weather"
    reloaded = Sentiment.load(tmp_path / "run")  # MaskedMaxPooling is registered
    assert reloaded.predict(["sports today"]) == app.predict(["sports today"])


def test_config_errors_name_the_key():
    with pytest.raises(UserError, match="'unitz'.*did you mean 'units'"):
        Sentiment.from_config({"unitz": 3})
    with pytest.raises(UserError, match="'cell'.*'lstm' or 'gru'.*'transformer'"):
        Sentiment(cell="transformer")
    with pytest.raises(UserError, match="'dropout'"):
        Sentiment(dropout=1.5)
    with pytest.raises(UserError, match="'units'.*int.*'many'"):
        Sentiment.from_config({"units": "many"})


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    """Runs in a fresh process: logical devices must be set before TensorFlow starts."""
    data = write_tsv(tmp_path / "d.tsv", n=64)
    script = f"""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from recipes import Sentiment
from recipes.core.recipe import make_strategy
assert make_strategy("mirrored").num_replicas_in_sync == 2
app = Sentiment(units=8, embedding_dim=8, max_length=10, batch_size=16, epochs=2,
                distribution="mirrored", jit_compile=False)
metrics = app.fit(data={str(data)!r}, run_dir={str(tmp_path / "run")!r}, verbose=0)
print("OK", metrics["epochs_done"], app.predict(["great"])[0]["label"] in ("0", "1"))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK 2 True" in result.stdout


def test_splits_follow_the_data_source(tmp_path):
    first = write_tsv(tmp_path / "a.tsv", n=40)
    (tmp_path / "b.tsv").write_text("".join(f"text {i}\t{'xy'[i % 2]}\n" for i in range(40)))
    app = Sentiment(data=str(first))
    assert set(app.splits().train.labels) == {"0", "1"}
    app.config = app.config.replace(data=str(tmp_path / "b.tsv"))
    assert set(app.splits().train.labels) == {"x", "y"}  # not the first file's, cached


def test_vader_lexicon_is_standardized_like_the_vectorizer():
    from recipes.sentiment.lexicon import vader_lexicon

    lexicon = vader_lexicon()
    assert len(lexicon) > 7000
    assert lexicon["delicious"] == (2.7, False) and lexicon["disappointing"] == (-2.2, False)
    assert lexicon["not"][1] and lexicon["didnt"][1] and lexicon["never"][1]
    assert all(word.isalpha() and word == word.lower() for word in lexicon)


def test_afinn_and_the_merged_lexicon():
    from recipes.sentiment.lexicon import lexicon_of

    afinn, both = lexicon_of("afinn"), lexicon_of("vader+afinn")
    # AFINN-165 rates "superb" 5 and "good" 3: x 0.8 on VADER's scale; VADER's "good" is 1.9
    assert afinn["superb"] == (4.0, False) and afinn["good"][0] == pytest.approx(2.4)
    assert both["good"] == pytest.approx((2.15, False))
    assert both["not"][1] and "not" not in afinn  # VADER's negations are kept
    assert len(both) > len(lexicon_of("vader")) + 500 and lexicon_of("none") == {}


def test_textblob_lexicon_and_the_three_lexicons_merged():
    from recipes.sentiment.lexicon import lexicon_of

    textblob = lexicon_of("textblob")
    # TextBlob's senses of "banal" average -0.3 on -1..1: -1.2 on VADER's -4..4 scale
    assert textblob["banal"] == pytest.approx((-1.2, False))
    assert "american" not in textblob  # objective adjectives (polarity 0) are left out
    assert all(word.isalpha() and word == word.lower() for word in textblob)
    three = lexicon_of("vader+afinn+textblob")
    assert three["banal"] == textblob["banal"]  # only TextBlob rates it
    vader, afinn = lexicon_of("vader"), lexicon_of("afinn")
    means = (vader["great"][0] + afinn["great"][0] + textblob["great"][0]) / 3
    assert three["great"] == pytest.approx((means, False))
    assert len(three) > len(lexicon_of("vader+afinn")) + 500


def test_an_ensemble_of_members_trains_saves_and_serves(tmp_path):
    """``members = 2``: two networks with their own weights, averaged; the run folder
    gives the same answers in a fresh ``rnn-apps predict`` and in the SavedModel."""
    data = write_tsv(tmp_path / "reviews.tsv", n=160)
    app = Sentiment(**SMALL, epochs=4, members=2)
    metrics = app.fit(data=str(data), run_dir=tmp_path / "run", verbose=0)
    assert metrics["val_accuracy"] >= 0.8
    members = [app.model.get_layer(f"logits_{k}") for k in range(2)]
    assert not np.allclose(members[0].get_weights()[0], members[1].get_weights()[0])
    assert app.model.get_layer("logits").__class__.__name__ == "Average"
    texts = ["wonderful superb film", "awful terrible plot"]
    expected = app.predict(texts)
    done = subprocess.run(
        [sys.executable, "-m", "rnn_apps", "predict", str(tmp_path / "run"), *texts],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    assert [p["label"] for p in printed] == ["1", "0"]
    for got, want in zip(printed, expected, strict=True):
        for label, p in want["probabilities"].items():
            assert got["probabilities"][label] == pytest.approx(p, abs=1e-5)
    exported = tf.saved_model.load(str(app.export(tmp_path / "exported")))
    served = exported.signatures["serving_default"](text=tf.constant(texts))
    np.testing.assert_allclose(
        served["probabilities"].numpy()[:, 1],
        [r["probabilities"]["1"] for r in expected],
        atol=1e-5,
    )


@pytest.mark.parametrize("zero_unknown", [True, False])
def test_zero_unknown_words_read_as_dropped_ones(zero_unknown, tmp_path):
    """With ``zero_unknown`` the out-of-vocabulary vector has no say: the output of a text
    with unknown words is the same whatever that vector holds (without it, it changes).
    The model as fit builds it, untrained: what the vector reads as is the graph's, not
    the weights' (a training would only trace the model once more)."""
    data = write_tsv(tmp_path / "reviews.tsv", n=64)
    app = Sentiment(**SMALL, epochs=1, zero_unknown=zero_unknown, data=str(data))
    app.prepare(app.splits())
    app.model = app.build_model()
    inputs = app.model_inputs(tf.constant(["the zzyzx phone was qwxv great"]))
    assert 1 in inputs["token_ids"].numpy()  # two words outside the vocabulary
    before = app.model(inputs).numpy()
    (embedding,) = [
        layer
        for layer in app.model.layers
        if isinstance(layer, keras.layers.Embedding) and layer.trainable
    ]
    vectors = embedding.get_weights()[0]
    vectors[1] = np.random.default_rng(0).normal(0, 5, vectors.shape[1])
    embedding.set_weights([vectors])
    after = app.model(inputs).numpy()
    assert np.allclose(before, after, atol=1e-6) == zero_unknown


def test_a_negation_reverses_the_polarity_of_the_next_three_words():
    from recipes.sentiment.layers import NegatedPolarity

    # polarities of "not a really good film good" (negation at 0, good at 3 and 5)
    polarity = np.array([[0.0, 0.0, 0.0, 0.5, 0.0, 0.5]], "float32")
    negates = np.array([[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]], "float32")
    out = NegatedPolarity()(np.stack([polarity, negates], axis=-1))
    np.testing.assert_allclose(out[0, :, 0], [0, 0, 0, -0.37, 0, 0.5], atol=1e-6)


def test_the_lexicon_carries_sentiment_to_words_training_never_saw(tmp_path):
    """Trained on one set of sentiment words, scored on sentences made only of others:
    with the lexicon the classifier gets them right, without it it cannot."""
    rng = np.random.default_rng(0)
    seen = (["great", "excellent", "superb"], ["awful", "terrible", "poor"])
    unseen = (["delicious", "wonderful", "fantastic"], ["disgusting", "horrible", "nasty"])

    def rows(words, n):
        out = []
        for i in range(n):
            label = i % 2
            sentence = ["the", str(rng.choice(["food", "phone", "film"])), "was"]
            sentence.append(str(rng.choice(words[0] if label else words[1])))
            out.append((" ".join(sentence), str(label)))
        return out

    train = tmp_path / "train.tsv"
    train.write_text("".join(f"{t}\t{y}\n" for t, y in rows(seen, 200)))
    test = rows(unseen, 60)
    accuracy = {}
    for lexicon in ("vader", "none"):
        app = Sentiment(**SMALL, epochs=10, patience=0, lexicon=lexicon, dropout=0.1)
        app.fit(data=str(train), run_dir=tmp_path / lexicon, verbose=0)
        predicted = app.predict([t for t, _ in test])
        accuracy[lexicon] = np.mean(
            [p["label"] == y for p, (_, y) in zip(predicted, test, strict=True)]
        )
    assert accuracy["vader"] >= 0.95
    assert accuracy["none"] <= 0.7
    # the run keeps its lexicon: loading needs no lexicon package
    assert (tmp_path / "vader" / "lexicon.tsv").exists()
    assert not (tmp_path / "none" / "lexicon.tsv").exists()
    # a model without the lexicon exports and serves raw strings too
    exported = tf.saved_model.load(str(app.export(tmp_path / "exported")))
    served = exported.signatures["serving_default"](text=tf.constant(["the food was great"]))
    assert served["label"].numpy()[0].decode() == app.predict(["the food was great"])[0]["label"]


def test_missing_lexicon_package_is_one_line(monkeypatch, tmp_path):
    import importlib.resources

    def missing(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(importlib.resources, "files", missing)
    data = write_tsv(tmp_path / "d.tsv", n=32)
    with pytest.raises(UserError, match="pip install vaderSentiment.*lexicon=none"):
        Sentiment(**SMALL, epochs=1).fit(data=str(data), run_dir=tmp_path / "run", verbose=0)


def test_padding_is_masked_with_the_lexicon(trained):
    """The same weights give the same output whatever the padding: the lexicon input
    keeps the words' mask (a plain concatenation would unmask the padding)."""
    app, _, _ = trained
    assert app.lexicon  # the default lexicon is in the model
    text = tf.constant(["great phone really"])
    inputs = app.model_inputs(text)
    short = Sentiment(app.config.replace(max_length=3))
    short.labels, short.vectorizer = (
        app.labels,
        short._make_vectorizer(vocabulary=app.vectorizer.get_vocabulary()[2:]),
    )
    short._set_lexicon(app.lexicon)
    short.model = short.build_model()
    short.model.set_weights(app.model.get_weights())
    np.testing.assert_allclose(
        short.model(short.model_inputs(text)), app.model(inputs), rtol=1e-5, atol=1e-6
    )
