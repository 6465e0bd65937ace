"""The trigger-word detector's settings (no TensorFlow: ``rnn-apps config`` reads them)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from recipes.core.config import (
    EPOCHS,
    HELD_OUT,
    PATIENCE,
    SHARE,
    SIZE,
    TaskOption,
    TrainConfig,
    option,
    setting,
)
from recipes.core.data import TFDS_PREFIX
from recipes.core.errors import UserError

SAMPLE_RATE = 16000  # Hz: what the model hears (other rates are resampled)
FRAME_STEP = 160  # samples between spectrogram frames: 10 ms
SPECTRUM_STEP_MS = 1000 * FRAME_STEP // SAMPLE_RATE
CLIPS = "[0, 100000]"  # synthesized clips


@dataclasses.dataclass
class TriggerWordConfig(TrainConfig):
    """Settings of the trigger-word detector (every key can be given with ``--set``)."""

    description = "trigger-word detector on audio (many-to-many on frames, streaming)"
    default_data = "synthesized speech (eSpeak NG) and generated noise"
    headline = "val_miss_rate"
    extra = "audio"
    requires = ("scipy", "espeakng_loader")

    task_verb = "detect"  # inputs: WAV files
    task_options = (
        TaskOption(
            "plot",
            str,
            "a PNG of the first file: its spectrogram over the detection probability",
            output=".png",
        ),
        TaskOption(
            "chime", str, "a WAV of the first file with a chime at each detection", output=".wav"
        ),
    )

    word: str = option(
        "activate", "the trigger word: a folder name in the data, or what to synthesize"
    )
    synthesized_positives: int = setting(
        200, CLIPS, "eSpeak NG renditions of the word added to the positives"
    )
    synthesized_negatives: int = setting(
        200, CLIPS, "eSpeak NG renditions of other words added to the negatives"
    )
    speech_negatives: int = setting(
        2000,
        CLIPS,
        "pieces of running speech (0.5-3 s of eSpeak NG reading sentences of the standard "
        "library's docstrings, the part neither calibration nor the DET evaluation reads) "
        "added to the training negatives",
    )
    synthetic_share: float = setting(
        0.5, "[0, 1]", "with recorded clips: the share of inserted positives synthesized"
    )
    example_seconds: float = setting(10.0, "[0.5, 300]", "length of a training example")
    train_examples: int = setting(
        1024, "[1, 10000000]", "training examples, composed afresh for every epoch"
    )
    validation_examples: int = setting(256, "[1, 1000000]", "validation examples, composed once")
    max_positives: int = setting(2, "[0, 100]", "positives per example (0 to this many)")
    max_negatives: int = setting(6, "[0, 100]", "negatives per example (0 to this many)")
    label_frames: int = setting(
        50, "[1, 1000]", "output frames labelled 1 after each positive ends (20 ms each)"
    )
    speed: float = setting(0.1, "[0, 0.5)", "augmentation: speed within 1 +- speed")
    pitch: float = setting(2.0, "[0, 24]", "augmentation: pitch within +- this many semitones")
    noise: float = setting(0.3, "[0, 1]", "augmentation: probability of added generated noise")
    mels: int = setting(40, "[1, 128]", "log-mel bands")
    conv_filters: int = setting(128, SIZE, "filters of the convolution over the spectrogram")
    conv_kernel: int = setting(
        8, "[1, 100]", "spectrogram frames (10 ms each) the convolution sees"
    )
    conv_stride: int = setting(2, "[1, 10]", "one output frame per conv_stride spectrogram frames")
    units: int = setting(96, SIZE, "units of each GRU layer")
    dropout: float = setting(0.2, SHARE, "after the convolution and between the GRU layers")
    keep: Literal["last", "best"] = option(
        "last", "the model kept: the last epoch's, or the best val_loss's"
    )
    threshold: float = setting(
        0.0, "[0, 1)", "detection probability; 0: calibrated on the validation split"
    )
    target_false_accepts_per_hour: float = setting(
        0.5, "[0, 3600]", "calibration: false accepts allowed per hour"
    )
    target_miss_rate: float = setting(0.05, SHARE, "calibration: share of misses allowed")
    calibration_minutes: float = setting(
        60.0,
        "[0, 10080]",
        "validation audio the threshold is calibrated on (at least one pass over it)",
    )
    calibration_speech_minutes: float = setting(
        180.0,
        "[0, 10080]",
        "running speech over the validation audio that the threshold is also calibrated on "
        "(eSpeak NG reading sentences that neither training nor the DET evaluation reads)",
    )
    refractory_seconds: float = setting(
        1.0, "[0, 60]", "no second detection within this time of one"
    )
    chunk_ms: int = setting(
        100,
        "[1, 60000]",
        "streaming: audio per step (a multiple of the output frame, conv_stride x 10 ms)",
    )
    eval_trials: int = setting(20, "[1, 10000]", "evaluation: insertions of each held-out positive")
    eval_passes: int = setting(
        45, "[1, 10000]", "evaluation: passes over the held-out backgrounds for false accepts"
    )
    data: str | None = option(
        None, "a Speech Commands style folder; not set: synthesized speech and generated noise"
    )
    data_dir: str | None = option(None, "unused: the trigger word reads local folders only")
    validation_split: float = setting(
        0.1, HELD_OUT, "held-out share of the word's clips (whole speakers) and backgrounds"
    )
    test_split: float = setting(0.3, HELD_OUT, "the same for test")
    batch_size: int = 16
    epochs: int = setting(
        30, EPOCHS, "the cosine schedule's length (early stopping may end sooner)"
    )
    schedule: Literal["constant", "cosine"] = "cosine"
    schedule_floor: float = 0.05
    clipnorm: float = 1.0
    patience: int = setting(
        0, PATIENCE, "keep = best: epochs without val_loss improvement before stopping"
    )
    jit_compile: bool = option(False, "train under XLA (2.9x slower on a 2-core CPU)")

    # runs saved before these settings were trained and calibrated without running speech
    saved_without = {"speech_negatives": 0, "calibration_speech_minutes": 0.0}
    renamed = {"test_share": "test_split", "validation_share": "validation_split",
               "lr_schedule": "schedule"}  # fmt: skip

    def validate(self) -> None:
        if not self.word.strip():
            raise UserError("word is empty; set the trigger word with --set word=...")
        if self.data is not None and str(self.data).startswith(TFDS_PREFIX):
            raise UserError(
                f"The trigger word reads a local Speech Commands style folder, not {self.data}; "
                "give --data FOLDER (or no --data: synthesized speech)."
            )
        if self.conv_kernel < self.conv_stride:
            raise UserError(
                f"conv_kernel ({self.conv_kernel}) must be at least conv_stride "
                f"({self.conv_stride})."
            )
        if self.chunk_ms % self.frame_ms():
            raise UserError(
                f"chunk_ms={self.chunk_ms} is not a multiple of the {self.frame_ms()} ms "
                "output frame (conv_stride x 10 ms)."
            )

    def frame_ms(self) -> int:
        return SPECTRUM_STEP_MS * self.conv_stride
