"""The ``rnn-apps`` command line: the recipe life cycle as verbs.

    rnn-apps recipes
    rnn-apps fit RECIPE [--data SRC] [--config FILE.toml] [--set KEY=VALUE]... [--epochs N]
                        [--out RUN_DIR] [--resume]
    rnn-apps evaluate RUN_DIR [--data SRC] [--split test] [--json]
    rnn-apps predict RUN_DIR [INPUT ...]          (inputs from stdin, one per line, when none)
    rnn-apps generate RUN_DIR [PRIME ...] [--samples N] [--length L] [--temperature T]
                      [--top-k K] [--top-p P] [--seed S] [--out DIR]   (alias of predict)
    rnn-apps translate RUN_DIR [TEXT ...] [--beam-width K] [--plot attention.png]
                                                                  (alias of predict)
    rnn-apps tag RUN_DIR [SENTENCE ...]                           (alias of predict)
    rnn-apps detect RUN_DIR FILE.wav ... [--plot probs.png] [--chime out.wav]
                                                                  (alias of predict)
    rnn-apps export RUN_DIR [--out DIR] [--format saved_model]

A user error prints one line and exits with status 2; ``--debug`` shows the traceback.
The command holds no modelling code: everything it does, a recipe does from Python.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rnn_apps import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnn-apps",
        description="Recurrent-network applications for Keras 3: fit, evaluate, predict, export.",
    )
    parser.add_argument("--version", action="version", version=f"rnn-apps {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")

    verbs.add_parser("recipes", help="list the recipes with their default data")

    fit = verbs.add_parser("fit", help="train a recipe into a run folder")
    fit.add_argument("recipe", help="recipe name (see rnn-apps recipes)")
    fit.add_argument("--data", help="file, folder or tfds:NAME[/CONFIG] (default: the recipe's)")
    fit.add_argument("--config", help="TOML file of settings")
    fit.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a setting (after --config)"
    )
    fit.add_argument("--epochs", type=int, help="total epochs (default: the config's)")
    fit.add_argument("--out", help="run folder (default: runs/RECIPE-TIME)")
    fit.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its last epoch"
    )
    fit.add_argument("--quiet", action="store_true", help="no progress bar")

    evaluate = verbs.add_parser("evaluate", help="metrics of a trained run")
    evaluate.add_argument("run", help="run folder")
    evaluate.add_argument("--data", help="score this source instead of the run's test split")
    evaluate.add_argument(
        "--split",
        choices=["train", "validation", "test"],
        help="default: test, or validation when the data has no test split",
    )
    evaluate.add_argument("--json", action="store_true", help="one JSON object on stdout")

    predict = verbs.add_parser(
        "predict",
        aliases=["generate", "translate", "tag", "detect"],
        help="the recipe's task verb on raw inputs",
    )
    predict.add_argument("run", help="run folder")
    predict.add_argument(
        "inputs",
        nargs="*",
        help="inputs (one per line on stdin when none; generators: primes)",
    )
    sampling = predict.add_argument_group("generators (char_text, char_music)")
    sampling.add_argument("--samples", type=int, help="samples per prime (default 1)")
    sampling.add_argument("--length", type=int, help="characters per sample")
    sampling.add_argument("--temperature", type=float, help="0: likeliest; higher: bolder")
    sampling.add_argument("--top-k", type=int, dest="top_k", help="sample among the k likeliest")
    sampling.add_argument("--top-p", type=float, dest="top_p", help="nucleus sampling mass")
    sampling.add_argument("--seed", type=int, help="the same seed gives the same samples")
    sampling.add_argument("--out", help="folder to write each sample to")
    translation = predict.add_argument_group("translator")
    translation.add_argument(
        "--beam-width", type=int, dest="beam_width", help="beams kept (1: greedy)"
    )
    translation.add_argument(
        "--plot",
        help="PNG of the first input: attention weights (translator), probabilities under "
        "the spectrogram (trigger_word)",
    )
    detection = predict.add_argument_group("trigger_word (inputs: WAV files)")
    detection.add_argument("--chime", help="WAV of the first input with a chime at each detection")

    export = verbs.add_parser("export", help="a SavedModel that takes raw inputs")
    export.add_argument("run", help="run folder")
    export.add_argument("--out", help="export folder (default: RUN/saved_model)")
    export.add_argument("--format", default="saved_model", choices=["saved_model"])
    return parser


@contextlib.contextmanager
def _native_stderr_silenced(active: bool):
    """Points file descriptor 2 at /dev/null while active (Python exceptions still show)."""
    if not active:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _print_json(value) -> None:
    print(json.dumps(value, ensure_ascii=False), flush=True)


def cmd_recipes(args) -> int:
    from recipes import RECIPES

    for name, recipe in RECIPES.items():
        print(f"{name:12s} {recipe.description}  [default data: {recipe.default_data}]")
    return 0


def cmd_fit(args) -> int:
    from recipes import get_recipe
    from recipes.config import parse_overrides, read_toml

    recipe_class = get_recipe(args.recipe)
    values = read_toml(args.config) if args.config else {}
    values.update(parse_overrides(args.set))
    recipe = recipe_class.from_config(values)
    run_dir = Path(args.out) if args.out else recipe.default_run_dir()
    if args.resume and not args.out:
        from recipes import UserError

        raise UserError("--resume needs --out RUN_DIR, the run folder to continue.")
    metrics = recipe.fit(
        data=args.data,
        epochs=args.epochs,
        run_dir=run_dir,
        resume=args.resume,
        verbose=0 if args.quiet else "auto",
    )
    _print_json({"run": str(run_dir), **metrics})
    return 0


def cmd_evaluate(args) -> int:
    from recipes.runs import load_run

    recipe = load_run(args.run)
    metrics = recipe.evaluate(data=args.data, split=args.split)
    if args.json:
        _print_json(metrics)
    else:
        for key, value in metrics.items():
            print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    return 0


PREDICT_OPTIONS = (
    "samples",
    "length",
    "temperature",
    "top_k",
    "top_p",
    "seed",
    "out",
    "beam_width",
    "plot",
    "chime",
)


def cmd_predict(args) -> int:
    from recipes import UserError
    from recipes.runs import load_run

    recipe = load_run(args.run)
    options = {k: getattr(args, k) for k in PREDICT_OPTIONS if getattr(args, k) is not None}
    for key in options:
        if key not in recipe.predict_options:
            flag = "--" + key.replace("_", "-")
            raise UserError(f"{flag} does not apply to the {recipe.name} recipe of {args.run}.")
    inputs = args.inputs
    if not inputs and recipe.predict_reads_stdin:
        inputs = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    for result in recipe.predict(inputs, **options):
        _print_json(result)
    return 0


def cmd_export(args) -> int:
    from recipes.runs import load_run

    recipe = load_run(args.run)
    out = Path(args.out) if args.out else Path(args.run) / "saved_model"
    recipe.export(out)
    print(f"exported: {out}")
    return 0


COMMANDS = {
    "recipes": cmd_recipes,
    "fit": cmd_fit,
    "evaluate": cmd_evaluate,
    "predict": cmd_predict,
    "generate": cmd_predict,
    "translate": cmd_predict,
    "tag": cmd_predict,
    "detect": cmd_predict,
    "export": cmd_export,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rnn-apps`` console script."""
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.verb is None:
        parser.print_help()
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _native_stderr_silenced(not args.debug):
        # TensorFlow's C++ start-up notes (CPU features, no CUDA driver) bypass Python's
        # logging; they would drown the one-line messages of this command
        import tensorflow as tf

        import recipes  # noqa: F401

        tf.config.list_physical_devices()
    from recipes.errors import UserError

    try:
        return COMMANDS[args.verb](args)
    except UserError as err:
        if args.debug:
            raise
        print(f"rnn-apps: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "rnn-apps: interrupted; completed epochs are checkpointed "
            "(continue with fit --resume).",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
