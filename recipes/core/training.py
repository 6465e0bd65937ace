"""Training machinery shared by the recipes: run folders, checkpoints, resume, plots.

A run folder holds::

    config.toml        the recipe's configuration
    model.keras        the trained model (best validation epoch)
    checkpoints/       last.keras (model + optimizer after the last complete epoch)
    state.json         epochs done, early-stopping state, history (for --resume)
    logs/              TensorBoard
    training.png       training curves
    metrics.json       final train/validation metrics

Long phases outside Keras's own progress bars (speech synthesis, calibration, the final
metrics, evaluation, export) say what they do on stderr with :class:`Progress`.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import math
import os
import sys
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np

from recipes.core.errors import UserError

STATE = "state.json"
LAST_CHECKPOINT = "checkpoints/last.keras"
#: a log entry that grows every epoch: monitored, it keeps the last epoch (see EpochCounter)
EPOCHS_TRAINED = "epochs_trained"


def package_version() -> str:
    """The installed rnn-apps version (recorded in run folders)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rnn-apps")
    except PackageNotFoundError:
        return "unknown"


@functools.cache
def _libc():
    try:
        return ctypes.CDLL(None)  # the process's C library, the one native code writes with
    except (OSError, TypeError):  # (TypeError: a platform without dlopen(NULL))
        return None


def _flush_c_streams() -> None:
    libc = _libc()
    if libc is not None:
        libc.fflush(None)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Everything written to stdout while active, by Python (``sys.stdout``: Keras's
    progress bars) or by native code (file descriptor 1: a library's ``printf``), goes to
    stderr, so that a process's stdout holds only its results (``rnn-apps fit`` prints
    one JSON object there). C's buffers are flushed on both sides, so nothing written
    inside comes out after; without a stdout or a stderr the descriptors are left as
    they are."""
    with contextlib.suppress(AttributeError, ValueError, OSError):
        sys.stdout.flush()  # Python's pending output goes where it was meant to
    _flush_c_streams()
    saved: int | None = None
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:
        if saved is not None:
            os.close(saved)
            saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        with contextlib.suppress(AttributeError, ValueError, OSError):
            sys.stderr.flush()
        if saved is not None:
            _flush_c_streams()
            os.dup2(saved, 1)
            os.close(saved)


#: seconds between the count lines of a phase when stderr is not a terminal (a log file)
LOG_INTERVAL = 30.0
#: seconds between redraws of a phase's count on a terminal
REDRAW_INTERVAL = 0.1
#: the phase whose line is on the terminal, unfinished (redrawn in place); see Progress
_unfinished: list[Progress | None] = [None]


def _duration(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3 min 05 s``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Progress:
    """A long phase, said on stderr so that a user never waits on a silent terminal.

    Used as a context manager around the phase; loops inside it count their items with
    :meth:`count` (a Keras ``predict`` with :meth:`callback`)::

        with Progress("calibrating the threshold", verbose) as phase:
            for batch in phase.count(batches, "batches"):
                ...

    On a terminal the phase is one line, its count redrawn in place until it ends::

        rnn-apps: calibrating the threshold ... 12/40 batches
        rnn-apps: calibrating the threshold ... 40/40 batches, 95/95 thresholds, done in 3.4 s

    Elsewhere (a log file, a pipe, ``verbose=2``) it is a line when it starts, a line
    with the count every :data:`LOG_INTERVAL` seconds, and the line of its end. A phase
    without a loop (one opaque call) says when it starts and when it is done, with the
    seconds. ``verbose`` is Keras's setting, the recipe's (``fit(verbose=0)``, the
    command line's ``--quiet``: nothing is said). Everything goes to ``sys.stderr``, never
    to stdout (results are written there). A phase ended by an exception says nothing
    more (its error does).
    """

    def __init__(self, what: str, verbose: int | str | bool = "auto"):
        self.what = what
        self.shown = bool(verbose)
        self.verbose = verbose
        self.done, self.total, self.unit = 0, 0, ""
        self._counting = False  # whether a loop is counted (see begin)
        self._counts: list[str] = []  # the counts of the phase's earlier loops
        self._started = self._said = 0.0
        self._dynamic = False

    # -- the phase -------------------------------------------------------------------
    def __enter__(self) -> Progress:
        self._started = self._said = time.monotonic()
        if self.shown:
            self._dynamic = self.verbose != 2 and _is_terminal(sys.stderr)
            self._write(self._text(), finished=not self._dynamic)
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        if self.shown:
            if kind is None:
                counts = [*self._counts, self._count()] if self._counting else []
                done = f"done in {_duration(time.monotonic() - self._started)}"
                self._write(self._text(", ".join([*counts, done])))
            elif _unfinished[0] is not None:  # the error starts a line of its own
                self._emit("\n")
                _unfinished[0] = None
        return False

    # -- counting --------------------------------------------------------------------------
    def count(self, items: Iterable, unit: str, total: int | None = None) -> Iterator:
        """``items``, counted as ``n/total unit`` (``total``: ``len(items)`` by default)."""
        items = list(items) if total is None and not hasattr(items, "__len__") else items
        self.begin(len(items) if total is None else total, unit)
        for item in items:
            yield item
            self.advance()

    def begin(self, total: int, unit: str) -> None:
        """Starts a count of ``total`` ``unit`` (a phase's next loop starts its own; the
        done line gives them all)."""
        if self._counting:
            self._counts.append(self._count())
        self.done, self.total, self.unit, self._counting = 0, int(total), unit, True
        if self.shown and self._dynamic:
            self._write(self._text(self._count()), finished=False)

    def advance(self, steps: int = 1) -> None:
        """``steps`` more items of the count done."""
        self.done += steps
        if not self.shown:
            return
        now = time.monotonic()
        if self._dynamic and (now - self._said >= REDRAW_INTERVAL or self.done == self.total):
            self._write(self._text(self._count()), finished=False)
        elif not self._dynamic and now - self._said >= LOG_INTERVAL:
            elapsed = _duration(now - self._started)
            self._write(self._text(f"{self._count()} ({elapsed})"))

    def callback(self, total: int, unit: str = "batches") -> keras.callbacks.Callback:
        """A Keras callback that counts the batches of a ``model.predict`` here."""
        return _PredictCount(self, total, unit)

    # -- writing ------------------------------------------------------------------------
    def _count(self) -> str:
        return f"{self.done}/{self.total} {self.unit}".rstrip()

    def _text(self, status: str = "") -> str:
        return f"rnn-apps: {self.what} ...{' ' + status if status else ''}"

    def _write(self, text: str, finished: bool = True) -> None:
        """``text`` as the phase's line: redrawn in place on a terminal while unfinished,
        else a line of its own (after ending another phase's unfinished line)."""
        self._said = time.monotonic()
        mine = _unfinished[0] is self
        if _unfinished[0] is not None and not mine:
            self._emit("\n")  # a phase inside another: a line below the other's
        self._emit(("\r\x1b[K" if mine else "") + text + ("\n" if finished else ""))
        _unfinished[0] = None if finished else self

    @staticmethod
    def _emit(text: str) -> None:
        with contextlib.suppress(AttributeError, ValueError, OSError):
            sys.stderr.write(text)
            sys.stderr.flush()


class _PredictCount(keras.callbacks.Callback):
    """Counts the batches of a ``model.predict`` in a :class:`Progress`."""

    def __init__(self, progress: Progress, total: int, unit: str):
        super().__init__()
        self.progress, self.total, self.unit = progress, total, unit

    def on_predict_begin(self, logs=None):
        self.progress.begin(self.total, self.unit)

    def on_predict_batch_end(self, batch, logs=None):
        self.progress.advance()


def write_text_atomically(path: Path, text: str) -> None:
    """Writes ``text`` (UTF-8) to a temporary file beside ``path``, then renames it over
    ``path``: a crash or a kill never leaves a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    """Writes JSON atomically (a crash never leaves a half-written file)."""
    write_text_atomically(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def save_model_atomically(model: keras.Model, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


#: what reading a missing, truncated or foreign Keras model file raises
MODEL_FILE_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)


def load_model_file(path: Path, remedy: str) -> keras.Model:
    """``keras.saving.load_model(path)``; a missing, empty, truncated or foreign file is a
    :class:`UserError` naming it, with ``remedy`` (what the user can do)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; {remedy}")
    try:
        return keras.saving.load_model(path)
    except MODEL_FILE_ERRORS as err:
        kind = "is empty" if path.stat().st_size == 0 else "is damaged or not a Keras model file"
        raise UserError(f"{path} {kind} ({type(err).__name__}); {remedy}") from None


def refuse_file_in_the_way(path: Path, flag: str, given: str | Path | None = None) -> None:
    """A :class:`UserError` when ``path``, or the nearest of its folders that exists, is
    a file: no folder can be made there."""
    given = path if given is None else given
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        where = "is a file" if existing == Path(given) else f"sits under a file ({existing})"
        raise UserError(f"{flag} {given} {where}, not a folder; choose another path.")


def output_folder(path: str | Path, flag: str, given: str | Path | None = None) -> Path:
    """``path`` as a folder that exists and can be written (made when missing), or a
    :class:`UserError` naming ``flag`` and the path given (``given``, default ``path``):
    it is a file, it sits under a file, or it cannot be made or written."""
    path = Path(path)
    given = path if given is None else given
    refuse_file_in_the_way(path, flag, given)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(
            f"{flag} {given}: cannot make the folder {path} ({err.strerror}); choose another path."
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {given}: {path} is not writable; choose another path.")
    return path


def output_file(path: str | Path, flag: str, suffix: str) -> Path:
    """``path`` as a file to write, named ``*suffix`` (e.g. ``.png``), whose folder
    exists or can be made and is writable; otherwise a :class:`UserError` naming ``flag``."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path} is a folder; give a file name ending in {suffix}.")
    if path.suffix.lower() != suffix:
        raise UserError(f"{flag} {path}: give a file name ending in {suffix}.")
    output_folder(path.parent, flag, given=path)
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{flag} {path} is not writable; choose another path.")
    return path


class RunState(keras.callbacks.Callback):
    """Checkpoints every complete epoch and keeps early-stopping state across resumes.

    After each epoch with a finite loss: the model (with its optimizer) goes to
    ``checkpoints/last.keras``; when the monitored validation metric improves, the
    model goes to ``model.keras``; ``state.json`` records the epoch, the best value,
    the epochs without improvement and the history. A NaN loss stops training at once
    and nothing of that epoch is saved.
    """

    def __init__(
        self, run_dir: Path, monitor: str, mode: str, patience: int, state: dict | None = None
    ):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.state = state or {
            "epochs_done": 0,
            "best": None,
            "best_epoch": None,
            "wait": 0,
            "history": {},
        }
        self.diverged: tuple[int, int] | None = None
        self._epoch = 0
        self._spent_before = float(self.state.get("train_seconds", 0.0))

    def on_train_begin(self, logs=None):
        self._clock = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged = (self._epoch + 1, batch + 1)
            self.model.stop_training = True

    def _improved(self, value: float) -> bool:
        best = self.state["best"]
        if best is None:
            return True
        return value > best if self.mode == "max" else value < best

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.diverged or not all(math.isfinite(float(v)) for v in logs.values()):
            self.diverged = self.diverged or (epoch + 1, 0)
            self.model.stop_training = True
            return
        for key, value in logs.items():
            self.state["history"].setdefault(key, []).append(float(value))
        value = logs.get(self.monitor)
        if value is None:
            raise UserError(
                f"Metric '{self.monitor}' was not computed; the validation set may be empty."
            )
        if self._improved(float(value)):
            self.state.update(best=float(value), best_epoch=epoch + 1, wait=0)
            save_model_atomically(self.model, self.run_dir / "model.keras")
        else:
            self.state["wait"] += 1
        save_model_atomically(self.model, self.run_dir / LAST_CHECKPOINT)
        self.state["epochs_done"] = epoch + 1
        # training time over all calls (a resumed run's time budget counts it)
        self.state["train_seconds"] = self._spent_before + time.monotonic() - self._clock
        write_json(self.run_dir / STATE, self.state)
        if self.patience and self.state["wait"] >= self.patience:
            self.model.stop_training = True


def load_state(run_dir: Path) -> dict | None:
    path = Path(run_dir) / STATE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, OSError) as err:
        raise UserError(f"{path} is unreadable ({err}); cannot resume this run.") from None


def plot_history(history: dict[str, list[float]], path: Path, title: str) -> None:
    """Training curves: one panel per metric, train and validation together."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in history if not k.startswith("val_") and k != EPOCHS_TRAINED]
    if not names:
        return
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        epochs = np.arange(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], "o-", label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], "o-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    save_figure(fig, path)


class TimeLimit(keras.callbacks.Callback):
    """Ends training after the epoch past which another would overrun ``minutes``.

    The next epoch is assumed to take as long as the slowest so far, so the run stops
    within the limit, always at an epoch boundary (checkpointed, resumable). ``spent``:
    seconds of the budget already used by earlier calls (a resumed run).
    """

    def __init__(self, minutes: float, verbose: bool = True, spent: float = 0.0):
        super().__init__()
        self.seconds = 60.0 * minutes
        self.verbose = verbose
        self.spent = spent

    def on_train_begin(self, logs=None):
        self._start = time.monotonic() - self.spent
        self._epoch_start = self._start
        self._longest = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        now = time.monotonic()
        self._longest = max(self._longest, now - self._epoch_start)
        if now - self._start + self._longest > self.seconds:
            self.model.stop_training = True
            if self.verbose:
                print(
                    f"max_minutes: stopping after epoch {epoch + 1} "
                    f"({(now - self._start) / 60:.1f} min; another epoch would overrun "
                    f"{self.seconds / 60:g})",
                    file=sys.stderr,
                )


class CosineBudget(keras.callbacks.Callback):
    """Learning rate along a cosine from ``peak`` down to ``alpha * peak`` over the run's
    budget: its steps (``steps_per_epoch`` x the epochs ``fit`` was asked for) or, when
    ``minutes`` is set, its time, whichever runs out first.

    So a run with a time limit anneals by the time the limit ends it, however fast the
    machine is, and a run without one follows the usual step-based cosine. ``spent``:
    seconds already trained by earlier calls (a resumed run). The rate is logged per
    epoch as ``learning_rate``. ``agree``: maps this process's elapsed seconds to the ones
    the rate follows (several workers follow the chief's clock, so that their rates
    never differ); None: its own.
    """

    def __init__(
        self,
        peak: float,
        steps_per_epoch: int,
        alpha: float = 0.1,
        minutes: float = 0.0,
        spent: float = 0.0,
        agree: Callable[[float], float] | None = None,
    ):
        super().__init__()
        self.peak, self.alpha = peak, alpha
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.seconds = 60.0 * minutes
        self.spent = spent
        self.agree = agree

    def on_train_begin(self, logs=None):
        self._off = False  # set at the first batch for a model with a schedule of its own
        self._start = time.monotonic() - self.spent
        self._total = self.steps_per_epoch * max(1, int(self.params.get("epochs") or 1))
        self._step: int | None = None  # the optimizer's step count, read at the first batch
        self._rate = self.peak

    def rate(self, step: int, elapsed: float) -> float:
        """The learning rate after ``step`` updates and ``elapsed`` seconds."""
        progress = step / self._total
        if self.seconds:
            progress = max(progress, elapsed / self.seconds)
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
        return self.peak * (self.alpha + (1.0 - self.alpha) * cosine)

    def on_train_batch_begin(self, batch, logs=None):
        if self._step is None:  # read once: counting batches keeps a device read out of steps
            self._step = int(self.model.optimizer.iterations.numpy())
            # a model saved with a schedule of its own (a run of an earlier version) keeps it
            rate = self.model.optimizer._learning_rate
            self._off = isinstance(rate, keras.optimizers.schedules.LearningRateSchedule)
        if self._off:
            return
        elapsed = time.monotonic() - self._start
        if self.seconds and self.agree is not None:
            elapsed = self.agree(elapsed)
        self._rate = self.rate(self._step, elapsed)
        self.model.optimizer.learning_rate = self._rate

    def on_train_batch_end(self, batch, logs=None):
        if not self._off:
            self._step += 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and not self._off:
            logs["learning_rate"] = self._rate


class WeightAverage(keras.callbacks.Callback):
    """An exponential moving average of the trainable weights, updated after every step
    (``average = momentum * average + (1 - momentum) * weights``).

    At the end of every epoch the model takes the averaged weights, so the callbacks
    after this one (validation metrics, checkpoints) see them, and at the start of the
    next epoch it gets its own back to go on training. A resumed run continues from the
    averaged weights of its last epoch.
    """

    def __init__(self, momentum: float = 0.99):
        super().__init__()
        self.momentum = momentum

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        weights = self.model.trainable_variables
        self._average = [tf.Variable(v, trainable=False) for v in weights]
        self._own: list[np.ndarray] | None = None
        m = self.momentum

        @tf.function
        def update():
            for average, v in zip(self._average, weights, strict=True):
                average.assign(m * average + (1.0 - m) * v)

        self._update = update

    def on_train_batch_end(self, batch, logs=None):
        self._update()

    def on_epoch_end(self, epoch, logs=None):
        weights = self.model.trainable_variables
        self._own = [v.numpy() for v in weights]
        for v, average in zip(weights, self._average, strict=True):
            v.assign(average)

    def on_epoch_begin(self, epoch, logs=None):
        if self._own is not None:
            for v, own in zip(self.model.trainable_variables, self._own, strict=True):
                v.assign(own)
            self._own = None


def save_figure(fig, path: str | Path, dpi: int = 100) -> Path:
    """Lays out ``fig``, writes it to ``path`` (folders made as needed, atomically) and
    closes it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        # the format named, or matplotlib would add a suffix of its own to the temporary name
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
        os.replace(tmp, path)  # atomically: a kill never leaves half an image
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path


class EpochCounter(keras.callbacks.Callback):
    """Adds ``epochs_trained`` to the epoch logs: monitored with mode ``max``, the last
    epoch is the one kept (for a schedule whose end is the model, e.g. cosine decay)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[EPOCHS_TRAINED] = float(epoch + 1)
