"""Translator: tokens, generated dates, training, greedy and beam search (against the
model run teacher-forced and against brute-force enumeration), metrics, save/load,
export, the CLI."""

import datetime as dt
import functools
import itertools
import json

import keras
import numpy as np
import pytest
import sacrebleu
import tensorflow as tf
import tensorflow_datasets as tfds
from hypothesis import given, settings
from hypothesis import strategies as st

from recipes import Translator, UserError
from recipes.core import onnx
from recipes.core.runs import load_run
from recipes.translator import onnx_inference
from recipes.translator.attention import EncoderAttention
from recipes.translator.dates import date_pairs, date_splits
from recipes.translator.tokens import (
    END,
    JOINER,
    START,
    character_classes,
    join_words,
    split_chars,
    split_words,
)
from rnn_apps.cli import main

DIGITS = "zero one two three four five six seven eight nine".split()
# without the defaults' label smoothing and averaging: the tiny tasks learn in fewer epochs
# (tests/journey.py fits with them)
TINY = dict(
    units=32,
    embedding_dim=16,
    attention_units=16,
    batch_size=16,
    dropout=0.0,
    label_smoothing=0.0,
    average_epochs=0,
)


def digit_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """'4 0 7' -> 'four zero seven.': a word-for-word task a tiny model learns in seconds."""
    rng = np.random.default_rng(seed)
    pairs = set()
    while len(pairs) < n:
        digits = rng.integers(0, 10, size=rng.integers(1, 5))
        pairs.add((" ".join(map(str, digits)), " ".join(DIGITS[d] for d in digits) + "."))
    return sorted(pairs)


def write_pairs(path, pairs) -> str:
    path.write_text("".join(f"{s}\t{t}\tCC-BY\n" for s, t in pairs), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("translator")
    data = write_pairs(root / "digits.tsv", digit_pairs(1200))
    app = Translator(**TINY, epochs=10, learning_rate=1e-2, patience=0, beam_width=3)
    metrics = app.fit(data=data, run_dir=root / "run", verbose=0)
    return app, metrics, root


# -- tokens -------------------------------------------------------------------------------
def _round_trip(texts):
    tokens = split_words(tf.constant(texts))
    return [t.decode("utf-8") for t in join_words(tokens.to_tensor()).numpy()]


def test_word_tokens_are_reversible_and_keep_case():
    texts = ["Go.", "Cours\u202f!", "L'homme va... bien?!", "Il a dit : « non »", "3 May 1979"]
    tokens = split_words(tf.constant(texts)).to_list()
    assert [t.decode() for t in tokens[2]][:3] == ["L", "\uffed'\uffed", "homme"]
    assert _round_trip(texts) == texts
    assert _round_trip(["  spaces   here "]) == ["spaces here"]


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet="abcXYZéü019 .,'!?-«»()", max_size=30))
def test_word_tokens_round_trip_any_text(text):
    assert _round_trip([text]) == [" ".join(text.split())]


@functools.cache
def _onnx_tokenizers():
    """inference.py's tokenizers with this TensorFlow's character classes (as exported)."""
    return (
        onnx_inference.Tokenizer("words", character_classes(), JOINER),
        onnx_inference.Tokenizer("chars", {}, JOINER),
    )


#: characters where a tokenizer can go wrong: ASCII whitespace (vertical tab: not RE2's
#: \s, but TensorFlow's strip and split), other spaces and separators, marks, combining
#: accents, the joiner itself, underscores, and letters that RE2's Unicode tables know and
#: older Pythons' unicodedata does not (Kawi, Unicode 15)
TRICKY = (
    "abcXYZ\u00e9\u00fc019_ .,'!?-\u00ab\u00bb()<>/\t\n\v\f\r\x1c\x00\u00a0\u2003\u202f"
    "\U0001f600\u0301\u00b7\u0660\U00011f04\U00011f50"
) + JOINER


@settings(max_examples=150, deadline=None)
@given(
    st.text(
        st.one_of(st.sampled_from(TRICKY), st.characters(exclude_categories=("Cs",))),
        max_size=30,
    )
)
def test_onnx_tokenizer_splits_and_joins_as_the_graph(text):
    """inference.py's Python tokenizers give the graph's tokens for any text, and join
    them back into the graph's text."""
    words, chars = _onnx_tokenizers()
    expected = [t.decode() for t in split_words(tf.constant([text]))[0].numpy()]
    assert words.split(text) == expected
    joined = join_words(tf.constant([expected + [""]], tf.string)).numpy()[0].decode()
    assert words.join(expected + [""]) == joined  # "": the padding of the ids' rows
    assert chars.split(text) == [t.decode() for t in split_chars(tf.constant([text]))[0].numpy()]


# -- dates ---------------------------------------------------------------------------------
def test_dates_are_deterministic_distinct_and_correct():
    pairs = date_pairs(500, seed=7)
    assert pairs.texts == date_pairs(500, seed=7).texts
    assert pairs.texts != date_pairs(500, seed=8).texts
    assert len(set(pairs.texts)) == 500
    for text, iso in zip(pairs.texts, pairs.labels, strict=True):
        date = dt.date.fromisoformat(iso)
        if text.isdigit() and len(text) == 8:  # yyyyMMdd
            assert text == iso.replace("-", "")
        if "/" in text and text.replace("/", "").isdigit() and len(text.split("/")[0]) <= 2:
            month, day = (int(x) for x in text.split("/")[:2])  # slashes: month first
            assert (month, day) == (date.month, date.day)
        if "." in text and text.replace(".", "").isdigit() and len(text.split(".")[0]) <= 2:
            day, month = (int(x) for x in text.split(".")[:2])  # dots: day first
            assert (month, day) == (date.month, date.day)
            year = text.split(".")[2]
            if len(year) == 2:
                assert 1950 <= date.year <= 2049 and str(date.year)[2:] == year


def test_date_splits_never_share_a_string():
    splits = date_splits(2000, 0.1, 0.1, seed=3)
    train, val, test = (set(s.texts) for s in (splits.train, splits.validation, splits.test))
    assert len(val) == len(test) == 200 and len(train) == 1600
    assert not (train & test) and not (train & val) and not (val & test)


# -- attention -----------------------------------------------------------------------------
@pytest.mark.parametrize("score", ["bahdanau", "luong"])
def test_attention_matches_its_formula_and_ignores_padding(score):
    rng = np.random.default_rng(0)
    layer = EncoderAttention(5, score)
    query = rng.normal(size=(2, 3, 4)).astype("float32")
    values = rng.normal(size=(2, 6, 7)).astype("float32")
    mask = np.array([[1] * 6, [1, 1, 1, 0, 0, 0]], bool)
    context, weights = (x.numpy() for x in layer(query, values, mask))
    wq, wk = layer.query_dense.kernel.numpy(), layer.key_dense.kernel.numpy()
    q, k = query @ wq, values @ wk
    if score == "bahdanau":
        scores = np.tanh(q[:, :, None, :] + k[:, None, :, :]) @ layer.v.kernel.numpy()[:, 0]
    else:
        scores = np.einsum("bta,bsa->bts", q, k)
    scores = np.where(mask[:, None, :], scores, -np.inf)
    expected = np.exp(scores - scores.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(context, expected @ values, rtol=1e-5, atol=1e-5)
    assert np.all(weights[1, :, 3:] == 0)


# -- training and decoding ---------------------------------------------------------------------
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_smoothed_loss_is_keras_cross_entropy_over_the_tokens_not_padding(smoothing):
    """SmoothedCrossEntropy on random logits with padded targets: Keras's categorical
    cross-entropy with its label smoothing, over the tokens that are not padding only
    (and, without smoothing, Keras's sparse one with ignore_class)."""
    import keras

    from recipes.translator.loss import SmoothedCrossEntropy

    rng = np.random.default_rng(3)
    ids = rng.integers(1, 9, (4, 6))
    ids[0, 2:], ids[3, 5:] = 0, 0
    logits = rng.normal(size=(4, 6, 9)).astype("float32") * 3
    kept = ids != 0
    smoothed = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)
    expected = smoothed(np.eye(9)[ids[kept]], logits[kept])
    assert float(SmoothedCrossEntropy(smoothing)(ids, logits)) == pytest.approx(
        float(expected), rel=1e-5
    )
    if smoothing == 0.0:
        sparse = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
        assert float(SmoothedCrossEntropy(0.0)(ids, logits)) == pytest.approx(
            float(sparse(ids, logits)), rel=1e-5
        )


def test_fit_learns_and_writes_the_run_folder(trained):
    app, metrics, root = trained
    run = root / "run"
    for name in ("config.toml", "model.keras", "vocabulary.json", "metrics.json", "training.png"):
        assert (run / name).exists(), name
    assert app.token_kind == "words"
    assert "seven" in app.target_vocabulary and "7" in app.source_vocabulary
    assert metrics["val_exact_match"] >= 0.9
    assert metrics["val_bleu"] == pytest.approx(100) and metrics["val_chrf"] == pytest.approx(100)
    assert app.translate(["4 0 7"], beam_width=1) == ["four zero seven."]


def test_checkpoint_averaging_keeps_the_mean_only_when_it_translates_better(trained):
    """finish_training with average_epochs=2 on epochs fed to EpochWeights here: the best
    epoch's weights plus noise, the one before minus the same noise (their mean: the
    trained weights), and a later, worse epoch (not averaged: only the best and those
    before it are) are averaged and kept; the trained weights beside noise alone are not."""
    from recipes.translator.recipe import EpochWeights

    app = trained[0]
    config, weights = app.config, app.model.get_weights()
    rng = np.random.default_rng(4)
    noise = [rng.normal(0.0, 0.5, w.shape).astype(w.dtype) for w in weights]
    plus = [w + n for w, n in zip(weights, noise, strict=True)]
    minus = [w - n for w, n in zip(weights, noise, strict=True)]

    def fed(*epochs):
        """EpochWeights(count=2) at the end of each (weights, val_loss) epoch."""
        callback = EpochWeights("val_loss", 2)
        callback.set_model(app.model)
        for epoch, (values, loss) in enumerate(epochs):
            app.model.set_weights(values)
            callback.on_epoch_end(epoch, {"val_loss": loss})
        return callback

    try:
        app.config = config.replace(average_epochs=2)
        app._epoch_weights = fed((noise, 0.9), (minus, 0.5), (plus, 0.4), (noise, 0.6))
        app.model.set_weights(plus)  # the best epoch: epoch 3
        chosen = app.finish_training(app.splits())
        assert chosen["averaged_epochs"] == [2, 3]
        assert chosen["val_bleu_averaged"] > chosen["val_bleu_best_epoch"], chosen
        assert app.translate(["4 0 7"], beam_width=1) == ["four zero seven."]

        app._epoch_weights = fed((noise, 0.5), (weights, 0.4))
        app.model.set_weights(weights)
        chosen = app.finish_training(app.splits())
        assert chosen["averaged_epochs"] == [], chosen
        assert chosen["val_bleu_best_epoch"] > chosen["val_bleu_averaged"]
        assert all(
            np.array_equal(a, b) for a, b in zip(app.model.get_weights(), weights, strict=True)
        )
    finally:
        app.config = config
        app._epoch_weights = None
        app.model.set_weights(weights)


def _target_ids(app, text):
    return app.encode_targets(tf.constant([text]))[0].numpy()


def test_greedy_decoding_matches_the_teacher_forced_model(trained):
    """Every greedy token is the argmax of the model run over the tokens before it."""
    app, _, _ = trained
    sources = ["1 2", "9 9 8 7", "5", "3 1 4 1"]
    for source, output in zip(sources, app.translate(sources, beam_width=1), strict=True):
        ids = np.concatenate([_target_ids(app, output), [END]])
        src = app.encode_sources(tf.constant([source])).to_tensor()
        inputs = np.concatenate([[START], ids[:-1]])[None].astype("int32")
        logits = app.model([src, tf.constant(inputs)], training=False)
        logits = logits.numpy()[0]
        logits[:, :3] = -np.inf  # padding, out-of-vocabulary and start are never written
        np.testing.assert_array_equal(logits.argmax(-1), ids)


def _log_probs(app, source, sequences):
    """Teacher-forced log-probabilities of token sequences (ending at their end token)."""
    src = app.encode_sources(tf.constant([source])).to_tensor()
    targets = np.array(sequences)
    inputs = np.concatenate([np.full((len(targets), 1), START), targets[:, :-1]], 1)
    inputs = tf.constant(inputs, tf.int32)
    logits = app.model([tf.repeat(src, len(targets), 0), inputs], training=False).numpy()
    logits[:, :, :3] = -1e9
    top = logits.max(-1, keepdims=True)
    logp = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
    picked = np.take_along_axis(logp, targets[..., None], -1)[..., 0]
    ended = np.cumsum(targets == END, 1) - (targets == END) > 0  # after the end token
    return np.where(ended, 0.0, picked).sum(1)


def _every_translation(app, source: str, steps: int, alpha: float) -> list[tuple[str, float]]:
    """Every translation of at most ``steps`` tokens with its best length-normalized
    log-probability (tokens after the end token do not count), best first."""
    vocabulary = list(range(END, app.target_size))
    sequences = [list(s) for s in itertools.product(vocabulary, repeat=steps)]
    scores = _log_probs(app, source, sequences)
    lengths = np.array(
        [s.index(END) + 1 if END in s else steps for s in sequences], dtype="float32"
    )
    normalized = scores / ((5 + lengths) / 6) ** alpha
    distinct: dict[str, float] = {}
    for sequence, score in zip(sequences, normalized, strict=True):
        kept = sequence[: sequence.index(END)] if END in sequence else sequence
        words = [app.target_vocabulary[i - 4] for i in kept]
        text = join_words(tf.constant([words], tf.string)).numpy()[0].decode()
        distinct[text] = max(distinct.get(text, -np.inf), float(score))
    return sorted(distinct.items(), key=lambda item: -item[1])


def test_beam_search_finds_the_best_sequence_by_brute_force(trained):
    """With as many beams as sequences of 2 tokens, the search of 3 steps is exhaustive:
    it must return the translation with the best length-normalized log-probability."""
    app, _, _ = trained
    width, steps, alpha = (app.target_size - END) ** 2, 3, 0.6
    (expected, _), *_ = _every_translation(app, "8 1 6", steps, alpha)
    found = app.translate(["8 1 6"], beam_width=width, length_penalty=alpha, max_length=steps)
    assert found == [expected]


def test_n_best_are_the_best_sequences_by_brute_force(trained):
    """Exhaustive as above, the n best are the n best distinct translations, with their
    scores."""
    app, _, _ = trained
    width, steps, alpha = (app.target_size - END) ** 2, 3, 0.6
    expected = _every_translation(app, "5 9", steps, alpha)[:5]
    [found] = app.n_best(["5 9"], 5, beam_width=width, length_penalty=alpha, max_length=steps)
    assert [t for t, _ in found] == [t for t, _ in expected]
    np.testing.assert_allclose([x for _, x in found], [x for _, x in expected], atol=1e-4)
    with pytest.raises(UserError, match=r"n_best must be an integer in \[1, 3\]"):
        app.n_best(["5 9"], 4, beam_width=3)


def test_beam_search_batches_like_single_inputs(trained):
    app, _, _ = trained
    sources = ["2 7 1 8", "0", "6 6"]
    together = app.translate(sources, beam_width=4)
    assert together == [app.translate([s], beam_width=4)[0] for s in sources]


def test_bleu_and_exact_match_on_a_tiny_set(trained, tmp_path):
    app, _, _ = trained
    pairs = [("1 2 3", "one two three."), ("4 5", "four five."), ("9", "zero.")]
    data = write_pairs(tmp_path / "tiny.tsv", pairs)
    scores = app.evaluate(data=data)
    hypotheses = app.translate([s for s, _ in pairs])
    references = [t for _, t in pairs]
    bleu = sacrebleu.corpus_bleu(hypotheses, [references]).score
    chrf = sacrebleu.corpus_chrf(hypotheses, [references]).score
    assert scores["bleu"] == pytest.approx(bleu, abs=1e-4)
    assert scores["chrf"] == pytest.approx(chrf, abs=1e-4)
    expected = np.mean([h == r for h, r in zip(hypotheses, references, strict=True)])
    assert scores["exact_match"] == pytest.approx(expected) and expected <= 2 / 3


def test_save_load_and_export(trained, tmp_path):
    app, _, root = trained
    sources = ["3 3 1", "7 0 2 5"]
    expected = app.translate(sources)
    loaded = load_run(root / "run")
    assert loaded.translate(sources) == expected
    export = app.export(tmp_path / "export")
    served = tf.saved_model.load(str(export)).signatures["serving_default"](
        text=tf.constant(sources)
    )
    assert [t.decode() for t in served["translation"].numpy()] == expected


def test_translate_signature_takes_beam_width_and_n_best(trained, tmp_path):
    """The export's ``translate``: any beam width up to its widest gives the search of that
    width (one compiled program, the beams past it dropped), with the n best and the
    attention weights of the best translation over the source tokens."""
    app, _, _ = trained
    sources = ["3 3 1", "7 0 2 5", "4"]
    translate = tf.saved_model.load(str(app.export(tmp_path / "export"))).signatures["translate"]
    for width, n in ((1, 1), (2, 2), (3, 2), (5, 4)):
        out = translate(
            text=tf.constant(sources), beam_width=tf.constant(width), n_best=tf.constant(n)
        )
        expected = app.n_best(sources, n, beam_width=width)
        texts = [[t.decode() for t in row] for row in out["translations"].numpy()]
        assert texts == [[t for t, _ in best] for best in expected], width
        assert [t.decode() for t in out["translation"].numpy()] == [b[0][0] for b in expected]
        np.testing.assert_allclose(
            out["scores"].numpy(), [[x for _, x in best] for best in expected], atol=1e-4
        )
    for row, source in enumerate(sources):
        tokens, output, weights = app.attention(source, texts[row][0])
        served_tokens = [t.decode() for t in out["source_tokens"].numpy()[row]]
        served_output = [t.decode() for t in out["output_tokens"].numpy()[row]]
        assert served_tokens[: len(tokens)] == tokens and not any(served_tokens[len(tokens) :])
        assert served_output[: len(output)] == output and not any(served_output[len(output) :])
        served = out["attention"].numpy()[row]
        np.testing.assert_allclose(served[: len(output), : len(tokens)], weights, atol=1e-5)
        assert not served[len(output) :].any() and not served[:, len(tokens) :].any()
    for width, n, message in (
        (0, 1, "beam_width must be at least 1"),
        (17, 1, "beam_width must be at most 16"),
        (2, 3, "n_best must be at most beam_width"),
        (2, 0, "n_best must be at least 1"),
    ):
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            translate(
                text=tf.constant(sources), beam_width=tf.constant(width), n_best=tf.constant(n)
            )


@pytest.fixture(scope="module")
def onnx_export(trained, tmp_path_factory):
    """The trained run's ONNX export, loaded by its inference.py (in this process)."""
    app, _, _ = trained
    out = app.export(tmp_path_factory.mktemp("onnx") / "export", format="onnx")
    return out, onnx_inference.load(out)


#: an empty text, an out-of-vocabulary word, a run of marks
ONNX_SOURCES = ["3 3 1", "7 0 2 5", "4", "", "9 x 8 8 2 1 0", "1 ?! 2"]


def _assert_same_answers(found, expected):
    """predict's dicts equal, the rounded scores within one rounding step."""
    assert [{k: v for k, v in r.items() if k != "n_best"} for r in found] == [
        {k: v for k, v in r.items() if k != "n_best"} for r in expected
    ]
    for ours, theirs in zip(found, expected, strict=True):
        assert ("n_best" in ours) == ("n_best" in theirs)
        for a, b in zip(ours.get("n_best", []), theirs.get("n_best", []), strict=True):
            assert a["translation"] == b["translation"]
            assert abs(a["score"] - b["score"]) <= 1.0001e-4


@pytest.mark.parametrize("width, n", [(1, 1), (2, 1), (2, 2), (4, 2), (4, 3)])
def test_onnx_export_decodes_as_the_model(trained, onnx_export, width, n):
    """onnxruntime's search (one 16 wide, ``width`` live) gives Keras's translations and
    n best, scores within 1e-5, and predict's dicts."""
    app, _, _ = trained
    folder, served = onnx_export
    assert {p.name for p in folder.iterdir()} >= {
        onnx.MODEL_FILE,
        onnx.PREPROCESSING_FILE,
        onnx.INFERENCE_FILE,
    }
    expected = app.n_best(ONNX_SOURCES, n, beam_width=width)
    found = served.n_best(ONNX_SOURCES, n, beam_width=width)
    assert [[t for t, _ in b] for b in found] == [[t for t, _ in b] for b in expected]
    np.testing.assert_allclose(
        [[x for _, x in b] for b in found], [[x for _, x in b] for b in expected], atol=1e-5
    )
    assert served.translate(ONNX_SOURCES, beam_width=width) == [b[0][0] for b in expected]
    options = {"beam_width": width, "n_best": n}
    _assert_same_answers(
        served.predict(ONNX_SOURCES, **options), app.predict(ONNX_SOURCES, **options)
    )


def test_onnx_export_attention_options_and_errors(trained, onnx_export):
    """The best translation's tokens and attention weights are Keras's (1e-5); the
    defaults and the length options are the run's; bad options say which and why."""
    app, _, _ = trained
    _, served = onnx_export
    for source in ONNX_SOURCES:
        tokens, output, weights = served.attention(source, beam_width=2)
        if source:  # the Keras model reads no empty source
            expected = app.attention(source, app.translate([source], beam_width=2)[0])
            assert (tokens, output) == expected[:2]
            np.testing.assert_allclose(weights, expected[2], atol=1e-5)
        assert output[-1] == "</s>" and weights.shape == (len(output), len(tokens))
    _assert_same_answers(served.predict(ONNX_SOURCES), app.predict(ONNX_SOURCES))
    short = {"beam_width": 3, "length_penalty": 0.0, "max_length": 2}
    expected = app.n_best(ONNX_SOURCES, 2, **short)
    found = served.n_best(ONNX_SOURCES, 2, **short)
    assert [[t for t, _ in b] for b in found] == [[t for t, _ in b] for b in expected]
    np.testing.assert_allclose(
        [[x for _, x in b] for b in found], [[x for _, x in b] for b in expected], atol=1e-5
    )
    assert served.predict([]) == []
    for options, message in (
        ({"beam_width": 17}, r"beam_width must be an integer in \[1, 16\] \(the widest"),
        ({"beam_width": 0}, r"beam_width must be an integer in \[1, 16\]"),
        ({"beam_width": 2, "n_best": 3}, r"n_best must be an integer in \[1, 2\]"),
        ({"n_best": 0}, r"n_best must be an integer in \[1, 3\]"),
    ):
        with pytest.raises(ValueError, match=message):
            served.predict(["1"], **options)


def test_attention_plot(trained, tmp_path):
    app, _, _ = trained
    source, output, weights = app.attention("4 0 7")
    assert source == ["4", "0", "7"] and output[-1] == "</s>"
    assert weights.shape == (len(output), 3)
    np.testing.assert_allclose(weights.sum(-1), 1, rtol=1e-5)
    result = app.predict(["4 0 7"], plot=str(tmp_path / "a.png"))
    assert result == [{"source": "4 0 7", "translation": app.translate(["4 0 7"])[0]}]
    assert (tmp_path / "a.png").stat().st_size > 1000


def test_cli_translate_and_evaluate(trained, tmp_path, capsys):
    _, _, root = trained
    run = str(root / "run")
    assert (
        main(["translate", run, "1 2", "5", "--beam-width", "1", "--plot", str(tmp_path / "p.png")])
        == 0
    )
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["source"] for x in lines] == ["1 2", "5"] and (tmp_path / "p.png").exists()
    assert main(["translate", run, "1 2", "--beam-width", "3", "--n-best", "2"]) == 0
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    best = load_run(root / "run").n_best(["1 2"], 2, beam_width=3)[0]
    assert line["n_best"] == [{"translation": t, "score": round(x, 4)} for t, x in best]
    assert line["translation"] == best[0][0] and best[0][1] >= best[1][1]
    assert main(["translate", run, "1 2", "--beam-width", "2", "--n-best", "3"]) == 2
    assert "n_best must be an integer in [1, 2]" in capsys.readouterr().err
    data = write_pairs(tmp_path / "t.tsv", digit_pairs(20, seed=5))
    assert main(["evaluate", run, "--data", data, "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"bleu", "chrf", "exact_match"}
    assert main(["translate", run, "1", "--samples", "2"]) == 2
    assert "--samples does not apply to the translator" in capsys.readouterr().err


# -- variants and sources -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def lstm_luong(tmp_path_factory):
    """The other cell and attention fit on word pairs with ``epochs = 0`` (the data's
    default, made 2 here): (the recipe, its metrics, its run folder), shared by the
    variant's test and the default epochs' test."""
    import recipes.translator.recipe as module

    keras.utils.set_random_seed(1234)
    root = tmp_path_factory.mktemp("lstm_luong")
    data = write_pairs(root / "d.tsv", digit_pairs(100))
    app = Translator(**TINY, cell="lstm", attention="luong", patience=0, jit_compile=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "SENTENCE_EPOCHS", 2)
        metrics = app.fit(data=data, run_dir=root / "run", verbose=0)
    return app, metrics, root / "run"


def test_lstm_luong_variant_trains_saves_and_exports(lstm_luong):
    app, _, run = lstm_luong
    assert (app.config.cell, app.config.attention) == ("lstm", "luong")
    expected = app.translate(["1 2"], beam_width=2)
    assert load_run(run).translate(["1 2"], beam_width=2) == expected


def test_onnx_export_of_an_lstm_luong_model_on_characters(tmp_path):
    """The other cell, attention and tokens, untrained (random weights): onnxruntime
    gives Keras's n best, scores and attention weights."""
    app = Translator(**TINY, cell="lstm", attention="luong", dates=100)
    app.prepare(app.load_splits(None))
    app.model = app.build_model()
    assert app.token_kind == "chars"
    served = onnx_inference.load(app.export(tmp_path / "onnx", format="onnx"))
    sources = ["3 may 1979", "12/31/99", "sat 1 jan 2000"]
    expected = app.n_best(sources, 2, beam_width=2, max_length=8)
    found = served.n_best(sources, 2, beam_width=2, max_length=8)
    assert [[t for t, _ in b] for b in found] == [[t for t, _ in b] for b in expected]
    np.testing.assert_allclose(
        [[x for _, x in b] for b in found], [[x for _, x in b] for b in expected], atol=1e-5
    )
    [[(translation, _), _]] = expected[:1]
    [found] = served.search(sources[:1], 1, beam_width=2, max_length=8)
    tokens, output, weights = app.attention(sources[0], translation)
    # the rows of the tokens written (a search stopped by max_length wrote no end token)
    written = len(found["output_tokens"])
    assert found["source_tokens"] == tokens and found["output_tokens"] == output[:written]
    np.testing.assert_allclose(found["attention"], weights[:written], atol=1e-5)


def test_default_data_is_dates_in_characters(tmp_path):
    app = Translator(**TINY, dates=400, epochs=1, beam_width=1, jit_compile=False)
    app.fit(run_dir=tmp_path / "run", verbose=0)
    assert app.token_kind == "chars"
    assert set("0123456789-") <= set(app.target_vocabulary)
    assert set(app.evaluate()) == {"bleu", "chrf", "exact_match"}  # the test split


def test_epochs_default_to_the_data(lstm_luong, monkeypatch):
    """epochs = 0: a few for the generated dates, more for other data (given to fit; the
    fixture's run, SENTENCE_EPOCHS made 2 there)."""
    import recipes.translator.recipe as module

    monkeypatch.setattr(module, "SENTENCE_EPOCHS", 2)
    assert Translator().planned_epochs() == module.DATE_EPOCHS
    assert Translator(epochs=5, data="x.tsv").planned_epochs() == 5
    app, metrics, _ = lstm_luong
    assert app.config.epochs == 0 and metrics["epochs_done"] == 2


def test_reverse_swaps_the_columns(tmp_path):
    data = write_pairs(tmp_path / "d.tsv", digit_pairs(50))
    splits = Translator(reverse=True).load_splits(data)
    assert splits.train.texts[0].endswith(".") and splits.train.labels[0][0].isdigit()


class TinyPairs(tfds.core.GeneratorBasedBuilder):
    """A translation set with its own splits, built on the spot."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.Translation(languages=("digits", "en")),
            supervised_keys=("digits", "en"),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(80, 0), "test": self._generate_examples(10, 1)}

    def _generate_examples(self, n, seed):
        for i, (s, t) in enumerate(digit_pairs(n, seed)):
            yield f"{seed}-{i}", {"digits": s, "en": t}


def test_tfds_translation_source(tmp_path):
    app = Translator(**TINY, epochs=1, data_dir=str(tmp_path), jit_compile=False)
    splits = app.load_splits("tfds:tiny_pairs")
    assert (len(splits.train) + len(splits.validation), len(splits.test)) == (80, 10)
    assert splits.test.labels[0].endswith(".")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"beam_width": 0}, "beam_width"),
        ({"dropout": 1.0}, "dropout"),
        ({"atention": "luong"}, "attention"),
    ],
)
def test_config_errors_name_the_key(overrides, message):
    with pytest.raises(UserError, match=message):
        Translator.from_config(overrides)


def test_bad_pairs_file_names_the_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("a\tb\nc\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"bad.tsv, line 2"):
        Translator().load_splits(str(path))


def test_tflite_export_is_refused_naming_the_flex_ops(trained, tmp_path):
    """TFLite's builtins cannot run the beam search's TensorLists: one line naming them,
    and nothing written."""
    app, _, _ = trained
    with pytest.raises(UserError) as refused:
        app.export(tmp_path / "tflite", format="tflite")
    assert str(refused.value).startswith(
        "translator has no TFLite export: TFLite's builtin ops cannot run "
    )
    assert "TensorListReserve" in str(refused.value)
    assert not (tmp_path / "tflite").exists()
