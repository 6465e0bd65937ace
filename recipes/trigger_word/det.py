"""The detection error tradeoff (DET) over hours of held-out audio.

A false-accept rate below one per hour cannot be told from zero on an hour of audio, and
a miss rate of 5% cannot be told from 0% on 60 trials. :func:`det_curve` measures both on
as much audio as asked for:

- **negatives**: running speech that eSpeak NG synthesizes from English sentences of the
  Python standard library's docstrings (the test half of
  :func:`~recipes.trigger_word.prose.speech_texts`: none holds the trigger word, and
  ``speech_negatives`` trains on the other half), in many voices, rates and pitches
  (:func:`speech_stream`), over the held-out background recordings at random levels,
  with the held-out clips of other words said between the sentences;
- **positives**: the held-out positives, each inserted ``trials`` times into background
  stretches (:func:`recipes.trigger_word.detection.positive_trials`).

Both are counted at every threshold of :data:`GRID` (the curve) and at the run's own
threshold (the operating point). :func:`plot_det` draws the curve.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recipes.core.training import save_figure
from recipes.trigger_word import audio, detection, mixing
from recipes.trigger_word.mixing import Clips
from recipes.trigger_word.prose import speech_texts

if TYPE_CHECKING:
    from recipes.trigger_word.recipe import TriggerWord

#: thresholds of the curve: 0.01 to 0.99 in steps of 0.01
GRID = tuple(round(0.01 * i, 2) for i in range(1, 100))
#: (miss rate, false accepts per hour) of the shaded corner of the plot: openWakeWord's
#: published target for its models
TARGET = (0.05, 0.5)
#: seconds of one negative stream (a stream is scored as one recording)
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
    plan: mixing.Mixing,
    rng: np.random.Generator,
    seconds: float = STREAM_SECONDS,
) -> tuple[np.ndarray, int]:
    """One negative stream of ``seconds``: a background stretch of ``clips`` at a random
    level of ``plan.background_db``, and utterances one after the other with pauses of
    :data:`PAUSE_SECONDS`, each at a random level of ``plan.speech_db``: a recorded clip
    of another word (a share :data:`WORD_SHARE` of them, when ``clips`` has negatives)
    or a sentence of ``texts`` that eSpeak NG says in a random voice of ``voices``, rate
    and pitch (:func:`mixing.say`).

    Returns the waveform and the number of sentences said in it.
    """
    samples = int(seconds * audio.SAMPLE_RATE)
    stretch = mixing.background_stretch(clips.backgrounds, samples, rng)
    mix = audio.with_level(stretch, rng.uniform(*plan.background_db)).astype(np.float32)
    at, said = int(rng.uniform(*PAUSE_SECONDS) * audio.SAMPLE_RATE), 0
    while at < samples:
        if clips.negatives and rng.random() < WORD_SHARE:
            clip = clips.negatives[rng.integers(len(clips.negatives))]
        else:
            clip, _ = mixing.say(texts, voices, rng)
            said += 1
        clip = audio.with_level(clip, rng.uniform(*plan.speech_db))[: samples - at]
        mix[at : at + len(clip)] += clip
        at += len(clip) + int(rng.uniform(*PAUSE_SECONDS) * audio.SAMPLE_RATE)
    return np.clip(mix, -1.0, 1.0), said


def detection_frames(probabilities: np.ndarray, threshold: float, refractory: int) -> np.ndarray:
    """The frames of the detections in one recording's ``probabilities``: the rule of
    :class:`~recipes.trigger_word.onnx_inference.Detector` (a frame at or above the
    threshold after one below it, at least ``refractory`` frames after the previous
    detection), vectorized over the frames."""
    above = np.asarray(probabilities, np.float64) >= threshold
    rising = np.flatnonzero(above & ~np.concatenate([[False], above[:-1]]))
    kept, last = [], None
    for frame in rising.tolist():
        if last is None or frame - last >= refractory:
            kept.append(frame)
            last = frame
    return np.asarray(kept, np.int64)


def _counts(recipe: TriggerWord, probabilities, thresholds) -> np.ndarray:
    """Detections in each negative recording, summed, at each of ``thresholds``."""
    refractory = recipe.detector(0.5).refractory
    return np.array(
        [sum(len(detection_frames(p, t, refractory)) for p in probabilities) for t in thresholds]
    )


def _misses(recipe: TriggerWord, trials, thresholds) -> np.ndarray:
    """Trials without a detection in their window, at each of ``thresholds``."""
    refractory, seconds = recipe.detector(0.5).refractory, recipe.frame_seconds()
    missed = np.zeros(len(thresholds), np.int64)
    for probs, _, (first, last) in trials:
        for i, t in enumerate(thresholds):
            times = (detection_frames(probs, t, refractory) + 1) * seconds
            missed[i] += not np.any((times >= first) & (times <= last))
    return missed


def det_curve(
    recipe: TriggerWord,
    clips: Clips,
    hours: float,
    trials: int,
    seed: int = 0,
    voices: list[str] | None = None,
) -> dict[str, Any]:
    """Misses and false accepts per hour at every threshold of :data:`GRID` and at the
    run's threshold, over ``hours`` of negative streams (:func:`speech_stream`) and
    ``trials`` insertions of each positive of ``clips`` (a held-out split).

    Args:
        voices: eSpeak NG voices of the sentences; default
            :func:`~recipes.trigger_word.synthesis.english_voices`.

    Returns:
        ``threshold``, ``miss_rate`` and ``false_accepts_per_hour`` (the run's operating
        point), the counts they rest on (``positive_trials``, ``positive_clips``,
        ``misses``, ``false_accepts``, ``negative_hours``, ``sentences``, ``voices``), and
        ``curve``: one ``{threshold, miss_rate, false_accepts_per_hour}`` per threshold.
    """
    from recipes.trigger_word import synthesis

    recipe._require_model()
    voices = voices or synthesis.english_voices()
    texts = speech_texts(recipe.config.word, "test")
    rng = np.random.default_rng([recipe.config.seed, seed, 23])
    threshold = recipe.threshold()
    plan = recipe.mixing()
    streams = max(1, int(np.ceil(hours * 3600 / STREAM_SECONDS)))
    probabilities, said = [], 0
    with recipe.progress(
        f"synthesizing and scoring {streams * STREAM_SECONDS / 60:g} minutes of negative speech"
    ):
        batches = range(0, streams, detection.STREAM_BATCH)
        for start in recipe.counted(batches, "batches of streams"):
            batch = []
            for _ in range(min(detection.STREAM_BATCH, streams - start)):
                waveform, sentences = speech_stream(clips, texts, voices, plan, rng)
                batch.append(waveform)
                said += sentences
            probabilities += recipe.batch_probabilities(batch)
    with recipe.progress("scoring positive trials"):
        scored = detection.positive_trials(recipe, clips, rng, trials)
    thresholds = (*GRID, threshold)
    accepted = _counts(recipe, probabilities, thresholds)
    missed = _misses(recipe, scored, thresholds)
    measured = sum(len(p) for p in probabilities) * recipe.frame_seconds() / 3600.0
    per_hour = accepted / measured
    miss_rate = missed / max(1, len(scored))
    return {
        "threshold": round(threshold, 4),
        "miss_rate": round(float(miss_rate[-1]), 4),
        "false_accepts_per_hour": round(float(per_hour[-1]), 4),
        "misses": int(missed[-1]),
        "false_accepts": int(accepted[-1]),
        "positive_trials": len(scored),
        "positive_clips": len(clips.positives),
        "negative_hours": round(measured, 4),
        "sentences": said,
        "voices": len(voices),
        "curve": [
            {
                "threshold": t,
                "miss_rate": round(float(m), 4),
                "false_accepts_per_hour": round(float(f), 4),
            }
            for t, m, f in zip(GRID, miss_rate[:-1], per_hour[:-1], strict=True)
        ],
    }


def best_miss_rate(curve: list[dict[str, float]], per_hour: float) -> dict[str, float] | None:
    """The point of ``curve`` with the lowest miss rate among those with at most
    ``per_hour`` false accepts per hour (the lowest threshold of equal ones); None when
    no threshold is that quiet."""
    quiet = [p for p in curve if p["false_accepts_per_hour"] <= per_hour]
    return min(quiet, key=lambda p: (p["miss_rate"], p["threshold"])) if quiet else None


def plot_det(result: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """The DET curve of :func:`det_curve`'s ``result``: miss rate against false accepts
    per hour (both on log scales, a zero drawn on a dotted line at half of one event)
    across thresholds, the run's operating point marked, the target corner shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours, trials = result["negative_hours"], result["positive_trials"]
    # zero drawn at half of one event: half a false accept over the audio, half a miss
    floor_x, floor_y = 0.5 / hours, 50.0 / max(1, trials)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    x = [max(p["false_accepts_per_hour"], floor_x) for p in result["curve"]]
    y = [max(100 * p["miss_rate"], floor_y) for p in result["curve"]]
    ax.fill_between(
        [floor_x, TARGET[1]], floor_y, 100 * TARGET[0], color="green", alpha=0.12, lw=0,
        label=f"<= {100 * TARGET[0]:g}% miss at <= {TARGET[1]:g} per hour",
    )  # fmt: skip
    ax.plot(x, y, marker=".", lw=1, label="thresholds 0.01-0.99")
    ax.plot(
        [max(result["false_accepts_per_hour"], floor_x)],
        [max(100 * result["miss_rate"], floor_y)],
        "o",
        color="red",
        label=f"the run's threshold {result['threshold']:g}",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axvline(floor_x, color="grey", lw=0.6, ls=":")
    ax.axhline(floor_y, color="grey", lw=0.6, ls=":")
    ax.set_xlabel(f"false accepts per hour (over {hours:g} h; 0 on the dotted line)")
    ax.set_ylabel(f"miss rate, % (over {trials} trials; 0 on the dotted line)")
    ax.set_ylim(floor_y * 0.8, 100)
    ax.grid(True, which="both", lw=0.3)
    ax.legend(loc="upper right")
    ax.set_title(title or "detection error tradeoff")
    return save_figure(fig, path, dpi=100)
