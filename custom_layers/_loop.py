"""The compiled recurrence shared by every sequence layer.

One ``tf.while_loop`` over time steps whose inputs were projected beforehand. It is
written for XLA: the trip count is bounded with ``maximum_iterations`` (needed for
the gradient of a compiled while loop), inputs are read from a ``TensorArray`` (so
that the gradient of a read is a slice, not a full-size tensor each step), and
outputs are written to one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf

StepFn = Callable[[tf.Tensor, tuple], tuple]


def recurrent_loop(
    step: StepFn,
    inputs: tf.Tensor,
    initial_states: Sequence[tf.Tensor],
    mask: tf.Tensor | None = None,
    return_sequences: bool = True,
    zero_output_for_mask: bool = False,
) -> tuple[tf.Tensor, tf.Tensor | None, list[tf.Tensor]]:
    """Runs ``step`` over the leading (time) axis of ``inputs``.

    Args:
        step: ``step(x_t, states) -> (output_t, new_states)``, pure.
        inputs: time-major tensor ``(timesteps, batch, features)``, already reversed
            for a backward pass.
        initial_states: the states at step 0, each ``(batch, size)``.
        mask: optional time-major boolean ``(timesteps, batch)``. Where it is
            ``False`` the states are kept and the output repeats the previous one
            (or is zero with ``zero_output_for_mask``), as in ``keras.layers.RNN``.
        return_sequences: whether to collect the output of every step.
        zero_output_for_mask: output zeros at masked steps instead of carrying.

    Returns:
        ``(last_output, outputs, final_states)``; ``outputs`` is time-major
        ``(timesteps, batch, units)`` or ``None`` when not ``return_sequences``.
    """
    states = tuple(initial_states)
    timesteps = tf.shape(inputs)[0]
    input_ta = tf.TensorArray(inputs.dtype, size=timesteps, element_shape=inputs.shape[1:])
    input_ta = input_ta.unstack(inputs)
    # the output has the shape of the first state for every cell of this package
    out_spec = states[0]
    if mask is not None:
        mask_ta = tf.TensorArray(tf.bool, size=timesteps).unstack(tf.cast(mask, tf.bool))

    def advance(t, prev_output, states):
        output, new_states = step(input_ta.read(t), states)
        new_states = tuple(new_states)
        if mask is not None:
            keep = mask_ta.read(t)[:, None]
            fill = tf.zeros_like(output) if zero_output_for_mask else prev_output
            output = tf.where(keep, output, fill)
            new_states = tuple(
                tf.where(keep, n, s) for n, s in zip(new_states, states, strict=True)
            )
        return output, new_states

    loop = {"maximum_iterations": timesteps, "parallel_iterations": 32}
    start = (tf.constant(0), tf.zeros_like(out_spec))
    if return_sequences:
        output_ta = tf.TensorArray(out_spec.dtype, size=timesteps, element_shape=out_spec.shape)

        def body(t, prev_output, output_ta, *states):
            output, new_states = advance(t, prev_output, states)
            return (t + 1, output, output_ta.write(t, output)) + new_states

        result = tf.while_loop(
            lambda t, *_: t < timesteps, body, start + (output_ta,) + states, **loop
        )
        return result[1], result[2].stack(), list(result[3:])

    # no TensorArray of outputs at all: an unwritten one breaks the XLA gradient
    def body_last(t, prev_output, *states):
        output, new_states = advance(t, prev_output, states)
        return (t + 1, output) + new_states

    result = tf.while_loop(lambda t, *_: t < timesteps, body_last, start + states, **loop)
    return result[1], None, list(result[2:])
