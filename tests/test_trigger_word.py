"""The trigger-word recipe: data layout and splits, example composition, the model's
front end, offline and streaming detection, save/load, SavedModel and TFLite export, CLI."""

import json

import numpy as np
import pytest
import tensorflow as tf

from recipes import audio, wake_data
from recipes.errors import UserError
from recipes.trigger_word import (
    FRAME_LENGTH,
    FRAME_STEP,
    Detector,
    LogMel,
    Streamer,
    TFLiteStep,
    TriggerWord,
    TriggerWordConfig,
    history_samples,
    with_chimes,
)
from rnn_apps.cli import main

pytest.importorskip("espeakng_loader")
from recipes import speech  # noqa: E402

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
)


def write_layout(root, speakers=("aa11", "bb22", "cc33", "dd44", "ee55"), lists=False):
    """A Speech Commands style folder: marvin and two other words, noise backgrounds."""
    voices = speech.english_voices()
    for w, word in enumerate(("marvin", "yes", "house")):
        for s, spk in enumerate(speakers):
            clip = speech.synthesize(word, voice=voices[(s * 7 + w) % len(voices)])
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


@pytest.fixture(scope="module")
def trained(layout, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "tw"
    recipe = TriggerWord(**TINY)
    metrics = recipe.fit(data=str(layout), run_dir=run, verbose=0)
    return recipe, run, metrics


# -- data --------------------------------------------------------------------------------
def test_speaker_split_holds_out_whole_speakers():
    names = [f"w/{s}_nohash_{i}.wav" for s in "abcdefghij" for i in range(2)]
    test, val = wake_data.split_by_speaker(names, 0.3, 0.1, seed=1)
    assert len(test) >= 6 and len(val) >= 2
    speakers = [{wake_data.speaker(n) for n in part} for part in (test, val)]
    train = {wake_data.speaker(n) for n in names} - speakers[0] - speakers[1]
    assert not speakers[0] & speakers[1] and train
    assert wake_data.split_by_speaker(names, 0.3, 0.1, seed=1) == (test, val)


def test_speech_commands_layout_speakers_and_lists(tmp_path):
    root = write_layout(tmp_path / "a")
    splits = wake_data.read_speech_commands(root, "marvin", 0.3, 0.1, (0.25, 0.1), seed=3)
    held = {n.split("/")[1] for s in ("test", "validation") for n in splits[s].positive_names}
    assert len(splits["test"].positives) >= 2 and not held & {
        n.split("/")[1] for n in splits["train"].positive_names
    }
    assert sum(len(s.negatives) for s in splits.values()) == 10
    sizes = [sum(len(b) for b in splits[s].backgrounds) for s in ("train", "validation", "test")]
    assert sizes == [2 * 31200, 2 * 4800, 2 * 12000]  # 65% / 10% / 25% of 3 s
    listed = write_layout(tmp_path / "b", lists=True)
    splits = wake_data.read_speech_commands(listed, "marvin", 0.3, 0.1, (0.25, 0.1), seed=3)
    assert splits["test"].positive_names == ["marvin/aa11_nohash_0.wav", "marvin/bb22_nohash_0.wav"]
    assert splits["validation"].positive_names == ["marvin/cc33_nohash_0.wav"]
    assert len(splits["test"].negatives) == 1 and len(splits["train"].negatives) == 9
    with pytest.raises(UserError, match="no folder 'sheila'"):
        wake_data.read_speech_commands(listed, "sheila", 0.3, 0.1, (0.25, 0.1), seed=3)
    with pytest.raises(UserError, match="is not a folder"):
        wake_data.read_speech_commands(tmp_path / "none", "marvin", 0.3, 0.1, (0.25, 0.1), 3)


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
    clips = wake_data.Clips(positives=[pos], negatives=[neg], backgrounds=[np.zeros(80000)])
    mixing = wake_data.Mixing(
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
    mix, labels, spans = wake_data.insert(
        base, [(pos, True), (neg, False), (pos, True)], mixing, rng
    )
    assert len(spans) == 2 and labels.shape == (200,)
    for _start, end in spans:
        first = -(-end // 320) - 1
        assert labels[first : first + 10].all() and labels[first - 1] == 0
    assert labels.sum() == 20
    loud = np.abs(mix) > 0
    assert loud.sum() == 2 * 4000 + 6000  # nothing overlaps
    w1, l1 = wake_data.compose(clips, mixing, np.random.default_rng(5))
    w2, l2 = wake_data.compose(clips, mixing, np.random.default_rng(5))
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


def test_threshold_is_calibrated_on_validation(trained):
    recipe, run, metrics = trained
    threshold = json.loads((run / "threshold.json").read_text())["threshold"]
    assert recipe.threshold() == threshold == metrics["val_threshold"]
    clips, rng = recipe.splits().validation, np.random.default_rng([1337, 11])
    passes = int(np.ceil(5 * 60 / (sum(len(b) for b in clips.backgrounds) / 16000)))
    streams = recipe._negative_streams(clips, rng, passes)
    trials = recipe._positive_trials(clips, rng)
    hours = sum(len(p) for p, _ in streams) * recipe.frame_seconds() / 3600
    grid = [round(t, 2) for t in np.arange(0.05, 0.995, 0.01)]
    quiet = [t for t in grid if recipe.false_accepts(streams, t) <= 2.0 * hours]
    hearing = [t for t in grid if recipe.misses(trials, t) <= 0.05 * len(trials)]
    low, high = (quiet or [0.99])[0], (hearing or [0.05])[-1]
    assert threshold == (round((low + high) / 2, 2) if low < high else low)
    assert TriggerWord.load(run).threshold() == threshold


def some_audio(seconds=2.37, seed=0):
    rng = np.random.default_rng(seed)
    w = audio.noise("pink", int(seconds * 16000), rng) * 2
    clip = speech.synthesize("marvin")
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
    out = recipe.export(tmp_path / "exported")
    served = tf.saved_model.load(str(out))
    probs = served.signatures["serving_default"](waveform=tf.constant(w[None]))["probabilities"]
    np.testing.assert_allclose(probs.numpy()[0], expected, atol=1e-5)
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


def test_chimes_land_at_the_times():
    out = with_chimes(np.zeros(16000, np.float32), [0.5])
    assert not out[:8000].any() and np.abs(out[8000:8400]).max() > 0.1
