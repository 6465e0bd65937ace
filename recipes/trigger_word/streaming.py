"""Streaming detection: the model run chunk by chunk, in Keras or TFLite.

The streaming step (:func:`stream_step`) runs the model's layers on one chunk of audio,
the audio history and the GRU states, and returns the chunk's probabilities with the
new history and states (:func:`initial_states` at the start of a stream, shapes in
:func:`stream_signature`). :class:`Streamer` feeds it audio pushed in pieces of any
size; :func:`numpy_step` runs the XLA-compiled step on NumPy arrays, :class:`TFLiteStep`
an exported ``stream_step.tflite`` (written by :func:`write_tflite`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf
from keras import ops

from recipes.trigger_word.frontend import frames_features

if TYPE_CHECKING:
    from recipes.trigger_word.recipe import TriggerWord

#: output names of the TFLite streaming step, in the order of its outputs
TFLITE_OUTPUTS = ("history", "probabilities", "state1", "state2")


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


def stream_step(recipe: TriggerWord, named: bool = False):
    """The streaming step of ``recipe``'s model: ``(chunk, history, state1, state2)`` to
    ``(probabilities, history, state1, state2)`` after the chunk (``named``: a dict of
    them by those names, as the exported signatures give them)."""

    def step(chunk, history, state1, state2):
        layers = recipe.model_layers()
        audio_in = ops.concatenate([history, chunk], axis=1)
        new_history = audio_in[:, -recipe.history() :]
        x = frames_features(layers, audio_in, training=False)
        x, new1 = layers["gru1"](x, initial_state=[state1])
        x, new2 = layers["gru2"](x, initial_state=[state2])
        probs = ops.squeeze(layers["out"](x), -1)
        if named:
            return {"probabilities": probs, "history": new_history, "state1": new1, "state2": new2}
        return probs, new_history, new1, new2

    return step


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


def write_tflite(step, signature: list[tf.TensorSpec], path: str | Path) -> Path:
    """``step`` (a function of named outputs) traced at ``signature``, its variables frozen
    into constants, converted to TFLite and written to ``path`` (in one piece: a temporary
    file beside it, then renamed)."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    function = tf.function(step).get_concrete_function(*signature)
    frozen = convert_variables_to_constants_v2(function)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen], tf.Module())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent)) / path.name
    tmp.write_bytes(converter.convert())
    tmp.replace(path)
    tmp.parent.rmdir()
    return path


class TFLiteStep:
    """Runs an exported ``stream_step.tflite`` like :meth:`TriggerWord.stream_step_function`."""

    def __init__(self, path: str | Path):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.interpreter = tf.lite.Interpreter(model_path=str(path))
        self.runner = self.interpreter.get_signature_runner()

    def __call__(self, chunk, history, state1, state2):
        out = self.runner(chunk=chunk, history=history, state1=state1, state2=state2)
        named = {name: out[f"output_{i}"] for i, name in enumerate(TFLITE_OUTPUTS)}
        return [named["probabilities"], named["history"], named["state1"], named["state2"]]
