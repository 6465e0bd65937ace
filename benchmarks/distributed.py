"""What multi-worker training costs: the same fit as one process, as one worker of a
``MultiWorkerMirroredStrategy`` cluster (``rnn-apps fit --workers 1``) and as two local
workers (``--workers 2``), on the same data and the same global batch.

XLA is off in every setup (replicas on CPUs train without it). The figure is the
time of an epoch once training runs (the epochs after the first, which also traces),
read from the run's TensorBoard log (each epoch's scalars carry the time they were
written): the median over the epochs, then over ``--repeats`` runs of each setup, the
setups taking turns. The ratio is against one process.

Two workers on one machine share its cores, so on a small machine they are not faster:
each does half the arithmetic of a step, and the two then add their gradients over
127.0.0.1 (a collective per step). What the table shows is that overhead. Across machines,
each worker has cores of its own.

Example:
    python benchmarks/distributed.py   # the translator on its embedded dates, 3 x 4 epochs
    python benchmarks/distributed.py --repeats 3 --epochs 3 --set dates=4000  # docs/scaling.md
    python benchmarks/distributed.py --recipe char_text --epochs 3 --set max_minutes=0
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import cpu_name

CLI = [sys.executable, "-m", "rnn_apps"]
SETUPS = {
    "one process (distribution = none)": ["--set", "distribution=none"],
    "1 worker (--workers 1)": ["--workers", "1"],
    "2 local workers (--workers 2)": ["--workers", "2"],
}


def epoch_seconds(run: Path) -> list[float]:
    """Seconds between the ends of the run's epochs, from its TensorBoard log."""
    import tensorflow as tf

    ends: dict[int, float] = {}
    for path in sorted((run / "logs" / "train").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            if any(v.tag == "epoch_loss" for v in event.summary.value):
                ends[event.step] = event.wall_time
    times = [ends[k] for k in sorted(ends)]
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="translator")
    parser.add_argument("--data", help="default: the recipe's embedded data")
    parser.add_argument("--epochs", type=int, default=4, help="per run (3 or more)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    # XLA off in every setup: two replicas on CPUs train without it (recipes.core.recipe)
    common = [args.recipe, "--epochs", str(args.epochs), "--quiet", "--set", "patience=0"]
    common += ["--set", "jit_compile=false"]
    common += ["--data", args.data] if args.data else []
    for setting in args.set:
        common += ["--set", setting]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    results: dict[str, list[float]] = {name: [] for name in SETUPS}
    with tempfile.TemporaryDirectory() as root:
        for repeat in range(args.repeats):
            for i, (name, flags) in enumerate(SETUPS.items()):
                run = Path(root) / f"run-{repeat}-{i}"
                command = [*CLI, "fit", *common, *flags, "--out", str(run)]
                subprocess.run(command, check=True, capture_output=True, env=env)
                results[name].append(statistics.median(epoch_seconds(run)))
                print(f"  {name}, run {repeat + 1}: {results[name][-1]:.2f} s/epoch", flush=True)
    print(f"\n{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{args.recipe}, {args.epochs} epochs per run, median of {args.repeats} runs\n")
    base = statistics.median(results[next(iter(SETUPS))])
    print(f"| {'setup':<36} | s per epoch | time vs one process |")
    print(f"|{'-' * 38}|-------------|---------------------|")
    for name, times in results.items():
        median = statistics.median(times)
        print(f"| {name:<36} | {median:11.2f} | {median / base:18.2f}x |")


if __name__ == "__main__":
    main()
