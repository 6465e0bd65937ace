"""Sentences per second of the translator's compiled greedy and beam search, batch 64,
against greedy decoding with one ``model.predict`` call per output token.

The common approach (the keras.io sequence-to-sequence examples) runs the whole model on
the source and the output so far once per new token, from Python. The recipe encodes
the source once and runs the decoder cell step by step inside one compiled graph
(:func:`recipes.translator.decoding.beam_search`). Each figure is the median of ``--repeats``
timed runs after a warm-up run (which includes tracing and XLA compilation).

Without ``--run`` the recipe's default model is built untrained on the date vocabulary,
and every decoder writes exactly ``--length`` tokens (an untrained model never ends
early), so the methods do the same number of steps.

Examples:
    python benchmarks/translate.py
    python benchmarks/translate.py --run runs/translator-...   # a trained run folder
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from generation import timed  # noqa: E402
from machine import machine_line  # noqa: E402

from recipes import Translator  # noqa: E402
from recipes.core.runs import load_run  # noqa: E402
from recipes.translator.tokens import END, START  # noqa: E402


def predict_per_token(app: Translator, texts: list[str], length: int) -> list[list[int]]:
    """Greedy decoding the keras.io way: model.predict on the output so far, per token."""
    src = app.encode_sources(tf.constant(texts)).to_tensor().numpy()
    out = np.full((len(texts), 1), START, "int32")
    done = np.zeros(len(texts), bool)
    for _ in range(length):
        logits = app.model.predict([src, out], verbose=0, batch_size=len(texts))[:, -1]
        logits[:, : START + 1] = -np.inf
        token = np.where(done, 0, logits.argmax(-1)).astype("int32")
        done |= token == END
        out = np.concatenate([out, token[:, None]], 1)
        if done.all():
            break
    return out[:, 1:].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", help="a translator run folder (default: untrained dates model)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=12, help="output tokens (untrained)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    if args.run:
        app = load_run(args.run)
        source = args.run
        texts = app.splits().test.texts or app.splits().validation.texts
    else:  # the default architecture; speed does not depend on the weights' values
        app = Translator(dates=2000)
        app.prepare(app.splits())
        app.model = app.build_model()
        source = "translator defaults on dates, untrained"
        texts = app.splits().test.texts
    texts = (texts * (args.batch // max(1, len(texts)) + 1))[: args.batch]
    c = app.config
    print(
        f"model: {source}: Bi{c.cell.upper()}({c.units}) encoder, {c.attention} attention, "
        f"{app.token_kind}, target vocabulary {app.target_size}"
    )
    print(f"machine: {machine_line()}; TensorFlow {tf.__version__}")

    length = c.max_length or args.length  # a trained run: its setting, or --length
    baseline = args.batch / timed(
        lambda: predict_per_token(app, texts, length), max(1, args.repeats // 2)
    )
    rows = [("model.predict per token, greedy", baseline)]
    for name, width in (("compiled greedy", 1), ("compiled beam search, width 5", 5)):
        seconds = timed(
            lambda w=width: app.translate(texts, beam_width=w, max_length=length), args.repeats
        )
        rows.append((name, args.batch / seconds))

    print()
    print(f"| method (batch {args.batch}) | sentences/s | vs model.predict |")
    print("|---|---:|---:|")
    for name, rate in rows:
        print(f"| {name} | {rate:,.1f} | {rate / baseline:,.1f}x |")


if __name__ == "__main__":
    main()
