"""Linear-chain conditional random field: tag scores per step in, the best tag sequence out.

For emissions ``e[t, y]`` (per-step tag scores, e.g. from a dense layer over a BiLSTM),
learned transitions ``A[y', y]`` and start/end scores ``s[y]``, ``f[y]``, a tag sequence
``y_1 .. y_n`` scores::

    score(y) = s[y_1] + sum_t e[t, y_t] + sum_{t>1} A[y_{t-1}, y_t] + f[y_n]
    p(y | x) = exp(score(y)) / Z,    Z = sum over all tag sequences of exp(score)

Training maximizes ``log p(gold tags | x)`` (the forward algorithm computes ``log Z``);
decoding finds ``argmax_y score(y)`` (the Viterbi algorithm). Both are ``tf.scan`` loops
over time, so they compile with XLA.

Any mask works, as in the recurrent layers of this package: a masked step is skipped
(the scores so far are kept), so the CRF of a masked sequence is the CRF of the sequence
with its masked steps removed, whether the padding is on the right, on the left or
anywhere. The decoded tag of a masked step is 0 (the padding id). A sequence with no kept
step has one (empty) tag sequence: its score, ``log Z`` and log-likelihood are 0 and its
decoded tags are all 0.

Transitions can be forbidden (e.g. ``O -> I-PER`` in IOB2): a forbidden transition, start
or end gets a fixed score of -10000, so neither training nor decoding ever uses it.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from custom_layers.masking import FORBIDDEN


@keras.saving.register_keras_serializable(package="custom_layers")
class CRF(keras.layers.Layer):
    """Linear-chain CRF over ``num_tags`` tags.

    ``call(emissions, mask)`` returns the Viterbi tags ``[batch, steps]`` (int32, 0 where
    masked); :meth:`log_likelihood` is the training objective. The mask may hold any
    pattern (left, right or inner padding): masked steps are skipped.

    Args:
        num_tags: number of tags.
        allowed_transitions: optional ``num_tags x num_tags`` booleans, ``[i][j]``:
            whether tag ``j`` may follow tag ``i``.
        allowed_starts: optional booleans: whether a sequence may start with each tag.
        allowed_ends: optional booleans: whether a sequence may end with each tag.
    """

    def __init__(
        self,
        num_tags: int,
        allowed_transitions: Sequence[Sequence[bool]] | None = None,
        allowed_starts: Sequence[bool] | None = None,
        allowed_ends: Sequence[bool] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_tags = int(num_tags)
        self.allowed_transitions = _bools(allowed_transitions, (num_tags, num_tags))
        self.allowed_starts = _bools(allowed_starts, (num_tags,))
        self.allowed_ends = _bools(allowed_ends, (num_tags,))
        self.supports_masking = True

    def build(self, emissions_shape, mask_shape=None):
        init = keras.initializers.RandomUniform(-0.1, 0.1)
        n = self.num_tags
        self.transitions = self.add_weight(shape=(n, n), initializer=init, name="transitions")
        self.start_scores = self.add_weight(shape=(n,), initializer=init, name="start_scores")
        self.end_scores = self.add_weight(shape=(n,), initializer=init, name="end_scores")

    # -- the potentials, constraints applied ----------------------------------------------
    def _potentials(self):
        def constrained(weights, allowed):
            if allowed is None:
                return weights
            return tf.where(tf.constant(allowed), weights, FORBIDDEN)

        return (
            constrained(self.transitions, self.allowed_transitions),
            constrained(self.start_scores, self.allowed_starts),
            constrained(self.end_scores, self.allowed_ends),
        )

    @staticmethod
    def _prepare(emissions, mask):
        emissions = tf.convert_to_tensor(emissions)
        if mask is None:
            mask = tf.ones(tf.shape(emissions)[:2], tf.bool)
        mask = tf.cast(mask, tf.bool)
        # time-major for tf.scan
        return tf.transpose(emissions, [1, 0, 2]), tf.transpose(mask, [1, 0])

    def log_likelihood(self, emissions, tags, mask=None):
        """``log p(tags | emissions)`` per sequence, ``[batch]``.

        Args:
            emissions: ``[batch, steps, num_tags]`` float scores.
            tags: ``[batch, steps]`` integer gold tags (any value where masked).
            mask: ``[batch, steps]`` booleans, True for real steps, anywhere in the row;
                a row with no real step has log-likelihood 0.
        """
        return self.sequence_score(emissions, tags, mask) - self.log_partition(emissions, mask)

    def sequence_score(self, emissions, tags, mask=None):
        """``score(tags)`` of the kept steps per sequence, ``[batch]`` (0 if none is kept)."""
        transitions, start, end = self._potentials()
        emissions = tf.convert_to_tensor(emissions)
        if mask is None:
            mask = tf.ones(tf.shape(emissions)[:2], tf.bool)
        mask = tf.cast(mask, tf.bool)
        tags = tf.where(mask, tf.cast(tags, tf.int32), 0)  # any value where masked
        unary = tf.gather(emissions, tags, batch_dims=2)  # [B, L]
        score = tf.reduce_sum(tf.where(mask, unary, 0.0), axis=1)
        # the kept tags moved to the front, in order: kept[b, k] is the tag of the k-th
        # kept step (masked steps are scattered into a spare last column, dropped)
        batch, steps = tf.shape(tags)[0], tf.shape(tags)[1]
        rank = tf.cumsum(tf.cast(mask, tf.int32), axis=1) - 1
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        slot = tf.where(mask, rank, steps)
        rows = tf.broadcast_to(tf.range(batch)[:, None], tf.shape(tags))
        kept = tf.scatter_nd(tf.stack([rows, slot], axis=-1), tags, [batch, steps + 1])
        kept = kept[:, :steps]
        pairs = tf.gather_nd(transitions, tf.stack([kept[:, :-1], kept[:, 1:]], axis=-1))
        real_pair = tf.range(1, steps)[None, :] < lengths[:, None]
        score += tf.reduce_sum(tf.where(real_pair, pairs, 0.0), axis=1)
        first = kept[:, 0]
        last = tf.gather(kept, tf.maximum(lengths - 1, 0), batch_dims=1)
        ends = tf.gather(start, first) + tf.gather(end, last)
        return score + tf.where(lengths > 0, ends, 0.0)

    def log_partition(self, emissions, mask=None):
        """``log Z`` per sequence, ``[batch]`` (the forward algorithm; 0 if no step is kept)."""
        transitions, start, end = self._potentials()
        steps, masks = self._prepare(emissions, mask)
        batch = tf.shape(steps)[1]

        def forward(carry, inputs):
            alpha, started = carry
            emission, keep = inputs
            first = start[None, :] + emission
            nxt = tf.reduce_logsumexp(alpha[:, :, None] + transitions[None], axis=1) + emission
            nxt = tf.where(started[:, None], nxt, first)
            # a masked step keeps alpha; the first kept step starts the sequence
            return tf.where(keep[:, None], nxt, alpha), started | keep

        initial = (tf.zeros([batch, self.num_tags], steps.dtype), tf.zeros([batch], tf.bool))
        alphas, started = tf.scan(forward, (steps, masks), initializer=initial)
        log_z = tf.reduce_logsumexp(alphas[-1] + end[None, :], axis=1)
        return tf.where(started[-1], log_z, 0.0)

    def viterbi(self, emissions, mask=None):
        """The best tag sequences ``[batch, steps]`` (0 where masked) and their scores.

        The score of a row with no kept step is 0.
        """
        transitions, start, end = self._potentials()
        steps, masks = self._prepare(emissions, mask)
        n = self.num_tags
        batch = tf.shape(steps)[1]
        identity = tf.range(n, dtype=tf.int32)

        def forward(carry, inputs):
            delta, started, _ = carry
            emission, keep = inputs
            scores = delta[:, :, None] + transitions[None]  # [B, from, to]
            best = tf.argmax(scores, axis=1, output_type=tf.int32)
            nxt = tf.reduce_max(scores, axis=1) + emission
            nxt = tf.where(started[:, None], nxt, start[None, :] + emission)
            # a masked step keeps the scores and points each tag at itself, and so does
            # the first kept step (nothing precedes it)
            follows = (keep & started)[:, None]
            return (
                tf.where(keep[:, None], nxt, delta),
                started | keep,
                tf.where(follows, best, identity[None, :]),
            )

        initial = (
            tf.zeros([batch, n], steps.dtype),
            tf.zeros([batch], tf.bool),
            tf.zeros([batch, n], tf.int32),
        )
        deltas, started, pointers = tf.scan(forward, (steps, masks), initializer=initial)
        delta = deltas[-1] + end[None, :]
        last = tf.argmax(delta, axis=1, output_type=tf.int32)

        def backward(tag, pointer):
            return tf.gather(pointer, tag, batch_dims=1)

        # the tag of step t is the pointer of step t+1 at the tag of step t+1; scanned
        # over the reversed steps rather than with reverse=True, which tf2onnx converts
        # as a forward scan (wrong tags in ONNX)
        earlier = tf.reverse(
            tf.scan(backward, tf.reverse(pointers[1:], [0]), initializer=last), [0]
        )
        tags = tf.concat([earlier, last[None]], axis=0)
        tags = tf.transpose(tags) * tf.cast(tf.transpose(masks), tf.int32)
        return tags, tf.where(started[-1], tf.reduce_max(delta, axis=1), 0.0)

    def call(self, emissions, mask=None):
        return self.viterbi(emissions, mask)[0]

    def compute_output_shape(self, emissions_shape):
        return tuple(emissions_shape[:2])

    def compute_output_spec(self, emissions, mask=None):
        return keras.KerasTensor(tuple(emissions.shape[:2]), dtype="int32")

    def compute_mask(self, emissions, mask=None):
        return mask

    def get_config(self):
        return {
            **super().get_config(),
            "num_tags": self.num_tags,
            "allowed_transitions": self.allowed_transitions,
            "allowed_starts": self.allowed_starts,
            "allowed_ends": self.allowed_ends,
        }


def _bools(values, shape: tuple[int, ...]) -> list | None:
    if values is None:
        return None
    import numpy as np

    array = np.asarray(values, dtype=bool)
    if array.shape != shape:
        raise ValueError(f"Expected allowed tags of shape {shape}, got {array.shape}.")
    return array.tolist()


def iob2_constraints(tags: Sequence[str]) -> dict[str, list]:
    """The allowed transitions, starts and ends of IOB2 tags (``O``, ``B-X``, ``I-X``).

    ``I-X`` may only follow ``B-X`` or ``I-X``, so it may not start a sequence; any
    other tag (padding included) is unconstrained. Pass the result to :class:`CRF` as
    keyword arguments.
    """
    n = len(tags)
    transitions = [[True] * n for _ in range(n)]
    starts = [True] * n
    for j, tag in enumerate(tags):
        if tag.startswith("I-"):
            entity = tag[2:]
            starts[j] = False
            for i, previous in enumerate(tags):
                transitions[i][j] = previous in (f"B-{entity}", f"I-{entity}")
    return {
        "allowed_transitions": transitions,
        "allowed_starts": starts,
        "allowed_ends": [True] * n,
    }
