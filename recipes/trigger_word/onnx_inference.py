"""The trigger-word detector's ONNX or TFLite export on WAV files, without rnn-apps.

``rnn-apps export RUN --format onnx`` writes this file beside ``model.onnx`` and
``stream_step.onnx`` as ``inference.py``; ``rnn-apps export RUN --format tflite
[--quantize float16|int8]`` beside ``stream_step.tflite``. The detector's settings (sizes,
threshold, refractory time) are in ``preprocessing.json``, the runtime that runs the model
files in ``rnn_apps_runtime.py``: for ONNX, NumPy and onnxruntime are all it needs (not
TensorFlow, not rnn-apps); for TFLite, a TFLite interpreter (``ai-edge-litert``'s, else
TensorFlow's ``tf.lite.Interpreter``)::

    import sys
    sys.path.insert(0, "exported/marvin-onnx")  # the export folder
    import inference

    detector = inference.load("exported/marvin-onnx")
    print(detector.predict(["kitchen.wav"]))
    # [{'file': 'kitchen.wav', 'seconds': 10.0, 'detections': [{'time': 2.5, 'score': 0.7241}]}]

    stream = detector.stream()  # live audio, in pieces of any size (16 kHz float32)
    for piece in pieces:
        print(stream.push(piece))  # the detections of the chunks the piece completed
    print(stream.finish())

:meth:`TriggerWordExport.predict` returns what ``rnn-apps detect RUN FILE.wav ...`` prints
(one dict per file, the same keys and rounding). It reads only 16 kHz 16-bit PCM WAV
(:func:`read_wav`, channels averaged, as ``rnn-apps detect`` reads such a file); other
files are refused with one line saying how to convert them (``rnn-apps detect`` itself
also resamples other rates).

The models, all float32 in and out (audio at 16 kHz in [-1, 1]; one output frame, a
probability that the word has just ended, per 320 samples, 20 ms):

- ``model.onnx`` (ONNX): inputs ``waveform`` ``[batch, samples]`` (rows padded with zeros
  to the longest) and ``frames`` int32 ``[batch]`` (each row's own ``samples // 320``);
  outputs ``probabilities`` ``[batch, samples // 320]`` (-1 past a row's frames) and the
  detections at the run's threshold, ``detection_time`` (seconds, the end of the frame)
  and ``detection_score`` ``[batch, most detections of a row]``, padded with -1.
- ``stream_step.onnx`` (ONNX): one chunk of each of ``batch`` streams: inputs ``chunk``
  ``[batch, chunk_samples]``, ``history`` ``[batch, history_samples]`` (the audio before
  the chunk), ``state1`` and ``state2`` ``[batch, units]`` (the GRU states; zeros at the
  start of a stream); outputs ``probabilities`` ``[batch, chunk_samples // 320]``,
  ``next_history``, ``next_state1`` and ``next_state2``, the inputs of the next chunk.
- ``stream_step.tflite`` (TFLite; float32, float16 weights or int8 weights and
  activations, as exported): the same step for batch 1, signature ``serving_default``:
  inputs ``chunk``, ``history``, ``state1``, ``state2``; outputs ``output_0`` (history),
  ``output_1`` (probabilities), ``output_2`` (state1), ``output_3`` (state2). The TFLite
  export has no whole-recording model: a recording is streamed through the step (the
  probabilities of one pass over it).

A detection (:class:`Detector`) is a frame whose probability reaches the threshold while
the previous frame's did not, at least ``refractory_frames`` after the previous
detection; its time is the end of the frame, its score the probability.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np

try:  # in an export folder: the runtime shipped beside this file
    from rnn_apps_runtime import open_model
except ImportError:  # inside the rnn-apps package
    from recipes.core.model_runtime import open_model

#: how to make a WAV file that :func:`read_wav` reads (the end of its errors)
CONVERT = (
    "convert it to 16 kHz 16-bit PCM WAV (e.g. ffmpeg -i IN -ar 16000 -ac 1 -c:a pcm_s16le OUT.wav)"
)
#: the input names of the streaming step, and the output names of the ONNX one
STEP_INPUTS = ("chunk", "history", "state1", "state2")
ONNX_STEP_OUTPUTS = ("probabilities", "next_history", "next_state1", "next_state2")
#: the TFLite step's outputs, in order (``output_0`` ...)
TFLITE_STEP_OUTPUTS = ("history", "probabilities", "state1", "state2")


class WavError(ValueError):
    """A file that :func:`read_wav` does not read (one line naming it)."""


def read_wav(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """A 16-bit PCM WAV file at ``sample_rate`` Hz as a mono float32 waveform: samples /
    32768, channels averaged.

    Raises:
        WavError: the file is missing, is not a WAV file of 16-bit PCM (the ``wave``
            module's formats; WAVE_FORMAT_EXTENSIBLE headers from Python 3.12) or is at
            another rate.
    """
    path = Path(path)
    if not path.is_file():
        raise WavError(f"Audio file {path} does not exist.")
    try:
        with wave.open(str(path), "rb") as file:
            rate, width, channels = file.getframerate(), file.getsampwidth(), file.getnchannels()
            data = file.readframes(file.getnframes())
    except (wave.Error, EOFError) as error:
        raise WavError(f"{path} is not a 16-bit PCM WAV file ({error}); {CONVERT}.") from None
    if width != 2:
        raise WavError(f"{path} holds {8 * width}-bit samples, not 16-bit PCM; {CONVERT}.")
    if rate != sample_rate:
        raise WavError(f"{path} is {rate} Hz audio, not {sample_rate} Hz; {CONVERT}.")
    whole = len(data) // (2 * channels) * 2 * channels  # a truncated last frame left out
    samples = np.frombuffer(data[:whole], "<i2").reshape(-1, channels)
    samples = samples.astype(np.float32) / 32768.0
    return samples.mean(axis=1) if channels > 1 else samples[:, 0]


class Detector:
    """Detections from per-frame probabilities, fed in one piece or chunk by chunk.

    A detection is a frame whose probability reaches the threshold while the previous
    frame's did not, at least ``refractory`` frames after the previous detection. Its
    time is the end of the frame (seconds from the start of the audio), its score the
    frame's probability. Feeding the probabilities in pieces gives the same detections
    as feeding them at once.
    """

    def __init__(self, threshold: float, refractory_frames: int, frame_seconds: float):
        self.threshold = threshold
        self.refractory = refractory_frames
        self.frame_seconds = frame_seconds
        self.frames_seen = 0
        self._above = False
        self._last: int | None = None

    def update(self, probabilities: np.ndarray) -> list[dict[str, float]]:
        """The detections among the next ``probabilities``: ``{"time", "score"}``."""
        detections = []
        values = np.asarray(probabilities, np.float64).reshape(-1)
        for offset, p in enumerate(values):
            frame = self.frames_seen + offset
            above = p >= self.threshold
            if (
                above
                and not self._above
                and (self._last is None or frame - self._last >= self.refractory)
            ):
                self._last = frame
                detections.append(self.detection(frame, p))
            self._above = above
        self.frames_seen += len(values)
        return detections

    def detection(self, frame: int, probability: float) -> dict[str, float]:
        """Frame ``frame``'s detection as ``rnn-apps detect`` rounds it."""
        return {
            "time": round((frame + 1) * self.frame_seconds, 3),
            "score": round(float(probability), 4),
        }


class TriggerWordExport:
    """An ONNX export (``model.onnx`` and ``stream_step.onnx``) or a TFLite export
    (``stream_step.tflite``) of the detector, in ``folder``."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        self.settings = json.loads((folder / "preprocessing.json").read_text(encoding="utf-8"))
        s = self.settings
        self.sample_rate = s["sample_rate"]
        self.frame_samples, self.chunk_samples = s["frame_samples"], s["chunk_samples"]
        self.frame_seconds = self.frame_samples / self.sample_rate
        # the whole-recording model of an ONNX export (a TFLite export streams)
        self.model = open_model(folder) if (folder / "model.onnx").exists() else None
        self.stream_model = open_model(folder, "stream_step")
        self.format = self.stream_model.path.suffix[1:]  # "onnx" or "tflite"

    # -- numbers ---------------------------------------------------------------------------
    def initial_states(self) -> list[np.ndarray]:
        """``[history, state1, state2]`` at the start of a stream (zeros, batch 1)."""
        s = self.settings
        return [
            np.zeros((1, s["history_samples"]), np.float32),
            np.zeros((1, s["units"]), np.float32),
            np.zeros((1, s["units"]), np.float32),
        ]

    def step(self, chunk, history, state1, state2) -> list[np.ndarray]:
        """One chunk ``[1, chunk_samples]`` of a stream: ``[probabilities, history,
        state1, state2]`` after it (float32 arrays)."""
        inputs = [np.asarray(x, np.float32) for x in (chunk, history, state1, state2)]
        out = self.stream_model.run(dict(zip(STEP_INPUTS, inputs, strict=True)))
        if self.format == "onnx":
            return [out[name] for name in ONNX_STEP_OUTPUTS]
        named = {name: out[f"output_{i}"] for i, name in enumerate(TFLITE_STEP_OUTPUTS)}
        return [named[name] for name in ("probabilities", "history", "state1", "state2")]

    def streamed_probabilities(self, waveform: np.ndarray) -> np.ndarray:
        """The per-frame probabilities of ``waveform`` streamed through the step: the
        chunks that hold its whole frames, the last padded with zeros."""
        waveform = np.asarray(waveform, np.float32).reshape(-1)
        frames = len(waveform) // self.frame_samples
        used = frames * self.frame_samples
        states, probs = self.initial_states(), []
        for start in range(0, used, self.chunk_samples):
            chunk = np.zeros((1, self.chunk_samples), np.float32)
            part = waveform[start : min(start + self.chunk_samples, used)]
            chunk[0, : len(part)] = part
            out = self.step(chunk, *states)
            probs.append(out[0][0])
            states = out[1:]
        return np.concatenate(probs)[:frames] if probs else np.zeros(0, np.float32)

    def _offline(self, waveform: np.ndarray) -> tuple[np.ndarray, list[dict[str, float]]]:
        """``model.onnx`` on one waveform: its probabilities and detections."""
        waveform = np.asarray(waveform, np.float32).reshape(1, -1)
        frames = np.array([waveform.shape[1] // self.frame_samples], np.int32)
        out = self.model.run({"waveform": waveform, "frames": frames})
        probs, times, scores = (
            out[k] for k in ("probabilities", "detection_time", "detection_score")
        )
        detector = self.detector()
        found = [
            # the frame from its float32 end time, and the time again as the detector
            # gives it (float64): exact however long the audio
            detector.detection(int(round(float(t) / self.frame_seconds)) - 1, float(p))
            for t, p in zip(times[0], scores[0], strict=True)
            if t >= 0
        ]
        return probs[0], found

    def probabilities(self, waveform: np.ndarray) -> np.ndarray:
        """Per-frame probabilities (one per 20 ms) of a 16 kHz float32 waveform:
        ``model.onnx`` (ONNX), or the step streamed over it (TFLite)."""
        if self.model is not None:
            return self._offline(waveform)[0]
        return self.streamed_probabilities(waveform)

    def detector(self) -> Detector:
        """A fresh detector at the run's threshold and refractory time."""
        s = self.settings
        return Detector(s["threshold"], s["refractory_frames"], self.frame_seconds)

    def detect(self, waveform: np.ndarray) -> list[dict[str, float]]:
        """Detections ``{"time": seconds, "score": probability}`` in a 16 kHz waveform
        (ONNX: ``model.onnx``'s own; TFLite: :class:`Detector` on the probabilities)."""
        if self.model is not None:
            return self._offline(waveform)[1]
        return self.detector().update(self.probabilities(waveform))

    def stream(self) -> Stream:
        """A new stream: :meth:`Stream.push` audio as it comes, then :meth:`Stream.finish`."""
        return Stream(self)

    # -- the task verb -----------------------------------------------------------------
    def predict(self, paths: list[str | Path]) -> list[dict]:
        """One ``{"file", "seconds", "detections": [{"time", "score"}]}`` per WAV file, as
        ``rnn-apps detect`` prints it.

        Raises:
            ValueError: no file given.
            WavError: a file :func:`read_wav` does not read.
        """
        if not paths:
            raise ValueError("Give one or more WAV files to listen to.")
        results = []
        for path in paths:
            waveform = read_wav(path, self.sample_rate)
            results.append(
                {
                    "file": str(path),
                    "seconds": round(len(waveform) / self.sample_rate, 3),
                    "detections": self.detect(waveform),
                }
            )
        return results


class Stream:
    """Streaming detection: audio pushed in pieces of any size, detections as they happen.

    Whole chunks of ``chunk_samples`` run through the step as they complete;
    :meth:`finish` runs the last partial chunk, so that a whole recording gives the
    detections of one pass over it.
    """

    def __init__(self, export: TriggerWordExport):
        self.export = export
        self.states = export.initial_states()
        self.detector = export.detector()
        self.pending = np.zeros(0, np.float32)

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        out = self.export.step(chunk[None, :], *self.states)
        self.states = out[1:]
        return out[0][0]

    def push(self, samples: np.ndarray) -> list[dict[str, float]]:
        """Adds 16 kHz float32 audio; returns the detections of the chunks it completed."""
        self.pending = np.concatenate([self.pending, np.asarray(samples, np.float32)])
        found, size = [], self.export.chunk_samples
        while len(self.pending) >= size:
            found += self.detector.update(self._run(self.pending[:size]))
            self.pending = self.pending[size:]
        return found

    def finish(self) -> list[dict[str, float]]:
        """Runs the remaining whole frames (zero-padded to a chunk); the stream ends."""
        tail, self.pending = self.pending, np.zeros(0, np.float32)
        frames = len(tail) // self.export.frame_samples
        if not frames:
            return []
        padded = np.zeros(self.export.chunk_samples, np.float32)
        padded[: len(tail)] = tail
        return self.detector.update(self._run(padded)[:frames])


def load(folder: str | Path) -> TriggerWordExport:
    """The export in ``folder`` (every ONNX and TFLite export's ``inference.py`` has
    this function)."""
    return TriggerWordExport(folder)
