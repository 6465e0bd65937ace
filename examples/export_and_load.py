"""Export a run folder as a SavedModel, load it back with TensorFlow alone, and call it.

Any recipe's run folder works (``rnn-apps fit ... --out RUN``). The script

1. exports the run (``recipes.load_run(RUN).export(DIR)``, what ``rnn-apps export`` does):
   a SavedModel whose ``serving_default`` signature takes raw inputs;
2. loads the SavedModel with ``tf.saved_model.load`` and reads the signature's inputs
   (:func:`serve` uses TensorFlow and NumPy only, as a server or another program would);
3. calls ``serving_default`` on raw inputs and prints every output.

Inputs: texts for the sentiment classifier, the translator and the tagger, primes for the
character generators (with ``--length``, ``--temperature``, ``--top-k``, ``--top-p`` and
``--seed``), a 16 kHz mono WAV file for the trigger word (``--wav``; without it, one second
of quiet noise). Without ``--input``, a few examples of the run's recipe are used.

Without ``--out`` the export goes to a temporary folder that is deleted at the end.

Usage:
    python examples/export_and_load.py --run runs/dates
    python examples/export_and_load.py --run runs/dates --input "3 May 1979" --out exported/dates
    python examples/export_and_load.py --run runs/tunes --input "X:1" --length 200
    python examples/export_and_load.py --run runs/marvin --wav kitchen.wav
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import wave
from pathlib import Path
from typing import Any

import numpy as np

#: raw inputs used when none are given, by recipe
DEFAULT_INPUTS: dict[str, list[str]] = {
    "sentiment": ["What a great film.", "Not worth the money."],
    "translator": ["3 May 1979", "saturday march 3 2001"],
    "ner": ["Alice flew to Paris .", "Bob Novak works for the United Nations ."],
    "char_text": ["The ", "Once upon a time"],
    "char_music": ["X:1\nT:", "X:2\nT:A reel\nM:4/4\nL:1/8\nK:D\n"],
}
SAMPLE_RATE = 16000


def export(run: Path, out: Path) -> str:
    """Exports the run folder ``run`` into ``out``; returns the run's recipe name."""
    from recipes import load_run

    app = load_run(run)
    app.export(out)
    print(f"exported {run} ({app.name}) to {out}")
    return app.name


def read_wav(path: Path) -> np.ndarray:
    """A 16 kHz mono 16-bit PCM WAV file as float32 samples in [-1, 1]."""
    with wave.open(str(path), "rb") as f:
        if (f.getframerate(), f.getnchannels(), f.getsampwidth()) != (SAMPLE_RATE, 1, 2):
            raise SystemExit(f"{path}: expected 16 kHz mono 16-bit PCM")
        pcm = np.frombuffer(f.readframes(f.getnframes()), "<i2")
    return pcm.astype(np.float32) / 32768.0


def serving_inputs(signature, texts: list[str], waveform: np.ndarray, args) -> dict[str, Any]:
    """The signature's keyword arguments, built from its input specs: strings get the
    texts, a float matrix the waveform, the generators' scalars the sampling options."""
    import tensorflow as tf

    scalars = {
        "length": tf.constant(args.length, tf.int32),
        "temperature": tf.constant(args.temperature, tf.float32),
        "top_k": tf.constant(args.top_k, tf.int32),
        "top_p": tf.constant(args.top_p, tf.float32),
        "seed": tf.constant(args.seed, tf.int64),
    }
    inputs = {}
    for name, spec in signature.structured_input_signature[1].items():
        if spec.dtype == tf.string:
            inputs[name] = tf.constant(texts)
        elif spec.dtype == tf.float32 and spec.shape.rank == 2:
            inputs[name] = tf.constant(waveform[None, :])
        elif name in scalars:
            inputs[name] = scalars[name]
        else:
            raise SystemExit(f"no value for the input {name!r} ({spec})")
    return inputs


def shown(value: np.ndarray, limit: int = 12) -> Any:
    """A tensor's value for printing: bytes decoded, floats rounded; a long array of
    numbers summarized (shape, range, first values)."""
    if value.dtype == object:
        return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(value).tolist()
    if np.issubdtype(value.dtype, np.floating):
        value = np.round(value.astype(np.float64), 4)
    if value.size > limit:
        return {
            "shape": list(value.shape),
            "min": value.min().item(),
            "max": value.max().item(),
            "first": value.reshape(-1)[:5].tolist(),
        }
    return value.tolist()


def serve(export_dir: Path, texts: list[str], waveform: np.ndarray, args) -> None:
    """Loads the SavedModel with TensorFlow alone and prints serving_default's outputs."""
    import tensorflow as tf

    model = tf.saved_model.load(str(export_dir))  # keep it: the signature uses its variables
    signature = model.signatures["serving_default"]
    inputs = serving_inputs(signature, texts, waveform, args)
    print("serving_default inputs:", {k: shown(v.numpy()) for k, v in inputs.items()})
    outputs = signature(**inputs)
    for name, value in sorted(outputs.items()):
        print(f"{name}: {json.dumps(shown(value.numpy()), ensure_ascii=False)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Export a run as a SavedModel, load it with TensorFlow alone, call it."
    )
    parser.add_argument("--run", type=Path, required=True, help="a run folder (rnn-apps fit)")
    parser.add_argument("--out", type=Path, help="keep the export here (a new or empty folder)")
    parser.add_argument(
        "--input", action="append", metavar="TEXT", help="a raw input text (repeatable)"
    )
    parser.add_argument("--wav", type=Path, help="trigger_word: a 16 kHz mono WAV file")
    parser.add_argument("--length", type=int, default=100, help="generators: characters")
    parser.add_argument("--temperature", type=float, default=0.8, help="generators")
    parser.add_argument("--top-k", type=int, default=0, help="generators (0: all)")
    parser.add_argument("--top-p", type=float, default=1.0, help="generators (1: all)")
    parser.add_argument("--seed", type=int, default=1, help="generators: sampling seed")
    args = parser.parse_args(argv)

    from recipes import UserError

    try:
        with tempfile.TemporaryDirectory(prefix="export-") as tmp:
            out = args.out if args.out is not None else Path(tmp) / "saved_model"
            recipe = export(args.run, out)
            texts = args.input or DEFAULT_INPUTS.get(recipe, [])
            if args.wav is not None:
                waveform = read_wav(args.wav)
            else:  # one second of quiet noise
                waveform = 0.01 * np.random.default_rng(0).standard_normal(SAMPLE_RATE)
            serve(out, texts, waveform.astype(np.float32), args)
    except UserError as err:  # not a run folder, --out not empty, ...: one line
        print(f"export_and_load.py: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
