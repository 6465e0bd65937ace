"""The music generator's settings (no TensorFlow: ``rnn-apps config`` reads them)."""

from __future__ import annotations

import dataclasses

from recipes.charlm.config import CharLMConfig, on_off
from recipes.core.config import TaskOption, option, setting

#: the music21 corpus collection of the default tunes
MUSIC21_COLLECTION = "oneills1850"


@dataclasses.dataclass
class CharMusicConfig(CharLMConfig):
    """Settings of the music generator (see :class:`CharLMConfig`): a smaller model
    trained longer (tune collections are small), longer samples."""

    description = "ABC tunes -> new tunes (one-to-many): character LSTM/GRU, MIDI out"
    default_data = f"music21 corpus: {MUSIC21_COLLECTION}"
    extra = "music"
    requires = ("music21",)

    units: int = 256
    epochs: int = 40
    learning_rate: float = 2e-3
    patience: int = 5
    length: int = setting(
        1500, "[1, 1000000]", "characters per tune at most (a tune ends at a blank line)"
    )
    jit_compile: bool = True  # the setting of the README's quality run
    grammar: bool = option(
        True,
        "draw only characters that keep the tune well-formed ABC whose every bar fits its "
        "meter (recipes/char_music/grammar.py), in generate, and in serve and every export "
        "of the run",
    )
    task_options = (
        *CharLMConfig.task_options,
        TaskOption("grammar", on_off, "on: only well-formed tunes whose bars fit the meter "
                   "(default: the config's grammar, on); off: the characters as the model draws"),
    )  # fmt: skip
    # runs saved before the grammar existed generate as they did, without it
    saved_without = {"grammar": False}
