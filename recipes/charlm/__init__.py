"""Character language models: the shared core of ``char_text`` and ``char_music``.

- ``config.py``: :class:`CharLMConfig`, the settings both generators extend, and the
  generation options' checks.
- ``recipe.py``: :class:`CharLM`: corpus windows, model, bits per character, the task
  verb ``generate``, export.
- ``generation.py``: generation in the graph: primes fed, characters sampled in one
  compiled loop (temperature, top-k, top-p); the same loop for the ONNX export.
- ``onnx_inference.py``: the ONNX export's ``inference.py`` (NumPy and onnxruntime only):
  primes in, predict's dicts out; TensorFlow's stateless uniform numbers in NumPy.
"""

from recipes.core.exports import lazy

__all__ = ["CharLM", "CharLMConfig"]
__getattr__, __dir__ = lazy(__name__, {"CharLM": "recipe", "CharLMConfig": "config"})
