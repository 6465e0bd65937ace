"""The character text generator's settings (no TensorFlow: ``rnn-apps config`` reads them)."""

from __future__ import annotations

import dataclasses

from recipes.charlm.config import CharLMConfig
from recipes.core.config import option


@dataclasses.dataclass
class CharTextConfig(CharLMConfig):
    """Settings of the character text generator (see :class:`CharLMConfig`)."""

    description = "text -> more text like it (one-to-many): character LSTM/GRU generator"
    default_data = "python standard library"
    extra = "text"

    text_column: str = option("text", "the text feature of a tfds data set")
    # so that fit and the final scoring stay within half an hour on a 2-core CPU
    max_minutes: float = 28.0
