"""The sentiment classifier on a site it was not trained on (docs/results/sentiment.md).

Trains on one file of the UCI *Sentiment Labelled Sentences* (its 80% training share) and
scores all 1,000 sentences of the other file, in both directions, for each seed; prints the
table row of the settings given::

    python quality/sentiment_cross_domain.py --data data/uci --set lexicon=vader+afinn

``--data`` is the folder with ``amazon_cells_labelled.txt`` and ``imdb_labelled.txt``.
Every command is ``rnn-apps`` in a fresh process; the run folders go under ``--out``.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from _runs import fit, rnn_apps

SITES = {"Amazon": "amazon_cells_labelled.txt", "IMDb": "imdb_labelled.txt"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the folder of the two files")
    parser.add_argument("--out", type=Path, default=Path("runs/cross-domain"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    name = "-".join(s.replace("=", "_").replace("+", "_") for s in args.set) or "defaults"
    scores: dict[str, list[float]] = {}
    for train, other in (("Amazon", "IMDb"), ("IMDb", "Amazon")):
        row = scores.setdefault(f"{train} → {other}", [])
        for seed in args.seeds:
            run = args.out / f"{name}-{train.lower()}-{seed}"
            fit("sentiment", args.data / SITES[train], run, [*args.set, f"seed={seed}"])
            scored = str(args.data / SITES[other])
            metrics = rnn_apps("evaluate", str(run), "--data", scored, "--json")
            row.append(metrics["accuracy"])
            print(f"{train} -> {other}, seed {seed}: {metrics['accuracy']:.3f}", flush=True)
    every = [a for row in scores.values() for a in row]
    cells = " | ".join(" ".join(f"{a:.3f}" for a in row) for row in scores.values())
    settings = ", ".join(f"`{s}`" for s in args.set) or "**defaults**"
    print(f"| settings | {' | '.join(scores)} | mean | min |")
    print(f"| {settings} | {cells} | {statistics.mean(every):.3f} | {min(every):.3f} |")


if __name__ == "__main__":
    main()
