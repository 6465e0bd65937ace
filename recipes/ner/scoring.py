"""Entity-level scoring of IOB2 tags: entity spans, seqeval precision, recall and F1, and
the callback that adds the validation F1 to the training logs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
import tensorflow as tf

from recipes.ner.conll import Tagged
from recipes.ner.onnx_inference import entities  # noqa: F401 - NumPy only, shipped in exports

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


def entity_spans(tokens: tf.RaggedTensor, tags: tf.RaggedTensor) -> dict[str, tf.Tensor]:
    """:func:`entities` of a batch, in the graph (for the export).

    Args:
        tokens, tags: ``[batch, (tokens)]`` strings, the tags IOB2.

    Returns:
        ``entity_type``, ``entity_text`` (strings, "" padding), ``entity_start`` and
        ``entity_end`` (int32 token indexes, ``end`` exclusive, -1 padding), each
        ``[batch, most entities of a row]``.
    """
    prefix = tf.strings.substr(tags.values, 0, 2)
    is_b, is_i = tf.equal(prefix, "B-"), tf.equal(prefix, "I-")
    inside = is_b | is_i
    kind = tf.where(inside, tf.strings.regex_replace(tags.values, "^[BI]-", ""), "")
    rows_of = tags.value_rowids()
    position = tf.cast(
        tf.range(tf.size(tags.values, out_type=rows_of.dtype))
        - tf.gather(tags.row_starts(), rows_of),
        tf.int32,
    )
    # a token continues the entity before it (a row's first token never does)
    continues = (
        is_i
        & (position > 0)
        & tf.concat([[False], inside[:-1]], 0)
        & tf.equal(tf.concat([[""], kind[:-1]], 0), kind)
    )
    starts = inside & ~continues
    # the tokens inside entities, each with its entity's index
    entity = tf.cumsum(tf.cast(starts, tf.int32)) - 1
    count = tf.reduce_sum(tf.cast(starts, tf.int32))
    where = tf.where(inside)[:, 0]
    ids = tf.gather(entity, where)
    start = tf.math.unsorted_segment_min(tf.gather(position, where), ids, count)
    end = tf.math.unsorted_segment_max(tf.gather(position, where), ids, count) + 1
    text = tf.strings.unsorted_segment_join(
        tf.gather(tokens.values, where), ids, count, separator=" "
    )
    begins = tf.where(starts)[:, 0]
    rows = tf.gather(rows_of, begins)

    def padded(values, default):
        ragged = tf.RaggedTensor.from_value_rowids(values, rows, nrows=tags.nrows())
        return ragged.to_tensor(default)

    return {
        "entity_type": padded(tf.gather(kind, begins), ""),
        "entity_start": padded(start, -1),
        "entity_end": padded(end, -1),
        "entity_text": padded(text, ""),
    }


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
