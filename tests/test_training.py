"""Shared training machinery: the weight average callback."""

import keras
import numpy as np

from recipes.core.training import WeightAverage


class Probe(keras.callbacks.Callback):
    """Records the trainable weights after every step and at epoch ends and starts."""

    def __init__(self):
        super().__init__()
        self.steps, self.ends, self.starts = [], [], []

    def _weights(self):
        return [v.numpy().copy() for v in self.model.trainable_variables]

    def on_train_begin(self, logs=None):
        self.initial = self._weights()

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(self._weights())

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(self._weights())

    def on_epoch_begin(self, epoch, logs=None):
        self.starts.append(self._weights())


def test_weight_average_is_seen_at_epoch_ends_and_training_goes_on_from_its_own_weights():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    raw, seen = Probe(), Probe()
    momentum = 0.6
    # raw: before the average (its step weights are the model's own); seen: after it
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        shuffle=False,
        callbacks=[raw, WeightAverage(momentum), seen],
    )
    average = raw.initial
    expected_ends = []
    for step, weights in enumerate(raw.steps, start=1):
        average = [momentum * a + (1 - momentum) * w for a, w in zip(average, weights, strict=True)]
        if step % 5 == 0:  # 40 examples / 8 per batch
            expected_ends.append(average)
    assert len(seen.ends) == 2
    for got, want in zip(seen.ends, expected_ends, strict=True):
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    # the second epoch starts from the model's own last weights, not the average
    for g, w in zip(seen.starts[1], raw.steps[4], strict=True):
        np.testing.assert_array_equal(g, w)
    assert not np.allclose(seen.ends[0][0], raw.steps[4][0])
