"""The named-entity tagger's ONNX or TFLite export on raw sentences, with NumPy.

``rnn-apps export RUN --format onnx`` (or ``--format tflite``) writes this file beside
``model.onnx`` (``model.tflite``) as ``inference.py``, with the vocabularies in
``preprocessing.json`` and the runtime in ``rnn_apps_runtime.py``; for ONNX it needs
neither TensorFlow nor rnn-apps, only NumPy and onnxruntime (``model.tflite`` holds Flex
ops: TensorFlow's ``tf.lite.Interpreter`` runs it)::

    import sys
    sys.path.insert(0, "exported/tagger-onnx")  # the export folder
    import inference

    tagger = inference.load("exported/tagger-onnx")
    print(tagger.predict(["John lives in Paris"]))
    # [{'text': 'John lives in Paris', 'tokens': ['John', 'lives', 'in', 'Paris'],
    #   'tags': ['B-person', 'O', 'O', 'B-location'],
    #   'entities': [{'type': 'person', 'start': 0, 'end': 1, 'text': 'John'}, ...]}]

The model takes the features of a batch of token lists, padded with 0:

- ``word_ids`` int64 ``[batch, words]``: each token lower-cased and looked up in
  ``preprocessing.json``'s ``words`` (id ``2 + index``; 1: unknown; 0: padding);
- ``char_ids`` int64 ``[batch, words, max_word_length]``: the token's first
  ``max_word_length`` characters looked up in ``chars`` the same way;
- ``shape_ids`` int64 ``[batch, words]``: the token's shape class (:func:`shape_id`);
- with the run's lexicons (``preprocessing.json``'s ``lexicons``), ``frequency_ids``
  int64 ``[batch, words]`` (``2 + z`` for a lower-cased token of Zipf frequency ``z`` in
  ``frequency``, else 1) and ``gazetteer_ids`` int64 ``[batch, words, lists]`` (1 where
  the token is inside a run of up to ``max_entry_words`` tokens whose lower-cased,
  space-joined text is an entry of ``places``, ``first_names``, ``last_names``: the
  lists the run has, in that order).

and gives ``tag_ids`` int32 ``[batch, words]`` (the CRF's Viterbi decoding, or the argmax,
with the run's entity bias; 0 where padded; id ``i`` is ``tags[i - 1]``) and ``scores``
float32 ``[batch, words, 1 + tags]``, the tag scores the decoding read.

Outside the graph, here: :func:`tokenize` (the SavedModel's tokenizer, rule for rule),
the look-ups, the shapes, and the entity spans of the IOB2 tags (:func:`entities`). The
Unicode classes of the tokenizer's rules (letters, upper- and lower-case letters,
numbers) are those of the SavedModel's regular-expression engine (RE2), listed in
``preprocessing.json`` when the export was written, so both read every character alike.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

try:  # in an export folder: the runtime shipped beside this file
    from rnn_apps_runtime import open_model
except ImportError:  # inside the rnn-apps package
    from recipes.core.model_runtime import open_model

#: sentences per call of the model, as ``rnn-apps predict`` batches them
BATCH = 256
#: the whitespace RE2's ``\s`` matches, and the ASCII whitespace that splits tokens
_RE2_SPACE, _ASCII_SPACE = "\t\n\f\r ", " \t\n\v\f\r"


def _char_class(ranges: list[list[int]]) -> str:
    """The inside of a ``[...]`` class of the code point ``ranges`` (inclusive)."""
    return "".join(f"\\U{a:08x}-\\U{b:08x}" if a < b else f"\\U{a:08x}" for a, b in ranges)


class Tokenizer:
    """The SavedModel's tokenizer and word shapes (``recipes.ner.features``), with the
    Unicode classes ``classes`` (code point ranges of ``letters``, ``upper``, ``lower``
    and ``numbers``)."""

    def __init__(self, classes: dict[str, list[list[int]]]):
        letter, upper, lower, number = (
            _char_class(classes[k]) for k in ("letters", "upper", "lower", "numbers")
        )
        punct = f"[^{letter}{number}{_RE2_SPACE}@#_]"
        nonspace = f"[^{_RE2_SPACE}]"
        self._rules = [
            (re.compile(f"[{_RE2_SPACE}]+"), " "),
            (re.compile(f"(^| )((?:https?://|www\\.){nonspace}+)"), r"\1\2 "),
            *[
                (re.compile(f"([{letter}{number}_])({punct}+)( |\\Z)"), r"\1 \2\3"),
                (re.compile(f"(^| )({punct}+)([{letter}{number}@#_])"), r"\1\2 \3"),
            ]
            * 2,
            *[(re.compile(f"(^| )({punct})({punct}+)( |\\Z)"), r"\1\2 \3\4")] * 3,
            (re.compile(f"(?i)([{letter}])(n't)( |\\Z)"), r"\1 \2\3"),
            (re.compile(f"(?i)([{letter}])('(?:s|re|ll|ve|d|m))( |\\Z)"), r"\1 \2\3"),
        ]
        self._order = [
            (i, re.compile(pattern))
            for i, pattern in [
                (6, f"[{letter}{number}'’.,:/_-]+"),
                (4, f"[{letter}'’.-]+"),
                (1, f"[{lower}]+"),
                (2, f"[{upper}]+"),
                (3, f"[{upper}][{lower}'’.-]+"),
                (5, f"[{number}.,:/-]+"),
                (7, f"[^{letter}{number}]+"),
                (8, r"@[0-9A-Za-z_]+"),
                (9, r"#[0-9A-Za-z_]+"),
                (10, f"(?:https?://|www\\.){nonspace}+"),
            ]
        ]

    def tokenize(self, sentence: str) -> list[str]:
        """The tokens of ``sentence``: split at whitespace; URLs whole; punctuation at a
        word's start or end split off (one token per mark of a run); ``n't``, ``'s``,
        ``'re``, ``'ll``, ``'ve``, ``'d``, ``'m`` split off."""
        for pattern, replacement in self._rules:
            sentence = pattern.sub(replacement, sentence)
        return [t for t in re.split(f"[{_ASCII_SPACE}]+", sentence.strip(_ASCII_SPACE)) if t]

    def shape_id(self, token: str) -> int:
        """The shape class of ``token`` (1: ``x``, 2: ``X``, 3: ``Xx``, 4: ``xX``,
        5: ``d``, 6: ``dx``, 7: ``.``, 8: ``@``, 9: ``#``, 10: ``url``; 0: other); a
        later class of the list wins."""
        shape = 0
        for index, pattern in self._order:
            if pattern.fullmatch(token):
                shape = index
        return shape


def entities(tokens: list[str], tags: list[str]) -> list[dict]:
    """Entity spans of IOB2 tags: ``{"type", "start", "end", "text"}`` (token indexes,
    ``end`` exclusive; an ``I-`` tag without its ``B-`` starts a span)."""
    spans, start, kind = [], None, None
    for i, tag in enumerate([*tags, "O"]):
        if start is not None and not (tag.startswith("I-") and tag[2:] == kind):
            spans.append(
                {"type": kind, "start": start, "end": i, "text": " ".join(tokens[start:i])}
            )
            start = kind = None
        if tag.startswith("B-") or (tag.startswith("I-") and start is None):
            start, kind = i, tag[2:]
    return spans


class Lexicons:
    """The run's lexicons (``preprocessing.json``'s ``lexicons``, if any) and the features
    ``frequency_ids`` and ``gazetteer_ids`` of token lists."""

    def __init__(self, config: dict):
        lexicons = config.get("lexicons", {})
        self.longest = config.get("max_entry_words", 0)
        self.frequency = lexicons.get("frequency")
        self.gazetteers = [
            set(lexicons[name])
            for name in ("places", "first_names", "last_names")
            if name in lexicons
        ]

    def features(self, token_lists: list[list[str]]) -> dict[str, np.ndarray]:
        """The lexicon features of a batch of token lists, padded (none without
        lexicons)."""
        words = max((len(t) for t in token_lists), default=0)
        lower = [[token.lower() for token in tokens] for tokens in token_lists]
        features = {}
        if self.frequency is not None:
            frequency_ids = np.zeros((len(token_lists), words), np.int64)
            for row, tokens in enumerate(lower):
                for column, token in enumerate(tokens):
                    zipf = self.frequency.get(token)
                    frequency_ids[row, column] = 1 if zipf is None else 2 + zipf
            features["frequency_ids"] = frequency_ids
        if self.gazetteers:
            inside = np.zeros((len(token_lists), words, len(self.gazetteers)), np.int64)
            for row, tokens in enumerate(lower):
                for start in range(len(tokens)):
                    for n in range(1, min(self.longest, len(tokens) - start) + 1):
                        key = " ".join(tokens[start : start + n])
                        for column, entries in enumerate(self.gazetteers):
                            if key in entries:
                                inside[row, start : start + n, column] = 1
            features["gazetteer_ids"] = inside
        return features


class Tagger:
    """The model of an export folder with its vocabularies and tag names."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        self.config = json.loads((folder / "preprocessing.json").read_text(encoding="utf-8"))
        self.model = open_model(folder)
        self.tokenizer = Tokenizer(self.config["classes"])
        self._words = {w: i for i, w in enumerate(self.config["words"], start=2)}
        self._chars = {c: i for i, c in enumerate(self.config["chars"], start=2)}
        self.lexicons = Lexicons(self.config)

    def features(self, token_lists: list[list[str]]) -> dict[str, np.ndarray]:
        """The model's inputs for a batch of token lists."""
        width = self.config["max_word_length"]
        words = max((len(t) for t in token_lists), default=0)
        word_ids = np.zeros((len(token_lists), words), np.int64)
        char_ids = np.zeros((len(token_lists), words, width), np.int64)
        shape_ids = np.zeros((len(token_lists), words), np.int64)
        for row, tokens in enumerate(token_lists):
            for column, token in enumerate(tokens):
                word_ids[row, column] = self._words.get(token.lower(), 1)
                chars = [self._chars.get(c, 1) for c in token[:width]]
                char_ids[row, column, : len(chars)] = chars
                shape_ids[row, column] = self.tokenizer.shape_id(token)
        features = {"word_ids": word_ids, "char_ids": char_ids, "shape_ids": shape_ids}
        return {**features, **self.lexicons.features(token_lists)}

    def run(self, token_lists: list[list[str]]) -> dict[str, np.ndarray]:
        """The model's ``tag_ids`` and ``scores`` for a batch of token lists."""
        return self.model.run(self.features(token_lists))

    def tag(self, token_lists: list[list[str]]) -> list[list[str]]:
        """The IOB2 tags of each token list (in batches of :data:`BATCH`)."""
        names = self.config["tags"]
        nonempty = [tokens for tokens in token_lists if tokens]
        ids: list[np.ndarray] = []
        for start in range(0, len(nonempty), BATCH):
            ids += list(self.run(nonempty[start : start + BATCH])["tag_ids"])
        rows = iter(ids)
        return [
            [names[i - 1] if i else "O" for i in next(rows)[: len(tokens)]] if tokens else []
            for tokens in token_lists
        ]

    def predict(self, sentences: list[str]) -> list[dict]:
        """One ``{"text", "tokens", "tags", "entities"}`` per sentence, as
        ``rnn-apps predict`` prints it."""
        token_lists = [self.tokenizer.tokenize(s) for s in sentences]
        return [
            {"text": s, "tokens": tokens, "tags": tags, "entities": entities(tokens, tags)}
            for s, tokens, tags in zip(sentences, token_lists, self.tag(token_lists), strict=True)
        ]


def load(folder: str | Path) -> Tagger:
    """The export in ``folder`` (every ONNX and TFLite export's ``inference.py`` has this
    function)."""
    return Tagger(folder)
