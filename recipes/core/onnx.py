"""ONNX export: a recipe's numeric model converted by tf2onnx (the ``onnx`` extra).

ONNX holds tensors, not the strings around them: what the SavedModel does to raw inputs in
its graph (tokenizing, looking words up, naming labels), an ONNX export does in a small
Python module shipped beside ``model.onnx``, ``inference.py``, which needs only NumPy and
onnxruntime and reads its vocabularies from ``preprocessing.json``
(:mod:`recipes.core.portable`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recipes.core.errors import UserError
from recipes.core.portable import INFERENCE_FILE, PREPROCESSING_FILE

__all__ = ["INFERENCE_FILE", "MODEL_FILE", "OPSET", "PREPROCESSING_FILE", "convert"]

#: the ONNX operator set the exports use (onnxruntime 1.17 and later run it)
OPSET = 17
#: the file of the model in an ONNX export (the others: :mod:`recipes.core.portable`)
MODEL_FILE = "model.onnx"


def require_tf2onnx():
    """The ``tf2onnx`` module, or a one-line error naming the extra to install."""
    try:
        import tf2onnx
    except ImportError:
        raise UserError(
            "--format onnx needs the onnx extra (tf2onnx is not installed): "
            "pip install 'rnn-apps[onnx]'"
        ) from None
    return tf2onnx


def convert(function: Any, signature: list, path: Path) -> list[str]:
    """Converts the ``tf.function`` ``function`` of ``signature`` (named TensorSpecs) into
    the ONNX model ``path``; returns its outputs' names (the keys of the function's dict).

    Raises:
        UserError: tf2onnx cannot convert an op (its own message, first line).
    """
    tf2onnx = require_tf2onnx()
    try:
        proto, _ = tf2onnx.convert.from_function(
            function, input_signature=signature, opset=OPSET, output_path=str(path)
        )
    except Exception as err:  # noqa: BLE001 - tf2onnx raises many kinds
        first = str(err).strip().splitlines()
        raise UserError(
            f"tf2onnx could not convert the model ({type(err).__name__}: "
            f"{first[0] if first else ''}); export a SavedModel instead (--format saved_model)."
        ) from None
    unknown = sorted(unsupported_ops(proto.graph))
    if unknown:  # tf2onnx keeps an op it cannot convert as it is, and warns
        path.unlink(missing_ok=True)
        raise UserError(
            f"tf2onnx could not convert the model (no ONNX operator for "
            f"{', '.join(unknown)}); export a SavedModel instead (--format saved_model)."
        )
    return [output.name for output in proto.graph.output]


def unsupported_ops(graph) -> set[str]:
    """The op types of ``graph`` (and its loops' and branches' subgraphs) that no ONNX
    operator set defines: TensorFlow ops tf2onnx left as they were."""
    import onnx

    found = set()
    for node in graph.node:
        if not onnx.defs.has(node.op_type, node.domain or ""):
            found.add(node.op_type)
        for attribute in node.attribute:
            for sub in [attribute.g, *attribute.graphs] if attribute.g.node else attribute.graphs:
                found |= unsupported_ops(sub)
    return found
