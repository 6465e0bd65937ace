"""The character generators' settings (no TensorFlow: ``rnn-apps config`` reads them)."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from recipes.core.config import (
    HELD_OUT,
    SHARE,
    SIZE,
    TaskOption,
    TrainConfig,
    check_range,
    check_setting,
    option,
    setting,
    shown,
)
from recipes.core.errors import UserError


@dataclasses.dataclass
class CharLMConfig(TrainConfig):
    """Settings of a character language model (every key can be given with ``--set``)."""

    headline = "val_bits_per_char"
    task_verb = "generate"
    task_reads_stdin = False  # no inputs: one sample of the default prime
    task_options = (
        TaskOption("samples", int, "samples per prime (default 1)"),
        TaskOption("length", int, "characters per sample (default: the config's length)"),
        TaskOption("temperature", float, "0: the likeliest character; higher: bolder"),
        TaskOption("top_k", int, "sample among the k likeliest characters (0: all)"),
        TaskOption("top_p", float, "sample among the likeliest holding this mass (1: all)"),
        TaskOption("seed", int, "the same seed gives the same samples (default: random)"),
        TaskOption("out", str, "a folder to write each sample to", output="folder"),
    )

    window: int = setting(128, "[1, 65536]", "characters per training window")
    cell: Literal["lstm", "gru"] = option("lstm", "the recurrent layers")
    units: int = setting(512, SIZE, "units per layer")
    layers: int = setting(2, "[1, 64]", "stacked recurrent layers")
    embedding_dim: int = setting(64, SIZE, "character vector size")
    dropout: float = setting(0.2, SHARE, "between the recurrent layers and before the output layer")
    eval_chars: int = setting(
        200_000, "[0, 1000000000000]", "characters of train scored for metrics.json (0: all)"
    )
    adapt_rate: float = setting(
        0.0,
        "[0, 1]",
        "dynamic evaluation: above 0, metrics also report adapted_bits_per_char, the "
        "model learning from the held-out text as it reads it (RMSprop steps of this rate)",
    )
    length: int = setting(500, "[1, 1000000]", "characters generated per sample (predict)")
    temperature: float = setting(
        0.8, "[0, 1000]", "sampling temperature (0: always the likeliest character)"
    )
    top_k: int = setting(0, "[0, 1000000]", "sample among the k likeliest characters (0: all)")
    top_p: float = setting(
        1.0, "(0, 1]", "sample among the likeliest characters holding this mass (1: all)"
    )
    validation_split: float = setting(
        0.1,
        "(0, 0.5)",
        "the last share of each text held out for validation (sources without a validation split)",
    )
    test_split: float = setting(
        0.0,
        HELD_OUT,
        "the share of each text before the validation share held out for test (sources "
        "without a test split)",
    )
    learning_rate: float = 4e-3
    schedule: Literal["constant", "cosine"] = "cosine"
    clipnorm: float = 1.0
    max_minutes: float = setting(
        0.0,
        "[0, 525600]",
        "time budget: stop before an epoch that would end past it, and let the "
        "learning-rate cosine run over this time when it ends before the epochs do (0: none)",
    )
    jit_compile: bool = option(
        False,
        "train under XLA: off, since a 2 x 512 LSTM trains 1.5x faster without it on a CPU; "
        "generation and scoring are always compiled",
    )


#: samples drawn at once for one prime (``generate``, ``predict``)
SAMPLES = "[1, 100000]"


def check_option(name: str, value: Any) -> Any:
    """A generation option (``length``, ``temperature``, ``top_k``, ``top_p``, ``seed``)
    checked as its config key is (:func:`check_setting`); ``samples`` against
    :data:`SAMPLES`. One-line :class:`UserError` naming the option otherwise."""
    if name == "samples":
        return check_range(name, value, SAMPLES, integer=True)
    return check_setting(CharLMConfig, name, value)


def check_flag(name: str, value: Any) -> bool:
    """An on/off option (``grammar``): a bool, or one line naming it."""
    if not isinstance(value, bool):
        raise UserError(f"{name}: must be true or false, not {shown(value)}.")
    return value


def on_off(text: str) -> bool:
    """``on``/``off`` (or true/false, yes/no, 1/0) from the command line."""
    words = {"on": True, "true": True, "yes": True, "1": True,
             "off": False, "false": False, "no": False, "0": False}  # fmt: skip
    try:
        return words[text.strip().lower()]
    except KeyError:
        raise ValueError(text) from None
