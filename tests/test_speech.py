"""eSpeak NG text-to-speech: waveform shape, voices, settings and errors."""

import builtins
import ctypes
import re
import threading

import espeakng_loader  # noqa: F401  (a dependency: missing, the tests fail, never skip)
import numpy as np
import pytest

from recipes.core.errors import UserError
from recipes.core.training import stdout_to_stderr
from recipes.trigger_word import synthesis

RATE = 16000


def _f0(wave: np.ndarray, rate: int = RATE) -> float:
    """Fundamental frequency (Hz) of a monotone waveform: the lag of the highest normalised
    autocorrelation (50 to 400 Hz), averaged over the loud 50 ms frames."""
    size = int(0.05 * rate)
    lags = np.arange(rate // 400, rate // 50)
    peak = np.abs(wave).max()
    curves = []
    for start in range(0, len(wave) - size - lags[-1], size // 2):
        frame = wave[start : start + size]
        if np.abs(frame).max() >= peak / 3:
            shifted = [wave[start + lag : start + lag + size] for lag in lags]
            curves.append([np.corrcoef(frame, other)[0, 1] for other in shifted])
    return rate / lags[int(np.argmax(np.mean(curves, axis=0)))]


def _spectral_distance(a: np.ndarray, b: np.ndarray) -> float:
    """RMS difference of the mean log-magnitude spectra (512-sample Hann frames)."""

    def spectrum(wave):
        frames = np.lib.stride_tricks.sliding_window_view(wave, 512)[::256] * np.hanning(512)
        return np.log(np.abs(np.fft.rfft(frames, axis=1)).mean(axis=0) + 1e-6)

    return float(np.sqrt(np.mean((spectrum(a) - spectrum(b)) ** 2)))


def test_marvin_is_a_trimmed_float_waveform():
    wave = synthesis.synthesize("marvin")
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert 0.2 * RATE <= len(wave) <= 2 * RATE
    assert 0.05 < np.abs(wave).max() <= 1.0
    # trimmed to 10 ms margins: sound within the first and the last 30 ms
    edge = int(0.03 * RATE)
    assert np.abs(wave[:edge]).max() > 0.02 and np.abs(wave[-edge:]).max() > 0.01


def test_concurrent_calls_do_not_mix():
    expected = len(synthesis.synthesize("marvin", voice="en-us+f3"))
    results = [None] * 4

    def run(i):
        results[i] = synthesis.synthesize("marvin", voice="en-us+f3")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # eSpeak's pitch flutter carries over between calls: lengths agree to a few samples
    assert all(abs(len(result) - expected) < 0.01 * expected for result in results)


@pytest.mark.parametrize(
    "other", [{"voice": "en-us+f3"}, {"voice": "en+m2"}, {"voice": "en-gb+klatt"}, {"pitch": 80}]
)
def test_voices_and_pitches_differ(other):
    plain, again = synthesis.synthesize("marvin"), synthesis.synthesize("marvin")
    wave = synthesis.synthesize("marvin", **other)
    assert len(wave) > 0.2 * RATE
    assert _spectral_distance(plain, wave) > 2 * _spectral_distance(plain, again)


def test_higher_pitch_has_higher_fundamental():
    low = _f0(synthesis.synthesize("marvin", pitch=10, pitch_range=0))
    high = _f0(synthesis.synthesize("marvin", pitch=90, pitch_range=0))
    assert high > 1.8 * low, (low, high)
    male = _f0(synthesis.synthesize("marvin", pitch_range=0))
    female = _f0(synthesis.synthesize("marvin", voice="en-us+f3", pitch_range=0))
    assert female > 1.5 * male, (male, female)


def test_faster_rate_is_shorter():
    text = "the quick brown fox jumps over the lazy dog"
    assert len(synthesis.synthesize(text, rate=300)) < 0.7 * len(
        synthesis.synthesize(text, rate=120)
    )


def test_sample_rate():
    full = len(synthesis.synthesize("marvin"))
    assert len(synthesis.synthesize("marvin", sample_rate=8000)) == pytest.approx(
        full / 2, rel=0.01
    )
    assert len(synthesis.synthesize("marvin", sample_rate=22050)) == pytest.approx(
        full * 22050 / RATE, rel=0.01
    )


def test_silent_text_gives_an_empty_waveform():
    wave = synthesis.synthesize("")
    assert wave.dtype == np.float32 and wave.shape == (0,)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"voice": "nosuchvoice"}, "nosuchvoice"),
        ({"voice": "en-us+nosuchvariant"}, "en-us+nosuchvariant"),
        ({"voice": "f3"}, "f3"),  # a variant alone is not a voice
        ({"rate": 79}, "79"),
        ({"rate": 451}, "451"),
        ({"pitch": 101}, "101"),
        ({"pitch_range": -1}, "-1"),
        ({"sample_rate": 100}, "100"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, named):
    with pytest.raises(UserError, match=re.escape(named)) as error:
        synthesis.synthesize("marvin", **kwargs)
    assert "\n" not in str(error.value)
    if "voice" in kwargs:
        assert "voices()" in str(error.value)


def test_voice_lists():
    variants = synthesis.voice_variants()
    assert variants == sorted(variants)
    assert {"f1", "f5", "m1", "m7", "klatt"} <= set(variants)
    assert {"en-us", "en", "en-gb-x-rp"} <= set(synthesis.voices())
    english = synthesis.english_voices()
    assert english == synthesis.english_voices() and len(set(english)) == len(english) >= 20
    assert "en-us" in english and "en-us+f3" in english


def test_every_english_voice_speaks():
    for voice in synthesis.english_voices():
        wave = synthesis.synthesize("marvin", voice=voice)
        assert 0.2 * RATE <= len(wave) <= 2 * RATE, voice
        assert 0.05 < np.abs(wave).max() <= 1.0, voice


def test_missing_package_is_one_line(monkeypatch):
    real_import = builtins.__import__

    def no_espeak(name, *args, **kwargs):
        if name == "espeakng_loader":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_espeak)
    with pytest.raises(UserError, match="pip install espeakng-loader"):
        synthesis._Engine()


def test_native_writes_to_stdout_go_to_stderr(capfd):
    """What C code writes to stdout while the library runs (printf, C's buffered stdout)
    reaches stderr, and stdout works as before after it."""
    libc = ctypes.CDLL(None)
    token = f"espeak-native-{np.random.default_rng().integers(10**9)}"
    print("before", flush=True)
    with stdout_to_stderr():
        libc.printf(f"{token}\n".encode())  # left in C's buffer: flushed on the way out
    libc.fflush(None)
    print("after", flush=True)
    out, err = capfd.readouterr()
    assert out == "before\nafter\n" and token in err
