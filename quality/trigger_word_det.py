"""The trigger-word detector over hours of held-out audio: its DET curve
(docs/results/trigger_word.md).

Negatives are running speech that eSpeak NG synthesizes from the standard library's
docstrings in many voices, over the held-out background recordings, with the held-out
clips of other words between the sentences; positives are the held-out speakers' clips
of the word, each inserted ``--trials`` times (``recipes.trigger_word.det``)::

    python quality/trigger_word_det.py --data data/speech_commands_subset \\
        --run runs/marvin --hours 10 --trials 100

When ``--run`` is not a run folder yet, it is fitted first (``rnn-apps fit trigger_word
--data DATA --set word=marvin``, in a fresh process, with any ``--set``). ``--recalibrate``
calibrates the threshold of a run fitted earlier again, as ``fit`` would now. Prints the
table and writes ``det-S.json`` (the operating point, the counts and the whole curve)
and ``det-S.png`` (the curve) into the run folder, S being the ``--seed``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _runs import fit

from recipes.core.runs import load_run
from recipes.core.training import write_json
from recipes.trigger_word.det import best_miss_rate, det_curve, plot_det

#: the false-accept budgets the table reports the best miss rate under
BUDGETS = (0.5, 1.0, 2.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the Speech Commands folder")
    parser.add_argument("--run", type=Path, required=True, help="the run folder (fitted if new)")
    parser.add_argument("--hours", type=float, default=10.0, help="hours of negative audio")
    parser.add_argument("--trials", type=int, default=100, help="insertions of each positive")
    parser.add_argument("--seed", type=int, default=1, help="of the audio composed")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--recalibrate",
        action="store_true",
        help="calibrate the run's threshold again (the run's settings, this version's rule) "
        "and write it to threshold.json first",
    )
    args = parser.parse_args()
    if not (args.run / "run.json").exists():
        metrics, minutes = fit("trigger_word", args.data, args.run, ["word=marvin", *args.set])
        print(f"fitted {args.run} in {minutes:.1f} minutes: {metrics}", flush=True)
    recipe = load_run(args.run)
    recipe.config = recipe.config.replace(data=str(args.data))
    if args.recalibrate:
        recipe._calibrated = None  # forgets threshold.json's; threshold() calibrates anew
        recipe.save_assets(args.run)
        print(f"recalibrated {args.run}: threshold {recipe.threshold():g}", flush=True)
    result = det_curve(recipe, recipe.splits().test, args.hours, args.trials, args.seed)
    write_json(args.run / f"det-{args.seed}.json", result)
    plot_det(result, args.run / f"det-{args.seed}.png", f"{recipe.config.word!r}, {args.run.name}")
    print(
        f"{result['negative_hours']:g} h of negatives ({result['sentences']} sentences, "
        f"{result['voices']} voices), {result['positive_trials']} positive trials "
        f"({result['positive_clips']} clips)"
    )
    print("| threshold | miss rate | false accepts per hour |")
    print("|---|---:|---:|")
    print(
        f"| {result['threshold']:g} (the run's) | {result['miss_rate']:.3f} "
        f"({result['misses']}) | {result['false_accepts_per_hour']:.2f} "
        f"({result['false_accepts']}) |"
    )
    for budget in BUDGETS:
        point = best_miss_rate(result["curve"], budget)
        if point is None:
            print(f"| none with at most {budget:g} per hour | | |")
        else:
            print(
                f"| {point['threshold']:g} (lowest miss at <= {budget:g} per hour) | "
                f"{point['miss_rate']:.3f} | {point['false_accepts_per_hour']:.2f} |"
            )


if __name__ == "__main__":
    main()
