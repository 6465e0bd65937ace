"""A user changes a formula by overriding a cell's step; the same compiled loop runs it."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

import custom_layers as cl

B, T, D, H = 2, 5, 3, 4


@keras.saving.register_keras_serializable(package="tests")
class PeepholeLSTMCell(cl.LSTMCell):
    """LSTM whose gates also read the memory cell (Gers & Schmidhuber peepholes)."""

    def build(self, input_shape):
        super().build(input_shape)
        self.peephole = self.add_weight(shape=(3, self.units), name="peephole")

    def recurrent_weights(self):
        return {**super().recurrent_weights(), "peephole": ops.convert_to_tensor(self.peephole)}

    def step(self, inputs_t, states, weights, recurrent_mask=None):
        a_prev, c_prev = states
        a_in = self.dropped(a_prev, recurrent_mask)
        z_u, z_f, z_c, z_o = self.gate_preactivations(inputs_t, a_in, weights)
        p_u, p_f, p_o = ops.unstack(weights["peephole"], 3, axis=0)
        gamma_u = self.recurrent_activation(z_u + p_u * c_prev)
        gamma_f = self.recurrent_activation(z_f + p_f * c_prev)
        c = gamma_u * self.activation(z_c) + gamma_f * c_prev
        a = self.recurrent_activation(z_o + p_o * c) * self.activation(c)
        return a, (a, c)


@keras.saving.register_keras_serializable(package="tests")
class PeepholeLSTM(cl.LSTM):
    cell_class = PeepholeLSTMCell


def reference(x, kernel, recurrent_kernel, bias, peephole):
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    a, c = np.zeros((x.shape[0], H)), np.zeros((x.shape[0], H))
    outs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + a @ recurrent_kernel + bias
        zu, zf, zc, zo = np.split(z, 4, axis=-1)
        u, f = sig(zu + peephole[0] * c), sig(zf + peephole[1] * c)
        c = u * np.tanh(zc) + f * c
        a = sig(zo + peephole[2] * c) * np.tanh(c)
        outs.append(a)
    return np.stack(outs, 1)


def test_peephole_lstm_matches_hand_written_reference_and_compiles(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, D)).astype("float32")
    for layer in [
        PeepholeLSTM(H, return_sequences=True),
        cl.RNN(PeepholeLSTMCell(H), return_sequences=True),
    ]:
        layer.build((None, None, D))
        weights = [0.5 * rng.standard_normal(w.shape) for w in layer.get_weights()]
        layer.set_weights(weights)
        np.testing.assert_allclose(layer(x), reference(x, *weights), atol=1e-5, rtol=0)

    # the subclass trains under XLA and round-trips through a .keras file
    inputs = keras.Input((T, D))
    model = keras.Model(inputs, keras.layers.Dense(1)(PeepholeLSTM(H)(inputs)))
    model.compile("adam", "mse", jit_compile=True)
    history = model.fit(x, np.ones((B, 1)), epochs=3, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    model.save(tmp_path / "peephole.keras")
    loaded = keras.saving.load_model(tmp_path / "peephole.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert isinstance(loaded.layers[1].cell, PeepholeLSTMCell)


def test_cell_alone_in_keras_rnn_matches_sequence_layer():
    """Cells also work one step at a time inside ``keras.layers.RNN``."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, T, D)).astype("float32")
    ours = cl.GRU(H, return_sequences=True)
    ours.build((None, None, D))
    ours.set_weights([0.5 * rng.standard_normal(w.shape) for w in ours.get_weights()])
    generic = keras.layers.RNN(cl.GRUCell(H), return_sequences=True)
    generic.build((None, None, D))
    generic.set_weights(ours.get_weights())
    np.testing.assert_allclose(generic(tf.constant(x)), ours(x), atol=1e-5, rtol=0)


def test_step_must_return_its_first_state_as_output():
    class Broken(cl.SimpleRNNCell):
        def step(self, inputs_t, states, weights, recurrent_mask=None):
            a, (state,) = super().step(inputs_t, states, weights, recurrent_mask)
            return a * 2.0, (state,)

    with pytest.raises(ValueError, match="first new state as its output"):
        cl.RNN(Broken(3))(np.zeros((2, 4, 3), "float32"))
