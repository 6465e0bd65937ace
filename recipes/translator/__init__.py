"""Seq2seq translator with attention and beam search (many-to-many).

- ``config.py``: :class:`TranslatorConfig`.
- ``recipe.py``: :class:`Translator`: data, vocabularies, model, translation, export.
- ``dates.py``: the embedded default data: generated date pairs.
- ``tokens.py``: special token ids, word and character tokenizers, vocabularies.
- ``buckets.py``: length buckets: training batches of pairs of similar lengths.
- ``attention.py``: :class:`EncoderAttention` (Bahdanau or Luong).
- ``decoding.py``: the decoder teacher-forced and by beam search (width 1: greedy).
- ``plots.py``: the attention weights of one translation as a heatmap.
- ``onnx_inference.py``: the ONNX export's ``inference.py`` (NumPy and onnxruntime only).
"""

from recipes.core.exports import lazy

__all__ = ["Translator", "TranslatorConfig"]
__getattr__, __dir__ = lazy(__name__, {"Translator": "recipe", "TranslatorConfig": "config"})
