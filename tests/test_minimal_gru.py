"""MinimalGRU against a NumPy transcription of its equations (values and gradients)."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

import custom_layers as cl

B, T, D, H = 2, 5, 3, 3


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


@pytest.mark.parametrize(
    "go_backwards,with_mask", list(itertools.product([False, True], [False, True]))
)
def test_values_match_numpy(go_backwards, with_mask):
    case = make_case(0)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool) if with_mask else None
    ref_seq, ref_c = numpy_minimal_gru(**case, mask=mask, go_backwards=go_backwards)
    layer = cl.MinimalGRU(H, return_sequences=True, return_state=True, go_backwards=go_backwards)
    layer.build((None, None, D))
    layer.set_weights([case["kernel"], case["recurrent_kernel"], case["bias"]])
    seq, c = layer(
        case["x"].astype("float32"),
        initial_state=[case["c0"].astype("float32")],
        mask=None if mask is None else tf.constant(mask),
    )
    np.testing.assert_allclose(seq, ref_seq, atol=1e-5, rtol=0)
    np.testing.assert_allclose(c, ref_c, atol=1e-5, rtol=0)


def test_gradients_match_numpy_finite_differences():
    """Gradients of our float64 layer against central differences of the NumPy equations."""
    case = make_case(1)
    rng = np.random.default_rng(2)
    read_out = rng.standard_normal((B, T, H))

    def numpy_loss(**params):
        seq, c = numpy_minimal_gru(**params)
        return np.sum(seq * read_out) + np.sum(c)

    layer = cl.MinimalGRU(H, return_sequences=True, return_state=True, dtype="float64")
    layer.build((None, None, D))
    layer.set_weights([case["kernel"], case["recurrent_kernel"], case["bias"]])
    x, c0 = tf.constant(case["x"]), tf.constant(case["c0"])
    with tf.GradientTape() as tape:
        tape.watch([x, c0])
        seq, c = layer(x, initial_state=[c0])
        loss = tf.reduce_sum(seq * read_out) + tf.reduce_sum(c)
    grads = tape.gradient(loss, [x, c0, *layer.trainable_weights])
    np.testing.assert_allclose(float(loss), numpy_loss(**case), atol=1e-10)

    eps = 1e-6
    for name, grad in zip(["x", "c0", "kernel", "recurrent_kernel", "bias"], grads, strict=True):
        numeric = np.zeros_like(case[name])
        for index in np.ndindex(case[name].shape):
            plus, minus = dict(case), dict(case)
            plus[name] = case[name].copy()
            minus[name] = case[name].copy()
            plus[name][index] += eps
            minus[name][index] -= eps
            numeric[index] = (numpy_loss(**plus) - numpy_loss(**minus)) / (2 * eps)
        np.testing.assert_allclose(np.asarray(grad), numeric, atol=1e-6, err_msg=name)


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
