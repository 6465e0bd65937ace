"""Clips and training examples of the trigger-word detector.

Clips come from a folder in the Speech Commands layout (one sub-folder of WAV files per
word, ``_background_noise_/``, optional ``testing_list*.txt``/``validation_list*.txt``),
from eSpeak NG (synthesized renditions of words, :mod:`recipes.trigger_word.synthesis`) and from
generated noise; :func:`split_clips` gathers the recipe's splits from them. :func:`compose`
mixes them into labelled training examples.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recipes.core.errors import UserError
from recipes.core.training import Progress
from recipes.trigger_word import audio

if TYPE_CHECKING:
    from recipes.trigger_word.config import TriggerWordConfig

BACKGROUND_FOLDER = "_background_noise_"
#: words synthesized as negatives (the trigger word itself is left out)
NEGATIVE_WORDS = (
    "activity", "actually", "marble", "martin", "marvel", "action", "captive", "native",
    "active", "hello", "computer", "lights", "music", "weather", "today", "yes", "no",
    "stop", "go", "left", "right", "up", "down", "on", "off", "one", "two", "three",
    "seven", "nine", "house", "happy", "bird", "cat", "dog", "tree", "wow", "sheila",
    "table", "window", "morning", "evening", "please", "thanks", "very", "maybe",
    "arrive", "relative", "motivate", "cultivate", "marvellous", "harvest", "carving",
)  # fmt: skip
#: eSpeak NG speaking rates (words per minute) and pitches (0-100) drawn from
RATES = (110, 130, 150, 170, 190, 220)
PITCHES = (15, 30, 45, 60, 75, 90)


@dataclass
class Clips:
    """The sounds of one split: positive and negative clips, background recordings."""

    positives: list[np.ndarray] = field(default_factory=list)
    negatives: list[np.ndarray] = field(default_factory=list)
    backgrounds: list[np.ndarray] = field(default_factory=list)
    positive_names: list[str] = field(default_factory=list)
    #: synthesized positives kept apart from recorded ones (see ``Mixing.synthetic_share``)
    synthetic_positives: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.positives)

    def extend(self, other: Clips) -> None:
        self.positives += other.positives
        self.negatives += other.negatives
        self.backgrounds += other.backgrounds
        self.positive_names += other.positive_names
        self.synthetic_positives += other.synthetic_positives


def speaker(path: str) -> str:
    """The speaker of a Speech Commands file: its name's part before ``_nohash_``."""
    return Path(path).name.split("_nohash_")[0]


def _rank(key: str, seed: int) -> str:
    return hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()


def split_by_speaker(
    names: list[str], test: float, validation: float, seed: int
) -> tuple[set[str], set[str]]:
    """Test and validation names; whole speakers, at least the given shares of the clips.

    Speakers are taken in a seeded hash order until the test split holds at least
    ``test`` of the clips, then the validation split ``validation`` of them (at least
    one clip each when the share is positive and another speaker is left).
    """
    by_speaker: dict[str, list[str]] = {}
    for name in names:
        by_speaker.setdefault(speaker(name), []).append(name)
    order = sorted(by_speaker, key=lambda s: _rank(s, seed))
    chosen: list[set[str]] = [set(), set()]
    for index, share in enumerate((test, validation)):
        while order and share > 0 and len(chosen[index]) < max(share * len(names), 1):
            if len(order) == 1:  # keep a speaker for training
                break
            chosen[index].update(by_speaker[order.pop(0)])
    return chosen[0], chosen[1]


def _listed(root: Path, pattern: str) -> set[str]:
    names: set[str] = set()
    for path in sorted(root.glob(pattern)):
        names.update(line.strip() for line in path.read_text().splitlines() if line.strip())
    return names


def _read_clip(path: Path) -> np.ndarray:
    return audio.trim(audio.read_wav(path))


def read_speech_commands(
    root: str | Path,
    word: str,
    test: float,
    validation: float,
    background_shares: tuple[float, float],
    seed: int,
) -> dict[str, Clips]:
    """Train, validation and test clips of a Speech Commands style folder.

    ``root/<word>/`` holds the positives, every other folder not starting with ``_``
    negatives, ``root/_background_noise_/`` backgrounds (optional). Held-out clips:
    the official ``testing_list*.txt``/``validation_list*.txt`` when they hold at least
    ``test`` (and 1 clip) of the word's clips, else whole speakers (see
    :func:`split_by_speaker`); negatives follow the lists (speakers when there are
    none). Each background recording is cut in time: the last ``background_shares[0]``
    is test, the ``background_shares[1]`` before it validation, the rest training.

    Raises:
        UserError: the folder or the word's sub-folder is missing or holds no WAV file.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(
            f"Data path {root} is not a folder; expected the Speech Commands layout "
            "(one folder of WAV files per word, optional _background_noise_/)."
        )
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
    words = [p.name for p in folders]
    if word not in words:
        raise UserError(
            f"{root} has no folder {word!r} of clips of the trigger word; its words are "
            f"{words[:12]}{' ...' if len(words) > 12 else ''} (set word=...)."
        )
    files = {p.name: sorted(p.glob("*.wav")) for p in folders}
    if not files[word]:
        raise UserError(f"{root / word} holds no .wav file.")
    listed_test, listed_val = (
        _listed(root, "testing_list*.txt"),
        _listed(root, "validation_list*.txt"),
    )

    def relative(path: Path) -> str:
        return f"{path.parent.name}/{path.name}"

    def assign(names: list[str], by_lists: bool) -> dict[str, str]:
        if by_lists:
            return {
                n: "test" if n in listed_test else "validation" if n in listed_val else "train"
                for n in names
            }
        held_test, held_val = split_by_speaker(names, test, validation, seed)
        return {
            n: "test" if n in held_test else "validation" if n in held_val else "train"
            for n in names
        }

    positives = [relative(p) for p in files[word]]
    in_test = sum(n in listed_test for n in positives)
    use_lists = in_test >= max(1, test * len(positives))
    where = assign(positives, use_lists)
    negatives = [relative(p) for w in words if w != word for p in files[w]]
    where.update(assign(negatives, bool(listed_test or listed_val)))

    splits = {name: Clips() for name in ("train", "validation", "test")}
    for name in positives:
        splits[where[name]].positives.append(_read_clip(root / name))
        splits[where[name]].positive_names.append(name)
    for name in negatives:
        splits[where[name]].negatives.append(_read_clip(root / name))
    for path in sorted((root / BACKGROUND_FOLDER).glob("*.wav")):
        for split, part in cut_background(audio.read_wav(path), background_shares).items():
            splits[split].backgrounds.append(part)
    return splits


def cut_background(waveform: np.ndarray, shares: tuple[float, float]) -> dict[str, np.ndarray]:
    """A recording cut in time: the last ``shares[0]`` test, ``shares[1]`` before it validation."""
    test_start = int(round(len(waveform) * (1.0 - shares[0])))
    val_start = int(round(len(waveform) * (1.0 - shares[0] - shares[1])))
    return {
        "train": waveform[:val_start],
        "validation": waveform[val_start:test_start],
        "test": waveform[test_start:],
    }


def say(texts: list[str], voices: list[str], rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """One of ``texts`` said by eSpeak NG in a random voice of ``voices``, rate of
    :data:`RATES` and pitch of :data:`PITCHES` (drawn in that order, then the text).

    Returns the waveform and its name, ``voice@rate/pitch:text``.
    """
    from recipes.trigger_word import synthesis

    voice = voices[rng.integers(len(voices))]
    rate, pitch = int(rng.choice(RATES)), int(rng.choice(PITCHES))
    text = texts[rng.integers(len(texts))]
    clip = synthesis.synthesize(text, voice=voice, rate=rate, pitch=pitch)
    return clip, f"{voice}@{rate}/{pitch}:{text}"


def synthesized(
    words: list[str], count: int, rng: np.random.Generator, voices: list[str], label: str = ""
) -> tuple[list[np.ndarray], list[str]]:
    """``count`` renditions of ``words`` in random voices, rates and pitches (eSpeak NG).

    With a ``label``, the synthesis is said on stderr as a phase counting its clips
    (:class:`~recipes.core.training.Progress`); stdout is left to the results.

    Returns the clips and their voice names (``voice@rate/pitch``, the speaker ids).
    """
    clips, names = [], []
    with Progress(f"synthesizing {label} with eSpeak NG", verbose=bool(count and label)) as phase:
        for _ in phase.count(range(count), "clips"):
            clip, name = say(words, voices, rng)
            clips.append(audio.with_level(audio.trim(clip), -20.0))
            names.append(name)
    return clips, names


#: seconds of a piece of running speech (:func:`speech_pieces`)
SPEECH_PIECE_SECONDS = (0.5, 3.0)


def speech_pieces(
    word: str, count: int, rng: np.random.Generator, voices: list[str], label: str = ""
) -> list[np.ndarray]:
    """``count`` pieces of running speech, each a random stretch of
    :data:`SPEECH_PIECE_SECONDS` (cut anywhere, mid-word too) of a sentence that eSpeak NG
    says in a random voice, rate and pitch: sentences of the ``train`` part of
    :func:`~recipes.trigger_word.prose.speech_texts` (none holds ``word``).

    With a ``label``, the synthesis is said on stderr as a phase counting its pieces.
    """
    from recipes.trigger_word.prose import speech_texts

    if not count:
        return []
    texts = speech_texts(word, "train")
    pieces = []
    with Progress(f"synthesizing {label} with eSpeak NG", verbose=bool(label)) as phase:
        for _ in phase.count(range(count), "pieces"):
            speech, _ = say(texts, voices, rng)
            length = int(rng.uniform(*SPEECH_PIECE_SECONDS) * audio.SAMPLE_RATE)
            start = int(rng.integers(max(1, len(speech) - length + 1)))
            pieces.append(audio.with_level(speech[start : start + length], -20.0))
    return pieces


def noise_backgrounds(seconds: float, seed: int) -> list[np.ndarray]:
    """One recording of each generated noise (white, pink, brown), ``seconds`` long."""
    rng = np.random.default_rng(seed)
    return [audio.noise(kind, int(seconds * audio.SAMPLE_RATE), rng) for kind in audio.NOISES]


def split_clips(
    config: TriggerWordConfig, data: str | None, plan: Mixing, quiet: bool = False
) -> dict[str, Clips]:
    """The train, validation and test clips of the recipe: those of a Speech Commands
    style folder (:func:`read_speech_commands`) plus synthesized ones (training only), or,
    without ``data``, synthesized speech split by voice and generated noise.

    ``config`` gives the word, the synthesized counts, the shares held out and the seed;
    ``quiet`` leaves out the lines on synthesis.

    Raises:
        UserError: a split has no clip of the word, or a folder without backgrounds has
            a split where no positive fits in an example (``plan``): nothing to measure.
    """
    from recipes.trigger_word import synthesis

    c = config
    shares = (c.test_split, c.validation_split)
    if data is None:
        splits = {name: Clips() for name in ("train", "validation", "test")}
        for part in noise_backgrounds(120.0, c.seed):
            for split, piece in cut_background(part, shares).items():
                splits[split].backgrounds.append(piece)
    else:
        splits = read_speech_commands(
            data, c.word, c.test_split, c.validation_split, shares, c.seed
        )
        for name, clips in splits.items():
            heard = any(len(b) for b in clips.backgrounds)
            placeable = any(map(plan.fits, clips.positives))
            if clips.positives and not heard and not placeable:
                # nothing to measure the split on: no false accepts and no misses
                raise UserError(
                    f"{data} has no background recordings ({BACKGROUND_FOLDER}/ is "
                    f"missing or empty) and no clip of {c.word!r} in its {name} split fits in "
                    f"an example of {c.example_seconds:g} s with its {c.label_frames} label "
                    f"frames; add WAV files of background sound to "
                    f"{Path(data) / BACKGROUND_FOLDER}, or raise example_seconds or "
                    "lower label_frames."
                )
    rng = np.random.default_rng(c.seed)
    synthesizing = c.synthesized_positives or c.synthesized_negatives or c.speech_negatives
    voices = synthesis.english_voices() if synthesizing else []
    negative_words = [w for w in NEGATIVE_WORDS if w != c.word.lower()]
    positives, positive_names = synthesized(
        [c.word],
        c.synthesized_positives,
        rng,
        voices,
        "" if quiet else f"{c.synthesized_positives} x {c.word!r}",
    )
    negatives, negative_names = synthesized(
        negative_words,
        c.synthesized_negatives,
        rng,
        voices,
        "" if quiet else f"{c.synthesized_negatives} other words",
    )
    speech = speech_pieces(
        c.word,
        c.speech_negatives,
        rng,
        voices,
        "" if quiet else f"{c.speech_negatives} pieces of running speech",
    )
    if c.calibration_speech_minutes:
        from recipes.trigger_word.prose import speech_texts

        speech_texts(c.word, "validation")  # before training: the calibration will need them
    if data is None:
        # voices are the speakers: a held-out voice is never heard in training
        keys = [f"{n.split('@')[0]}_nohash_{i}" for i, n in enumerate(positive_names)]
        held = split_by_speaker(keys, c.test_split, c.validation_split, c.seed)
        test_voices, val_voices = ({speaker(k) for k in h} for h in held)

        def split_of(name: str) -> str:
            voice = name.split("@")[0]
            return (
                "test" if voice in test_voices else "validation" if voice in val_voices else "train"
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
    splits["train"].negatives += speech  # running speech only trains
    for name, clips in splits.items():
        if not clips.positives:
            raise UserError(
                f"The {name} split has no clip of {c.word!r}; give more clips of it or "
                "raise synthesized_positives."
            )
    return splits


@dataclass(frozen=True)
class Mixing:
    """How examples are composed (see :func:`compose`)."""

    samples: int  # example length
    frame_samples: int  # samples per output frame
    label_frames: int  # frames labelled 1 after each positive ends
    max_positives: int
    max_negatives: int
    speech_db: tuple[float, float] = (-30.0, -16.0)  # RMS level of an inserted clip
    background_db: tuple[float, float] = (-60.0, -30.0)  # RMS level of the background
    speed: float = 0.1  # augmentation: speed within 1 +- speed
    pitch: float = 2.0  # augmentation: pitch within +- semitones
    noise: float = 0.3  # probability of added generated noise
    synthetic_share: float = 0.5  # share of inserted positives drawn from the synthesized ones

    @classmethod
    def of(
        cls, config: TriggerWordConfig, frame_samples: int, seconds: float | None = None
    ) -> Mixing:
        """The composition ``config`` sets, for examples of ``seconds`` (default
        ``example_seconds``) and output frames of ``frame_samples``."""
        c = config
        return cls(
            samples=int((seconds or c.example_seconds) * audio.SAMPLE_RATE),
            frame_samples=frame_samples,
            label_frames=c.label_frames,
            max_positives=c.max_positives,
            max_negatives=c.max_negatives,
            speed=c.speed,
            pitch=c.pitch,
            noise=c.noise,
            synthetic_share=c.synthetic_share,
        )

    def fits(self, clip: np.ndarray) -> bool:
        """Whether ``clip`` and its label span fit in an example."""
        return len(clip) + self.label_frames * self.frame_samples < self.samples


def background_stretch(
    backgrounds: list[np.ndarray], samples: int, rng: np.random.Generator
) -> np.ndarray:
    """A random ``samples`` long stretch of a random background (repeated when shorter)."""
    if not backgrounds:
        return np.zeros(samples, np.float32)
    source = backgrounds[rng.integers(len(backgrounds))]
    if len(source) <= samples:
        return np.resize(source, samples).astype(np.float32)
    start = rng.integers(len(source) - samples)
    return source[start : start + samples].astype(np.float32)


#: seconds of one stream of running speech (:func:`speech_stream`; a stream is scored as one
#: recording)
STREAM_SECONDS = 60.0
#: share of the utterances in a stream that are recorded clips of other words (when the
#: split has them); the rest are synthesized sentences
WORD_SHARE = 0.25
#: pause between two utterances, in seconds
PAUSE_SECONDS = (0.2, 1.5)


def speech_stream(
    clips: Clips,
    texts: list[str],
    voices: list[str],
    plan: Mixing,
    rng: np.random.Generator,
    seconds: float = STREAM_SECONDS,
) -> tuple[np.ndarray, int]:
    """One negative stream of ``seconds``: a background stretch of ``clips`` at a random
    level of ``plan.background_db``, and utterances one after the other with pauses of
    :data:`PAUSE_SECONDS`, each at a random level of ``plan.speech_db``: a recorded clip
    of another word (a share :data:`WORD_SHARE` of them, when ``clips`` has negatives)
    or a sentence of ``texts`` that eSpeak NG says in a random voice of ``voices``, rate
    and pitch (:func:`say`).

    Returns the waveform and the number of sentences said in it.
    """
    samples = int(seconds * audio.SAMPLE_RATE)
    stretch = background_stretch(clips.backgrounds, samples, rng)
    mix = audio.with_level(stretch, rng.uniform(*plan.background_db)).astype(np.float32)
    at, said = int(rng.uniform(*PAUSE_SECONDS) * audio.SAMPLE_RATE), 0
    while at < samples:
        if clips.negatives and rng.random() < WORD_SHARE:
            clip = clips.negatives[rng.integers(len(clips.negatives))]
        else:
            clip, _ = say(texts, voices, rng)
            said += 1
        clip = audio.with_level(clip, rng.uniform(*plan.speech_db))[: samples - at]
        mix[at : at + len(clip)] += clip
        at += len(clip) + int(rng.uniform(*PAUSE_SECONDS) * audio.SAMPLE_RATE)
    return np.clip(mix, -1.0, 1.0), said


def _place(length: int, taken: list[tuple[int, int]], total: int, rng) -> int | None:
    """A random start of a ``length`` long stretch overlapping none of ``taken``."""
    if length >= total:
        return None
    for _ in range(50):
        start = int(rng.integers(total - length))
        if all(start + length <= a or start >= b for a, b in taken):
            return start
    return None


def insert(
    base: np.ndarray,
    clips: list[tuple[np.ndarray, bool]],
    mixing: Mixing,
    rng: np.random.Generator,
    augment: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """``clips`` (waveform, is positive) added to ``base`` at random non-overlapping places.

    Returns the mix, the per-frame labels and the (start, end) samples of the inserted
    positives. A positive's label span belongs to it: nothing else is inserted there.
    """
    mix = base.copy()
    frames = len(base) // mixing.frame_samples
    labels = np.zeros(frames, np.float32)
    taken: list[tuple[int, int]] = []
    spans: list[tuple[int, int]] = []
    tail = mixing.label_frames * mixing.frame_samples
    for clip, positive in clips:
        if augment:
            clip = audio.augment(clip, rng, mixing.speed, mixing.pitch)
        clip = audio.with_level(clip, rng.uniform(*mixing.speech_db))
        start = _place(len(clip) + (tail if positive else 0), taken, len(mix), rng)
        if start is None:
            continue
        end = start + len(clip)
        mix[start:end] += clip
        taken.append((start, end + (tail if positive else 0)))
        if positive:
            spans.append((start, end))
            first = int(np.ceil(end / mixing.frame_samples)) - 1
            labels[first : first + mixing.label_frames] = 1.0
    return mix, labels, spans


def compose(
    clips: Clips, mixing: Mixing, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One training example: a background stretch with positives and negatives inserted.

    Up to ``max_positives`` positives and ``max_negatives`` negatives (each augmented
    in speed and pitch, at a random level) at random non-overlapping places over a
    background at a random level, sometimes with generated noise added. The label is 1
    for ``label_frames`` output frames from the one in which each positive ends.

    Returns:
        ``(waveform (samples,), labels (samples // frame_samples,))``.
    """
    base = audio.with_level(
        background_stretch(clips.backgrounds, mixing.samples, rng),
        rng.uniform(*mixing.background_db),
    )
    if rng.random() < mixing.noise:
        kind = audio.NOISES[rng.integers(len(audio.NOISES))]
        base = base + audio.with_level(
            audio.noise(kind, mixing.samples, rng), rng.uniform(*mixing.background_db)
        )
    chosen: list[tuple[np.ndarray, bool]] = []
    for _ in range(rng.integers(mixing.max_positives + 1)):
        synthetic = clips.synthetic_positives and (
            not clips.positives or rng.random() < mixing.synthetic_share
        )
        pool = clips.synthetic_positives if synthetic else clips.positives
        if pool:
            chosen.append((pool[rng.integers(len(pool))], True))
    if clips.negatives:
        for _ in range(rng.integers(mixing.max_negatives + 1)):
            chosen.append((clips.negatives[rng.integers(len(clips.negatives))], False))
    order = rng.permutation(len(chosen))
    mix, labels, _ = insert(base, [chosen[i] for i in order], mixing, rng)
    return np.clip(mix, -1.0, 1.0).astype(np.float32), labels
