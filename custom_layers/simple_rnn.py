"""The basic recurrent network: one activation carried from step to step."""

from __future__ import annotations

from typing import Any

import keras

from custom_layers.base import PACKAGE, RNNCellBase, get_activation
from custom_layers.sequence import CellLayer


@keras.saving.register_keras_serializable(package=PACKAGE)
class SimpleRNNCell(RNNCellBase):
    """One step of the basic RNN.

    Formula (one kernel block, so ``kernel`` is ``W_ax`` and ``recurrent_kernel`` is
    ``W_aa``, both with ``units`` columns)::

        a_t = g1(W_aa a_{t-1} + W_ax x_t + b_a)          g1 = tanh or relu

    The weights are Keras's (``kernel``, ``recurrent_kernel``, ``bias``), so
    ``set_weights(keras.layers.SimpleRNN(...).get_weights())`` gives the same outputs.

    Args:
        units: dimension of ``a``.
        activation: ``"tanh"`` (default) or ``"relu"``.
        **kwargs: see :class:`~custom_layers.base.RNNCellBase`.
    """

    gates = 1

    def __init__(self, units: int, activation: str = "tanh", **kwargs):
        super().__init__(units, **kwargs)
        self.activation = get_activation("activation", activation, allowed=("tanh", "relu"))
        self._activation_name = activation

    def build(self, input_shape):
        self._add_kernels(input_shape[-1])

    def step(self, inputs_t, states, weights, recurrent_mask=None):
        (a_prev,) = states
        (z,) = self.gate_preactivations(inputs_t, self.dropped(a_prev, recurrent_mask), weights)
        a = self.activation(z)
        return a, (a,)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": self._activation_name}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SimpleRNN(CellLayer):
    """Basic RNN over a sequence, a drop-in twin of ``keras.layers.SimpleRNN``.

    Formula: ``a_t = g1(W_aa a_{t-1} + W_ax x_t + b_a)`` (see :class:`SimpleRNNCell`).
    The ``W_ax x_t + b_a`` term of every step is computed before the loop in one matmul.

    Args:
        units: dimension of ``a``.
        activation: ``"tanh"`` or ``"relu"``.
        use_bias, initializers, regularizers, constraints, dropout,
        recurrent_dropout, seed: as in ``keras.layers.SimpleRNN``.
        return_sequences, return_state, go_backwards, stateful: as in Keras.

    Example:
        >>> y = SimpleRNN(16, return_sequences=True)(keras.random.normal((2, 5, 3)))
    """

    cell_class = SimpleRNNCell
