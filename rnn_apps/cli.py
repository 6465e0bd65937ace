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
    rnn-apps forecast RUN_DIR FILE.csv ... [--horizon H]          (alias of predict)
    rnn-apps export RUN_DIR [--out DIR] [--format saved_model|onnx|tflite] [--quantize float16|int8]
    rnn-apps config RECIPE [--config FILE.toml] [--set KEY=VALUE]...   (settings as TOML)
    rnn-apps runs [FOLDER] [--json]           (the run folders under FOLDER, default runs)
    rnn-apps serve PATH... [--host H] [--port P]   (TensorFlow Serving's REST API, pages)

``rnn-apps fit RECIPE --help`` lists the recipe's settings; they, the predict aliases and
their options come from the recipes' config classes. ``--help``, ``recipes``, ``config``
and ``runs`` import no TensorFlow (they answer in a fraction of a second).
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


def _configs() -> dict:
    """Recipe name -> its config class (which names the task verb and its options); the
    config modules import no TensorFlow, so ``--help`` stays quick."""
    import recipes

    return {name: recipes.config_class(name) for name in recipes.APPLICATIONS}


def _aliases(configs: dict) -> dict[str, list[str]]:
    """The aliases of predict (the recipes' task verbs) and the recipes each one names."""
    aliases: dict[str, list[str]] = {}
    for name, config in configs.items():
        if config.task_verb != "predict":
            aliases.setdefault(config.task_verb, []).append(name)
    return aliases


def _task_options(configs: dict) -> dict[str, tuple]:
    """Option name -> (the option, {recipe: what the option does there}), over every
    recipe that takes it."""
    options: dict[str, tuple] = {}
    for name, config in configs.items():
        for option in config.task_options:
            options.setdefault(option.name, (option, {}))[1][name] = option.help
    return options


def _option_help(uses: dict[str, str]) -> str:
    """One help text for an option that several recipes take."""
    if len(set(uses.values())) == 1:
        return f"{next(iter(uses.values()))} ({', '.join(uses)})"
    return "; ".join(f"{name}: {text}" for name, text in uses.items())


def _printable(text: str) -> str:
    """``text`` with undecodable bytes of the command line (surrogate escapes) shown as
    ``\\udcxx``, so a message about them can be written to any stream."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class _Parser(argparse.ArgumentParser):
    def _print_message(self, message, file=None):
        super()._print_message(_printable(message) if message else message, file)


def build_parser(fit_recipe: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; ``fit_recipe``: the recipe whose settings ``fit --help``
    lists (every recipe's names otherwise)."""
    from recipes.core.config import RESUMABLE, settings_help

    configs = _configs()
    aliases = _aliases(configs)
    parser = _Parser(
        prog="rnn-apps",
        description="Recurrent-network applications for Keras 3: fit, evaluate, predict, export.",
    )
    parser.add_argument("--version", action="version", version=f"rnn-apps {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    # --debug after the verb too (SUPPRESS: a sub-command leaves the value given before it)
    common = _Parser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")

    verbs.add_parser("recipes", parents=[common], help="list the recipes with their default data")

    if fit_recipe in configs:
        epilog = settings_help(configs[fit_recipe], fit_recipe)
    else:
        epilog = (
            f"recipes: {', '.join(configs)}. rnn-apps fit RECIPE --help lists the recipe's "
            "settings; rnn-apps config RECIPE prints them as a TOML file to edit."
        )
    fit = verbs.add_parser(
        "fit",
        parents=[common],
        help="train a recipe into a run folder",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument("recipe", help="recipe name (see rnn-apps recipes)")
    fit.add_argument("--data", help="file, folder or tfds:NAME[/CONFIG] (default: the recipe's)")
    fit.add_argument("--config", help="TOML file of settings")
    fit.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting (after --config; listed below)",
    )
    fit.add_argument("--epochs", type=int, help="total epochs (default: the config's)")
    fit.add_argument("--out", help="run folder (default: runs/RECIPE-TIME)")
    fit.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last epoch (with --set/--config: only "
        + ", ".join(RESUMABLE)
        + " may change)",
    )
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="train as N local worker processes of one multi-worker run "
        "(MultiWorkerMirroredStrategy; TF_CONFIG on 127.0.0.1 set for each)",
    )
    fit.add_argument(
        "--restarts",
        type=int,
        default=0,
        metavar="K",
        help="with --workers: when a worker dies, start the workers again up to K times, "
        "continuing from the last complete epoch (default 0)",
    )

    evaluate = verbs.add_parser("evaluate", parents=[common], help="metrics of a trained run")
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
        parents=[common],
        aliases=list(aliases),
        help="the recipe's task verb on raw inputs (the aliases name their recipes: "
        + "; ".join(f"{verb}: {', '.join(names)}" for verb, names in aliases.items())
        + ")",
    )
    predict.add_argument("run", help="run folder")
    predict.add_argument(
        "inputs",
        nargs="*",
        help="inputs, UTF-8 (one per line on stdin when none; generators: primes; "
        "trigger_word: WAV files)",
    )
    task = predict.add_argument_group("the recipes' options (each names the recipes it is for)")
    for option, uses in _task_options(configs).values():
        task.add_argument(
            option.flag,
            dest=option.name,
            type=option.type,
            metavar=option.name.upper(),
            help=_option_help(uses),
        )

    export = verbs.add_parser(
        "export",
        parents=[common],
        help="a SavedModel (or ONNX or TFLite model) that takes raw inputs",
    )
    export.add_argument("run", help="run folder")
    export.add_argument("--out", help="export folder (default: RUN/FORMAT, e.g. RUN/saved_model)")
    export.add_argument(
        "--format",
        default="saved_model",
        choices=["saved_model", "onnx", "tflite"],
        help="saved_model (default); onnx: model.onnx with inference.py, which runs it on "
        "raw inputs with NumPy and onnxruntime (the onnx extra); tflite: the same for "
        "TFLite's interpreter",
    )
    export.add_argument(
        "--quantize",
        choices=["float16", "int8"],
        help="with --format tflite: post-training quantization (int8: calibrated on the "
        "run's own data)",
    )

    serve = verbs.add_parser(
        "serve",
        parents=[common],
        help="exports (or run folders) behind TensorFlow Serving's REST API, with a page each",
    )
    serve.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="an export (rnn-apps export's --out), a folder of numbered versions, or a run folder",
    )
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1 (this machine)")
    serve.add_argument("--port", type=int, default=8501, help="default: 8501 (TF Serving's REST)")
    serve.add_argument(
        "--max-batch", type=int, default=32, help="most instances run as one batch (1: no batching)"
    )
    serve.add_argument(
        "--batch-timeout-ms",
        type=float,
        default=2.0,
        help="how long a request waits for others to share its batch (default 2)",
    )
    serve.add_argument(
        "--max-instances", type=int, default=256, help="most instances in one request"
    )
    serve.add_argument(
        "--max-body-mb", type=float, default=10.0, help="largest request body in MiB (default 10)"
    )

    runs = verbs.add_parser(
        "runs",
        parents=[common],
        help="the run folders under a folder: recipe, data, epochs, headline metric",
    )
    runs.add_argument("folder", nargs="?", default="runs", help="default: runs")
    runs.add_argument("--json", action="store_true", help="one JSON object per run on stdout")

    config = verbs.add_parser(
        "config",
        parents=[common],
        help="a recipe's settings, defaults and meaning, as a TOML file to edit and pass to "
        "fit --config",
    )
    config.add_argument("recipe", help="recipe name (see rnn-apps recipes)")
    config.add_argument("--config", help="TOML file of settings to start from")
    config.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a setting (after --config)"
    )
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


def _stdout_to_stderr():
    """:func:`recipes.core.training.stdout_to_stderr`, imported when a verb runs (``--help``
    needs no TensorFlow): while a verb works, its stdout goes to stderr."""
    from recipes.core.training import stdout_to_stderr

    return stdout_to_stderr()


def _utf8(raw: bytes, where: str) -> str:
    """``raw`` decoded as UTF-8, or a one-line error naming ``where`` and the bad byte."""
    from recipes import UserError

    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(
            f"{where} is not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}); "
            "give UTF-8 text (e.g. convert it with iconv -t UTF-8)."
        ) from None


def _argument(text: str, where: str) -> str:
    """A command-line argument as UTF-8 text: arguments arrive decoded with surrogate
    escapes, and ``os.fsencode`` gives their bytes back."""
    return _utf8(os.fsencode(text), where)


def _inputs(args) -> list[str]:
    """The raw inputs of predict: the arguments, or stdin's non-empty lines, as UTF-8.

    Text that is not UTF-8 is refused with the argument or line that holds it (nothing
    is replaced silently)."""
    if args.inputs:
        return [_argument(a, f"Input {i}") for i, a in enumerate(args.inputs, 1)]
    lines = sys.stdin.buffer.read().split(b"\n")
    texts = [_utf8(line, f"Line {i} of stdin") for i, line in enumerate(lines, 1)]
    return [t.rstrip("\r") for t in texts if t.strip()]


def cmd_recipes(args) -> int:
    for name, config_class in _configs().items():
        print(
            f"{name:12s} {config_class.description}  [default data: {config_class.default_data}]"
            f"  [extra: {config_class.extra}]"
        )
    return 0


def cmd_runs(args) -> int:
    from recipes import UserError
    from rnn_apps.runs import list_runs, table

    root = Path(args.folder)
    if not root.is_dir():
        raise UserError(f"{root} is not a folder; give the folder that holds the run folders.")
    rows = list_runs(root)
    if args.json:
        for row in rows:
            _print_json(row)
    elif rows:
        print(table(rows))
    else:
        print(f"no run folders under {root} (rnn-apps fit writes them)", file=sys.stderr)
    return 0


def cmd_fit(args) -> int:
    from recipes import UserError, get_recipe
    from recipes.core.config import parse_overrides, read_toml

    if args.workers is not None:
        return _launch_workers(args)
    if args.restarts:
        raise UserError("--restarts applies to --workers N (local worker processes).")
    recipe_class = get_recipe(args.recipe)
    values = read_toml(args.config) if args.config else {}
    # settings and the data path go into config.toml, a UTF-8 file
    values.update(parse_overrides([_argument(a, f"--set {a!r}") for a in args.set]))
    if args.data is not None:
        _argument(args.data, f"--data {args.data!r}")
    if args.resume and not args.out:
        raise UserError("--resume needs --out RUN_DIR, the run folder to continue.")
    # on --resume the run's own config is the base; the settings given change it
    recipe = recipe_class() if args.resume else recipe_class.from_config(values)
    run_dir = Path(args.out) if args.out else recipe.default_run_dir()
    with _stdout_to_stderr():
        metrics = recipe.fit(
            data=args.data,
            epochs=args.epochs,
            run_dir=run_dir,
            resume=args.resume,
            verbose=0 if args.quiet else "auto",
            settings=values if args.resume else None,
        )
    _print_json({"run": str(run_dir), **metrics})
    return 0


def _launch_workers(args) -> int:
    """``fit --workers N``: the same fit as N local workers (:mod:`rnn_apps.launch`)."""
    from recipes.core.config import default_run_dir
    from recipes.core.errors import UserError
    from rnn_apps.launch import launch

    if args.recipe not in _configs():
        raise UserError(f"Unknown recipe {args.recipe!r}; one of {', '.join(_configs())}.")
    if args.workers < 1:
        raise UserError(f"--workers {args.workers}: give 1 or more worker processes.")
    if args.restarts < 0:
        raise UserError(f"--restarts {args.restarts}: give 0 or more restarts.")
    if args.resume and not args.out:
        raise UserError("--resume needs --out RUN_DIR, the run folder to continue.")
    # one run folder for every worker and every restart (the chief's; the others write
    # into temporary folders)
    run_dir = Path(args.out) if args.out else default_run_dir(args.recipe)
    fit_args = [args.recipe, "--out", str(run_dir)]
    for flag, value in (("--data", args.data), ("--config", args.config)):
        if value is not None:
            fit_args += [flag, value]
    for setting in args.set:
        fit_args += ["--set", setting]
    if args.epochs is not None:
        fit_args += ["--epochs", str(args.epochs)]
    fit_args += [flag for flag, on in (("--resume", args.resume), ("--quiet", args.quiet)) if on]
    if getattr(args, "debug", False):
        fit_args.append("--debug")
    return launch(fit_args, args.workers, args.restarts, run_dir)


def cmd_evaluate(args) -> int:
    from recipes.core.runs import load_run

    with _stdout_to_stderr():
        recipe = load_run(args.run)
        metrics = recipe.evaluate(data=args.data, split=args.split)
    if args.json:
        _print_json(metrics)
    else:
        for key, value in metrics.items():
            print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    return 0


def cmd_predict(args) -> int:
    from recipes import UserError
    from recipes.core.runs import load_run
    from recipes.core.training import output_file, output_folder

    configs = _configs()
    known = _task_options(configs)
    options = {k: getattr(args, k) for k in known if getattr(args, k, None) is not None}
    for key in options:  # output paths checked before any work
        output = known[key][0].output
        if output == "folder":
            output_folder(options[key], known[key][0].flag)
        elif output is not None:
            output_file(options[key], known[key][0].flag, output)
    with _stdout_to_stderr():
        recipe = load_run(args.run)
    if args.verb not in ("predict", recipe.task_verb):
        names = _aliases(configs)[args.verb]
        raise UserError(
            f"rnn-apps {args.verb} is for {' and '.join(names)} runs; {args.run} "
            f"is a {recipe.name} run: use rnn-apps {recipe.task_verb}"
            + (" (or predict)." if recipe.task_verb != "predict" else ".")
        )
    for key in options:
        if key not in recipe.predict_options():
            flag = known[key][0].flag
            raise UserError(f"{flag} does not apply to the {recipe.name} recipe of {args.run}.")
    reads_stdin = recipe.config_class.task_reads_stdin
    inputs = _inputs(args) if args.inputs or reads_stdin else []
    with _stdout_to_stderr():
        results = recipe.predict(inputs, **options)
    for result in results:
        _print_json(result)
    return 0


def cmd_config(args) -> int:
    import recipes
    from recipes.core.config import parse_overrides, read_toml

    config_class = recipes.config_class(args.recipe)
    values = read_toml(args.config) if args.config else {}
    values.update(parse_overrides([_argument(a, f"--set {a!r}") for a in args.set]))
    config = config_class.from_dict(values)
    sys.stdout.write(config.to_commented_toml(args.recipe))
    return 0


def cmd_export(args) -> int:
    from recipes.core.runs import load_run

    out = Path(args.out) if args.out else Path(args.run) / args.format
    with _stdout_to_stderr():
        recipe = load_run(args.run)
        recipe.export(out, format=args.format, quantize=args.quantize)
    print(f"exported: {out}")
    return 0


def cmd_serve(args) -> int:
    import importlib.util

    from recipes import UserError

    for module in ("starlette", "uvicorn"):
        if importlib.util.find_spec(module) is None:
            raise UserError(
                f"serve needs the serve extra ({module} is not installed): "
                "pip install 'rnn-apps[serve]'"
            )
    for name in ("max_batch", "max_instances", "port"):
        if getattr(args, name) < (0 if name == "port" else 1):
            raise UserError(f"--{name.replace('_', '-')} must be a positive number.")
    if args.batch_timeout_ms < 0 or args.max_body_mb <= 0:
        raise UserError("--batch-timeout-ms and --max-body-mb must be positive.")
    from rnn_apps.serve import serve

    with _stdout_to_stderr():
        serve(
            args.paths,
            args.host,
            args.port,
            max_batch=args.max_batch,
            batch_timeout_ms=args.batch_timeout_ms,
            max_body_bytes=int(args.max_body_mb * 2**20),
            max_instances=args.max_instances,
            log=lambda line: print(line, file=sys.stderr, flush=True),
        )
    return 0


#: the verbs but predict's aliases (the recipes' task verbs, which run cmd_predict)
COMMANDS = {
    "recipes": cmd_recipes,
    "fit": cmd_fit,
    "evaluate": cmd_evaluate,
    "predict": cmd_predict,
    "export": cmd_export,
    "config": cmd_config,
    "runs": cmd_runs,
    "serve": cmd_serve,
}
#: the verbs that read only text files: no TensorFlow is started for them
LIGHT_VERBS = ("recipes", "config", "runs")


def _start_tensorflow(quiet: bool) -> None:
    """Imports TensorFlow, its C++ start-up notes (CPU features, no CUDA driver) silenced
    unless ``quiet`` is False: they bypass Python's logging and would drown the one-line
    messages of this command."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _native_stderr_silenced(quiet):
        import tensorflow as tf

        tf.config.list_physical_devices()


def _fit_recipe(argv: list[str]) -> str | None:
    """The recipe named after ``fit`` (so that ``fit RECIPE --help`` lists its settings)."""
    words = [a for a in argv if not a.startswith("-")]
    return words[1] if len(words) > 1 and words[0] == "fit" else None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rnn-apps`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(fit_recipe=_fit_recipe(argv))
    args, extra = parser.parse_known_args(argv)
    if (
        extra
        and getattr(args, "inputs", None) is not None
        and not any(e.startswith("-") for e in extra)
    ):
        args.inputs += extra  # inputs after options: predict RUN --seed 4 "a prime"
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.verb is None:
        parser.print_help()
        return 0
    from recipes.core.errors import UserError

    if args.verb not in LIGHT_VERBS and getattr(args, "workers", None) is None:
        _start_tensorflow(quiet=not args.debug)
    try:
        return COMMANDS.get(args.verb, cmd_predict)(args)
    except UserError as err:
        if args.debug:
            raise
        print(_printable(f"rnn-apps: error: {err}"), file=sys.stderr)
        return getattr(err, "status", 2)  # (a worker that lost another: 75, restartable)
    except KeyboardInterrupt:
        print(
            "rnn-apps: interrupted; completed epochs are checkpointed "
            "(continue with fit --resume).",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
