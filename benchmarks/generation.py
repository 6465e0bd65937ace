"""Characters per second of the compiled generation loop against one ``model.predict``
call per character, on the same character model.

The common approach (the keras.io character generation example) calls ``model.predict``
on the last ``--window`` characters for every new character and samples from the last
position's output. The recipes' loop feeds the prime once and then carries the
recurrent states from character to character inside one graph (:meth:`CharLM.generate`).
Both sample with the same settings from the same weights. Each figure is the median of
``--repeats`` timed runs after a warm-up run (which includes tracing).

Examples:
    python benchmarks/generation.py                       # default char_text model, untrained
    python benchmarks/generation.py --run runs/char_text-...   # a trained run folder
    python benchmarks/generation.py --run runs/irish   # char_music: grammar off and on
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from machine import machine_line  # noqa: E402

from recipes import CharText  # noqa: E402
from recipes.core.runs import load_run  # noqa: E402


def timed(fn, repeats: int) -> float:
    fn()  # warm-up: tracing and compilation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def predict_per_character(app, prime: str, length: int, window: int, seed: int) -> str:
    """The keras.io way: model.predict on the last `window` characters, once per character."""
    rng = np.random.default_rng(seed)
    ids = list(app.encode(prime))
    for _ in range(length):
        context = np.array(ids[-window:], "int32")[None, :]
        logits = app.model.predict(context, verbose=0)[0, -1].astype("float64")
        logits[0] = -np.inf  # never the out-of-vocabulary id
        p = np.exp((logits - logits.max()) / app.config.temperature)
        ids.append(int(rng.choice(len(p), p=p / p.sum())))
    return "".join(app.chars[i - 1] for i in ids[len(prime) :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", help="a char_text/char_music run folder (default: untrained)")
    parser.add_argument("--length", type=int, default=400, help="characters per loop sample")
    parser.add_argument("--predict-length", type=int, default=60, help="characters, predict way")
    parser.add_argument("--window", type=int, default=40, help="context of the predict way")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    if args.run:
        app = load_run(args.run)
        source = args.run
    else:  # the default architecture; speed does not depend on the weights' values
        app = CharText()
        app.prepare(app.splits())
        app.model = app.build_model()
        source = "char_text defaults, untrained"
    c = app.config
    prime = "\n"
    print(f"model: {source}: {c.layers} x {c.cell.upper()}({c.units}), vocabulary {len(app.chars)}")
    print(f"machine: {machine_line()}; TensorFlow {tf.__version__}")

    rows = []
    slow = timed(
        lambda: predict_per_character(app, prime, args.predict_length, args.window, 0),
        max(1, args.repeats // 2),
    )
    baseline = args.predict_length / slow
    rows.append(("model.predict per character", 1, baseline))
    # char_music: without and with its ABC grammar (a mask over each draw's logits)
    variants = (
        [("compiled loop, grammar off", False), ("compiled loop, grammar on", True)]
        if hasattr(c, "grammar")
        else [("compiled loop (generate)", None)]
    )
    for batch in (1, 32):
        for name, grammar in variants:
            options = {} if grammar is None else {"grammar": grammar}

            def generate(b=batch, options=options):
                return app.generate(prime, samples=b, length=args.length, seed=1, **options)

            seconds = timed(generate, args.repeats)
            # the characters drawn (a tune ends at its blank line, before `length`)
            drawn = sum(len(text) - len(prime) for text in generate())
            rows.append((name, batch, drawn / seconds))

    print()
    print("| method | samples at once | characters/s | vs model.predict |")
    print("|---|---:|---:|---:|")
    for name, batch, rate in rows:
        print(f"| {name} | {batch} | {rate:,.0f} | {rate / baseline:,.1f}x |")


if __name__ == "__main__":
    main()
