"""The translator's training loss: cross-entropy over the target tokens, padding left
out, with label smoothing (``label_smoothing``)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="recipes")
class SmoothedCrossEntropy(keras.losses.Loss):
    """Cross-entropy of logits against token ids, averaged over the tokens that are not
    ``ignore_class`` in the batch (as ``SparseCategoricalCrossentropy(ignore_class=...)``
    averages), with label smoothing: the target is ``1 - smoothing`` on the reference
    token and ``smoothing`` spread evenly over the whole vocabulary (Szegedy et al.,
    2016; Vaswani et al., 2017 use 0.1).

    Each row's loss is its tokens' sum times the rows over the batch's tokens, so that
    the mean over the rows (the reduction, which also scales for a distribution
    strategy) is the mean over the batch's tokens.
    """

    def __init__(self, smoothing: float = 0.1, ignore_class: int = 0, name: str = "smoothed_ce",
                 **kwargs):  # fmt: skip
        kwargs["reduction"] = "sum_over_batch_size"
        super().__init__(name=name, **kwargs)
        self.smoothing, self.ignore_class = float(smoothing), int(ignore_class)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        log_p = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        reference = -ops.squeeze(ops.take_along_axis(log_p, y_true[..., None], axis=-1), -1)
        uniform = -ops.mean(log_p, axis=-1)
        token = (1.0 - self.smoothing) * reference + self.smoothing * uniform
        kept = ops.cast(ops.not_equal(y_true, self.ignore_class), "float32")
        rows = ops.cast(ops.shape(y_true)[0], "float32")
        return ops.sum(token * kept, axis=-1) * rows / ops.maximum(ops.sum(kept), 1.0)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("reduction", None)
        return {**config, "smoothing": self.smoothing, "ignore_class": self.ignore_class}
