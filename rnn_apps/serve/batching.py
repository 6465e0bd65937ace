"""Server-side batching, as TensorFlow Serving does it: row-format requests to the same
signature that arrive within ``timeout_ms`` of the first are run as one batch, of at most
``max_batch`` instances, and each request gets its own rows back.

A batch is padded to the next power of two (repeating its last row), so that a model
compiled with XLA meets a few batch sizes, not every one.

Requests join a batch only when their inputs have the same shapes beyond the batch
dimension, and only for signatures whose outputs do not grow with the longest request
(an output padded to the longest sentence of a batch would change with its neighbours):
those run one request at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class _Pending:
    arrays: dict[str, np.ndarray]
    count: int
    done: asyncio.Future = field(repr=False)


def batchable(signature) -> bool:
    """Whether requests to ``signature`` may share a batch (see the module's docstring)."""
    if not signature.batched():
        return False
    strings_in = any(s.dtype.name == "string" for s in signature.inputs.values())
    for spec in signature.outputs.values():
        if spec.shape.rank is None or spec.shape.rank == 0:
            return False
        if strings_in and spec.shape.rank > 1 and None in spec.shape.as_list()[1:]:
            return False  # its length follows the longest text of the batch
    return True


class Batcher:
    """Runs ``call(arrays) -> outputs`` on batches of concurrent requests.

    Args:
        call: the model: a dict of input arrays (batch first) to a dict of output arrays.
        max_batch: most instances in one batch.
        timeout_ms: how long the first request of a batch waits for others.
    """

    def __init__(self, call: Callable[[dict], dict], max_batch: int, timeout_ms: float):
        self.call = call
        self.max_batch = max_batch
        self.timeout = timeout_ms / 1000
        self._queues: dict[Any, list[_Pending]] = {}
        self._wakers: dict[Any, asyncio.Event] = {}
        self._workers: dict[Any, asyncio.Task] = {}
        self.batches_run = 0  # (for tests and benchmarks)

    def padded_size(self, count: int) -> int:
        """The batch size a batch of ``count`` instances runs at: the next power of two
        (at most ``max_batch``), as TensorFlow Serving's ``allowed_batch_sizes`` do, so that
        a model compiled with XLA compiles a few sizes once instead of every size it meets."""
        size = 1
        while size < count:
            size *= 2
        return max(count, min(size, self.max_batch))

    @staticmethod
    def _key(arrays: dict[str, np.ndarray]) -> tuple:
        return tuple(sorted((n, a.dtype.str, a.shape[1:]) for n, a in arrays.items()))

    async def run(self, arrays: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
        """The outputs of one request's ``count`` instances."""
        loop = asyncio.get_running_loop()
        key = self._key(arrays)
        pending = _Pending(arrays, count, loop.create_future())
        self._queues.setdefault(key, []).append(pending)
        waker = self._wakers.setdefault(key, asyncio.Event())
        if sum(p.count for p in self._queues[key]) >= self.max_batch:
            waker.set()
        if key not in self._workers or self._workers[key].done():
            self._workers[key] = loop.create_task(self._work(key))
        return await pending.done

    async def _work(self, key) -> None:
        loop = asyncio.get_running_loop()
        while self._queues.get(key):
            waker = self._wakers[key]
            try:
                await asyncio.wait_for(waker.wait(), self.timeout)
            except TimeoutError:
                pass
            waker.clear()
            queue = self._queues[key]
            batch, total = [], 0
            while queue and (not batch or total + queue[0].count <= self.max_batch):
                pending = queue.pop(0)
                batch.append(pending)
                total += pending.count
            if queue and sum(p.count for p in queue) >= self.max_batch:
                waker.set()
            names = list(batch[0].arrays)
            joined = {n: np.concatenate([p.arrays[n] for p in batch]) for n in names}
            size = self.padded_size(total)
            if size > total:  # repeat the last row: a compiled size, not a new one
                joined = {n: np.concatenate([a, np.repeat(a[-1:], size - total, axis=0)])
                          for n, a in joined.items()}  # fmt: skip
            try:
                outputs = await loop.run_in_executor(None, self.call, joined)
            except Exception as err:  # noqa: BLE001 - each request gets the error
                for pending in batch:
                    if not pending.done.done():
                        pending.done.set_exception(err)
                continue
            self.batches_run += 1
            start = 0
            for pending in batch:
                rows = slice(start, start + pending.count)
                pending.done.set_result({n: np.asarray(a)[rows] for n, a in outputs.items()})
                start += pending.count


def warm_up(batcher: Batcher, signature) -> list[int]:
    """Runs ``signature`` once at each batch size the batcher may pad to, on blank inputs
    (empty strings, zeros), so that the first requests do not wait for compilation (XLA
    compiles each batch size once, in seconds). Returns the sizes that ran; a size the
    model refuses on blank inputs is skipped."""
    sizes, size = [], 1
    while size <= batcher.max_batch:
        sizes.append(size)
        size *= 2
    done = []
    for size in sizes:
        arrays = {}
        for name, spec in signature.inputs.items():
            shape = [size] + [d or 1 for d in spec.shape.as_list()[1:]]
            if spec.dtype.name == "string":
                arrays[name] = np.full(shape, b"", dtype=object)
            else:
                arrays[name] = np.zeros(shape, dtype=spec.dtype.as_numpy_dtype)
        try:
            batcher.call(arrays)
        except Exception:  # noqa: BLE001 - e.g. a waveform too short for its frames
            continue
        done.append(size)
    return done
