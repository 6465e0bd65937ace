"""Detections from per-frame probabilities, and how the detector is measured and calibrated.

:class:`Detector` turns probabilities into detections (rising edges past a threshold,
a refractory time apart). The measurements compose held-out audio from the clips of a
split: positive trials (each positive inserted into background stretches) for misses,
negative streams (the background recordings with negatives inserted) for false accepts.
:func:`metrics` reports them at the recipe's threshold; :func:`calibrate` chooses the
threshold (:func:`choose_threshold` on :data:`CALIBRATION_GRID`) from the validation
split's trials and streams (:func:`calibration_data`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from recipes.trigger_word import audio, mixing
from recipes.trigger_word.mixing import Clips
from recipes.trigger_word.onnx_inference import Detector  # NumPy only, shipped in exports

if TYPE_CHECKING:
    from recipes.trigger_word.recipe import TriggerWord

#: the run folder's file of the calibrated threshold
THRESHOLD_FILE = "threshold.json"


def detections_in_graph(detector: Detector, probabilities) -> dict:
    """:class:`Detector`'s rule on a batch of probabilities, in the graph (for the export).

    Args:
        probabilities: ``[batch, frames]`` float32.

    Returns:
        ``detection_time`` (the end of each detection's frame, in seconds) and
        ``detection_score`` (its probability), float32 ``[batch, most detections of a
        row]``, each row's detections in time order, padded with -1.
    """
    import tensorflow as tf

    probabilities = tf.convert_to_tensor(probabilities, tf.float32)
    # compared in float64, as Detector compares them
    above = tf.cast(probabilities, tf.float64) >= detector.threshold
    batch = tf.shape(probabilities)[0]
    never = tf.fill([batch], tf.int32.min // 2)  # "no detection yet": far in the past

    def step(carry, frame):
        was_above, last, _ = carry
        now, index = frame
        fires = now & ~was_above & (index - last >= detector.refractory)
        return now, tf.where(fires, index, last), fires

    _, _, fired = tf.scan(
        step,
        (tf.transpose(above), tf.range(tf.shape(probabilities)[1])),
        initializer=(tf.zeros([batch], tf.bool), never, tf.zeros([batch], tf.bool)),
    )
    fired = tf.transpose(fired)  # [batch, frames]
    where = tf.where(fired)  # [detections, (row, frame)], in row-major order
    # each detection's place in its row, and the most detections of a row: the padded
    # tensors are scattered into, not made from a ragged tensor (whose conversion to
    # ONNX fails at run time on a batch without any detection)
    count = tf.cast(fired, tf.int32)
    place = tf.gather_nd(tf.cumsum(count, axis=1, exclusive=True), where)
    width = tf.reduce_max(tf.concat([tf.reduce_sum(count, axis=1), [0]], axis=0))
    index = tf.stack([tf.cast(where[:, 0], tf.int32), place], axis=1)
    frames = tf.cast(where[:, 1], tf.float32)

    def padded(values):
        return tf.tensor_scatter_nd_update(tf.fill([batch, width], -1.0), index, values)

    return {
        "detection_time": padded((frames + 1.0) * detector.frame_seconds),
        "detection_score": padded(tf.gather_nd(probabilities, where)),
    }


#: the thresholds above 0.99 of the grids: a trained model's probability of the word is
#: near 1, and one false accept in hours of speech can reach 0.99
TOP_THRESHOLDS = tuple(round(0.99 + 0.001 * i, 3) for i in range(1, 10))
#: thresholds that calibration chooses from: 0.05 to 0.99 in steps of 0.01, then 0.991 to
#: 0.999 in steps of 0.001
CALIBRATION_GRID = (*(round(0.05 + 0.01 * i, 2) for i in range(95)), *TOP_THRESHOLDS)


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
      ``b``: the threshold is the one of the range nearest its midpoint in log-odds (a
      margin on both sides, since validation and test audio differ; in log-odds because
      a probability near 1 moves little where the log-odds move much);
    - ``low`` when no threshold from ``low`` up is hearing (false accepts come first).

    When the counts are monotonic this is the threshold nearest the log-odds midpoint of
    the lowest quiet and the highest hearing threshold when the first is the lower, else
    the lowest quiet one (the highest of the grid when none is quiet).
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
    odds = np.log(np.array(grid) / (1.0 - np.array(grid)))
    middle = (odds[first] + odds[last]) / 2
    return grid[min(range(first, last + 1), key=lambda i: abs(odds[i] - middle))]


# -- held-out audio ----------------------------------------------------------------------
def positive_trials(
    recipe: TriggerWord, clips: Clips, rng: np.random.Generator, trials: int = 0
) -> list:
    """Each positive inserted ``trials`` (default ``eval_trials``) times (unaugmented,
    random place and level) into a background stretch of ``example_seconds``, one per
    stretch.

    Returns ``[(probabilities, labels, (first, last) seconds of the hit window)]``.
    """
    return _scored(recipe, _trial_audio(recipe, clips, rng, trials), [])[0]


def negative_streams(
    recipe: TriggerWord, clips: Clips, rng: np.random.Generator, passes: int = 0
) -> list:
    """Every background recording, ``passes`` (default ``eval_passes``) times at random
    levels, with negatives inserted (one per 2 s on average).

    Returns ``[(probabilities, labels)]``.
    """
    return _scored(recipe, ([], [], []), _stream_audio(recipe, clips, rng, passes))[1]


#: waveforms per batch of the model: positive trials (short) and negative streams (long)
TRIAL_BATCH, STREAM_BATCH = 64, 16


def _scored(recipe: TriggerWord, trials: tuple, streams: list) -> tuple[list, list]:
    """The trials of :func:`positive_trials` and the streams of :func:`negative_streams`
    from their audio (:func:`_trial_audio`, :func:`_stream_audio`): the model's
    probabilities of both, batch by batch, the batches counted as one loop by the phase
    in progress."""
    waves, labels, windows = trials
    groups = ((waves, TRIAL_BATCH), ([w for w, _ in streams], STREAM_BATCH))
    batches = [
        (index, group[start : start + size])
        for index, (group, size) in enumerate(groups)
        for start in range(0, len(group), size)
    ]
    probs: tuple[list, list] = ([], [])
    for index, batch in recipe.counted(batches, "batches"):
        probs[index].extend(recipe.batch_probabilities(batch))
    return (
        list(zip(probs[0], labels, windows, strict=True)),
        [(p, label[: len(p)]) for p, (_, label) in zip(probs[1], streams, strict=True)],
    )


def _trial_audio(
    recipe: TriggerWord, clips: Clips, rng: np.random.Generator, trials: int = 0
) -> tuple:
    """The audio of :func:`positive_trials`: ``(waveforms, labels, windows)``."""
    c = recipe.config
    plan = recipe.mixing()
    tail = (c.label_frames + 1) * recipe.frame_samples()
    waves, labels, windows = [], [], []
    for clip in clips.positives:
        for _ in range(trials or c.eval_trials):
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
    return waves, labels, windows


def _stream_audio(
    recipe: TriggerWord, clips: Clips, rng: np.random.Generator, passes: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The audio of :func:`negative_streams`: ``[(waveform, labels)]``."""
    plan = recipe.mixing()
    streams = []
    for _ in range(passes or recipe.config.eval_passes):
        for background in clips.backgrounds:
            base = audio.with_level(background, rng.uniform(*plan.background_db))
            count = int(len(base) / audio.SAMPLE_RATE / 2) if clips.negatives else 0
            chosen = [
                (clips.negatives[rng.integers(len(clips.negatives))], False) for _ in range(count)
            ]
            mix, label, _ = mixing.insert(base, chosen, plan, rng, augment=False)
            streams.append((np.clip(mix, -1, 1), label))
    return streams


# -- counts and metrics ------------------------------------------------------------------
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


def false_accept_counts(recipe: TriggerWord, probabilities, thresholds) -> np.ndarray:
    """Detections in negative recordings (their ``probabilities``), summed, at each of
    ``thresholds`` (:func:`detection_frames`)."""
    refractory = recipe.detector(0.5).refractory
    return np.array(
        [sum(len(detection_frames(p, t, refractory)) for p in probabilities) for t in thresholds]
    )


def miss_counts(recipe: TriggerWord, trials, thresholds) -> np.ndarray:
    """Trials (see :func:`positive_trials`) without a detection in their window, at each
    of ``thresholds`` (:func:`detection_frames`)."""
    refractory, seconds = recipe.detector(0.5).refractory, recipe.frame_seconds()
    missed = np.zeros(len(thresholds), np.int64)
    for probs, _, (first, last) in trials:
        for i, t in enumerate(thresholds):
            times = (detection_frames(probs, t, refractory) + 1) * seconds
            missed[i] += not np.any((times >= first) & (times <= last))
    return missed


def metrics(recipe: TriggerWord, clips: Clips) -> dict[str, Any]:
    """Miss rate, false accepts per hour and per-frame precision/recall on held-out clips.

    Miss rate: each positive is inserted ``eval_trials`` times into background
    stretches (see :func:`positive_trials`); a trial is a hit when a detection falls
    between the clip's start and the end of its label span. False accepts: every
    detection in the background recordings with negatives inserted, passed over
    ``eval_passes`` times (see :func:`negative_streams`). Frame precision/recall:
    frames at or above the threshold against the labels, over both.
    """
    rng = np.random.default_rng([recipe.config.seed, 7])
    threshold = recipe.threshold()  # (calibrated first when it is not yet)
    trials, streams = _scored(
        recipe, _trial_audio(recipe, clips, rng), _stream_audio(recipe, clips, rng)
    )
    missed = int(miss_counts(recipe, trials, [threshold])[0])
    accepted = int(false_accept_counts(recipe, [p for p, _ in streams], [threshold])[0])
    minutes = sum(len(p) for p, _ in streams) * recipe.frame_seconds() / 60.0
    frames = [(p, label[: len(p)]) for p, label, _ in trials] + streams
    predicted = np.concatenate([p for p, _ in frames] or [np.zeros(0)]) >= threshold
    truth = np.concatenate([label for _, label in frames] or [np.zeros(0)]) > 0.5
    true_positive = float(np.sum(predicted & truth))
    return {
        "miss_rate": round(missed / len(trials), 4) if trials else float("nan"),
        "false_accepts_per_hour": round(accepted * 60.0 / minutes, 3) if minutes else float("nan"),
        "frame_precision": round(true_positive / max(1.0, float(predicted.sum())), 4),
        "frame_recall": round(true_positive / max(1.0, float(truth.sum())), 4),
        "threshold": round(threshold, 4),
        "positive_trials": len(trials),
        "positive_clips": len(clips.positives),
        "false_accepts": accepted,
        "negative_minutes": round(minutes, 2),
    }


# -- calibration -------------------------------------------------------------------------
def calibration_data(recipe: TriggerWord) -> tuple[list, list]:
    """What the threshold is calibrated on: the model's probabilities on the validation
    backgrounds with validation negatives (:func:`negative_streams`), passed over until
    they last ``calibration_minutes`` (at least once), on ``calibration_speech_minutes``
    of running speech over them (:func:`speech_streams`, the ``validation`` part of the
    sentences), and on the validation positives (:func:`positive_trials`). Returns
    ``(streams, trials)``."""
    c = recipe.config
    rng = np.random.default_rng([c.seed, 11])
    clips = recipe.splits().validation
    # the audio of one pass, in whole output frames (what the streams' probabilities cover)
    frames = sum(len(b) // recipe.frame_samples() for b in clips.backgrounds)
    seconds = frames * recipe.frame_seconds()
    passes = max(1, int(np.ceil(c.calibration_minutes * 60 / seconds))) if seconds else 1
    streams = _stream_audio(recipe, clips, rng, passes)
    trials, streams = _scored(recipe, _trial_audio(recipe, clips, rng), streams)
    speech, _ = speech_streams(recipe, clips, "validation", c.calibration_speech_minutes, rng)
    return streams + [(p, np.zeros(len(p), np.float32)) for p in speech], trials


def speech_streams(
    recipe: TriggerWord,
    clips: Clips,
    part: str,
    minutes: float,
    rng: np.random.Generator,
    voices: list[str] | None = None,
) -> tuple[list[np.ndarray], int]:
    """The model's probabilities on ``minutes`` of running speech, in streams of
    :data:`~recipes.trigger_word.mixing.STREAM_SECONDS` (:func:`mixing.speech_stream`:
    sentences of the ``part`` of :func:`~recipes.trigger_word.prose.speech_texts`, said
    over the backgrounds of ``clips`` with their negatives between them), synthesized and
    scored a batch at a time, the batches counted by the phase in progress.

    Args:
        voices: eSpeak NG voices of the sentences; default
            :func:`~recipes.trigger_word.synthesis.english_voices`.

    Returns:
        The probabilities of each stream, and the number of sentences said.
    """
    count = int(np.ceil(minutes * 60 / mixing.STREAM_SECONDS))
    if count == 0:
        return [], 0
    from recipes.trigger_word import synthesis
    from recipes.trigger_word.prose import speech_texts

    voices = voices or synthesis.english_voices()
    texts = speech_texts(recipe.config.word, part)
    plan = recipe.mixing()
    probabilities, said = [], 0
    for start in recipe.counted(range(0, count, STREAM_BATCH), "batches of speech streams"):
        batch = []
        for _ in range(min(STREAM_BATCH, count - start)):
            waveform, sentences = mixing.speech_stream(clips, texts, voices, plan, rng)
            batch.append(waveform)
            said += sentences
        probabilities += recipe.batch_probabilities(batch)
    return probabilities, said


def calibrate(recipe: TriggerWord, streams, trials) -> float:
    """The threshold for negative ``streams`` and positive ``trials`` (see
    :func:`calibration_data`): :func:`choose_threshold` on :data:`CALIBRATION_GRID`,
    where a threshold is quiet when the streams give at most
    ``target_false_accepts_per_hour`` false accepts per hour of their audio, and
    hearing when at most ``target_miss_rate`` of the trials are missed."""
    c = recipe.config
    hours = sum(len(p) for p, _ in streams) * recipe.frame_seconds() / 3600.0
    negatives = [p for p, _ in streams]
    quiet, hearing = [], []
    for t in recipe.counted(CALIBRATION_GRID, "thresholds"):
        accepted = false_accept_counts(recipe, negatives, [t])[0]
        quiet.append(accepted <= c.target_false_accepts_per_hour * hours)
        hearing.append(miss_counts(recipe, trials, [t])[0] <= c.target_miss_rate * len(trials))
    return choose_threshold(CALIBRATION_GRID, quiet, hearing)


class StaleThreshold(keras.callbacks.Callback):
    """When training starts, forgets the recipe's threshold and removes the run's
    ``threshold.json``: they were calibrated for the model that training replaces (the
    recipe's ``finish_training`` writes the new one)."""

    def __init__(self, recipe: TriggerWord):
        super().__init__()
        self.recipe = recipe

    def on_train_begin(self, logs=None):
        self.recipe._calibrated = None
        if self.recipe.run_dir is not None:
            (Path(self.recipe.run_dir) / THRESHOLD_FILE).unlink(missing_ok=True)
