"""The sentiment classifier's settings (no TensorFlow: ``rnn-apps config`` reads them)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from recipes.core.config import COLUMN, SHARE, SIZE, TrainConfig, option, setting


@dataclasses.dataclass
class SentimentConfig(TrainConfig):
    """Settings of the sentiment classifier (every key can be given with ``--set``)."""

    description = "text -> label (many-to-one): bidirectional LSTM/GRU classifier"
    default_data = "tfds:imdb_reviews"
    headline = "val_accuracy"
    extra = "text"
    requires = ("vaderSentiment",)
    # runs saved before zero_unknown existed read unknown words with the vocabulary's vector
    saved_without = {"zero_unknown": False}

    text_column: str | int = setting(
        0, COLUMN, "the text's column: a name (the file has a header) or an index"
    )
    label_column: str | int = setting(
        -1, COLUMN, "the label's column: a name or an index (-1: the last)"
    )
    header: bool | None = option(
        None,
        "whether the first row names the columns; not set: when a column is a name, or the "
        "first row's label is a column name (label, class, ...) or a word above numeric labels",
    )
    max_tokens: int = setting(
        20000,
        "[3, 10000000]",
        "vocabulary size, padding and out-of-vocabulary included (so 3 or more: one word)",
    )
    max_length: int = setting(
        100, "[1, 100000]", "tokens kept per text (a fixed length: one XLA program)"
    )
    embedding_dim: int = setting(64, SIZE, "word vector size")
    cell: Literal["lstm", "gru"] = option("lstm", "the bidirectional recurrent layer")
    units: int = setting(32, SIZE, "units per direction")
    lexicon: Literal[
        "vader",
        "afinn",
        "textblob",
        "vader+afinn",
        "vader+textblob",
        "vader+afinn+textblob",
        "none",
    ] = option(
        "vader",
        "a sentiment lexicon whose word polarities go in beside the word vectors: vader "
        "(the vaderSentiment package's lexicon), afinn (AFINN-165, the lexicons extra), "
        "textblob (TextBlob's adjectives, the lexicons extra), several joined by + (each "
        "word's mean over those that rate it) or none",
    )
    lexicon_sums: bool = option(
        True,
        "the text's summed positive and negative lexicon polarities also go straight to "
        "the output layer (beside the recurrent summary)",
    )
    zero_unknown: bool = option(
        True,
        "words outside the vocabulary get the zero vector of a dropped word (word_dropout), "
        "so the classifier reads only their lexicon polarity; false: the vocabulary's "
        "out-of-vocabulary vector, which training leaves at its random start when every "
        "training word is in the vocabulary",
    )
    word_dropout: float = setting(0.7, SHARE, "share of whole word vectors dropped in training")
    dropout: float = setting(0.5, SHARE, "on the embeddings and before the output layer")
    recurrent_dropout: float = setting(0.0, SHARE, "on the recurrent state")
    members: int = setting(
        1,
        "[1, 16]",
        "networks in the model, each with its own word vectors, recurrent layer and output "
        "layer (seeds seed, seed+1, ...), their logits averaged: an ensemble inside one "
        "model, trained together (x members the training time)",
    )
    pooling: Literal["last", "max"] = option("last", "the final states, or the max over all steps")
    monitor: Literal["val_accuracy", "val_loss"] = option(
        "val_accuracy", "what early stopping and the choice of the best epoch follow"
    )
    epochs: int = 15
    patience: int = 4
    jit_compile: bool = True
