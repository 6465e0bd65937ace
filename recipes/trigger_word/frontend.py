"""The detector's front end: raw 16 kHz audio to the frames its GRU layers read.

A log-mel spectrogram computed in the model (:class:`LogMel`, a strided convolution with
a windowed DFT basis, so that XLA, SavedModel and TFLite all run it), then a strided 1-D
convolution, batch normalization and ReLU (:func:`frames_features`). The waveform is
padded on the left (:class:`LeftPad`) with the :func:`history_samples` that the front
end looks back on, so that chunks run with carried history give the frames of one pass.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from recipes.trigger_word import audio
from recipes.trigger_word.config import FRAME_STEP

FRAME_LENGTH = 400  # 25 ms analysis window
FFT_LENGTH = 512


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
    return spectrum_features(layers, layers["logmel"](padded), training)


def spectrum_features(layers: dict[str, keras.layers.Layer], spectrum, training=None):
    """Convolution, normalization and ReLU of a log-mel spectrogram."""
    x = layers["conv"](spectrum)
    x = layers["norm"](x, training=training)
    return layers["relu"](x)
