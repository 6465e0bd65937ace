"""Cell and sequence-layer machinery shared by every recurrent layer of this package.

A *cell* holds the weights and the one-step formula (:meth:`RNNCellBase.step`); the
*sequence layer* (:class:`RNN`) does the work around it: it projects the inputs of all
time steps with one matmul, applies dropout, and runs only the recurrent part of the
formula in one compiled ``tf.while_loop``.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import ops

from custom_layers._loop import recurrent_loop

PACKAGE = "custom_layers"

#: exact ways of computing the same formula (see RNNCellBase.prepare)
FORMULATIONS = ("fused", "per_gate", "concat")


def check_units(units: Any) -> int:
    """Returns ``units`` if it is a positive integer, else raises ``ValueError``."""
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError(f"Expected a positive integer for 'units', got {units!r}.")
    return units


def check_rate(name: str, value: Any) -> float:
    """Returns a dropout rate in ``[0, 1)`` or raises ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"Expected a float in [0, 1) for '{name}', got {value!r}.")
    return float(value)


def get_activation(name: str, value: Any, allowed: tuple[str, ...] | None = None):
    """Resolves an activation, raising ``ValueError`` that names the argument."""
    if allowed is not None and (not isinstance(value, str) or value not in allowed):
        raise ValueError(f"Expected one of {list(allowed)} for '{name}', got {value!r}.")
    try:
        return keras.activations.get(value)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"Expected the name of a Keras activation for '{name}', got {value!r}."
        ) from err


class RNNCellBase(keras.layers.Layer):
    """Base of the cells: weights plus the one-step formula, no loop.

    A subclass creates ``kernel`` (input weights of all gates side by side, shape
    ``(input_dim, gates * units)``), ``recurrent_kernel`` and optionally ``bias`` in
    :meth:`build`, and implements :meth:`step`. To change a formula, subclass a cell
    and override :meth:`step` (and :meth:`recurrent_weights` if the step needs more
    weights); the sequence layer runs the new cell with the same compiled loop.

    Args:
        units: dimension of the state.
        use_bias: whether the gates have biases.
        kernel_initializer, recurrent_initializer, bias_initializer: initializers.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: regularizers.
        kernel_constraint, recurrent_constraint, bias_constraint: constraints.
        dropout: fraction of the input units dropped (one mask per sequence, the
            same for every step and gate, as in Keras).
        recurrent_dropout: fraction of the state units dropped before the
            recurrent matmul (one mask per sequence).
        seed: seed of the dropout masks.
    """

    #: number of gate blocks in ``kernel``; set by subclasses.
    gates: int = 1

    def __init__(
        self,
        units: int,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_units(units)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dropout = check_rate("dropout", dropout)
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)

    # -- what the sequence layer asks of a cell ---------------------------------
    @property
    def state_size(self) -> list[int]:
        """Sizes of the states; the first state is the output ``a_t``."""
        return [self.units]

    @property
    def output_size(self) -> int:
        return self.units

    def _add_kernels(self, input_dim: int, bias_shape: tuple[int, ...] | None = None) -> None:
        """Creates ``kernel``, ``recurrent_kernel`` and ``bias`` in Keras's layout."""
        width = self.gates * self.units
        self.kernel = self.add_weight(
            shape=(input_dim, width),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, width),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=bias_shape or (width,),
                name="bias",
                initializer=self._bias_initializer(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def _bias_initializer(self):
        return self.bias_initializer

    def input_bias(self):
        """The bias added to the input part of every gate (``None`` without bias)."""
        return self.bias

    def recurrent_bias(self):
        """A bias added to the recurrent part only (GRU ``reset_after``), else ``None``."""
        return None

    # -- formulations: the same formula, computed three exact ways ---------------
    def prepare(self, inputs, formulation: str) -> tuple[Any, dict[str, Any]]:
        """Work done once per sequence, before the loop.

        Args:
            inputs: ``(..., input_dim)`` inputs of every step (time-major in the layer).
            formulation: ``"fused"``: inputs of all steps projected at once (one big
                matmul), one recurrent matmul per step; ``"per_gate"``: per step, one
                small matmul per gate and per operand (independent ops that
                TensorFlow runs in parallel on a multi-core CPU); ``"concat"``: per
                step, one matmul of ``[x_t, a_{t-1}]`` with the stacked kernel.

        Returns:
            ``(loop_inputs, weights)``: what the loop reads at each step (projected or
            raw inputs) and the dict of tensors that :meth:`step` receives.
        """
        if formulation not in FORMULATIONS:
            raise ValueError(
                f"Expected one of {list(FORMULATIONS)} for 'implementation', got {formulation!r}."
            )
        units, gates = self.units, self.gates
        kernel = ops.convert_to_tensor(self.kernel)
        recurrent = ops.convert_to_tensor(self.recurrent_kernel)
        in_bias, rec_bias = self.input_bias(), self.recurrent_bias()
        weights: dict[str, Any] = {"formulation": formulation, "recurrent_kernel": recurrent}
        weights["recurrent_bias"] = rec_bias
        if formulation == "fused":
            # inputs of all steps projected at once: one big matmul
            flat = ops.reshape(inputs, (-1, ops.shape(inputs)[-1]))
            proj = ops.matmul(flat, kernel)
            if in_bias is not None:
                proj = proj + in_bias
            loop_inputs = ops.reshape(proj, (*ops.shape(inputs)[:-1], gates * units))
        else:
            loop_inputs = inputs
            weights["input_kernel"], weights["input_bias"] = kernel, in_bias
        if formulation == "per_gate":
            # blocks sliced once, outside the loop
            def blocks(t):
                return (
                    None
                    if t is None
                    else [t[..., g * units : (g + 1) * units] for g in range(gates)]
                )

            weights["input_kernel_blocks"] = blocks(kernel)
            weights["recurrent_kernel_blocks"] = blocks(recurrent)
            weights["input_bias_blocks"] = blocks(in_bias)
            weights["recurrent_bias_blocks"] = blocks(rec_bias)
        if formulation == "concat":
            weights["stacked_kernel"] = ops.concatenate([kernel, recurrent], axis=0)
        return loop_inputs, {**weights, **self.recurrent_weights()}

    def recurrent_weights(self) -> dict[str, Any]:
        """Extra tensors for :meth:`step`, read once before the loop (none by default).

        Override in a subclass whose step needs more weights (e.g. peepholes).
        """
        return {}

    def _split(self, t, count):
        return list(ops.split(t, count, axis=-1)) if count > 1 else [t]

    def _affine_gates(self, operand, weights, kind: str, start: int, stop: int) -> list:
        """``operand @ W[:, gates] + b[gates]`` of gates ``start..stop-1``, one tensor each.

        ``kind`` is ``"input"`` (kernel and input bias) or ``"recurrent"``.
        """
        units = self.units
        if weights["formulation"] == "per_gate":
            kernels, biases = weights[f"{kind}_kernel_blocks"], weights[f"{kind}_bias_blocks"]
            parts = [ops.matmul(operand, kernels[g]) for g in range(start, stop)]
            if biases is not None:
                parts = [p + biases[g] for p, g in zip(parts, range(start, stop), strict=True)]
            return parts
        kernel, bias = weights[f"{kind}_kernel"], weights[f"{kind}_bias"]
        if (start, stop) != (0, self.gates):
            kernel = kernel[:, start * units : stop * units]
            bias = None if bias is None else bias[start * units : stop * units]
        part = ops.matmul(operand, kernel)
        if bias is not None:
            part = part + bias
        return self._split(part, stop - start)

    def input_gates(self, inputs_t, weights, start: int = 0, stop: int | None = None) -> list:
        """Input parts ``W_gx x_t + b_g`` of gates ``start..stop-1``, one tensor each."""
        stop = self.gates if stop is None else stop
        if weights["formulation"] == "fused":  # already projected before the loop
            if (start, stop) != (0, self.gates):
                inputs_t = inputs_t[:, start * self.units : stop * self.units]
            return self._split(inputs_t, stop - start)
        return self._affine_gates(inputs_t, weights, "input", start, stop)

    def recurrent_gates(self, a_prev, weights, start: int = 0, stop: int | None = None) -> list:
        """Recurrent parts ``W_ga a_{t-1}`` (+ recurrent bias) of gates ``start..stop-1``."""
        stop = self.gates if stop is None else stop
        return self._affine_gates(a_prev, weights, "recurrent", start, stop)

    def gate_preactivations(self, inputs_t, a_prev, weights) -> list:
        """``W_ga a_{t-1} + W_gx x_t + b_g`` for every gate, in kernel column order."""
        if weights["formulation"] == "concat" and weights["recurrent_bias"] is None:
            both = ops.matmul(
                ops.concatenate([inputs_t, a_prev], axis=-1), weights["stacked_kernel"]
            )
            if weights["input_bias"] is not None:
                both = both + weights["input_bias"]
            return self._split(both, self.gates)
        if weights["formulation"] == "fused":
            # one add of the full width, then the split
            recurrent = ops.matmul(a_prev, weights["recurrent_kernel"])
            if weights["recurrent_bias"] is not None:
                recurrent = recurrent + weights["recurrent_bias"]
            return self._split(inputs_t + recurrent, self.gates)
        inputs = self.input_gates(inputs_t, weights)
        recurrent = self.recurrent_gates(a_prev, weights)
        return [x + r for x, r in zip(inputs, recurrent, strict=True)]

    def step(self, inputs_t, states, weights, recurrent_mask=None):
        """One time step. Override to change the formula.

        Write it with :meth:`gate_preactivations` (or :meth:`input_gates` and
        :meth:`recurrent_gates`), which compute the matmuls in the formulation the
        layer chose, so that the same step runs in every formulation.

        Args:
            inputs_t: this step's entry of the loop inputs (see :meth:`prepare`).
            states: tuple of the previous states.
            weights: the dict returned by :meth:`prepare`.
            recurrent_mask: recurrent dropout mask for the previous activation
                (``None`` when no recurrent dropout is applied).

        Returns:
            ``(output, new_states)`` with ``new_states`` a tuple whose first entry is
            ``output`` itself (the activation ``a_t`` is the first state).
        """
        raise NotImplementedError

    @staticmethod
    def dropped(a_prev, recurrent_mask):
        """``a_prev`` with the recurrent dropout mask applied, if any."""
        return a_prev if recurrent_mask is None else a_prev * recurrent_mask

    # -- usable on its own, e.g. inside keras.layers.RNN ------------------------
    def call(self, inputs, states, training=False):
        """One step on raw inputs (no dropout: the sequence layer applies it)."""
        states = tuple(states) if isinstance(states, (list, tuple)) else (states,)
        inputs_t, weights = self.prepare(inputs, "concat")
        output, new_states = self.step(inputs_t, states, weights)
        return output, list(new_states)

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype) for size in self.state_size]

    def get_config(self) -> dict[str, Any]:
        ser = keras.saving.serialize_keras_object
        config = {
            "units": self.units,
            "use_bias": self.use_bias,
            "kernel_initializer": ser(self.kernel_initializer),
            "recurrent_initializer": ser(self.recurrent_initializer),
            "bias_initializer": ser(self.bias_initializer),
            "kernel_regularizer": ser(self.kernel_regularizer),
            "recurrent_regularizer": ser(self.recurrent_regularizer),
            "bias_regularizer": ser(self.bias_regularizer),
            "kernel_constraint": ser(self.kernel_constraint),
            "recurrent_constraint": ser(self.recurrent_constraint),
            "bias_constraint": ser(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}


def _on_gpu() -> bool:
    """Whether TensorFlow places this model's ops on a GPU."""
    return bool(tf.config.list_logical_devices("GPU"))


def _compiling_with_xla() -> bool:
    """Whether the ops being traced now go into an XLA program (``jit_compile=True``)."""
    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover - private module moved
        return False
    if tf.executing_eagerly():
        return False
    return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))


#: up to this many units, one stacked matmul per step beats per-gate matmuls under XLA
CONCAT_MAX_UNITS = 32


def fastest_formulation(cell: RNNCellBase, training: bool = True, batch: int | None = None) -> str:
    """The formulation that ``benchmarks/layers.py`` measured fastest for this case.

    - GPU: ``"fused"`` (one big input matmul, one recurrent matmul per step).
    - CPU, inference on one sequence (``training`` false, a static ``batch`` of 1): per-op
      cost rather than arithmetic bounds a single sequence, so the fewest ops per step:
      ``"fused"`` without XLA; under XLA, ``"concat"`` (one matmul of ``[x_t, a_{t-1}]``),
      or ``"fused"`` for a one-gate cell.
    - CPU under XLA, up to ``CONCAT_MAX_UNITS`` units: ``"concat"`` (fewest ops per step,
      which is what counts for tiny layers, and the fastest to compile).
    - CPU otherwise: ``"per_gate"``. Without XLA, TensorFlow runs the small independent
      matmuls on several cores at once, and the input matmuls of later steps overlap the
      recurrence; under XLA it trained as fast as ``"concat"`` or faster at 64 and 256
      units.

    Args:
        cell: the cell to run.
        training: whether the layer runs in training mode.
        batch: the static batch size, or ``None`` when unknown.
    """
    if _on_gpu():
        return "fused"
    xla = _compiling_with_xla()
    if not training and batch == 1:
        return "concat" if xla and cell.gates > 1 else "fused"
    if xla and cell.units <= CONCAT_MAX_UNITS:
        return "concat"
    return "per_gate"


@keras.saving.register_keras_serializable(package=PACKAGE)
class RNN(keras.layers.RNN):
    """Runs any cell of this package over a sequence in one compiled loop.

    The options are those of ``keras.layers.RNN``: ``return_sequences``,
    ``return_state``, ``go_backwards``, ``stateful``, ``zero_output_for_mask``, call
    arguments ``initial_state``, ``mask`` and ``training``. Unlike Keras's loop, the
    inputs of all steps are projected at once (one big matmul) and only the recurrent
    part runs step by step, in a ``tf.while_loop`` that XLA compiles together with the
    rest of the model (``model.compile(jit_compile=True)``).

    Args:
        cell: a cell of this package (a subclass of :class:`RNNCellBase`).
        return_sequences: return the output of every step, not only the last.
        return_state: also return the final states.
        go_backwards: process the sequence backwards (and return it reversed).
        stateful: carry the final states of a batch into the next one.
        zero_output_for_mask: output zeros at masked steps instead of the previous
            output.
        **kwargs: passed to ``keras.layers.Layer``.

    Example:
        >>> layer = RNN(LSTMCell(32), return_sequences=True)
    """

    def __init__(
        self,
        cell: RNNCellBase,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        implementation: str | int = "auto",
        **kwargs,
    ):
        if not isinstance(cell, RNNCellBase):
            raise ValueError(
                f"Expected a cell of custom_layers (a subclass of RNNCellBase) for 'cell', "
                f"got {cell!r}. Wrap other cells in keras.layers.RNN."
            )
        if unroll:
            raise ValueError(
                "Expected unroll=False: custom_layers always runs a compiled loop "
                f"(use jit_compile=True for speed), got unroll={unroll!r}."
            )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=False,
            zero_output_for_mask=zero_output_for_mask,
            **kwargs,
        )
        # Keras's implementation=1 (small matmuls per gate) and 2 (batched) map to ours
        implementation = {1: "per_gate", 2: "fused"}.get(implementation, implementation)
        if implementation != "auto" and implementation not in FORMULATIONS:
            raise ValueError(
                f"Expected one of {['auto', *FORMULATIONS]} for 'implementation', "
                f"got {implementation!r}."
            )
        self.implementation = implementation

    def formulation(self, training: bool = True, batch: int | None = None) -> str:
        """The formulation this layer runs: ``implementation``, or the fastest for the
        device, the mode and the static ``batch`` size (see :func:`fastest_formulation`)."""
        if self.implementation != "auto":
            return self.implementation
        return fastest_formulation(self.cell, training, batch)

    def _check_rank(self, shape) -> None:
        if len(shape) != 3:
            raise ValueError(
                f"Expected inputs of rank 3 (batch, timesteps, features) for layer "
                f"'{self.name}', got shape {tuple(shape)}."
            )

    def build(self, sequences_shape, initial_state_shape=None):
        self._check_rank(sequences_shape)
        super().build(sequences_shape, initial_state_shape)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        self._check_rank(sequences.shape)
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if mask is not None and len(mask.shape) != 2:
            raise ValueError(
                f"Expected a mask of rank 2 (batch, timesteps) for layer '{self.name}', "
                f"got shape {tuple(mask.shape)}."
            )
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    def _dropout_mask(self, like, rate):
        return keras.random.dropout(ops.ones_like(like), rate, seed=self.cell.seed_generator)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if training and cell.dropout > 0:
            # one input mask per sequence, shared by all steps and gates
            sequences = sequences * self._dropout_mask(sequences[:, :1, :], cell.dropout)
        recurrent_mask = None
        if training and cell.recurrent_dropout > 0:
            recurrent_mask = self._dropout_mask(initial_state[0], cell.recurrent_dropout)

        # time-major, reversed for a backward pass
        inputs = tf.transpose(sequences, [1, 0, 2])
        if mask is not None:
            mask = tf.transpose(tf.cast(mask, tf.bool), [1, 0])
        if self.go_backwards:
            inputs = tf.reverse(inputs, [0])
            if mask is not None:
                mask = tf.reverse(mask, [0])

        # what does not change from step to step is computed once, before the loop
        formulation = self.formulation(bool(training), sequences.shape[0])
        loop_inputs, weights = cell.prepare(inputs, formulation)

        def step(inputs_t, states):
            return cell.step(inputs_t, states, weights, recurrent_mask)

        last_output, outputs, states = recurrent_loop(
            step,
            loop_inputs,
            initial_state,
            mask=mask,
            return_sequences=self.return_sequences,
            zero_output_for_mask=self.zero_output_for_mask,
        )
        if outputs is not None:
            outputs = tf.transpose(outputs, [1, 0, 2])
        else:
            outputs = last_output
        return last_output, outputs, states

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("unroll", None)
        config["implementation"] = self.implementation
        return config
