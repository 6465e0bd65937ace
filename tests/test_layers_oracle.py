"""Our layers against Keras's own, weight for weight: outputs, states and gradients."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

import custom_layers as cl
from tests.helpers import (
    N_STATES,
    TWINS,
    assert_all_close,
    outputs_and_grads,
    read_out_coefficients,
    twin_pair,
)

B, T, D, H, VOCAB = 3, 6, 5, 4, 11
OPTIONS = list(itertools.product([False, True], repeat=5))


def right_padded_ids(rng):
    """Token ids with right padding (0 = padding), lengths 6, 4 and 1."""
    ids = rng.integers(1, VOCAB, size=(B, T))
    for row, length in enumerate([T, 4, 1]):
        ids[row, length:] = 0
    return ids


@pytest.mark.parametrize("formulation", cl.FORMULATIONS)
@pytest.mark.parametrize("name", sorted(TWINS))
@pytest.mark.parametrize(
    "return_sequences,return_state,go_backwards,with_initial_state,with_mask", OPTIONS
)
def test_matches_keras(
    name, formulation, return_sequences, return_state, go_backwards, with_initial_state, with_mask
):
    rng = np.random.default_rng(7)
    options = dict(
        return_sequences=return_sequences,
        return_state=return_state,
        go_backwards=go_backwards,
        implementation=formulation,
    )
    ours, theirs = twin_pair(name, (None, None, D), rng, **options)
    if with_mask:
        embedding = keras.layers.Embedding(VOCAB, D, mask_zero=True)
        ids = right_padded_ids(rng)
        x = embedding(ids)
        mask = embedding.compute_mask(ids)
    else:
        x = tf.constant(rng.standard_normal((B, T, D)).astype("float32"))
        mask = None
    n_states = N_STATES.get(name, 1)
    init = [tf.constant(rng.standard_normal((B, H)).astype("float32")) for _ in range(n_states)]
    kwargs = {"mask": mask}
    if with_initial_state:
        kwargs["initial_state"] = init
    watched = [x, *init] if with_initial_state else [x]
    out_shape = (B, T, H) if return_sequences else (B, H)
    coefficients = read_out_coefficients(rng, [out_shape] + [(B, H)] * n_states)

    ours_out, ours_grads = outputs_and_grads(ours, x, watched, coefficients, **kwargs)
    theirs_out, theirs_grads = outputs_and_grads(theirs, x, watched, coefficients, **kwargs)
    assert len(ours_out) == (1 + n_states if return_state else 1)
    assert_all_close(ours_out, theirs_out, what="outputs")
    assert_all_close(ours_grads, theirs_grads, what="gradients")
    # the gradients are not trivially zero
    assert all(np.abs(g).max() > 0 for g in ours_grads)


@pytest.mark.parametrize("name", sorted(TWINS))
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_matches_keras(name, merge_mode):
    rng = np.random.default_rng(3)
    ours_cls, theirs_cls, extra = TWINS[name]
    ours = keras.layers.Bidirectional(
        ours_cls(H, return_sequences=True, **extra), merge_mode=merge_mode
    )
    theirs = keras.layers.Bidirectional(
        theirs_cls(H, return_sequences=True, **extra), merge_mode=merge_mode
    )
    embedding = keras.layers.Embedding(VOCAB, D, mask_zero=True)
    ids = right_padded_ids(rng)
    x, mask = embedding(ids), embedding.compute_mask(ids)
    theirs(x)
    ours(x)
    theirs.set_weights([0.5 * rng.standard_normal(w.shape) for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    n_out = 2 if merge_mode is None else 1
    width = 2 * H if merge_mode == "concat" else H
    coefficients = read_out_coefficients(rng, [(B, T, width)] * n_out)
    ours_out, ours_grads = outputs_and_grads(ours, x, [x], coefficients, mask=mask)
    theirs_out, theirs_grads = outputs_and_grads(theirs, x, [x], coefficients, mask=mask)
    assert_all_close(ours_out, theirs_out, what="outputs")
    assert_all_close(ours_grads, theirs_grads, what="gradients")


@pytest.mark.parametrize("name", sorted(TWINS))
def test_stateful_matches_keras(name):
    rng = np.random.default_rng(5)
    ours, theirs = twin_pair(name, (B, None, D), rng, stateful=True, return_sequences=True)
    chunks = [rng.standard_normal((B, T, D)).astype("float32") for _ in range(3)]
    for chunk in chunks:
        assert_all_close([ours(chunk)], [theirs(chunk)], what="stateful chunk")
    # carried state really matters: a fresh pass over the last chunk differs
    carried = np.asarray(ours(chunks[0]))
    ours.reset_state()
    theirs.reset_state()
    fresh = np.asarray(ours(chunks[0]))
    assert np.abs(carried - fresh).max() > 1e-3
    assert_all_close([fresh], [theirs(chunks[0])], what="after reset_state")


@pytest.mark.parametrize(
    "name,options",
    [
        ("lstm", {"use_bias": False}),
        ("lstm", {"recurrent_activation": "hard_sigmoid", "activation": "relu"}),
        ("lstm", {"unit_forget_bias": False}),
        ("gru", {"use_bias": False}),
        ("gru_reset_before", {"use_bias": False, "recurrent_activation": "tanh"}),
        ("simple_tanh", {"use_bias": False}),
    ],
)
def test_options_match_keras(name, options):
    rng = np.random.default_rng(11)
    ours, theirs = twin_pair(name, (None, None, D), rng, return_sequences=True, **options)
    x = tf.constant(rng.standard_normal((B, T, D)).astype("float32"))
    coefficients = read_out_coefficients(rng, [(B, T, H)])
    ours_out, ours_grads = outputs_and_grads(ours, x, [x], coefficients)
    theirs_out, theirs_grads = outputs_and_grads(theirs, x, [x], coefficients)
    assert_all_close(ours_out, theirs_out, what="outputs")
    assert_all_close(ours_grads, theirs_grads, what="gradients")


@pytest.mark.parametrize("name", sorted(TWINS))
def test_unknown_batch_and_length_and_inference_mode(name):
    """Symbolic ``(None, None, D)`` input; dropout is inert outside training."""
    rng = np.random.default_rng(2)
    ours_cls, theirs_cls, extra = TWINS[name]
    inputs = keras.Input((None, D))
    ours = keras.Model(inputs, ours_cls(H, dropout=0.3, recurrent_dropout=0.3, **extra)(inputs))
    theirs = keras.Model(inputs, theirs_cls(H, **extra)(inputs))
    theirs.set_weights([0.5 * rng.standard_normal(w.shape) for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    for batch, steps in [(1, 3), (4, 9)]:
        x = rng.standard_normal((batch, steps, D)).astype("float32")
        np.testing.assert_allclose(ours(x, training=False), theirs(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("cls", [cl.LSTM, cl.GRU, cl.SimpleRNN, cl.MinimalGRU])
def test_dropout_in_training(cls):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, T, D)).astype("float32")
    layer = cls(H, dropout=0.5, recurrent_dropout=0.5, seed=1)
    inference = np.asarray(layer(x, training=False))
    first = np.asarray(layer(x, training=True))
    second = np.asarray(layer(x, training=True))
    assert np.all(np.isfinite(first))
    assert np.abs(first - inference).max() > 1e-3
    assert np.abs(first - second).max() > 1e-3  # a new mask per call
    # one input mask per sequence: with every input dropped the output equals that of zeros
    all_dropped = cls(H, dropout=0.999999, seed=2)
    all_dropped.build((None, None, D))
    all_dropped.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        all_dropped(x, training=True), all_dropped(np.zeros_like(x)), atol=1e-6
    )


def test_regularizers_and_constraints_take_effect():
    layer = cl.LSTM(
        H,
        kernel_regularizer="l2",
        recurrent_regularizer="l1",
        bias_regularizer="l2",
        kernel_constraint=keras.constraints.MaxNorm(0.1),
    )
    inputs = keras.Input((T, D))
    model = keras.Model(inputs, keras.layers.Dense(1)(layer(inputs)))
    model.compile("sgd", "mse")
    assert len(model.losses) == 3
    x = np.random.default_rng(0).standard_normal((8, T, D)).astype("float32")
    model.fit(x, np.ones((8, 1)), epochs=1, verbose=0)
    norms = np.sqrt(np.sum(np.square(layer.cell.kernel.numpy()), axis=0))
    assert norms.max() <= 0.1 + 1e-6


def test_unit_forget_bias_initialization():
    layer = cl.LSTM(H, bias_initializer="zeros")
    layer.build((None, None, D))
    bias = layer.cell.bias.numpy()
    np.testing.assert_array_equal(bias[H : 2 * H], np.ones(H))
    np.testing.assert_array_equal(np.delete(bias, np.s_[H : 2 * H]), np.zeros(3 * H))


@pytest.mark.parametrize("name", sorted(TWINS))
@pytest.mark.parametrize("padding", ["left", "holes", "fully_masked_row"])
def test_any_mask_matches_keras(name, padding):
    """Right padding is not required: any mask gives Keras's generic-loop result."""
    rng = np.random.default_rng(9)
    ours, theirs = twin_pair(name, (None, None, D), rng, return_sequences=True, return_state=True)
    x = tf.constant(rng.standard_normal((B, T, D)).astype("float32"))
    mask = np.ones((B, T), bool)
    if padding == "left":
        mask[1, :2] = mask[2, :5] = False
    elif padding == "holes":
        mask[0, [1, 4]] = mask[2, [0, 2, 3]] = False
    else:
        mask[1, :] = False
    n_states = N_STATES.get(name, 1)
    coefficients = read_out_coefficients(rng, [(B, T, H)] + [(B, H)] * n_states)
    ours_out, ours_grads = outputs_and_grads(ours, x, [x], coefficients, mask=tf.constant(mask))
    theirs_out, theirs_grads = outputs_and_grads(
        theirs, x, [x], coefficients, mask=tf.constant(mask)
    )
    assert_all_close(ours_out, theirs_out, what="outputs")
    assert_all_close(ours_grads, theirs_grads, what="gradients")


@pytest.mark.parametrize("formulation", cl.FORMULATIONS)
def test_wide_simple_rnn_matches_keras(formulation):
    """A wider layer (64 units) in every formulation, with a mask."""
    rng = np.random.default_rng(12)
    theirs = keras.layers.SimpleRNN(64, return_sequences=True)
    ours = cl.SimpleRNN(64, return_sequences=True, implementation=formulation)
    theirs.build((None, None, D))
    ours.build((None, None, D))
    theirs.set_weights([0.2 * rng.standard_normal(w.shape) for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    x = tf.constant(rng.standard_normal((B, T, D)).astype("float32"))
    mask = tf.constant(np.arange(T)[None, :] < np.array([[6], [3], [1]]))
    coefficients = read_out_coefficients(rng, [(B, T, 64)])
    ours_out, ours_grads = outputs_and_grads(ours, x, [x], coefficients, mask=mask)
    theirs_out, theirs_grads = outputs_and_grads(theirs, x, [x], coefficients, mask=mask)
    assert_all_close(ours_out, theirs_out, what="outputs")
    assert_all_close(ours_grads, theirs_grads, what="gradients")
