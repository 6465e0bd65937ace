"""A new user's journey through each recipe, as separate processes.

For every recipe: tiny data from the recipes' own test generators, then

    rnn-apps config RECIPE --set ... > tiny.toml
    rnn-apps fit RECIPE --data D --config tiny.toml --epochs 1 --quiet --out RUN
    rnn-apps evaluate RUN --json
    rnn-apps predict RUN INPUT ...     (or its alias: generate, translate, tag, detect, forecast)
    rnn-apps export RUN --out E
    rnn-apps export RUN --format onnx --out O
    python -c PORTABLE  (imports only numpy and onnxruntime: O's inference.py on the inputs;
                         the recipes of ONNX only, the others' export says they have none)
    rnn-apps export RUN --format tflite --out L
    python -c PORTABLE  (L's inference.py, through TensorFlow's TFLite interpreter; the
                         recipes of TFLITE only, the others' export says why they have none)
    rnn-apps fit RECIPE --out RUN2 --resume --epochs 2      (RUN2: a copy of RUN)
    rnn-apps export RUN2 --out E2
    saved_model_cli show --dir E --all
    saved_model_cli run --dir E --tag_set serve --signature_def serving_default ...
    python -c CLEAN  (imports only tensorflow and numpy: loads E and E2, calls serving_default,
                      runs the trigger word's stream_step.tflite with tf.lite.Interpreter)

each command run as its own process (``python -m rnn_apps``), its exit status, stdout and
stderr recorded in a :class:`Journey`. :func:`run_journeys` runs the recipes' chains two
at a time; the tests (tests/test_journey.py and the export/serve tests that share the
runs) assert on what was recorded.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: seconds any one command may take before it counts as hung
STEP_TIMEOUT = 900

# -- the recipes' tiny settings -------------------------------------------------------------
#: the settings of the recipes' own tests (tests/test_*.py TINY), as --set arguments;
#: jit_compile=false where XLA compilation would cost more than the one epoch it compiles
SETTINGS: dict[str, dict[str, Any]] = {
    # tests/test_sentiment.py SMALL
    "sentiment": {
        "units": 8,
        "embedding_dim": 8,
        "max_length": 10,
        "batch_size": 16,
        "max_tokens": 200,
        "seed": 3,
        "jit_compile": False,
    },
    # tests/test_charlm.py TINY
    "char_text": {
        "window": 24,
        "units": 24,
        "layers": 2,
        "embedding_dim": 8,
        "batch_size": 8,
        "dropout": 0.0,
        "adapt_rate": 0.01,  # evaluate also reports dynamic evaluation
    },
    # tests/test_charlm.py TINY with test_music_fit_generate_whole_tunes_and_midi's sizes
    "char_music": {
        "window": 48,
        "units": 48,
        "layers": 2,
        "embedding_dim": 8,
        "batch_size": 8,
        "dropout": 0.0,
        "jit_compile": False,
        # (the ABC grammar in generate, serve and every export: grammar's default, on, left
        # unset so that tests/test_music_grammar.py reads this run as a new run's default)
    },
    # tests/test_translator.py TINY's sizes, the beam width of its trained fixture, and the
    # defaults' label smoothing (a loss of the recipe's own, saved in model.keras) and
    # checkpoint averaging
    "translator": {
        "units": 32,
        "embedding_dim": 16,
        "attention_units": 16,
        "batch_size": 16,
        "dropout": 0.0,
        "beam_width": 3,
    },
    # tests/test_ner.py TINY
    "ner": {
        "word_dim": 16,
        "char_dim": 8,
        "char_units": 8,
        "shape_dim": 4,
        "units": 16,
        "batch_size": 8,
        # the word frequencies and a gazetteer (places): the journey's sentences have places
        # in them; the names gazetteer is the same machinery, and reading names-dataset
        # costs 25 s and 2 GB (tests/test_quality.py's lexicon run reads it)
        "lexicon_frequency": True,
        "lexicon_places": True,
    },
    # tests/test_forecaster.py reads these as its TINY
    "forecaster": {
        "time_column": "month",
        "id_column": "store",
        "value_columns": "sales",
        "covariate_columns": "promo",
        "context": 24,
        "horizon": 6,
        "backtest_windows": 2,
        "validation_windows": 1,
        "units": 8,
        "members": 1,
        "batch_size": 16,
        "jit_compile": False,
    },
    # tests/test_trigger_word.py TINY (its epochs are --epochs here)
    "trigger_word": dict(
        word="marvin",
        synthesized_positives=6,
        synthesized_negatives=6,
        example_seconds=2.0,
        train_examples=8,
        validation_examples=4,
        batch_size=4,
        mels=16,
        conv_filters=8,
        units=8,
        label_frames=10,
        eval_trials=2,
        eval_passes=1,
        calibration_minutes=5.0,
        speech_negatives=0,
        calibration_speech_minutes=1.0,
    ),
}

#: a whole tune of tests/test_charlm.py (TUNE, n=5): a prime the music generator may end
WHOLE_TUNE = "X:5\nT:Tune 5\nM:6/8\nL:1/8\nK:D\n|:DFA dfa|gfe dcB|agf edc|d3 d3:|\n"
#: generation settings of the generators' journeys (the same on the CLI and in the export)
#: the generators' sampling options, the same for predict and the export (top-k and top-p
#: set, so that both must honour them)
SAMPLING = {
    "char_text": {"seed": 5, "length": 40, "temperature": 0.9, "top_k": 12, "top_p": 0.95},
    "char_music": {"seed": 2, "length": 120, "temperature": 0.8, "top_k": 0, "top_p": 0.9},
}
#: the dtype of each sampling option in the export
SAMPLING_DTYPES = {
    "seed": "int64",
    "length": "int32",
    "temperature": "float32",
    "top_k": "int32",
    "top_p": "float32",
}

#: the raw inputs given to predict, to saved_model_cli and to the clean Python
INPUTS: dict[str, list[str]] = {
    "sentiment": ["great superb film", "awful boring plot and poor battery"],
    "char_text": ["one", "four f"],
    "char_music": [WHOLE_TUNE, "X:7\nT:"],
    "translator": ["4 0 7", "1 2"],
    "ner": ["Alice flew to Paris .", "Yesterday Bob Novak drove to Lima ."],
    "trigger_word": [],  # a WAV file written by the journey
    "forecaster": [],  # a history file of each store, written by the journey
}
#: the verb a user types for each recipe (predict's aliases)
VERBS = {
    "sentiment": "predict",
    "char_text": "generate",
    "char_music": "generate",
    "translator": "translate",
    "ner": "tag",
    "trigger_word": "detect",
    "forecaster": "forecast",
}
#: the name of serving_default's input of raw text (the trigger word takes a waveform)
TEXT_INPUT = {"sentiment": "text", "translator": "text", "ner": "sentence"}
#: modules the clean Python must not hold
OURS = ("rnn_apps", "recipes", "custom_layers")
#: the longest chains first, so that the workers finish together
ORDER = ("ner", "trigger_word", "translator", "char_music", "sentiment", "char_text", "forecaster")
RECIPES = tuple(sorted(ORDER))
#: modules a recipe's journey needs beyond the package (the journey is skipped without)
REQUIRES = {"trigger_word": "espeakng_loader", "char_music": "music21"}


def set_arguments(settings: dict[str, Any]) -> list[str]:
    """``{"units": 8, "cell": "gru"}`` as ``--set units=8 --set cell=gru`` (TOML values)."""
    args = []
    for key, value in settings.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        args += ["--set", f"{key}={text}"]
    return args


# -- tiny data (the recipes' own test generators) -------------------------------------------
def write_sentiment(root: Path) -> Path:
    from tests.sentiment_data import write_tsv

    return write_tsv(root / "reviews.tsv", n=96)


def write_char_text(root: Path) -> Path:
    from tests.test_charlm import pattern_text

    path = root / "counting.txt"
    path.write_text(pattern_text(300), encoding="utf-8")
    return path


def write_char_music(root: Path) -> Path:
    from tests.test_charlm import abc_file

    return abc_file(root / "tunes.abc", count=40)


def write_translator(root: Path) -> Path:
    from tests.test_translator import digit_pairs, write_pairs

    return Path(write_pairs(root / "digits.tsv", digit_pairs(80)))


def write_ner(root: Path) -> Path:
    from tests.test_ner import sentences, write_conll

    folder = root / "conll"
    folder.mkdir()
    for name, count, seed in (("train", 48, 0), ("dev", 12, 1), ("test", 12, 2)):
        write_conll(folder / f"{name}.conll", sentences(count, seed))
    return folder


def write_trigger_word(root: Path) -> Path:
    from tests.test_trigger_word import write_layout

    return write_layout(root / "speech_commands")


def write_listening_wav(path: Path) -> Path:
    """2.37 s of pink noise with the word in it (not a whole number of stream chunks), as
    16-bit PCM at 16 kHz: what ``rnn-apps detect`` and the clean Python both read."""
    import numpy as np

    from recipes.trigger_word import audio, synthesis

    rng = np.random.default_rng(0)
    waveform = audio.noise("pink", int(2.37 * 16000), rng) * 2
    clip = synthesis.synthesize("marvin")
    waveform[8000 : 8000 + len(clip)] += clip
    return audio.write_wav(path, waveform)


def write_forecaster(root: Path) -> Path:
    from tests.test_forecaster import panel_frame

    path = root / "sales.csv"
    panel_frame().to_csv(path, index=False)
    return path


def write_histories(root: Path) -> list[str]:
    """A recent history of each store (40 months from 2010-01, and the promo of the 6
    months after them), one file per store: the forecaster's inputs to forecast, to the
    export and to the server."""
    from tests.test_forecaster import panel_frame

    history, paths = panel_frame(months=40, seed=5, future=SETTINGS["forecaster"]["horizon"]), []
    for store, rows in history.groupby("store"):
        paths.append(str(root / f"{store}.csv"))
        rows.to_csv(paths[-1], index=False)
    return paths


def forecaster_instances(journey: Journey) -> list[dict[str, Any]]:
    """serving_default's inputs for each history file: its last ``context`` values, its
    store, the month of the last of them and the promo of those months and of the
    ``horizon`` after them."""
    import pandas as pd

    context = SETTINGS["forecaster"]["context"]
    instances = []
    for path in journey.inputs:
        rows = pd.read_csv(path)
        start = int(rows.sales.notna().sum()) - context  # the future's rows come last
        past = rows.iloc[start : start + context]
        instances.append(
            {
                "values": past.sales.tolist(),
                "series": str(past.store.iloc[0]),
                "last_time": str(past.month.iloc[-1]),
                "covariates": [[float(p)] for p in rows.promo.iloc[start:]],
            }
        )
    return instances


WRITERS: dict[str, Callable[[Path], Path]] = {
    "sentiment": write_sentiment,
    "char_text": write_char_text,
    "char_music": write_char_music,
    "translator": write_translator,
    "ner": write_ner,
    "trigger_word": write_trigger_word,
    "forecaster": write_forecaster,
}


# -- the clean Python: TensorFlow and NumPy only --------------------------------------------
#: the recipes with an ONNX export (the others' ``export --format onnx`` says it has none)
ONNX = ("sentiment", "ner", "char_text", "char_music", "translator", "trigger_word")
#: the recipes with a TFLite export (the others' ``export --format tflite`` says why not)
TFLITE = ("sentiment", "trigger_word")
#: a Python that imports only NumPy and the format's runtime, through the export's own
#: inference.py: argv: the export folder, the inputs and predict's options (JSON); prints
#: predict's dicts and what it imported
PORTABLE_PYTHON = r"""
import json, sys

folder, inputs, options = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
sys.path.insert(0, folder)
import inference

results = inference.load(folder).predict(inputs, **options)
ours = ("rnn_apps", "recipes", "custom_layers", "tensorflow", "keras")
imported = sorted({m.split(".")[0] for m in sys.modules} & set(ours))
print(json.dumps({"predictions": results, "imported": imported}))
"""

CLEAN_PYTHON = r"""
import json, sys, wave

import numpy as np
import tensorflow as tf

request = json.loads(open(sys.argv[1], encoding="utf-8").read())


def read_wav(path):
    with wave.open(path, "rb") as f:
        assert f.getframerate() == 16000 and f.getnchannels() == 1 and f.getsampwidth() == 2
        pcm = np.frombuffer(f.readframes(f.getnframes()), "<i2")
    return pcm.astype(np.float32) / 32768.0


def tensor(spec):
    if "wav" in spec:
        return tf.constant(read_wav(spec["wav"])[None, :])
    return tf.constant(spec["value"], getattr(tf, spec["dtype"]))


def plain(value):
    value = value.numpy()
    if value.dtype == object:
        return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(value).tolist()
    return value.tolist()


loaded, result = {}, {"calls": {}, "signatures": {}, "tflite": {}}
for call in request["calls"]:
    if call["export"] not in loaded:
        loaded[call["export"]] = tf.saved_model.load(call["export"])
        result["signatures"][call["export"]] = sorted(loaded[call["export"]].signatures)
    function = loaded[call["export"]].signatures[call["signature"]]
    out = function(**{name: tensor(spec) for name, spec in call["inputs"].items()})
    result["calls"][call["name"]] = {key: plain(value) for key, value in out.items()}

for name, job in request.get("tflite", {}).items():
    # the streaming step, chunk by chunk: history and states start as zeros and are carried
    interpreter = tf.lite.Interpreter(model_path=job["model"])
    step = interpreter.get_signature_runner()
    inputs = step.get_input_details()
    state = {k: np.zeros(d["shape"], np.float32) for k, d in inputs.items() if k != "chunk"}
    chunk = int(inputs["chunk"]["shape"][1])
    waveform = read_wav(job["wav"])
    pieces = []
    for start in range(0, len(waveform), chunk):
        piece = np.zeros((1, chunk), np.float32)
        part = waveform[start : start + chunk]
        piece[0, : len(part)] = part  # the last chunk zero-padded: later samples
        out = step(chunk=piece, **state)  # cannot change earlier frames
        # outputs output_0..3: history, probabilities, state1, state2
        state = {"history": out["output_0"], "state1": out["output_2"], "state2": out["output_3"]}
        pieces.append(out["output_1"][0])
    frame = chunk // len(pieces[0])
    result["tflite"][name] = np.concatenate(pieces)[: len(waveform) // frame].tolist()

leaked = sorted(m for m in sys.modules if m.split(".")[0] in request["not_imported"])
if leaked:
    sys.exit(f"the clean Python imported {leaked}")
result["not_imported"] = request["not_imported"]
print(json.dumps(result))
"""


# -- recording ------------------------------------------------------------------------------
@dataclasses.dataclass
class Step:
    """One command of a journey and what it did."""

    name: str
    argv: list[str]
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    skipped: str = ""  # why it did not run

    @property
    def ok(self) -> bool:
        return not self.skipped and self.returncode == 0

    def describe(self, tail: int = 4000) -> str:
        command = " ".join(_quoted(a) for a in self.argv)
        if self.skipped:
            return f"{self.name}: not run ({self.skipped})\n$ {command}"
        return (
            f"{self.name}: exit status {self.returncode} after {self.seconds:.0f} s\n"
            f"$ {command}\n--- stdout (last {tail} characters)\n{self.stdout[-tail:]}"
            f"\n--- stderr (last {tail} characters)\n{self.stderr[-tail:]}"
        )


def _quoted(arg: str) -> str:
    return json.dumps(arg) if not arg or any(c in arg for c in " \n\"';[]") else arg


@dataclasses.dataclass
class Journey:
    """A recipe's chain of commands, its folders and its recorded steps."""

    recipe: str
    root: Path
    data: Path | None = None
    run: Path | None = None  # the finished one-epoch run (left as fit wrote it)
    export: Path | None = None
    run2: Path | None = None  # a copy of run, resumed to two epochs
    export2: Path | None = None
    wav: Path | None = None  # trigger word: the file listened to
    inputs: list[str] = dataclasses.field(default_factory=list)
    steps: dict[str, Step] = dataclasses.field(default_factory=dict)
    skipped: str = ""  # why the whole journey did not run
    error: str = ""  # a failure of the journey's own set-up (not a command's)

    def step(self, name: str) -> Step:
        """The step, asserted to have run and succeeded (the message shows its output)."""
        assert not self.error, f"{self.recipe}: the journey's set-up failed:\n{self.error}"
        assert name in self.steps, f"{self.recipe}: no step {name!r} (steps: {list(self.steps)})"
        step = self.steps[name]
        assert step.ok, f"{self.recipe} journey, step " + step.describe()
        return step

    def json(self, name: str) -> Any:
        """The step's stdout as exactly one JSON value."""
        step = self.step(name)
        try:
            return json.loads(step.stdout)
        except json.JSONDecodeError as err:
            raise AssertionError(
                f"{self.recipe}: stdout of {name} is not one JSON value ({err}):\n"
                + step.describe()
            ) from None

    def json_lines(self, name: str) -> list[Any]:
        """The step's stdout as one JSON value per line."""
        step = self.step(name)
        values = []
        for number, line in enumerate(step.stdout.splitlines(), start=1):
            try:
                values.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise AssertionError(
                    f"{self.recipe}: line {number} of {name}'s stdout is not JSON ({err}):\n"
                    + step.describe()
                ) from None
        return values

    # -- running ------------------------------------------------------------------------
    def run_step(self, name: str, argv: list[str], needs: tuple[str, ...] = ()) -> Step:
        step = Step(name, [str(a) for a in argv])
        self.steps[name] = step
        failed = [n for n in needs if not self.steps[n].ok]
        if failed:
            step.skipped = f"{failed[0]} failed before it"
            return step
        started = time.monotonic()
        try:
            done = subprocess.run(
                step.argv,
                cwd=self.root,
                env=_environment(),
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="backslashreplace",
                timeout=STEP_TIMEOUT,
            )
            step.returncode, step.stdout, step.stderr = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired as err:
            step.returncode = -9
            step.stdout = _text(err.stdout)
            step.stderr = _text(err.stderr) + f"\n[killed after {STEP_TIMEOUT} s]"
        step.seconds = time.monotonic() - started
        return step


def _text(raw) -> str:
    if raw is None:
        return ""
    return raw if isinstance(raw, str) else raw.decode("utf-8", "backslashreplace")


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def rnn_apps(*args) -> list[str]:
    """The command line a user types, as a separate process of this interpreter."""
    return [sys.executable, "-m", "rnn_apps", *map(str, args)]


def saved_model_cli(*args) -> list[str]:
    """TensorFlow's own SavedModel client (the console script beside this interpreter)."""
    beside = Path(sys.executable).with_name("saved_model_cli")
    command = str(beside) if beside.exists() else shutil.which("saved_model_cli")
    if command is None:
        return [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", *map(str, args)]
    return [command, *map(str, args)]


# -- what the export is called with -------------------------------------------------------
def serving_calls(journey: Journey, export: Path, tag: str) -> list[dict]:
    """The clean Python's calls of ``export``'s serving_default on the journey's inputs.

    Text recipes: one call with the batch of inputs; the generators: one call per prime
    (batch 1, as ``rnn-apps generate`` draws each prime's sample); the trigger word: the
    WAV's waveform as a batch of one."""
    recipe = journey.recipe
    if recipe in TEXT_INPUT:
        value = {"dtype": "string", "value": journey.inputs}
        return [
            {
                "name": tag,
                "export": str(export),
                "signature": "serving_default",
                "inputs": {TEXT_INPUT[recipe]: value},
            }
        ]
    if recipe in SAMPLING:
        options = {
            name: {"dtype": SAMPLING_DTYPES[name], "value": value}
            for name, value in SAMPLING[recipe].items()
        }
        return [
            {
                "name": f"{tag}/{i}",
                "export": str(export),
                "signature": "serving_default",
                "inputs": {"prime": {"dtype": "string", "value": [prime]}, **options},
            }
            for i, prime in enumerate(journey.inputs)
        ]
    if recipe == "forecaster":
        instances = forecaster_instances(journey)
        columns = {
            "values": "float32",
            "series": "string",
            "last_time": "string",
            "covariates": "float32",
        }
        return [
            {
                "name": tag,
                "export": str(export),
                "signature": "serving_default",
                "inputs": {
                    name: {"dtype": dtype, "value": [i[name] for i in instances]}
                    for name, dtype in columns.items()
                },
            }
        ]
    return [
        {
            "name": tag,
            "export": str(export),
            "signature": "serving_default",
            "inputs": {"waveform": {"wav": str(journey.wav)}},
        }
    ]


def saved_model_cli_inputs(journey: Journey, outdir: Path) -> list[str]:
    """``saved_model_cli run`` arguments that give serving_default the journey's inputs
    (the first prime for a generator), its outputs written as .npy files to ``outdir``."""
    recipe = journey.recipe
    if recipe in TEXT_INPUT:
        exprs = f"{TEXT_INPUT[recipe]}={json.dumps(journey.inputs)}"
    elif recipe in SAMPLING:
        prime = json.dumps([journey.inputs[0]])
        # plain literals: the session casts each to its input's dtype
        exprs = ";".join([f"prime={prime}", *(f"{k}={v}" for k, v in SAMPLING[recipe].items())])
    elif recipe == "forecaster":
        instances = forecaster_instances(journey)
        exprs = ";".join(
            f"{name}={json.dumps([i[name] for i in instances])}"
            for name in ("values", "series", "last_time", "covariates")
        )
    else:
        return ["--inputs", f"waveform={outdir.parent / 'waveform.npy'}", "--outdir", outdir]
    return ["--input_exprs", exprs, "--outdir", outdir]


# -- the chain ------------------------------------------------------------------------------
def run_journey(recipe: str, root: Path) -> Journey:
    """Writes the recipe's tiny data and runs its chain of commands, each in a new process."""
    journey = Journey(recipe, root, inputs=list(INPUTS[recipe]))
    needed = REQUIRES.get(recipe)
    if needed and importlib.util.find_spec(needed) is None:
        journey.skipped = f"{needed} is not installed"
        return journey
    try:
        _chain(journey)
    except Exception:  # a failure of the set-up, not of a command: every test reports it
        journey.error = traceback.format_exc()
    return journey


def _chain(journey: Journey) -> None:
    recipe, root = journey.recipe, journey.root
    root.mkdir(parents=True, exist_ok=True)
    journey.data = WRITERS[recipe](root)
    if recipe == "trigger_word":
        journey.wav = write_listening_wav(root / "listen.wav")
        journey.inputs = [str(journey.wav)]
    if recipe == "forecaster":
        journey.inputs = write_histories(root)
    journey.run, journey.export = root / "run", root / "exported"
    journey.run2, journey.export2 = root / "run2", root / "exported2"
    # the tiny settings as a user writes them: rnn-apps config's TOML, given to fit
    settings = journey.run_step(
        "config", rnn_apps("config", recipe, *set_arguments(SETTINGS[recipe]))
    )
    tiny_toml = root / "tiny.toml"
    tiny_toml.write_text(settings.stdout, encoding="utf-8")

    journey.run_step(
        "fit",
        rnn_apps(
            "fit",
            recipe,
            "--data",
            journey.data,
            "--config",
            tiny_toml,
            "--epochs",
            1,
            "--quiet",
            "--out",
            journey.run,
        ),
        needs=("config",),
    )
    journey.run_step("evaluate", rnn_apps("evaluate", journey.run, "--json"), needs=("fit",))
    options = []
    if recipe in SAMPLING:
        for name, value in SAMPLING[recipe].items():
            options += [f"--{name.replace('_', '-')}", value]
    journey.run_step(
        "predict",
        rnn_apps(VERBS[recipe], journey.run, *journey.inputs, *options),
        needs=("fit",),
    )
    journey.run_step(
        "export", rnn_apps("export", journey.run, "--out", journey.export), needs=("fit",)
    )
    journey.run_step(
        "export onnx",
        rnn_apps("export", journey.run, "--format", "onnx", "--out", root / "onnx"),
        needs=("fit",),
    )
    journey.run_step(
        "export tflite",
        rnn_apps("export", journey.run, "--format", "tflite", "--out", root / "tflite"),
        needs=("fit",),
    )
    for fmt, recipes in [("onnx", ONNX), ("tflite", TFLITE)]:
        if recipe in recipes:
            inputs, options = json.dumps(journey.inputs), json.dumps(SAMPLING.get(recipe, {}))
            journey.run_step(
                f"{fmt} python",
                [sys.executable, "-c", PORTABLE_PYTHON, root / fmt, inputs, options],
                needs=(f"export {fmt}",),
            )
    # resume on a copy: the one-epoch run stays as fit left it, for the other tests
    if journey.steps["fit"].ok:
        shutil.copytree(journey.run, journey.run2)
    journey.run_step(
        "resume",
        rnn_apps("fit", recipe, "--out", journey.run2, "--resume", "--epochs", 2, "--quiet"),
        needs=("fit",),
    )
    journey.run_step(
        "export2", rnn_apps("export", journey.run2, "--out", journey.export2), needs=("resume",)
    )
    journey.run_step(
        "saved_model_cli show",
        saved_model_cli("show", "--dir", journey.export, "--all"),
        needs=("export",),
    )
    if recipe == "trigger_word" and journey.steps["export"].ok:
        import numpy as np
        from scipy.io import wavfile

        _, pcm = wavfile.read(journey.wav)
        np.save(root / "waveform.npy", (pcm.astype(np.float32) / 32768.0)[None, :])
    journey.run_step(
        "saved_model_cli run",
        saved_model_cli(
            "run",
            "--dir",
            journey.export,
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            *saved_model_cli_inputs(journey, root / "saved_model_cli"),
        ),
        needs=("export",),
    )
    calls = serving_calls(journey, journey.export, "export")
    if journey.steps["export2"].ok:
        calls += serving_calls(journey, journey.export2, "export2")
    if recipe == "char_music":  # a completion forced to be the whole-tune prime itself
        forced = serving_calls(journey, journey.export, "forced")[0]
        forced["inputs"]["prime"]["value"] = [WHOLE_TUNE]
        forced["inputs"]["length"]["value"] = 0
        calls.append(forced)
    request: dict[str, Any] = {"calls": calls, "not_imported": list(OURS)}
    if recipe == "trigger_word":
        request["tflite"] = {
            "export": {"model": str(journey.export / "stream_step.tflite"), "wav": str(journey.wav)}
        }
    (root / "clean_request.json").write_text(json.dumps(request), encoding="utf-8")
    journey.run_step(
        "clean python",
        [sys.executable, "-c", CLEAN_PYTHON, root / "clean_request.json"],
        needs=("export",),
    )


def run_journeys(root: Path, recipes: list[str] | tuple[str, ...] = RECIPES, workers: int = 3):
    """Every recipe's journey, ``workers`` chains at a time: ``{recipe: Journey}``.

    Most of a step's time is a fresh process starting (Python, TensorFlow) on one core, so
    three chains keep two cores busier than two do."""
    order = [r for r in ORDER if r in recipes]
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {r: pool.submit(run_journey, r, Path(root) / r) for r in order}
        return {r: futures[r].result() for r in sorted(futures)}


def load_npy_outputs(folder: Path) -> dict[str, Any]:
    """The outputs ``saved_model_cli run --outdir`` wrote (strings decoded)."""
    import numpy as np

    outputs = {}
    for path in sorted(Path(folder).glob("*.npy")):
        value = np.load(path, allow_pickle=True)  # string outputs are object arrays
        if value.dtype == object:
            value = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(value)
        outputs[path.stem] = value.tolist()
    return outputs
