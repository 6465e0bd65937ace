"""Audio in and out: WAV files, resampling, generated noise, augmentation and chimes.

Waveforms are 1-D ``float32`` NumPy arrays in [-1, 1] at :data:`SAMPLE_RATE` unless
said otherwise. Reading and writing go through :mod:`scipy.io.wavfile` (PCM of 8, 16,
24 or 32 bits and float WAV files), resampling through
:func:`scipy.signal.resample_poly` (a polyphase filter, exact for rational ratios).
:func:`wavs_in_graph` decodes WAV files in the graph, for the export's ``wav`` signature.
"""

from __future__ import annotations

import warnings
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy import signal
from scipy.io import wavfile

from recipes.core.errors import UserError
from recipes.trigger_word.config import SAMPLE_RATE

MIN_RATE, MAX_RATE = 1000, 768000  # sample rates that read_wav accepts (Hz)
NOISES = ("white", "pink", "brown")


def resample(waveform: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """``waveform`` sampled at ``rate`` Hz, resampled to ``target`` Hz (``float32``)."""
    waveform = np.asarray(waveform, np.float32)
    if rate == target or waveform.size == 0:
        return waveform
    ratio = Fraction(int(target), int(rate))
    out = signal.resample_poly(waveform, ratio.numerator, ratio.denominator, axis=0)
    return out.astype(np.float32)


def read_wav(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A WAV file as a mono ``float32`` waveform at ``sample_rate`` Hz.

    Any common sample rate and width (8-bit unsigned, 16/24/32-bit PCM, 32/64-bit
    float), mono or multi-channel (channels are averaged).

    Raises:
        UserError: the file is missing, is not a WAV file this can read, or its header
            gives a sample rate outside :data:`MIN_RATE` to :data:`MAX_RATE` (0 in a
            damaged one).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"Audio file {path} does not exist.")
    try:
        with warnings.catch_warnings():  # metadata chunks (LIST, fact, ...) are skipped
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            rate, data = wavfile.read(path, mmap=False)
    except (ValueError, EOFError, wave.Error) as error:
        raise UserError(
            f"{path} is not a readable WAV file ({error}); convert it to PCM WAV "
            "(e.g. ffmpeg -i IN -ar 16000 -ac 1 OUT.wav)."
        ) from None
    if not MIN_RATE <= rate <= MAX_RATE:
        raise UserError(
            f"{path} says its sample rate is {rate} Hz (expected {MIN_RATE} to {MAX_RATE}); "
            "its header may be damaged: convert it (e.g. ffmpeg -i IN -ar 16000 -ac 1 OUT.wav)."
        )
    if data.dtype == np.uint8:
        data = (data.astype(np.float32) - 128.0) / 128.0
    elif data.dtype == np.int16:
        data = data.astype(np.float32) / 32768.0
    elif data.dtype == np.int32:  # 32-bit PCM, and 24-bit PCM left-aligned by SciPy
        data = data.astype(np.float32) / 2147483648.0
    else:
        data = data.astype(np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1)
    return resample(data, rate, sample_rate)


#: what the export's ``wav`` signature accepts, and how to get it (its errors end with it)
WAV_ADVICE = (
    "send 16 kHz 16-bit PCM WAV (e.g. ffmpeg -i IN -ar 16000 -ac 1 -c:a pcm_s16le OUT.wav), "
    "or post the waveform (float32 at 16 kHz) to serving_default"
)


def wavs_in_graph(wavs):
    """WAV files' bytes decoded in the graph as :func:`read_wav` reads a 16 kHz 16-bit
    PCM file (samples / 32768, channels averaged), padded with zeros to the longest.

    Only such files are decoded (:func:`tf.audio.decode_wav` reads 16-bit PCM and does
    not resample); any other fails the call with ``tf.errors.InvalidArgumentError``, one
    line naming the file (``wav[i]``, its place in the batch) and ending in
    :data:`WAV_ADVICE`: not a RIFF/WAVE file, samples other than 16-bit PCM (read from a
    ``fmt`` chunk right after the RIFF header, where converters write it; elsewhere
    ``decode_wav`` says so itself) or a sample rate other than :data:`SAMPLE_RATE`.

    Args:
        wavs: ``[batch]`` tf.string, each element the bytes of one WAV file.

    Returns:
        ``(waveforms, samples)``: float32 ``[batch, longest]`` and each file's length,
        int32 ``[batch]``.
    """
    import tensorflow as tf

    wavs = tf.convert_to_tensor(wavs, tf.string)

    def check(ok, line: str, *values):
        """An assertion that fails with ``wav[i] <line>; <advice>``."""
        message = tf.strings.format(f"wav[{{}}] {line}; {WAV_ADVICE}", values)
        return tf.debugging.Assert(ok, [message])

    def decode(i):
        wav = wavs[i]
        head = tf.strings.substr(tf.strings.join([wav, "\0" * 36]), 0, 36)  # short files too
        byte = tf.cast(tf.io.decode_raw(head, tf.uint8), tf.int32)
        form, bits = byte[20] + 256 * byte[21], byte[34] + 256 * byte[35]  # little-endian
        riff = tf.strings.substr(head, 0, 4) == "RIFF"
        riff &= tf.strings.substr(head, 8, 4) == "WAVE"
        fmt_first = tf.strings.substr(head, 12, 4) == "fmt "
        header = [
            check(riff, "is not a WAV file (no RIFF/WAVE header)", i),
            check(
                ~riff | ~fmt_first | ((form == 1) & (bits == 16)),
                "holds {}-bit samples of format {}, not 16-bit PCM (format 1)",
                i,
                bits,
                form,
            ),
        ]
        with tf.control_dependencies(header):
            decoded = tf.audio.decode_wav(wav)
        rate = decoded.sample_rate
        with tf.control_dependencies([check(rate == SAMPLE_RATE, "is {} Hz audio", i, rate)]):
            return tf.reduce_mean(decoded.audio, axis=1)  # mono: channels averaged

    ragged = tf.map_fn(
        decode,
        tf.range(tf.shape(wavs)[0]),
        fn_output_signature=tf.RaggedTensorSpec([None], tf.float32, ragged_rank=0),
    )
    return ragged.to_tensor(0.0), tf.cast(ragged.row_lengths(), tf.int32)


def waveform_of(source) -> np.ndarray:
    """``source`` as a waveform: a WAV file's path read (:func:`read_wav`), or a 1-D array.

    Raises:
        UserError: the array is not 1-D.
    """
    if isinstance(source, (str, Path)):
        return read_wav(source)
    waveform = np.asarray(source, np.float32)
    if waveform.ndim != 1:
        raise UserError(f"Expected a 1-D waveform (samples at 16 kHz), got shape {waveform.shape}.")
    return waveform


def write_wav(path: str | Path, waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Writes ``waveform`` as 16-bit PCM mono (values clipped to [-1, 1])."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.round(np.clip(np.asarray(waveform, np.float32), -1.0, 1.0) * 32767.0)
    wavfile.write(path, int(sample_rate), pcm.astype(np.int16))
    return path


def rms(waveform: np.ndarray) -> float:
    """Root mean square level (0 for silence or an empty array)."""
    return float(np.sqrt(np.mean(np.square(waveform, dtype=np.float64)))) if waveform.size else 0.0


def with_level(waveform: np.ndarray, dbfs: float) -> np.ndarray:
    """``waveform`` scaled to an RMS level of ``dbfs`` decibels below full scale."""
    level = rms(waveform)
    if level == 0.0:
        return np.asarray(waveform, np.float32)
    return (waveform * (10.0 ** (dbfs / 20.0) / level)).astype(np.float32)


def noise(kind: str, samples: int, rng: np.random.Generator) -> np.ndarray:
    """Generated noise with a given spectrum, at -20 dBFS RMS.

    ``white`` is flat, ``pink`` falls 3 dB per octave (power ~ 1/f), ``brown`` falls
    6 dB per octave (1/f^2); shaped in the frequency domain from Gaussian noise.
    """
    if kind not in NOISES:
        raise UserError(f"Unknown noise {kind!r}; expected one of {list(NOISES)}.")
    white = rng.standard_normal(samples)
    if kind != "white":
        spectrum = np.fft.rfft(white)
        freqs = np.fft.rfftfreq(samples)
        freqs[0] = freqs[1] if samples > 1 else 1.0
        spectrum /= np.sqrt(freqs) if kind == "pink" else freqs
        white = np.fft.irfft(spectrum, n=samples)
    return with_level(white.astype(np.float32), -20.0)


def change_speed(waveform: np.ndarray, factor: float) -> np.ndarray:
    """Played ``factor`` times faster: shorter and higher for ``factor > 1``."""
    if abs(factor - 1.0) < 1e-3:
        return np.asarray(waveform, np.float32)
    ratio = Fraction(factor).limit_denominator(100)
    out = signal.resample_poly(waveform, ratio.denominator, ratio.numerator)
    return out.astype(np.float32)


def time_stretch(waveform: np.ndarray, rate: float, n_fft: int = 512) -> np.ndarray:
    """Played ``rate`` times faster at the same pitch (a phase vocoder)."""
    if abs(rate - 1.0) < 1e-3 or waveform.size < n_fft:
        return np.asarray(waveform, np.float32)
    hop = n_fft // 4
    _, _, spec = signal.stft(waveform, nperseg=n_fft, noverlap=n_fft - hop)
    steps = np.arange(0, spec.shape[1] - 1, rate)
    advance = np.linspace(0, np.pi * hop, spec.shape[0])  # expected phase advance per hop
    phase = np.angle(spec[:, 0])
    out = np.empty((spec.shape[0], len(steps)), np.complex64)
    for i, step in enumerate(steps):
        left, frac = int(step), step - int(step)
        a, b = spec[:, left], spec[:, left + 1]
        out[:, i] = ((1 - frac) * np.abs(a) + frac * np.abs(b)) * np.exp(1j * phase)
        delta = np.angle(b) - np.angle(a) - advance
        phase += advance + (delta - 2 * np.pi * np.round(delta / (2 * np.pi)))
    _, stretched = signal.istft(out, nperseg=n_fft, noverlap=n_fft - hop)
    return stretched.astype(np.float32)


def shift_pitch(waveform: np.ndarray, semitones: float) -> np.ndarray:
    """Pitch moved by ``semitones`` at (about) the same duration."""
    if abs(semitones) < 1e-3:
        return np.asarray(waveform, np.float32)
    factor = 2.0 ** (semitones / 12.0)
    return change_speed(time_stretch(waveform, 1.0 / factor), factor)


def augment(
    waveform: np.ndarray,
    rng: np.random.Generator,
    speed: float = 0.1,
    pitch: float = 2.0,
) -> np.ndarray:
    """A random variant: speed within ``1 ± speed``, pitch within ``± pitch`` semitones."""
    if pitch:
        waveform = shift_pitch(waveform, rng.uniform(-pitch, pitch))
    if speed:
        waveform = change_speed(waveform, rng.uniform(1.0 - speed, 1.0 + speed))
    return waveform


def trim(waveform: np.ndarray, threshold_db: float = -40.0, margin: int = 160) -> np.ndarray:
    """Leading and trailing stretches quieter than ``threshold_db`` below the peak removed.

    Frames of 10 ms are compared with the loudest; ``margin`` samples are kept on
    each side of the kept part.
    """
    frame = SAMPLE_RATE // 100
    if waveform.size < frame:
        return waveform
    count = waveform.size // frame
    energy = np.sqrt(np.mean(np.square(waveform[: count * frame].reshape(count, frame)), axis=1))
    loud = np.flatnonzero(energy > energy.max() * 10.0 ** (threshold_db / 20.0))
    if loud.size == 0:
        return waveform
    start = max(0, loud[0] * frame - margin)
    stop = min(waveform.size, (loud[-1] + 1) * frame + margin)
    return waveform[start:stop]


def with_chimes(waveform: np.ndarray, times: list[float]) -> np.ndarray:
    """``waveform`` with a short two-tone chime starting at each of ``times`` (seconds)."""
    rate = SAMPLE_RATE
    t = np.arange(int(0.25 * rate)) / rate
    tone = np.where(t < 0.12, np.sin(2 * np.pi * 880 * t), np.sin(2 * np.pi * 1320 * t))
    chime = (0.3 * tone * np.exp(-6 * t)).astype(np.float32)
    out = np.asarray(waveform, np.float32).copy()
    for time in times:
        start = int(time * rate)
        piece = chime[: max(0, len(out) - start)]
        out[start : start + len(piece)] += piece
    return np.clip(out, -1.0, 1.0)
