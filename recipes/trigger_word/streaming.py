"""Streaming detection: the model run chunk by chunk, in Keras, TFLite or ONNX.

The streaming step (:func:`stream_step`) runs the model's layers on one chunk of audio,
the audio history and the GRU states, and returns the chunk's probabilities with the
new history and states (:func:`initial_states` at the start of a stream, shapes in
:func:`stream_signature`). :class:`Streamer` feeds it audio pushed in pieces of any
size; :func:`numpy_step` runs the XLA-compiled step on NumPy arrays, :class:`TFLiteStep`
an exported ``stream_step.tflite`` (written by :func:`write_tflite`, in float32 or
quantized post-training to float16 or int8 weights), and
:func:`stream_probabilities` any of them over a whole recording.

The TFLite and ONNX files hold the step with its GRU loops unrolled over the chunk's
frames (``stream_step(..., unroll=True)``): builtin ops only, no while loop.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf
from keras import ops

from recipes.core.recipe import QUANTIZATIONS
from recipes.core.tflite import native_stderr_discarded  # the converter's native stderr
from recipes.trigger_word.frontend import spectrum_features

if TYPE_CHECKING:
    from recipes.trigger_word.recipe import TriggerWord

#: output names of the TFLite streaming step, in the order of its outputs
TFLITE_OUTPUTS = ("history", "probabilities", "state1", "state2")
#: the name scope of the step's front end (the audio joined to its history, the log-mel
#: spectrogram): int8 quantization leaves it in float32 (see :func:`tflite_model`)
FRONTEND_SCOPE = "frontend"


def initial_states(recipe: TriggerWord, batch: int = 1) -> list[np.ndarray]:
    """Audio history (zeros) and GRU states (zeros) at the start of a stream."""
    units = recipe.config.units
    return [
        np.zeros((batch, recipe.history()), np.float32),
        np.zeros((batch, units), np.float32),
        np.zeros((batch, units), np.float32),
    ]


def stream_signature(recipe: TriggerWord, batch: int | None = 1) -> list[tf.TensorSpec]:
    """The inputs of the streaming step: ``chunk``, ``history``, ``state1``, ``state2``."""
    units = recipe.config.units
    return [
        tf.TensorSpec((batch, recipe.chunk_samples()), tf.float32, name="chunk"),
        tf.TensorSpec((batch, recipe.history()), tf.float32, name="history"),
        tf.TensorSpec((batch, units), tf.float32, name="state1"),
        tf.TensorSpec((batch, units), tf.float32, name="state2"),
    ]


def stream_step(recipe: TriggerWord, named: bool = False, unroll: bool = False):
    """The streaming step of ``recipe``'s model: ``(chunk, history, state1, state2)`` to
    ``(probabilities, history, state1, state2)`` after the chunk (``named``: a dict of
    them by those names, as the exported signatures give them).

    ``unroll``: the GRU layers' loops written out over the chunk's frames (their number
    is fixed by the chunk's length, which the signature must give): the same arithmetic
    (:func:`unrolled_gru`) without a while loop, for the TFLite and ONNX files (TFLite's
    int8 calibration crashes on the while loop, and the step runs faster without it).
    """

    def step(chunk, history, state1, state2):
        layers = recipe.model_layers()
        with tf.name_scope(FRONTEND_SCOPE):
            audio_in = ops.concatenate([history, chunk], axis=1)
            new_history = audio_in[:, -recipe.history() :]
            spectrum = layers["logmel"](audio_in)
        x = spectrum_features(layers, spectrum, training=False)
        if unroll:
            x, new1 = unrolled_gru(layers["gru1"], x, state1)
            x, new2 = unrolled_gru(layers["gru2"], x, state2)
        else:
            x, new1 = layers["gru1"](x, initial_state=[state1])
            x, new2 = layers["gru2"](x, initial_state=[state2])
        probs = ops.squeeze(layers["out"](x), -1)
        if named:
            return {"probabilities": probs, "history": new_history, "state1": new1, "state2": new2}
        return probs, new_history, new1, new2

    return step


def unrolled_gru(layer, sequences, state):
    """A :class:`custom_layers.GRU` (``return_sequences``, inference) on ``sequences``
    ``(batch, frames, features)`` of a known number of frames from ``state``, one step
    after another in Python: what the layer's loop computes (its cell's ``prepare`` once,
    then its ``step`` per frame). Returns ``(outputs (batch, frames, units), state)``."""
    frames = sequences.shape[1]
    if frames is None:
        raise ValueError("Expected sequences of a known number of frames to unroll, got None.")
    cell = layer.cell
    formulation = layer.formulation(training=False, batch=sequences.shape[0])
    loop_inputs, weights = cell.prepare(ops.transpose(sequences, [1, 0, 2]), formulation)
    states, outputs = (state,), []
    for t in range(frames):
        output, states = cell.step(loop_inputs[t], states, weights)
        outputs.append(output)
    return ops.stack(outputs, axis=1), states[0]


class Streamer:
    """Streaming detection: audio pushed in pieces of any size, detections as they happen.

    Runs the model's streaming step on whole chunks of ``chunk_ms`` (carrying the audio
    history and the GRU states); :meth:`finish` runs the last partial chunk, so a whole
    recording gives the detections (and probabilities) of the offline pass.

    Args:
        recipe: a trained detector.
        step: the streaming step to run (default: the XLA-compiled Keras step;
            :class:`TFLiteStep` runs an exported TFLite file instead).
        keep_probabilities: collect every chunk's probabilities in
            :attr:`probabilities` (for plots and checks; a live stream leaves it off).
    """

    def __init__(self, recipe: TriggerWord, step=None, keep_probabilities: bool = False):
        self.chunk = recipe.chunk_samples()
        self.frame_samples = recipe.frame_samples()
        self.step = step or recipe.stream_step_function()
        self.states = recipe.initial_stream_states()
        self.detector = recipe.detector()
        self.pending = np.zeros(0, np.float32)
        self.keep = keep_probabilities
        self.probabilities: list[np.ndarray] = []

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        out = self.step(chunk[None, :], *self.states)
        probs, self.states = np.asarray(out[0])[0], [np.asarray(s) for s in out[1:]]
        if self.keep:
            self.probabilities.append(probs)
        return probs

    def push(self, samples: np.ndarray) -> list[dict[str, float]]:
        """Adds audio; returns the detections of the chunks it completed."""
        self.pending = np.concatenate([self.pending, np.asarray(samples, np.float32)])
        found = []
        while len(self.pending) >= self.chunk:
            probs = self._run(self.pending[: self.chunk])
            self.pending = self.pending[self.chunk :]
            found += self.detector.update(probs)
        return found

    def finish(self) -> list[dict[str, float]]:
        """Runs the remaining whole frames (zero-padded to a chunk); the stream ends."""
        tail, self.pending = self.pending, np.zeros(0, np.float32)
        frames = len(tail) // self.frame_samples
        if not frames:
            return []
        padded = np.zeros(self.chunk, np.float32)
        padded[: len(tail)] = tail  # later samples cannot change earlier frames
        probs = self._run(padded)[:frames]
        if self.keep:
            self.probabilities[-1] = probs
        return self.detector.update(probs)


def numpy_step(function):
    """The concrete streaming step ``function`` run on NumPy arrays, returning NumPy arrays."""

    def run(chunk, history, state1, state2):
        return [
            t.numpy()
            for t in function(
                tf.constant(chunk),
                tf.constant(history),
                tf.constant(state1),
                tf.constant(state2),
            )
        ]

    return run


def chunks_of(
    recipe: TriggerWord, step, waveform: np.ndarray
) -> Iterator[tuple[list[np.ndarray], np.ndarray]]:
    """Runs ``step`` over ``waveform`` chunk by chunk from the start of a stream; yields
    each step's inputs ``[chunk, history, state1, state2]`` and its probabilities. The
    chunks are those that hold the recording's whole output frames, the last padded
    with zeros (later samples cannot change earlier frames), as :class:`Streamer` runs
    them."""
    chunk, frame = recipe.chunk_samples(), recipe.frame_samples()
    used = len(waveform) // frame * frame
    states = initial_states(recipe)
    for start in range(0, used, chunk):
        piece = np.zeros((1, chunk), np.float32)
        part = np.asarray(waveform[start : min(start + chunk, used)], np.float32)
        piece[0, : len(part)] = part
        out = step(piece, *states)
        yield [piece, *states], np.asarray(out[0])[0]
        states = [np.asarray(s) for s in out[1:]]


def stream_probabilities(recipe: TriggerWord, step, waveform: np.ndarray) -> np.ndarray:
    """The per-frame probabilities of ``waveform`` streamed through ``step`` (the Keras
    step, a :class:`TFLiteStep`, ...): ``len(waveform) // frame_samples`` of them, those
    of one offline pass when the step is the model's."""
    frames = len(waveform) // recipe.frame_samples()
    probs = [p for _, p in chunks_of(recipe, step, waveform)]
    return np.concatenate(probs)[:frames] if probs else np.zeros(0, np.float32)


def representative_data(
    recipe: TriggerWord, waveforms: Iterable[np.ndarray]
) -> Callable[[], Iterator[dict[str, np.ndarray]]]:
    """TFLite's ``representative_dataset`` for int8 calibration: the inputs of every
    step of ``waveforms`` streamed through the model's (Keras) step, so that the
    history and the states are those met in a stream. ``waveforms`` is read once."""
    waveforms = list(waveforms)
    names = [spec.name for spec in stream_signature(recipe)]

    def generate():
        step = recipe.stream_step_function()
        for waveform in waveforms:
            for inputs, _ in chunks_of(recipe, step, waveform):
                yield dict(zip(names, inputs, strict=True))

    return generate


def tflite_model(
    step,
    signature: list[tf.TensorSpec],
    quantize: str | None = None,
    representative: Callable[[], Iterator[dict[str, np.ndarray]]] | None = None,
) -> bytes:
    """``step`` (a function of named outputs) traced at ``signature``, its variables frozen
    into constants and converted to TFLite (builtin ops only: the converter refuses
    anything else).

    Args:
        quantize: ``None``: float32. ``"float16"``: post-training float16 weights (the
            interpreter computes in float32). ``"int8"``: post-training int8 weights and
            activations, their ranges calibrated on ``representative``, except the ops
            under :data:`FRONTEND_SCOPE` (joining the audio to its history and the log-mel
            spectrogram), left in float32: audio 60 dB below full scale is under one int8
            step of the audio's range, and the power spectrum spans more decades than 256
            levels. Inputs and outputs stay float32 in all three.
        representative: with ``"int8"``: a function returning an iterator of the step's
            inputs by name (:func:`representative_data`).
    """
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ValueError(f"Expected quantize in {QUANTIZATIONS} or None, got {quantize!r}.")
    frozen = convert_variables_to_constants_v2(tf.function(step).get_concrete_function(*signature))

    def converter() -> tf.lite.TFLiteConverter:
        return tf.lite.TFLiteConverter.from_concrete_functions([frozen], tf.Module())

    if quantize is None:
        return converter().convert()
    quantized = converter()
    quantized.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        quantized.target_spec.supported_types = [tf.float16]
        return quantized.convert()
    if representative is None:
        raise ValueError("int8 quantization needs a representative data set.")
    quantized.representative_dataset = representative
    # the front end's ops, by the names of their outputs in the float model
    interpreter = _interpreter(model_content=converter().convert())
    tensors = interpreter.get_tensor_details()
    front = [t["name"] for t in tensors if f"{FRONTEND_SCOPE}/" in t["name"]]
    # the new history leaves the front end as a signature output, named otherwise: kept
    # float32 too, or the audio carried to the next chunk is rounded to int8 steps
    names = {t["index"]: t["name"] for t in tensors}
    outputs = interpreter.get_signature_runner().get_output_details()
    front.append(names[outputs[f"output_{TFLITE_OUTPUTS.index('history')}"]["index"]])
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=front)
    # the debugger is TFLite's way to leave named ops unquantized; its interpreters'
    # deprecation warnings and the quantizer's native lines on stderr are left out
    with warnings.catch_warnings(), native_stderr_discarded():
        warnings.simplefilter("ignore")
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=quantized, debug_dataset=representative, debug_options=options
        )
        return debugger.get_nondebug_quantized_model()


def write_tflite(
    step,
    signature: list[tf.TensorSpec],
    path: str | Path,
    quantize: str | None = None,
    representative: Callable[[], Iterator[dict[str, np.ndarray]]] | None = None,
) -> Path:
    """:func:`tflite_model` written to ``path`` (in one piece: a temporary file beside it,
    then renamed)."""
    model = tflite_model(step, signature, quantize, representative)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent)) / path.name
    tmp.write_bytes(model)
    tmp.replace(path)
    tmp.parent.rmdir()
    return path


def _interpreter(**options) -> tf.lite.Interpreter:
    """``tf.lite.Interpreter(**options)``, without its deprecation warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tf.lite.Interpreter(**options)


class TFLiteStep:
    """Runs an exported ``stream_step.tflite`` like :meth:`TriggerWord.stream_step_function`.

    Args:
        path: the file (float32, float16 or int8: all take and return float32).
        threads: the interpreter's threads (``None``: its default).
    """

    def __init__(self, path: str | Path, threads: int | None = None):
        self.interpreter = _interpreter(model_path=str(path), num_threads=threads)
        self.runner = self.interpreter.get_signature_runner()

    def __call__(self, chunk, history, state1, state2):
        out = self.runner(chunk=chunk, history=history, state1=state1, state2=state2)
        named = {name: out[f"output_{i}"] for i, name in enumerate(TFLITE_OUTPUTS)}
        return [named["probabilities"], named["history"], named["state1"], named["state2"]]
