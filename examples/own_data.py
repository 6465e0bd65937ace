"""Train the sentiment classifier on your own CSV or TSV file, from Python.

The file holds one example per line: a text and its label, in two columns (more columns
are fine). Two formats:

- ``.csv``: comma-separated, fields quoted when they hold a comma or a quote::

      The battery died after two days.,0
      "Works great, highly recommended.",1

- ``.tsv`` or ``.txt``: tab-separated, read without quote processing (a text may hold
  quotes, not tabs)::

      The battery died after two days.<TAB>0

Labels are any strings (``0``/``1``, ``pos``/``neg``, star ratings, ...); two or more
distinct ones. By default the text is the first column and the label the last. A header
row is recognised when its label cell is a usual column name (``label``, ``class``, ...) or
a word above numeric labels; ``--header`` says there is one, and naming the columns
(``--text-column review --label-column stars``) implies one. The file must be UTF-8. The
examples are split deterministically (with the ``seed`` setting) into 80% train, 10%
validation and 10% test.

The script trains with the recipes API (``Sentiment.from_config``, ``fit``, ``evaluate``,
``predict``), prints the metrics and a few predictions on held-out texts, then loads the
run folder back (``recipes.load_run``) and checks that it predicts the same. Without
``--out`` the run folder is a temporary folder, deleted at the end: the script writes
nothing unless asked (``--out RUN`` keeps the run; ``--write-sample FILE`` writes a small
sample file to try it on and stops).

Usage:
    python examples/own_data.py --write-sample reviews.csv
    python examples/own_data.py --data reviews.csv --epochs 3
    python examples/own_data.py --data reviews.tsv --out runs/reviews --set units=64
    python examples/own_data.py --data reviews.csv --predict "Not worth the money."

Settings (``--set KEY=VALUE``) are the sentiment recipe's: ``rnn-apps config sentiment``
lists them. Small and quick: ``--set units=8 --set embedding_dim=8 --set max_length=16``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

#: texts of the sample file: (text, label)
SAMPLE = [
    ("The battery died after two days.", "0"),
    ("Works great, highly recommended.", "1"),
    ("Terrible sound and the screen broke.", "0"),
    ("Excellent value, I love it.", "1"),
    ("Not worth the money.", "0"),
    ("The staff were friendly and the food was delicious.", "1"),
    ("Awful customer service, never again.", "0"),
    ("Superb quality and fast delivery.", "1"),
    ("It stopped working after a week.", "0"),
    ("A wonderful film with a great cast.", "1"),
    ("Boring plot and poor acting.", "0"),
    ("Happy with it, does exactly what it says.", "1"),
    ("The worst purchase I have made.", "0"),
    ("Fine product, good price.", "1"),
    ("Cheap plastic that cracked at once.", "0"),
    ("I would buy it again, really good.", "1"),
    ("Bad fit and the colour faded.", "0"),
    ("Lovely design and very comfortable.", "1"),
    ("Disappointing, it broke on day one.", "0"),
    ("Great phone, the battery lasts all day.", "1"),
]


def write_sample(path: Path) -> None:
    """Writes the sample examples as a CSV (``.csv``) or tab-separated file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        if path.suffix.lower() == ".csv":
            csv.writer(f).writerows(SAMPLE)
        else:
            f.writelines(f"{text}\t{label}\n" for text, label in SAMPLE)


def column(value: str) -> str | int:
    """A column given on the command line: an index (``0``, ``-1``) or a header name."""
    try:
        return int(value)
    except ValueError:
        return value


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe's settings from the command line: ``--set`` pairs, then the columns."""
    from recipes.core.config import parse_overrides

    values = parse_overrides(args.set)
    if args.text_column is not None:
        values["text_column"] = column(args.text_column)
    if args.label_column is not None:
        values["label_column"] = column(args.label_column)
    if args.header:
        values["header"] = True
    return values


def train(args: argparse.Namespace, run_dir: Path) -> None:
    """Fits, evaluates and predicts, then reloads the run and predicts again."""
    from recipes import Sentiment, load_run

    app = Sentiment.from_config(settings(args))  # unknown keys and bad values: UserError
    metrics = app.fit(
        data=str(args.data), epochs=args.epochs, run_dir=run_dir, verbose=0 if args.quiet else 2
    )
    print("training:", json.dumps(metrics))
    print("held out:", json.dumps(app.evaluate()))  # the test split (validation if empty)

    if args.predict:
        texts, truth = args.predict, [None] * len(args.predict)
    else:  # a few held-out texts, with their labels
        test = app.splits().test
        texts, truth = test.texts[:3], test.labels[:3]
    predictions = app.predict(texts)
    for prediction, label in zip(predictions, truth, strict=True):
        shown = {**prediction, **({"true_label": label} if label is not None else {})}
        print(json.dumps(shown, ensure_ascii=False))

    # the run folder holds everything the classifier needs
    again = load_run(run_dir).predict(texts)
    same = [p["probabilities"] for p in again] == [p["probabilities"] for p in predictions]
    print(f"reloaded from {run_dir}: {'same' if same else 'DIFFERENT'} predictions")
    if not same:
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Train the sentiment classifier on your own CSV/TSV file, from Python.",
        epilog="The file format is described at the top of this script (python -m pydoc).",
    )
    parser.add_argument("--data", type=Path, help="a .csv, .tsv or .txt file of text and label")
    parser.add_argument("--epochs", type=int, help="epochs at most (default: the recipe's, 15)")
    parser.add_argument("--out", type=Path, help="keep the run folder here (new or empty)")
    parser.add_argument("--text-column", help="the text's column: an index or a header name")
    parser.add_argument("--label-column", help="the label's column: an index or a header name")
    parser.add_argument("--header", action="store_true", help="the first row names the columns")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the sentiment recipe (rnn-apps config sentiment lists them)",
    )
    parser.add_argument(
        "--predict", action="append", metavar="TEXT", help="a text to classify (repeatable)"
    )
    parser.add_argument("--quiet", action="store_true", help="no line per epoch")
    parser.add_argument(
        "--write-sample", type=Path, metavar="FILE", help="write a small sample file and stop"
    )
    args = parser.parse_args(argv)

    if args.write_sample is not None:
        if args.write_sample.exists():
            parser.error(f"{args.write_sample} exists; choose a new file name")
        write_sample(args.write_sample)
        print(f"wrote {len(SAMPLE)} examples to {args.write_sample}")
        return 0
    if args.data is None:
        parser.error("give --data FILE (or --write-sample FILE to make one)")

    from recipes import UserError

    try:
        if args.out is not None:
            train(args, args.out)
        else:
            with tempfile.TemporaryDirectory(prefix="own-data-") as tmp:
                train(args, Path(tmp) / "run")
    except UserError as err:  # bad file, key or value: one line, as rnn-apps prints it
        print(f"own_data.py: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
