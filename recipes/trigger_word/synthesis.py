"""Offline text-to-speech through eSpeak NG: ctypes bindings to ``libespeak-ng``.

The library and its ``espeak-ng-data`` come from the ``espeakng-loader`` wheel, so nothing
is installed system-wide. eSpeak NG keeps global state and is not thread-safe: it is
initialised once per process, on first use, and every call holds one lock.

A voice is a base voice, optionally followed by ``+variant``: ``"en-us"``, ``"en-us+f3"``,
``"en+m2"``, ``"en-gb+klatt"``. A base voice is an eSpeak voice file (``"en-us"``,
``"en-gb-x-rp"``), a voice name (``"English (America)"``) or a language code
(``"en-gb"``); :func:`voices` lists the file names, :func:`voice_variants` the variants.

Output is reproducible for the same sequence of calls in a fresh process, not call by call:
libespeak-ng's pitch flutter and noise generator keep their state in static variables that
nothing resets, so repeating a call gives a waveform a few samples longer or shorter, with
slightly different pitch jitter (the same voice, words and timing).
"""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np

from recipes.core.errors import UserError
from recipes.core.training import stdout_to_stderr
from recipes.trigger_word.audio import resample

# values from espeak-ng's src/include/espeak-ng/speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # report a bad data path instead of calling exit()
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4

#: base voices and variants of :func:`english_voices` ("" is the base voice's own sound)
ENGLISH_BASES = ("en-us", "en", "en-gb-x-rp", "en-029", "en-gb-scotland", "en-gb-x-gbclan")
ENGLISH_VARIANTS = ("", "m1", "m2", "m3", "m7", "f1", "f2", "f3", "f4", "klatt")

_SILENCE = 0.01  # amplitude below which leading and trailing samples are trimmed
_MARGIN_S = 0.01  # silence kept at either end, in seconds


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, NUL-terminated code)*, then NUL
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_LOCK = threading.Lock()
_ENGINE: _Engine | None = None


def _languages(address: int) -> list[tuple[int, str]]:
    found = []
    while priority := ctypes.string_at(address, 1)[0]:
        code = ctypes.string_at(address + 1)
        found.append((priority, code.decode()))
        address += len(code) + 2
    return found


class _Engine:
    """The initialised library, its voice table and the buffer its callback fills."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError:
            raise UserError("text-to-speech needs eSpeak NG: pip install espeakng-loader") from None
        data = espeakng_loader.get_data_path()
        if not os.path.isfile(os.path.join(data, "phontab")):
            raise UserError(f"eSpeak NG data is incomplete at {data}: reinstall espeakng-loader")
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_Callback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint]
        lib.espeak_Synth.argtypes += [ctypes.c_int, ctypes.c_uint, ctypes.c_uint]
        lib.espeak_Synth.argtypes += [ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        flags = _AUDIO_OUTPUT_SYNCHRONOUS
        self.rate = lib.espeak_Initialize(flags, 0, os.fsencode(data), _INITIALIZE_DONT_EXIT)
        if self.rate <= 0:
            raise UserError(f"eSpeak NG failed to start with the data at {data}")
        self.lib, self.chunks = lib, []
        self.callback = _Callback(self._collect)  # referenced here so it is never freed
        lib.espeak_SetSynthCallback(self.callback)
        variants = os.path.join(data, "voices", "!v")
        self.variants = sorted(
            n for n in os.listdir(variants) if os.path.isfile(os.path.join(variants, n))
        )
        self.files, by_name, by_language = {}, {}, {}
        listed = lib.espeak_ListVoices(None)
        for i in range(10_000):
            if not listed[i]:
                break
            voice = listed[i].contents
            identifier = voice.identifier.decode()
            self.files.setdefault(identifier.rsplit("/", 1)[-1].lower(), identifier)
            self.files.setdefault(identifier.lower(), identifier)
            by_name.setdefault(voice.name.decode().lower(), identifier)
            for priority, code in _languages(voice.languages):
                best = by_language.get(code.lower(), (256, ""))
                by_language[code.lower()] = min(best, (priority, identifier))
        self.bases = {**{k: v for k, (_, v) in by_language.items()}, **by_name, **self.files}

    def _collect(self, wav, count: int, events) -> int:
        if wav and count > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, (count,)).copy())
        return 0

    def synth(self, voice: str, text: str, settings: dict[int, int]) -> np.ndarray:
        base, _, variant = voice.partition("+")
        identifier = self.bases.get(base.strip().lower())
        if identifier is None or (variant and variant not in self.variants):
            raise UserError(
                f"unknown eSpeak voice {voice!r}: list base voices with "
                "recipes.trigger_word.synthesis.voices() and variants (after '+') with "
                "recipes.trigger_word.synthesis.voice_variants()"
            )
        name = f"{identifier}+{variant}" if variant else identifier
        if self.lib.espeak_SetVoiceByName(name.encode()) != 0:
            raise UserError(f"eSpeak NG could not load the voice {voice!r}")
        for parameter, value in settings.items():
            self.lib.espeak_SetParameter(parameter, value, 0)
        encoded = text.encode() + b"\0"
        self.chunks = []
        status = self.lib.espeak_Synth(
            encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        self.lib.espeak_Synchronize()
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed with status {status} for voice {voice!r}")
        chunks, self.chunks = self.chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


def _engine() -> _Engine:
    global _ENGINE
    if _ENGINE is None:
        with stdout_to_stderr():
            _ENGINE = _Engine()
    return _ENGINE


def _require(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise UserError(f"{name} must be between {low} and {high}, got {value}")


def synthesize(
    text: str,
    voice: str = "en-us",
    rate: int = 175,
    pitch: int = 50,
    pitch_range: int = 50,
    sample_rate: int = 16000,
) -> np.ndarray:
    """Speaks ``text`` with eSpeak NG.

    Args:
        text: What to say (UTF-8 text; SSML and phoneme markup are not interpreted).
        voice: Base voice with an optional ``+variant``, e.g. ``"en-us+f3"``.
        rate: Speed in words per minute, 80 to 450.
        pitch: Base pitch, 0 to 100 (50 is the voice's normal pitch).
        pitch_range: Intonation range, 0 (monotone) to 100 (50 is normal).
        sample_rate: Sample rate of the result in Hz, 4000 to 96000.

    Returns:
        A float32 mono waveform in [-1, 1] at ``sample_rate``, leading and trailing
        silence trimmed to about 10 ms (empty when nothing audible was said).

    Raises:
        UserError: for an unknown voice or a setting out of range, or when eSpeak NG
            (``espeakng-loader``) is missing.
    """
    _require("rate", rate, 80, 450)
    _require("pitch", pitch, 0, 100)
    _require("pitch_range", pitch_range, 0, 100)
    _require("sample_rate", sample_rate, 4000, 96000)
    settings = {_RATE: rate, _VOLUME: 100, _PITCH: pitch, _RANGE: pitch_range}
    with _LOCK:
        engine = _engine()
        with stdout_to_stderr():
            samples = engine.synth(voice, text, settings).astype(np.float32) / 32768.0
    loud = np.flatnonzero(np.abs(samples) >= _SILENCE)
    if loud.size == 0:
        return np.zeros(0, np.float32)
    margin = round(_MARGIN_S * engine.rate)
    samples = samples[max(loud[0] - margin, 0) : loud[-1] + margin + 1]
    return np.clip(resample(samples, engine.rate, sample_rate), -1.0, 1.0)


def voices() -> list[str]:
    """Base voice names (eSpeak voice file names such as ``"en-us"``), sorted."""
    with _LOCK:
        return sorted(name for name in _engine().files if "/" not in name)


def voice_variants() -> list[str]:
    """Variant names shipped in ``espeak-ng-data/voices/!v`` (``"f1"``, ``"klatt"``...), sorted."""
    with _LOCK:
        return list(_engine().variants)


def english_voices() -> list[str]:
    """English ``base+variant`` voices for speaker variety, in a fixed order.

    The product of :data:`ENGLISH_BASES` and :data:`ENGLISH_VARIANTS`, keeping those the
    installed data has; the empty variant gives the plain base voice.
    """
    with _LOCK:
        engine = _engine()
        bases = [base for base in ENGLISH_BASES if base in engine.bases]
        variants = [v for v in ENGLISH_VARIANTS if not v or v in engine.variants]
    return [f"{base}+{v}" if v else base for base in bases for v in variants]
