"""Generation in the graph: primes fed, then characters sampled in one compiled loop.

:func:`generation_function` is what ``CharLM.generate`` and the exported ``generate``
signature run; :func:`sample` draws one character per row (temperature, top-k, top-p);
:func:`onnx_generation_function` is the same loop for the ONNX export, its random
numbers an input. Both are :func:`generation_loop`.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

import custom_layers as cl


def zero_states(rnn: cl.DeepRNN, batch) -> list[tf.Tensor]:
    """The recurrent states of ``rnn`` at the start of ``batch`` texts: zeros."""
    return [tf.zeros((batch, n)) for layer in rnn.rnn_layers for n in layer.cell.state_size]


def generation_loop(
    emb: keras.layers.Layer,
    rnn: cl.DeepRNN,
    dense: keras.layers.Layer,
    chars: list[str],
    stop_at_blank_line: bool,
    grammar: Any = None,
):
    """``continue_primes(ids, mask, length, draw) -> (logits, generated)`` over a trained
    model's layers, numbers only: feeds the left-padded, masked ``ids`` ``[B, T]``, then
    draws ``length`` characters, ``draw(i, logits)`` giving step ``i``'s ids ``[B]``;
    ``logits`` ``[B, V]`` are the model's after the primes, ``generated`` ``[B, length]``
    the drawn ids (with ``stop_at_blank_line``, a row draws 0 after its first blank line
    and the loop ends when every row has one; the columns not reached are 0).

    ``grammar`` (:class:`recipes.char_music.grammar.Tables`, or None): each row reads its
    prime through the grammar, then draws only the characters it allows
    (:func:`grammar_functions`): ``draw`` gets the other logits as ``-inf``."""
    newline = int(chars.index("\n") + 1) if "\n" in chars else -1
    if grammar is not None:
        start, allowed, advance = grammar_functions(grammar)

    def step(ids, states):
        x, new_states, k = emb(ids), [], 0
        for layer in rnn.rnn_layers:
            n = len(layer.cell.state_size)
            x, s = layer.cell(x, states[k : k + n])
            new_states += list(s)
            k += n
        return dense(x), new_states

    def continue_primes(ids, mask, length, draw):
        states = zero_states(rnn, tf.shape(ids)[0])
        outputs = rnn(emb(ids), mask=mask, initial_state=states, training=False)
        logits, states = dense(outputs[0][:, -1]), list(outputs[1:])
        last = tf.cast(ids[:, -1], tf.int32)
        done = tf.zeros_like(last, tf.bool)
        if grammar is None:
            registers = tf.zeros([tf.shape(ids)[0], 0], tf.int32)  # none to carry
        else:
            registers = read_primes(start, advance, tf.cast(ids, tf.int32), mask)

        def body(i, logits, states, last, done, registers, written):
            if grammar is None:
                drawn = tf.where(done, 0, draw(i, logits))
            else:
                ok = allowed(registers)
                drawn = tf.where(done, 0, draw(i, tf.where(ok, logits, -np.inf)))
                registers = advance(registers, drawn, ok)
            if stop_at_blank_line:
                done = done | ((drawn == newline) & (last == newline))
            logits, states = step(drawn, states)
            return i + 1, logits, states, drawn, done, registers, written.write(i, drawn)

        primed = logits
        written = tf.TensorArray(tf.int32, size=length, element_shape=last.shape)
        *_, written = tf.while_loop(
            lambda i, logits, states, last, done, registers, written: (
                (i < length) & ~tf.reduce_all(done)
            ),
            body,
            (0, logits, states, last, done, registers, written),
            maximum_iterations=length,
        )
        return primed, tf.transpose(written.stack())

    return continue_primes


def generation_function(
    emb: keras.layers.Layer,
    rnn: cl.DeepRNN,
    dense: keras.layers.Layer,
    lookup: keras.layers.StringLookup,
    chars: list[str],
    default_prime: str,
    lead_in: str,
    stop_at_blank_line: bool,
    grammar: Any = None,
):
    """``(prime[B], length, temperature, top_k, top_p, seed) -> text[B]`` over a trained
    model's layers: each prime (empty: ``default_prime``) is fed after ``lead_in``, then
    ``length`` characters are sampled in one XLA loop that carries the recurrent states
    (with ``stop_at_blank_line``, a row stops at its first blank line; with ``grammar``,
    only the characters it allows are drawn: :func:`generation_loop`)."""
    table = tf.constant(["", *chars])  # id 0 (out of vocabulary) reads as nothing
    default_prime = tf.constant(default_prime)
    lead_in = tf.constant(lead_in)
    loop = generation_loop(emb, rnn, dense, chars, stop_at_blank_line, grammar)

    def continue_primes(ids, mask, length, temperature, top_k, top_p, seed):
        """Numbers only (one XLA program): feeds the primes, then samples ``length``."""
        seed = tf.cast(seed, tf.int64)

        def draw(i, logits):
            return sample(logits, temperature, top_k, top_p, tf.stack([seed, tf.cast(i, tf.int64)]))

        return loop(ids, mask, length, draw)[1]

    numeric = tf.function(continue_primes, jit_compile=True)

    def generate(prime, length, temperature, top_k, top_p, seed):
        prime = tf.where(tf.strings.length(prime) > 0, prime, default_prime)
        fed = lead_in + prime
        ids, mask = left_padded(lookup(tf.strings.unicode_split(fed, "UTF-8")))
        generated = numeric(tf.cast(ids, tf.int32), mask, length, temperature, top_k, top_p, seed)
        return prime + tf.strings.reduce_join(tf.gather(table, generated), axis=-1)

    return generate


def left_padded(ids: tf.RaggedTensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Ragged rows as a dense batch aligned on their last element, and the mask."""
    dense = ids.to_tensor(default_value=0)
    width = tf.shape(dense)[1]
    shift = tf.cast(width, tf.int64) - ids.row_lengths()
    index = tf.range(width, dtype=tf.int64)[None, :] - shift[:, None]
    valid = index >= 0
    gathered = tf.gather(dense, tf.maximum(index, 0), batch_dims=1)
    return tf.where(valid, gathered, tf.zeros_like(gathered)), valid


#: the range of the Gumbel-max draw's uniforms, ``[UNIFORM_LOW, 1)``: never 0
UNIFORM_LOW, UNIFORM_HIGH = 1e-20, 1.0


def sample(logits, temperature, top_k, top_p, seed=None, uniform=None):
    """One character id per row of logits (id 0, out of vocabulary, is never drawn).

    ``temperature`` 0 takes the likeliest; otherwise the logits are divided by it and
    cut to the ``top_k`` likeliest (0: all) and to the fewest likeliest whose
    probabilities reach ``top_p``, then one id is drawn, reproducibly for ``seed``:
    Gumbel-max on ``tf.random.stateless_uniform(shape, seed, UNIFORM_LOW, UNIFORM_HIGH)``,
    or on ``uniform`` (shaped as ``logits``) when it is given.
    """
    size = tf.shape(logits)[-1]
    banned = tf.one_hot(0, size, on_value=-np.inf, off_value=0.0)
    logits = logits + banned
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
    scaled = logits / tf.maximum(temperature, 1e-6)
    # one sort serves both cuts (and compiles with XLA, unlike top_k with a variable k)
    ordered = tf.sort(scaled, axis=-1, direction="DESCENDING")
    k = tf.where(top_k > 0, tf.minimum(top_k, size), size)
    kth = tf.gather(ordered, [k - 1], axis=-1)
    scaled = tf.where(scaled < kth, -np.inf, scaled)
    ordered = tf.where(tf.range(size) < k, ordered, -np.inf)
    mass_before = tf.cumsum(tf.nn.softmax(ordered), axis=-1, exclusive=True)
    cutoff = tf.reduce_min(tf.where(mass_before < top_p, ordered, np.inf), axis=-1, keepdims=True)
    scaled = tf.where(scaled < cutoff, -np.inf, scaled)
    # Gumbel-max: the argmax of logits plus Gumbel noise is a draw from their softmax
    if uniform is None:
        uniform = tf.random.stateless_uniform(
            tf.shape(scaled), seed, minval=UNIFORM_LOW, maxval=UNIFORM_HIGH
        )
    drawn = tf.argmax(scaled - tf.math.log(-tf.math.log(uniform)), axis=-1, output_type=tf.int32)
    return tf.where(temperature > 0, drawn, greedy)


def onnx_generation_function(
    emb: keras.layers.Layer,
    rnn: cl.DeepRNN,
    dense: keras.layers.Layer,
    chars: list[str],
    stop_at_blank_line: bool,
    grammar: Any = None,
):
    """The numbers of generation as one graph for ONNX (``model.onnx``):
    ``(char_ids, mask, length, temperature, top_k, top_p, uniform) ->
    {"generated", "probabilities"}``, the loop of :func:`generation_function` (primes fed,
    then ``length`` draws) with the Gumbel-max draw's uniforms an input: ``uniform[i]``,
    step ``i``'s ``[B, V]``, where the recipe's loop calls ``tf.random.stateless_uniform``.
    tf2onnx converts the rest, the while loop included, but not that op: it says "Tensorflow
    op [...StatelessRandomGetKeyCounter: StatelessRandomGetKeyCounter] is not supported"
    (and the same of ``StatelessRandomUniformV2``) and leaves them in the graph, which
    onnxruntime cannot run; ``inference.py`` computes the same numbers with NumPy
    (:mod:`recipes.charlm.onnx_inference`). ``probabilities``: the softmax of the logits
    after the primes. With ``grammar``, the loop draws only what it allows, as the recipe's
    does."""
    loop = generation_loop(emb, rnn, dense, chars, stop_at_blank_line, grammar)

    def numeric(char_ids, mask, length, temperature, top_k, top_p, uniform):
        def draw(i, logits):
            return sample(logits, temperature, top_k, top_p, uniform=uniform[i])

        logits, generated = loop(tf.cast(char_ids, tf.int32), mask, length, draw)
        return {"generated": generated, "probabilities": tf.nn.softmax(logits)}

    return numeric


# -- a grammar's tables in the loop --------------------------------------------------------
def grammar_functions(grammar: Any):
    """``(start(batch), allowed(registers), advance(registers, ids))`` over a grammar's
    tables (:class:`recipes.char_music.grammar.Tables`), TensorFlow ops that compile with
    XLA and convert to ONNX (gathers, integer arithmetic, no bit operations).

    ``registers`` ``[B, 10]`` int32: the automaton's state and the nine integers beside it
    (:data:`recipes.char_music.grammar.REGISTERS`). ``allowed`` ``[B, V]`` bool: the
    characters each row may draw next (where a row would allow none, which the tables
    rule out, or is in the free state: all). ``advance(registers, ids, ok=None)``: the
    registers after each row's id (``ok``: ``allowed(registers)`` where the caller has it);
    an id its row did not allow puts the row in the free state, unconstrained from then on
    (a prime the grammar cannot read)."""
    from recipes.char_music import grammar as abc

    def constant(name):
        # made where it is read, inside each loop's body: tables captured from outside a
        # loop become graph inputs in tf2onnx's conversion ("while/input_5:0")
        return tf.constant(getattr(grammar, name), tf.int32)

    width = grammar.next_state.shape[1]

    def bit(values, flag):
        return tf.math.floormod(tf.math.floordiv(values, flag), 2) == 1

    def start(batch):
        first = tf.constant([[grammar.start] + [0] * (len(abc.REGISTERS) - 1)], tf.int32)
        return tf.tile(first, [batch, 1])

    def unpack(registers):
        return [registers[:, i] for i in range(len(abc.REGISTERS))]

    def allowed(registers):
        state, position, bar, unit, short, flags, bars, since, ending, bang = (
            r[:, None] for r in unpack(registers)
        )
        next_state, commit, effects, need = (
            constant(n) for n in ("next_state", "commit", "effects", "need")
        )
        target = tf.gather(next_state, state[:, 0])
        moved = position + tf.math.floordiv(unit * tf.gather(commit, state[:, 0]), abc.PARTS)
        still = tf.math.floordiv(unit * tf.gather(need, tf.maximum(target, 0)), abc.PARTS)
        effect = tf.gather(effects, state[:, 0])
        plain_ok = (
            ((moved == bar) & (moved > 0))
            | bit(flags, abc.FIRST)
            | (bit(flags, abc.OPENED) & (moved > 0))
            | ((short > 0) & (moved + short == bar))
            | (moved == 0)  # no bar: a bar line right after another one (":|\n|:")
        )
        ok = (
            (target >= 0)
            & (moved + still <= bar)
            & (~bit(effect, abc.PLAIN_BAR) | plain_ok)
            & (~bit(effect, abc.REPEAT_BAR) | ((moved > 0) & (since >= 1)))
            & (~bit(effect, abc.ENDS) | (bars >= abc.MIN_BARS))
            & (~bit(effect, abc.DOUBLE) | (short == 0))
            & (~bit(effect, abc.ENDING1) | (ending == abc.NO_ENDING))
            & (~bit(effect, abc.ENDING2) | (ending == abc.ENDING_BAR))
            & (
                ~(bit(effect, abc.DOUBLE) | bit(effect, abc.OPENS) | bit(effect, abc.ENDS))
                | (ending != abc.IN_ENDING)
            )
            & (~(bit(effect, abc.OPENS) | bit(effect, abc.ENDS)) | ~bit(flags, abc.OPEN))
            & (
                ~bit(effect, abc.REPEAT_BAR)
                | bit(flags, abc.OPEN)
                | (tf.math.floordiv(flags, abc.IMPLIED) < abc.MAX_IMPLIED)
            )
            & (~bit(effect, abc.BANG) | (bang >= abc.BANG_GAP))
            # from MAX_BARS bars on: what is open closes, then the tune ends
            & (~(bit(effect, abc.OPENS) | bit(effect, abc.ENDING1)) | (bars < abc.MAX_BARS))
            & (
                ~bit(effect, abc.NOTE)
                | (moved > 0)
                | (bars < abc.MAX_BARS)
                | bit(flags, abc.OPEN)
                | (ending == abc.IN_ENDING)
            )
        )
        anything = tf.range(tf.shape(next_state)[1])[None, :] > 0
        ok = tf.where(state == abc.FREE, anything, ok)
        return tf.where(tf.reduce_any(ok, axis=-1, keepdims=True), ok, anything)

    def advance(registers, ids, ok=None):
        state, position, bar, unit, short, flags, bars, since, ending, bang = unpack(registers)
        next_state, commit, effects, sets = (
            constant(n) for n in ("next_state", "commit", "effects", "sets")
        )
        at = state * width + ids  # the flat tables' index (no stacking: tf2onnx has no Pack)
        ok = allowed(registers) if ok is None else ok
        was_allowed = tf.gather(ok, ids, batch_dims=1)
        target, effect, value, length = (
            tf.gather(tf.reshape(t, [-1]), at) for t in (next_state, effects, sets, commit)
        )
        moved = position + tf.math.floordiv(unit * length, abc.PARTS)
        closes = bit(effect, abc.PLAIN_BAR) | bit(effect, abc.REPEAT_BAR)
        closed = closes & (moved > 0)  # a bar with notes ends
        first = tf.where(closed, 0, tf.math.floormod(flags, 2))
        opened = tf.where(closed, 0, tf.math.floormod(tf.math.floordiv(flags, abc.OPENED), 2))
        opened = tf.where(bit(effect, abc.OPENS), 1, opened)
        implied = tf.math.floordiv(flags, abc.IMPLIED) + tf.cast(
            bit(effect, abc.REPEAT_BAR) & ~bit(flags, abc.OPEN), tf.int32
        )
        repeat_open = tf.where(
            bit(effect, abc.OPENS),
            1,
            tf.where(bit(effect, abc.REPEAT_BAR), 0, tf.cast(bit(flags, abc.OPEN), tf.int32)),
        )
        body = bit(effect, abc.BODY)
        first = tf.where(body, 1, first)
        is_unit = value >= abc.UNIT_BIT
        bar = tf.where((value > 0) & ~is_unit, value, bar)
        unit = tf.where(is_unit, value - abc.UNIT_BIT, unit)
        default_unit = tf.where(bar < abc.TICKS * 3 // 4, abc.TICKS // 16, abc.TICKS // 8)
        unit = tf.where(body & (unit == 0), default_unit, unit)
        updated = [
            tf.where(was_allowed, target, abc.FREE),
            tf.where(closes, 0, moved),
            bar,
            unit,
            tf.where(closed, tf.where(moved < bar, moved, 0), short),
            first * abc.FIRST
            + opened * abc.OPENED
            + repeat_open * abc.OPEN
            + implied * abc.IMPLIED,
            bars + tf.cast(closed, tf.int32),
            tf.where(
                bit(effect, abc.REPEAT_BAR) | bit(effect, abc.OPENS),
                0,
                since + tf.cast(closed, tf.int32),
            ),
            tf.where(
                bit(effect, abc.ENDING1),
                abc.IN_ENDING,
                tf.where(
                    bit(effect, abc.REPEAT_BAR) & (ending == abc.IN_ENDING),
                    abc.ENDING_COLON,
                    # the "|" of that ":|", then the "2" (ENDING2) or anything else:
                    # the ending is closed either way
                    tf.where(
                        ending == abc.ENDING_COLON,
                        abc.ENDING_BAR,
                        tf.where(ending == abc.IN_ENDING, abc.IN_ENDING, abc.NO_ENDING),
                    ),
                ),
            ),
            tf.where(bit(effect, abc.BANG), 0, tf.minimum(bang + 1, abc.BANG_GAP)),
        ]
        return tf.concat([r[:, None] for r in updated], axis=1)

    return start, allowed, advance


def read_primes(start, advance, ids: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """The grammar's registers after each row's ``ids`` ``[B, T]`` (``mask`` False: padding,
    skipped): :func:`grammar_functions`' ``advance`` over the columns in a loop."""
    registers = start(tf.shape(ids)[0])

    def read(t, registers):
        moved = advance(registers, tf.gather(ids, t, axis=1))
        return t + 1, tf.where(tf.gather(mask, t, axis=1)[:, None], moved, registers)

    _, registers = tf.while_loop(lambda t, registers: t < tf.shape(ids)[1], read, (0, registers))
    return registers
