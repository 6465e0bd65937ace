"""Character generators: corpus reading, training, bits per character, the compiled
generation loop (against the model run on whole sequences), save/load, export (the
SavedModel, and ONNX with inference.py against the recipe's own generation)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from recipes import CharMusic, CharText, UserError
from recipes.char_music.recipe import split_tunes
from recipes.char_music.tunes import bars_fit_meter, check_tune, headers
from recipes.char_text.recipe import STDLIB_MODULES, local_documents, stdlib_documents
from recipes.charlm import onnx_inference
from recipes.charlm.generation import UNIFORM_HIGH, UNIFORM_LOW, sample
from recipes.charlm.recipe import tail_split
from recipes.core.runs import load_run
from recipes.core.training import CosineBudget, TimeLimit

TINY = dict(window=24, units=24, layers=2, embedding_dim=8, batch_size=8, dropout=0.0)


def pattern_text(lines: int = 300) -> str:
    """Text with structure a tiny model learns in seconds: counting words, line by line."""
    words = ["one", "two", "three", "four", "five"]
    return "".join(f"{words[i % 5]} {words[(i + 1) % 5]}.\n" for i in range(lines))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("char_text")
    data = root / "counting.txt"
    data.write_text(pattern_text())
    app = CharText(**TINY, epochs=12, learning_rate=1e-2, patience=0)
    metrics = app.fit(data=str(data), run_dir=root / "run", verbose=0)
    return app, metrics, root


def test_fit_learns_and_writes_the_run_folder(trained):
    app, metrics, root = trained
    run = root / "run"
    for name in ("config.toml", "model.keras", "vocabulary.json", "metrics.json", "training.png"):
        assert (run / name).exists(), name
    assert set(json.loads((run / "vocabulary.json").read_text())) == set(pattern_text())
    # 15 distinct characters: uniform guessing costs log2(16) = 4 bits; the counting is
    # nearly deterministic once a line has begun
    assert metrics["val_bits_per_char"] < 1.0
    assert app.evaluate()["bits_per_char"] == pytest.approx(metrics["val_bits_per_char"])


def test_greedy_generation_continues_the_pattern(trained):
    app, _, _ = trained
    text = app.generate("two three.\nthree", length=40, temperature=0)[0]
    assert text.startswith("two three.\nthree four.\nfour five.\nfive one.\n")


def test_generation_loop_matches_the_model_on_whole_sequences(trained):
    """Greedy samples, primes of different lengths in one batch: every character is the
    argmax of the model run over the prime and everything generated before it."""
    app, _, _ = trained
    primes = ["o", "three fo", "five one.\none t"]
    texts = app.generate(primes, length=30, temperature=0)
    for prime, text in zip(primes, texts, strict=True):
        assert text.startswith(prime) and len(text) == len(prime) + 30
        ids = app.encode(text)
        logits = app.model(ids[None, :-1], training=False)[0].numpy()
        logits[:, 0] = -np.inf  # the loop never picks the out-of-vocabulary id
        predicted = logits.argmax(-1)[len(prime) - 1 :]
        np.testing.assert_array_equal(predicted, ids[len(prime) :])


def test_bits_per_char_carries_states_across_windows(trained):
    """Windows of 7 with carried states score exactly like one pass over the whole text."""
    app, _, _ = trained
    text = pattern_text(20)
    ids = app.encode(app.corpus([text]))
    logits = app.model(ids[None, :-1], training=False)[0]
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(ids[1:], logits).numpy()
    expected = nll.mean() / math.log(2)
    window = app.config.window
    try:
        app.config.window = 7
        assert app.bits_per_char([text], streams=1) == pytest.approx(expected, rel=1e-5)
    finally:
        app.config.window = window


def test_dynamic_evaluation_learns_what_the_text_repeats_and_restores_the_weights(trained):
    """adapt > 0: a line the training text never held, repeated, costs far fewer bits
    once the model learns from what it has read; the first window is scored before any
    step (as without adapting); the trained weights are back afterwards."""
    app = trained[0]
    held = "".join("one six seven.\n" for _ in range(40))
    before = [v.numpy().copy() for v in app.model.trainable_variables]
    static = app.bits_per_char([held], streams=1)
    adapted = app.bits_per_char([held], adapt=0.01)
    assert adapted < 0.5 * static, (adapted, static)
    assert all(
        np.array_equal(a, v.numpy())
        for a, v in zip(before, app.model.trainable_variables, strict=True)
    )
    assert app.bits_per_char([held], streams=1) == static
    first = held[: app.config.window]  # one window: nothing read before it to learn from
    assert app.bits_per_char([first], adapt=0.01) == pytest.approx(
        app.bits_per_char([first], streams=1), rel=1e-5
    )


def test_adapt_script_on_a_saved_run_in_a_fresh_process(trained, tmp_path):
    """``python quality/char_text_adapt.py`` on a run folder saved earlier: a row per rate
    on the first half, the rate of the lowest chosen, and its figures on the second half
    and the whole, in adapt.json as printed."""
    import shutil
    import subprocess
    import sys

    _, _, root = trained
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    script = Path(__file__).resolve().parents[1] / "quality" / "char_text_adapt.py"
    args = ["--data", str(root / "counting.txt"), "--run", str(run), "--rates", "0.001", "0.01"]
    done = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((run / "adapt.json").read_text())
    rows = result["first_half"]
    assert [r["rate"] for r in rows] == [0.001, 0.01]
    assert result["chosen_rate"] == min(rows, key=lambda r: r["bits_per_char"])["rate"]
    for row in rows:
        assert f"| {row['rate']:g} | {row['bits_per_char']:.3f} |" in done.stdout
    whole = result["chosen"]["whole"]["bits_per_char"]
    assert f"whole: {whole:.3f} bits/char" in done.stdout
    assert 0 < whole < 8 and result["characters"]["whole"] > result["characters"]["first half"]


def test_sampling_is_reproducible_for_a_seed(trained):
    app, _, _ = trained
    a = app.generate("one", samples=3, length=50, temperature=1.0, seed=7)
    assert a == app.generate("one", samples=3, length=50, temperature=1.0, seed=7)
    assert a != app.generate("one", samples=3, length=50, temperature=1.0, seed=8)
    assert len(set(a)) > 1  # samples in a batch differ


def test_sample_settings():
    logits = tf.math.log(tf.constant([[0.0, 0.1, 0.2, 0.3, 0.4]] * 2000) + 1e-9)
    seed = tf.constant([1, 2], tf.int64)

    def draws(temperature=1.0, top_k=0, top_p=1.0):
        return sample(logits, temperature, top_k, top_p, seed).numpy()

    assert set(draws(temperature=0.0)) == {4}
    assert set(draws(top_k=1)) == {4}
    assert set(draws(top_k=2)) == {3, 4}
    assert set(draws(top_p=0.5)) == {3, 4}  # 0.4 + 0.3 reach 0.5
    assert set(draws(top_p=0.3)) == {4}
    full = draws()
    assert 0 not in full and set(full) == {1, 2, 3, 4}  # id 0, out of vocabulary, never
    assert np.mean(full == 4) == pytest.approx(0.4, abs=0.04)
    assert np.mean(draws(temperature=0.5) == 4) > 0.5  # cooler: the likeliest more often


def test_load_and_export_generate_identically(trained, tmp_path):
    app, _, root = trained
    expected = app.generate(["one", "four f"], length=60, temperature=0.9, seed=5)
    loaded = load_run(root / "run")
    assert loaded.generate(["one", "four f"], length=60, temperature=0.9, seed=5) == expected

    loaded.export(tmp_path / "exported")
    reloaded = tf.saved_model.load(str(tmp_path / "exported"))
    assert {"serving_default", "generate"} <= set(reloaded.signatures)
    generate = reloaded.signatures["generate"]

    def served(top_k=0, top_p=1.0, length=60):
        out = generate(
            prime=tf.constant(["one", "four f"]),
            length=tf.constant(length),
            temperature=tf.constant(0.9),
            top_k=tf.constant(top_k),
            top_p=tf.constant(top_p),
            seed=tf.constant(5, tf.int64),
        )
        return [t.decode() for t in out["text"].numpy()]

    assert served() == expected
    # the sampling options are inputs, as generate's options
    for options in ({"top_k": 3}, {"top_p": 0.6}, {"top_k": 1}):
        assert served(**options) == app.generate(
            ["one", "four f"], length=60, temperature=0.9, seed=5, **options
        ), options
    for options, name in (
        ({"top_p": 0.0}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"length": -1}, "length"),
    ):
        with pytest.raises(tf.errors.InvalidArgumentError, match=name):
            served(**options)


UNIFORM_SHAPES_AND_SEEDS = [
    ((3, 7), (5, 0)),
    ((2, 65), (123456789012, 3)),
    ((1, 16), (-1, 7)),
    ((4, 5, 3), (2**32 - 1, 2**33 + 9)),
]
UNIFORM_RANGES = [(UNIFORM_LOW, UNIFORM_HIGH), (0.0, 1.0), (-2.5, 3.0)]


@pytest.fixture(scope="module")
def tf_uniforms():
    """``tf.random.stateless_uniform`` of every case below, eagerly and under XLA, by
    case: one compiled function draws those of all (the seeds fed, not constants), so
    that XLA compiles once rather than once per case."""
    cases = [(*c, *r) for c in UNIFORM_SHAPES_AND_SEEDS for r in UNIFORM_RANGES]

    def draw(seeds):
        return [
            tf.random.stateless_uniform(shape, seeds[i], minval=minval, maxval=maxval)
            for i, (shape, _, minval, maxval) in enumerate(cases)
        ]

    seeds = tf.constant([seed for _, seed, _, _ in cases], tf.int64)
    eager, xla = draw(seeds), tf.function(draw, jit_compile=True)(seeds)
    return {
        case: {False: e.numpy(), True: x.numpy()}
        for case, e, x in zip(cases, eager, xla, strict=True)
    }


@pytest.mark.parametrize("shape, seed", UNIFORM_SHAPES_AND_SEEDS)
@pytest.mark.parametrize("minval, maxval", UNIFORM_RANGES)
def test_onnx_uniforms_are_stateless_uniform_bit_for_bit(shape, seed, minval, maxval, tf_uniforms):
    """inference.py's Philox numbers are TensorFlow's, eagerly and under XLA (which cuts
    seeds to 32 bits, takes other bits for the mantissa and fuses the scaling)."""
    for xla, expected in tf_uniforms[shape, seed, minval, maxval].items():
        ours = onnx_inference.stateless_uniform(shape, seed, minval, maxval, xla=xla)
        assert ours.dtype == np.float32
        np.testing.assert_array_equal(ours, expected, err_msg=f"xla={xla}")


def test_onnx_uniforms_are_those_of_the_generation_loop():
    """The uniforms of every step of an XLA loop seeded ``[seed, i]``, as the generation
    loop draws them, for any rows of the batch."""

    @tf.function(jit_compile=True)
    def loop(seed, steps):
        written = tf.TensorArray(tf.float32, size=steps)

        def body(i, written):
            seeds = tf.stack([seed, tf.cast(i, tf.int64)])
            u = tf.random.stateless_uniform([5, 11], seeds, UNIFORM_LOW, UNIFORM_HIGH)
            return i + 1, written.write(i, u)

        _, written = tf.while_loop(lambda i, _: i < steps, body, (0, written))
        return written.stack()

    for seed in (0, 7, 2**32 - 1):
        expected = loop(tf.constant(seed, tf.int64), 9).numpy()
        for first, rows in ((0, 5), (2, 3), (3, 1)):
            ours = onnx_inference.generation_uniforms(seed, 9, rows, 11, first)
            np.testing.assert_array_equal(ours, expected[:, first : first + rows])


def test_onnx_export_generates_as_the_model(trained, tmp_path, monkeypatch):
    """model.onnx runs the whole generation loop; inference.py feeds it the uniforms of
    the seed: the same characters as generate and predict, the model's probabilities."""
    app, _, _ = trained
    out = app.export(tmp_path / "onnx", format="onnx")
    assert {p.name for p in out.iterdir()} >= {"model.onnx", "preprocessing.json", "inference.py"}
    served = onnx_inference.load(out)
    primes = ["one", "four f", "", "t\u00e9o?"]  # the default prime, unknown characters
    for options in (
        {"temperature": 0.0},
        {"temperature": 0.9, "seed": 5},
        {"temperature": 1.5, "top_k": 3, "seed": 1},
        {"temperature": 1.0, "top_p": 0.6, "seed": 2},
        {"temperature": 2.0, "top_k": 5, "top_p": 0.8, "seed": 2**32 - 1},
    ):
        expected = app.generate(primes, length=60, **options)
        assert served.generate(primes, length=60, **options) == expected, options
    # batches of a few rows draw the rows' own numbers: the same samples
    monkeypatch.setattr(onnx_inference, "MAX_UNIFORMS", 2 * 60 * app.vocabulary_size)
    assert served.generate(primes, length=60, temperature=0.9, seed=5) == app.generate(
        primes, length=60, temperature=0.9, seed=5
    )
    # predict's dicts and files; the config's settings by default
    ours = served.predict(["one", ""], samples=2, seed=3, out=str(tmp_path / "ours"))
    theirs = app.predict(["one", ""], samples=2, seed=3, out=str(tmp_path / "theirs"))
    for a, b in zip(ours, theirs, strict=True):
        assert Path(a.pop("file")).read_text() == Path(b.pop("file")).read_text()
    assert ours == theirs and len(ours[0]["text"]) == len("one") + app.config.length
    # the next character's distribution after each prime, as Keras gives it
    ids = [app.encode(p or app.default_prime) for p in primes]
    keras_p = [tf.nn.softmax(app.model(i[None], training=False)[0, -1]).numpy() for i in ids]
    np.testing.assert_allclose(served.probabilities(primes), np.stack(keras_p), atol=1e-5)
    for options, name in (({"top_p": 0.0}, "top_p"), ({"length": 0}, "length")):
        with pytest.raises(ValueError, match=name):
            served.predict(["one"], **options)


FIXTURES = Path(__file__).parent / "fixtures" / "runs_0.1.0"


@pytest.mark.parametrize("recipe", ["char_text", "char_music"])
def test_onnx_export_of_a_0_1_0_run_predicts_what_0_1_0_printed(recipe, tmp_path):
    """The ONNX export of each generator's 0.1.0 run: inference.py's predict gives what
    ``rnn-apps predict`` printed then (char_music: whole tunes, their checks, the rate)."""
    if recipe == "char_music":
        pytest.importorskip("music21")
    expected = json.loads((FIXTURES / recipe / "expected.json").read_text(encoding="utf-8"))
    out = load_run(FIXTURES / recipe).export(tmp_path / "onnx", format="onnx")
    pairs = zip(expected["options"][::2], expected["options"][1::2], strict=True)
    options = {k.lstrip("-").replace("-", "_"): json.loads(v) for k, v in pairs}
    assert onnx_inference.load(out).predict(expected["inputs"], **options) == expected["stdout"]


def test_predict_writes_samples(trained, tmp_path):
    app, _, _ = trained
    results = app.predict(["one"], samples=2, length=20, seed=3, out=str(tmp_path / "s"))
    assert [r["seed"] for r in results] == [3, 3]
    for number, result in enumerate(results, start=1):
        path = tmp_path / "s" / f"sample_{number:03d}.txt"
        assert result["file"] == str(path) and path.read_text() == result["text"]
    # no prime: the default one (a newline) is fed
    assert app.predict([], length=5, seed=1)[0]["text"].startswith("\n")


def test_sampling_errors_are_one_line(trained):
    app, _, _ = trained
    for kwargs, message in (
        ({"temperature": -1.0}, "temperature"),
        ({"top_k": -2}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"length": -1}, "length"),
    ):
        with pytest.raises(UserError, match=message):
            app.generate("one", **kwargs)


def test_resume_and_time_limit(tmp_path):
    data = tmp_path / "t.txt"
    data.write_text(pattern_text(100))
    run = tmp_path / "run"
    # a limit this short ends the run after its first epoch, checkpointed
    first = CharText(**TINY, epochs=4, max_minutes=1e-4).fit(data=str(data), run_dir=run, verbose=0)
    assert first["epochs_done"] == 1
    # the run's own settings come back with it: the limit ends this call after one epoch too
    resumed = CharText().fit(run_dir=run, resume=True, epochs=4, verbose=0)
    assert resumed["epochs_done"] == 2
    state = json.loads((run / "state.json").read_text())
    assert len(state["history"]["loss"]) == 2
    assert state["train_seconds"] > 0  # training time of both calls


def test_time_limit_counts_the_time_of_earlier_calls():
    class Model:
        stop_training = False

    for spent, stops in ((0.0, False), (61.0, True)):
        limit = TimeLimit(1.0, verbose=False, spent=spent)
        limit.set_model(Model())
        limit.on_train_begin()
        limit.on_epoch_begin(0)
        limit.on_epoch_end(0)
        assert limit.model.stop_training is stops


def test_cosine_budget_follows_steps_or_time_whichever_ends_first():
    budget = CosineBudget(1e-2, steps_per_epoch=10, alpha=0.1, minutes=1.0)
    budget.set_params({"epochs": 4})
    budget.on_train_begin()
    assert budget.rate(0, 0.0) == pytest.approx(1e-2)
    assert budget.rate(20, 0.0) == pytest.approx(1e-2 * 0.55)  # half the steps
    assert budget.rate(20, 45.0) == pytest.approx(
        1e-2 * (0.1 + 0.9 * 0.5 * (1 + math.cos(0.75 * math.pi)))
    )
    assert budget.rate(40, 1.0) == pytest.approx(1e-3)  # steps done: the floor
    assert budget.rate(3, 600.0) == pytest.approx(1e-3)  # time over: the floor
    untimed = CosineBudget(1e-2, steps_per_epoch=10)
    untimed.set_params({"epochs": 4})
    untimed.on_train_begin()
    assert untimed.rate(20, 1e9) == pytest.approx(1e-2 * 0.55)  # no time budget


def test_learning_rate_anneals_over_the_epochs_fit_runs(trained):
    """The trained run's 12 epochs (no time limit): the cosine over all their steps."""
    app, _, root = trained
    rates = json.loads((root / "run" / "state.json").read_text())["history"]["learning_rate"]
    epochs = app.config.epochs
    assert epochs == 12
    steps = app.steps_per_epoch(app.splits(), app.to_dataset(app.splits().train, True))
    # the rate of each epoch's last step: the cosine at (epoch * steps - 1) / (12 * steps)
    expected = [
        1e-2 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (e * steps - 1) / (epochs * steps))))
        for e in range(1, epochs + 1)
    ]
    assert rates == pytest.approx(expected, rel=1e-5)


def test_text_sources(tmp_path):
    assert tail_split("a\nb\nc\nd\n", 0.5) == ("a\nb\n", "c\nd\n")
    assert tail_split("abcdefghij", 0.2) == ("abcdefgh", "ij")
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "b.txt").write_text("B")
    (tmp_path / "d" / "sub" / "a.md").write_text("A")
    (tmp_path / "d" / ".hidden").write_text("H")
    texts = [t for _, t in local_documents(str(tmp_path / "d"))]
    assert texts == ["B", "A"]  # path order: d/b.txt before d/sub/a.md; hidden left out
    assert [t for _, t in local_documents(str(tmp_path / "d" / "*.txt"))] == ["B"]
    with pytest.raises(UserError, match="No file matches"):
        local_documents(str(tmp_path / "*.nothing"))
    with pytest.raises(UserError, match="does not exist"):
        local_documents(str(tmp_path / "missing.txt"))
    (tmp_path / "bad.txt").write_bytes(b"ok\n\xff\n")
    with pytest.raises(UserError, match=r"bad.txt, line 2: not UTF-8"):
        CharText().fit(data=str(tmp_path / "bad.txt"), run_dir=tmp_path / "r", verbose=0)
    assert not (tmp_path / "r").exists()


def test_embedded_default_is_the_stdlib_subset(monkeypatch, tmp_path):
    documents = stdlib_documents()
    assert len(documents) == len(STDLIB_MODULES)
    assert all(text.strip() for _, text in documents)
    assert "def " in documents[0][1]
    train, validation, test = CharText().load_documents(None)
    assert len(train) == len(validation) == len(STDLIB_MODULES) and test == []
    monkeypatch.setattr("sysconfig.get_paths", lambda: {"stdlib": str(tmp_path)})
    with pytest.raises(UserError, match="argparse.py.*--data"):
        stdlib_documents()


def test_too_short_text_is_an_error(tmp_path):
    data = tmp_path / "one.txt"
    data.write_text("a")
    with pytest.raises(UserError, match="one.txt: no training text"):
        CharText(**TINY).fit(data=str(data), run_dir=tmp_path / "r", verbose=0)


def test_config_errors_name_the_key():
    with pytest.raises(UserError, match="'windw'.*'window'"):
        CharText.from_config({"windw": 10})
    with pytest.raises(UserError, match="top_p"):
        CharText(top_p=1.5)
    with pytest.raises(UserError, match="'cell'"):
        CharText(cell="rnn")


# -- ABC music ------------------------------------------------------------------------
TUNE = """X:{n}
T:Tune {n}
M:6/8
L:1/8
K:D
|:DFA dfa|{notes}|agf edc|d3 d3:|
"""


def abc_file(path, count=40):
    notes = ["gfe dcB", "AFD DFA", "BGE EGB", "cAF FAc"]
    header = "%abc-2.1\n% a collection\nSome free text about the tunes.\n\n"
    body = "\n".join(TUNE.format(n=n, notes=notes[n % 4]) for n in range(1, count + 1))
    path.write_text(header + body.replace("L:1/8", "% a comment\nL:1/8", 1))
    return path


def test_split_tunes_drops_comments_and_free_text(tmp_path):
    tunes = split_tunes(abc_file(tmp_path / "t.abc", 3).read_text())
    assert len(tunes) == 3
    assert tunes[0].startswith("X:1\nT:Tune 1\nM:6/8\nL:1/8\nK:D\n") and "%" not in tunes[0]
    assert headers(tunes[0]) == {"X": "1", "T": "Tune 1", "M": "6/8", "L": "1/8", "K": "D"}
    # tunes that follow each other without a blank line still split at X:
    assert len(split_tunes("X:1\nK:C\nabc|\nX:2\nK:G\ndef|\n")) == 2


def test_check_tune():
    good = check_tune(TUNE.format(n=1, notes="gfe dcB"))
    assert good["parses"] and good["headers"]
    assert not check_tune("X:1\nT:no meter\nK:C\nCDE|\n")["headers"]
    assert not check_tune("X:1\nM:4/4\nK:C\n|:zz((ab[[c%$|\n")["parses"]


@pytest.mark.parametrize(
    "body,fits",
    [
        ("|:DFA dfa|gfe dcB|agf edc|d3 d3:|", True),
        # a pickup, the part's last bar completing it, then a second part with its own
        ("A|DFA dfa|gfe dcB|agf edc|d3 d2:|\n|:B|AFD DFA|d3 d2:|", True),
        ("|:DFA dfa|gfe dcBA|agf edc|d3 d3:|", False),  # a bar one eighth too long
        ("|:DFA dfa|gfe dc|agf edc|d3 d3:|", False),  # one too short, inside a part
        ("|:DFA dfa|gfe dcB gfe dcB|agf edc|d3 d3:|", False),  # two bars' notes in one
        ("|:(3DEF A2 d|[DF]2 {g}a>f e2|1 d3 d2B:|2 d3 d3||", True),  # tuplets, chords, endings
    ],
)
def test_bars_fit_the_meter(body, fits):
    tune = f"X:1\nM:6/8\nL:1/8\nK:D\n{body}\n"
    check = check_tune(tune)
    assert check["parses"]
    assert bars_fit_meter(tune, check["score"]) is fits
    two = f"{tune}X:2\nM:6/8\nL:1/8\nK:D\n{body}\n"  # two tunes in one text: not one tune
    assert not bars_fit_meter(two, check_tune(two)["score"])


def test_music_fit_generate_whole_tunes_and_midi(tmp_path):
    data = abc_file(tmp_path / "tunes.abc")
    settings = {**TINY, "units": 48, "window": 48}
    app = CharMusic(**settings, epochs=20, learning_rate=1e-2, length=300, patience=0)
    app.fit(data=str(data), run_dir=tmp_path / "run", verbose=0)
    assert len(app.splits().train) == 36 and len(app.splits().validation) == 4
    # a whole tune as the prime: the model ends it (a blank line) and it parses (without
    # the grammar, which lets no tune end before 8 bars: tests/test_music_grammar.py)
    whole = TUNE.format(n=5, notes="gfe dcB")
    results = app.predict(["", whole], samples=2, seed=2, out=str(tmp_path / "out"), grammar=False)
    assert list(results[-1]) == ["parse_rate"]
    tunes = results[:-1]
    assert len(tunes) == 4
    for number, tune in enumerate(tunes, start=1):
        assert tune["text"].startswith("X:") and "\n\n" not in tune["text"]  # one whole tune
        abc = tmp_path / "out" / f"tune_{number:03d}.abc"
        assert abc.read_text() == tune["text"]
        assert abc.with_suffix(".mid").exists() == tune["parses"], (
            tune["text"],
            tune.get("midi_error"),
        )
    assert tunes[2]["text"] == tunes[3]["text"] == whole
    assert tunes[2]["parses"] and tunes[2]["headers"]
    assert results[-1]["parse_rate"] == sum(t["parses"] for t in tunes) / 4


def test_music_without_music21_names_the_extra(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_music21(name, *args, **kwargs):
        if name == "music21" or name.startswith("music21."):
            raise ImportError("No module named 'music21'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_music21)
    with pytest.raises(UserError, match=r"pip install 'rnn-apps\[music\]'"):
        CharMusic().load_documents(None)


def test_music_source_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no .abc files"):
        CharMusic().load_documents(str(tmp_path / "empty"))
    (tmp_path / "x.abc").write_text("just some text\n")
    with pytest.raises(UserError, match="no tunes"):
        CharMusic().load_documents(str(tmp_path / "x.abc"))


def test_evaluate_other_data_scores_whole_texts(trained, tmp_path):
    app, _, _ = trained
    other = tmp_path / "other.txt"
    other.write_text(pattern_text(40))
    assert app.evaluate(data=str(other))["bits_per_char"] == pytest.approx(
        app.bits_per_char([pattern_text(40)])
    )


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    """Runs in a fresh process: logical devices must be set before TensorFlow starts."""
    import subprocess
    import sys

    data = tmp_path / "t.txt"
    data.write_text(pattern_text(80))
    script = f"""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from recipes import CharText
app = CharText(window=16, units=8, embedding_dim=4, batch_size=8, epochs=2,
               distribution="mirrored")
metrics = app.fit(data={str(data)!r}, run_dir={str(tmp_path / "run")!r}, verbose=0)
text = app.generate("one", length=10, seed=1)[0]
print("OK", metrics["epochs_done"], len(text))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK 2 13" in result.stdout


def test_evaluate_other_data_reads_only_that_data(trained, tmp_path, monkeypatch):
    _, _, root = trained
    loaded = load_run(root / "run")

    def no_reading(self, data):
        raise AssertionError(f"read the training source {data}")

    monkeypatch.setattr(CharText, "load_splits", no_reading)
    other = tmp_path / "other.txt"
    other.write_text(pattern_text(30))
    assert loaded.evaluate(data=str(other))["bits_per_char"] > 0


def test_tflite_export_is_refused_naming_the_flex_ops(trained, tmp_path):
    """TFLite's builtins cannot run the generation loop's TensorLists: one line naming
    them, and nothing written."""
    app, _, _ = trained
    with pytest.raises(UserError) as refused:
        app.export(tmp_path / "tflite", format="tflite")
    assert str(refused.value).startswith(
        f"{app.name} has no TFLite export: TFLite's builtin ops cannot run TensorListReserve"
    )
    assert not (tmp_path / "tflite").exists()
