"""Audio in and out: WAV reading of every common format, resampling, noise, augmentation."""

import wave

import numpy as np
import pytest
from scipy.io import wavfile

from recipes.core.errors import UserError
from recipes.trigger_word import audio


def tone(freq: float, seconds: float, rate: int = audio.SAMPLE_RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant(waveform: np.ndarray, rate: int = audio.SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(waveform * np.hanning(len(waveform))))
    return float(np.fft.rfftfreq(len(waveform), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize(
    "kind", ["uint8", "int16", "int32", "int24", "float32", "float64", "stereo"]
)
def test_read_wav_every_width_and_layout(tmp_path, kind):
    x = tone(440, 0.5)
    path = tmp_path / f"{kind}.wav"
    if kind == "uint8":
        wavfile.write(path, 16000, np.round(x * 127 + 128).astype(np.uint8))
    elif kind == "int16":
        wavfile.write(path, 16000, np.round(x * 32767).astype(np.int16))
    elif kind == "int32":
        wavfile.write(path, 16000, np.round(x * 2147483647.0).astype(np.int32))
    elif kind == "int24":
        pcm = np.round(x * 8388607).astype(np.int32)
        raw = np.frombuffer(pcm.astype("<i4").tobytes(), np.uint8).reshape(-1, 4)[:, :3]
        with wave.open(str(path), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(3)
            f.setframerate(16000)
            f.writeframes(raw.tobytes())
    elif kind == "stereo":
        wavfile.write(path, 16000, np.stack([x, x], axis=1))
    else:
        wavfile.write(path, 16000, x.astype(kind))
    y = audio.read_wav(path)
    assert y.dtype == np.float32 and y.shape == x.shape
    tolerance = 1e-2 if kind == "uint8" else 1e-4
    np.testing.assert_allclose(y, x, atol=tolerance)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_read_wav_resamples_to_16k(tmp_path, rate):
    path = tmp_path / "x.wav"
    wavfile.write(path, rate, tone(1000, 1.0, rate))
    y = audio.read_wav(path)
    assert abs(len(y) - 16000) <= 1
    assert abs(dominant(y) - 1000) < 5


def test_write_then_read_is_the_same(tmp_path):
    x = tone(300, 0.25)
    np.testing.assert_allclose(audio.read_wav(audio.write_wav(tmp_path / "a.wav", x)), x, atol=1e-4)


def test_read_wav_errors_name_the_file(tmp_path):
    with pytest.raises(UserError, match="missing.wav does not exist"):
        audio.read_wav(tmp_path / "missing.wav")
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    with pytest.raises(UserError, match="notes.wav is not a readable WAV file"):
        audio.read_wav(bad)


def test_noise_colours_have_their_slopes():
    rng = np.random.default_rng(0)
    ratios = {}
    for kind in audio.NOISES:
        x = audio.noise(kind, 64000, rng)
        assert abs(audio.rms(x) - 0.1) < 1e-3  # -20 dBFS
        power = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(len(x), 1 / 16000)
        low = power[(freqs > 100) & (freqs < 200)].mean()
        high = power[(freqs > 3200) & (freqs < 6400)].mean()
        ratios[kind] = 10 * np.log10(low / high)
    assert abs(ratios["white"]) < 1.5
    assert 10 < ratios["pink"] < 20  # 3 dB per octave over 5 octaves
    assert 25 < ratios["brown"] < 35  # 6 dB per octave
    with pytest.raises(UserError, match="Unknown noise 'blue'"):
        audio.noise("blue", 10, rng)


def test_speed_pitch_and_stretch():
    x = tone(440, 1.0)
    faster = audio.change_speed(x, 1.25)
    assert abs(len(faster) - 12800) <= 2 and abs(dominant(faster) - 550) < 5
    up = audio.shift_pitch(x, 12.0)
    assert abs(len(up) - len(x)) < 0.03 * len(x)
    assert abs(dominant(up) - 880) < 10
    stretched = audio.time_stretch(x, 0.8)
    assert abs(len(stretched) - 20000) < 400 and abs(dominant(stretched) - 440) < 10
    variant = audio.augment(x, np.random.default_rng(3))
    assert 0.85 * len(x) < len(variant) < 1.15 * len(x)


def test_trim_and_levels():
    x = np.concatenate([np.zeros(8000), tone(500, 0.5), np.zeros(4000)]).astype(np.float32)
    y = audio.trim(x)
    assert 8000 <= len(y) <= 8000 + 2 * 160 + 160
    assert abs(audio.rms(audio.with_level(y, -26.0)) - 10 ** (-26 / 20)) < 1e-4


@pytest.mark.parametrize("rate", [0, 999, 768001])
def test_read_wav_refuses_a_header_sample_rate_out_of_range(tmp_path, rate):
    """A damaged header (sample rate 0, and its byte rate 0 so that SciPy reads it) is
    one line naming the file, not a ZeroDivisionError in resampling."""
    path = tmp_path / "damaged.wav"
    pcm = np.random.default_rng(rate).integers(-3000, 3000, 1600).astype(np.int16)
    wavfile.write(path, 16000, pcm)
    header = bytearray(path.read_bytes())
    header[24:28] = rate.to_bytes(4, "little")  # nSamplesPerSec
    header[28:32] = (2 * rate).to_bytes(4, "little")  # nAvgBytesPerSec, consistent with it
    path.write_bytes(bytes(header))
    with pytest.raises(UserError) as error:
        audio.read_wav(path)
    message = str(error.value)
    assert message.startswith(f"{path} says its sample rate is {rate} Hz (expected 1000 to")
    assert "\n" not in message
