"""The trigger-word recipe: data layout and splits, example composition, the model's
front end, offline and streaming detection, calibration, resume, save/load, SavedModel,
ONNX and TFLite (float32, float16, int8) export, CLI."""

import copy
import importlib.util
import io
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import espeakng_loader  # noqa: F401  (a dependency: missing, the tests fail, never skip)
import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.io import wavfile

from recipes.core.errors import UserError
from recipes.core.training import write_json
from recipes.trigger_word import answers, audio, mixing, onnx_inference, streaming, synthesis
from recipes.trigger_word.audio import with_chimes
from recipes.trigger_word.config import FRAME_STEP, TriggerWordConfig
from recipes.trigger_word.detection import CALIBRATION_GRID, Detector, choose_threshold
from recipes.trigger_word.frontend import FRAME_LENGTH, LogMel, history_samples
from recipes.trigger_word.recipe import TriggerWord
from recipes.trigger_word.streaming import Streamer, TFLiteStep
from rnn_apps.cli import main

TINY = dict(
    word="marvin",
    synthesized_positives=6,
    synthesized_negatives=6,
    example_seconds=2.0,
    train_examples=8,
    validation_examples=4,
    batch_size=4,
    mels=16,
    conv_filters=8,
    units=8,
    epochs=2,
    label_frames=10,
    eval_trials=2,
    eval_passes=1,
    calibration_minutes=5.0,
    # no running speech: eSpeak NG's output depends on what the process synthesized
    # before, so a calibration on speech is not repeatable call by call
    # (test_calibration_reads_running_speech_of_its_own_part covers it)
    speech_negatives=0,
    calibration_speech_minutes=0.0,
)


def write_layout(root, speakers=("aa11", "bb22", "cc33", "dd44", "ee55"), lists=False):
    """A Speech Commands style folder: marvin and two other words, noise backgrounds."""
    voices = synthesis.english_voices()
    for w, word in enumerate(("marvin", "yes", "house")):
        for s, spk in enumerate(speakers):
            clip = synthesis.synthesize(word, voice=voices[(s * 7 + w) % len(voices)])
            audio.write_wav(root / word / f"{spk}_nohash_0.wav", np.pad(clip, (1600, 1600)))
    rng = np.random.default_rng(0)
    for kind in ("white", "brown"):
        audio.write_wav(root / "_background_noise_" / f"{kind}.wav", audio.noise(kind, 48000, rng))
    if lists:
        (root / "testing_list.txt").write_text(
            f"marvin/{speakers[0]}_nohash_0.wav\nmarvin/{speakers[1]}_nohash_0.wav\n"
            f"yes/{speakers[0]}_nohash_0.wav\n"
        )
        (root / "validation_list.txt").write_text(f"marvin/{speakers[2]}_nohash_0.wav\n")
    return root


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    return write_layout(tmp_path_factory.mktemp("speech_commands"))


#: the state of the generator that each training epoch of the ``trained`` run composed
#: its examples from (filled by the fixture)
TRAINED_EPOCH_STATES: list[dict] = []


def record_composition(recipe, states: list, also=None) -> None:
    """Makes ``recipe`` append to ``states`` the state of the generator each training
    epoch composes its examples from (before anything is drawn from it), and call
    ``also()`` then."""
    examples = recipe.examples

    def recording(clips, count, rng):
        if clips is recipe.splits().train:
            states.append(copy.deepcopy(rng.bit_generator.state))
            if also is not None:
                also()
        return examples(clips, count, rng)

    recipe.examples = recording


@pytest.fixture(scope="module")
def trained(layout, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "tw"
    recipe = TriggerWord(**TINY)

    def keep_the_run_after_epoch_1():
        # epoch 2 composes its first example after epoch 1's checkpoint was written: the
        # run folder as a run stopped after epoch 1 left it
        if len(TRAINED_EPOCH_STATES) == 2:
            shutil.copytree(run, after_epoch_1_of(run))

    record_composition(recipe, TRAINED_EPOCH_STATES, keep_the_run_after_epoch_1)
    metrics = recipe.fit(data=str(layout), run_dir=run, verbose=0)
    return recipe, run, metrics


def after_epoch_1_of(run: Path) -> Path:
    """Where the ``trained`` fixture keeps a copy of its run as it was after epoch 1."""
    return run.with_name(f"{run.name}-after-epoch-1")


# -- data --------------------------------------------------------------------------------
def test_speaker_split_holds_out_whole_speakers():
    names = [f"w/{s}_nohash_{i}.wav" for s in "abcdefghij" for i in range(2)]
    test, val = mixing.split_by_speaker(names, 0.3, 0.1, seed=1)
    assert len(test) >= 6 and len(val) >= 2
    speakers = [{mixing.speaker(n) for n in part} for part in (test, val)]
    train = {mixing.speaker(n) for n in names} - speakers[0] - speakers[1]
    assert not speakers[0] & speakers[1] and train
    assert mixing.split_by_speaker(names, 0.3, 0.1, seed=1) == (test, val)


def test_speech_commands_layout_speakers_and_lists(tmp_path):
    root = write_layout(tmp_path / "a")
    splits = mixing.read_speech_commands(root, "marvin", 0.3, 0.1, (0.25, 0.1), seed=3)
    held = {n.split("/")[1] for s in ("test", "validation") for n in splits[s].positive_names}
    assert len(splits["test"].positives) >= 2 and not held & {
        n.split("/")[1] for n in splits["train"].positive_names
    }
    assert sum(len(s.negatives) for s in splits.values()) == 10
    sizes = [sum(len(b) for b in splits[s].backgrounds) for s in ("train", "validation", "test")]
    assert sizes == [2 * 31200, 2 * 4800, 2 * 12000]  # 65% / 10% / 25% of 3 s
    listed = write_layout(tmp_path / "b", lists=True)
    splits = mixing.read_speech_commands(listed, "marvin", 0.3, 0.1, (0.25, 0.1), seed=3)
    assert splits["test"].positive_names == ["marvin/aa11_nohash_0.wav", "marvin/bb22_nohash_0.wav"]
    assert splits["validation"].positive_names == ["marvin/cc33_nohash_0.wav"]
    assert len(splits["test"].negatives) == 1 and len(splits["train"].negatives) == 9
    with pytest.raises(UserError, match="no folder 'sheila'"):
        mixing.read_speech_commands(listed, "sheila", 0.3, 0.1, (0.25, 0.1), seed=3)
    with pytest.raises(UserError, match="is not a folder"):
        mixing.read_speech_commands(tmp_path / "none", "marvin", 0.3, 0.1, (0.25, 0.1), 3)


def test_default_data_holds_out_synthesized_voices():
    recipe = TriggerWord(word="activate", synthesized_positives=40, synthesized_negatives=20)
    splits = recipe.load_splits(None)
    voices = [
        {n.split("@")[0] for n in part.positive_names}
        for part in (splits.train, splits.validation, splits.test)
    ]
    assert all(voices) and not voices[0] & voices[2] and not voices[0] & voices[1]
    assert len(splits.test.positives) >= 12 and all(
        len(p.backgrounds) == 3 for p in (splits.train, splits.validation, splits.test)
    )


def test_compose_labels_follow_each_positive():
    rng = np.random.default_rng(0)
    pos = audio.with_level(audio.noise("white", 4000, rng), -20)
    neg = audio.with_level(audio.noise("pink", 6000, rng), -20)
    clips = mixing.Clips(positives=[pos], negatives=[neg], backgrounds=[np.zeros(80000)])
    plan = mixing.Mixing(
        samples=64000,
        frame_samples=320,
        label_frames=10,
        max_positives=2,
        max_negatives=2,
        speed=0.0,
        pitch=0.0,
        noise=0.0,
        background_db=(-120.0, -119.0),
    )
    base = np.zeros(64000, np.float32)
    mix, labels, spans = mixing.insert(base, [(pos, True), (neg, False), (pos, True)], plan, rng)
    assert len(spans) == 2 and labels.shape == (200,)
    for _start, end in spans:
        first = -(-end // 320) - 1
        assert labels[first : first + 10].all() and labels[first - 1] == 0
    assert labels.sum() == 20
    loud = np.abs(mix) > 0
    assert loud.sum() == 2 * 4000 + 6000  # nothing overlaps
    w1, l1 = mixing.compose(clips, plan, np.random.default_rng(5))
    w2, l2 = mixing.compose(clips, plan, np.random.default_rng(5))
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(l1, l2)


# -- model pieces -----------------------------------------------------------------------
def test_log_mel_equals_tf_signal():
    w = np.random.default_rng(1).standard_normal((2, 8000)).astype(np.float32) * 0.1
    ours = np.asarray(LogMel(40)(w))
    stft = tf.signal.stft(w, FRAME_LENGTH, FRAME_STEP, 512, window_fn=tf.signal.hann_window)
    mel = tf.signal.linear_to_mel_weight_matrix(40, 257, 16000, 20.0, 7600.0)
    ref = tf.math.log(tf.matmul(tf.abs(stft) ** 2, mel) + 1e-6).numpy()
    assert ours.shape == ref.shape == (2, 48, 40)
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_detector_rising_edges_refractory_and_chunks():
    p = np.array([0, 0.6, 0.7, 0.2, 0.9, 0.1, 0, 0, 0.8, 0.8, 0.1, 0.55], np.float32)
    found = Detector(0.5, refractory_frames=5, frame_seconds=0.02).update(p)
    assert [d["time"] for d in found] == [0.04, 0.18]  # frame 4 is too soon after frame 1
    assert [d["score"] for d in found] == [0.6, 0.8]
    chunked = Detector(0.5, 5, 0.02)
    pieces = [chunked.update(p[a:b]) for a, b in ((0, 3), (3, 4), (4, 9), (9, 12))]
    assert sum(pieces, []) == found


def test_config_errors():
    with pytest.raises(UserError, match="chunk_ms=50 is not a multiple of the 20 ms"):
        TriggerWordConfig(chunk_ms=50)
    with pytest.raises(UserError, match="conv_kernel"):
        TriggerWordConfig(conv_kernel=1, conv_stride=2)
    with pytest.raises(UserError, match="threshold"):
        TriggerWordConfig(threshold=1.5)
    assert history_samples(8, 2) == 1200


@pytest.mark.parametrize(
    "values, line",
    [
        (
            {"distribution": "mirroredd"},
            "Config key 'distribution' expects 'auto' or 'none' or 'mirrored' or "
            "'multi_worker', got 'mirroredd'.",
        ),
        (
            {"units": 10**30},
            "Config key 'units' must be an integer in [1, 16384], "
            "got 1000000000000000000000000000000.",
        ),
        ({"mels": 129}, "Config key 'mels' must be an integer in [1, 128], got 129."),
        (
            {"example_seconds": float("inf")},
            "Config key 'example_seconds' must be a number in [0.5, 300], got inf.",
        ),
        (
            {"example_seconds": float("nan")},
            "Config key 'example_seconds' must be a number in [0.5, 300], got nan.",
        ),
        ({"eval_passes": 0}, "Config key 'eval_passes' must be an integer in [1, 10000], got 0."),
        ({"pitch": 25.0}, "Config key 'pitch' must be a number in [0, 24], got 25.0."),
        ({"threshold": 1.0}, "Config key 'threshold' must be a number in [0, 1), got 1.0."),
        (
            {"target_false_accepts_per_hour": -0.5},
            "Config key 'target_false_accepts_per_hour' must be a number in [0, 3600], got -0.5.",
        ),
        (
            {"train_examples": 10**8},
            "Config key 'train_examples' must be an integer in [1, 10000000], got 100000000.",
        ),
    ],
)
def test_settings_out_of_range_are_one_line_naming_the_key(values, line):
    """Refused when the config is made (not at fit time), as one line naming the key."""
    with pytest.raises(UserError) as error:
        TriggerWordConfig.from_dict(values)
    assert str(error.value) == line


def test_optimizer_clips_the_global_norm():
    """``clipnorm`` is the global gradient norm (Keras's ``global_clipnorm``), as in the
    other recipes, not a norm per variable."""
    clipnorm = float(np.random.default_rng().uniform(0.5, 5.0))
    optimizer = TriggerWord(**TINY, clipnorm=clipnorm).build_model().optimizer
    assert optimizer.global_clipnorm == pytest.approx(clipnorm) and optimizer.clipnorm is None
    assert TriggerWord(**TINY, clipnorm=0.0).build_model().optimizer.global_clipnorm is None


# -- calibration, counted by hand ----------------------------------------------------------
def detection_frames(probs, threshold: float, refractory: int) -> list[int]:
    """Frames where ``probs`` reaches ``threshold`` from below (frame 0 counts: nothing
    is above before the audio starts), at least ``refractory`` frames after the last."""
    above = np.asarray(probs, np.float64) >= threshold  # as the detector compares
    rising = np.flatnonzero(above & ~np.concatenate([[False], above[:-1]]))
    kept: list[int] = []
    for frame in rising:
        if not kept or frame - kept[-1] >= refractory:
            kept.append(int(frame))
    return kept


def threshold_by_hand(streams, trials, per_hour: float, miss_rate: float, refractory: int):
    """The documented rule on counts made here: the lowest grid threshold from which every
    higher one gives at most ``per_hour`` false accepts per hour of the streams; from it
    up, the one nearest the log-odds midpoint of the first run of thresholds that miss at
    most ``miss_rate`` of the trials (that lowest threshold when none does). Also returns
    the per-threshold verdicts ``(quiet, hearing)``."""
    hours = sum(len(p) for p, _ in streams) * 0.02 / 3600
    quiet, hearing = {}, {}
    for t in CALIBRATION_GRID:
        accepts = sum(len(detection_frames(p, t, refractory)) for p, _ in streams)
        missed = sum(
            not any(first <= (f + 1) * 0.02 <= last for f in detection_frames(p, t, refractory))
            for p, _, (first, last) in trials
        )
        quiet[t] = accepts <= per_hour * hours
        hearing[t] = missed <= miss_rate * len(trials)
    grid = list(CALIBRATION_GRID)
    low = next((t for i, t in enumerate(grid) if all(quiet[u] for u in grid[i:])), grid[-1])
    above = [t for t in grid if t >= low]
    start = next((i for i, t in enumerate(above) if hearing[t]), None)
    if start is None:
        return low, quiet, hearing
    end = start
    while end + 1 < len(above) and hearing[above[end + 1]]:
        end += 1
    return middle(above[start : end + 1]), quiet, hearing


def middle(thresholds: list[float]) -> float:
    """The one of an ascending run of thresholds nearest its log-odds midpoint."""
    odds = [math.log(t / (1 - t)) for t in thresholds]
    half = (odds[0] + odds[-1]) / 2
    return thresholds[min(range(len(odds)), key=lambda i: abs(odds[i] - half))]


def resting_probabilities(rng, frames: int) -> np.ndarray:
    """A model's probability at rest: 0.35 to 0.45, now and then dipping to 0.1-0.2 for a
    few frames (a threshold between dip and rest sees an edge after every dip)."""
    p = rng.uniform(0.35, 0.45, frames)
    for start in rng.integers(1, frames - 5, frames // 100):
        p[start : start + 5] = rng.uniform(0.1, 0.2, 5)
    return p


def test_choose_threshold_on_counts_that_are_not_monotonic():
    """The lowest thresholds are quiet (the probability never falls below them: one edge
    per stream), the middle ones are not (an edge after every dip): the old rule (first
    quiet, last hearing) took the isolated quiet 0.05 as the low end and chose a threshold
    in the middle, over the false-accept budget."""
    rng = np.random.default_rng()
    grid = list(CALIBRATION_GRID)
    up = int(rng.integers(45, 55))  # quiet from grid[up] (0.50-0.59) up; below, only 0.05
    top = int(rng.integers(up + 5, up + 30))  # hearing up to grid[top]
    quiet = [i == 0 or i >= up for i in range(len(grid))]
    hearing = [i <= top for i in range(len(grid))]
    chosen = choose_threshold(grid, quiet, hearing)
    assert chosen == middle(grid[up : top + 1])
    assert all(quiet[i] for i, t in enumerate(grid) if t >= chosen) and grid[up] <= chosen
    old = round((grid[0] + grid[top]) / 2, 2)  # quiet[0] and hearing[-1] of the old rule
    assert not quiet[grid.index(old)]
    # misses not monotonic either: below the resting probability no edge falls in a
    # word's window, so the low thresholds miss; the first hearing run from low is used
    hearing = [up + 2 <= i <= top for i in range(len(grid))]
    assert choose_threshold(grid, quiet, hearing) == middle(grid[up + 2 : top + 1])
    # nothing hearing from low up: low (the false-accept budget first); nothing quiet: 0.999
    assert choose_threshold(grid, quiet, [i < up for i in range(len(grid))]) == grid[up]
    assert choose_threshold(grid, [False] * len(grid), hearing) == 0.999


def test_calibration_on_known_probabilities():
    """calibrate() on constructed probabilities: negative streams resting near 0.4 with
    dips and a few spikes, positive trials resting likewise with a peak in their window;
    the threshold is the one the documented rule gives on counts made here, and it is
    one where the old rule's is not: every threshold from it up within the false-accept
    budget, itself within the miss budget."""
    rng = np.random.default_rng()
    recipe = TriggerWord(
        target_false_accepts_per_hour=100.0, target_miss_rate=0.05, refractory_seconds=1.0
    )
    streams = []
    for _ in range(3):  # 3 minutes: 100 per hour allows 5 false accepts
        p = resting_probabilities(rng, 3000)
        for start in rng.choice(np.arange(100, 2900, 200), 2, replace=False):
            p[start : start + 3] = rng.uniform(0.6, 0.75)  # two spikes per stream
        streams.append((p.astype(np.float32), np.zeros(3000, np.float32)))
    trials = []
    for _ in range(12):
        p = resting_probabilities(rng, 200)
        p[95:100] = rng.uniform(0.35, 0.45, 5)  # no dip right before the word
        p[100:110] = rng.uniform(0.8, 0.95, 10)
        trials.append((p.astype(np.float32), np.zeros(200, np.float32), (1.9, 2.6)))
    chosen = recipe.calibrate(streams, trials)
    expected, quiet, hearing = threshold_by_hand(streams, trials, 100.0, 0.05, 50)
    assert chosen == expected
    assert all(quiet[t] for t in CALIBRATION_GRID if t >= chosen) and hearing[chosen]
    first_quiet = min(t for t in CALIBRATION_GRID if quiet[t])
    last_hearing = max(t for t in CALIBRATION_GRID if hearing[t])
    old = round((first_quiet + last_hearing) / 2, 2) if first_quiet < last_hearing else first_quiet
    assert not quiet[old]  # the case is one that the old rule gets wrong


# -- the trained recipe -------------------------------------------------------------------
def test_fit_writes_a_run_with_metrics(trained):
    recipe, run, metrics = trained
    for name in ("model.keras", "config.toml", "metrics.json", "training.png"):
        assert (run / name).exists()
    assert 0 <= metrics["val_miss_rate"] <= 1 and metrics["val_false_accepts_per_hour"] >= 0
    assert metrics["best_epoch"] == metrics["epochs_done"] == 2  # keep = "last"
    result = recipe.evaluate()
    assert set(result) >= {"miss_rate", "false_accepts_per_hour", "frame_precision", "frame_recall"}
    assert result["positive_trials"] == 2 * result["positive_clips"]


def test_threshold_follows_the_rule_on_validation(trained):
    """The calibrated threshold (threshold.json, metrics, the recipe, a loaded run) is the
    one the documented rule gives on the validation probabilities, counted here."""
    recipe, run, metrics = trained
    threshold = json.loads((run / "threshold.json").read_text())["threshold"]
    assert recipe.threshold() == threshold == metrics["val_threshold"]
    assert TriggerWord.load(run).threshold() == threshold
    streams, trials = recipe.calibration_data()
    assert sum(len(p) for p, _ in streams) * 20 >= 5 * 60 * 1000  # calibration_minutes (ms)
    assert len(trials) == 2 * len(recipe.splits().validation.positives)  # eval_trials
    target = recipe.config.target_false_accepts_per_hour
    assert threshold == threshold_by_hand(streams, trials, target, 0.05, 50)[0]


def test_calibration_reads_running_speech_of_its_own_part(trained, monkeypatch):
    """calibration_speech_minutes=1: one more stream of a minute, of sentences of the
    validation part only, and the threshold is the documented rule's on all streams."""
    from recipes.trigger_word import prose

    recipe = trained[0]
    twin = TriggerWord(recipe.config.replace(calibration_speech_minutes=1.0))
    twin._splits, twin.model = recipe._splits, recipe.model
    parts = []
    texts = prose.speech_texts
    monkeypatch.setattr(prose, "speech_texts", lambda w, part: parts.append(part) or texts(w, part))
    streams, trials = twin.calibration_data()
    plain, _ = recipe.calibration_data()
    assert parts == ["validation"] and len(streams) == len(plain) + 1
    assert len(streams[-1][0]) * 20 == 60 * 1000  # 20 ms frames
    target = twin.config.target_false_accepts_per_hour
    assert (
        twin.calibrate(streams, trials) == threshold_by_hand(streams, trials, target, 0.05, 50)[0]
    )


def test_resume_composes_on_and_calibrates_its_own_model(trained, tmp_path):
    """fit --resume of a run stopped after epoch 1 (the ``trained`` run as it was then,
    copied): epoch 2 composes its examples from the generator state that epoch 2 of the
    uninterrupted run did, and the threshold (metrics, threshold.json) is calibrated for
    the model it trained, not the one the run had (made off the grid here, so that no
    calibration can give it)."""
    run = tmp_path / "run"
    shutil.copytree(after_epoch_1_of(trained[1]), run)
    assert json.loads((run / "state.json").read_text())["epochs_done"] == 1
    stale = 0.123456
    write_json(run / "threshold.json", {"threshold": stale, "target_false_accepts_per_hour": 2})
    resumed = TriggerWord()
    states, threshold_file_there = [], []
    record_composition(
        resumed, states, lambda: threshold_file_there.append((run / "threshold.json").exists())
    )
    metrics = resumed.fit(run_dir=run, resume=True, epochs=2, verbose=0)
    assert len(TRAINED_EPOCH_STATES) == 2 and TRAINED_EPOCH_STATES[0] != TRAINED_EPOCH_STATES[1]
    assert states == [TRAINED_EPOCH_STATES[1]]
    assert threshold_file_there == [False]  # the old model's threshold went when training began
    threshold = json.loads((run / "threshold.json").read_text())["threshold"]
    assert threshold != stale and metrics["val_threshold"] == threshold
    fresh = TriggerWord(resumed.config)  # calibrated from scratch on the model saved
    fresh._splits = resumed._splits
    fresh.model = keras.saving.load_model(run / "model.keras")
    assert fresh.threshold() == threshold
    assert TriggerWord.load(run).threshold() == threshold


def some_audio(seconds=2.37, seed=0):
    rng = np.random.default_rng(seed)
    w = audio.noise("pink", int(seconds * 16000), rng) * 2
    clip = synthesis.synthesize("marvin")
    w[8000 : 8000 + len(clip)] += clip
    return w


def crossing_threshold(recipe, waveform):
    """A threshold that the untrained model's probabilities cross several times, halfway
    between two of them (so that float noise between streaming and offline cannot flip a
    frame)."""
    p = np.unique(recipe.probabilities(waveform))
    i = int(0.6 * (len(p) - 1))
    return float((p[i] + p[i + 1]) / 2)


def test_streaming_equals_offline(trained):
    recipe, _, _ = trained
    w = some_audio()
    recipe.config = recipe.config.replace(threshold=crossing_threshold(recipe, w))
    offline = recipe.probabilities(w)
    assert offline.shape == (len(w) // 320,)
    streamer = Streamer(recipe, keep_probabilities=True)
    found = []
    for start in range(0, len(w), 777):  # pieces that do not match the chunks
        found += streamer.push(w[start : start + 777])
    found += streamer.finish()
    np.testing.assert_allclose(np.concatenate(streamer.probabilities), offline, atol=1e-5)
    assert found == recipe.detect(w) and found
    assert recipe.detect(w, streaming=True) == found


def test_save_load_export_and_tflite(trained, tmp_path):
    recipe, run, _ = trained
    w = some_audio(3.0, seed=1)
    expected = recipe.probabilities(w)
    loaded = TriggerWord.load(run)
    np.testing.assert_allclose(loaded.probabilities(w), expected, atol=1e-6)
    recipe.config = recipe.config.replace(threshold=crossing_threshold(recipe, w))
    out = recipe.export(tmp_path / "exported")
    served = tf.saved_model.load(str(out))
    quiet = audio.noise("pink", len(w), np.random.default_rng(7)) * 0.5
    batch = served.signatures["serving_default"](waveform=tf.constant(np.stack([w, quiet])))
    probs = batch["probabilities"]
    np.testing.assert_allclose(probs.numpy()[0], expected, atol=1e-5)
    # the detections of predict's detector, each row its own (-1 padding)
    for row, waveform in enumerate((w, quiet)):
        found = recipe.detector().update(recipe.probabilities(waveform))
        times, scores = (batch[k].numpy()[row] for k in ("detection_time", "detection_score"))
        kept = times >= 0
        assert np.all(times[~kept] == -1) and np.all(scores[~kept] == -1)
        assert [round(float(t), 3) for t in times[kept]] == [d["time"] for d in found]
        np.testing.assert_allclose(scores[kept], [d["score"] for d in found], atol=1e-4)
        if row == 0:
            assert len(found) >= 2, found  # several detections were compared
    states = recipe.initial_stream_states()
    chunk = w[None, : recipe.chunk_samples()]
    step = served.signatures["stream_step"](
        chunk=tf.constant(chunk), history=states[0], state1=states[1], state2=states[2]
    )
    np.testing.assert_allclose(step["probabilities"].numpy()[0], expected[:5], atol=1e-5)
    # the TFLite streaming step over the whole file gives the Keras probabilities
    streamer = Streamer(recipe, TFLiteStep(out / "stream_step.tflite"), keep_probabilities=True)
    streamer.push(w)
    streamer.finish()
    np.testing.assert_allclose(np.concatenate(streamer.probabilities), expected, atol=1e-4)


def kept_detections(outputs, row: int) -> tuple[np.ndarray, np.ndarray]:
    """Row ``row``'s ``detection_time`` and ``detection_score``, the -1 padding (checked
    to be -1 in both) left out."""
    times, scores = (outputs[k].numpy()[row] for k in ("detection_time", "detection_score"))
    kept = times >= 0
    assert np.all(times[~kept] == -1) and np.all(scores[~kept] == -1)
    return times[kept], scores[kept]


def wav_bytes(data: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    wavfile.write(buffer, rate, data)
    return buffer.getvalue()


def test_wav_signature_reads_files_as_detect_does(trained, tmp_path):
    """The export's ``wav`` signature on WAV files' bytes. One file: exactly what
    serving_default gives on audio.read_wav of it (stereo averaged), and what predict and
    detect give (probabilities to float rounding, the same detections, the dict that
    answers.answer reads off it). A batch of files of different lengths, padded to the
    longest: each row is its file's own result, -1 past its ``frames``."""
    recipe, _, _ = trained
    long = some_audio(2.5, seed=4)[:37928]  # 2.3705 s: 2.371 in float32, 2.37 in float64
    short = some_audio(1.6, seed=5)[:24008]  # neither in whole frames
    noise = audio.noise("white", len(short), np.random.default_rng(5)) * 0.3
    stereo = np.round(np.clip(np.stack([short, noise], axis=1), -1, 1) * 32767)
    paths = [audio.write_wav(tmp_path / "long.wav", long), tmp_path / "stereo.wav"]
    wavfile.write(paths[1], 16000, stereo.astype(np.int16))
    paths.append(audio.write_wav(tmp_path / "tiny.wav", long[:200]))  # under one frame
    waveforms = [audio.read_wav(path) for path in paths]
    threshold = crossing_threshold(recipe, waveforms[0])
    recipe.config = recipe.config.replace(threshold=threshold)
    served = tf.saved_model.load(str(recipe.export(tmp_path / "exported")))
    wav, default = served.signatures["wav"], served.signatures["serving_default"]
    files = [path.read_bytes() for path in paths]
    alone = []
    for path, data, waveform in zip(paths, files, waveforms, strict=True):
        out = wav(wav=tf.constant([data]))
        same = default(waveform=tf.constant(waveform[None]))
        for key in same:
            np.testing.assert_array_equal(out[key].numpy(), same[key].numpy(), err_msg=key)
        assert out["frames"].numpy().tolist() == [len(waveform) // 320]
        assert out["seconds"].numpy().tolist() == [np.float32(len(waveform) / 16000)]
        np.testing.assert_allclose(out["probabilities"][0], recipe.probabilities(path), atol=1e-5)
        times, scores = kept_detections(out, 0)
        found = recipe.detect(path)
        assert [round(float(t), 3) for t in times] == [d["time"] for d in found]
        np.testing.assert_allclose(scores, [d["score"] for d in found], atol=1e-4)
        printed = recipe.predict([str(path)])[0]
        row = {key: value.numpy()[0] for key, value in out.items()}
        assert answers.answer({"wav": data}, row) == {
            "seconds": printed["seconds"],
            "detections": printed["detections"],
        }
        alone.append(out)
    assert len(kept_detections(alone[0], 0)[0]) >= 2 and len(kept_detections(alone[1], 0)[0])
    assert round(float(alone[0]["seconds"][0]), 3) == 2.371  # answer's rounding was needed
    assert alone[2]["probabilities"].shape == (1, 0)  # and no error
    batch = wav(wav=tf.constant(files))
    padded = np.zeros((len(files), len(long)), np.float32)
    for i, waveform in enumerate(waveforms):
        padded[i, : len(waveform)] = waveform
    same = default(waveform=tf.constant(padded))
    for i, out in enumerate(alone):
        frames = int(out["frames"][0])
        assert batch["frames"][i] == frames and batch["seconds"][i] == out["seconds"][0]
        probs = batch["probabilities"].numpy()[i]
        assert np.all(probs[frames:] == -1)
        # the rows of serving_default on the padded batch, bit for bit ...
        np.testing.assert_array_equal(probs[:frames], same["probabilities"].numpy()[i, :frames])
        # ... and the file's own to float rounding, not bit for bit: all up to the output
        # layer is, but its matrix product (rows: batch x frames) takes the rows 8 at a
        # time on this CPU and those past the last multiple of 8 another way; a file alone
        # ends in such rows (75 frames: 72-74), which fall in whole blocks in the batch
        np.testing.assert_allclose(probs[:frames], out["probabilities"][0], rtol=0, atol=1e-6)
        times, scores = kept_detections(batch, i)
        alone_times, alone_scores = kept_detections(out, 0)
        np.testing.assert_array_equal(times, alone_times)
        np.testing.assert_allclose(scores, alone_scores, rtol=0, atol=1e-6)


def test_wav_signature_refuses_other_audio_in_one_line(trained, tmp_path):
    """Bytes that are not a WAV file, samples other than 16-bit PCM and rates other than
    16 kHz fail the call: one line naming the file's place in the batch and what to send."""
    recipe, _, _ = trained
    served = tf.saved_model.load(str(recipe.export(tmp_path / "exported")))
    pcm = np.round(np.clip(audio.noise("pink", 8000, np.random.default_rng(3)), -1, 1) * 32767)
    pcm = pcm.astype(np.int16)
    good = wav_bytes(pcm, 16000)
    advice = (
        "send 16 kHz 16-bit PCM WAV (e.g. ffmpeg -i IN -ar 16000 -ac 1 -c:a pcm_s16le "
        "OUT.wav), or post the waveform (float32 at 16 kHz) to serving_default"
    )
    not_wav = "is not a WAV file (no RIFF/WAVE header)"
    refused = [
        ("is 44100 Hz audio", wav_bytes(pcm, 44100)),
        (not_wav, b"ID3\x04\x00 the start of an MP3 file"),
        (not_wav, b""),
        (
            "holds 32-bit samples of format 3, not 16-bit PCM (format 1)",
            wav_bytes(pcm.astype(np.float32) / 32768, 16000),
        ),
    ]
    for line, data in refused:
        with pytest.raises(tf.errors.InvalidArgumentError) as error:
            served.signatures["wav"](wav=tf.constant([good, data]))
        message = re.findall(r"assertion failed: \[(.*)\]$", str(error.value), re.MULTILINE)
        assert message == [f"wav[1] {line}; {advice}"], str(error.value)
    assert served.signatures["wav"](wav=tf.constant([good]))["frames"].numpy().tolist() == [25]


# -- ONNX and TFLite exports -----------------------------------------------------------------
def shipped_inference(folder):
    """The export's own ``inference.py``, imported from the folder (as a user does)."""
    spec = importlib.util.spec_from_file_location(
        f"inference_{folder.name}", folder / "inference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: a Python in which TensorFlow and this package cannot be imported: argv: the export folder
#: and the WAV files (JSON); prints the export's inference.py predict (JSON)
WITHOUT_TENSORFLOW = r"""
import json, sys

for name in ("tensorflow", "keras", "recipes", "rnn_apps", "custom_layers"):
    sys.modules[name] = None  # an import of it fails
folder = sys.argv[1]
sys.path.insert(0, folder)
import inference

print(json.dumps(inference.load(folder).predict(json.loads(sys.argv[2]))))
"""


def test_inference_py_reads_16_bit_pcm_as_read_wav_and_refuses_the_rest(tmp_path):
    """16 kHz 16-bit PCM, mono or stereo: read_wav's waveform bit for bit. Anything else: one
    line naming the file and the ffmpeg command that converts it."""
    rng = np.random.default_rng()
    pcm = rng.integers(-32768, 32768, (3001, 3)).astype(np.int16)
    for name, data in (("mono.wav", pcm[:, 0]), ("stereo.wav", pcm[:, :2]), ("three.wav", pcm)):
        wavfile.write(tmp_path / name, 16000, data)
        np.testing.assert_array_equal(
            onnx_inference.read_wav(tmp_path / name), audio.read_wav(tmp_path / name)
        )
    command = "ffmpeg -i IN -ar 16000 -ac 1 -c:a pcm_s16le OUT.wav"
    assert command in audio.WAV_ADVICE
    wavfile.write(tmp_path / "cd.wav", 44100, pcm[:, 0])
    wavfile.write(tmp_path / "float.wav", 16000, pcm[:, 0].astype(np.float32) / 32768)
    wavfile.write(tmp_path / "wide.wav", 16000, pcm[:, 0].astype(np.int32) << 16)
    (tmp_path / "song.mp3").write_bytes(b"ID3\x04\x00 the start of an MP3 file")
    convert = f"convert it to 16 kHz 16-bit PCM WAV (e.g. {command})."
    refused = {
        "cd.wav": "is 44100 Hz audio, not 16000 Hz; ",
        "float.wav": "is not a 16-bit PCM WAV file (unknown format: 3); ",
        "wide.wav": "holds 32-bit samples, not 16-bit PCM; ",
        "song.mp3": "is not a 16-bit PCM WAV file (file does not start with RIFF id); ",
    }
    for name, line in refused.items():
        with pytest.raises(onnx_inference.WavError) as error:
            onnx_inference.read_wav(tmp_path / name)
        assert str(error.value) == f"{tmp_path / name} {line}{convert}"
    with pytest.raises(onnx_inference.WavError, match="does not exist"):
        onnx_inference.read_wav(tmp_path / "none.wav")


def detection_files(recipe, tmp_path):
    """WAV files for the exports' checks (a long one with detections, a stereo one, one under
    a frame) and a threshold the model's probabilities cross several times on the first."""
    long = some_audio(2.5, seed=4)[:37928]  # not in whole chunks or frames
    short = some_audio(1.6, seed=5)[:24008]
    noise = audio.noise("white", len(short), np.random.default_rng(5)) * 0.3
    stereo = np.round(np.clip(np.stack([short, noise], axis=1), -1, 1) * 32767)
    paths = [audio.write_wav(tmp_path / "long.wav", long), tmp_path / "stereo.wav"]
    wavfile.write(paths[1], 16000, stereo.astype(np.int16))
    paths.append(audio.write_wav(tmp_path / "tiny.wav", long[:200]))
    return paths, crossing_threshold(recipe, audio.read_wav(paths[0]))


def test_onnx_export_runs_in_onnxruntime_as_the_model(trained, tmp_path):
    """model.onnx's probabilities are the model's (1e-5), stream_step.onnx chunk by chunk
    gives them too, and inference.py's predict is TriggerWord.predict's, detections and all
    (the model's detections, converted with it), as is its stream's; in a Python without
    TensorFlow and rnn-apps too."""
    recipe, _, _ = trained
    paths, threshold = detection_files(recipe, tmp_path)
    recipe.config = recipe.config.replace(threshold=threshold)
    out = recipe.export(tmp_path / "onnx", format="onnx")
    assert {p.name for p in out.iterdir()} == {"model.onnx", "stream_step.onnx",
        "preprocessing.json", "inference.py", "rnn_apps_runtime.py", "rnn_apps.json"}  # fmt: skip
    served = shipped_inference(out).load(out)
    for path in paths:
        waveform = audio.read_wav(path)
        expected = recipe.probabilities(waveform)
        probs = served.probabilities(waveform)
        assert probs.shape == expected.shape
        np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-5)
    # stream_step.onnx, over the file at once and pushed in pieces unlike its chunks
    waveform = audio.read_wav(paths[0])
    expected = recipe.probabilities(waveform)
    np.testing.assert_allclose(served.streamed_probabilities(waveform), expected, atol=1e-5)
    stream = served.stream()
    found = [d for start in range(0, len(waveform), 777)
             for d in stream.push(waveform[start : start + 777])]  # fmt: skip
    assert found + stream.finish() == recipe.detect(waveform)
    printed = recipe.predict([str(p) for p in paths])
    assert served.predict([str(p) for p in paths]) == printed
    assert len(printed[0]["detections"]) >= 2 and printed[1]["detections"]
    # as a user runs it: numpy and onnxruntime only
    command = [
        sys.executable,
        "-c",
        WITHOUT_TENSORFLOW,
        str(out),
        json.dumps(list(map(str, paths))),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == printed
    assert printed[2] == {"file": str(paths[2]), "seconds": round(200 / 16000, 3), "detections": []}
    with pytest.raises(ValueError, match="Give one or more WAV files"):
        served.predict([])


def keras_and_tflite_steps(recipe, step, waveform):
    """Both steps fed the same inputs chunk by chunk (the Keras step's states carried):
    the largest difference of each output over the chunks."""
    keras_step = recipe.stream_step_function()
    worst = np.zeros(4)
    for inputs, _ in streaming.chunks_of(recipe, keras_step, waveform):
        ours, theirs = step(*inputs), keras_step(*inputs)
        worst = np.maximum(worst, [np.abs(a - b).max() for a, b in zip(ours, theirs, strict=True)])
    return worst


def test_tflite_export_float32_step_is_the_keras_step(trained, tmp_path):
    """stream_step.tflite (builtin ops, no while loop) gives the Keras streaming step's
    probabilities, history and states (1e-5); inference.py on it predicts as predict does."""
    recipe, _, _ = trained
    paths, threshold = detection_files(recipe, tmp_path)
    recipe.config = recipe.config.replace(threshold=threshold)
    out = recipe.export(tmp_path / "tflite", format="tflite")
    assert {p.name for p in out.iterdir()} == {"stream_step.tflite", "preprocessing.json",
        "inference.py", "rnn_apps_runtime.py", "rnn_apps.json"}  # fmt: skip
    assert json.loads((out / "rnn_apps.json").read_text())["quantize"] is None
    step = TFLiteStep(out / "stream_step.tflite")
    ops = {op["op_name"] for op in step.interpreter._get_ops_details()}
    assert "WHILE" not in ops and not any("Flex" in op for op in ops), ops
    worst = keras_and_tflite_steps(recipe, step, audio.read_wav(paths[0]))
    assert worst.max() <= 1e-5, worst
    served = shipped_inference(out).load(out)
    assert served.predict([str(p) for p in paths]) == recipe.predict([str(p) for p in paths])
    # the recipe measured through the step: what the quantization benchmark reads
    streamed = recipe.streamed(step)
    waveform = audio.read_wav(paths[1])
    np.testing.assert_allclose(
        streamed.probabilities(waveform), recipe.probabilities(waveform), atol=1e-5
    )
    assert streamed.threshold() == recipe.threshold() and recipe._stream_step is None


#: the largest probability differences from the float32 step allowed. Measured here: float16
#: 1.8e-4 (weights rounded to 11 significant bits); int8 0.027 (mean 0.003), and up to 0.06
#: on quieter audio and other tiny runs: each int8 op past the front end is off by one to
#: two quantization steps, and the GRU states carry the errors from frame to frame
QUANTIZED_TOLERANCE = {"float16": 1e-3, "int8": 0.1}


@pytest.mark.parametrize("quantize", ["float16", "int8"])
def test_quantized_tflite_exports_take_float32_and_stay_close(trained, tmp_path, quantize):
    """--quantize float16 / int8: the file loads in tf.lite.Interpreter, takes and gives
    float32 (so inference.py runs it), holds float16 or int8 tensors, and its probabilities
    stay close to the float32 step's."""
    recipe, _, _ = trained
    out = recipe.export(tmp_path / quantize, format="tflite", quantize=quantize)
    assert json.loads((out / "rnn_apps.json").read_text())["quantize"] == quantize
    interpreter = tf.lite.Interpreter(model_path=str(out / "stream_step.tflite"))
    for detail in interpreter.get_input_details() + interpreter.get_output_details():
        assert detail["dtype"] == np.float32, detail
    types = {t["dtype"] for t in interpreter.get_tensor_details()}
    assert (np.float16 if quantize == "float16" else np.int8) in types
    waveform = some_audio(3.0, seed=6)
    expected = recipe.probabilities(waveform)
    probs = shipped_inference(out).load(out).probabilities(waveform)
    assert probs.shape == expected.shape and probs.dtype == np.float32
    difference = np.abs(probs - expected).max()
    assert 0 < difference <= QUANTIZED_TOLERANCE[quantize], difference
    # the audio carried to the next chunk stays float32: the chunk's last samples exactly
    step = streaming.TFLiteStep(out / "stream_step.tflite")
    chunk = waveform[None, : recipe.chunk_samples()].astype(np.float32)
    history, state1, state2 = streaming.initial_states(recipe)
    _, carried, _, _ = step(chunk, history, state1, state2)
    np.testing.assert_array_equal(carried[0], chunk[0, -recipe.history() :])


def test_export_refuses_quantize_outside_tflite_in_one_line(trained, tmp_path):
    recipe, run, _ = trained
    refused = [
        ("onnx", "int8", "--quantize int8 applies to --format tflite only."),
        ("saved_model", "float16", "--quantize float16 applies to --format tflite only."),
        ("tflite", "int4", "Unknown quantization 'int4'; one of float16, int8."),
    ]
    for format, quantize, line in refused:
        with pytest.raises(UserError) as error:
            recipe.export(tmp_path / format, format=format, quantize=quantize)
        assert str(error.value) == line
        assert not (tmp_path / format).exists()
    # int8 calibrates on the run's own audio: its data folder gone, one line says so
    moved = TriggerWord.load(run)
    moved.config = moved.config.replace(data=str(tmp_path / "gone"))
    with pytest.raises(UserError) as error:
        moved.export(tmp_path / "int8", format="tflite", quantize="int8")
    assert str(error.value).startswith(
        "--quantize int8 calibrates on the run's own training audio, which cannot be read: "
        f"Data path {tmp_path / 'gone'} is not a folder"
    ) and "\n" not in str(error.value)
    assert not (tmp_path / "int8").exists()


def test_cli_export_quantize_onnx_is_one_line(trained, tmp_path, capsys):
    _, run, _ = trained
    out = tmp_path / "o"
    assert (
        main(["export", str(run), "--format", "onnx", "--quantize", "int8", "--out", str(out)]) == 2
    )
    assert capsys.readouterr().err.strip().splitlines() == [
        "rnn-apps: error: --quantize int8 applies to --format tflite only."
    ]
    assert not out.exists()


def test_cli_detect_plot_chime_and_evaluate(trained, tmp_path, capsys):
    recipe, run, _ = trained
    w = some_audio(2.0, seed=2)
    wav = audio.write_wav(tmp_path / "in.wav", w)
    threshold = crossing_threshold(recipe, audio.read_wav(wav))
    loaded = TriggerWord.load(run)
    loaded.config = loaded.config.replace(threshold=threshold)
    loaded.save(tmp_path / "run2")
    capsys.readouterr()
    plot, chime = tmp_path / "probs.png", tmp_path / "chime.wav"
    assert (
        main(
            ["detect", str(tmp_path / "run2"), str(wav), "--plot", str(plot), "--chime", str(chime)]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["file"] == str(wav) and result["seconds"] == 2.0
    assert result["detections"] == loaded.detect(w) and result["detections"]
    assert plot.stat().st_size > 10000
    chimed = audio.read_wav(chime)
    assert len(chimed) == len(w) and not np.allclose(chimed, w, atol=1e-3)
    assert main(["evaluate", str(run), "--json"]) == 0
    assert "miss_rate" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    with pytest.raises(UserError, match="does not exist"):
        loaded.detect(tmp_path / "nothing.wav")
    with pytest.raises(UserError, match="1-D waveform"):
        loaded.detect(np.zeros((2, 100)))


@pytest.mark.parametrize("samples", [0, 1])
def test_detect_audio_shorter_than_a_frame(trained, tmp_path, capsys, samples):
    """Too short for one 20 ms frame (even empty): no detections; --plot, with nothing to
    plot, is one line naming the file, and no plot is written."""
    _, run, _ = trained
    wav = audio.write_wav(tmp_path / "short.wav", np.random.default_rng().uniform(-1, 1, samples))
    capsys.readouterr()
    assert main(["detect", str(run), str(wav)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result == {"file": str(wav), "seconds": 0.0, "detections": []}
    plot = tmp_path / "short.png"
    assert main(["detect", str(run), str(wav), "--plot", str(plot)]) == 2
    count = f"{samples} sample{'' if samples == 1 else 's'}"
    assert capsys.readouterr().err.strip().splitlines() == [
        f"rnn-apps: error: {wav} holds {count} at 16 kHz, less than one 20 ms output frame: "
        "nothing to plot (leave out --plot, or give longer audio)."
    ]
    assert not plot.exists()


def test_plot_of_audio_shorter_than_the_analysis_window(trained, tmp_path):
    """A whole output frame (320 samples) but less than the 400 of one spectrogram
    window: plotted (the audio is padded on the left as the model pads it)."""
    recipe, _, _ = trained
    waveform = np.random.default_rng().uniform(-0.5, 0.5, 350).astype(np.float32)
    probs = recipe.probabilities(waveform)
    assert probs.shape == (1,)
    path = recipe.plot(waveform, probs, [], tmp_path / "p.png", title="x")
    assert path.stat().st_size > 1000


def test_no_backgrounds_and_no_placeable_trial_is_refused_before_training(layout, tmp_path):
    """Without background recordings and with label spans too long for any clip to fit in
    an example, nothing could be measured: one line naming the folder, before training."""
    data = tmp_path / "no_backgrounds"
    shutil.copytree(layout, data, ignore=shutil.ignore_patterns(mixing.BACKGROUND_FOLDER))
    label_frames = int(np.random.default_rng().integers(100, 200))  # 2 s or more
    recipe = TriggerWord(
        **TINY | dict(label_frames=label_frames, synthesized_positives=0, synthesized_negatives=0)
    )
    run = tmp_path / "run"
    with pytest.raises(UserError) as error:
        recipe.fit(data=str(data), run_dir=run, verbose=0)
    assert str(error.value) == (
        f"{data} has no background recordings (_background_noise_/ is missing or empty) and "
        f"no clip of 'marvin' in its train split fits in an example of 2 s with its "
        f"{label_frames} label frames; add WAV files of background sound to "
        f"{data / '_background_noise_'}, or raise example_seconds or lower label_frames."
    )
    assert not (run / "model.keras").exists() and not (run / "checkpoints").exists()


def test_synthesis_progress_goes_to_stderr(capsys):
    rng = np.random.default_rng()
    voices = synthesis.english_voices()
    clips, names = mixing.synthesized(["yes", "house"], 2, rng, voices, "2 other words")
    assert len(clips) == len(names) == 2
    out, err = capsys.readouterr()
    assert out == "" and "synthesizing 2 other words with eSpeak NG" in err
    mixing.synthesized(["yes"], 1, rng, voices)  # no label: nothing said
    assert capsys.readouterr() == ("", "")


def test_cli_fit_quiet_prints_one_json_object(layout, tmp_path):
    """rnn-apps fit --quiet in a fresh process: stdout is the metrics' JSON object and
    nothing else; the synthesis says nothing (quiet)."""
    settings = [a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]
    command = [sys.executable, "-m", "rnn_apps", "fit", "trigger_word", "--data", str(layout)]
    command += [*settings, "--epochs", "1", "--quiet", "--out", str(tmp_path / "run")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["run"] == str(tmp_path / "run") and result["epochs_done"] == 1
    assert "val_miss_rate" in result and "synthesizing" not in done.stderr


def test_chimes_land_at_the_times():
    out = with_chimes(np.zeros(16000, np.float32), [0.5])
    assert not out[:8000].any() and np.abs(out[8000:8400]).max() > 0.1


# -- hours of held-out audio: the DET curve (recipes/trigger_word/det.py) ----------------
def test_vectorized_detections_are_the_detectors():
    """``detection.detection_frames`` (what the calibration and the DET count) finds the
    frames the shipped Detector finds, at every threshold and refractory time, on random
    probabilities."""
    from recipes.trigger_word.detection import detection_frames

    rng = np.random.default_rng(5)
    for _ in range(20):
        p = rng.random(int(rng.integers(1, 400))).astype(np.float32) ** 3
        threshold, refractory = float(rng.uniform(0.05, 0.95)), int(rng.integers(0, 30))
        found = Detector(threshold, refractory, 0.02).update(p)
        expected = [round(d["time"] / 0.02) - 1 for d in found]
        assert detection_frames(p, threshold, refractory).tolist() == expected


def test_running_speech_texts_never_say_the_word_and_split_in_three_parts():
    from recipes.trigger_word.prose import speech_texts

    train, test = speech_texts("zzzz", "train"), speech_texts("zzzz", "test")
    validation = speech_texts("zzzz", "validation")
    assert len(train) > 2000 and len(test) > 2000  # the standard library's prose: hours
    assert len(validation) > 500
    # training hears none of the calibration's or the evaluation's sentences
    assert not set(train) & set(test) and not set(validation) & (set(train) | set(test))
    without = speech_texts("the", "test")
    assert 0 < len(without) < len(test) / 2
    assert not any("the" in s.lower() for s in without)  # inside longer words too
    assert all(4 <= len(s.split()) <= 40 and "=" not in s and ">>>" not in s for s in test)
    with pytest.raises(UserError, match="holds ' '.*speech_negatives=0"):
        speech_texts(" ", "train")  # every sentence has a space: nothing left to say


def test_calibration_without_sentences_stops_before_training(layout, monkeypatch):
    """A word that every calibration sentence holds: the splits (built before training)
    stop with one line naming both settings that turn running speech off."""
    from recipes.trigger_word import prose
    from recipes.trigger_word.mixing import split_clips

    sentences = {"say marvin twice, marvin": "validation", "nothing to see here now": "train"}
    monkeypatch.setattr(prose, "_stdlib_sentences", lambda: sentences)
    config = TriggerWordConfig(**{**TINY, "calibration_speech_minutes": 1.0})
    with pytest.raises(UserError, match="speech_negatives=0 --set calibration_speech_minutes=0"):
        split_clips(config, str(layout), TriggerWord(config).mixing(), quiet=True)
    split_clips(
        config.replace(calibration_speech_minutes=0.0),
        str(layout),
        TriggerWord(config).mixing(),
        quiet=True,
    )


def test_speech_negatives_add_pieces_of_running_speech_to_training_only(layout):
    from recipes.trigger_word.mixing import SPEECH_PIECE_SECONDS, split_clips

    config = TriggerWordConfig(**{**TINY, "synthesized_negatives": 0})
    recipe = TriggerWord(config)
    plain = split_clips(config, str(layout), recipe.mixing(), quiet=True)
    config = config.replace(speech_negatives=5)
    spoken = split_clips(config, str(layout), recipe.mixing(), quiet=True)
    pieces = spoken["train"].negatives[len(plain["train"].negatives) :]
    assert len(pieces) == 5
    low, high = (s * audio.SAMPLE_RATE for s in SPEECH_PIECE_SECONDS)
    assert all(low * 0.5 <= len(p) <= high and audio.rms(p) > 0 for p in pieces)
    for split in ("validation", "test"):
        assert len(spoken[split].negatives) == len(plain[split].negatives)


def test_det_script_on_a_saved_run_in_a_fresh_process(trained, layout, tmp_path):
    """``python quality/trigger_word_det.py`` on a run folder saved earlier: the table it
    prints is the JSON it writes, which holds the asked-for hours and trials and a curve
    whose false accepts fall from the lowest threshold to the highest, and a PNG."""
    import matplotlib.image

    _, run, _ = trained
    copy_ = tmp_path / "run"
    shutil.copytree(run, copy_)
    script = Path(__file__).resolve().parents[1] / "quality" / "trigger_word_det.py"
    args = ["--data", str(layout), "--run", str(copy_), "--hours", "0.02", "--trials", "3"]

    def det(*more: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, str(script), *args, *more], capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    done = det()
    result = json.loads((copy_ / "det-1.json").read_text())
    assert result["negative_hours"] >= 0.02 and result["sentences"] > 0
    clips = result["positive_clips"]
    assert clips >= 1 and result["positive_trials"] == 3 * clips
    top = [round(0.99 + 0.001 * i, 3) for i in range(1, 10)]
    grid = [round(0.01 * i, 2) for i in range(1, 100)] + top
    assert [p["threshold"] for p in result["curve"]] == grid
    assert (
        result["curve"][0]["false_accepts_per_hour"]
        >= result["curve"][-1]["false_accepts_per_hour"]
    )
    rate = result["false_accepts"] / result["negative_hours"]
    assert result["false_accepts_per_hour"] == pytest.approx(rate, rel=1e-2)
    assert result["threshold"] == json.loads((run / "threshold.json").read_text())["threshold"]
    row = next(line for line in done.stdout.splitlines() if "(the run's)" in line)
    assert f"{result['miss_rate']:.3f} ({result['misses']})" in row
    assert f"{result['false_accepts_per_hour']:.2f} ({result['false_accepts']})" in row
    assert matplotlib.image.imread(copy_ / "det-1.png").shape[2] in (3, 4)
    # --recalibrate: the threshold calibrated again (the same rule as fit; eSpeak NG's
    # state, which this process's history sets, may move it a step), written and used
    done = det("--recalibrate")
    threshold = json.loads((copy_ / "threshold.json").read_text())["threshold"]
    assert f"recalibrated {copy_}: threshold {threshold:g}" in done.stdout
    assert json.loads((copy_ / "det-1.json").read_text())["threshold"] == threshold
    assert threshold in CALIBRATION_GRID
