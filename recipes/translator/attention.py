"""The attention of the decoder over the encoder's outputs (Bahdanau or Luong)."""

from __future__ import annotations

import keras

import custom_layers as cl
from recipes.core.errors import UserError


@keras.saving.register_keras_serializable(package="recipes")
class EncoderAttention(keras.layers.Layer):
    """Attention of decoder outputs (queries) over encoder outputs (values).

    ``bahdanau`` (additive): ``score = v . tanh(W_q q + W_k h)``; ``luong``
    (multiplicative, "general"): ``score = (W_q q) . (W_k h)``. Padding of the source
    gets no weight. The key projection can be computed once per source
    (:meth:`keys`) and reused at every decoding step (:meth:`attend`).
    """

    def __init__(self, units: int, score: str = "bahdanau", **kwargs):
        super().__init__(**kwargs)
        if score not in ("bahdanau", "luong"):
            raise UserError(f"Unknown attention {score!r}; expected bahdanau or luong.")
        self.units, self.score = units, score
        self.query_dense = keras.layers.Dense(units, use_bias=False, name="query")
        self.key_dense = keras.layers.Dense(units, use_bias=False, name="key")
        self.v = keras.layers.Dense(1, use_bias=False, name="v") if score == "bahdanau" else None

    def build(self, query_shape, values_shape, source_mask_shape=None):
        self.query_dense.build(query_shape)
        self.key_dense.build(values_shape)
        if self.v is not None:
            self.v.build((None, self.units))

    def keys(self, values):
        return self.key_dense(values)

    def attend(self, query, keys, values, mask):
        """``query [B, T, Q]``, ``keys [B, S, A]``, ``values [B, S, D]``, ``mask [B, S]``
        -> ``(context [B, T, D], weights [B, T, S])``."""
        q = self.query_dense(query)
        if self.v is not None:
            scores = keras.ops.squeeze(
                self.v(keras.ops.tanh(q[:, :, None, :] + keys[:, None, :, :])), -1
            )
        else:
            scores = keras.ops.einsum("bta,bsa->bts", q, keys)
        scores = keras.ops.where(mask[:, None, :], scores, cl.MASKED)
        scores = scores - keras.ops.max(scores, axis=-1, keepdims=True)
        weights = keras.ops.exp(scores)  # softmax (keras.ops.softmax warns on one step)
        weights = weights / keras.ops.sum(weights, axis=-1, keepdims=True)
        return keras.ops.matmul(weights, values), weights

    def call(self, query, values, source_mask):
        return self.attend(query, self.keys(values), values, source_mask)

    def compute_output_spec(self, query, values, source_mask):
        b, t = query.shape[0], query.shape[1]
        return (
            keras.KerasTensor((b, t, values.shape[-1])),
            keras.KerasTensor((b, t, values.shape[1])),
        )

    def get_config(self):
        return {**super().get_config(), "units": self.units, "score": self.score}
