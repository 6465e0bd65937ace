"""The trigger-word detector: raw audio in, the times a chosen word was said out.

Many-to-many on audio frames. The model takes a raw 16 kHz waveform: a log-mel
spectrogram (computed in the model, as a strided convolution with a windowed DFT basis,
so that XLA, SavedModel and TFLite all run it), a strided 1-D convolution over the
spectrogram frames, batch normalization, two :class:`custom_layers.GRU` layers and a
per-frame sigmoid: the probability that the word has just ended (one output frame
every 20 ms). The waveform is padded on the left with as many zeros as the front end
looks back, so that the model run chunk by chunk with carried states (streaming) gives
the probabilities of one pass over the whole recording.

Training examples are composed on the fly (:mod:`recipes.trigger_word.mixing`): positives (the
word) and negatives (other words) inserted into backgrounds, augmented in speed, pitch,
level and noise. Without data, the word and the negatives are synthesized with eSpeak
NG and the backgrounds are generated noise.

The export's ``serving_default`` takes waveforms, ``wav`` the bytes of WAV files (decoded
in the graph), ``stream_step`` a chunk and the states; the first two give the detections
as well as the probabilities. The ONNX export (:meth:`TriggerWord.write_onnx`) holds the
first and the streaming step, the TFLite export (:meth:`TriggerWord.write_tflite`) the
streaming step in float32, float16 or int8; both come with
:mod:`~recipes.trigger_word.onnx_inference` as ``inference.py``, which reads WAV files and
detects with NumPy and onnxruntime or TFLite's interpreter, as ``rnn-apps detect`` does.

The front end is :mod:`~recipes.trigger_word.frontend`; detections, their measurement and
the calibrated threshold are :mod:`~recipes.trigger_word.detection`; streaming and TFLite
:mod:`~recipes.trigger_word.streaming`; the ``--plot`` figure :mod:`~recipes.trigger_word.plots`.
"""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

import custom_layers as cl
from recipes.core.data import Splits
from recipes.core.errors import UserError
from recipes.core.recipe import Recipe
from recipes.core.training import EPOCHS_TRAINED, EpochCounter, write_json
from recipes.trigger_word import audio, detection, mixing, plots, streaming
from recipes.trigger_word.config import FRAME_STEP, TriggerWordConfig
from recipes.trigger_word.detection import THRESHOLD_FILE, Detector, StaleThreshold
from recipes.trigger_word.frontend import LeftPad, LogMel, frames_features, history_samples
from recipes.trigger_word.mixing import Clips, Mixing
from recipes.trigger_word.streaming import Streamer

#: training examples that int8 quantization calibrates on (:meth:`TriggerWord.quantization_audio`)
QUANTIZATION_EXAMPLES = 16
#: the streaming step's file in the ONNX and the TFLite exports (and beside the SavedModel)
ONNX_STEP, TFLITE_STEP = "stream_step.onnx", "stream_step.tflite"


class TriggerWord(Recipe):
    """Hears a chosen word in a stream of sound: ``detect(waveform)`` -> times.

    Exported (:meth:`export_endpoints`) with the signatures ``serving_default``
    (waveforms), ``wav`` (WAV files' bytes) and ``stream_step`` (one chunk of a stream).
    """

    name = "trigger_word"
    config_class = TriggerWordConfig
    #: post-training quantizations of the TFLite export (:meth:`export_tflite`)
    tflite_quantizations = ("float16", "int8")

    def __init__(self, config: TriggerWordConfig | None = None, **overrides: Any):
        super().__init__(config, **overrides)
        self._calibrated: tuple[Any, float] | None = None  # (model or "loaded", threshold)
        self._stream_step = None  # see streamed: the step that gives the probabilities

    # -- sizes ---------------------------------------------------------------------
    def frame_samples(self) -> int:
        return FRAME_STEP * self.config.conv_stride

    def frame_seconds(self) -> float:
        return self.frame_samples() / audio.SAMPLE_RATE

    def chunk_samples(self) -> int:
        return self.config.chunk_ms * audio.SAMPLE_RATE // 1000

    def history(self) -> int:
        return history_samples(self.config.conv_kernel, self.config.conv_stride)

    def mixing(self, seconds: float | None = None) -> Mixing:
        """How examples of ``seconds`` (default ``example_seconds``) are composed."""
        return Mixing.of(self.config, self.frame_samples(), seconds)

    def detector(self, threshold: float | None = None) -> Detector:
        """A fresh detector at ``threshold`` (default: :meth:`threshold`)."""
        refractory = int(round(self.config.refractory_seconds / self.frame_seconds()))
        threshold = self.threshold() if threshold is None else threshold
        return Detector(threshold, refractory, self.frame_seconds())

    # -- data ------------------------------------------------------------------------
    def load_splits(self, data: str | None) -> Splits:
        """Clips of a Speech Commands style folder plus synthesized ones (training only),
        or, without ``data``, synthesized speech split by voice and generated noise
        (:func:`mixing.split_clips`)."""
        quiet = not self.verbose  # fit --quiet: no notes of the synthesis either
        splits = mixing.split_clips(self.config, data, self.mixing(), quiet)
        return Splits(splits["train"], splits["validation"], splits["test"])

    def load_examples(self, data: str) -> Clips:
        """Held-out (test) clips of another source, for ``evaluate --data``."""
        return self.load_splits(data).test

    def prepare(self, splits: Splits) -> None:
        return None

    def examples(self, clips: Clips, count: int, rng: np.random.Generator):
        plan = self.mixing()
        for _ in range(count):
            yield mixing.compose(clips, plan, rng)

    def to_dataset(self, clips: Clips, training: bool) -> tf.data.Dataset:
        """Batches of composed examples. Training: ``train_examples`` new ones every epoch,
        from a generator seeded with ``(seed, epoch)``; validation: composed once."""
        c = self.config
        plan = self.mixing()
        frames = plan.samples // plan.frame_samples
        signature = (
            tf.TensorSpec((plan.samples,), tf.float32),
            tf.TensorSpec((frames, 1), tf.float32),
        )
        if training:
            # epoch k of a resumed run composes what epoch k of an uninterrupted run does
            epochs = itertools.count(self.initial_epoch)

            def generate():
                rng = np.random.default_rng([c.seed, next(epochs)])
                for wave, labels in self.examples(clips, c.train_examples, rng):
                    yield wave, labels[:, None]

            ds = tf.data.Dataset.from_generator(generate, output_signature=signature)
            ds = ds.apply(tf.data.experimental.assert_cardinality(c.train_examples))
        else:
            rng = np.random.default_rng([c.seed, 10**6])
            waves, labels = zip(*self.examples(clips, c.validation_examples, rng), strict=True)
            ds = tf.data.Dataset.from_tensor_slices((np.stack(waves), np.stack(labels)[..., None]))
        return ds.batch(c.batch_size, drop_remainder=training).prefetch(2)

    # -- model -------------------------------------------------------------------------
    def build_model(self) -> keras.Model:
        c = self.config
        keras.utils.set_random_seed(c.seed)
        waveform = keras.Input((None,), name="waveform")
        layers = self.new_layers()
        x = LeftPad(self.history(), name="history")(waveform)
        x = frames_features(layers, x)
        x = layers["drop0"](x)
        x, _ = layers["gru1"](x)
        x = layers["drop1"](x)
        x, _ = layers["gru2"](x)
        x = layers["drop2"](x)
        probs = layers["out"](x)
        model = keras.Model(waveform, probs, name="trigger_word")
        model.compile(
            optimizer=self.optimizer(),
            loss=keras.losses.BinaryCrossentropy(),
            metrics=[keras.metrics.AUC(name="auc"), keras.metrics.Recall(name="recall")],
            jit_compile=self.jit_compile(),
        )
        return model

    def new_layers(self) -> dict[str, keras.layers.Layer]:
        c = self.config
        return {
            "logmel": LogMel(c.mels, name="logmel"),
            "conv": keras.layers.Conv1D(
                c.conv_filters, c.conv_kernel, strides=c.conv_stride, name="conv"
            ),
            "norm": keras.layers.BatchNormalization(name="norm"),
            "relu": keras.layers.ReLU(name="relu"),
            "drop0": keras.layers.Dropout(c.dropout, name="drop0"),
            "gru1": cl.GRU(c.units, return_sequences=True, return_state=True, name="gru1"),
            "drop1": keras.layers.Dropout(c.dropout, name="drop1"),
            "gru2": cl.GRU(c.units, return_sequences=True, return_state=True, name="gru2"),
            "drop2": keras.layers.Dropout(c.dropout, name="drop2"),
            "out": keras.layers.Dense(1, activation="sigmoid", name="out"),
        }

    def model_layers(self) -> dict[str, keras.layers.Layer]:
        """The model's layers by name (those of :meth:`new_layers` among them)."""
        return {layer.name: layer for layer in self.model.layers}

    # -- training --------------------------------------------------------------------
    def monitored(self) -> tuple[str, str]:
        """``keep = "last"``: the last epoch (the end of the schedule); ``"best"``: the
        lowest ``val_loss``."""
        return (EPOCHS_TRAINED, "max") if self.config.keep == "last" else ("val_loss", "min")

    def training_callbacks(self, splits: Splits) -> list[keras.callbacks.Callback]:
        return [EpochCounter(), StaleThreshold(self)]

    def finish_training(self, splits: Splits) -> dict[str, Any]:
        """The threshold calibrated for the model trained, written to the run folder
        (``threshold.json``, when ``threshold = 0``). A resumed run calibrates anew too:
        the file it found belonged to the model it went on from (see
        :class:`detection.StaleThreshold`)."""
        self.save_assets(self.run_dir)
        return {}

    # -- metrics and the threshold ---------------------------------------------------
    def metrics(self, clips: Clips) -> dict[str, Any]:
        """Miss rate, false accepts per hour and per-frame precision/recall on held-out
        clips (:func:`detection.metrics`)."""
        self._require_model()
        return detection.metrics(self, clips)

    def threshold(self) -> float:
        """``config.threshold``, or when it is 0 the threshold calibrated on validation:
        :meth:`calibrate` on :meth:`calibration_data`, once per model."""
        if self.config.threshold > 0:
            return self.config.threshold
        if self._calibrated is None or self._calibrated[0] not in (self.model, "loaded"):
            self._require_model()
            with self.progress("calibrating the threshold on the validation split"):
                chosen = self.calibrate(*self.calibration_data())
            self._calibrated = (self.model, chosen)
        return self._calibrated[1]

    def calibration_data(self) -> tuple[list, list]:
        """``(streams, trials)`` of the validation split (:func:`detection.calibration_data`)."""
        return detection.calibration_data(self)

    def calibrate(self, streams, trials) -> float:
        """The threshold for negative ``streams`` and positive ``trials``
        (:func:`detection.calibrate`)."""
        return detection.calibrate(self, streams, trials)

    # -- the task verb -------------------------------------------------------------------
    def probabilities(self, source) -> np.ndarray:
        """Per-frame probabilities (one every ``frame_seconds``) of a waveform or WAV path."""
        self._require_model()
        waveform = audio.waveform_of(source)
        frames = len(waveform) // self.frame_samples()
        if frames == 0:
            return np.zeros(0, np.float32)
        return self.batch_probabilities([waveform])[0][:frames]

    def batch_probabilities(self, waveforms: list[np.ndarray]) -> list[np.ndarray]:
        """Probabilities of several waveforms, padded to one length per batch (of a
        :meth:`streamed` detector: each streamed through its step)."""
        if self._stream_step is not None:
            return [
                streaming.stream_probabilities(self, self._stream_step, np.asarray(w, np.float32))
                for w in waveforms
            ]

        def make():
            def run(batch):
                return ops.squeeze(self.model(batch, training=False), -1)

            return tf.function(run, jit_compile=True, reduce_retracing=True)

        function = self._compiled("probabilities", make)
        step = self.chunk_samples()
        longest = max(len(w) for w in waveforms)
        length = max(step, -(-longest // step) * step)  # few shapes: whole chunks
        batch = np.zeros((len(waveforms), length), np.float32)
        for i, w in enumerate(waveforms):
            batch[i, : len(w)] = w
        probs = np.asarray(function(tf.constant(batch)))
        return [p[: len(w) // self.frame_samples()] for p, w in zip(probs, waveforms, strict=True)]

    def detect(self, source, streaming: bool = False) -> list[dict[str, float]]:
        """Detections ``{"time": seconds, "score": probability}`` in a waveform or WAV file.

        Args:
            source: a path to a WAV file (any rate, converted to 16 kHz mono) or a 1-D
                float waveform at 16 kHz.
            streaming: run the streaming step chunk by chunk instead of one pass (the
                same detections).
        """
        self._require_model()
        waveform = audio.waveform_of(source)
        if streaming:
            streamer = Streamer(self)
            found = streamer.push(waveform)
            return found + streamer.finish()
        return self.detector().update(self.probabilities(waveform))

    def predict(
        self, inputs: list[str], plot: str | None = None, chime: str | None = None
    ) -> list[dict]:
        """Detections in each WAV file; ``plot``/``chime`` are made for the first one.

        Audio shorter than one output frame (``frame_seconds``, 20 ms), even empty, has
        no frame to detect in: no detections. It has nothing to plot either: ``plot``
        for such a first file is a :class:`UserError` naming it."""
        if not inputs:
            raise UserError("Give one or more WAV files to listen to.")
        results = []
        for i, path in enumerate(inputs):
            waveform = audio.read_wav(path)
            if i == 0 and plot:
                plots.require_frames(self, waveform, path)
            probs = self.probabilities(waveform)
            found = self.detector().update(probs)
            results.append(
                {
                    "file": str(path),
                    "seconds": round(len(waveform) / audio.SAMPLE_RATE, 3),
                    "detections": found,
                }
            )
            if i == 0 and plot:
                self.plot(waveform, probs, found, plot, title=Path(path).name)
            if i == 0 and chime:
                audio.write_wav(chime, audio.with_chimes(waveform, [d["time"] for d in found]))
        return results

    def plot(self, waveform, probs, detections, path: str | Path, title: str = "") -> Path:
        """Log-mel spectrogram over the detection probability, detections marked
        (:func:`plots.plot_detections`)."""
        return plots.plot_detections(self, waveform, probs, detections, path, title)

    def streamed(self, step) -> TriggerWord:
        """This detector with its probabilities computed by ``step`` (e.g. a
        :class:`streaming.TFLiteStep` of a float16 or int8 export) chunk by chunk instead
        of the model's offline pass: its :meth:`probabilities`, :meth:`detect`,
        :meth:`evaluate` and metrics are then the step's, at this detector's threshold
        (not calibrated anew). This detector is left as it was."""
        twin = copy.copy(self)
        twin._calibrated = ("loaded", self.threshold())
        twin._stream_step = step
        return twin

    # -- streaming (:mod:`recipes.trigger_word.streaming`) ------------------------------
    def initial_stream_states(self, batch: int = 1) -> list[np.ndarray]:
        """Audio history (zeros) and GRU states (zeros) at the start of a stream."""
        return streaming.initial_states(self, batch)

    def stream_step_function(self):
        """The streaming step, XLA-compiled (one chunk of one stream), on NumPy arrays."""

        def make():
            step = tf.function(streaming.stream_step(self), jit_compile=True, reduce_retracing=True)
            return step.get_concrete_function(*streaming.stream_signature(self))

        return streaming.numpy_step(self._compiled("stream_step", make))

    # -- run folder and export -------------------------------------------------------------
    def save_assets(self, run_dir: Path) -> None:
        """``threshold.json``: the calibrated threshold (when ``threshold = 0``)."""
        if self.config.threshold == 0 and self.model is not None:
            write_json(
                run_dir / THRESHOLD_FILE,
                {
                    "threshold": self.threshold(),
                    "target_false_accepts_per_hour": self.config.target_false_accepts_per_hour,
                },
            )

    def load_assets(self, run_dir: Path) -> None:
        """The calibrated threshold of ``threshold.json``; not while :meth:`fit` resumes
        the run (it calibrates one for the model it trains)."""
        path = run_dir / THRESHOLD_FILE
        if path.exists():
            self._calibrated = ("loaded", float(json.loads(path.read_text())["threshold"]))

    def serving_resources(self) -> list:
        return [self.model]

    def serving_signature(self) -> list[tf.TensorSpec]:
        return [tf.TensorSpec((None, None), tf.float32, name="waveform")]

    def serving_function(self):
        """``serving_default``: waveforms ``[batch, samples]`` (16 kHz) -> ``probabilities``
        ``[batch, samples // 320]`` and the detections of :meth:`detector` (the run's
        threshold), ``detection_time`` and ``detection_score`` ``[batch, detections]``
        padded with -1 (:func:`detection.detections_in_graph`).

        Audio shorter than one frame has no frame, hence no detection, as in
        :meth:`predict`. The function also takes ``frames``, each row's own frame count
        when the rows are audio of different lengths padded with zeros
        (:meth:`wav_function`): the frames past a row's end are -1 then, and so have no
        detection.
        """
        model, frame, detector = self.model, self.frame_samples(), self.detector()

        def serve(waveform, frames=None):
            samples = tf.shape(waveform)[1]
            if frames is None:
                frames = tf.fill(tf.shape(waveform)[:1], samples // frame)
            # at least one frame: the model fails on less audio, the detector's scan on
            # none; the frames only look back, so the first ``samples // frame`` are those
            # of the audio as it came
            padded = tf.pad(waveform, [[0, 0], [0, tf.maximum(frame - samples, 0)]])
            probs = ops.squeeze(model(padded, training=False), -1)
            # past each row's frames: -1, below any threshold (all are above 0)
            probs = tf.where(tf.sequence_mask(frames, tf.shape(probs)[1]), probs, -1.0)
            found = detection.detections_in_graph(detector, probs)
            return {"probabilities": probs[:, : samples // frame], **found}

        return serve

    def wav_function(self):
        """``wav``: the bytes of WAV files ``[batch]`` -> what ``serving_default`` gives for
        their waveforms, and ``frames`` (int32) and ``seconds`` (float32) ``[batch]``.

        Each file is decoded in the graph (:func:`audio.wavs_in_graph`: 16 kHz 16-bit PCM
        only, channels averaged, as :func:`audio.read_wav` reads it) and the files are
        padded with zeros to the longest; the model only looks back, so a row's frames
        are those of the file alone (to float rounding: the matrix product of the output
        layer may round a frame's last bit otherwise in another batch), and
        ``probabilities`` past its ``frames`` are -1.
        """
        serve, frame = self.serving_function(), self.frame_samples()

        def serve_wav(wav):
            waveform, samples = audio.wavs_in_graph(wav)
            frames = samples // frame
            # divided in float64: float32 division here is not always the nearest float32
            seconds = tf.cast(tf.cast(samples, tf.float64) / audio.SAMPLE_RATE, tf.float32)
            return {**serve(waveform, frames), "frames": frames, "seconds": seconds}

        return serve_wav

    def export_endpoints(self) -> dict[str, tuple[Any, list[tf.TensorSpec]]]:
        """``serving_default`` (waveform batch -> per-frame probabilities and the detections
        of :meth:`detector`, the run's threshold; :meth:`serving_function`), ``wav`` (WAV
        files' bytes -> the same, and each file's ``frames`` and ``seconds``;
        :meth:`wav_function`) and ``stream_step`` (one chunk and the states ->
        probabilities and new states)."""
        return {
            **super().export_endpoints(),
            "wav": (self.wav_function(), [tf.TensorSpec((None,), tf.string, name="wav")]),
            "stream_step": (
                streaming.stream_step(self, named=True),
                streaming.stream_signature(self, batch=None),
            ),
        }

    def write_export(self, export_dir: Path) -> None:
        """The SavedModel and, beside its files, ``stream_step.tflite`` (the streaming
        step for TFLite)."""
        super().write_export(export_dir)
        with self.progress("converting the streaming step to TFLite"):
            self.export_tflite(export_dir / TFLITE_STEP)

    def export_tflite(
        self,
        path: str | Path,
        quantize: str | None = None,
        calibration: list[np.ndarray] | None = None,
    ) -> Path:
        """The streaming step as a TFLite model (batch 1, one ``chunk_ms`` chunk, the GRU
        loops unrolled over its frames; builtin ops only).

        Inputs ``chunk`` ``[1, chunk_samples]``, ``history`` ``[1, history()]``,
        ``state1`` and ``state2`` ``[1, units]``; outputs (in this order, ``output_0`` to
        ``output_3``) ``history``, ``probabilities`` ``[1, chunk_samples // 320]``,
        ``state1``, ``state2`` (see :class:`streaming.TFLiteStep`), all float32.
        ``quantize``: ``None`` (float32), ``"float16"`` (float16 weights) or ``"int8"``
        (int8 weights and activations past the front end, calibrated on the waveforms
        ``calibration``, by default :meth:`quantization_audio`;
        :func:`streaming.tflite_model`).
        """
        self._require_model()
        step = streaming.stream_step(self, named=True, unroll=True)
        representative = None
        if quantize == "int8":
            if calibration is None:
                calibration = self.quantization_audio()
            representative = streaming.representative_data(self, calibration)
        return streaming.write_tflite(
            step, streaming.stream_signature(self), path, quantize, representative
        )

    def quantization_audio(self) -> list[np.ndarray]:
        """What int8 quantization calibrates its ranges on: :data:`QUANTIZATION_EXAMPLES`
        training examples (``example_seconds`` each) composed from the run's training
        split as training composes them (backgrounds, positives and negatives, augmented,
        at random levels, sometimes with generated noise), from a generator seeded with
        ``(seed, 10**6 + 1)``, apart from those of training and validation. The split is
        the run's own: its ``data`` folder read again, or the synthesized speech made again
        from the run's seed.

        Raises:
            UserError: the run's data cannot be read (one line saying so).
        """
        try:
            clips = self.splits().train
        except UserError as error:
            raise UserError(
                f"--quantize int8 calibrates on the run's own training audio, which cannot "
                f"be read: {error}"
            ) from None
        rng = np.random.default_rng([self.config.seed, 10**6 + 1])
        with self.progress("composing the int8 calibration audio"):
            return [wave for wave, _ in self.examples(clips, QUANTIZATION_EXAMPLES, rng)]

    def portable_settings(self) -> dict[str, Any]:
        """``preprocessing.json`` of the ONNX and TFLite exports: the word, the sizes (in
        samples) and the detector (threshold, refractory frames)."""
        detector = self.detector()
        return {
            "word": self.config.word,
            "sample_rate": audio.SAMPLE_RATE,
            "frame_samples": self.frame_samples(),
            "chunk_samples": self.chunk_samples(),
            "history_samples": self.history(),
            "units": self.config.units,
            "threshold": detector.threshold,
            "refractory_frames": detector.refractory,
        }

    def write_onnx(self, export_dir: Path) -> None:
        """The ONNX export: ``model.onnx``, ``stream_step.onnx``, ``preprocessing.json``
        (:meth:`portable_settings`), ``inference.py``
        (:mod:`recipes.trigger_word.onnx_inference`: WAV files in, predict's dicts out,
        with NumPy and onnxruntime only) and ``rnn_apps_runtime.py``
        (:mod:`recipes.core.portable`).

        ``model.onnx``: inputs ``waveform`` float32 ``[batch, samples]`` (16 kHz, rows
        padded with zeros to the longest) and ``frames`` int32 ``[batch]`` (each row's
        own ``samples // 320``); outputs ``probabilities`` float32 ``[batch, samples //
        320]`` (-1 past a row's frames) and the detections at the run's threshold,
        ``detection_time`` and ``detection_score`` float32 ``[batch, most detections of
        a row]`` padded with -1 (:meth:`serving_function`).

        ``stream_step.onnx``: inputs ``chunk`` ``[batch, chunk_samples]``, ``history``
        ``[batch, history()]``, ``state1``, ``state2`` ``[batch, units]``; outputs
        ``probabilities`` ``[batch, chunk_samples // 320]``, ``next_history``,
        ``next_state1``, ``next_state2`` (ONNX names an output apart from the inputs),
        all float32; the GRU loops unrolled over the chunk's frames.
        """
        from recipes.core import onnx

        self._require_model()
        serve = self.serving_function()
        offline_signature = [
            tf.TensorSpec((None, None), tf.float32, name="waveform"),
            tf.TensorSpec((None,), tf.int32, name="frames"),
        ]

        @tf.function(input_signature=offline_signature)
        def offline(waveform, frames):
            return serve(waveform, frames)

        step = streaming.stream_step(self, unroll=True)
        step_signature = streaming.stream_signature(self, batch=None)

        @tf.function(input_signature=step_signature)
        def stream(chunk, history, state1, state2):
            probs, history, state1, state2 = step(chunk, history, state1, state2)
            return {
                "probabilities": probs,
                "next_history": history,
                "next_state1": state1,
                "next_state2": state2,
            }

        with self.progress("converting the model to ONNX"):
            onnx.convert(offline, offline_signature, export_dir / onnx.MODEL_FILE)
            onnx.convert(stream, step_signature, export_dir / ONNX_STEP)
        self._write_portable(export_dir)

    def write_tflite(self, export_dir: Path, quantize: str | None = None) -> None:
        """The TFLite export: ``stream_step.tflite`` (:meth:`export_tflite`, quantized
        as ``quantize`` says), ``preprocessing.json`` (:meth:`portable_settings`),
        ``inference.py`` (:mod:`recipes.trigger_word.onnx_inference`, which streams each
        file through the step: the probabilities of one pass) and ``rnn_apps_runtime.py``.
        No whole-recording ``model.tflite``: the step gives the same probabilities, and
        int8 calibration crashes on the GRU's while loop that a model of any length
        needs."""
        # the calibration audio first: a phase of its own, not inside the conversion's
        calibration = self.quantization_audio() if quantize == "int8" else None
        with self.progress(f"converting the streaming step to TFLite ({quantize or 'float32'})"):
            self.export_tflite(export_dir / TFLITE_STEP, quantize, calibration)
        self._write_portable(export_dir)

    def _write_portable(self, export_dir: Path) -> None:
        from recipes.core.portable import write_portable

        inference = Path(__file__).with_name("onnx_inference.py")
        write_portable(export_dir, inference, self.portable_settings())
