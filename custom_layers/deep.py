"""Stacked recurrent layers: each layer reads the previous layer's activations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from custom_layers.base import PACKAGE, check_rate, check_units
from custom_layers.gru import GRU
from custom_layers.lstm import LSTM
from custom_layers.minimal_gru import MinimalGRU
from custom_layers.simple_rnn import SimpleRNN

#: names accepted by ``DeepRNN(cell=...)``
CELLS: dict[str, type] = {"lstm": LSTM, "gru": GRU, "minimal_gru": MinimalGRU, "simple": SimpleRNN}
MERGE_MODES = ("concat", "sum", "mul", "ave")


@keras.saving.register_keras_serializable(package=PACKAGE)
class DeepRNN(keras.layers.Layer):
    """A deep RNN: ``len(units)`` recurrent layers, layer ``l`` reading ``a^[l-1]_t``.

    Formula (for an LSTM stack; any cell of this package works the same way)::

        a^[0]_t = x_t
        a^[l]_t, c^[l]_t = LSTMCell^[l](a^[l-1]_t, (a^[l]_{t-1}, c^[l]_{t-1}))

    Layer ``l`` at step ``t`` depends only on layer ``l-1`` at steps ``<= t``, so running
    each layer over the whole sequence before the next one gives exactly the
    step-interleaved result, with bigger (faster) matmuls.

    Args:
        units: units of each layer, bottom to top, e.g. ``[256, 256]``.
        cell: ``"lstm"``, ``"gru"``, ``"minimal_gru"`` or ``"simple"``.
        bidirectional: wrap each layer in ``keras.layers.Bidirectional``.
        merge_mode: how the two directions merge (``"concat"``, ``"sum"``, ``"mul"``,
            ``"ave"``) when bidirectional.
        dropout: fraction of the activations dropped between two layers (in
            training; none after the top layer).
        return_sequences: return the top layer's activations at every step.
        return_state: also return the final states of every layer, bottom first (for
            a bidirectional layer, forward states then backward states).
        stateful: carry every layer's states across batches.
        **kwargs: arguments for every recurrent layer (``activation``,
            ``recurrent_dropout``, initializers, ...) or for ``keras.layers.Layer``
            (``name``, ``dtype``, ``trainable``).

    Call arguments:
        inputs: ``(batch, timesteps, features)``.
        mask: optional ``(batch, timesteps)`` mask, passed to every layer.
        initial_state: optional flat list of states, in the order ``return_state``
            returns them.
        training: dropout on or off.

    Example:
        >>> deep = DeepRNN([128, 128], cell="gru", dropout=0.2, return_sequences=True)
    """

    def __init__(
        self,
        units: Sequence[int],
        cell: str = "lstm",
        bidirectional: bool = False,
        merge_mode: str = "concat",
        dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        stateful: bool = False,
        **kwargs,
    ):
        layer_keys = {"name", "dtype", "trainable", "autocast", "input_shape", "input_dim"}
        layer_kwargs = {key: kwargs.pop(key) for key in list(kwargs) if key in layer_keys}
        super().__init__(**layer_kwargs)
        if isinstance(units, int) or not isinstance(units, (list, tuple)) or not units:
            raise ValueError(
                f"Expected a non-empty list of positive integers for 'units', got {units!r}."
            )
        self.units = [check_units(u) for u in units]
        if cell not in CELLS:
            raise ValueError(f"Expected one of {sorted(CELLS)} for 'cell', got {cell!r}.")
        if merge_mode not in MERGE_MODES:
            raise ValueError(
                f"Expected one of {list(MERGE_MODES)} for 'merge_mode', got {merge_mode!r}."
            )
        self.cell = cell
        self.bidirectional = bool(bidirectional)
        self.merge_mode = merge_mode
        self.dropout = check_rate("dropout", dropout)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.stateful = bool(stateful)
        self.rnn_kwargs = kwargs
        self.supports_masking = True

        self.rnn_layers = []
        for index, size in enumerate(self.units):
            top = index == len(self.units) - 1
            layer = CELLS[cell](
                size,
                return_sequences=self.return_sequences or not top,
                return_state=self.return_state,
                stateful=self.stateful,
                name=f"{cell}_{index}",
                **kwargs,
            )
            if self.bidirectional:
                layer = keras.layers.Bidirectional(
                    layer, merge_mode=merge_mode, name=f"bidirectional_{index}"
                )
            self.rnn_layers.append(layer)
        self.dropout_layer = keras.layers.Dropout(self.dropout) if self.dropout else None

    def _states_per_layer(self) -> int:
        layer = self.rnn_layers[0]
        if self.bidirectional:
            return 2 * len(layer.forward_layer.cell.state_size)
        return len(layer.cell.state_size)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"Expected inputs of rank 3 (batch, timesteps, features) for layer "
                f"'{self.name}', got shape {tuple(input_shape)}."
            )
        shape = tuple(input_shape)
        for layer in self.rnn_layers:
            layer.build(shape)
            out = layer.compute_output_shape(shape)
            out = out[0] if self.return_state else out
            shape = (shape[0], shape[1], out[-1])
        self.built = True

    def call(self, inputs, mask=None, initial_state=None, training=False):
        per_layer = self._states_per_layer()
        if initial_state is not None and len(initial_state) != per_layer * len(self.units):
            raise ValueError(
                f"Expected {per_layer * len(self.units)} tensors for 'initial_state' of layer "
                f"'{self.name}', got {len(initial_state)}."
            )
        x, states = inputs, []
        for index, layer in enumerate(self.rnn_layers):
            if index and self.dropout_layer is not None:
                x = self.dropout_layer(x, training=training)
            init = None
            if initial_state is not None:
                init = list(initial_state[index * per_layer : (index + 1) * per_layer])
            result = layer(x, mask=mask, initial_state=init, training=training)
            if self.return_state:
                x, layer_states = result[0], list(result[1:])
                states.extend(layer_states)
            else:
                x = result
        return [x, *states] if self.return_state else x

    def compute_mask(self, inputs, mask=None):
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * (self._states_per_layer() * len(self.units))
        return output_mask

    def reset_state(self) -> None:
        """Zeros the carried states of a stateful stack."""
        for layer in self.rnn_layers:
            for sub in (
                (layer.forward_layer, layer.backward_layer) if self.bidirectional else (layer,)
            ):
                sub.reset_state()

    def get_config(self) -> dict[str, Any]:
        config = {
            "units": list(self.units),
            "cell": self.cell,
            "bidirectional": self.bidirectional,
            "merge_mode": self.merge_mode,
            "dropout": self.dropout,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "stateful": self.stateful,
            **self.rnn_kwargs,
        }
        return {**super().get_config(), **config}
