"""Builders and comparisons shared by the layer tests."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

import custom_layers as cl

# name -> (ours, Keras twin, extra constructor arguments)
TWINS = {
    "lstm": (cl.LSTM, keras.layers.LSTM, {}),
    "gru": (cl.GRU, keras.layers.GRU, {"reset_after": True}),
    "gru_reset_before": (cl.GRU, keras.layers.GRU, {"reset_after": False}),
    "simple_tanh": (cl.SimpleRNN, keras.layers.SimpleRNN, {"activation": "tanh"}),
    "simple_relu": (cl.SimpleRNN, keras.layers.SimpleRNN, {"activation": "relu"}),
}
N_STATES = {"lstm": 2}

ATOL = 1e-5


def random_weights(layer: keras.layers.Layer, rng: np.random.Generator, scale: float = 0.5):
    """Random (never constant) weights of ``layer``'s shapes."""
    return [(scale * rng.standard_normal(w.shape)).astype(w.dtype) for w in layer.get_weights()]


def twin_pair(name: str, input_shape, rng, **options):
    """Builds our layer and its Keras twin with the same random weights."""
    ours_cls, theirs_cls, extra = TWINS[name]
    kwargs = {**extra, **options}
    implementation = kwargs.pop("implementation", "auto")
    theirs = theirs_cls(4, **kwargs)
    ours = ours_cls(4, implementation=implementation, **kwargs)
    theirs.build(input_shape)
    ours.build(input_shape)
    theirs.set_weights(random_weights(theirs, rng))
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def outputs_and_grads(layer, inputs, watched, coefficients, **call_kwargs):
    """Outputs of ``layer`` and gradients of a random linear read-out of them.

    Gradients are taken with respect to every tensor in ``watched`` and every
    trainable weight of ``layer`` (or of its wrapper).
    """
    weights = layer.trainable_weights
    with tf.GradientTape() as tape:
        tape.watch(watched)
        out = layer(inputs, **call_kwargs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        loss = tf.add_n(
            [tf.reduce_sum(o * c[: o.shape[0]]) for o, c in zip(outs, coefficients, strict=False)]
        )
    grads = tape.gradient(loss, [*watched, *weights])
    return [np.asarray(o) for o in outs], [np.asarray(g) for g in grads]


def read_out_coefficients(rng, shapes):
    return [tf.constant(rng.standard_normal(s).astype("float32")) for s in shapes]


def assert_all_close(ours, theirs, atol=ATOL, what=""):
    assert len(ours) == len(theirs), f"{what}: {len(ours)} tensors vs {len(theirs)}"
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        np.testing.assert_allclose(a, b, atol=atol, rtol=0, err_msg=f"{what} #{i}")
