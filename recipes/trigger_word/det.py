"""The detection error tradeoff (DET) over hours of held-out audio.

A false-accept rate below one per hour cannot be told from zero on an hour of audio, and
a miss rate of 5% cannot be told from 0% on 60 trials. :func:`det_curve` measures both on
as much audio as asked for:

- **negatives**: running speech that eSpeak NG synthesizes from English sentences of the
  Python standard library's docstrings (the ``test`` part of
  :func:`~recipes.trigger_word.prose.speech_texts`: none holds the trigger word;
  ``speech_negatives`` trains on the ``train`` part, the threshold is calibrated on the
  ``validation`` part), in many voices, rates and pitches
  (:func:`~recipes.trigger_word.mixing.speech_stream`), over the held-out background
  recordings at random levels, with the held-out clips of other words said between the
  sentences;
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
from recipes.trigger_word import detection, mixing
from recipes.trigger_word.mixing import Clips

if TYPE_CHECKING:
    from recipes.trigger_word.recipe import TriggerWord

#: thresholds of the curve: 0.01 to 0.99 in steps of 0.01, then 0.991 to 0.999 in steps
#: of 0.001
GRID = (*(round(0.01 * i, 2) for i in range(1, 100)), *detection.TOP_THRESHOLDS)
#: (miss rate, false accepts per hour) of the shaded corner of the plot: openWakeWord's
#: published target for its models
TARGET = (0.05, 0.5)


def det_curve(
    recipe: TriggerWord,
    clips: Clips,
    hours: float,
    trials: int,
    seed: int = 0,
    voices: list[str] | None = None,
) -> dict[str, Any]:
    """Misses and false accepts per hour at every threshold of :data:`GRID` and at the
    run's threshold, over ``hours`` of negative streams
    (:func:`~recipes.trigger_word.detection.speech_streams` of the ``test`` sentences)
    and ``trials`` insertions of each positive of ``clips`` (a held-out split).

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
    rng = np.random.default_rng([recipe.config.seed, seed, 23])
    threshold = recipe.threshold()
    streams = max(1, int(np.ceil(hours * 3600 / mixing.STREAM_SECONDS)))
    minutes = streams * mixing.STREAM_SECONDS / 60
    with recipe.progress(f"synthesizing and scoring {minutes:g} minutes of negative speech"):
        probabilities, said = detection.speech_streams(recipe, clips, "test", minutes, rng, voices)
    with recipe.progress("scoring positive trials"):
        scored = detection.positive_trials(recipe, clips, rng, trials)
    thresholds = (*GRID, threshold)
    accepted = detection.false_accept_counts(recipe, probabilities, thresholds)
    missed = detection.miss_counts(recipe, scored, thresholds)
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
    ax.plot(x, y, marker=".", lw=1, label="thresholds 0.01-0.999")
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
