"""The minimal GRU: one update gate, no relevance gate."""

from __future__ import annotations

from typing import Any

import keras

from custom_layers.base import PACKAGE, RNNCellBase, get_activation
from custom_layers.sequence import CellLayer


@keras.saving.register_keras_serializable(package=PACKAGE)
class MinimalGRUCell(RNNCellBase):
    """One step of the minimal GRU (update gate only).

    Formula (kernel columns ordered ``[u | c~]``: ``kernel = [W_ux | W_cx]``,
    ``recurrent_kernel = [W_uc | W_cc]``, ``bias = [b_u | b_c]``)::

        Γu  = σ(W_uc c_{t-1} + W_ux x_t + b_u)
        c~  = tanh(W_cc c_{t-1} + W_cx x_t + b_c)
        c_t = Γu * c~ + (1 - Γu) * c_{t-1}
        a_t = c_t

    The common write-up prints ``c_t = Γu*c~ + Γu*c_{t-1}``. That is a typo: with it
    ``Γu`` would scale the old memory and the candidate alike, so the cell could never
    keep its memory unchanged (``Γu = 0`` would erase it, ``Γu = 1`` would add the
    candidate to it), which defeats the gate. The gate interpolates: ``Γu`` near 0
    keeps ``c_{t-1}``, near 1 replaces it with ``c~``.

    Args:
        units: dimension of ``c``.
        activation: candidate activation (``"tanh"`` in the formula).
        recurrent_activation: gate activation (``"sigmoid"`` in the formula).
        **kwargs: see :class:`~custom_layers.base.RNNCellBase`.
    """

    gates = 2

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        self.activation = get_activation("activation", activation)
        self.recurrent_activation = get_activation("recurrent_activation", recurrent_activation)

    def build(self, input_shape):
        self._add_kernels(input_shape[-1])

    def step(self, inputs_t, states, weights, recurrent_mask=None):
        (c_prev,) = states
        z_u, z_c = self.gate_preactivations(inputs_t, self.dropped(c_prev, recurrent_mask), weights)
        gamma_u = self.recurrent_activation(z_u)
        c_tilde = self.activation(z_c)
        c = gamma_u * c_tilde + (1.0 - gamma_u) * c_prev
        return c, (c,)

    def get_config(self) -> dict[str, Any]:
        config = {
            "activation": keras.activations.serialize(self.activation),
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MinimalGRU(CellLayer):
    """Minimal GRU over a sequence (see :class:`MinimalGRUCell` for the formula).

    Keras has no twin of this layer; the tests check it against a NumPy
    transcription of the equations.

    Args:
        units: dimension of ``c``.
        activation, recurrent_activation: the candidate's and the gate's.
        other arguments: as in ``keras.layers.GRU``.
    """

    cell_class = MinimalGRUCell
