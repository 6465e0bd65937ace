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
"""

from __future__ import annotations

import itertools
import json
import tempfile
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
from recipes.core.training import EPOCHS_TRAINED, EpochCounter, save_figure, write_json
from recipes.trigger_word import audio, mixing
from recipes.trigger_word.config import FRAME_STEP, TriggerWordConfig
from recipes.trigger_word.mixing import Clips, Mixing

THRESHOLD_FILE = "threshold.json"
FRAME_LENGTH = 400  # 25 ms analysis window
FFT_LENGTH = 512


# -- the model --------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="recipes")
class LogMel(keras.layers.Layer):
    """Log-mel spectrogram of a raw waveform ``(batch, samples) -> (batch, frames, mels)``.

    The short-time Fourier transform is a strided convolution with a Hann-windowed DFT
    basis (frames of :data:`FRAME_LENGTH` samples every :data:`FRAME_STEP`, no padding),
    the power spectrum is mapped to ``mels`` bands (20 Hz to 7.6 kHz) and
    ``log(power + 1e-6)`` is returned. Constants only, no weights.
    """

    def __init__(self, mels: int = 40, **kwargs):
        super().__init__(**kwargs)
        self.mels = mels
        bins = FFT_LENGTH // 2 + 1
        n = np.arange(FRAME_LENGTH)[:, None]
        k = np.arange(bins)[None, :]
        window = np.hanning(FRAME_LENGTH + 1)[:-1, None]  # periodic Hann, as tf.signal
        angle = 2.0 * np.pi * n * k / FFT_LENGTH
        basis = np.concatenate([window * np.cos(angle), -window * np.sin(angle)], axis=1)
        self._basis = basis[:, None, :].astype(np.float32)  # (length, 1, 2 * bins)
        self._mel = tf.signal.linear_to_mel_weight_matrix(
            mels, bins, audio.SAMPLE_RATE, 20.0, 7600.0
        ).numpy()

    def call(self, waveform):
        spectrum = ops.conv(
            ops.expand_dims(waveform, -1), self._basis, strides=FRAME_STEP, padding="valid"
        )
        real, imag = ops.split(spectrum, 2, axis=-1)
        power = real * real + imag * imag
        return ops.log(ops.matmul(power, self._mel) + 1e-6)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None, self.mels)

    def get_config(self):
        return {**super().get_config(), "mels": self.mels}


@keras.saving.register_keras_serializable(package="recipes")
class LeftPad(keras.layers.Layer):
    """``samples`` zeros before every waveform: the history the front end looks back on."""

    def __init__(self, samples: int, **kwargs):
        super().__init__(**kwargs)
        self.samples = samples

    def call(self, waveform):
        return ops.pad(waveform, [[0, 0], [self.samples, 0]])

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "samples": self.samples}


def history_samples(conv_kernel: int, conv_stride: int) -> int:
    """Audio samples before a chunk that its first output frame depends on."""
    return FRAME_LENGTH - FRAME_STEP + (conv_kernel - conv_stride) * FRAME_STEP


def frames_features(layers: dict[str, keras.layers.Layer], padded, training=None):
    """Spectrogram, convolution and normalization of already padded audio."""
    x = layers["logmel"](padded)
    x = layers["conv"](x)
    x = layers["norm"](x, training=training)
    return layers["relu"](x)


# -- detection ---------------------------------------------------------------------------
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
        detections = []
        for offset, p in enumerate(np.asarray(probabilities, np.float64).reshape(-1)):
            frame = self.frames_seen + offset
            above = p >= self.threshold
            if (
                above
                and not self._above
                and (self._last is None or frame - self._last >= self.refractory)
            ):
                self._last = frame
                detections.append(
                    {"time": round((frame + 1) * self.frame_seconds, 3), "score": round(p, 4)}
                )
            self._above = above
        self.frames_seen += len(np.reshape(probabilities, -1))
        return detections


#: thresholds that calibration chooses from: 0.05 to 0.99 in steps of 0.01
CALIBRATION_GRID = tuple(round(0.05 + 0.01 * i, 2) for i in range(95))


def choose_threshold(grid, quiet, hearing) -> float:
    """The calibrated threshold, from the ascending ``grid`` and, per threshold, whether it
    meets the false-accept budget (``quiet``) and the miss budget (``hearing``).

    Counts of detections (rising edges) are not monotonic in the threshold: a threshold
    below a model's resting probability sees one edge per stream where a higher one sees
    an edge at every dip, and a threshold below the probability before a word hears no
    edge in the word's window. So the rule looks for safe ranges, not first and last
    points:

    - ``low``: the lowest threshold from which every higher one is quiet too (the
      highest of the grid when even that one is not);
    - from ``low`` up, the first range of consecutive hearing thresholds, from ``a`` to
      ``b``: the threshold is their midpoint, rounded to 0.01 (inside the range: a margin
      on both sides, since validation and test audio differ);
    - ``low`` when no threshold from ``low`` up is hearing (false accepts come first).

    When the counts are monotonic this is the midpoint of the lowest quiet and the
    highest hearing threshold when the first is the lower, else the lowest quiet one
    (the highest of the grid when none is quiet).
    """
    grid = [float(t) for t in grid]
    low = len(grid) - 1
    while low > 0 and quiet[low - 1] and quiet[low]:
        low -= 1
    first = next((i for i in range(low, len(grid)) if hearing[i]), None)
    if first is None:
        return grid[low]
    last = first
    while last + 1 < len(grid) and hearing[last + 1]:
        last += 1
    return round((grid[first] + grid[last]) / 2, 2)


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


class _StaleThreshold(keras.callbacks.Callback):
    """Removes the run's ``threshold.json`` when training starts: it was calibrated for
    the model that training replaces (fit writes the new one when it ends)."""

    def __init__(self, run_dir: Path | None):
        super().__init__()
        self.run_dir = run_dir

    def on_train_begin(self, logs=None):
        if self.run_dir is not None:
            (Path(self.run_dir) / THRESHOLD_FILE).unlink(missing_ok=True)


# -- the recipe ------------------------------------------------------------------------
class TriggerWord(Recipe):
    """Hears a chosen word in a stream of sound: ``detect(waveform)`` -> times."""

    name = "trigger_word"
    description = "trigger-word detector on audio (many-to-many on frames, streaming)"
    default_data = "synthesized speech (eSpeak NG) and generated noise"
    config_class = TriggerWordConfig

    def __init__(self, config: TriggerWordConfig | None = None, **overrides: Any):
        super().__init__(config, **overrides)
        self._calibrated: tuple[Any, float] | None = None  # (model or "loaded", threshold)
        self._fitting: dict[str, Any] | None = None  # while fit runs: its verbose

    def monitored(self) -> tuple[str, str]:
        """``keep = "last"``: the last epoch (the end of the schedule); ``"best"``: the
        lowest ``val_loss``."""
        return (EPOCHS_TRAINED, "max") if self.config.keep == "last" else ("val_loss", "min")

    def training_callbacks(self, splits: Splits) -> list[keras.callbacks.Callback]:
        return [EpochCounter(), _StaleThreshold(self.run_dir)]

    def fit(
        self,
        data: str | None = None,
        epochs: int | None = None,
        run_dir: str | Path | None = None,
        resume: bool = False,
        verbose: int | str = "auto",
        settings: dict[str, Any] | None = None,
    ) -> dict[str, float]:
        """:meth:`Recipe.fit`, then the threshold calibrated for the model it trained is
        written to the run folder (``threshold.json``, when ``threshold = 0``).

        A resumed run calibrates anew too: the ``threshold.json`` it finds belongs to the
        model it goes on from, so it is not loaded, and it is removed when training
        starts (a run interrupted again is calibrated when loaded). With ``verbose = 0``
        nothing is said about the synthesis of clips either.
        """
        self._calibrated = None
        self._fitting = {"verbose": verbose}
        try:
            metrics = super().fit(
                data=data,
                epochs=epochs,
                run_dir=run_dir,
                resume=resume,
                verbose=verbose,
                settings=settings,
            )
        finally:
            self._fitting = None
        self.save_assets(self.run_dir)
        return metrics

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
        c = self.config
        return Mixing(
            samples=int((seconds or c.example_seconds) * audio.SAMPLE_RATE),
            frame_samples=self.frame_samples(),
            label_frames=c.label_frames,
            max_positives=c.max_positives,
            max_negatives=c.max_negatives,
            speed=c.speed,
            pitch=c.pitch,
            noise=c.noise,
            synthetic_share=c.synthetic_share,
        )

    def detector(self, threshold: float | None = None) -> Detector:
        """A fresh detector at ``threshold`` (default: :meth:`threshold`)."""
        refractory = int(round(self.config.refractory_seconds / self.frame_seconds()))
        threshold = self.threshold() if threshold is None else threshold
        return Detector(threshold, refractory, self.frame_seconds())

    # -- data ------------------------------------------------------------------------
    def load_splits(self, data: str | None) -> Splits:
        """Clips of a Speech Commands style folder plus synthesized ones (training only),
        or, without ``data``, synthesized speech split by voice and generated noise."""
        c = self.config
        from recipes.trigger_word import synthesis

        shares = (c.test_split, c.validation_split)
        if data is None:
            splits = {name: Clips() for name in ("train", "validation", "test")}
            noise = mixing.noise_backgrounds(120.0, c.seed)
            for part in noise:
                for split, piece in mixing.cut_background(part, shares).items():
                    splits[split].backgrounds.append(piece)
        else:
            splits = mixing.read_speech_commands(
                data, c.word, c.test_split, c.validation_split, shares, c.seed
            )
            for name, clips in splits.items():
                heard = any(len(b) for b in clips.backgrounds)
                placeable = any(map(self.fits_in_example, clips.positives))
                if clips.positives and not heard and not placeable:
                    # nothing to measure the split on: no false accepts and no misses
                    raise UserError(
                        f"{data} has no background recordings ({mixing.BACKGROUND_FOLDER}/ is "
                        f"missing or empty) and no clip of {c.word!r} in its {name} split fits in "
                        f"an example of {c.example_seconds:g} s with its {c.label_frames} label "
                        f"frames; add WAV files of background sound to "
                        f"{Path(data) / mixing.BACKGROUND_FOLDER}, or raise example_seconds or "
                        "lower label_frames."
                    )
        rng = np.random.default_rng(c.seed)
        voices = (
            synthesis.english_voices()
            if (c.synthesized_positives or c.synthesized_negatives)
            else []
        )
        negative_words = [w for w in mixing.NEGATIVE_WORDS if w != c.word.lower()]
        quiet = self._fitting is not None and not self._fitting["verbose"]
        positives, positive_names = mixing.synthesized(
            [c.word],
            c.synthesized_positives,
            rng,
            voices,
            "" if quiet else f"{c.synthesized_positives} x {c.word!r}",
        )
        negatives, negative_names = mixing.synthesized(
            negative_words,
            c.synthesized_negatives,
            rng,
            voices,
            "" if quiet else f"{c.synthesized_negatives} other words",
        )
        if data is None:
            # voices are the speakers: a held-out voice is never heard in training
            keys = [f"{n.split('@')[0]}_nohash_{i}" for i, n in enumerate(positive_names)]
            held = mixing.split_by_speaker(keys, c.test_split, c.validation_split, c.seed)
            test_voices, val_voices = ({mixing.speaker(k) for k in h} for h in held)

            def split_of(name: str) -> str:
                voice = name.split("@")[0]
                return (
                    "test"
                    if voice in test_voices
                    else "validation"
                    if voice in val_voices
                    else "train"
                )

            for clip, name in zip(positives, positive_names, strict=True):
                splits[split_of(name)].positives.append(clip)
                splits[split_of(name)].positive_names.append(name)
            for clip, name in zip(negatives, negative_names, strict=True):
                splits[split_of(name)].negatives.append(clip)
        else:
            # real held-out speakers are the test; synthesized speech only trains
            splits["train"].synthetic_positives += positives
            splits["train"].negatives += negatives
        for name, clips in splits.items():
            if not clips.positives:
                raise UserError(
                    f"The {name} split has no clip of {c.word!r}; give more clips of it or "
                    "raise synthesized_positives."
                )
        return Splits(splits["train"], splits["validation"], splits["test"])

    def fits_in_example(self, clip: np.ndarray) -> bool:
        """Whether ``clip`` and its label span fit in an example (``example_seconds``)."""
        plan = self.mixing()
        return len(clip) + plan.label_frames * plan.frame_samples < plan.samples

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

    def _layers(self) -> dict[str, keras.layers.Layer]:
        return {layer.name: layer for layer in self.model.layers}

    def initial_stream_states(self, batch: int = 1) -> list[np.ndarray]:
        """Audio history (zeros) and GRU states (zeros) at the start of a stream."""
        units = self.config.units
        return [
            np.zeros((batch, self.history()), np.float32),
            np.zeros((batch, units), np.float32),
            np.zeros((batch, units), np.float32),
        ]

    def stream_step(self, chunk, history, state1, state2):
        """One streaming step: ``(probabilities, history, state1, state2)`` after a chunk."""
        layers = self._layers()
        audio_in = ops.concatenate([history, chunk], axis=1)
        new_history = audio_in[:, -self.history() :]
        x = frames_features(layers, audio_in, training=False)
        x, new1 = layers["gru1"](x, initial_state=[state1])
        x, new2 = layers["gru2"](x, initial_state=[state2])
        probs = ops.squeeze(layers["out"](x), -1)
        return probs, new_history, new1, new2

    def stream_signature(self, batch: int | None = 1) -> list[tf.TensorSpec]:
        units = self.config.units
        return [
            tf.TensorSpec((batch, self.chunk_samples()), tf.float32, name="chunk"),
            tf.TensorSpec((batch, self.history()), tf.float32, name="history"),
            tf.TensorSpec((batch, units), tf.float32, name="state1"),
            tf.TensorSpec((batch, units), tf.float32, name="state2"),
        ]

    def stream_step_function(self):
        """The streaming step, XLA-compiled (one chunk of one stream)."""

        def make():
            step = tf.function(self.stream_step, jit_compile=True, reduce_retracing=True)
            return step.get_concrete_function(*self.stream_signature())

        function = self._compiled("stream_step", make)

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

    # -- the task verb -------------------------------------------------------------------
    def _waveform(self, source) -> np.ndarray:
        if isinstance(source, (str, Path)):
            return audio.read_wav(source)
        waveform = np.asarray(source, np.float32)
        if waveform.ndim != 1:
            raise UserError(
                f"Expected a 1-D waveform (samples at 16 kHz), got shape {waveform.shape}."
            )
        return waveform

    def probabilities(self, source) -> np.ndarray:
        """Per-frame probabilities (one every ``frame_seconds``) of a waveform or WAV path."""
        self._require_model()
        waveform = self._waveform(source)
        frames = len(waveform) // self.frame_samples()
        if frames == 0:
            return np.zeros(0, np.float32)
        return self._batch_probabilities([waveform])[0][:frames]

    def _batch_probabilities(self, waveforms: list[np.ndarray]) -> list[np.ndarray]:
        """Probabilities of several waveforms, padded to one length per batch."""

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
        waveform = self._waveform(source)
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
                self._require_frames(waveform, path)
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
                audio.write_wav(chime, with_chimes(waveform, [d["time"] for d in found]))
        return results

    def _require_frames(self, waveform: np.ndarray, source) -> None:
        """A :class:`UserError` naming ``source`` when ``waveform`` holds no output frame."""
        if len(waveform) < self.frame_samples():
            count = f"{len(waveform)} sample{'' if len(waveform) == 1 else 's'}"
            raise UserError(
                f"{source} holds {count} at 16 kHz, less than one "
                f"{round(1000 * self.frame_seconds())} ms output frame: nothing to plot "
                "(leave out --plot, or give longer audio)."
            )

    def plot(self, waveform, probs, detections, path: str | Path, title: str = "") -> Path:
        """Log-mel spectrogram over the detection probability, detections marked.

        The spectrogram's frame ``i`` ends at ``(i + 1) * 10`` ms (the audio is padded
        on the left as the model pads it). Audio shorter than one output frame is a
        :class:`UserError`: there is nothing to plot."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        waveform = np.asarray(waveform, np.float32)
        self._require_frames(waveform, title or "the audio")
        padded = np.pad(waveform, (FRAME_LENGTH - FRAME_STEP, 0))
        spectrogram = np.asarray(self._layers()["logmel"](padded[None, :]))[0]
        seconds = len(spectrogram) * FRAME_STEP / audio.SAMPLE_RATE
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
        top.imshow(
            spectrogram.T, origin="lower", aspect="auto", extent=(0, seconds, 0, self.config.mels)
        )
        top.set_ylabel("mel band")
        top.set_title(f"{title}: {self.config.word!r}, {len(detections)} detection(s)")
        times = (np.arange(len(probs)) + 1) * self.frame_seconds()
        bottom.plot(times, probs, lw=1)
        bottom.axhline(self.threshold(), color="grey", ls="--", lw=0.8)
        for d in detections:
            bottom.axvline(d["time"], color="red", lw=1)
            top.axvline(d["time"], color="red", lw=1)
        bottom.set_ylim(0, 1.02)
        bottom.set_ylabel("probability")
        bottom.set_xlabel("seconds")
        return save_figure(fig, path, dpi=100)

    # -- evaluation ---------------------------------------------------------------------
    def _positive_trials(self, clips: Clips, rng: np.random.Generator):
        """Each positive inserted ``eval_trials`` times (unaugmented, random place and
        level) into a background stretch of ``example_seconds``, one per stretch.

        Returns ``[(probabilities, labels, (first, last) seconds of the hit window)]``.
        """
        c = self.config
        plan = self.mixing()
        tail = (c.label_frames + 1) * self.frame_samples()
        waves, labels, windows = [], [], []
        for clip in clips.positives:
            for _ in range(c.eval_trials):
                base = audio.with_level(
                    mixing.background_stretch(clips.backgrounds, plan.samples, rng),
                    rng.uniform(*plan.background_db),
                )
                mix, label, spans = mixing.insert(base, [(clip, True)], plan, rng, augment=False)
                if spans:
                    waves.append(np.clip(mix, -1, 1))
                    labels.append(label)
                    start, end = spans[0]
                    windows.append((start / audio.SAMPLE_RATE, (end + tail) / audio.SAMPLE_RATE))
        probs = self._probabilities_in_batches(waves, 64)
        return list(zip(probs, labels, windows, strict=True))

    def _negative_streams(self, clips: Clips, rng: np.random.Generator, passes: int = 0):
        """Every background recording, ``passes`` (default ``eval_passes``) times at random
        levels, with negatives inserted (one per 2 s on average).

        Returns ``[(probabilities, labels)]``.
        """
        plan = self.mixing()
        streams = []
        for _ in range(passes or self.config.eval_passes):
            for background in clips.backgrounds:
                base = audio.with_level(background, rng.uniform(*plan.background_db))
                count = int(len(base) / audio.SAMPLE_RATE / 2) if clips.negatives else 0
                chosen = [
                    (clips.negatives[rng.integers(len(clips.negatives))], False)
                    for _ in range(count)
                ]
                mix, label, _ = mixing.insert(base, chosen, plan, rng, augment=False)
                streams.append((np.clip(mix, -1, 1), label))
        probs = self._probabilities_in_batches([w for w, _ in streams], 16)
        return [(p, label[: len(p)]) for p, (_, label) in zip(probs, streams, strict=True)]

    def _probabilities_in_batches(self, waves: list[np.ndarray], size: int) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for start in range(0, len(waves), size):
            out += self._batch_probabilities(waves[start : start + size])
        return out

    def false_accepts(self, streams, threshold: float) -> int:
        """Detections in negative streams (see :meth:`_negative_streams`)."""
        return sum(len(self.detector(threshold).update(p)) for p, _ in streams)

    def misses(self, trials, threshold: float) -> int:
        """Trials (see :meth:`_positive_trials`) without a detection in their window."""
        missed = 0
        for probs, _, (first, last) in trials:
            found = self.detector(threshold).update(probs)
            missed += not any(first <= d["time"] <= last for d in found)
        return missed

    def metrics(self, clips: Clips) -> dict[str, Any]:
        """Miss rate, false accepts per hour and per-frame precision/recall on held-out clips.

        Miss rate: each positive is inserted ``eval_trials`` times into background
        stretches (see :meth:`_positive_trials`); a trial is a hit when a detection falls
        between the clip's start and the end of its label span. False accepts: every
        detection in the background recordings with negatives inserted, passed over
        ``eval_passes`` times (see :meth:`_negative_streams`). Frame precision/recall:
        frames at or above the threshold against the labels, over both.
        """
        self._require_model()
        rng = np.random.default_rng([self.config.seed, 7])
        trials = self._positive_trials(clips, rng)
        streams = self._negative_streams(clips, rng)
        threshold = self.threshold()
        missed = self.misses(trials, threshold)
        false_accepts = self.false_accepts(streams, threshold)
        minutes = sum(len(p) for p, _ in streams) * self.frame_seconds() / 60.0
        frames = [(p, label[: len(p)]) for p, label, _ in trials] + streams
        predicted = np.concatenate([p for p, _ in frames] or [np.zeros(0)]) >= threshold
        truth = np.concatenate([label for _, label in frames] or [np.zeros(0)]) > 0.5
        true_positive = float(np.sum(predicted & truth))
        return {
            "miss_rate": round(missed / len(trials), 4) if trials else float("nan"),
            "false_accepts_per_hour": round(false_accepts * 60.0 / minutes, 3)
            if minutes
            else float("nan"),
            "frame_precision": round(true_positive / max(1.0, float(predicted.sum())), 4),
            "frame_recall": round(true_positive / max(1.0, float(truth.sum())), 4),
            "threshold": round(threshold, 4),
            "positive_trials": len(trials),
            "positive_clips": len(clips.positives),
            "false_accepts": false_accepts,
            "negative_minutes": round(minutes, 2),
        }

    def threshold(self) -> float:
        """``config.threshold``, or when it is 0 the threshold calibrated on validation:
        :meth:`calibrate` on :meth:`calibration_data`, once per model."""
        if self.config.threshold > 0:
            return self.config.threshold
        if self._calibrated is None or self._calibrated[0] not in (self.model, "loaded"):
            self._require_model()
            chosen = self.calibrate(*self.calibration_data())
            self._calibrated = (self.model, chosen)
        return self._calibrated[1]

    def calibration_data(self) -> tuple[list, list]:
        """What the threshold is calibrated on: the model's probabilities on the validation
        backgrounds with validation negatives (:meth:`_negative_streams`), passed over
        until they last ``calibration_minutes`` (at least once), and on the validation
        positives (:meth:`_positive_trials`). Returns ``(streams, trials)``."""
        c = self.config
        rng = np.random.default_rng([c.seed, 11])
        clips = self.splits().validation
        # the audio of one pass, in whole output frames (what the streams' probabilities cover)
        frames = sum(len(b) // self.frame_samples() for b in clips.backgrounds)
        seconds = frames * self.frame_seconds()
        passes = max(1, int(np.ceil(c.calibration_minutes * 60 / seconds))) if seconds else 1
        streams = self._negative_streams(clips, rng, passes)
        trials = self._positive_trials(clips, rng)
        return streams, trials

    def calibrate(self, streams, trials) -> float:
        """The threshold for negative ``streams`` and positive ``trials`` (see
        :meth:`calibration_data`): :func:`choose_threshold` on :data:`CALIBRATION_GRID`,
        where a threshold is quiet when the streams give at most
        ``target_false_accepts_per_hour`` false accepts per hour of their audio, and
        hearing when at most ``target_miss_rate`` of the trials are missed."""
        c = self.config
        hours = sum(len(p) for p, _ in streams) * self.frame_seconds() / 3600.0
        quiet = [
            self.false_accepts(streams, t) <= c.target_false_accepts_per_hour * hours
            for t in CALIBRATION_GRID
        ]
        hearing = [
            self.misses(trials, t) <= c.target_miss_rate * len(trials) for t in CALIBRATION_GRID
        ]
        return choose_threshold(CALIBRATION_GRID, quiet, hearing)

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
        if self._fitting is None and path.exists():
            self._calibrated = ("loaded", float(json.loads(path.read_text())["threshold"]))

    def serving_resources(self) -> list:
        return [self.model]

    def serving_signature(self) -> list[tf.TensorSpec]:
        return [tf.TensorSpec((None, None), tf.float32, name="waveform")]

    def serving_function(self):
        model, frame = self.model, self.frame_samples()

        def serve(waveform):
            probs = ops.squeeze(model(waveform, training=False), -1)
            frames = ops.shape(waveform)[1] // frame
            return {"probabilities": probs[:, :frames]}

        return serve

    def export_endpoints(self) -> dict[str, tuple[Any, list[tf.TensorSpec]]]:
        """``serving_default`` (waveform batch -> per-frame probabilities) and
        ``stream_step`` (one chunk and the states -> probabilities and new states)."""
        return {
            **super().export_endpoints(),
            "stream_step": (self._named_step, self.stream_signature(batch=None)),
        }

    def write_export(self, export_dir: Path) -> None:
        """The SavedModel and, beside its files, ``stream_step.tflite`` (the streaming
        step for TFLite)."""
        super().write_export(export_dir)
        self.export_tflite(export_dir / "stream_step.tflite")

    def _named_step(self, chunk, history, state1, state2):
        probs, history, state1, state2 = self.stream_step(chunk, history, state1, state2)
        return {"probabilities": probs, "history": history, "state1": state1, "state2": state2}

    def export_tflite(self, path: str | Path) -> Path:
        """The streaming step as a TFLite model (batch 1, one ``chunk_ms`` chunk).

        Inputs ``chunk``, ``history``, ``state1``, ``state2``; outputs (in this order)
        ``history``, ``probabilities``, ``state1``, ``state2`` (see :class:`TFLiteStep`).
        """
        from tensorflow.python.framework.convert_to_constants import (
            convert_variables_to_constants_v2,
        )

        self._require_model()
        function = tf.function(self._named_step).get_concrete_function(*self.stream_signature())
        frozen = convert_variables_to_constants_v2(function)
        converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen], tf.Module())
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent)) / path.name
        tmp.write_bytes(converter.convert())
        tmp.replace(path)
        tmp.parent.rmdir()
        return path


#: output names of the TFLite streaming step, in the order of its outputs
TFLITE_OUTPUTS = ("history", "probabilities", "state1", "state2")


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


def with_chimes(waveform: np.ndarray, times: list[float]) -> np.ndarray:
    """``waveform`` with a short two-tone chime starting at each of ``times`` (seconds)."""
    rate = audio.SAMPLE_RATE
    t = np.arange(int(0.25 * rate)) / rate
    tone = np.where(t < 0.12, np.sin(2 * np.pi * 880 * t), np.sin(2 * np.pi * 1320 * t))
    chime = (0.3 * tone * np.exp(-6 * t)).astype(np.float32)
    out = np.asarray(waveform, np.float32).copy()
    for time in times:
        start = int(time * rate)
        piece = chime[: max(0, len(out) - start)]
        out[start : start + len(piece)] += piece
    return np.clip(out, -1.0, 1.0)
