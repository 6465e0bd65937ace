"""Length buckets: pairs batched with pairs of similar lengths, padded to a few lengths.

XLA compiles one program per shape, so sources and targets are padded to the bucket
lengths 8, 12, 16, 24, 32, 48, ... in training and sources in decoding too.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from recipes.core.data import Examples
from recipes.core.errors import UserError

BUCKETS = [8 * 2**i * f for i in range(12) for f in (1, 1.5)]


def bucket_lengths(n: np.ndarray) -> np.ndarray:
    """:func:`bucket_length` of every element of an array."""
    grid = np.array([int(b) for b in BUCKETS])
    return grid[np.searchsorted(grid, np.asarray(n))]


def bucket_length(n: tf.Tensor) -> tf.Tensor:
    """Lengths rounded up to 8, 12, 16, 24, 32, 48, ... (few distinct shapes to compile)."""
    grid = tf.constant([int(b) for b in BUCKETS], tf.int32)
    return tf.gather(grid, tf.searchsorted(grid, tf.reshape(tf.cast(n, tf.int32), [1]))[0])


def token_lengths(encode: Callable[[tf.Tensor], tf.RaggedTensor], texts: list[str]) -> np.ndarray:
    """The tokens of each text's ids (``encode``: texts -> ragged ids), 4096 at a time."""
    lengths = [
        encode(tf.constant(texts[start : start + 4096])).row_lengths().numpy()
        for start in range(0, len(texts), 4096)
    ]
    return np.concatenate(lengths) if lengths else np.zeros(0, "int64")


def bucketed_batches(
    pairs: Examples,
    lengths: tuple[np.ndarray, np.ndarray],
    encode: Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor, tf.Tensor]],
    batch_size: int,
    training: bool,
    seed: int,
) -> tf.data.Dataset:
    """``((source ids, target input ids), target output ids)`` batches of ``pairs``.

    Args:
        pairs: the (source, target) texts.
        lengths: the tokens of each pair's source and target ids, as ``encode`` writes
            them (the target's input and output are as long).
        encode: one pair's texts -> its source, target input and target output ids.
        batch_size: pairs per batch; each batch holds pairs of one pair of buckets,
            padded to the bucket lengths and then to full batches (rows of padding
            add nothing to the loss).
        training: shuffled (``seed``) and only full batches of pairs; otherwise every
            pair, in order.
        seed: the shuffle's seed.
    """
    keys = bucket_lengths(lengths[0]) * 1024 + bucket_lengths(lengths[1])
    per_key = np.unique(keys, return_counts=True)[1]
    batches = int(np.sum(per_key // batch_size if training else -(-per_key // batch_size)))
    if batches == 0:
        raise UserError(
            f"Too few training pairs for one batch of {batch_size} of similar length; "
            "lower batch_size with --set."
        )
    ds = tf.data.Dataset.from_tensor_slices(
        (
            tf.constant(pairs.texts, tf.string),
            tf.constant(pairs.labels, tf.string),
            tf.constant(keys, tf.int64),
        )
    )
    if training:
        ds = ds.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)

    def encoded(source, target, key):
        return (*encode(source, target), key)

    def batch(key, window):
        src_len, tgt_len = key // 1024, key % 1024
        shapes = ([src_len], [tgt_len], [tgt_len], [])
        return window.padded_batch(batch_size, shapes, drop_remainder=training)

    def full(s, ti, to, key):
        rows = batch_size - tf.shape(s)[0]
        s, ti, to = (tf.pad(x, [[0, rows], [0, 0]]) for x in (s, ti, to))
        return (s, ti), to

    ds = ds.map(encoded, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.group_by_window(lambda s, ti, to, key: key, batch, window_size=batch_size)
    ds = ds.map(full).apply(tf.data.experimental.assert_cardinality(batches))
    return ds.prefetch(tf.data.AUTOTUNE)
