"""The recipe life cycle every application shares: configure, fit, evaluate, act, save, export.

A recipe subclass supplies its configuration class and a few hooks (data, model, task
verb, serving function); this class does the rest: run folders, checkpoints, resume,
early stopping, NaN handling, TensorBoard, plots, ``tf.distribute`` strategies.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
import tomllib
import typing
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import keras
import tensorflow as tf

from recipes.core import distributed
from recipes.core.config import (
    DISTRIBUTION,
    RESUMABLE,
    TrainConfig,
    default_run_dir,
)
from recipes.core.data import TFDS_PREFIX, Splits
from recipes.core.errors import UserError
from recipes.core.training import (
    LAST_CHECKPOINT,
    MODEL_FILE_ERRORS,
    STATE,
    CosineBudget,
    Progress,
    RunState,
    TimeLimit,
    load_model_file,
    load_state,
    output_folder,
    package_version,
    plot_history,
    refuse_file_in_the_way,
    save_model_atomically,
    write_json,
    write_text_atomically,
)

DISTRIBUTIONS = typing.get_args(DISTRIBUTION)
#: the file that marks a folder as a run of this package (it names the recipe)
RUN_FILE = "run.json"
#: in an export: the recipe that made it and the rnn-apps version
EXPORT_INFO = "assets.extra/rnn_apps.json"
#: the same in an ONNX or TFLite export, and its format
PORTABLE_INFO = "rnn_apps.json"
#: what ``export`` writes: a SavedModel, or an ONNX or TFLite model with its NumPy
#: pre- and post-processing (``inference.py``)
EXPORT_FORMATS = ("saved_model", "onnx", "tflite")
#: post-training quantizations of a TFLite export (``export(..., quantize=...)``)
QUANTIZATIONS = ("float16", "int8")


#: a named source rather than a path: ``tfds:NAME``, the forecaster's ``statsmodels:NAME``
NAMED_SOURCE = re.compile(r"[a-z][a-z0-9_]+:")


def local_source(data: str) -> str:
    """A data source as stored in a run's config: a local path resolved (absolute), so
    that the run finds its data from any working folder; a named source (``tfds:NAME``,
    ``statsmodels:NAME``) as given."""
    data = str(data)
    if data.startswith(TFDS_PREFIX) or (NAMED_SOURCE.match(data) and not Path(data).exists()):
        return data
    return str(Path(data).expanduser().resolve())


def check_new_run_dir(run_dir: Path) -> None:
    """Refuses a run folder that a new run must not write into: a file, a folder with a
    trained run (continue it with --resume), or a folder of files that are not a run of
    this package (the user's own files are never overwritten)."""
    refuse_file_in_the_way(run_dir, "--out")
    if (run_dir / "model.keras").exists() or (run_dir / "state.json").exists():
        raise UserError(
            f"{run_dir} already holds a run; continue it with --resume or choose another --out."
        )
    if run_dir.is_dir() and any(run_dir.iterdir()) and not (run_dir / RUN_FILE).is_file():
        raise UserError(
            f"--out {run_dir} is a folder of other files (not an rnn-apps run); "
            "choose a new or empty folder."
        )


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy for the ``distribution`` setting.

    ``auto``: mirrored over the GPUs when there are several, else the default
    strategy; ``none``: the default strategy; ``mirrored``: all local devices (GPUs, or
    the logical CPUs when there is no GPU); ``multi_worker``: several machines, as
    described by the ``TF_CONFIG`` environment variable.
    """
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi_worker":
        return distributed.multi_worker_strategy()
    raise UserError(f"Unknown distribution {name!r}; expected one of {list(DISTRIBUTIONS)}.")


def _other_worker(config: TrainConfig, settings: dict[str, Any] | None) -> distributed.Task | None:
    """This process's task when it is a worker other than the chief of a multi-worker
    run (``distribution = "multi_worker"``, asked for by the config or the settings)."""
    asked = "multi_worker" in (config.distribution, (settings or {}).get("distribution"))
    task = distributed.task_from_env() if asked else None
    return task if task is not None and not task.is_chief else None


def _with_data(config: TrainConfig, data: str | None) -> TrainConfig:
    """``config`` on ``data`` (None: its own), a local path stored resolved."""
    if data is not None:
        config = config.replace(data=str(data))
    if config.data is not None:
        config = config.replace(data=local_source(config.data))
    return config


def _interrupted(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a run that stopped before its end: a checkpoint, and
    no final metrics."""
    return (
        (run_dir / STATE).is_file()
        and (run_dir / LAST_CHECKPOINT).is_file()
        and not (run_dir / "metrics.json").exists()
    )


def string_lookup(vocabulary: list[str], **options: Any) -> keras.layers.StringLookup:
    """A ``StringLookup`` over a fixed vocabulary, built, so that a run loaded from its
    folder exports like a freshly trained one (Keras's export refuses unbuilt layers)."""
    lookup = keras.layers.StringLookup(vocabulary=vocabulary, **options)
    lookup.build(None)  # as Keras's own build_from_config does: the table needs no shape
    return lookup


class Recipe:
    """Base of the applications. Subclasses set the class attributes and the hooks.

    Life cycle::

        app = Sentiment(units=64)               # or Sentiment.from_config(toml_dict)
        app.fit(data=None, epochs=10)           # None: the recipe's embedded default data
        app.evaluate(split="test")              # -> dict of metrics
        app.predict(["what a film"])            # the task verb
        app.save("runs/sentiment")              # Sentiment.load("runs/sentiment")
        app.export("exported/sentiment")        # SavedModel taking raw inputs
    """

    name: ClassVar[str]
    config_class: ClassVar[type[TrainConfig]]
    #: (from the config class, which the command line reads without TensorFlow)
    description: ClassVar[str]
    default_data: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        cls.description = cls.config_class.description
        cls.default_data = cls.config_class.default_data

    #: metric that early stopping and model selection follow by default, and its direction
    monitor: ClassVar[tuple[str, str]] = ("val_loss", "min")

    def monitored(self) -> tuple[str, str]:
        """The metric that early stopping and model selection follow, and its direction."""
        name = getattr(self.config, "monitor", None) or self.monitor[0]
        return name, "min" if name.endswith("loss") else "max"

    def __init__(self, config: TrainConfig | None = None, **overrides: Any):
        config = config if config is not None else self.config_class()
        self.config = config.replace(**overrides) if overrides else config
        self.model: keras.Model | None = None
        self.run_dir: Path | None = None
        self._splits: tuple[str | None, Splits] | None = None  # (source, its splits)
        self._functions: tuple[keras.Model | None, dict] = (None, {})  # see _compiled
        self.resumed_seconds = 0.0  # set by fit: training time of a resumed run's earlier calls
        self.initial_epoch = 0  # set by fit: the epochs a resumed run had done (0: a new run)
        self.verbose: int | str = "auto"  # set by fit: its progress setting (0: quiet)
        self._phase: Progress | None = None  # the long phase in progress (see progress)

    @classmethod
    def from_config(cls, values: dict[str, Any]) -> Recipe:
        """A recipe from a dict (e.g. a parsed TOML file); unknown keys are errors."""
        return cls(cls.config_class.from_dict(values))

    # -- hooks ---------------------------------------------------------------------
    def load_splits(self, data: str | None) -> Splits:
        """Reads ``data`` (or the default) into train/validation/test examples."""
        raise NotImplementedError

    def prepare(self, splits: Splits) -> None:
        """Learns what the model needs from the training data (vocabularies, labels)."""
        raise NotImplementedError

    def build_model(self) -> keras.Model:
        """The numeric model (no string ops, so that XLA can compile it), compiled."""
        raise NotImplementedError

    def to_dataset(self, examples, training: bool) -> tf.data.Dataset:
        """Examples as batches of model inputs and targets."""
        raise NotImplementedError

    def save_assets(self, run_dir: Path) -> None:
        """Writes vocabularies and other preprocessing state."""
        raise NotImplementedError

    def load_assets(self, run_dir: Path) -> None:
        raise NotImplementedError

    def metrics(self, examples) -> dict[str, float]:
        """The recipe's headline metrics on some examples."""
        raise NotImplementedError

    def serving_resources(self) -> list:
        """Keras layers and models the serving function uses (their state is exported)."""
        raise NotImplementedError

    def serving_function(self):
        """The exported function: raw inputs in, readable outputs out (a dict)."""
        raise NotImplementedError

    def serving_signature(self) -> list[tf.TensorSpec]:
        """The input signature of :meth:`serving_function`."""
        raise NotImplementedError

    def serving_endpoints(self) -> list[str]:
        """Names under which the SavedModel offers :meth:`serving_function`."""
        return ["serving_default"]

    def predict(self, inputs: list[str], **options: Any) -> list[dict]:
        """The task verb on raw inputs: one JSON-ready dict per result.

        ``options`` are the task's own settings (e.g. sampling for the generators);
        ``rnn-apps predict`` passes the ones given on its command line.
        """
        raise NotImplementedError

    @property
    def task_verb(self) -> str:
        """The name of the task verb, an alias of ``rnn-apps predict`` for this recipe's
        runs (declared by the config class: the command line reads it without TensorFlow)."""
        return self.config_class.task_verb

    def predict_options(self) -> tuple[str, ...]:
        """The names of the options :meth:`predict` takes (the config's ``task_options``)."""
        return tuple(option.name for option in self.config_class.task_options)

    def finish_training(self, splits: Splits) -> dict[str, Any]:
        """After training, on the best epoch's model: settings chosen on the validation
        split (the tagger's entity bias). What it returns goes into ``metrics.json``; when
        it returns anything, the model is saved again."""
        return {}

    def training_callbacks(self, splits: Splits) -> list[keras.callbacks.Callback]:
        """Callbacks of the recipe's own (e.g. a validation metric computed per epoch)."""
        return []

    def planned_epochs(self) -> int:
        """Epochs that ``fit`` runs when not told: ``config.epochs``."""
        return self.config.epochs

    def jit_compile(self) -> bool:
        """``config.jit_compile``, except for replicas on logical CPU devices.

        XLA on a CPU compiles for one device, so a mirrored strategy over several
        logical CPUs trains without it (on GPUs each replica compiles on its own).
        """
        strategy = tf.distribute.get_strategy()
        if strategy.num_replicas_in_sync > 1 and not tf.config.list_logical_devices("GPU"):
            return False
        return bool(self.config.jit_compile)

    def optimizer(self) -> keras.optimizers.Optimizer:
        """Adam at ``learning_rate``, its updates clipped to a global gradient norm of
        ``clipnorm`` (0: not clipped). Under ``schedule = "cosine"`` the rate is then set
        step by step (:class:`CosineBudget`)."""
        c = self.config
        return keras.optimizers.Adam(c.learning_rate, global_clipnorm=c.clipnorm or None)

    def steps_per_epoch(self, splits: Splits, dataset: tf.data.Dataset) -> int:
        """Training steps per epoch, for the cosine schedule: the training dataset's
        number of batches or, when the dataset does not know it, the training examples
        over ``batch_size``."""
        steps = int(dataset.cardinality())
        if steps < 0:
            steps = -(-len(splits.train) // self.config.batch_size)
        return max(1, steps)

    # -- progress ---------------------------------------------------------------------
    @contextlib.contextmanager
    def progress(self, what: str) -> Iterator[Progress]:
        """A long phase, said on stderr (:class:`~recipes.core.training.Progress`) at the
        recipe's verbosity (``fit(verbose=0)``: nothing); loops inside count their items
        with :meth:`counted`."""
        outer = self._phase
        with Progress(what, self.verbose) as phase:
            self._phase = phase
            try:
                yield phase
            finally:
                self._phase = outer

    def counted(self, items: Iterable, unit: str, total: int | None = None) -> Iterable:
        """``items``, counted by the phase in progress (``n/total unit``); as they are
        outside one (the task verb on a few inputs says nothing)."""
        phase = getattr(self, "_phase", None)
        return items if phase is None else phase.count(items, unit, total)

    def counting_callbacks(self, total: int, unit: str = "batches") -> list:
        """For ``model.predict(..., callbacks=...)``: its ``total`` batches counted by the
        phase in progress (none outside one)."""
        phase = getattr(self, "_phase", None)
        return [] if phase is None else [phase.callback(total, unit)]

    def measured(self, examples, what: str) -> dict[str, Any]:
        """:meth:`metrics` on ``examples``, said as the phase ``computing {what}``."""
        with self.progress(f"computing {what}"):
            return self.metrics(examples)

    # -- life cycle -------------------------------------------------------------------
    def splits(self) -> Splits:
        """The splits of ``config.data``, read once per source."""
        source = self.config.data
        if self._splits is None or self._splits[0] != source:
            self._splits = (source, self.load_splits(source))
        return self._splits[1]

    def default_run_dir(self) -> Path:
        return default_run_dir(self.name)

    def fit(
        self,
        data: str | None = None,
        epochs: int | None = None,
        run_dir: str | Path | None = None,
        resume: bool = False,
        verbose: int | str = "auto",
        settings: dict[str, Any] | None = None,
    ) -> dict[str, float]:
        """Trains, checkpointing every epoch into the run folder.

        Args:
            data: a local path or ``tfds:NAME`` (``None``: ``config.data``, else the
                embedded default). A local path is stored resolved (absolute), so the
                run can be evaluated or resumed from any folder, and moved.
            epochs: total number of epochs (``None``: ``config.epochs``).
            run_dir: the run folder (``None``: ``runs/<recipe>-<time>``). A new run
                needs a new or empty folder, or a run folder of this package that holds
                no trained model yet: a folder of other files is refused, never written.
            resume: continue the run in ``run_dir`` from its last complete epoch, with
                the run's own configuration.
            verbose: Keras's progress bar setting.
            settings: with ``resume``, settings to change for the rest of the run; only
                :data:`RESUMABLE` ones may change (the others built the model).

        Returns:
            The final train and validation metrics (also in ``metrics.json``).
        """
        self.verbose = verbose
        # another worker of a multi-worker run: it reads no run folder, writes its own
        # into a temporary folder, and takes the chief's settings and start
        worker = _other_worker(self.config, settings)
        if worker is not None:
            self.verbose = verbose = 0  # the chief says what the cluster does
        error: BaseException | None = None
        state, changed = None, {}
        scratch: Path | None = None
        try:
            if worker is None:
                run_dir, state, changed, epochs, resume = self._resolve_run(
                    data, epochs, run_dir, resume, settings
                )
            else:
                scratch = Path(tempfile.mkdtemp(prefix="rnn-apps-worker-"))
                run_dir = scratch  # (its settings, data among them, are the chief's)
        except Exception as err:  # noqa: BLE001 (a multi-worker run first tells the others)
            if self.config.distribution != "multi_worker" and worker is None:
                raise
            error = err
        cluster = None
        if self.config.distribution == "multi_worker" or worker is not None:
            task = worker or distributed.task_from_env()
            cluster = distributed.Cluster(distributed.multi_worker_strategy(), task)
        try:
            return self._fit(cluster, error, run_dir, state, changed, epochs, resume)
        except distributed.PEER_ERRORS as err:
            if cluster is None:
                raise
            raise distributed.PeerLost(cluster.task, err) from None
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)

    def _resolve_run(
        self,
        data: str | None,
        epochs: int | None,
        run_dir: str | Path | None,
        resume: bool,
        settings: dict[str, Any] | None,
    ) -> tuple[Path, dict | None, dict[str, tuple[Any, Any]], int, bool]:
        """The run folder, its state (when continued), the settings that change, the
        epochs and whether the run continues, after the checks of :meth:`fit`. A
        multi-worker run that was interrupted continues when started again with the same
        command (a cluster restarts its workers so), as with ``resume``."""
        multi_worker = self.config.distribution == "multi_worker"
        if run_dir is None and multi_worker:
            raise UserError(
                "distribution = multi_worker needs --out RUN_DIR: a restarted cluster "
                "continues the run in it."
            )
        run_dir = Path(run_dir) if run_dir is not None else self.default_run_dir()
        state = None
        changed: dict[str, tuple[Any, Any]] = {}
        if multi_worker and not resume and _interrupted(run_dir):
            given = _with_data(self.config, data)
            stored = self.config_class.from_run_folder(run_dir)
            settings = {
                key: value
                for key, value in given.to_dict().items()
                if value != getattr(stored, key)
            }
            data, resume = None, True
            print(
                f"continuing the interrupted run in {run_dir} from its last complete epoch",
                file=sys.stderr,
                flush=True,
            )
        if resume:
            state = load_state(run_dir)
            if state is None or not (run_dir / LAST_CHECKPOINT).exists():
                raise UserError(
                    f"{run_dir} holds no checkpoint to resume from; "
                    "start a new run without --resume."
                )
            self.config = self.config_class.from_run_folder(run_dir)
            self.config, changed = self._resumed_config(run_dir, settings or {})
            if data is not None and local_source(data) != self.config.data:
                raise UserError(
                    f"--resume continues {run_dir} on its own data ({self.config.data}); "
                    f"leave out --data {data}."
                )
            target = self.planned_epochs() if epochs is None else epochs
            if state["epochs_done"] >= target:
                raise UserError(
                    f"{run_dir} has already trained {state['epochs_done']} epochs; "
                    "ask for more with --epochs."
                )
        else:
            if settings:
                self.config = self.config.replace(**settings)
            check_new_run_dir(run_dir)
            self.config = _with_data(self.config, data)
        epochs = self.planned_epochs() if epochs is None else epochs
        if epochs < 1:
            raise UserError(f"Expected a positive number of epochs, got {epochs}.")
        return run_dir, state, changed, epochs, resume

    def _fit(
        self,
        cluster: distributed.Cluster | None,
        error: BaseException | None,
        run_dir: Path,
        state: dict | None,
        changed: dict[str, tuple[Any, Any]],
        epochs: int,
        resume: bool,
    ) -> dict[str, Any]:
        """:meth:`fit` once the run is resolved: alone (``cluster`` None) or as one worker
        of a cluster (see :mod:`recipes.core.distributed`), which first agrees on the
        chief's settings and start."""
        verbose = self.verbose
        initial = int(state["epochs_done"]) if state else 0
        spent = float(state.get("train_seconds", 0.0)) if state else 0.0
        if cluster is not None:
            cluster.check(error, "reading its settings and run folder")
            self.config = self.config_class.from_dict(
                tomllib.loads(cluster.chief_text(self.config.to_toml()))
            )
            epochs, initial, spent, resume = cluster.chief_values(
                [epochs, initial, spent, float(resume)]
            )
            epochs, initial, resume = int(epochs), int(initial), bool(resume)
        self.run_dir = run_dir
        chief = cluster is None or cluster.is_chief

        def read_data() -> Splits:
            splits = self.splits()
            if resume and chief:
                self.load_assets(run_dir)
            else:
                self.prepare(splits)  # (another worker: the chief's vocabularies, rebuilt)
            if chief:  # made once the data is read and prepared: a bad source leaves no folder
                output_folder(run_dir, "--out")
                if not resume:
                    self._write_run_files(run_dir)
            return splits

        if cluster is None:
            splits = read_data()
            strategy = make_strategy(self.config.distribution)
            with strategy.scope():
                if resume:
                    self.model = load_model_file(
                        run_dir / LAST_CHECKPOINT,
                        "the run cannot be resumed; start a new run with another --out.",
                    )
                else:
                    self.model = self.build_model()
            if "learning_rate" in changed:
                self._set_learning_rate(self.config.learning_rate)
        else:
            splits = cluster.together("reading the data", read_data)
            self.model = cluster.together("building the model", self._cluster_model)
            cluster.together(  # (a damaged checkpoint stops every worker)
                "loading the last checkpoint",
                lambda: self._load_checkpoint(changed) if resume and chief else None,
            )
            cluster.sync([*self.model.variables, *self.model.optimizer.variables])
        if resume and changed and chief:
            write_text_atomically(run_dir / "config.toml", self.config.to_toml())
        if verbose:
            print(f"run folder: {run_dir}", file=sys.stderr, flush=True)
        for key, (old, new) in changed.items():  # said even when quiet: the run changes
            print(f"resume: {key} = {new!r} (was {old!r})", file=sys.stderr, flush=True)

        monitor, mode = self.monitored()
        #: training seconds of earlier calls of a resumed run (time budgets count them)
        self.resumed_seconds, self.initial_epoch = spent, initial
        # (another worker starts with no state: what it decides is the chief's)
        run_state = RunState(run_dir, monitor, mode, self.config.patience, state)
        c = self.config
        train = self.to_dataset(splits.train, training=True)
        validation = self.to_dataset(splits.validation, training=False)
        if cluster is not None:
            train, validation = distributed.sharded(train), distributed.sharded(validation)
        schedule = []
        if c.schedule == "cosine":
            steps = self.steps_per_epoch(splits, train)
            schedule.append(
                CosineBudget(
                    c.learning_rate,
                    steps,
                    alpha=c.schedule_floor,
                    minutes=c.max_minutes,
                    spent=self.resumed_seconds,
                    agree=None if cluster is None else cluster.chief_seconds,
                )
            )
        callbacks = [
            *self.training_callbacks(splits),  # first: they may add metrics to the logs
            *schedule,
            run_state,
            keras.callbacks.TensorBoard(str(run_dir / "logs")),
        ]
        if c.max_minutes:
            callbacks.append(
                TimeLimit(c.max_minutes, verbose=bool(verbose), spent=self.resumed_seconds)
            )
        if cluster is not None:
            callbacks.append(distributed.ChiefDecides(cluster))  # last: it decides once
        self.model.fit(
            train,
            validation_data=validation,
            epochs=epochs,
            initial_epoch=self.initial_epoch,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,  # the training dataset shuffles itself, seeded
        )
        if run_state.diverged:
            epoch, batch = run_state.diverged
            kept = (
                f"the last good checkpoint (epoch {run_state.state['epochs_done']}) is kept in "
                f"{run_dir / LAST_CHECKPOINT}"
                if run_state.state["epochs_done"]
                else "no epoch completed, so no checkpoint was written"
            )
            raise UserError(
                f"Training diverged: the loss became NaN in epoch {epoch}"
                f"{f', batch {batch}' if batch else ''}; {kept}. Lower the learning rate "
                f"(--set learning_rate=...) and run again."
            )
        if cluster is None:
            return self._finish(splits, run_dir, run_state)
        # the chief finishes (its decisions made once: calibration, final metrics) while
        # the others wait, so that the cluster ends together
        metrics = cluster.together(
            "finishing the run",
            lambda: self._finish(splits, run_dir, run_state) if chief else {},
        )
        if chief:
            return metrics
        return {"worker": cluster.task.rank, "epochs_done": run_state.state["epochs_done"]}

    def _cluster_model(self) -> keras.Model:
        """The model built alike on every worker, its optimizer and metrics too (so that
        a checkpoint's state can be loaded into it and synchronized). Its one batch comes
        from a dataset of its own: the training one may count its iterations (the
        trigger word composes epoch k's examples from seed and k)."""
        with distributed.multi_worker_strategy().scope():
            model = self.build_model()
            batch = next(iter(self.to_dataset(self.splits().train, training=True)))
            model._symbolic_build(data_batch=batch)
        return model

    def _load_checkpoint(self, changed: dict[str, tuple[Any, Any]]) -> None:
        """Loads the weights and optimizer state of the run's last complete epoch into
        the chief's model, and gives it its changed learning rate."""
        path = self.run_dir / LAST_CHECKPOINT
        try:
            self.model.load_weights(path)
        except MODEL_FILE_ERRORS as err:
            raise UserError(
                f"{path} is damaged or not a checkpoint of this run ({type(err).__name__}); "
                "the run cannot be continued: start a new run with another --out."
            ) from None
        if "learning_rate" in changed:
            self._set_learning_rate(self.config.learning_rate)

    def _finish(self, splits: Splits, run_dir: Path, run_state: RunState) -> dict[str, Any]:
        """After training: the best epoch's model, the settings chosen on validation, the
        final metrics (``metrics.json``) and the training curves."""
        # the best epoch's model, as saved by RunState
        self.model = load_model_file(run_dir / "model.keras", "train the run again.")
        chosen = self.finish_training(splits)
        if chosen:
            save_model_atomically(self.model, run_dir / "model.keras")
        on_train = self.measured(splits.train, "the train metrics")
        on_validation = self.measured(splits.validation, "the validation metrics")
        metrics = {
            **chosen,
            **{f"train_{k}": v for k, v in on_train.items()},
            **{f"val_{k}": v for k, v in on_validation.items()},
            "best_epoch": run_state.state["best_epoch"],
            "epochs_done": run_state.state["epochs_done"],
        }
        write_json(run_dir / "metrics.json", metrics)
        plot_history(
            run_state.state["history"], run_dir / "training.png", f"{self.name}: {run_dir.name}"
        )
        return metrics

    def evaluate(self, data: str | None = None, split: str | None = None) -> dict[str, float]:
        """Metrics on a split of the training data source, or on all of ``data``.

        ``split`` None: the test split, or the validation split when the source has no
        test split.
        """
        self._require_model()
        if data is not None:
            return self.measured(self.load_examples(data), f"the metrics on {data}")
        splits = self.splits()
        if split is None:
            split = "test" if len(splits.test) else "validation"
        if split not in ("train", "validation", "test"):
            raise UserError(f"Unknown split {split!r}; expected train, validation or test.")
        examples = getattr(splits, split)
        if len(examples) == 0:
            raise UserError(
                f"The {split} split of {self.config.data or self.default_data} is empty."
            )
        return self.measured(examples, f"the {split} metrics")

    def load_examples(self, data: str):
        """All examples of a source (for evaluation on other data)."""
        raise NotImplementedError

    def save(self, run_dir: str | Path) -> Path:
        """Writes config, model and assets; :meth:`load` restores them."""
        self._require_model()
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        self._write_run_files(run_dir)
        save_model_atomically(self.model, run_dir / "model.keras")
        self.run_dir = run_dir
        return run_dir

    @classmethod
    def load(cls, run_dir: str | Path) -> Recipe:
        """Restores a recipe from its run folder, with identical predictions."""
        run_dir = Path(run_dir)
        if not (run_dir / "model.keras").exists():
            raise UserError(
                f"{run_dir} holds no trained model (model.keras); train one with rnn-apps fit."
            )
        recipe = cls(cls.config_class.from_run_folder(run_dir))
        recipe.load_assets(run_dir)
        recipe.model = load_model_file(
            run_dir / "model.keras",
            f"train the run again, or copy {run_dir / LAST_CHECKPOINT} (the last epoch's "
            "model) over it.",
        )
        recipe.run_dir = run_dir
        return recipe

    def export(
        self, export_dir: str | Path, format: str = "saved_model", quantize: str | None = None
    ) -> Path:
        """A SavedModel whose ``serving_default`` signature takes raw inputs, or with
        ``format="onnx"`` an ONNX model and the NumPy module that feeds it raw inputs
        (:meth:`write_onnx`; the ``onnx`` extra), or with ``format="tflite"`` the same
        for TFLite (:meth:`write_tflite`; ``quantize``: one of :data:`QUANTIZATIONS`,
        post-training, where the recipe offers it).

        ``export_dir`` must be new or empty. The export is written into a temporary
        folder beside it and renamed into place when complete, so a failed or killed
        export leaves nothing half-written.
        """
        if format not in EXPORT_FORMATS:
            known = ", ".join(EXPORT_FORMATS)
            raise UserError(f"Unknown export format {format!r}; one of {known}.")
        if quantize is not None and format != "tflite":
            raise UserError(f"--quantize {quantize} applies to --format tflite only.")
        if quantize is not None and quantize not in QUANTIZATIONS:
            known = ", ".join(QUANTIZATIONS)
            raise UserError(f"Unknown quantization {quantize!r}; one of {known}.")
        if quantize is not None and quantize not in self.tflite_quantizations:
            offered = ", ".join(self.tflite_quantizations) or "none"
            raise UserError(
                f"{self.name}: --quantize {quantize} is not offered for its TFLite export "
                f"(offered: {offered}); export without --quantize, or with one of those."
            )
        self._require_model()
        export_dir = Path(export_dir)
        if export_dir.exists() and not export_dir.is_dir():
            raise UserError(f"--out {export_dir} is a file; choose a new folder for the export.")
        if export_dir.is_dir() and any(export_dir.iterdir()):
            raise UserError(f"{export_dir} exists and is not empty; choose another --out.")
        parent = output_folder(export_dir.parent, "--out", given=export_dir)
        staging = Path(tempfile.mkdtemp(prefix=f".{export_dir.name}.", dir=parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # as a folder made by mkdir (mkdtemp's is private)
        try:
            info = {"recipe": self.name, "version": package_version()}
            if format == "onnx":
                self.write_onnx(staging)
                write_json(staging / PORTABLE_INFO, {**info, "format": "onnx"})
            elif format == "tflite":
                self.write_tflite(staging, quantize)
                write_json(
                    staging / PORTABLE_INFO, {**info, "format": "tflite", "quantize": quantize}
                )
            else:
                self.write_export(staging)
                # what made the export, for servers and tools (TF Serving ignores assets.extra)
                (staging / EXPORT_INFO).parent.mkdir(exist_ok=True)
                write_json(staging / EXPORT_INFO, info)
            os.replace(staging, export_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return export_dir

    def export_endpoints(self) -> dict[str, tuple[Any, list[tf.TensorSpec]]]:
        """The SavedModel's signatures: name -> (function, input signature). By default
        :meth:`serving_function` under each of :meth:`serving_endpoints`."""
        return {
            name: (self.serving_function(), self.serving_signature())
            for name in self.serving_endpoints()
        }

    def write_export(self, export_dir: Path) -> None:
        """Writes the SavedModel (and any files beside it) into the new ``export_dir``."""
        archive = keras.export.ExportArchive()
        for resource in self.serving_resources():
            archive.track(resource)
        with self.progress("tracing the serving signatures"):
            endpoints = self.export_endpoints()
            for name, (function, signature) in self.counted(endpoints.items(), "signatures"):
                traced = archive.add_endpoint(name, function, signature)
                # traced now (one at a time, counted); the SavedModel reuses the trace
                traced.get_concrete_function()
        with self.progress("writing the SavedModel"):
            archive.write_out(str(export_dir), verbose=False)

    def write_onnx(self, export_dir: Path) -> None:
        """Writes the ONNX export into the new ``export_dir``: ``model.onnx``,
        ``preprocessing.json`` and ``inference.py`` (:mod:`recipes.core.onnx`)."""
        raise UserError(
            f"{self.name} has no ONNX export in this version; export a SavedModel "
            "(--format saved_model), which TensorFlow, TF Serving and rnn-apps serve run."
        )

    #: the ``quantize`` values :meth:`write_tflite` takes (see :data:`QUANTIZATIONS`)
    tflite_quantizations: tuple[str, ...] = ("float16",)

    def write_tflite(self, export_dir: Path, quantize: str | None = None) -> None:
        """Writes the TFLite export into the new ``export_dir``: the ``.tflite`` model(s),
        ``preprocessing.json`` and ``inference.py``; ``quantize``: None (float32) or one
        of :data:`QUANTIZATIONS`."""
        raise UserError(
            f"{self.name} has no TFLite export in this version; export a SavedModel "
            "(--format saved_model) or an ONNX model (--format onnx)."
        )

    def _write_run_files(self, run_dir: Path) -> None:
        """Config, ``run.json`` and the recipe's assets, each file written atomically: the
        recipe writes its assets into a temporary folder, then each is renamed into place."""
        write_text_atomically(run_dir / "config.toml", self.config.to_toml())
        write_json(run_dir / RUN_FILE, {"recipe": self.name, "version": package_version()})
        staging = Path(tempfile.mkdtemp(prefix=".assets-", dir=run_dir))
        try:
            self.save_assets(staging)
            for path in staging.iterdir():
                os.replace(path, run_dir / path.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _resumed_config(
        self, run_dir: Path, settings: dict[str, Any]
    ) -> tuple[TrainConfig, dict[str, tuple[Any, Any]]]:
        """The run's config with ``settings`` applied, and what changed (old, new).

        Settings outside :data:`RESUMABLE` built the model or its data, so changing them
        is refused (a setting given with the value the run already has is fine)."""
        new = self.config.replace(**settings)
        changed = {
            k: (getattr(self.config, k), getattr(new, k))
            for k in settings
            if getattr(new, k) != getattr(self.config, k)
        }
        for key in changed:
            if key not in RESUMABLE:
                can = ", ".join(k for k in RESUMABLE if k in self.config_class.keys())
                raise UserError(
                    f"Config key '{key}' cannot change when resuming {run_dir} (it was "
                    f"{changed[key][0]!r} when the model was built); only {can} can, or start "
                    "a new run."
                )
        return new, changed

    def _set_learning_rate(self, rate: float) -> None:
        """Gives the resumed model's optimizer the rate of ``learning_rate``."""
        optimizer = self.model.optimizer
        if isinstance(optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            raise UserError(
                f"The {self.name} recipe's learning rate follows a schedule saved with the "
                "model; it cannot change when resuming. Start a new run to change it."
            )
        optimizer.learning_rate = rate

    def _compiled(self, name: str, make):
        """``make()``, built once per model (a new model gets new functions).

        For the compiled functions of inference (generation, decoding, scoring): they
        close over the model's layers, so a loaded or retrained model needs new ones.
        """
        self._require_model()
        cache = self._functions if self._functions[0] is self.model else (self.model, {})
        self._functions = cache
        if name not in cache[1]:
            cache[1][name] = make()
        return cache[1][name]

    def _require_model(self) -> None:
        if self.model is None:
            raise UserError(
                f"The {self.name} recipe has no model yet: fit it or load a run folder first."
            )
