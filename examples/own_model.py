"""A Keras model of your own built with custom_layers: train, save, reload, same predictions.

The task is a small synthetic sequence classification, so the script needs no data: each
example is a sequence of token ids (1..vocabulary-1) of random length, right-padded with
0, and its label says whether the keyword (token 1) occurs in it. The model is

    Embedding(mask_zero=True) -> Bidirectional(custom_layers RNN, whole sequence)
      -> custom_layers RNN (last state) -> Dense logits

with the recurrent layer of your choice (``--cell``), compiled with ``jit_compile=True``
(the whole model, recurrence included, is one XLA program). It trains briefly, reports
the held-out accuracy, saves the model as a ``.keras`` file, loads it back with
``keras.saving.load_model`` (no ``custom_objects``: the layers are registered Keras
serializables) and checks that the reloaded model predicts exactly the same.

Without ``--out`` the ``.keras`` file goes to a temporary folder that is deleted at the end.

Usage:
    python examples/own_model.py
    python examples/own_model.py --cell gru --units 64 --epochs 10 --out my_model.keras
    python examples/own_model.py --examples 64 --epochs 1 --units 8      # a few seconds
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np

import custom_layers as cl

#: custom_layers' recurrent layers by the name --cell takes
CELLS = {"lstm": cl.LSTM, "gru": cl.GRU, "minimal_gru": cl.MinimalGRU, "simple": cl.SimpleRNN}
KEYWORD = 1


def make_data(n: int, steps: int, vocabulary: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` padded id sequences of ``steps`` positions and their labels (keyword or not)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, vocabulary, size=(n, steps))
    labels = rng.integers(0, 2, size=n).astype("int32")
    for row in range(n):
        length = int(rng.integers(2, steps + 1))
        if labels[row]:  # the keyword somewhere in the sequence
            ids[row, rng.integers(0, length)] = KEYWORD
        ids[row, length:] = 0  # padding: masked by the embedding
    return ids, labels


def build_model(cell: str, units: int, vocabulary: int) -> keras.Model:
    """The classifier, compiled for XLA."""
    rnn = CELLS[cell]
    ids = keras.Input((None,), dtype="int32", name="ids")
    x = keras.layers.Embedding(vocabulary, 16, mask_zero=True)(ids)  # the mask flows on
    x = keras.layers.Bidirectional(rnn(units, return_sequences=True))(x)
    x = rnn(units)(x)  # the last real step's activation
    model = keras.Model(ids, keras.layers.Dense(2, name="logits")(x))
    model.compile(
        optimizer=keras.optimizers.Adam(5e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=True,  # one XLA program: embedding, recurrences, loss, gradients
    )
    return model


def run(args: argparse.Namespace, path: Path) -> bool:
    """Trains, saves to ``path``, reloads; whether the predictions are identical."""
    keras.utils.set_random_seed(args.seed)
    # whole batches only: XLA compiles one program per batch shape
    batch = args.batch_size
    train_size = -(-args.examples // batch) * batch
    test_size = max(batch, train_size // 4 // batch * batch)
    ids, labels = make_data(train_size, args.steps, args.vocabulary, args.seed)
    test_ids, test_labels = make_data(test_size, args.steps, args.vocabulary, args.seed + 1)
    model = build_model(args.cell, args.units, args.vocabulary)
    model.fit(
        ids,
        labels,
        validation_data=(test_ids, test_labels),
        epochs=args.epochs,
        batch_size=batch,
        verbose=0 if args.quiet else 2,
    )
    loss, accuracy = model.evaluate(test_ids, test_labels, batch_size=batch, verbose=0)
    print(f"held-out accuracy {accuracy:.3f}, loss {loss:.4f} ({test_size} sequences)")

    model.save(path)
    reloaded = keras.saving.load_model(path)  # no custom_objects needed
    before = model.predict(test_ids, batch_size=batch, verbose=0)
    after = reloaded.predict(test_ids, batch_size=batch, verbose=0)
    same = np.array_equal(before, after)
    print(f"saved {path}; reloaded: {'identical' if same else 'DIFFERENT'} predictions")
    return same


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="A Keras model built with custom_layers: train under XLA, save, reload."
    )
    parser.add_argument("--cell", choices=sorted(CELLS), default="lstm", help="default: lstm")
    parser.add_argument("--units", type=int, default=32, help="units per layer (default: 32)")
    parser.add_argument(
        "--examples", type=int, default=512, help="training sequences (whole batches)"
    )
    parser.add_argument("--steps", type=int, default=20, help="positions per sequence")
    parser.add_argument("--vocabulary", type=int, default=50, help="token ids, padding included")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="the .keras file to keep (default: none)")
    parser.add_argument("--quiet", action="store_true", help="no line per epoch")
    args = parser.parse_args(argv)
    if args.out is not None and args.out.suffix != ".keras":
        parser.error("--out must end in .keras")
    if args.vocabulary < 3:
        parser.error("--vocabulary must be at least 3 (padding, the keyword, one other token)")

    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        return 0 if run(args, args.out) else 1
    with tempfile.TemporaryDirectory(prefix="own-model-") as tmp:
        return 0 if run(args, Path(tmp) / "model.keras") else 1


if __name__ == "__main__":
    sys.exit(main())
