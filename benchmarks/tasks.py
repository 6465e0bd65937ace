"""Speed of the applications' task verbs on one request (batch 1), against the common way.

The common way is what a user of a plain Keras model does: one ``model.predict`` call
per request (sentiment, ner), per output token (translator, greedy) or per character
(generation). The recipes' verbs run traced or XLA-compiled functions instead. For each
run folder given, the script times its recipe's verbs:

- sentiment: ``predict`` of one sentence;
- ner: ``predict`` of one sentence;
- translator: ``translate`` of one sentence, greedy and beam search of width 4;
- char_text, char_music: ``generate`` of one sample, characters per second;
- trigger_word: streaming, real-time factor on one core (``benchmarks/streaming.py`` in a
  child process, which pins itself to one core and TensorFlow to one thread).

Each figure is the median of ``--calls`` timed calls after a warm-up call (which
includes tracing and compilation); the common way, being slow, gets a tenth as many
(at least 3). Speed does not depend on the weights' values, so a run trained for one
epoch measures the same as a full one.

Examples:
    python benchmarks/tasks.py runs/uci runs/wnut runs/fra runs/shakespeare runs/marvin
    python benchmarks/tasks.py runs/uci --calls 50
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import tensorflow as tf  # noqa: E402
from generation import predict_per_character, timed  # noqa: E402
from machine import machine_line  # noqa: E402
from translate import predict_per_token  # noqa: E402

from recipes.core.runs import load_run  # noqa: E402

#: one request of each kind (the generators' prime is a newline)
SENTENCE = "The battery lasts all day and the screen is bright."
NER_SENTENCE = "Tom flew from Paris to New York with Air France on Monday."


@dataclass
class Row:
    """One line of the table: a request timed both ways (``common``: None if not timed)."""

    recipe: str
    request: str
    unit: str
    ours: float
    common: float | None

    def speedup(self) -> str:
        if self.common is None:
            return "n/a"
        # a time: common / ours; a rate: ours / common
        better = self.common / self.ours if self.unit in ("ms", "RTF") else self.ours / self.common
        return f"{better:,.1f}x"


def ms(fn, calls: int) -> float:
    return 1e3 * timed(fn, calls)


def sentiment_rows(app, calls: int) -> list[Row]:
    texts = [SENTENCE]

    def common():
        inputs = app.model_inputs(tf.constant(texts))
        return tf.nn.softmax(app.model.predict(inputs, verbose=0)).numpy()

    return [
        Row(
            "sentiment",
            "`predict`, one sentence",
            "ms",
            ms(lambda: app.predict(texts), calls),
            ms(common, max(3, calls // 10)),
        )
    ]


def ner_rows(app, calls: int) -> list[Row]:
    tokens = NER_SENTENCE.split()

    def common():
        features = app.features(tf.ragged.constant([tokens]))
        scores = app.model.predict(features, verbose=0)
        mask = tf.not_equal(features["word_ids"], 0)
        return app.model.best_tags(scores + app.model.decode_bias, mask).numpy()

    return [
        Row(
            "ner",
            "`predict`, one sentence",
            "ms",
            ms(lambda: app.predict([NER_SENTENCE]), calls),
            ms(common, max(3, calls // 10)),
        )
    ]


def translator_rows(app, calls: int) -> list[Row]:
    splits = app.splits()
    text = (splits.test.texts or splits.validation.texts)[0]
    length = app.config.max_length or 12
    common = ms(lambda: predict_per_token(app, [text], length), max(3, calls // 10))
    return [
        Row(
            "translator",
            f"`translate`, one sentence, {name}",
            "ms",
            ms(lambda w=width: app.translate([text], beam_width=w), calls),
            common,
        )
        for name, width in (("greedy", 1), ("beam 4", 4))
    ]


def generation_rows(app, calls: int, length: int = 200) -> list[Row]:
    prime, short = "\n", 20
    seconds = timed(lambda: app.generate(prime, samples=1, length=length, seed=1), calls)
    drawn = len(app.generate(prime, samples=1, length=length, seed=1)[0]) - len(prime)
    common = timed(lambda: predict_per_character(app, prime, short, 40, 0), max(3, calls // 10))
    return [
        Row(
            app.name,
            "`generate`, one sample",
            "characters/s",
            drawn / seconds,
            short / common,
        )
    ]


def streaming_rows(run: str, seconds: float = 60.0) -> list[Row]:
    """Runs ``streaming.py`` in a child process pinned to one core; reads its rows."""
    done = subprocess.run(
        [sys.executable, str(HERE / "streaming.py"), "--run", run, "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    )
    rtf = {}
    for line in done.stdout.splitlines():
        fields = line.split()
        if len(fields) > 3 and not line.startswith(" "):
            try:
                rtf[" ".join(fields[:-3])] = float(fields[-2])
            except ValueError:
                continue
    return [
        Row("trigger_word", f"{name}, one core", "RTF", rtf[name], None)
        for name in ("streaming, Keras step (XLA)", "streaming, TFLite step")
    ]


def rows_of(run: str, calls: int) -> list[Row]:
    app = load_run(run)
    if app.name == "trigger_word":
        return streaming_rows(run)
    measure = {
        "sentiment": sentiment_rows,
        "ner": ner_rows,
        "translator": translator_rows,
        "char_text": generation_rows,
        "char_music": generation_rows,
    }[app.name]
    return measure(app, calls)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run folders, any recipes")
    parser.add_argument("--calls", type=int, default=100, help="timed calls of each verb")
    args = parser.parse_args()
    for run in args.runs:
        if not (Path(run) / "run.json").is_file():
            print(f"benchmarks/tasks.py: {run} is not a run folder (no run.json).", file=sys.stderr)
            return 2
    rows = [row for run in args.runs for row in rows_of(run, args.calls)]
    print(f"machine: {machine_line()}; TensorFlow {tf.__version__}")
    print()
    print("| recipe | request (batch 1) | unit | the common way | the recipe's verb | speed-up |")
    print("|---|---|---|---:|---:|---:|")
    for r in rows:
        fmt = "{:,.4f}" if r.unit == "RTF" else "{:,.2f}" if r.unit == "ms" else "{:,.0f}"
        common = "-" if r.common is None else fmt.format(r.common)
        print(
            f"| {r.recipe} | {r.request} | {r.unit} | {common} | {fmt.format(r.ours)} "
            f"| {r.speedup()} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
