"""TFLite export: a recipe's numeric model converted by TensorFlow's TFLite converter.

As with ONNX (:mod:`recipes.core.onnx`), the strings around the model (tokenizing, looking
words up, naming labels) are done by the export's ``inference.py`` with NumPy, from
``preprocessing.json``; the model file is ``model.tflite``. Only TFLite's builtin ops are
used: a model that would need TensorFlow ops ("Flex" ops, which neither TensorFlow's
``tf.lite.Interpreter`` nor ``ai-edge-litert`` runs from Python without a delegate built
for it) is refused in one line that names those ops.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path
from typing import Any

import tensorflow as tf

from recipes.core.errors import UserError

#: the file of the model in a TFLite export
MODEL_FILE = "model.tflite"


@contextlib.contextmanager
def native_stderr_discarded():
    """The converter's native code writes its errors to file descriptor 2 itself; the
    user gets them as one line of :class:`UserError` instead."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def flex_ops(model: bytes) -> list[str]:
    """The TensorFlow ops a converted model keeps as Flex ops (none: builtins only)."""
    return sorted({name.decode()[4:] for name in re.findall(rb"Flex[A-Z][A-Za-z0-9]+", model)})


def convert(
    function: Any,
    what: str,
    path: Path,
    quantize: str | None = None,
) -> None:
    """Converts the ``tf.function`` ``function`` (an input signature of named TensorSpecs,
    a dict of named outputs) into ``path``, its variables frozen into constants (the
    converter reads resource variables inside loops wrongly: NaN outputs).

    Args:
        quantize: None (float32) or ``"float16"`` (weights stored as float16). int8,
            which needs a calibration set and ops kept in float, is the trigger word's
            own (:func:`recipes.trigger_word.streaming.tflite_model`).

    Raises:
        UserError: TFLite's builtin ops cannot run the model (``what`` and the Flex ops it
            would need named), or the converter failed (its own message, first line).
    """

    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    if quantize not in (None, "float16"):
        raise ValueError(f"Expected quantize None or 'float16', got {quantize!r}.")
    traced = function.get_concrete_function()
    frozen = convert_variables_to_constants_v2(traced)
    names = sorted(traced.structured_outputs)  # the frozen outputs' order (nest.flatten)

    @tf.function(input_signature=traced.structured_input_signature[0])
    def named(*inputs):  # the outputs named again in the model's signature
        return dict(zip(names, frozen(*inputs), strict=True))

    def converter(builtins_only: bool) -> tf.lite.TFLiteConverter:
        made = tf.lite.TFLiteConverter.from_concrete_functions(
            [named.get_concrete_function()], tf.Module()
        )
        made.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS] + (
            [] if builtins_only else [tf.lite.OpsSet.SELECT_TF_OPS]
        )
        if not builtins_only:  # TensorLists stay TensorFlow's rather than fail to lower
            made._experimental_lower_tensor_list_ops = False
        if quantize == "float16":
            made.optimizations = [tf.lite.Optimize.DEFAULT]
            made.target_spec.supported_types = [tf.float16]
        return made

    try:
        with native_stderr_discarded():
            model = converter(builtins_only=True).convert()
    except Exception as err:  # noqa: BLE001 - the converter raises many kinds
        try:  # which ops would be Flex ops
            with native_stderr_discarded():
                needed = ", ".join(flex_ops(converter(builtins_only=False).convert()))
        except Exception:  # noqa: BLE001
            needed = ""
        if needed:
            raise UserError(
                f"{what} has no TFLite export: TFLite's builtin ops cannot run {needed} "
                "(TensorFlow ops, which TFLite's Python interpreters do not run); export "
                "ONNX (--format onnx) or a SavedModel (--format saved_model) instead."
            ) from None
        first = str(err).strip().splitlines()
        raise UserError(
            f"the TFLite converter could not convert {what} ({type(err).__name__}: "
            f"{first[0] if first else ''}); export ONNX (--format onnx) or a SavedModel "
            "(--format saved_model) instead."
        ) from None
    path.write_bytes(model)
