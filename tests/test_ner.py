"""Named-entity tagger: tokens, shapes, training with the CRF (and softmax), tagging with
entity spans, seqeval metrics, save/load, export, the CLI."""

import json
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from recipes import NER, UserError
from recipes.core.data import Splits
from recipes.core.runs import load_run
from recipes.ner import onnx_inference
from recipes.ner.conll import Tagged
from recipes.ner.features import SHAPES, tokenize, unicode_classes, word_shapes
from recipes.ner.scoring import ENTITY_BIASES, entities, entity_spans
from recipes.ner.tagger import WordDropout
from rnn_apps.cli import main

PEOPLE = ["Alice", "Bob", "Carmen", "Dmitri", "Erin", "Farid", "Grace", "Hugo", "Ines", "Jun"]
SURNAMES = ["Smith", "Okafor", "Novak", "Tanaka", "Lopez"]
PLACES = ["Paris", "Lagos", "Osaka", "Quito", "Oslo", "Lima", "Accra", "Hanoi"]
TINY = dict(word_dim=16, char_dim=8, char_units=8, shape_dim=4, units=16, batch_size=8)


def sentences(n: int, seed: int) -> list[list[tuple[str, str]]]:
    """Simple tagged sentences: people (one or two words) travelling to places."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        person = [(str(rng.choice(PEOPLE)), "B-person")]
        if rng.random() < 0.4:
            person.append((str(rng.choice(SURNAMES)), "I-person"))
        place = [(str(rng.choice(PLACES)), "B-location")]
        verb = str(rng.choice(["flew", "moved", "drove", "went"]))
        words = [*person, (verb, "O"), ("to", "O"), *place, (".", "O")]
        if rng.random() < 0.5:
            words = [("Yesterday", "O"), *words]
        out.append(words)
    return out


def write_conll(path, data) -> str:
    path.write_text(
        "-DOCSTART- O\n\n" + "".join("".join(f"{w}\t{t}\n" for w, t in s) + "\n" for s in data),
        encoding="utf-8",
    )
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("ner")
    folder = root / "data"
    folder.mkdir()
    write_conll(folder / "train.conll", sentences(240, 0))
    write_conll(folder / "dev.conll", sentences(40, 1))
    write_conll(folder / "test.conll", sentences(40, 2))
    app = NER(**TINY, epochs=8, learning_rate=1e-2, patience=0, dropout=0.1)
    metrics = app.fit(data=str(folder), run_dir=root / "run", verbose=0)
    return app, metrics, root


def test_tokenize_and_shapes():
    tokens = tokenize(tf.constant(["It's @bob in Paris, see https://x.co/a?b=1 (now)!"]))
    words = [t.decode() for t in tokens[0].numpy()]
    assert words == [
        "It",
        "'s",
        "@bob",
        "in",
        "Paris",
        ",",
        "see",
        "https://x.co/a?b=1",
        "(",
        "now",
        ")",
        "!",
    ]
    shapes = [SHAPES[i - 1] for i in word_shapes(tokens)[0].numpy()]
    assert shapes[:6] == ["Xx", "xX", "@", "x", "Xx", "."] and shapes[7] == "url"


def test_entities_from_iob2():
    tokens = ["Alice", "Smith", "went", "to", "New", "York", "."]
    tags = ["B-person", "I-person", "O", "O", "B-location", "I-location", "O"]
    assert entities(tokens, tags) == [
        {"type": "person", "start": 0, "end": 2, "text": "Alice Smith"},
        {"type": "location", "start": 4, "end": 6, "text": "New York"},
    ]


def test_fit_learns_and_reports_seqeval_metrics(trained):
    app, metrics, root = trained
    for name in ("config.toml", "model.keras", "vocabulary.json", "metrics.json", "training.png"):
        assert (root / "run" / name).exists(), name
    assert app.tags == ["B-location", "B-person", "I-person", "O"]
    assert metrics["val_f1"] >= 0.9
    scores = app.evaluate()  # the folder's test file
    assert {"precision", "recall", "f1", "f1_person", "f1_location"} <= set(scores)
    assert scores["f1"] >= 0.9


def test_tag_returns_tokens_tags_and_spans(trained):
    app, _, _ = trained
    result = app.tag(["Yesterday Grace Novak moved to Osaka.", ["Hugo", "went", "to", "Lima"]])
    assert result[0]["tokens"] == ["Yesterday", "Grace", "Novak", "moved", "to", "Osaka", "."]
    assert result[0]["entities"] == [
        {"type": "person", "start": 1, "end": 3, "text": "Grace Novak"},
        {"type": "location", "start": 5, "end": 6, "text": "Osaka"},
    ]
    assert [e["text"] for e in result[1]["entities"]] == ["Hugo", "Lima"]
    assert app.tag([""]) == [{"tokens": [], "tags": [], "entities": []}]


def test_unseen_names_are_recognized_by_their_shape(trained):
    app, _, _ = trained
    result = app.tag(["Zoltan flew to Perth ."])[0]
    assert [e["type"] for e in result["entities"]] == ["person", "location"]


def test_save_load_and_export(trained, tmp_path):
    app, _, root = trained
    texts = ["Erin Lopez drove to Accra .", "Yesterday Jun went to Oslo ."]
    expected = app.tag(texts)
    assert load_run(root / "run").tag(texts) == expected
    export = app.export(tmp_path / "export")
    served = tf.saved_model.load(str(export)).signatures["serving_default"](
        sentence=tf.constant(texts)
    )
    for row, result in zip(served["tags"].numpy(), expected, strict=True):
        assert [t.decode() for t in row if t] == result["tags"]
    assert served_entities(served) == [r["entities"] for r in expected]
    assert all(r["entities"] for r in expected)  # the comparison saw entities


@pytest.fixture(scope="module")
def onnx_tokenizer():
    return onnx_inference.Tokenizer(unicode_classes())


#: letters of several scripts and cases, digits (and other numbers), marks, the
#: characters of the rules (@ # _ ' ’ n't), and whitespace RE2's \s and str.split differ on
ALPHABET = "aBzéÉİßΣςσЖж中ǅ٣²Ⅻ0 9.,!?:;/-_'’\"()…@#😀\t\n\r\x0b\x0c\u00a0\u2003\x85\u0301"


@settings(max_examples=150, deadline=None)
@given(
    text=st.lists(
        st.one_of(
            st.text(alphabet=ALPHABET, max_size=12),
            st.sampled_from(
                ["n't", "'s", "'re", "N'T", "'LL", "http://x.io/a?b", "www.y.org.", "@al_1", "#Go"]
            ),
        ),
        max_size=6,
    ).map("".join)
)
def test_onnx_tokenizer_and_shapes_are_the_savedmodels(text, onnx_tokenizer):
    """inference.py's tokens and word shapes are those the SavedModel computes in the
    graph (RE2), for any text."""
    expected = [t.decode("utf-8") for t in tokenize(tf.constant([text]))[0].numpy()]
    tokens = onnx_tokenizer.tokenize(text)
    assert tokens == expected
    if tokens:
        shapes = word_shapes(tf.ragged.constant([tokens])).flat_values.numpy().tolist()
        assert [onnx_tokenizer.shape_id(t) for t in tokens] == shapes


def test_onnx_export_tags_as_the_model(trained, tmp_path):
    """The ONNX export in onnxruntime: the model's tag scores within 1e-5 and predict's
    dicts, entity bias included."""
    app, _, _ = trained
    app.set_entity_bias(0.5)
    try:
        out = app.export(tmp_path / "onnx", format="onnx")
        texts = [
            "Erin Lopez drove to Accra.",
            "Yesterday, Jun went to Oslo and Hugo Tanaka moved to Lima!",
            "",
            "grace flew to PARIS ... with @ines #travel http://x.io",
        ]
        served = onnx_inference.load(out)
        tokens = [served.tokenizer.tokenize(t) for t in texts[:2]]
        features = app.features(tf.ragged.constant(tokens))
        expected = (app.model.scores(features) + app.model.decode_bias).numpy()
        np.testing.assert_allclose(served.run(tokens)["scores"], expected, atol=1e-5)
        assert served.predict(texts) == app.predict(texts)
        assert sum(len(r["entities"]) for r in served.predict(texts)) >= 4
    finally:
        app.set_entity_bias(0.0)


def test_tflite_export_is_refused_naming_the_flex_ops(trained, tmp_path):
    """TFLite's builtins cannot run the tagger's TensorLists: one line naming them, and
    nothing written."""
    app, _, _ = trained
    with pytest.raises(UserError) as refused:
        app.export(tmp_path / "tflite", format="tflite")
    assert str(refused.value).startswith(
        "ner has no TFLite export: TFLite's builtin ops cannot run TensorListReserve"
    )
    assert "\n" not in str(refused.value) and not (tmp_path / "tflite").exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def served_entities(served) -> list[list[dict]]:
    """The export's entity outputs as :func:`entities` gives them (padding dropped)."""
    columns = [served[f"entity_{k}"].numpy() for k in ("type", "start", "end", "text")]
    return [
        [
            {"type": t.decode(), "start": int(s), "end": int(e), "text": x.decode()}
            for t, s, e, x in zip(*row, strict=True)
            if s >= 0
        ]
        for row in zip(*columns, strict=True)
    ]


TAGS = ["O", "B-person", "I-person", "B-location", "I-location", "I-group"]


def test_entity_spans_in_the_graph_are_those_of_entities():
    """Random IOB2 rows, ill-formed ones included (I- after O, after another type, first
    in a row), empty rows among them."""
    rng = np.random.default_rng(0)
    for _ in range(60):
        rows = [list(rng.choice(TAGS, rng.integers(0, 7))) for _ in range(rng.integers(1, 5))]
        tokens = [[f"w{i}.{j}" for j in range(len(r))] for i, r in enumerate(rows)]
        ragged = [tf.ragged.constant(x, dtype=tf.string, ragged_rank=1) for x in (tokens, rows)]
        got = served_entities(entity_spans(*ragged))
        assert got == [entities(t, r) for t, r in zip(tokens, rows, strict=True)], rows
    # no entity in the batch: every output is [batch, 0]
    quiet = tf.ragged.constant([["O"], []], dtype=tf.string, ragged_rank=1)
    assert {k: v.shape for k, v in entity_spans(quiet, quiet).items()} == {
        f"entity_{k}": (2, 0) for k in ("type", "start", "end", "text")
    }


def test_entity_bias_is_chosen_on_validation_and_kept(trained, tmp_path):
    app, metrics, root = trained
    assert metrics["entity_bias"] in ENTITY_BIASES and app.entity_bias == metrics["entity_bias"]
    assert load_run(root / "run").entity_bias == metrics["entity_bias"]
    validation = app.splits().validation
    chosen = app.entity_bias
    try:
        # the model's own decoding (metrics) agrees with the calibration's (scores + bias)
        scores = app.calibrate_entity_bias(validation, biases=(-30.0, 0.0, chosen))
        assert scores[-30.0] == 0.0  # no entities at all
        assert app.entity_bias == chosen and scores[chosen] == metrics["val_f1"]
        assert app.metrics(validation)["f1"] == scores[chosen]
        app.set_entity_bias(0.0)
        assert app.metrics(validation)["f1"] == scores[0.0] == metrics["val_f1_unbiased"]
        app.set_entity_bias(1.25)  # saved with the model
        assert load_run(app.save(tmp_path / "saved")).entity_bias == 1.25
        text = "Yesterday Bob went to Lima ."
        app.set_entity_bias(-40.0)
        assert app.entity_bias == -40.0 and set(app.tag([text])[0]["tags"]) == {"O"}
        app.set_entity_bias(40.0)  # every token becomes part of an entity
        assert "O" not in app.tag([text])[0]["tags"]
        export = app.export(tmp_path / "export")  # the bias is part of the exported model
        served = tf.saved_model.load(str(export)).signatures["serving_default"](
            sentence=tf.constant([text])
        )
        assert b"O" not in served["tags"].numpy()[0]
        with pytest.raises(UserError, match="No sentences"):
            app.calibrate_entity_bias(validation.take([]))
    finally:
        app.set_entity_bias(chosen)


def test_a_run_saved_before_the_entity_bias_loads_without_one(trained, tmp_path):
    import shutil
    import zipfile

    import h5py

    _, _, root = trained
    old = tmp_path / "old"
    shutil.copytree(root / "run", old)
    with zipfile.ZipFile(root / "run" / "model.keras") as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    (tmp_path / "weights.h5").write_bytes(files["model.weights.h5"])
    with h5py.File(tmp_path / "weights.h5", "r+") as weights:
        assert len(weights["vars"]) == 1  # the tagger's own variable: the bias
        del weights["vars"]
        weights.create_group("vars")  # as the models saved before it
    files["model.weights.h5"] = (tmp_path / "weights.h5").read_bytes()
    with zipfile.ZipFile(old / "model.keras", "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    app = load_run(old)
    assert app.entity_bias == 0.0
    assert app.tag(["Hugo went to Lima ."])[0]["entities"]


def test_cli_tag_and_evaluate(trained, tmp_path, capsys):
    _, _, root = trained
    run = str(root / "run")
    assert main(["tag", run, "Bob went to Quito ."]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["text"] == "Bob went to Quito ." and len(line["entities"]) == 2
    data = write_conll(tmp_path / "more.conll", sentences(10, 5))
    assert main(["evaluate", run, "--data", data, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["f1"] >= 0.8


def test_softmax_output_and_a_single_file(tmp_path):
    data = write_conll(tmp_path / "all.conll", sentences(60, 3))
    app = NER(**TINY, output="softmax", epochs=1, entity_bias=0.5)
    metrics = app.fit(data=data, run_dir=tmp_path / "run", verbose=0)
    assert "entity_bias" not in metrics and app.entity_bias == 0.5  # given, not chosen
    assert load_run(tmp_path / "run").entity_bias == 0.5
    splits = app.splits()
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (48, 6, 6)
    assert load_run(tmp_path / "run").tag(["Ines went to Lima ."]) == app.tag(
        ["Ines went to Lima ."]
    )


@pytest.fixture(scope="module")
def rare_run(tmp_path_factory):
    """A run of two epochs whose rare words are dropped more often, under the cosine
    schedule: (the recipe, its run folder), shared by the rates' test and the resume's."""
    keras.utils.set_random_seed(1234)
    root = tmp_path_factory.mktemp("ner-rare")
    data = write_conll(root / "all.conll", sentences(60, 4))
    app = NER(**TINY, epochs=2, word_dropout=0.1, rare_word_dropout=2.0, schedule="cosine")
    app.fit(data=data, run_dir=root / "run", verbose=0)
    return app, root / "run"


def test_rare_words_are_made_unknown_more_often_and_the_rates_are_kept(rare_run):
    app, run = rare_run
    layer = app.model.encoder.get_layer("word_dropout")
    counts = np.array(app.word_counts, np.float32)
    expected = [0.0, 0.0, *np.maximum(0.1, 2.0 / (2.0 + counts))]
    np.testing.assert_allclose(np.asarray(layer.rates), expected, rtol=1e-6)
    assert (
        np.asarray(layer.rates)[2 + counts.argmin()] > np.asarray(layer.rates)[2 + counts.argmax()]
    )
    reloaded = load_run(run).model.encoder.get_layer("word_dropout")
    np.testing.assert_allclose(np.asarray(reloaded.rates), expected, rtol=1e-6)
    # the cosine schedule: the rate falls from the peak, once per step
    state = json.loads((run / "state.json").read_text())
    rates = state["history"]["learning_rate"]
    assert rates[0] < app.config.learning_rate and rates[1] < rates[0]


def test_resume_keeps_the_rates_and_chooses_the_bias(rare_run, tmp_path):
    """A copy of the rare words' run (its per-word rates differ word by word) resumed for
    a third epoch."""
    first, run = rare_run
    shutil.copytree(run, tmp_path / "run")
    rates = np.asarray(first.model.encoder.get_layer("word_dropout").rates)
    resumed = NER()
    metrics = resumed.fit(run_dir=tmp_path / "run", resume=True, epochs=3, verbose=0)
    assert metrics["epochs_done"] == 3 and metrics["entity_bias"] in ENTITY_BIASES
    layer = resumed.model.encoder.get_layer("word_dropout")
    np.testing.assert_array_equal(np.asarray(layer.rates), rates)
    assert resumed.word_counts == first.word_counts
    assert load_run(tmp_path / "run").entity_bias == metrics["entity_bias"]


def test_word_dropout_per_word_rates():
    layer = WordDropout(0.0, seed=1, rates=[0.0, 0.0, 1.0, 0.0])
    ids = np.array([[2, 3, 2, 3, 0]] * 50, "int32")
    out = np.asarray(layer(ids, training=True))
    assert (out[:, [0, 2]] == 1).all() and (out[:, [1, 3]] == 3).all() and (out[:, 4] == 0).all()
    np.testing.assert_array_equal(np.asarray(layer(ids, training=False)), ids)
    uniform = np.asarray(WordDropout(0.5, seed=1)(np.full((100, 100), 3, "int32"), training=True))
    assert 0.45 < (uniform == 1).mean() < 0.55


def test_lowercase_sentences_in_training_only():
    data = sentences(200, 6)
    tagged = Tagged([[w for w, _ in s] for s in data], [[t for _, t in s] for s in data])
    app = NER(**TINY, lowercase_sentences=0.5)
    app.prepare(Splits(tagged, tagged, tagged))

    def lowercased(training):
        n = 0
        for features, _ in app.to_dataset(tagged, training=training):
            shapes = features["shape_ids"].numpy()
            cased = [SHAPES.index(k) + 1 for k in ("X", "Xx", "xX")]
            n += int((~np.isin(shapes, cased)).all(axis=1).sum())
        return n

    assert 70 <= lowercased(True) <= 130  # about half the sentences
    assert lowercased(False) == 0


def test_training_callbacks_follow_the_settings():
    from recipes.core.training import WeightAverage
    from recipes.ner.scoring import ValidationF1

    data = sentences(20, 7)
    tagged = Tagged([[w for w, _ in s] for s in data], [[t for _, t in s] for s in data])
    splits = Splits(tagged, tagged, tagged)
    kinds = [type(c) for c in NER(**TINY).training_callbacks(splits)]
    assert kinds == [ValidationF1]
    app = NER(**TINY, weight_average=0.9, schedule="cosine")
    callbacks = app.training_callbacks(splits)
    # the average first: the validation F1 and the checkpoints see the averaged weights
    # (the cosine schedule is Recipe.fit's, after these)
    assert [type(c) for c in callbacks] == [WeightAverage, ValidationF1]
    assert callbacks[0].momentum == 0.9


def test_config_errors():
    with pytest.raises(UserError, match="word_dropout"):
        NER(word_dropout=1.5)
    with pytest.raises(UserError, match="entity_bias"):
        NER(entity_bias=float("nan"))
    with pytest.raises(UserError, match="lowercase_sentences"):
        NER(lowercase_sentences=2.0)
    with pytest.raises(UserError, match="output"):
        NER.from_config({"output": "svm"})


# -- lexicons (recipes.ner.lexicons) --------------------------------------------------------
LEXICONS = {
    "frequency": {"the": 7, "flew": 4, "novak": 2},
    "places": ["new york", "paris", "rio de janeiro"],
    "first_names": ["bob"],
}


def test_lexicon_features_mark_whole_entries_and_frequencies():
    from recipes.ner.lexicons import LexiconTables

    tables = LexiconTables(LEXICONS)
    tokens = tf.ragged.constant(
        [
            ["Bob", "Novak", "flew", "to", "NEW", "York", "."],
            ["Rio", "de", "Janeiro", "or", "York", "?"],
            ["new"],
        ]
    )
    got = {k: v.numpy().tolist() for k, v in tables.features(tokens).items()}
    # 2 + the Zipf frequency; 1 for a word not listed; 0 padding
    assert got["frequency_ids"] == [[1, 4, 6, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0], [1] + [0] * 6]
    places = [[0, 0, 0, 0, 1, 1, 0], [1, 1, 1, 0, 0, 0, 0], [0] * 7]  # "york" alone: no
    first = [[1, 0, 0, 0, 0, 0, 0], [0] * 7, [0] * 7]
    assert np.array(got["gazetteer_ids"]).transpose(2, 0, 1).tolist() == [places, first]


def test_onnx_features_of_the_lexicons_are_the_graphs():
    from recipes.ner.lexicons import MAX_ENTRY_WORDS, LexiconTables

    rng = np.random.default_rng(5)
    words = ["New", "york", "Paris", "Rio", "de", "janeiro", "Bob", "the", "flew", "x", "."]
    token_lists = [
        [str(w) for w in rng.choice(words, size=int(rng.integers(1, 12)))] for _ in range(40)
    ]
    graph = LexiconTables(LEXICONS).features(tf.ragged.constant(token_lists))
    config = {"max_entry_words": MAX_ENTRY_WORDS, "lexicons": LEXICONS}
    portable = onnx_inference.Lexicons(config).features(token_lists)
    assert set(portable) == set(graph) == {"frequency_ids", "gazetteer_ids"}
    for name, value in graph.items():
        np.testing.assert_array_equal(portable[name], value.numpy(), err_msg=name)


def test_lexicons_from_their_packages_know_places_and_common_words():
    from recipes.ner.lexicons import COMMON_WORD, build_lexicons, word_frequencies

    lexicons = build_lexicons(frequency=True, places=True, names=False)
    assert set(lexicons) == {"frequency", "places"}
    frequency, places = lexicons["frequency"], set(lexicons["places"])
    assert frequency["the"] == 7 and 2 <= frequency["okafor"] <= 3
    assert "xqzzvk" not in frequency
    assert {"paris", "new york city", "lagos", "germany", "texas", "africa"} <= places
    # common English words are left out of the gazetteers ("of" is a town in Turkey)
    zipf = word_frequencies()
    assert zipf["of"] >= COMMON_WORD and "of" not in places
    assert all(zipf.get(entry, 0) < COMMON_WORD for entry in places)


def test_a_run_without_its_lexicons_file_says_so(trained, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained[2] / "run", run)
    text = (run / "config.toml").read_text(encoding="utf-8")
    text = text.replace("lexicon_places = false", "lexicon_places = true")
    (run / "config.toml").write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match="lexicons.json is missing"):
        load_run(run)
