"""Entity-level scoring of IOB2 tags: entity spans, seqeval precision, recall and F1, and
the callback that adds the validation F1 to the training logs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras

from recipes.ner.conll import Tagged

if TYPE_CHECKING:
    from recipes.ner.recipe import NER

#: entity biases tried on the validation split after every epoch (``entity_bias = None``)
ENTITY_BIASES = tuple(0.25 * i for i in range(13))  # 0, 0.25, ..., 3


def entity_scores(truth: list[list[str]], predicted: list[list[str]]) -> dict[str, float]:
    """Entity-level ``precision``, ``recall``, ``f1`` (micro) and ``f1_<type>`` of IOB2 tag
    sequences (seqeval, in the CoNLL evaluation's way)."""
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    report = classification_report(truth, predicted, output_dict=True, zero_division=0)
    out = {
        "precision": float(precision_score(truth, predicted, zero_division=0)),
        "recall": float(recall_score(truth, predicted, zero_division=0)),
        "f1": float(f1_score(truth, predicted, zero_division=0)),
    }
    for kind, values in sorted(report.items()):
        if not kind.endswith(" avg"):
            out[f"f1_{kind}"] = float(values["f1-score"])
    return out


def entities(tokens: list[str], tags: list[str]) -> list[dict]:
    """Entity spans of IOB2 tags: ``{"type", "start", "end", "text"}``."""
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


class ValidationF1(keras.callbacks.Callback):
    """Adds ``val_f1`` (entity level, seqeval) to the logs after every epoch.

    With ``entity_bias = None`` the epoch's model first gets the entity bias with the
    best validation F1 (logged as ``val_entity_bias``), so epochs are compared, and the best
    one saved, as they will decode.
    """

    def __init__(self, recipe: NER, examples: Tagged):
        super().__init__()
        self.recipe, self.examples = recipe, examples

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not len(self.examples):
            return
        if self.recipe.config.entity_bias is None:
            logs["val_f1"] = max(self.recipe.calibrate_entity_bias(self.examples).values())
            logs["val_entity_bias"] = self.recipe.entity_bias
        else:
            logs["val_f1"] = self.recipe.metrics(self.examples)["f1"]
