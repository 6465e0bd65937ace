"""The sentiment classifier's own layers: lexicon polarities (negations reversed), their
sums, unknown words' vectors zeroed, and a max over the steps a mask keeps."""

from __future__ import annotations

import keras

import custom_layers as cl


@keras.saving.register_keras_serializable(package="recipes")
class NegatedPolarity(keras.layers.Layer):
    """``[B, T, 2]`` lexicon entries (polarity, negates) -> ``[B, T, 1]`` polarities, each
    multiplied by ``factor`` when one of the ``window`` words before it negates (VADER's
    rule: -0.74 over three words). The words' mask passes through."""

    def __init__(self, window: int = 3, factor: float = -0.74, **kwargs):
        super().__init__(**kwargs)
        self.window, self.factor = window, factor
        self.supports_masking = True

    def call(self, entries):
        polarity, negates = entries[..., 0], entries[..., 1]
        steps = keras.ops.shape(negates)[1]
        before = keras.ops.zeros_like(negates)
        for k in range(1, self.window + 1):
            shifted = keras.ops.pad(negates, [[0, 0], [k, 0]])[:, :steps]
            before = before + shifted
        negated = keras.ops.where(before > 0, self.factor * polarity, polarity)
        return negated[..., None]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)

    def get_config(self):
        return {**super().get_config(), "window": self.window, "factor": self.factor}


@keras.saving.register_keras_serializable(package="recipes")
class ZeroUnknown(keras.layers.Layer):
    """``[word vectors [B, T, D], token ids [B, T]]`` -> the word vectors, those of
    out-of-vocabulary words (id ``unknown``, 1 in TextVectorization) set to 0: the vector
    a dropped word has in training (``word_dropout``). The vectors' mask passes through."""

    def __init__(self, unknown: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.unknown = unknown
        self.supports_masking = True

    def call(self, inputs):
        vectors, ids = inputs
        known = keras.ops.cast(keras.ops.not_equal(ids, self.unknown), vectors.dtype)
        return vectors * known[..., None]

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def compute_mask(self, inputs, mask=None):
        return None if mask is None else mask[0]

    def get_config(self):
        return {**super().get_config(), "unknown": self.unknown}


@keras.saving.register_keras_serializable(package="recipes")
class PolaritySums(keras.layers.Layer):
    """``[B, T, 1]`` word polarities -> ``[B, 2]``: the sums of the positive ones and of
    the negative ones (padding and unknown words have polarity 0)."""

    def call(self, polarity, mask=None):  # padding has polarity 0: the mask adds nothing
        polarity = polarity[..., 0]
        return keras.ops.stack(
            [
                keras.ops.sum(keras.ops.relu(polarity), axis=1),
                keras.ops.sum(keras.ops.relu(-polarity), axis=1),
            ],
            axis=-1,
        )

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2)

    def compute_mask(self, inputs, mask=None):
        return None


@keras.saving.register_keras_serializable(package="recipes")
class MaskedMaxPooling(keras.layers.Layer):
    """Max over the steps that the mask keeps (padding never wins)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = keras.ops.where(mask[:, :, None], inputs, cl.MASKED)
        return keras.ops.max(inputs, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None
