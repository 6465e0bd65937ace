"""Training on several workers: ``tf.distribute.MultiWorkerMirroredStrategy``.

Every worker runs the same ``fit``; the ``TF_CONFIG`` environment variable tells each one
the cluster and its own place in it (``rnn-apps fit --workers N`` sets it for N local
processes). What this module adds to the strategy:

- **one chief**: the ``chief`` task, or worker 0 when the cluster names none. It alone
  writes the run folder; the other workers write theirs into a temporary folder that is
  removed when they end (as Keras's multi-worker guide does).
- **one start**: the chief's settings, epochs and starting point (a new run, or the
  last complete epoch of an interrupted one) reach every worker, and so do its weights
  and optimizer state (:meth:`Cluster.sync`). No other worker reads the run folder, so
  the workers need no shared disk, only the data at the same path.
- **one decision**: a failure while starting, on any worker, stops every worker
  (:meth:`Cluster.together`); stopping at the end of an epoch (early stopping, the time
  budget) is the chief's decision, followed by all (:class:`ChiefDecides`); the time
  that a cosine schedule follows is the chief's (:meth:`Cluster.chief_seconds`).
  Losses and metrics need nothing: the strategy averages them over the workers, so
  every worker sees the same logs and takes the same NaN decision at the same batch.
- **two shims for Keras 3.** Its TensorFlow trainer cannot yet run a model under this
  strategy (keras-team/keras#20585): ``fit`` reduces the first batch and the step's
  scalar metrics with calls the strategy refuses. :func:`multi_worker_strategy` installs
  replacements that act only under a multi-worker strategy and leave every other
  strategy to Keras's own code.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import keras
import numpy as np
import tensorflow as tf

from recipes.core.errors import UserError

T = TypeVar("T")

#: the environment variable that describes the cluster (TensorFlow's own)
TF_CONFIG = "TF_CONFIG"


@dataclasses.dataclass(frozen=True)
class Task:
    """This process's place in the cluster: its rank (the chief is 0) and the count."""

    rank: int
    count: int

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    @property
    def name(self) -> str:
        return "the chief (worker 0)" if self.is_chief else f"worker {self.rank}"


def task_from_env(environ: dict[str, str] | None = None) -> Task:
    """This process's :class:`Task`, read from ``TF_CONFIG`` (none set: one worker).

    The ranks follow TensorFlow's: the ``chief`` task first, then the ``worker`` tasks by
    index; without a ``chief`` task, worker 0 is the chief.
    """
    environ = os.environ if environ is None else environ
    raw = environ.get(TF_CONFIG, "").strip()
    if not raw:
        return Task(0, 1)
    hint = (
        'set it as {"cluster": {"worker": ["host:port", ...]}, '
        '"task": {"type": "worker", "index": I}}'
    )
    try:
        config = json.loads(raw)
        cluster, task = config["cluster"], config["task"]
        kind, index = str(task["type"]), int(task.get("index", 0))
        chiefs, workers = list(cluster.get("chief", [])), list(cluster.get("worker", []))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise UserError(f"{TF_CONFIG} is not a cluster description; {hint}.") from None
    if kind not in ("chief", "worker"):
        raise UserError(
            f"{TF_CONFIG} names a task of type {kind!r}; multi_worker training has chief "
            "and worker tasks only."
        )
    names = chiefs if kind == "chief" else workers
    if not 0 <= index < len(names) or len(chiefs) > 1:
        raise UserError(
            f"{TF_CONFIG}: task {kind} {index} is not in its cluster "
            f"({len(chiefs)} chief, {len(workers)} workers); {hint}."
        )
    rank = 0 if kind == "chief" else index + len(chiefs)
    return Task(rank, len(chiefs) + len(workers))


def sharded(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` sharded by data: every worker builds the same batches, seeded alike,
    and takes its part of each global batch. The recipes read their sources (local
    files, the embedded defaults, tfds) into memory before batching, so there are no
    files to shard by (TensorFlow's ``FILE`` policy would find none)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


#: what a collective raises when a worker it waits for is gone (or was told so)
PEER_ERRORS = (
    tf.errors.UnavailableError,
    tf.errors.CancelledError,
    tf.errors.DeadlineExceededError,
    tf.errors.AbortedError,
)
#: the exit status of a worker that lost another (EX_TEMPFAIL: a restart can continue)
PEER_LOST_STATUS = 75


class PeerLost(UserError):
    """A collective failed because another worker is gone: the cluster must restart."""

    status = PEER_LOST_STATUS

    def __init__(self, task: Task, error: BaseException):
        super().__init__(
            f"{task.name} lost contact with another worker (a collective failed: "
            f"{type(error).__name__}); the run folder keeps the last complete epoch: start "
            "the workers again (the same command) to continue."
        )


# -- the strategy and the Keras shims ------------------------------------------------------
_strategy: list[tf.distribute.MultiWorkerMirroredStrategy] = []


def multi_worker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    """The process's ``MultiWorkerMirroredStrategy`` (made once: TensorFlow configures
    its collectives once per process, before anything else runs), with the Keras shims
    installed."""
    if not _strategy:
        _install_keras_shims()
        try:
            _strategy.append(tf.distribute.MultiWorkerMirroredStrategy())
        except RuntimeError as err:
            if "startup" not in str(err):
                raise
            raise UserError(
                "distribution = multi_worker must start before TensorFlow runs anything "
                "in the process; train from a new process (rnn-apps fit does)."
            ) from None
    return _strategy[0]


def is_multi_worker(strategy: Any) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and bool(
        strategy.extended._in_multi_worker_mode()
    )


def _local(value: Any, strategy: tf.distribute.Strategy) -> Any:
    if isinstance(value, tf.distribute.DistributedValues):
        return strategy.experimental_local_results(value)[0]
    return value


def _install_keras_shims() -> None:
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer, "_rnn_apps_shims", False):
        return
    reduce_per_replica = trainer.reduce_per_replica
    maybe_symbolic_build = trainer.TensorFlowTrainer._maybe_symbolic_build

    @functools.wraps(reduce_per_replica)
    def reduce_logs(values, strategy, reduction):
        # Keras asks for the mean over axis 0, which the step's scalar logs do not have
        if reduction in ("auto", "mean") and is_multi_worker(strategy):
            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return reduce_per_replica(values, strategy, reduction)

    @functools.wraps(maybe_symbolic_build)
    def symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is None or data_batch is not None or not is_multi_worker(strategy):
            return maybe_symbolic_build(self, iterator=iterator, data_batch=data_batch)
        # Keras averages the first batch over the workers (a nest the strategy refuses),
        # only for its shapes: this worker's part of it has them
        for _, _, batches in iterator:
            batch = next(batches)
            break
        with strategy.scope():
            self._symbolic_build(
                data_batch=tf.nest.map_structure(lambda v: _local(v, strategy), batch)
            )

    trainer.reduce_per_replica = reduce_logs
    trainer.TensorFlowTrainer._maybe_symbolic_build = symbolic_build
    trainer._rnn_apps_shims = True


# -- agreeing -------------------------------------------------------------------------------
class Cluster:
    """The workers of a multi-worker ``fit``, and the few things they agree on.

    Every method is a collective: every worker calls it, in the same order.
    """

    def __init__(self, strategy: tf.distribute.Strategy, task: Task):
        self.strategy, self.task = strategy, task

    @property
    def is_chief(self) -> bool:
        return self.task.is_chief

    def _sum(self, vector: Sequence[float] | np.ndarray) -> np.ndarray:
        value = tf.constant(np.asarray(vector, np.float64).reshape(-1))
        return np.asarray(self.strategy.reduce("SUM", value, axis=None))

    def chief_values(self, values: Sequence[float]) -> list[float]:
        """The chief's ``values`` on every worker (the others' are ignored, but give as
        many)."""
        mine = np.asarray(values, np.float64)
        return [float(v) for v in self._sum(mine if self.is_chief else np.zeros_like(mine))]

    def chief_text(self, text: str) -> str:
        """The chief's ``text`` on every worker."""
        data = text.encode("utf-8") if self.is_chief else b""
        (size,) = self.chief_values([len(data)])
        codes = np.frombuffer(data, np.uint8) if self.is_chief else np.zeros(int(size))
        return bytes(self._sum(codes).astype(np.uint8)).decode("utf-8")

    def chief_seconds(self, seconds: float) -> float:
        """The chief's clock reading (the time a schedule or a budget follows)."""
        return self.chief_values([seconds])[0]

    def check(self, error: BaseException | None, what: str) -> None:
        """Raises on every worker when ``error`` happened on any: the worker's own error
        where it happened, elsewhere one naming the workers that stopped."""
        mine = np.zeros(self.task.count)
        mine[self.task.rank] = 1.0 if error is not None else 0.0
        failed = [rank for rank, flag in enumerate(self._sum(mine)) if flag]
        if error is not None:
            raise error
        if failed:
            names = ", ".join("the chief" if r == 0 else f"worker {r}" for r in failed)
            raise UserError(
                f"{names} stopped while {what} (its own message says why); "
                f"{self.task.name} stops too."
            )

    def together(self, what: str, step: Callable[[], T]) -> T:
        """``step()`` on every worker; when it fails on any, all stop (:meth:`check`)."""
        try:
            result = step()
        except Exception as err:  # every worker must reach the check, whatever stopped it
            self.check(err, what)
            raise
        self.check(None, what)
        return result

    def sync(self, variables: Sequence[tf.Variable]) -> None:
        """Gives every worker the chief's values of ``variables`` (weights, optimizer
        state, seed states): the same start whether the run is new or continued."""
        for variable in variables:
            value = tf.convert_to_tensor(variable)
            mine = tf.cast(value, tf.float64)
            if not self.is_chief:
                mine = tf.zeros_like(mine)
            summed = self.strategy.reduce("SUM", mine, axis=None)
            variable.assign(tf.cast(summed, value.dtype))


class ChiefDecides(keras.callbacks.Callback):
    """Last of the callbacks: whether training stops after this epoch is the chief's
    decision (its early stopping, its time budget), on every worker alike."""

    def __init__(self, cluster: Cluster):
        super().__init__()
        self.cluster = cluster

    def on_epoch_end(self, epoch, logs=None):
        (stop,) = self.cluster.chief_values([float(bool(self.model.stop_training))])
        self.model.stop_training = bool(stop)
