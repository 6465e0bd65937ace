"""What ``detect --plot`` draws: the spectrogram over the detection probability."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recipes.core.errors import UserError
from recipes.core.training import save_figure
from recipes.trigger_word import audio
from recipes.trigger_word.config import FRAME_STEP
from recipes.trigger_word.frontend import FRAME_LENGTH

if TYPE_CHECKING:
    from recipes.trigger_word.recipe import TriggerWord


def require_frames(recipe: TriggerWord, waveform: np.ndarray, source) -> None:
    """A :class:`UserError` naming ``source`` when ``waveform`` holds no output frame."""
    if len(waveform) < recipe.frame_samples():
        count = f"{len(waveform)} sample{'' if len(waveform) == 1 else 's'}"
        raise UserError(
            f"{source} holds {count} at 16 kHz, less than one "
            f"{round(1000 * recipe.frame_seconds())} ms output frame: nothing to plot "
            "(leave out --plot, or give longer audio)."
        )


def plot_detections(
    recipe: TriggerWord, waveform, probs, detections, path: str | Path, title: str = ""
) -> Path:
    """Log-mel spectrogram over the detection probability, detections marked.

    The spectrogram's frame ``i`` ends at ``(i + 1) * 10`` ms (the audio is padded
    on the left as the model pads it). Audio shorter than one output frame is a
    :class:`UserError`: there is nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    waveform = np.asarray(waveform, np.float32)
    require_frames(recipe, waveform, title or "the audio")
    padded = np.pad(waveform, (FRAME_LENGTH - FRAME_STEP, 0))
    spectrogram = np.asarray(recipe.model_layers()["logmel"](padded[None, :]))[0]
    seconds = len(spectrogram) * FRAME_STEP / audio.SAMPLE_RATE
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
    top.imshow(
        spectrogram.T, origin="lower", aspect="auto", extent=(0, seconds, 0, recipe.config.mels)
    )
    top.set_ylabel("mel band")
    top.set_title(f"{title}: {recipe.config.word!r}, {len(detections)} detection(s)")
    times = (np.arange(len(probs)) + 1) * recipe.frame_seconds()
    bottom.plot(times, probs, lw=1)
    bottom.axhline(recipe.threshold(), color="grey", ls="--", lw=0.8)
    for d in detections:
        bottom.axvline(d["time"], color="red", lw=1)
        top.axvline(d["time"], color="red", lw=1)
    bottom.set_ylim(0, 1.02)
    bottom.set_ylabel("probability")
    bottom.set_xlabel("seconds")
    return save_figure(fig, path, dpi=100)
