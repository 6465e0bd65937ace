"""The translator's settings (no TensorFlow: ``rnn-apps config`` reads them)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from recipes.core.config import (
    HELD_OUT,
    SHARE,
    SIZE,
    TaskOption,
    TrainConfig,
    option,
    setting,
)


@dataclasses.dataclass
class TranslatorConfig(TrainConfig):
    """Settings of the translator (every key can be given with ``--set``)."""

    description = "text -> text (seq2seq): BiGRU/LSTM encoder, attention decoder, beam search"
    default_data = "dates (generated: 'saturday march 3 2001' -> '2001-03-03')"
    headline = "val_exact_match"
    # runs saved before these settings trained without smoothing or averaging
    saved_without = {"label_smoothing": 0.0, "average_epochs": 0}
    extra = "text"
    requires = ("babel", "sacrebleu")

    task_verb = "translate"
    task_options = (
        TaskOption("beam_width", int, "beams kept (1: greedy; default: the config's)"),
        TaskOption(
            "n_best",
            int,
            "the n best translations of each input, with their scores (n: at "
            "most the beam width; default 1)",
        ),
        TaskOption("plot", str, "a PNG of the first input's attention weights", output=".png"),
    )

    source_column: int = setting(0, "[0, 100000]", "the TSV column of the source text")
    target_column: int = setting(1, "[0, 100000]", "the TSV column of the target text")
    reverse: bool = option(False, "translate the target column into the source column")
    dates: int = setting(
        30000, "[1, 10000000]", "date pairs generated for the embedded default data"
    )
    tokens: Literal["auto", "chars", "words"] = option(
        "auto", "what the model reads and writes; auto: characters for dates, else words"
    )
    min_count: int = setting(
        2, "[1, 1000000]", "words seen fewer times in training are out of vocabulary"
    )
    max_vocabulary: int = setting(
        16000, "[1, 10000000]", "tokens per side at most (the most frequent)"
    )
    max_train_length: int = setting(48, "[1, 100000]", "tokens; longer training pairs are left out")
    cell: Literal["gru", "lstm"] = option("gru", "the encoder's and the decoder's recurrent layer")
    embedding_dim: int = setting(128, SIZE, "token vector size")
    units: int = setting(256, SIZE, "per encoder direction, and the decoder's")
    attention: Literal["bahdanau", "luong"] = option(
        "bahdanau", "additive (Bahdanau) or multiplicative (Luong) attention"
    )
    attention_units: int = setting(256, SIZE, "the additive attention's size")
    dropout: float = setting(0.2, SHARE, "on the embeddings and before the output layer")
    label_smoothing: float = setting(
        0.1, "[0, 1)", "training: the share of each target spread over the whole vocabulary"
    )
    average_epochs: int = setting(
        5,
        "[0, 1000]",
        "checkpoint averaging: above 1, the mean weights of the best epoch and those before "
        "it, this many in all, when they score a higher validation BLEU",
    )
    beam_width: int = setting(4, "[1, 512]", "beams kept while decoding (1: greedy)")
    length_penalty: float = setting(
        0.6,
        "[0, 10]",
        "alpha of the beam's length normalization ((5 + length) / 6) ** alpha; 0: none",
    )
    max_length: int = setting(
        0, "[0, 10000]", "output tokens at most; 0: twice the source's, plus 10"
    )
    eval_examples: int = setting(
        2000, "[0, 1000000000]", "training pairs decoded for the train metrics (0: all)"
    )
    validation_split: float = setting(
        0.05, HELD_OUT, "share held out for validation (from sources without a validation split)"
    )
    test_split: float = 0.05
    batch_size: int = 64
    epochs: int = setting(
        0, "[0, 100000]", "at most (early stopping may end sooner); 0: 3 for dates, else 30"
    )
    clipnorm: float = 1.0
    jit_compile: bool = option(
        False, "train under XLA (3x slower on CPUs; decoding is always compiled)"
    )
