"""What post-training quantization of the trigger word's TFLite streaming step costs.

For a trigger_word run folder, the streaming step is exported as ``rnn-apps export RUN
--format tflite [--quantize float16|int8]`` exports it (float32, float16 weights, int8
weights and activations calibrated on the run's training audio), and each file is
evaluated as ``rnn-apps evaluate RUN`` evaluates the run: the same split, positive trials,
negative streams and threshold, and the recipe's own metrics
(:meth:`TriggerWord.evaluate` of :meth:`TriggerWord.streamed`), the probabilities
streamed through the TFLite step chunk by chunk in ``tf.lite.Interpreter`` on one thread.
The first row is the run's Keras model itself (what ``rnn-apps evaluate`` prints).

Printed as a Markdown table: size of the file (KB), miss rate, false accepts per hour,
and latency per ``chunk_ms`` chunk (100 ms by default): the median of ``--repeats``
timed runs, each streaming ``--chunks`` chunks of noise, after a warm-up run, divided by
the chunks; one interpreter thread.

Examples:
    python benchmarks/quantization.py runs/marvin
    python benchmarks/quantization.py runs/marvin --split validation --repeats 9
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from machine import machine_line  # noqa: E402

from recipes.core.runs import load_run  # noqa: E402
from recipes.trigger_word import audio, streaming  # noqa: E402
from recipes.trigger_word.recipe import TFLITE_STEP, TriggerWord  # noqa: E402

#: the rows after the Keras model's: the TFLite exports' quantizations (None: float32)
QUANTIZATIONS = (None, "float16", "int8")


def latency(recipe: TriggerWord, step, chunks: int, repeats: int) -> float:
    """Seconds per chunk of ``step`` streaming ``chunks`` chunks of pink noise (states
    carried): the median of ``repeats`` runs after a warm-up run."""
    rng = np.random.default_rng(0)
    waveform = 0.1 * audio.noise("pink", chunks * recipe.chunk_samples(), rng)

    def run() -> None:
        for _ in streaming.chunks_of(recipe, step, waveform):
            pass

    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) / chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a trigger_word run folder")
    parser.add_argument(
        "--split", help="as rnn-apps evaluate --split (default: test, else validation)"
    )
    parser.add_argument("--chunks", type=int, default=200, help="chunks per latency run")
    parser.add_argument("--repeats", type=int, default=5, help="latency runs (the median)")
    args = parser.parse_args()

    recipe = load_run(args.run)
    if not isinstance(recipe, TriggerWord):
        parser.error(f"{args.run} is a {recipe.name} run, not a trigger_word run")
    c = recipe.config
    keras_metrics = recipe.evaluate(split=args.split)  # reads the run's data once
    rows = [
        ("Keras model (rnn-apps evaluate)", Path(args.run) / "model.keras", keras_metrics, None)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for quantize in QUANTIZATIONS:
            name = quantize or "float32"
            export = recipe.export(Path(tmp) / name, format="tflite", quantize=quantize)
            step = streaming.TFLiteStep(export / TFLITE_STEP, threads=1)
            metrics = recipe.streamed(step).evaluate(split=args.split)
            seconds = latency(recipe, step, args.chunks, args.repeats)
            rows.append((f"TFLite {name}", export / TFLITE_STEP, metrics, seconds))
        print(
            f"trigger_word {args.run} ({c.word!r}; conv {c.conv_filters} + 2 x GRU {c.units}), "
            f"threshold {keras_metrics['threshold']}, {keras_metrics['positive_trials']} "
            f"positive trials, {keras_metrics['negative_minutes']} negative minutes; latency: "
            f"1 interpreter thread, median of {args.repeats} x {args.chunks} chunks; "
            f"{machine_line()}"
        )
        print()
        print(
            f"| format | size (KB) | miss rate | false accepts/hour "
            f"| latency per {c.chunk_ms} ms chunk (ms) |"
        )
        print("|---|---:|---:|---:|---:|")
        for name, path, metrics, seconds in rows:
            took = "" if seconds is None else f"{1000 * seconds:.3f}"
            print(
                f"| {name} | {path.stat().st_size / 1024:.1f} | {metrics['miss_rate']:.4f} "
                f"| {metrics['false_accepts_per_hour']:.3f} | {took} |"
            )


if __name__ == "__main__":
    main()
