"""The translator's tokens: the special ids and the word and character tokenizers.

The tokenizers run in the graph (TensorFlow strings), so the exported model splits raw
texts and joins its output tokens itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import tensorflow as tf

PAD, OOV, START, END = 0, 1, 2, 3  # token ids; the vocabulary proper starts at 4
SPECIALS = ("<s>", "</s>")
JOINER = "\uffed"  # marks a token glued to its neighbour (no space between them)

_WORD = r"[\pL\pN_]"
_MARK = rf"[^\pL\pN\s_{JOINER}]"  # punctuation, symbols, non-breaking spaces


def split_words(texts: tf.Tensor) -> tf.RaggedTensor:
    """Words and punctuation marks, reversibly: ``"l'homme!"`` -> ``l ￭' homme ￭!``.

    Every mark becomes a token of its own; a joiner (``￭``) on a token's side records
    that no space stood there, so :func:`join_words` restores the text exactly (up to
    runs of spaces). Case is kept. Runs in the graph (TensorFlow's RE2 regular
    expressions), so the exported model tokenizes raw strings itself.
    """
    texts = tf.strings.strip(tf.strings.regex_replace(texts, r"\s+", " "))
    texts = tf.strings.regex_replace(texts, rf"({_WORD})({_MARK})", rf"\1 {JOINER}\2")
    for _ in range(3):  # runs of marks: each pass splits every other boundary
        texts = tf.strings.regex_replace(texts, rf"({_MARK})({_MARK})", rf"\1{JOINER} \2")
    texts = tf.strings.regex_replace(texts, rf"({_MARK})({_WORD})", rf"\1{JOINER} \2")
    return tf.strings.split(texts)


def character_classes() -> dict[str, list[list[int]]]:
    """The code points of :func:`split_words`'s character classes as this TensorFlow's
    RE2 reads them: ``"word"`` (``[\\pL\\pN_]``) and ``"space"`` (``\\s``, ASCII only), each
    as inclusive ``[first, last]`` ranges.

    An ONNX export ships them (``preprocessing.json``), so that its Python tokenizer
    (:mod:`recipes.translator.onnx_inference`) splits as the graph does, whatever Unicode
    version its Python's ``unicodedata`` knows (RE2's tables are often newer).
    """
    code_points = np.concatenate([np.arange(0xD800), np.arange(0xE000, 0x110000)])
    chars = tf.strings.unicode_encode(tf.constant(code_points, tf.int32)[:, None], "UTF-8")
    classes = {}
    for name, pattern in (("word", _WORD), ("space", r"\s")):
        found = code_points[tf.strings.regex_full_match(chars, pattern).numpy()]
        starts = np.flatnonzero(np.diff(found, prepend=-2) != 1)  # a new range at each gap
        ends = np.append(starts[1:], len(found)) - 1
        classes[name] = [[int(found[a]), int(found[b])] for a, b in zip(starts, ends, strict=True)]
    return classes


def join_words(tokens: tf.Tensor) -> tf.Tensor:
    """The text of rows of word tokens (the inverse of :func:`split_words`)."""
    text = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
    text = tf.strings.regex_replace(text, f" ?{JOINER} ?", "")
    return tf.strings.strip(tf.strings.regex_replace(text, " +", " "))


def split_chars(texts: tf.Tensor) -> tf.RaggedTensor:
    """The characters (Unicode code points) of each text."""
    return tf.strings.unicode_split(texts, "UTF-8")


def join_chars(tokens: tf.Tensor) -> tf.Tensor:
    """The text of rows of characters (the inverse of :func:`split_chars`)."""
    return tf.strings.reduce_join(tokens, axis=-1)


TOKENIZERS = {"chars": (split_chars, join_chars), "words": (split_words, join_words)}


def count_tokens(texts: list[str], split: Callable[[tf.Tensor], tf.RaggedTensor]) -> Counter:
    """How often each token of ``texts`` occurs, ``split`` one of the :data:`TOKENIZERS`."""
    counts: Counter = Counter()
    for start in range(0, len(texts), 4096):
        tokens = split(tf.constant(texts[start : start + 4096], tf.string))
        counts.update(t.decode("utf-8") for t in tokens.flat_values.numpy())
    return counts


def vocabulary(
    texts: list[str],
    split: Callable[[tf.Tensor], tf.RaggedTensor],
    min_count: int,
    max_size: int,
) -> list[str]:
    """The ``max_size`` most frequent tokens of ``texts`` seen at least ``min_count``
    times, the :data:`SPECIALS` left out, in sorted order."""
    counts = count_tokens(texts, split)
    kept = [t for t, n in counts.most_common() if n >= min_count and t not in SPECIALS]
    return sorted(kept[:max_size])
