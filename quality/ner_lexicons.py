"""The tagger's lexicons, one at a time and together, on dev sentences no choice sees
(docs/results/ner.md, "Lexicons").

Splits the WNUT-17 dev file in two by alternating sentences: the 1st, 3rd, ... validate
(they choose the epoch and the entity bias), the 2nd, 4th, ... are the test split that only
``evaluate`` scores. Each configuration is fitted once per seed; prints the table::

    python quality/ner_lexicons.py --data data/wnut17 --seeds 1 2 3

``--data`` is the folder with ``wnut17train.conll`` and ``emerging.dev.conll``. Every
command is ``rnn-apps`` in a fresh process; the halves and run folders go under ``--out``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
from pathlib import Path

from _runs import fit, rnn_apps

#: configuration -> its --set arguments
CONFIGS = {
    "none": [],
    "frequency": ["lexicon_frequency=true"],
    "places": ["lexicon_places=true"],
    "names": ["lexicon_names=true"],
    "all": ["lexicon_frequency=true", "lexicon_places=true", "lexicon_names=true"],
}


def halves(data: Path, out: Path) -> Path:
    """``out/halves``: ``train.conll``, and dev split into ``dev.conll`` and ``test.conll``."""
    folder = out / "halves"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(data / "wnut17train.conll", folder / "train.conll")
    text = (data / "emerging.dev.conll").read_text(encoding="utf-8")
    blocks = [b for b in text.split("\n\n") if b.strip()]
    for name, half in (("dev", blocks[0::2]), ("test", blocks[1::2])):
        (folder / f"{name}.conll").write_text("\n\n".join(half) + "\n\n", encoding="utf-8")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the WNUT-17 folder")
    parser.add_argument("--out", type=Path, default=Path("runs/ner-lexicons"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    data = halves(args.data, args.out)
    rows = []
    for config in args.configs:
        scores, minutes = [], []
        for seed in args.seeds:
            run = args.out / f"{config}-{seed}"
            settings = [*CONFIGS[config], *args.set, f"seed={seed}"]
            _, spent = fit("ner", data, run, settings)
            metrics = rnn_apps("evaluate", str(run), "--json")  # the test split: 2nd half
            scores.append(metrics["f1"])
            minutes.append(spent)
            print(f"{config}, seed {seed}: F1 {metrics['f1']:.3f}, {spent:.1f} min", flush=True)
        rows.append((config, scores, statistics.mean(minutes)))
    print(
        "| lexicons | second-half F1 (seeds " + ", ".join(map(str, args.seeds)) + ") | mean "
        "| fit minutes (mean) |"
    )
    print("|---|---|---:|---:|")
    for config, scores, minutes in rows:
        cells = " ".join(f"{s:.3f}" for s in scores)
        print(f"| {config} | {cells} | {statistics.mean(scores):.3f} | {minutes:.1f} |")


if __name__ == "__main__":
    main()
