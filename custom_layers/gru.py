"""The full GRU, with update gate and relevance (reset) gate."""

from __future__ import annotations

from typing import Any

import keras

from custom_layers.base import PACKAGE, RNNCellBase, get_activation
from custom_layers.sequence import CellLayer


@keras.saving.register_keras_serializable(package=PACKAGE)
class GRUCell(RNNCellBase):
    """One step of the full GRU, weight for weight Keras's ``GRUCell``.

    Formula (kernel columns in Keras's order ``[z | r | h]``; Keras's ``z`` is the
    complement of the update gate, ``Γu = 1 - z``)::

        z   = σ(W_zc c_{t-1} + W_zx x_t + b_z)            (Γu = 1 - z)
        Γr  = σ(W_rc c_{t-1} + W_rx x_t + b_r)
        c~  = tanh(W_cx x_t + b_cx + Γr * (W_cc c_{t-1} + b_cc))   reset_after=True
        c~  = tanh(W_cx x_t + b_c + W_cc (Γr * c_{t-1}))           reset_after=False
        c_t = z * c_{t-1} + (1 - z) * c~   =   Γu * c~ + (1 - Γu) * c_{t-1}
        a_t = c_t

    With ``reset_after=True`` (Keras's default, the cuDNN convention) ``bias`` has
    shape ``(2, 3*units)``: row 0 is added to the input projection, row 1 to the
    recurrent one. With ``reset_after=False`` it has shape ``(3*units,)``.

    Args:
        units: dimension of ``c``.
        activation: candidate activation (tanh).
        recurrent_activation: gate activation (sigmoid).
        reset_after: apply ``Γr`` after the recurrent matmul (True) or before.
        **kwargs: see :class:`~custom_layers.base.RNNCellBase`.
    """

    gates = 3

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        reset_after: bool = True,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        self.activation = get_activation("activation", activation)
        self.recurrent_activation = get_activation("recurrent_activation", recurrent_activation)
        self.reset_after = bool(reset_after)

    def build(self, input_shape):
        bias_shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        self._add_kernels(input_shape[-1], bias_shape)

    def input_bias(self):
        if self.bias is None or not self.reset_after:
            return self.bias
        return self.bias[0]

    def recurrent_bias(self):
        if self.bias is None or not self.reset_after:
            return None
        return self.bias[1]

    def step(self, inputs_t, states, weights, recurrent_mask=None):
        (c_prev,) = states
        c_in = self.dropped(c_prev, recurrent_mask)
        x_z, x_r, x_h = self.input_gates(inputs_t, weights)
        if self.reset_after:
            rec_z, rec_r, rec_h = self.recurrent_gates(c_in, weights)
            z = self.recurrent_activation(x_z + rec_z)
            gamma_r = self.recurrent_activation(x_r + rec_r)
            c_tilde = self.activation(x_h + gamma_r * rec_h)
        else:
            rec_z, rec_r = self.recurrent_gates(c_in, weights, 0, 2)
            z = self.recurrent_activation(x_z + rec_z)
            gamma_r = self.recurrent_activation(x_r + rec_r)
            (rec_h,) = self.recurrent_gates(gamma_r * c_in, weights, 2, 3)
            c_tilde = self.activation(x_h + rec_h)
        c = z * c_prev + (1.0 - z) * c_tilde
        return c, (c,)

    def get_config(self) -> dict[str, Any]:
        config = {
            "activation": keras.activations.serialize(self.activation),
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package=PACKAGE)
class GRU(CellLayer):
    """Full GRU over a sequence, a drop-in twin of ``keras.layers.GRU``.

    Formula: see :class:`GRUCell` (``Γu = 1 - z``). Both ``reset_after`` variants
    of Keras are supported and copy weights one to one.

    Args:
        units: dimension of ``c``.
        activation, recurrent_activation, reset_after, use_bias, initializers,
        regularizers, constraints, dropout, recurrent_dropout, seed,
        return_sequences, return_state, go_backwards, stateful: as in Keras.
    """

    cell_class = GRUCell
