"""On a GPU: our layers compiled with XLA equal Keras's cuDNN layers (skipped without a GPU)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import TWINS

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_xla_on_gpu_matches_cudnn(name):
    rng = np.random.default_rng(0)
    ours_cls, theirs_cls, extra = TWINS[name]
    with tf.device("/GPU:0"):
        theirs = theirs_cls(32, return_sequences=True, **extra)
        ours = ours_cls(32, return_sequences=True, **extra)
        theirs.build((None, None, 16))
        ours.build((None, None, 16))
        theirs.set_weights([0.5 * rng.standard_normal(w.shape) for w in theirs.get_weights()])
        ours.set_weights(theirs.get_weights())
        x = tf.constant(rng.standard_normal((8, 20, 16)).astype("float32"))
        compiled = tf.function(lambda v: ours(v), jit_compile=True)
        np.testing.assert_allclose(compiled(x), theirs(x), atol=1e-4, rtol=0)


def test_model_trains_as_one_xla_program_on_gpu():
    import custom_layers as cl

    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(50, 16, mask_zero=True)(inputs)
    x = keras.layers.Bidirectional(cl.LSTM(32, return_sequences=True))(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(cl.GRU(32)(x)))
    model.compile("adam", "mse", jit_compile=True)
    ids = np.random.default_rng(0).integers(1, 50, size=(64, 12))
    history = model.fit(ids, np.ones((64, 1)), epochs=2, verbose=0)
    assert model.jit_compile is True
    assert np.isfinite(history.history["loss"][-1])
