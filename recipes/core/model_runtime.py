"""The model file of an ONNX or TFLite export, run by the runtime of its format.

``rnn-apps export --format onnx|tflite`` ships this file beside each recipe's
``inference.py`` as ``rnn_apps_runtime.py``; it needs the standard library, NumPy and
either onnxruntime (``model.onnx``) or a TFLite interpreter (``model.tflite``: the
``ai-edge-litert`` package's, else TensorFlow's ``tf.lite.Interpreter``, which also runs
Flex ops). Neither TensorFlow nor rnn-apps is needed for ONNX.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np


class Model:
    """``model.onnx`` or ``model.tflite`` (by its suffix): named inputs in, named outputs
    out, both as NumPy arrays; the batch and variable dimensions follow the inputs."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.suffix == ".onnx":
            import onnxruntime

            session = onnxruntime.InferenceSession(
                str(self.path), providers=["CPUExecutionProvider"]
            )
            self.inputs = [i.name for i in session.get_inputs()]
            self.outputs = [o.name for o in session.get_outputs()]
            self._run = lambda feeds: dict(
                zip(self.outputs, session.run(self.outputs, feeds), strict=True)
            )
        else:
            runner = _tflite_interpreter(self.path).get_signature_runner()
            details = runner.get_input_details()
            self.inputs = list(details)
            self.outputs = list(runner.get_output_details())
            dtypes = {name: d["dtype"] for name, d in details.items()}
            # the signature runner resizes its inputs to each call's shapes
            self._run = lambda feeds: runner(
                **{name: np.asarray(v, dtypes[name]) for name, v in feeds.items()}
            )

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The outputs by name for the inputs ``feeds`` (by name)."""
        return self._run(feeds)


def _tflite_interpreter(path: Path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():  # tf.lite.Interpreter warns that LiteRT replaces it
        warnings.simplefilter("ignore")
        return Interpreter(model_path=str(path))


def open_model(folder: str | Path, stem: str = "model") -> Model:
    """The model ``stem`` of the export ``folder``: ``stem.onnx``, else ``stem.tflite``."""
    folder = Path(folder)
    onnx = folder / f"{stem}.onnx"
    return Model(onnx if onnx.exists() else folder / f"{stem}.tflite")
