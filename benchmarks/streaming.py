"""Real-time factor of trigger-word detection on one CPU core.

Real-time factor (RTF) = processing time / audio duration; below 1 keeps up with live
audio, the goal is <= 0.02. The process is pinned to one core and TensorFlow to one
thread. Rows: streaming with the XLA-compiled Keras step (:class:`Streamer`, one call
per ``chunk_ms`` chunk, states carried), streaming with the exported TFLite step, and
the offline pass over the whole recording (the baseline of the ratios). Each figure is
the median of ``--repeats`` timed runs after a warm-up run.

Examples:
    python benchmarks/streaming.py                    # default model size, untrained weights
    python benchmarks/streaming.py --run runs/marvin  # a trained run folder
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from generation import timed  # noqa: E402
from machine import cpu_name  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

from recipes.core.runs import load_run  # noqa: E402
from recipes.trigger_word import audio  # noqa: E402
from recipes.trigger_word.recipe import TriggerWord  # noqa: E402
from recipes.trigger_word.streaming import Streamer, TFLiteStep  # noqa: E402


def stream(recipe: TriggerWord, waveform: np.ndarray, step=None) -> list:
    streamer = Streamer(recipe, step=step)
    found = []
    chunk = recipe.chunk_samples()
    for start in range(0, len(waveform), chunk):  # audio arriving chunk by chunk
        found += streamer.push(waveform[start : start + chunk])
    return found + streamer.finish()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="trained run folder (default: untrained default model)")
    parser.add_argument("--seconds", type=float, default=60.0, help="audio length")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    if args.run:
        recipe = load_run(args.run)
    else:
        recipe = TriggerWord()
        recipe.model = recipe.build_model()
    rng = np.random.default_rng(0)
    waveform = audio.noise("pink", int(args.seconds * audio.SAMPLE_RATE), rng)
    with tempfile.TemporaryDirectory() as tmp:
        tflite = TFLiteStep(recipe.export_tflite(os.path.join(tmp, "step.tflite")))
        rows = [
            ("offline pass (baseline)", lambda: recipe.detect(waveform)),
            ("streaming, Keras step (XLA)", lambda: stream(recipe, waveform)),
            ("streaming, TFLite step", lambda: stream(recipe, waveform, tflite)),
        ]
        times = [timed(fn, args.repeats) for _, fn in rows]
    c = recipe.config
    print(
        f"trigger_word detection, {args.seconds:.0f} s of audio, chunks of {c.chunk_ms} ms, "
        f"conv {c.conv_filters} + 2 x GRU {c.units}; 1 core of {cpu_name()}, 1 TF thread, "
        f"median of {args.repeats}"
    )
    print(f"{'':32s} {'seconds':>9s} {'RTF':>9s} {'x baseline':>11s}")
    for (name, _), seconds in zip(rows, times, strict=True):
        print(f"{name:32s} {seconds:9.3f} {seconds / args.seconds:9.4f} {seconds / times[0]:11.2f}")


if __name__ == "__main__":
    main()
