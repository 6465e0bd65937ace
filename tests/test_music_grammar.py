"""The ABC grammar of char_music's generation (recipes/char_music/grammar.py): tunes drawn
under it by a model with random weights parse in music21 with every bar fitting the meter
and repeats that music21 expands (as writing MIDI does),
while the same model's tunes without it do not; on the command line, ``--grammar``."""

import json
import subprocess
import sys

import keras
import pytest

from recipes import CharMusic
from recipes.char_music.grammar import tables
from recipes.char_music.tunes import bars_fit_meter, check_tune, repeats_expand
from tests.journey import SETTINGS
from tests.test_charlm import TUNE
from tests.test_journey import journey_of

#: a tune's header (6/8, eighth notes)
HEAD = "X:1\nM:6/8\nL:1/8\nK:D\n"
#: the characters of real tunes and of a wide vocabulary
CHARS = sorted(set(TUNE + "ABCDEFGabcdefgz0123456789/|:[](){}<>^_=,'~.-\\ \"!TuvHMLKXRZN"))


def fits(tune: str) -> bool:
    check = check_tune(tune)
    score = check["score"]
    return bool(check["parses"] and bars_fit_meter(tune, score) and repeats_expand(score))


@pytest.fixture(scope="module")
def random_model():
    keras.utils.set_random_seed(11)
    app = CharMusic(units=16, layers=1, embedding_dim=4, length=1500)
    app.chars = CHARS
    app.lookup = app._make_lookup(app.chars)
    app.model = app.build_model()
    return app


def test_tables_are_built_and_end_reachable():
    grammar = tables(tuple(CHARS))
    assert grammar is not None and grammar.next_state.shape[1] == len(CHARS) + 1
    assert (grammar.next_state[:, 0] == -1).all()  # id 0 (out of vocabulary) never
    assert tables(("a", "b")) is None  # no vocabulary to write a tune with


def test_random_model_under_the_grammar_writes_tunes_that_fit(random_model):
    tunes = random_model.generate(samples=96, seed=5, temperature=1.0, grammar=True)
    ended = [t for t in tunes if len(t) < 1400]  # the others reached the length limit
    assert len(ended) >= 20
    assert sum(map(fits, ended)) >= len(ended) - 1, [t for t in ended if not fits(t)][:2]
    free = random_model.generate(samples=96, seed=5, temperature=1.0, grammar=False)
    assert sum(map(fits, free)) <= 5  # without the grammar, random characters


def test_a_prime_outside_the_grammar_generates_unconstrained(random_model):
    (text,) = random_model.generate("X:1\nM:6/8\nK:D\nH", length=30, seed=1, grammar=True)
    assert text.startswith("X:1\nM:6/8\nK:D\nH")


@pytest.mark.parametrize("recipe", ["char_music"])  # (only this recipe's journey runs)
def test_grammar_option_on_the_command_line(recipe, tiny_runs, tmp_path):
    """On the journey's run (``rnn-apps fit`` with no grammar setting, tests/journey.py):
    its ``generate`` uses the grammar, ``--grammar off`` the same command without it."""
    journey = journey_of(tiny_runs, recipe)
    run = journey.run
    assert "grammar" not in SETTINGS[recipe]  # the journey leaves it to the default
    assert "grammar = true" in (run / "config.toml").read_text()  # a new run's default
    default = journey.step("predict")  # rnn-apps generate RUN PRIME ... (no --grammar)
    off = subprocess.run(
        [*default.argv, "--grammar", "off"], cwd=journey.root, capture_output=True, text=True
    )
    assert off.returncode == 0, off.stderr
    assert default.stdout != off.stdout
    base = [sys.executable, "-m", "rnn_apps", "generate", str(run), "--seed", "3"]
    # a tune (the prime, whole) whose 10 repeats close with no |: gets no MIDI file, at once
    # (music21 would take over a minute to expand them), and its .abc is written
    prime = HEAD + "DFA dfa|gfe dcB:|" * 10 + "\n\n"
    many = subprocess.run(
        [*base, prime, "--length", "1", "--grammar", "on", "--out", str(tmp_path / "tunes")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert many.returncode == 0, many.stderr
    line = json.loads(many.stdout.splitlines()[0])
    assert line["parses"] and "10 repeats close with no |:" in line["midi_error"]
    assert (tmp_path / "tunes" / "tune_001.abc").exists()
    assert not (tmp_path / "tunes" / "tune_001.mid").exists()
    bad = subprocess.run([*base, "--grammar", "maybe"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--grammar" in bad.stderr.strip().splitlines()[-1]


def test_onnx_export_follows_the_grammar_as_generate(random_model, tmp_path):
    """A run whose grammar setting is on exports the grammar inside model.onnx: inference.py
    draws the same tunes as generate under the grammar (and not those drawn without it)."""
    from recipes.charlm import onnx_inference

    assert random_model.config.grammar  # the default
    out = random_model.export(tmp_path / "onnx", format="onnx")
    served = onnx_inference.load(out)
    options = {"samples": 6, "seed": 4, "temperature": 1.0, "length": 400}
    expected = random_model.generate(grammar=True, **options)
    assert served.generate(**options) == expected
    assert expected != random_model.generate(grammar=False, **options)


def allowed_after(text: str) -> set[str]:
    """The characters the grammar allows after ``text`` (read as a prime is)."""
    import tensorflow as tf

    from recipes.charlm.generation import grammar_functions, read_primes

    start, allowed, advance = grammar_functions(tables(tuple(CHARS)))
    ids = tf.constant([[CHARS.index(ch) + 1 for ch in text]], tf.int32)
    read = tf.function(lambda ids: read_primes(start, advance, ids, tf.ones_like(ids, tf.bool)))
    registers = read(ids)
    assert int(registers[0, 0]) != 0, "the text left the grammar"
    return {CHARS[i - 1] for i in tf.where(allowed(registers)[0])[:, 0].numpy() if i > 0}


@pytest.mark.parametrize(
    "body, banned, allowed",
    [
        # a repeat |: is closed before another one opens and before the tune ends
        ("|:DFA dfa|gfe dcB|", ":", "|"),
        ("|:DFA dfa|gfe dcB:|DFA dfa|gfe dcB|", "", ":"),
        # a first ending closes with :| (no ||, |] or |: inside it) ...
        ("|:DFA dfa|gfe dcB|1DFA dfa|", "|]:", ""),
        # ... and only then may :|2 follow; a :| of no first ending takes no 2
        ("|:DFA dfa|gfe dcB|1DFA dfa:|", "", "2"),
        ("|:DFA dfa|gfe dcB:|", "2", ""),
        # at most 4 repeats close with no |: (music21's time grows exponentially with them)
        ("DFA dfa|gfe dcB:|" * 3 + "DFA dfa|gfe dcB", "", ":"),
        ("DFA dfa|gfe dcB:|" * 4 + "DFA dfa|gfe dcB", ":", "|"),
        ("DFA dfa|gfe dcB:|" * 4 + "|:DFA dfa|gfe dcB", "", ":"),
        # from 64 bars on, no new bar, part or first ending begins, but an open repeat closes
        ("|DFA dfa" * 64 + "|", "ABCDEFGabcdefgz^_=~({:1", "\n"),
        ("|DFA dfa" * 62 + "|:DFA dfa|gfe dcB|", "", "ABCDEFGabcdefgz"),
        # a "!" line break needs 20 characters after the one before
        ("DFA dfa|gfe dcB|!\nDFA dfa|", "!", ""),
        ("DFA dfa|gfe dcB|!\nDFA dfa|gfe dcB|agf edc|", "", "!"),
    ],
)
def test_the_grammar_keeps_repeats_endings_and_line_breaks_readable(body, banned, allowed):
    """What music21 cannot expand into MIDI (unpaired repeats, a lone ending) or skips (a
    short line between two "!") is never drawn."""
    after = allowed_after(HEAD + body)
    assert not set(banned) & after and set(allowed) <= after, sorted(after)


def test_a_run_saved_before_the_grammar_generates_without_it():
    """A run folder whose config.toml has no ``grammar`` key (rnn-apps 0.1.0's) keeps
    generating as it did (tests/test_old_runs.py checks its output in a fresh process)."""
    from recipes.core.runs import load_run
    from tests.test_old_runs import FIXTURES

    assert "grammar" not in (FIXTURES / "char_music" / "config.toml").read_text()
    assert load_run(FIXTURES / "char_music").config.grammar is False


@pytest.mark.parametrize("implied, written", [(3, True), (10, False)])
def test_midi_is_written_unless_music21_would_take_minutes(implied, written, tmp_path):
    """write_midi (predict's, and the ONNX export's inference.py): a tune with a few
    repeats that close no |: gets its MIDI file; with many, one line says why not."""
    from recipes.char_music.tunes import write_midi

    score = check_tune(HEAD + "DFA dfa|gfe dcB:|" * implied)["score"]
    result = write_midi(score, tmp_path / "tune.mid")
    assert (tmp_path / "tune.mid").exists() is written
    assert result == {"midi": str(tmp_path / "tune.mid")} if written else "midi_error" in result
