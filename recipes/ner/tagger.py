"""The tagger's Keras pieces: word dropout, character features, and the tagging models
that train and decode the encoder's tag scores (a linear-chain CRF, or a softmax).

Registered as ``recipes>...`` so that a saved ``model.keras`` finds them by name.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

import custom_layers as cl


def crf_constraints(names: list[str], constrain_iob: bool) -> dict[str, Any]:
    """The CRF's allowed transitions, starts and ends over the tags ``names`` (id 0:
    padding): with ``constrain_iob`` only valid IOB2 sequences, else any; padding never."""
    if constrain_iob:
        allowed = cl.iob2_constraints(names)
    else:
        n = len(names)
        allowed = {
            "allowed_transitions": [[True] * n for _ in range(n)],
            "allowed_starts": [True] * n,
            "allowed_ends": [True] * n,
        }
    # padding is never a tag of a real token
    for row in allowed["allowed_transitions"]:
        row[0] = False
    allowed["allowed_starts"][0] = False
    return allowed


@keras.saving.register_keras_serializable(package="recipes")
class WordDropout(keras.layers.Layer):
    """In training, replaces word ids by the unknown word (id 1): each with probability
    ``rate``, or, given ``rates`` (one per id), with its own probability, kept as a
    (not trained) weight of the layer."""

    def __init__(
        self,
        rate: float,
        seed: int | None = None,
        rates: Any = None,
        vocabulary_size: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rate, self.seed = rate, seed
        self._given = None if rates is None else np.asarray(rates, np.float32)
        self.vocabulary_size = len(self._given) if rates is not None else vocabulary_size
        self.generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.rates = None
        if self.vocabulary_size is not None:
            init = "zeros" if self._given is None else keras.initializers.Constant(self._given)
            self.rates = self.add_weight(
                shape=(self.vocabulary_size,), initializer=init, trainable=False, name="rates"
            )

    def call(self, ids, training=False):
        if not training or (not self.rate and self.rates is None):
            return ids
        rate = self.rate if self.rates is None else keras.ops.take(self.rates, ids)
        drop = keras.random.uniform(keras.ops.shape(ids), seed=self.generator) < rate
        return keras.ops.where(drop & (ids > 1), 1, ids)

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "seed": self.seed,
            "vocabulary_size": self.vocabulary_size,
        }


def rare_word_rates(counts: list[int], rate: float, alpha: float) -> list[float]:
    """:class:`WordDropout`'s rate of every word id from the training counts of the words
    (ids 2..): ``alpha / (alpha + n)`` for a word seen ``n`` times, at least ``rate``;
    padding and unknown (ids 0, 1) are never replaced."""
    counts = np.asarray(counts, np.float32)
    return [0.0, 0.0, *np.maximum(rate, alpha / (alpha + counts))]


@keras.saving.register_keras_serializable(package="recipes")
class CharFeatures(keras.layers.Layer):
    """A bidirectional custom_layers LSTM over each word's characters: ``[B, W, C]`` ids
    -> ``[B, W, 2 * units]`` (the final states of both directions)."""

    def __init__(self, vocabulary: int, dim: int, units: int, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary, self.dim, self.units = vocabulary, dim, units
        self.embedding = keras.layers.Embedding(vocabulary, dim, mask_zero=True)
        self.rnn = keras.layers.Bidirectional(cl.LSTM(units))

    def build(self, input_shape):
        self.embedding.build((None, input_shape[-1]))
        self.rnn.build((None, input_shape[-1], self.dim))

    def call(self, char_ids):
        shape = keras.ops.shape(char_ids)
        flat = keras.ops.reshape(char_ids, (-1, shape[-1]))
        mask = keras.ops.not_equal(flat, 0)
        # words of padding have no characters: give them one step so the mask is not empty
        mask = keras.ops.logical_or(mask, keras.ops.arange(shape[-1])[None, :] == 0)
        out = self.rnn(self.embedding(flat), mask=mask)
        return keras.ops.reshape(out, (shape[0], shape[1], 2 * self.units))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], 2 * self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary": self.vocabulary,
            "dim": self.dim,
            "units": self.units,
        }


def _ordered(encoder: keras.Model, inputs):
    """The encoder's inputs as a list in its order (a dict's keys may come sorted from a
    graph): ``word_ids``, ``char_ids``, ``shape_ids`` and, with lexicons,
    ``frequency_ids`` and ``gazetteer_ids``."""
    if isinstance(inputs, dict):
        return [inputs[name] for name in input_names(encoder)]
    return inputs


def input_names(encoder: keras.Model) -> list[str]:
    """The names of ``encoder``'s inputs, in order."""
    return [tensor.name for tensor in encoder.inputs]


class _Tagger(keras.Model):
    """Tag scores from ``encoder``; :meth:`decode` adds ``decode_bias`` (one value per
    tag, not trained) to them before choosing the tags."""

    def __init__(self, encoder: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decode_bias = self.add_weight(
            shape=(encoder.output.shape[-1],),
            initializer="zeros",
            trainable=False,
            name="decode_bias",
        )

    def call(self, inputs, training=False):
        return self.encoder(_ordered(self.encoder, inputs), training=training)

    def load_own_variables(self, store):
        if not len(store.keys()):  # saved before the entity bias existed: no bias
            return
        super().load_own_variables(store)

    def scores(self, inputs):
        """Tag scores ``[batch, words, tags]`` in inference mode."""
        return self.encoder(_ordered(self.encoder, inputs), training=False)

    def best_tags(self, scores, mask):
        """The best tag ids for ``scores`` (0 where ``mask`` is False)."""
        raise NotImplementedError

    def decode(self, inputs):
        """Tag ids of a batch of features, the entity bias applied."""
        mask = keras.ops.not_equal(inputs["word_ids"], 0)
        return self.best_tags(self.scores(inputs) + self.decode_bias, mask)

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
        }


@keras.saving.register_keras_serializable(package="recipes")
class CRFTagger(_Tagger):
    """Trained by the CRF's negative log-likelihood; :meth:`decode` gives the Viterbi
    tags."""

    def __init__(self, encoder: keras.Model, crf: cl.CRF, **kwargs):
        super().__init__(encoder, **kwargs)
        self.crf = crf
        if not crf.built:  # its weights exist before training starts
            crf.build((None, None, encoder.output.shape[-1]))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        mask = keras.ops.not_equal(y, 0)
        nll = -self.crf.log_likelihood(y_pred, y, mask)
        return keras.ops.mean(nll) + sum(self.losses)

    def best_tags(self, scores, mask):
        return self.crf.viterbi(scores, mask)[0]

    def get_config(self):
        return {**super().get_config(), "crf": keras.saving.serialize_keras_object(self.crf)}

    @classmethod
    def from_config(cls, config):
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        crf = keras.saving.deserialize_keras_object(config.pop("crf"))
        return cls(encoder, crf, **config)


@keras.saving.register_keras_serializable(package="recipes")
class SoftmaxTagger(_Tagger):
    """Trained by per-token cross-entropy; argmax decoding."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
        return loss(y, y_pred) + sum(self.losses)

    def best_tags(self, scores, mask):
        scores = keras.ops.concatenate([scores[..., :1] + cl.MASKED, scores[..., 1:]], axis=-1)
        ids = keras.ops.argmax(scores, axis=-1)
        return keras.ops.cast(ids, "int32") * keras.ops.cast(mask, "int32")

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config.pop("encoder")), **config)
