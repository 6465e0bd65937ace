"""Layers inside models: XLA training, DeepRNN, serialization, SavedModel export, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import custom_layers as cl

B, T, D, H, VOCAB = 4, 7, 5, 6, 13

LAYERS = {
    "lstm": lambda **kw: cl.LSTM(H, **kw),
    "gru": lambda **kw: cl.GRU(H, **kw),
    "gru_reset_before": lambda **kw: cl.GRU(H, reset_after=False, **kw),
    "simple": lambda **kw: cl.SimpleRNN(H, **kw),
    "minimal_gru": lambda **kw: cl.MinimalGRU(H, **kw),
    "deep_bidirectional": lambda **kw: cl.DeepRNN([H, H], cell="gru", bidirectional=True, **kw),
}


def masked_text_model(make_layer) -> keras.Model:
    """Embedding with mask_zero -> recurrent layer (with dropout) -> dense logits."""
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, D, mask_zero=True)(inputs)
    x = make_layer(dropout=0.1)(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x))


def token_data(rng, n=32):
    ids = rng.integers(1, VOCAB, size=(n, T))
    for row in range(n):
        ids[row, rng.integers(2, T + 1) :] = 0
    labels = (ids[:, 0] > VOCAB // 2).astype("int32")
    return ids, labels


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_trains_under_xla_and_round_trips(name, tmp_path):
    rng = np.random.default_rng(0)
    model = masked_text_model(LAYERS[name])
    model.compile(
        keras.optimizers.Adam(0.02),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    assert model.jit_compile is True  # no layer of ours turned XLA off
    ids, labels = token_data(rng)
    history = model.fit(ids, labels, epochs=8, batch_size=8, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]

    # .keras file: loads with no custom_objects, identical predictions
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0))

    # SavedModel: reloaded with plain TensorFlow, same outputs
    export_dir = str(tmp_path / "saved")
    model.export(export_dir, format="tf_saved_model", verbose=False)
    reloaded = tf.saved_model.load(export_dir)
    served = reloaded.serve(tf.constant(ids, dtype="int32"))
    np.testing.assert_allclose(served, model.predict(ids, verbose=0), atol=1e-5)


@pytest.mark.parametrize(
    "cell,twin",
    [("lstm", keras.layers.LSTM), ("gru", keras.layers.GRU), ("simple", keras.layers.SimpleRNN)],
)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_deep_rnn_matches_keras_stack(cell, twin, bidirectional):
    rng = np.random.default_rng(1)
    units = [H, H + 2, H - 1]
    deep = cl.DeepRNN(units, cell=cell, bidirectional=bidirectional, return_sequences=True)
    wrap = (
        (lambda layer: keras.layers.Bidirectional(layer))
        if bidirectional
        else (lambda layer: layer)
    )
    stack = keras.Sequential([wrap(twin(u, return_sequences=True)) for u in units])
    x = tf.constant(rng.standard_normal((B, T, D)).astype("float32"))
    deep(x)
    stack(x)
    stack.set_weights([0.5 * rng.standard_normal(w.shape) for w in stack.get_weights()])
    deep.set_weights(stack.get_weights())
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours, theirs = deep(x), stack(x)
        loss_ours, loss_theirs = tf.reduce_sum(ours**2), tf.reduce_sum(theirs**2)
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)
    np.testing.assert_allclose(
        tape.gradient(loss_ours, x), tape.gradient(loss_theirs, x), atol=1e-5
    )


def test_deep_rnn_states_and_initial_state():
    rng = np.random.default_rng(2)
    deep = cl.DeepRNN([H, 3], cell="lstm", return_state=True)
    x = rng.standard_normal((B, T, D)).astype("float32")
    out, *states = deep(x)
    assert out.shape == (B, 3)
    assert [s.shape for s in states] == [(B, H), (B, H), (B, 3), (B, 3)]
    np.testing.assert_allclose(out, states[2])  # the top layer's a_T is the output
    # running the sequence in two halves, carrying the states, equals one pass
    _, *mid = deep(x[:, :3])
    out_two, *_ = deep(x[:, 3:], initial_state=mid)
    np.testing.assert_allclose(out_two, out, atol=1e-5)
    with pytest.raises(ValueError, match="initial_state"):
        deep(x, initial_state=mid[:2])


def test_layer_compiled_output_equals_eager():
    rng = np.random.default_rng(3)
    layer = cl.LSTM(H, return_sequences=True, go_backwards=True)
    x = tf.constant(rng.standard_normal((B, T, D)).astype("float32"))
    mask = tf.constant(np.arange(T)[None, :] < np.array([[7], [5], [3], [1]]))
    eager = layer(x, mask=mask)
    compiled = tf.function(lambda x, m: layer(x, mask=m), jit_compile=True)(x, mask)
    np.testing.assert_allclose(compiled, eager, atol=1e-5)


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: cl.LSTM(0), "units"),
        (lambda: cl.GRU(-3), "units"),
        (lambda: cl.SimpleRNN(2.5), "units"),
        (lambda: cl.SimpleRNN(4, activation="sigmoid"), "activation"),
        (lambda: cl.LSTM(4, activation="no_such_thing"), "activation"),
        (lambda: cl.GRU(4, recurrent_activation="nope"), "recurrent_activation"),
        (lambda: cl.LSTM(4, dropout=1.5), "dropout"),
        (lambda: cl.DeepRNN([4], cell="transformer"), "cell"),
        (lambda: cl.DeepRNN([], cell="lstm"), "units"),
        (lambda: cl.DeepRNN([4, 0]), "units"),
        (lambda: cl.RNN(keras.layers.LSTMCell(4)), "cell"),
        (lambda: cl.LSTM(4, unroll=True), "unroll"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(build, match):
    with pytest.raises(ValueError, match=match) as info:
        build()
    assert "got" in str(info.value)


@pytest.mark.parametrize("layer", [cl.LSTM(4), cl.DeepRNN([4])])
def test_wrong_input_rank_is_a_value_error(layer):
    with pytest.raises(ValueError, match=r"rank 3.*got shape \(2, 5\)"):
        layer(np.zeros((2, 5), "float32"))


def test_wrong_mask_rank_is_a_value_error():
    with pytest.raises(ValueError, match="mask"):
        cl.GRU(4)(np.zeros((2, 5, 3), "float32"), mask=np.ones((2, 5, 1), bool))


# physical devices, as tests/conftest.py reads them: listing logical ones here would fix
# the devices before other test modules configure them
GPU_VISIBLE = bool(tf.config.list_physical_devices("GPU"))


def auto_choices():
    """The formulation ``implementation="auto"`` picks: (units, batch, how it runs) -> choice."""
    seen = {}

    class Spy(cl.LSTM):
        def formulation(self, training=True, batch=None):
            seen[tf.executing_eagerly()] = super().formulation(training, batch)
            return seen[tf.executing_eagerly()]

    small, large = Spy(8), Spy(256)
    x, one = tf.zeros((2, 3, 4)), tf.zeros((1, 3, 4))
    choices = {}
    small(x)
    choices[8, 2, "eager"] = seen[True]
    assert seen[True] == cl.fastest_formulation(small.cell)
    tf.function(small, jit_compile=True)(x)
    choices[8, 2, "xla"] = seen[False]
    tf.function(large, jit_compile=True)(x)
    choices[256, 2, "xla"] = seen[False]
    tf.function(small, jit_compile=False)(x)
    choices[8, 2, "graph"] = seen[False]
    # one sequence at inference: the fewest ops per step
    large(one)
    choices[256, 1, "eager"] = seen[True]
    tf.function(lambda x: large(x, training=False), jit_compile=True)(one)
    choices[256, 1, "xla"] = seen[False]
    tf.function(lambda x: large(x, training=True), jit_compile=True)(one)
    choices[256, 1, "xla, training"] = seen[False]
    return choices


@pytest.mark.skipif(
    GPU_VISIBLE, reason="asserts the CPU choices; on a GPU the gpu-marked twin runs"
)
def test_auto_formulation_on_cpu_follows_compiler_size_and_batch():
    assert auto_choices() == {
        (8, 2, "eager"): "per_gate",  # CPU, no XLA
        (8, 2, "xla"): "concat",  # CPU, XLA, up to CONCAT_MAX_UNITS units
        (256, 2, "xla"): "per_gate",
        (8, 2, "graph"): "per_gate",
        (256, 1, "eager"): "fused",  # inference on one sequence, no XLA
        (256, 1, "xla"): "concat",  # inference on one sequence, XLA (fused for one gate)
        (256, 1, "xla, training"): "per_gate",
    }


@pytest.mark.skipif(GPU_VISIBLE, reason="asserts a CPU choice")
def test_a_one_gate_cell_runs_fused_on_one_sequence_under_xla():
    seen = []

    class Spy(cl.SimpleRNN):
        def formulation(self, training=True, batch=None):
            seen.append(super().formulation(training, batch))
            return seen[-1]

    layer = Spy(16)
    tf.function(lambda x: layer(x, training=False), jit_compile=True)(tf.zeros((1, 3, 4)))
    assert seen[-1] == "fused"


@pytest.mark.gpu
def test_auto_formulation_on_gpu_is_fused():
    assert set(auto_choices().values()) == {"fused"}
