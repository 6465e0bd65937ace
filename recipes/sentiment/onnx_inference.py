"""The sentiment classifier's ONNX or TFLite export on raw texts, with NumPy.

``rnn-apps export RUN --format onnx`` (or ``--format tflite``) writes this file beside
``model.onnx`` (``model.tflite``) as ``inference.py``, with the vocabularies in
``preprocessing.json`` and the runtime in ``rnn_apps_runtime.py``; for ONNX it needs
neither TensorFlow nor rnn-apps, only NumPy and onnxruntime::

    import sys
    sys.path.insert(0, "exported/reviews-onnx")  # the export folder
    import inference

    model = inference.load("exported/reviews-onnx")
    print(model.predict(["a great film"]))
    # [{'text': 'a great film', 'label': 'pos', 'probabilities': {'neg': 0.02, 'pos': 0.98}}]

:func:`token_ids` reads a text as the SavedModel's ``TextVectorization`` does: ASCII
letters lowercased, the ASCII punctuation ``!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'`` removed,
split at runs of ASCII whitespace, each word looked up (1: not in the vocabulary), cut
or padded with 0 to ``max_length`` words.
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

_PUNCTUATION = re.compile(r"[!\"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~']")
_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def words(text: str) -> list[str]:
    """The words of ``text`` as the classifier reads them."""
    standard = _PUNCTUATION.sub("", text.translate(_ASCII_LOWER))
    return [w for w in _WHITESPACE.split(standard) if w]


def token_ids(texts: list[str], vocabulary: list[str], max_length: int) -> np.ndarray:
    """``[len(texts), max_length]`` int64 ids: index in ``vocabulary`` (its first two
    entries are the padding "" and the unknown word), 1 for other words, 0 padding."""
    index = {word: i for i, word in enumerate(vocabulary) if i >= 2}
    ids = np.zeros((len(texts), max_length), np.int64)
    for row, text in enumerate(texts):
        found = [index.get(w, 1) for w in words(text)][:max_length]
        ids[row, : len(found)] = found
    return ids


class Classifier:
    """The model of an export folder with its vocabularies and label names."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        self.config = json.loads((folder / "preprocessing.json").read_text(encoding="utf-8"))
        self.model = open_model(folder)

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """``[len(texts), labels]`` float32, the columns in the order of ``labels``."""
        length = self.config["max_length"]
        feeds = {
            name: token_ids(texts, vocabulary, length)
            for name, vocabulary in self.config["inputs"].items()
        }
        return self.model.run(feeds)["probabilities"]

    def predict(self, texts: list[str]) -> list[dict]:
        """One ``{"text", "label", "probabilities"}`` per text, as ``rnn-apps predict``
        prints it (probabilities rounded to 6 decimals, named by their labels)."""
        labels = self.config["labels"]
        if not texts:
            return []
        return [
            {
                "text": text,
                "label": labels[int(np.argmax(row))],
                "probabilities": {
                    name: round(float(p), 6) for name, p in zip(labels, row, strict=True)
                },
            }
            for text, row in zip(texts, self.probabilities(texts), strict=True)
        ]


def load(folder: str | Path) -> Classifier:
    """The export in ``folder`` (every ONNX and TFLite export's ``inference.py`` has this
    function)."""
    return Classifier(folder)
