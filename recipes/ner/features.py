"""The tagger's tokens and word features, computed in the graph (``tf.data`` and the
export alike): the tokenizer, the word shapes, the model inputs of token lists, and
sentences lower-cased for case noise."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

_PUNCT = r"[^\pL\pN\s@#_]"


def tokenize(sentences: tf.Tensor) -> tf.RaggedTensor:
    """Raw sentences -> tokens, in the graph (so the export tokenizes too).

    The rule: split at whitespace; URLs (``http...``, ``www...``) stay whole; then
    punctuation at the start or end of a word becomes tokens of its own (``"Paris,"``
    -> ``Paris ,``; a run of marks gives one token per mark), and English clitics are
    split off (``It's`` -> ``It 's``, ``don't`` -> ``do n't``). ``@mentions`` and
    ``#hashtags`` stay whole.
    """
    s = tf.strings.regex_replace(sentences, r"\s+", " ")
    s = tf.strings.regex_replace(s, r"(^| )((?:https?://|www\.)\S+)", r"\1\2 ")
    # trailing punctuation (a URL's own dots are kept: it is followed by the space above)
    for _ in range(2):
        s = tf.strings.regex_replace(s, rf"([\pL\pN_])({_PUNCT}+)( |$)", r"\1 \2\3")
        s = tf.strings.regex_replace(s, rf"(^| )({_PUNCT}+)([\pL\pN@#_])", r"\1\2 \3")
    for _ in range(3):  # a run of marks on its own: one token per mark
        s = tf.strings.regex_replace(s, rf"(^| )({_PUNCT})({_PUNCT}+)( |$)", r"\1\2 \3\4")
    s = tf.strings.regex_replace(s, r"(?i)([\pL])(n't)( |$)", r"\1 \2\3")
    s = tf.strings.regex_replace(s, r"(?i)([\pL])('(?:s|re|ll|ve|d|m))( |$)", r"\1 \2\3")
    return tf.strings.split(tf.strings.strip(s))


SHAPES = (
    "x",  # all lower case
    "X",  # all upper case
    "Xx",  # capitalized
    "xX",  # mixed case
    "d",  # all digits
    "dx",  # digits and letters
    ".",  # punctuation
    "@",  # @mention
    "#",  # #hashtag
    "url",
)


def word_shapes(tokens: tf.RaggedTensor) -> tf.RaggedTensor:
    """The shape class of every token, as an id 1.. into :data:`SHAPES` (0: other)."""
    flat = tokens.flat_values
    rules = [
        r"[\p{Ll}]+",
        r"[\p{Lu}]+",
        r"[\p{Lu}][\p{Ll}'’.-]+",
        r"[\pL'’.-]+",
        r"[\pN.,:/-]+",
        r"[\pL\pN'’.,:/_-]+",
        r"[^\pL\pN]+",
        r"@\w+",
        r"#\w+",
        r"(?:https?://|www\.)\S+",
    ]
    shape = tf.zeros_like(flat, tf.int32)
    # later rules win: the broad classes (digits and letters, mixed case) first,
    # the special classes last
    for index in (6, 4, 1, 2, 3, 5, 7, 8, 9, 10):
        shape = tf.where(tf.strings.regex_full_match(flat, rules[index - 1]), index, shape)
    return tokens.with_flat_values(shape)


def unicode_classes() -> dict[str, list[list[int]]]:
    """The code points (inclusive ranges) of the Unicode classes :func:`tokenize` and
    :func:`word_shapes` use, as TensorFlow's regular expressions (RE2) read them:
    ``letters`` (``\\pL``), ``upper`` (``\\p{Lu}``), ``lower`` (``\\p{Ll}``) and
    ``numbers`` (``\\pN``); the ONNX export's tokenizer builds the same rules of them."""
    points = np.array([c for c in range(0x110000) if not 0xD800 <= c < 0xE000])
    chars = tf.constant([chr(c).encode("utf-8") for c in points])
    classes = {}
    for name, pattern in [
        ("letters", r"\pL"),
        ("upper", r"\p{Lu}"),
        ("lower", r"\p{Ll}"),
        ("numbers", r"\pN"),
    ]:
        inside = points[tf.strings.regex_full_match(chars, pattern).numpy()]
        # a range ends where the next code point in the class is not the next one
        ends = np.flatnonzero(np.diff(inside) != 1)
        starts = np.concatenate([[0], ends + 1])
        stops = np.concatenate([ends, [len(inside) - 1]])
        classes[name] = [
            [int(inside[a]), int(inside[b])] for a, b in zip(starts, stops, strict=True)
        ]
    return classes


def token_features(
    tokens: tf.RaggedTensor,
    word_lookup: keras.layers.StringLookup,
    char_lookup: keras.layers.StringLookup,
    max_word_length: int,
) -> dict[str, tf.Tensor]:
    """The model inputs of a batch of token lists (ragged strings), padded: ``word_ids``
    (lower-cased words), ``char_ids`` (``max_word_length`` characters per word) and
    ``shape_ids`` (:func:`word_shapes`)."""
    words = word_lookup(tf.strings.lower(tokens, encoding="utf-8")).to_tensor()
    shapes = word_shapes(tokens).to_tensor()
    chars = tf.strings.unicode_split(tokens, "UTF-8")  # [B, W, (C)]
    chars = chars[:, :, :max_word_length]
    chars = char_lookup(chars).to_tensor(shape=[None, None, max_word_length])
    return {
        "word_ids": tf.cast(words, tf.int32),
        "char_ids": tf.cast(chars, tf.int32),
        "shape_ids": shapes,
    }


def lowercase_some(ds: tf.data.Dataset, share: float, seed: int) -> tf.data.Dataset:
    """``ds``'s ``(tokens, tags)`` with each sentence lower-cased with probability
    ``share``, drawn anew every epoch (case noise: the tagger cannot lean on capitals)."""
    coins = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    cut = int(round(share * 10000))

    def lowercase(example, coin):
        tokens, tags = example
        lower = tf.strings.lower(tokens, encoding="utf-8")
        return tf.where(coin % 10000 < cut, lower, tokens), tags

    return tf.data.Dataset.zip((ds, coins)).map(lowercase)
