"""What the ONNX and TFLite exports share: beside the model file, ``preprocessing.json``
(vocabularies, label names, settings), the recipe's ``inference.py`` (raw inputs in,
``rnn-apps predict``'s dicts out, with NumPy) and ``rnn_apps_runtime.py``
(:mod:`recipes.core.model_runtime`: the model file run by onnxruntime or a TFLite
interpreter)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from recipes.core.training import write_json

PREPROCESSING_FILE, INFERENCE_FILE = "preprocessing.json", "inference.py"
#: the name :mod:`recipes.core.model_runtime` has in an export
RUNTIME_FILE = "rnn_apps_runtime.py"


def write_portable(export_dir: Path, inference: str | Path, preprocessing: dict[str, Any]) -> None:
    """Writes ``preprocessing.json``, ``inference.py`` (a copy of the recipe's module
    ``inference``) and ``rnn_apps_runtime.py`` into ``export_dir``."""
    write_json(export_dir / PREPROCESSING_FILE, preprocessing)
    shutil.copyfile(inference, export_dir / INFERENCE_FILE)
    shutil.copyfile(Path(__file__).with_name("model_runtime.py"), export_dir / RUNTIME_FILE)
