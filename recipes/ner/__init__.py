"""Named-entity tagger: BiLSTM over word and character features, CRF (many-to-many).

- ``config.py``: :class:`NERConfig`.
- ``recipe.py``: :class:`NER`: data, vocabularies, model, entity bias, tagging, export.
- ``conll.py``: tagged sentences read: CoNLL files, folders of split files, tfds sets.
- ``features.py``: the tokenizer, word shapes and model inputs, in the graph.
- ``tagger.py``: the Keras pieces: word dropout, character features, CRF and softmax
  tagging models.
- ``scoring.py``: entity spans, seqeval scores, the validation-F1 callback.
"""

from recipes.core.exports import lazy

__all__ = ["NER", "NERConfig"]
__getattr__, __dir__ = lazy(__name__, {"NER": "recipe", "NERConfig": "config"})
