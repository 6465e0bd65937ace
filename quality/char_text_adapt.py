"""Dynamic evaluation of a character generator at several rates
(docs/results/char_generators.md).

Scores the held-out text of a run folder once with the trained weights and once per
``--rates`` value with the model learning from the text as it reads it
(``CharLM.bits_per_char(adapt=...)``, the ``adapt_rate`` setting)::

    python quality/char_text_adapt.py --data data/tiny_shakespeare/input.txt \\
        --run runs/shakespeare --rates 1e-5 3e-5 1e-4 3e-4 1e-3

When ``--run`` is not a run folder yet, it is fitted first (``rnn-apps fit char_text
--data DATA``, in a fresh process, with any ``--set``). The rates are compared on the
validation split's first half (``--split``); the figures of the best of them are then
given for the second half and the whole split, so that the rate is not chosen on the
text it is reported on. Prints the table and writes ``adapt.json`` into the run folder.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _runs import fit

from recipes.core.runs import load_run
from recipes.core.training import write_json


def halves(text: str) -> tuple[str, str]:
    """``text`` cut in two at the line start nearest its middle."""
    middle = text.find("\n", len(text) // 2) + 1 or len(text) // 2
    return text[:middle], text[middle:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the text (or folder)")
    parser.add_argument("--run", type=Path, required=True, help="the run folder (fitted if new)")
    parser.add_argument("--rates", type=float, nargs="+", default=[1e-5, 3e-5, 1e-4, 3e-4, 1e-3])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    if not (args.run / "run.json").exists():
        metrics, minutes = fit("char_text", args.data, args.run, args.set)
        print(f"fitted {args.run} in {minutes:.1f} minutes: {metrics}", flush=True)
    recipe = load_run(args.run)
    recipe.config = recipe.config.replace(data=str(args.data))
    text = recipe.corpus(recipe.splits().validation)
    first, second = halves(text)
    parts = {"first half": first, "second half": second, "whole": text}

    def scored(rate: float, part: str) -> dict:
        start = time.perf_counter()
        bits = recipe.bits_per_char([parts[part]], adapt=rate, streams=1)
        return {"bits_per_char": bits, "seconds": round(time.perf_counter() - start, 1)}

    static = {part: scored(0.0, part)["bits_per_char"] for part in parts}
    rows = [{"rate": rate, **scored(rate, "first half")} for rate in args.rates]
    best = min(rows, key=lambda row: row["bits_per_char"])["rate"]
    chosen = {part: scored(best, part) for part in ("second half", "whole")}
    result = {
        "characters": {part: len(t) for part, t in parts.items()},
        "static": static,
        "first_half": rows,
        "chosen_rate": best,
        "chosen": chosen,
    }
    write_json(args.run / "adapt.json", result)
    print(f"validation: {len(text)} characters, halves of {len(first)} and {len(second)}")
    print("| rate | bits/char, first half | seconds |")
    print("|---:|---:|---:|")
    print(f"| 0 (trained weights) | {static['first half']:.3f} | |")
    for row in rows:
        print(f"| {row['rate']:g} | {row['bits_per_char']:.3f} | {row['seconds']:g} |")
    print(f"rate {best:g}, chosen on the first half:")
    for part in ("second half", "whole"):
        print(
            f"  {part}: {chosen[part]['bits_per_char']:.3f} bits/char "
            f"(trained weights: {static[part]:.3f})"
        )


if __name__ == "__main__":
    main()
