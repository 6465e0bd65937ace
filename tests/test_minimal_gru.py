"""MinimalGRU against a NumPy transcription of its equations (values and gradients).

Every ``implementation`` the layer takes is checked: each exact formulation, Keras's
integers (1 = per gate, 2 = fused) and ``"auto"`` (the device's and compiler's choice).
"""

import functools
import itertools

import numpy as np
import pytest
import tensorflow as tf

import custom_layers as cl

B, T, D, H = 2, 5, 3, 3
IMPLEMENTATIONS = ["auto", 1, 2, *cl.FORMULATIONS]
MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def numpy_minimal_gru(x, kernel, recurrent_kernel, bias, c0, mask=None, go_backwards=False):
    """The textbook equations, step by step, in float64.

    Γu = σ(W_uc c + W_ux x + b_u);  c~ = tanh(W_cc c + W_cx x + b_c);
    c_t = Γu*c~ + (1-Γu)*c_{t-1}; kernel columns [u | c~]. Masked steps keep c and
    repeat the previous output, as Keras does.
    """
    W_ux, W_cx = kernel[:, :H], kernel[:, H:]
    W_uc, W_cc = recurrent_kernel[:, :H], recurrent_kernel[:, H:]
    b_u, b_c = bias[:H], bias[H:]
    steps = list(range(x.shape[1]))[::-1] if go_backwards else list(range(x.shape[1]))
    c, out, outputs = c0, np.zeros_like(c0), []
    for t in steps:
        x_t = x[:, t]
        gamma_u = sigmoid(c @ W_uc + x_t @ W_ux + b_u)
        c_tilde = np.tanh(c @ W_cc + x_t @ W_cx + b_c)
        c_new = gamma_u * c_tilde + (1 - gamma_u) * c
        if mask is not None:
            keep = mask[:, t : t + 1]
            c_new = np.where(keep, c_new, c)
            out = np.where(keep, c_new, out)
        else:
            out = c_new
        c = c_new
        outputs.append(out)
    return np.stack(outputs, axis=1), c


def make_case(seed):
    rng = np.random.default_rng(seed)
    return dict(
        x=rng.standard_normal((B, T, D)),
        kernel=rng.standard_normal((D, 2 * H)) * 0.7,
        recurrent_kernel=rng.standard_normal((H, 2 * H)) * 0.7,
        bias=rng.standard_normal(2 * H) * 0.3,
        c0=rng.standard_normal((B, H)) * 0.5,
    )


def make_layer(case, implementation, **kwargs):
    layer = cl.MinimalGRU(
        H, return_sequences=True, return_state=True, implementation=implementation, **kwargs
    )
    layer.build((None, None, D))
    layer.set_weights([case["kernel"], case["recurrent_kernel"], case["bias"]])
    return layer


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "go_backwards,with_mask", list(itertools.product([False, True], [False, True]))
)
def test_values_match_numpy(implementation, go_backwards, with_mask):
    case = make_case(0)
    mask = MASK if with_mask else None
    ref_seq, ref_c = numpy_minimal_gru(**case, mask=mask, go_backwards=go_backwards)
    layer = make_layer(case, implementation, go_backwards=go_backwards)
    seq, c = layer(
        case["x"].astype("float32"),
        initial_state=[case["c0"].astype("float32")],
        mask=None if mask is None else tf.constant(mask),
    )
    np.testing.assert_allclose(seq, ref_seq, atol=1e-5, rtol=0)
    np.testing.assert_allclose(c, ref_c, atol=1e-5, rtol=0)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_values_match_numpy_under_xla(implementation):
    """Compiled with XLA ("auto" picks another formulation there than eagerly)."""
    case = make_case(3)
    ref_seq, ref_c = numpy_minimal_gru(**case, mask=MASK, go_backwards=True)
    layer = make_layer(case, implementation, go_backwards=True)
    compiled = tf.function(lambda x, c0, m: layer(x, initial_state=[c0], mask=m), jit_compile=True)
    seq, c = compiled(
        tf.constant(case["x"], "float32"), tf.constant(case["c0"], "float32"), tf.constant(MASK)
    )
    np.testing.assert_allclose(seq, ref_seq, atol=1e-5, rtol=0)
    np.testing.assert_allclose(c, ref_c, atol=1e-5, rtol=0)


GRADIENT_NAMES = ["x", "c0", "kernel", "recurrent_kernel", "bias"]


def numpy_loss(read_out, **params):
    seq, c = numpy_minimal_gru(**params, mask=MASK)
    return np.sum(seq * read_out) + np.sum(c)


@functools.cache
def numpy_gradients():
    """The case, its read-out, the NumPy loss and its central differences, once."""
    case = make_case(1)
    read_out = np.random.default_rng(2).standard_normal((B, T, H))
    eps = 1e-6
    numeric = {}
    for name in GRADIENT_NAMES:
        numeric[name] = np.zeros_like(case[name])
        for index in np.ndindex(case[name].shape):
            plus, minus = dict(case), dict(case)
            plus[name] = case[name].copy()
            minus[name] = case[name].copy()
            plus[name][index] += eps
            minus[name][index] -= eps
            difference = numpy_loss(read_out, **plus) - numpy_loss(read_out, **minus)
            numeric[name][index] = difference / (2 * eps)
    return case, read_out, numpy_loss(read_out, **case), numeric


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_gradients_match_numpy_finite_differences(implementation):
    """Gradients of our float64 layer against central differences of the NumPy equations."""
    case, read_out, loss_ref, numeric = numpy_gradients()
    layer = make_layer(case, implementation, dtype="float64")
    x, c0 = tf.constant(case["x"]), tf.constant(case["c0"])
    with tf.GradientTape() as tape:
        tape.watch([x, c0])
        seq, c = layer(x, initial_state=[c0], mask=tf.constant(MASK))
        loss = tf.reduce_sum(seq * read_out) + tf.reduce_sum(c)
    grads = tape.gradient(loss, [x, c0, *layer.trainable_weights])
    np.testing.assert_allclose(float(loss), loss_ref, atol=1e-10)
    for name, grad in zip(GRADIENT_NAMES, grads, strict=True):
        np.testing.assert_allclose(np.asarray(grad), numeric[name], atol=1e-6, err_msg=name)


def test_memory_is_kept_when_update_gate_is_closed():
    """With Γu ≈ 0 the cell keeps c_{t-1}; the typo'd Γu*c~ + Γu*c_{t-1} would erase it."""
    layer = cl.MinimalGRU(H, return_state=True)
    layer.build((None, None, D))
    kernel = np.zeros((D, 2 * H))
    bias = np.concatenate([np.full(H, -30.0), np.zeros(H)])  # Γu = σ(-30)
    layer.set_weights([kernel, np.random.default_rng(0).standard_normal((H, 2 * H)), bias])
    c0 = np.random.default_rng(1).standard_normal((B, H)).astype("float32")
    _, c = layer(np.ones((B, T, D), "float32"), initial_state=[c0])
    np.testing.assert_allclose(c, c0, atol=1e-6)
