"""The decoder run two ways over the model's layers (a dict by layer name).

:func:`teacher_forced` reads the reference's previous tokens: the training graph, and
the attention weights of a given translation. :func:`beam_search` feeds the model's own
tokens back one step at a time over the decoder cell (width 1: greedy decoding);
:func:`translation_function` wraps it from raw strings to raw strings in one XLA loop,
for ``Translator.translate`` and the exported signature; :func:`search_function` is the
same search ids to ids, for the ONNX export.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf

import custom_layers as cl
from recipes.translator.buckets import bucket_length
from recipes.translator.tokens import END, PAD, START

Layers = dict[str, keras.layers.Layer]  # the model's layers by name


def _encode(layers: Layers, source_ids, states: int):
    """Encoder outputs, the source mask and the decoder's initial states."""
    mask = keras.ops.not_equal(source_ids, PAD)
    outputs = layers["encoder"](layers["source_embedding"](source_ids), mask=mask)
    values, finals = outputs[0], outputs[1:]
    forward, backward = finals[:states], finals[states:]
    initial = [
        layers[f"bridge_{i}"](keras.ops.concatenate([forward[i], backward[i]], axis=-1))
        for i in range(states)
    ]
    return values, mask, initial


def teacher_forced(
    layers: Layers,
    source_ids: tf.Tensor,
    target_in: tf.Tensor,
    dropout: keras.layers.Layer | None,
    states: int,
    encoded: tuple | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Logits of every target position given the reference's previous tokens, and the
    attention weights ``[B, T, S]`` of each position over the source (``encoded``: the
    sources' :func:`_encode`, if already computed)."""
    values, mask, initial = _encode(layers, source_ids, states) if encoded is None else encoded
    y = layers["target_embedding"](target_in)
    if dropout is not None:
        y = dropout(y)
    decoded = layers["decoder"](y, initial_state=initial)
    context, weights = layers["attention"](decoded, values, mask)
    attentional = layers["attentional"](keras.ops.concatenate([context, decoded], axis=-1))
    if dropout is not None:
        attentional = dropout(attentional)
    return layers["logits"](attentional), weights


def beam_search(
    layers: Layers,
    states: int,
    source_ids: tf.Tensor,
    width: int,
    max_length: tf.Tensor,
    alpha: tf.Tensor,
    live: tf.Tensor | None = None,
    encoded: tuple | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Beam search over the decoder cell (``width`` 1: greedy decoding); ``encoded``: the
    sources' :func:`_encode`, if already computed.

    Beams are ranked by their log-probability divided by the GNMT length penalty
    ``((5 + length) / 6) ** alpha``; a beam that wrote the end token is finished and
    keeps its score. Stops when every beam is finished or after ``max_length`` tokens.

    ``width`` is the number of beams the arrays hold (static, as XLA needs); ``live``
    (a tensor in [1, width], default ``width``) is the number kept: the others are
    dropped at each step, so the search is the one of width ``live`` (the best
    ``live`` of the ``width`` best candidates are the ``live`` best), and one compiled
    program serves every beam width up to ``width``.

    Returns:
        ``([B, width, max_length] token ids, padded with 0, [B, width] scores)``: the
        beams of each source best first, each scored by its log-probability over the
        length penalty (the dropped beams last, scored about ``-1e9``).
    """
    values, mask, initial = _encode(layers, source_ids, states) if encoded is None else encoded
    keys = layers["attention"].keys(values)
    batch = tf.shape(source_ids)[0]

    def tile(x):
        return tf.repeat(x, width, axis=0)  # [B, ...] -> [B * width, ...]

    values, keys, mask = tile(values), tile(keys), tile(mask)
    cell_states = [tile(s) for s in initial]
    cell = layers["decoder"].cell
    vocabulary = layers["logits"].units
    neg = tf.constant(cl.MASKED)
    never = tf.concat([tf.fill([START + 1], neg), tf.zeros([vocabulary - START - 1])], 0)

    def step(tokens, cell_states):
        x = layers["target_embedding"](tokens)
        out, new_states = cell(x, cell_states)
        new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
        context, _ = layers["attention"].attend(out[:, None, :], keys, values, mask)
        attentional = layers["attentional"](tf.concat([context[:, 0], out], axis=-1))
        # padding, out-of-vocabulary and start tokens are never written
        return tf.nn.log_softmax(layers["logits"](attentional) + never), new_states

    def penalty(length):
        return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, alpha)

    only_pad = tf.concat([[0.0], tf.fill([vocabulary - 1], neg)], 0)  # finished beams
    scores = tf.tile(tf.concat([[0.0], tf.fill([width - 1], neg)], 0)[None], [batch, 1])
    lengths = tf.zeros([batch, width], tf.int32)
    finished = tf.zeros([batch, width], tf.bool)
    # the beams past ``live``: dropped (scored neg, finished, of length 0) at each step
    dropped = tf.range(width)[None, :] >= (width if live is None else live)
    history = tf.zeros([batch * width, max_length], tf.int32)
    tokens = tf.fill([batch * width], START)
    offsets = (tf.range(batch) * width)[:, None]  # row of each source's first beam

    def body(t, tokens, cell_states, scores, lengths, finished, history):
        logp, cell_states = step(tokens, cell_states)
        logp = tf.reshape(logp, [batch, width, vocabulary])
        logp = tf.where(finished[..., None], only_pad, logp)
        candidates = scores[..., None] + logp
        new_lengths = tf.where(finished, lengths, lengths + 1)
        ranked = candidates / penalty(new_lengths)[..., None]
        _, best = tf.math.top_k(tf.reshape(ranked, [batch, -1]), k=width)
        beam, token = best // vocabulary, best % vocabulary
        scores = tf.gather(tf.reshape(candidates, [batch, -1]), best, batch_dims=1)
        lengths = tf.gather(new_lengths, beam, batch_dims=1)
        finished = tf.gather(finished, beam, batch_dims=1) | (token == END) | dropped
        scores = tf.where(dropped, neg, scores)
        lengths = tf.where(dropped, 0, lengths)
        parents = tf.reshape(beam + offsets, [-1])
        cell_states = [tf.gather(s, parents) for s in cell_states]
        token = tf.reshape(token, [-1])
        history = tf.gather(history, parents)
        history = tf.where(tf.range(max_length)[None, :] == t, token[:, None], history)
        return t + 1, token, cell_states, scores, lengths, finished, history

    _, _, _, scores, lengths, _, history = tf.while_loop(
        lambda t, tokens, cell_states, scores, lengths, finished, history: (
            (t < max_length) & ~tf.reduce_all(finished)
        ),
        body,
        (0, tokens, cell_states, scores, lengths, finished, history),
        maximum_iterations=max_length,
    )
    ranked, order = tf.math.top_k(scores / penalty(lengths), k=width)  # best first
    beams = tf.gather(tf.reshape(history, [batch, width, -1]), order, batch_dims=1)
    return beams, ranked


def translation_function(
    layers: Layers,
    encode_sources: Callable[[tf.Tensor], tf.RaggedTensor],
    join_tokens: Callable[[tf.Tensor], tf.Tensor],
    target_vocabulary: list[str],
) -> Callable:
    """Raw strings in, translations out; beam search (width 1: greedy) in one XLA loop.

    Returns:
        ``(texts[B], width, alpha, max_length, live=None, keep=None) -> dict``: the
        sources' ids (``encode_sources``) padded to a bucket length, :func:`beam_search`
        (``width`` static, ``live`` beams kept), and its ``keep`` best beams (default all
        ``width``) read in ``target_vocabulary`` and joined (``join_tokens``):
        ``translations`` ``[B, keep]`` (best first), ``scores`` ``[B, keep]``, ``tokens``
        (ids ``[B, keep, length]``) and ``source_ids`` (``[B, bucket length]``).
    """
    states = len(layers["decoder"].cell.state_size)
    numeric = tf.function(
        lambda ids, width, live, max_length, alpha: beam_search(
            layers, states, ids, width, max_length, alpha, live
        ),
        jit_compile=True,
    )
    table = tf.constant(["", "", "", "", *target_vocabulary])

    def translate(texts, width, alpha, max_length, live=None, keep=None):
        ids = encode_sources(texts)
        ids = ids.to_tensor()
        padding = bucket_length(tf.shape(ids)[1]) - tf.shape(ids)[1]
        ids = tf.pad(ids, [[0, 0], [0, padding]])
        max_length = tf.where(max_length > 0, max_length, 2 * tf.shape(ids)[1] + 10)
        live = tf.constant(width, tf.int32) if live is None else live
        tokens, scores = numeric(ids, width, live, max_length, alpha)
        tokens, scores = tokens[:, :keep], scores[:, :keep]  # only the beams asked are joined
        words = tf.gather(table, tokens)  # [B, keep, length]
        joined = join_tokens(tf.reshape(words, [-1, tf.shape(words)[2]]))
        return {
            "translations": tf.reshape(joined, tf.shape(words)[:2]),
            "scores": scores,
            "tokens": tokens,
            "source_ids": ids,
        }

    return translate


def attention_of(
    layers: Layers, source_ids: tf.Tensor, tokens: tf.Tensor, encoded: tuple | None = None
) -> tf.Tensor:
    """The attention weights ``[B, T, S]`` of the decoder writing ``tokens`` (ids
    ``[B, T]``, padded with 0) over the sources (ids ``[B, S]``; ``encoded``: their
    :func:`_encode`, if already computed): the teacher-forced decoder reads the start
    token and the tokens before each one; the rows of padding are 0."""
    states = len(layers["decoder"].cell.state_size)
    start = tf.fill([tf.shape(tokens)[0], 1], START)
    target_in = tf.concat([start, tokens[:, :-1]], axis=1)
    _, weights = teacher_forced(layers, source_ids, target_in, None, states, encoded)
    return tf.where((tokens != PAD)[:, :, None], weights, tf.zeros_like(weights))


#: the inputs of :func:`search_function`: those of the ONNX export's ``model.onnx``
SEARCH_SIGNATURE = [
    tf.TensorSpec([None, None], tf.int64, name="source_ids"),
    tf.TensorSpec([], tf.int64, name="beam_width"),
    tf.TensorSpec([], tf.int64, name="n_best"),
    tf.TensorSpec([], tf.int64, name="max_length"),
    tf.TensorSpec([], tf.float32, name="length_penalty"),
]


def search_function(layers: Layers, width: int) -> Callable:
    """The numeric beam search of the ONNX export (``model.onnx``), ids in and out.

    :func:`beam_search` ``width`` beams wide with ``beam_width`` of them live (as the
    SavedModel's ``translate`` signature: one program for every beam width up to
    ``width``), then :func:`attention_of` its best beams. tf2onnx converts the search's
    ``tf.while_loop`` into an ONNX ``Loop``: the whole search runs in the graph.

    Returns:
        ``(source_ids, beam_width, n_best, max_length, length_penalty) -> dict``, inputs
        as :data:`SEARCH_SIGNATURE`: ``source_ids`` int64 ``[B, S]`` (padded with 0, as
        :func:`translation_function` pads them, to a bucket length), ``beam_width`` in
        ``[1, width]``, ``n_best`` in ``[1, beam_width]``, ``max_length`` (0: ``2 S + 10``)
        and ``length_penalty`` (alpha) scalars; outputs ``tokens`` int64
        ``[B, n_best, T]`` (each source's best beams, best first, the end token included,
        padded with 0 to the longest), ``scores`` float32 ``[B, n_best]`` and
        ``attention`` float32 ``[B, T, S]``: the weights of the best beam's tokens over
        the source ids (0 in the rows of padding). The graph checks none of the ranges.
    """
    states = len(layers["decoder"].cell.state_size)

    def search(source_ids, beam_width, n_best, max_length, length_penalty):
        ids = tf.cast(source_ids, tf.int32)
        max_length = tf.cast(max_length, tf.int32)
        max_length = tf.where(max_length > 0, max_length, 2 * tf.shape(ids)[1] + 10)
        live = tf.cast(beam_width, tf.int32)
        encoded = _encode(layers, ids, states)  # once, for the search and the attention
        tokens, scores = beam_search(
            layers, states, ids, width, max_length, length_penalty, live, encoded
        )
        n = tf.cast(n_best, tf.int32)
        tokens, scores = tokens[:, :n], scores[:, :n]
        written = tf.reduce_max(tf.reduce_sum(tf.cast(tokens != PAD, tf.int32), 2))
        tokens = tokens[:, :, :written]  # to the longest written
        return {
            "tokens": tf.cast(tokens, tf.int64),
            "scores": scores,
            "attention": attention_of(layers, ids, tokens[:, 0], encoded),
        }

    return search
