"""The translator's ONNX export on raw texts, with NumPy and onnxruntime only.

``rnn-apps export RUN --format onnx`` writes this file beside ``model.onnx`` as
``inference.py``, with the vocabularies and settings in ``preprocessing.json``; it needs
neither TensorFlow nor rnn-apps::

    import sys
    sys.path.insert(0, "exported/translator-onnx")  # the export folder
    import inference

    model = inference.load("exported/translator-onnx")
    print(model.predict(["4 0 7"], beam_width=4, n_best=2))
    # [{'source': '4 0 7', 'translation': 'four zero seven.',
    #   'n_best': [{'translation': 'four zero seven.', 'score': -0.0123},
    #              {'translation': 'four zero eight.', 'score': -5.4321}]}]
    source_tokens, output_tokens, weights = model.attention("4 0 7")

``model.onnx`` is the numeric beam search, the whole of it in the graph (tf2onnx
converted every op; the search's ``tf.while_loop`` is an ONNX ``Loop``), one search
``widest_beam`` beams wide of which ``beam_width`` are live, as the SavedModel's
``translate`` signature, so that one model serves every beam width up to the widest:

- inputs: ``source_ids`` int64 ``[B, S]`` (:meth:`TranslatorONNX.source_ids`: the ids
  of the source tokens, padded with 0 to a length of ``buckets``); ``beam_width`` int64
  ``[]`` in ``[1, widest_beam]``; ``n_best`` int64 ``[]`` in ``[1, beam_width]``;
  ``max_length`` int64 ``[]`` (output tokens at most; 0: ``2 S + 10``);
  ``length_penalty`` float32 ``[]`` (alpha of the length normalization
  ``((5 + length) / 6) ** alpha``). The graph checks none of these ranges; this module
  does.
- outputs: ``tokens`` int64 ``[B, n_best, T]``: the ``n_best`` best beams of each source,
  best first, as target ids (the end token 3 included, padded with 0 to the longest);
  ``scores`` float32 ``[B, n_best]``: each beam's log-probability over its length
  penalty; ``attention`` float32 ``[B, T, S]``: the attention weights of the best beam's
  tokens over the source ids (0 in the rows of padding).

What runs here, outside the graph, is what the SavedModel does to strings in its graph:
tokenizing (:class:`Tokenizer`, ``tokens.py``'s regular expressions with the character
classes that the exporting TensorFlow's RE2 reads, shipped in ``preprocessing.json``),
looking the tokens up (1: out of vocabulary), padding to a bucket length, batching by
``batch_size`` as ``rnn-apps predict`` does, checking the options, and reading the ids
back as text (the vocabulary, then the tokenizer's join).
"""

from __future__ import annotations

import bisect
import json
import re
from pathlib import Path

import numpy as np

try:  # in an export folder: the runtime shipped beside this file
    from rnn_apps_runtime import open_model
except ImportError:  # inside the rnn-apps package
    from recipes.core.model_runtime import open_model

#: what TensorFlow's ``strings.strip`` and ``strings.split`` take for whitespace (ASCII)
_ASCII_SPACE = " \t\n\v\f\r"
_SPLIT = re.compile(f"[{re.escape(_ASCII_SPACE)}]+")


def _character_class(ranges: list[list[int]]) -> str:
    """The inside of a regular expression's ``[...]`` holding the code point ranges."""
    return "".join(
        f"\\U{first:08x}" if first == last else f"\\U{first:08x}-\\U{last:08x}"
        for first, last in ranges
    )


class Tokenizer:
    """Splits texts into tokens and joins tokens into texts as the SavedModel's graph.

    ``"chars"``: the Unicode code points. ``"words"`` (``tokens.py``'s ``split_words``):
    runs of ``space`` (RE2's ``\\s``: ASCII space, tab, newline, form feed and carriage
    return, not vertical tab) become one space and the text is stripped of ASCII
    whitespace (vertical tab included); a mark (any character neither a ``word``
    character (RE2's ``[\\pL\\pN_]``) nor a ``space`` nor the ``joiner``) is cut from a
    word before it and from a mark or word after it, the joiner on the side where no
    space stood; the tokens are the pieces between runs of ASCII whitespace. Case is
    kept. Joining words reverses it: joined with spaces, a joiner and a space on either
    side of it removed, runs of spaces made one, the ends stripped.
    """

    def __init__(self, kind: str, classes: dict[str, list[list[int]]], joiner: str):
        if kind not in ("chars", "words"):
            raise ValueError(f"Unknown tokens {kind!r}; expected chars or words.")
        self.kind, self.joiner = kind, joiner
        if kind == "words":
            word, space = _character_class(classes["word"]), _character_class(classes["space"])
            w, m = f"[{word}]", f"[^{word}{space}{_character_class([[ord(joiner)] * 2])}]"
            self._spaces = re.compile(f"[{space}]+")
            self._word_mark = re.compile(f"({w})({m})")
            self._mark_mark = re.compile(f"({m})({m})")
            self._mark_word = re.compile(f"({m})({w})")
            self._joined = re.compile(f" ?{re.escape(joiner)} ?")

    def split(self, text: str) -> list[str]:
        """The tokens of ``text``."""
        if self.kind == "chars":
            return list(text)
        j = self.joiner
        text = self._spaces.sub(" ", text).strip(_ASCII_SPACE)
        text = self._word_mark.sub(lambda g: f"{g[1]} {j}{g[2]}", text)
        for _ in range(3):  # as the graph: each pass splits every other boundary of a run
            text = self._mark_mark.sub(lambda g: f"{g[1]}{j} {g[2]}", text)
        text = self._mark_word.sub(lambda g: f"{g[1]}{j} {g[2]}", text)
        return [token for token in _SPLIT.split(text) if token]

    def join(self, tokens: list[str]) -> str:
        """The text of ``tokens`` (the inverse of :meth:`split`)."""
        if self.kind == "chars":
            return "".join(tokens)
        text = self._joined.sub("", " ".join(tokens))
        return re.sub(" +", " ", text).strip(_ASCII_SPACE)


def _checked(name: str, value, low, high, integer: bool, why: str = ""):
    """``value`` if it is an integer (or a number) in ``[low, high]``, else a ValueError
    worded as rnn-apps words it."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, kinds) or isinstance(value, bool) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {kind} in [{low}, {high}]{why}, got {value!r}.")
    return value


class TranslatorONNX:
    """``model.onnx`` of an export folder with its vocabularies, tokenizer and settings."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        self.config = json.loads((folder / "preprocessing.json").read_text(encoding="utf-8"))
        self.model = open_model(folder)
        c = self.config
        self.tokenizer = Tokenizer(c["tokens"], c["character_classes"], c["joiner"])
        ids = c["ids"]
        self._pad, self._unknown, self._end = ids["padding"], ids["unknown"], ids["end"]
        self._source_index = {t: i for i, t in enumerate(c["source_vocabulary"]) if i > 1}
        self._source_index[""] = self._pad  # the lookup's mask token (never a token)
        specials = {ids["padding"], ids["unknown"], ids["start"], ids["end"]}
        # ids -> tokens: the specials read as nothing in a text, the end token as </s>
        self._text_tokens = [
            "" if i in specials else t for i, t in enumerate(c["target_vocabulary"])
        ]
        self._output_tokens = [
            c["target_vocabulary"][i] if i == self._end else t
            for i, t in enumerate(self._text_tokens)
        ]

    # -- options -----------------------------------------------------------------------
    def _options(self, n: int, beam_width, length_penalty, max_length) -> tuple:
        c = self.config
        widest = c["widest_beam"]
        width = c["beam_width"] if beam_width is None else beam_width
        width = _checked(
            "beam_width", width, 1, widest, True, f" (the widest beam of this export, {widest})"
        )
        alpha = c["length_penalty"] if length_penalty is None else length_penalty
        alpha = _checked("length_penalty", alpha, 0, 10, False)
        max_length = c["max_length"] if max_length is None else max_length
        max_length = _checked("max_length", max_length, 0, 10000, True)
        if isinstance(n, np.integer):
            n = int(n)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= width:
            raise ValueError(
                f"n_best must be an integer in [1, {width}] (the beam width), got {n!r}."
            )
        return n, width, float(alpha), max_length

    # -- numbers -----------------------------------------------------------------------
    def source_ids(self, texts: list[str]) -> np.ndarray:
        """``[len(texts), S]`` int64: the ids of each text's tokens (1: out of the
        vocabulary), padded with 0 to ``S``, the shortest of ``buckets`` that holds the
        longest text (the SavedModel pads as much: the automatic ``max_length`` and the
        numbers depend on it)."""
        index, unknown = self._source_index, self._unknown
        rows = [[index.get(t, unknown) for t in self.tokenizer.split(text)] for text in texts]
        longest = max((len(row) for row in rows), default=0)
        buckets = self.config["buckets"]
        at = bisect.bisect_left(buckets, longest)
        if at == len(buckets):
            raise ValueError(f"A text of {longest} tokens is longer than {buckets[-1]}.")
        ids = np.full((len(texts), buckets[at]), self._pad, np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
        return ids

    def run(
        self,
        source_ids: np.ndarray,
        beam_width: int,
        n_best: int,
        max_length: int,
        length_penalty: float,
    ) -> dict[str, np.ndarray]:
        """``model.onnx`` itself: ``tokens``, ``scores`` and ``attention`` (the module's
        docstring), the inputs unchecked."""
        feeds = {
            "source_ids": np.asarray(source_ids, np.int64),
            "beam_width": np.array(beam_width, np.int64),
            "n_best": np.array(n_best, np.int64),
            "max_length": np.array(max_length, np.int64),
            "length_penalty": np.array(length_penalty, np.float32),
        }
        return self.model.run(feeds)

    def search(
        self,
        texts: list[str],
        n: int = 1,
        beam_width: int | None = None,
        length_penalty: float | None = None,
        max_length: int | None = None,
    ) -> list[dict]:
        """Per text, ``batch_size`` texts at a time (as ``rnn-apps predict``): the ``n``
        best ``translations`` (best first) with their ``scores`` (floats), and the best
        one's ``source_tokens``, ``output_tokens`` (as written, the end token ``</s>``
        last) and ``attention`` (``[len(output_tokens), len(source_tokens)]`` float32), as
        the SavedModel's ``translate`` signature. Defaults: ``preprocessing.json``'s."""
        n, width, alpha, max_length = self._options(n, beam_width, length_penalty, max_length)
        texts = [str(t) for t in texts]
        found = []
        for start in range(0, len(texts), self.config["batch_size"]):
            chunk = texts[start : start + self.config["batch_size"]]
            out = self.run(self.source_ids(chunk), width, n, max_length, alpha)
            for text, tokens, scores, weights in zip(
                chunk, out["tokens"], out["scores"], out["attention"], strict=True
            ):
                source = self.tokenizer.split(text)
                best = [int(i) for i in tokens[0] if i != self._pad]
                found.append(
                    {
                        "translations": [self._text(row) for row in tokens],
                        "scores": [float(x) for x in scores],
                        "source_tokens": source,
                        "output_tokens": [self._output_tokens[i] for i in best],
                        "attention": weights[: len(best), : len(source)],
                    }
                )
        return found

    def _text(self, ids: np.ndarray) -> str:
        return self.tokenizer.join([self._text_tokens[int(i)] for i in ids])

    # -- as the recipe's methods -------------------------------------------------------------
    def n_best(
        self,
        texts: list[str],
        n: int,
        beam_width: int | None = None,
        length_penalty: float | None = None,
        max_length: int | None = None,
    ) -> list[list[tuple[str, float]]]:
        """The ``n`` best translations of each text with their scores, best first (as
        ``Translator.n_best``)."""
        return [
            list(zip(f["translations"], f["scores"], strict=True))
            for f in self.search(texts, n, beam_width, length_penalty, max_length)
        ]

    def translate(
        self,
        texts: list[str],
        beam_width: int | None = None,
        length_penalty: float | None = None,
        max_length: int | None = None,
    ) -> list[str]:
        """The best translation of each text (as ``Translator.translate``)."""
        return [
            f["translations"][0]
            for f in self.search(texts, 1, beam_width, length_penalty, max_length)
        ]

    def attention(self, text: str, beam_width: int | None = None) -> tuple:
        """``(source tokens, output tokens, weights)`` of the best translation of ``text``
        (as ``Translator.attention``): ``weights[i, j]`` is the attention of output token
        ``i`` (the end token ``</s>`` last, unless ``max_length`` stopped the search) on
        source token ``j``. The output tokens are the ones the search wrote, as in the
        SavedModel's ``translate`` signature; ``Translator.attention`` splits the
        translation's text again, which differs where joined tokens split otherwise (two
        written ``￭.`` are the text ``..``, split as ``￭.￭ .``)."""
        [found] = self.search([text], 1, beam_width)
        return found["source_tokens"], found["output_tokens"], found["attention"]

    def predict(
        self, texts: list[str], beam_width: int | None = None, n_best: int | None = None
    ) -> list[dict]:
        """One ``{"source", "translation"}`` per text, as ``rnn-apps predict`` (and
        ``rnn-apps translate``) prints it; ``n_best`` above 1 adds ``"n_best"``: that many
        ``{"translation", "score"}``, best first, scores rounded to 4 decimals."""
        n = 1 if n_best is None else n_best
        results = []
        for source, best in zip(texts, self.n_best(texts, n, beam_width), strict=True):
            result = {"source": source, "translation": best[0][0]}
            if n > 1:
                result["n_best"] = [{"translation": t, "score": round(x, 4)} for t, x in best]
            results.append(result)
        return results


def load(folder: str | Path) -> TranslatorONNX:
    """The export in ``folder`` (every ONNX export's ``inference.py`` has this function)."""
    return TranslatorONNX(folder)
