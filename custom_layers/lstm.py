"""Long short-term memory."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from custom_layers.base import PACKAGE, RNNCellBase, get_activation
from custom_layers.sequence import CellLayer


@keras.saving.register_keras_serializable(package=PACKAGE)
class LSTMCell(RNNCellBase):
    """One step of the LSTM, weight for weight Keras's ``LSTMCell``.

    Formula (kernel columns in Keras's order ``[u | f | c~ | o]``, i.e. Keras's
    ``i, f, c, o``; each gate reads ``[a_{t-1}, x_t]``)::

        Γu  = σ(W_ua a_{t-1} + W_ux x_t + b_u)        (Keras: i)
        Γf  = σ(W_fa a_{t-1} + W_fx x_t + b_f)        (Keras: f)
        c~  = tanh(W_ca a_{t-1} + W_cx x_t + b_c)     (Keras: c)
        Γo  = σ(W_oa a_{t-1} + W_ox x_t + b_o)        (Keras: o)
        c_t = Γu * c~ + Γf * c_{t-1}
        a_t = Γo * tanh(c_t)

    States are ``[a, c]`` in that order, as in Keras.

    Args:
        units: dimension of ``a`` and ``c``.
        activation: the ``tanh`` of ``c~`` and of ``a_t``.
        recurrent_activation: the gates' ``σ``.
        unit_forget_bias: initialize ``b_f`` to ones.
        **kwargs: see :class:`~custom_layers.base.RNNCellBase`.
    """

    gates = 4

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        unit_forget_bias: bool = True,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        self.activation = get_activation("activation", activation)
        self.recurrent_activation = get_activation("recurrent_activation", recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self) -> list[int]:
        return [self.units, self.units]

    def build(self, input_shape):
        self._add_kernels(input_shape[-1])

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, base = self.units, self.bias_initializer

        def initializer(shape, dtype=None):
            return ops.concatenate(
                [base((units,), dtype), ops.ones((units,), dtype), base((2 * units,), dtype)]
            )

        return initializer

    def step(self, inputs_t, states, weights, recurrent_mask=None):
        a_prev, c_prev = states
        a_in = self.dropped(a_prev, recurrent_mask)
        z_u, z_f, z_c, z_o = self.gate_preactivations(inputs_t, a_in, weights)
        gamma_u = self.recurrent_activation(z_u)
        gamma_f = self.recurrent_activation(z_f)
        c_tilde = self.activation(z_c)
        gamma_o = self.recurrent_activation(z_o)
        c = gamma_u * c_tilde + gamma_f * c_prev
        a = gamma_o * self.activation(c)
        return a, (a, c)

    def get_config(self) -> dict[str, Any]:
        config = {
            "activation": keras.activations.serialize(self.activation),
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package=PACKAGE)
class LSTM(CellLayer):
    """LSTM over a sequence, a drop-in twin of ``keras.layers.LSTM``.

    Formula: see :class:`LSTMCell`. Unlike Keras's LSTM, it compiles with XLA on
    every device (Keras's cuDNN kernel has no XLA lowering).

    Args:
        units: dimension of ``a`` and ``c``.
        activation, recurrent_activation, unit_forget_bias, use_bias,
        initializers, regularizers, constraints, dropout, recurrent_dropout, seed,
        return_sequences, return_state, go_backwards, stateful: as in Keras.

    Example:
        >>> a, a_T, c_T = LSTM(64, return_sequences=True, return_state=True)(x)
    """

    cell_class = LSTMCell
