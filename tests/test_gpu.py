"""Our layers compiled with XLA against Keras's cuDNN layers, and a whole model as one XLA
program.

The tests marked ``gpu`` skip themselves when TensorFlow sees no GPU (tests/conftest.py).
The comparisons are functions of a device string: on ``/GPU:0`` Keras runs cuDNN
(``use_cudnn=True``, so it raises rather than silently falling back, and the traced graph
must hold a ``CudnnRNNV3`` op); on ``/CPU:0`` the same code compares with Keras's generic
loop, which the one CPU test here does for the XLA-compiled forward and backward pass
(tests/test_layers_oracle.py compares the eager layers).
"""

from __future__ import annotations

import contextlib
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import custom_layers as cl
from tests.helpers import N_STATES, TWINS, random_weights, read_out_coefficients

B, T, D, H = 8, 20, 16, 32
#: right-padded lengths, none empty: cuDNN takes no other masks
LENGTHS = [20, 17, 9, 1, 20, 3, 12, 6]
#: case -> (masked, go_backwards)
CASES = {"full_length": (False, False), "masked": (True, False), "masked_backwards": (True, True)}
#: Tolerance, relative to the largest magnitude of each compared tensor (at least 1).
#: With TF32 off (see ``exact_float32``) both sides compute in float32 and differ only in
#: summation order: cuDNN's fused GEMMs against XLA's dots, over 20 steps and, for the
#: weight gradients, over batch x steps = 160 terms. Float32 rounding of that is of order
#: 1e-6; a swapped gate, a lost bias or a wrong masked step is of order 1e-1.
REL = 1e-4
GPU = "/GPU:0"


@contextlib.contextmanager
def exact_float32():
    """TF32 off for the block: on Ampere and later, TensorFlow by default runs float32
    matmuls (cuBLAS, cuDNN's RNN, XLA's dots) with 10-bit mantissas, errors near 1e-3."""
    before = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    try:
        yield
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(before)


def op_types(concrete: tf.types.experimental.ConcreteFunction) -> set[str]:
    """Types of the ops of a traced function, its nested functions included."""
    graph_def = concrete.graph.as_graph_def()
    nodes = list(graph_def.node)
    for function in graph_def.library.function:
        nodes += function.node_def
    return {node.op for node in nodes}


def twins_on(name: str, device: str, go_backwards: bool, masked: bool):
    """Our layer and Keras's, built on ``device`` with the same random weights.

    On a GPU Keras's layer is made with ``use_cudnn=True``: it raises instead of falling
    back to its generic loop. Masked cases output zeros at padded steps on both sides, as
    cuDNN does whatever ``zero_output_for_mask`` says.
    """
    rng = np.random.default_rng(20)
    ours_cls, theirs_cls, extra = TWINS[name]
    options = dict(
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
        zero_output_for_mask=masked,
        **extra,
    )
    with tf.device(device):
        theirs = theirs_cls(H, use_cudnn=device.upper().startswith("/GPU"), **options)
        ours = ours_cls(H, **options)
        theirs.build((None, None, D))
        ours.build((None, None, D))
        theirs.set_weights(random_weights(theirs, rng, scale=0.25))
        ours.set_weights(theirs.get_weights())
    return ours, theirs


def sequence_inputs(name: str, masked: bool):
    """Inputs, initial states, mask (or None) and read-out coefficients, seeded."""
    rng = np.random.default_rng(21)
    n_states = N_STATES.get(name, 1)
    x = tf.constant(rng.standard_normal((B, T, D)).astype("float32"))
    states = [tf.constant(rng.standard_normal((B, H)).astype("float32")) for _ in range(n_states)]
    mask = tf.constant(np.arange(T)[None, :] < np.array(LENGTHS)[:, None]) if masked else None
    coefficients = read_out_coefficients(rng, [(B, T, H)] + [(B, H)] * n_states)
    return x, states, mask, coefficients


def forward_and_gradients(layer, x, states, mask, coefficients, jit: bool):
    """Outputs (sequence, final states) and the gradients of a random linear read-out
    of them with respect to the inputs, the initial states and the layer's weights, all
    in one traced function (``jit``: compiled with XLA). Returns them and the trace."""

    def run(x, states, mask):
        with tf.GradientTape() as tape:
            tape.watch([x, *states])
            outputs = layer(x, initial_state=list(states), mask=mask)
            loss = tf.add_n(
                [tf.reduce_sum(o * c) for o, c in zip(outputs, coefficients, strict=True)]
            )
        return outputs, tape.gradient(loss, [x, *states, *layer.trainable_weights])

    function = tf.function(run, jit_compile=jit)
    outputs, grads = function(x, states, mask)
    concrete = function.get_concrete_function(x, states, mask)
    return [np.asarray(o) for o in outputs], [np.asarray(g) for g in grads], concrete


def assert_close(ours: list, theirs: list, what: str) -> None:
    assert len(ours) == len(theirs), f"{what}: {len(ours)} tensors against {len(theirs)}"
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=REL, atol=REL * scale, err_msg=f"{what} #{i}")


def compare_with_keras(name: str, case: str, device: str) -> set[str]:
    """Our layer under ``jit_compile=True`` against Keras's layer (not compiled) on
    ``device``: outputs, final states and gradients (inputs, initial states, weights).
    Returns the op types of Keras's traced function."""
    masked, go_backwards = CASES[case]
    ours, theirs = twins_on(name, device, go_backwards, masked)
    x, states, mask, coefficients = sequence_inputs(name, masked)
    with exact_float32(), tf.device(device):
        ours_out, ours_grads, _ = forward_and_gradients(ours, x, states, mask, coefficients, True)
        theirs_out, theirs_grads, traced = forward_and_gradients(
            theirs, x, states, mask, coefficients, False
        )
    assert_close(ours_out, theirs_out, f"{name} {case} outputs and final states")
    assert_close(ours_grads, theirs_grads, f"{name} {case} gradients")
    assert all(np.abs(g).max() > 1e-3 for g in theirs_grads)  # none trivially zero
    if masked:  # the padded steps' outputs (first in time for a backward pass) are zeros
        padded = np.arange(T)[None, :] >= np.array(LENGTHS)[:, None]
        assert np.all(ours_out[0][padded[:, ::-1] if go_backwards else padded] == 0)
    return op_types(traced)


@pytest.mark.gpu
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_xla_layer_matches_cudnn(name, case):
    ops = compare_with_keras(name, case, GPU)
    assert "CudnnRNNV3" in ops, f"Keras did not run cuDNN: {sorted(ops)}"


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_xla_layer_matches_keras_on_cpu(name):
    """The same comparison on the CPU, against Keras's generic loop (no cuDNN op)."""
    ops = compare_with_keras(name, "masked_backwards", "/CPU:0")
    assert not any("Cudnn" in op for op in ops)


def masked_model(recurrent) -> keras.Model:
    """Embedding (mask_zero) -> Bidirectional LSTM -> GRU -> Dense, of ``recurrent``."""
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(50, 16, mask_zero=True)(inputs)
    x = keras.layers.Bidirectional(recurrent.LSTM(32, return_sequences=True))(x)
    return keras.Model(inputs, keras.layers.Dense(1)(recurrent.GRU(32)(x)))


def train_step_hlo(model: keras.Model, ids: np.ndarray, targets: np.ndarray) -> str:
    """HLO of Keras's own training step of ``model`` (forward, loss, gradients, Adam
    update) compiled with ``jit_compile=True``.

    ``jit_compile=True`` is must-compile: an op that XLA cannot compile is an error, not a
    fallback to TensorFlow, so a returned module is the whole step as one XLA program.
    """
    model.optimizer.build(model.trainable_variables)
    step = tf.function(model.train_step, jit_compile=True)
    data = (tf.constant(ids, tf.int32), tf.constant(targets, tf.float32))
    return step.experimental_get_compiler_ir(data)(stage="hlo")


def right_padded_ids(rng, n: int = 64, steps: int = 12) -> np.ndarray:
    ids = rng.integers(1, 50, size=(n, steps))
    for row, length in enumerate(rng.integers(1, steps + 1, size=n)):
        ids[row, length:] = 0
    return ids


@pytest.mark.gpu
def test_model_trains_as_one_xla_program_on_gpu():
    rng = np.random.default_rng(0)
    ids, targets = right_padded_ids(rng), rng.standard_normal((64, 1))
    model = masked_model(cl)
    model.compile("adam", "mse", jit_compile=True)
    history = model.fit(ids, targets, epochs=2, verbose=0)
    assert model.jit_compile is True  # no layer of ours turned XLA off
    assert np.isfinite(history.history["loss"][-1])

    hlo = train_step_hlo(model, ids, targets)
    assert len(re.findall(r"^ENTRY ", hlo, re.M)) == 1
    # the three recurrences (two directions of the LSTM, the GRU) and their gradients
    # are while loops inside the module, not loops of TensorFlow ops around it
    assert len(re.findall(r"\swhile\(", hlo)) >= 6
    assert "cudnn" not in hlo.lower()


@pytest.mark.gpu
def test_keras_cudnn_model_is_not_one_xla_program():
    """The check above has teeth: Keras's cuDNN layers make the same step fail to compile."""
    rng = np.random.default_rng(0)
    model = masked_model(keras.layers)
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match=r"(?s)unsupported operations.*CudnnRNN"):
        train_step_hlo(model, right_padded_ids(rng), rng.standard_normal((64, 1)))
