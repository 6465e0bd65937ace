"""Named-entity tagger (many-to-many, one tag per token): BiLSTM with character features
and a CRF.

Reads top to bottom: settings, data, vocabularies and features, model, loss and metrics,
the entity bias, tagging, the run folder, export.

    words  -> Embedding (lower-cased vocabulary; word dropout to the unknown word,
              rare words most often)
    chars  -> Embedding -> Bidirectional(custom_layers LSTM) per word   (unseen names)
    shapes -> Embedding (Xxxx, xxxx, XXXX, dd, @mention, #tag, URL, ...)
    lexicons (optional, from PyPI packages, recipes.ner.lexicons):
      English word frequency -> Embedding; gazetteer matches (places, first and last
      names) -> 0/1 features
      -> concatenate -> Dropout -> Bidirectional(custom_layers LSTM) over the sentence
      -> Dense tag scores (+ the entity bias when decoding, chosen on validation)
      -> linear-chain CRF (or softmax)

Tokens, characters and shapes are looked up in ``tf.data`` and in the exported model
(which tokenizes raw sentences in the graph, :mod:`recipes.ner.features`), so the numeric
model (:mod:`recipes.ner.tagger`) stays XLA-compilable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import custom_layers as cl
from recipes.core.data import named_splits, split_examples
from recipes.core.errors import UserError
from recipes.core.recipe import Recipe, string_lookup
from recipes.core.training import WeightAverage
from recipes.ner.config import NERConfig
from recipes.ner.conll import Tagged, read_tagged
from recipes.ner.features import (
    SHAPES,
    lowercase_some,
    token_features,
    tokenize,
    unicode_classes,
)
from recipes.ner.lexicons import (
    FREQUENCY_IDS,
    LEXICONS_FILE,
    MAX_ENTRY_WORDS,
    LexiconTables,
    build_lexicons,
    load_lexicons,
    save_lexicons,
)
from recipes.ner.scoring import (
    ENTITY_BIASES,
    ValidationF1,
    entities,
    entity_scores,
    entity_spans,
)
from recipes.ner.tagger import (
    CharFeatures,
    CRFTagger,
    SoftmaxTagger,
    WordDropout,
    crf_constraints,
    input_names,
    rare_word_rates,
)

PAD_TAG = "<pad>"  # tag id 0: padding, never predicted


class NER(Recipe):
    """Named-entity tagger: word, character and shape features, BiLSTM, CRF."""

    name = "ner"
    config_class = NERConfig
    monitor = ("val_f1", "max")

    def __init__(self, config: NERConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        self.words: list[str] = []
        self.chars: list[str] = []
        self.tags: list[str] = []
        self.word_counts: list[int] = []  # training occurrences of each word
        self.lexicons: dict[str, Any] = {}  # recipes.ner.lexicons, as the options chose

    # -- data ----------------------------------------------------------------------------
    def load_examples(self, data: str) -> Tagged:
        parts = read_tagged(str(data), self.config.data_dir, self.config.tag_feature)
        for split in ("all", "test", "validation", "train"):
            if split in parts:
                return parts[split]
        raise UserError(f"{data}: no tagged sentences.")

    def load_splits(self, data: str | None):
        """A file is split deterministically; a folder's files are the splits (a missing
        validation file is carved from train, a missing test file leaves test empty)."""
        c = self.config
        parts = read_tagged(data or self.default_data, c.data_dir, c.tag_feature)
        if "all" in parts:
            return split_examples(parts["all"], c.validation_split, c.test_split, c.seed)
        return named_splits(parts, data or self.default_data, c.validation_split, c.seed)

    # -- vocabularies and features ----------------------------------------------------------
    def prepare(self, splits) -> None:
        from collections import Counter

        c = self.config
        train: Tagged = splits.train
        counts = Counter(w.lower() for sentence in train.tokens for w in sentence)
        kept = [w for w, n in counts.most_common() if n >= c.min_count]
        self.words = sorted(kept[: c.max_vocabulary])
        self.word_counts = [counts[w] for w in self.words]
        self.chars = sorted({ch for sentence in train.tokens for w in sentence for ch in w})
        self.tags = sorted({t for sentence in train.tags for t in sentence})
        if not any(t != "O" for t in self.tags):
            raise UserError("The training data has no entity tags (only O).")
        if c.lexicon_frequency or c.lexicon_places or c.lexicon_names:
            with self.progress("reading the lexicons"):
                self.lexicons = build_lexicons(
                    c.lexicon_frequency, c.lexicon_places, c.lexicon_names
                )
        self._make_lookups()

    def _make_lookups(self) -> None:
        # words: 0 padding, 1 unknown; chars likewise; tags: 0 padding
        self.word_lookup = string_lookup(self.words, mask_token="", num_oov_indices=1)
        self.char_lookup = string_lookup(self.chars, mask_token="", num_oov_indices=1)
        self.tag_lookup = string_lookup(self.tags, mask_token=PAD_TAG, num_oov_indices=0)
        self.lexicon_tables = LexiconTables(self.lexicons) if self.lexicons else None

    def features(self, tokens: tf.RaggedTensor) -> dict[str, tf.Tensor]:
        """Model inputs of a batch of token lists (ragged strings), padded."""
        lookups = self.word_lookup, self.char_lookup
        features = token_features(tokens, *lookups, self.config.max_word_length)
        if self.lexicon_tables is not None:
            features.update(self.lexicon_tables.features(tokens))
        return features

    def to_dataset(self, examples: Tagged, training: bool) -> tf.data.Dataset:
        c = self.config
        tokens = tf.ragged.constant(examples.tokens, dtype=tf.string)
        tags = tf.ragged.constant(examples.tags, dtype=tf.string)
        ds = tf.data.Dataset.from_tensor_slices((tokens, tags))
        if training:
            ds = ds.shuffle(len(examples), seed=c.seed, reshuffle_each_iteration=True)
            if c.lowercase_sentences:
                ds = lowercase_some(ds, c.lowercase_sentences, seed=c.seed + 1)
        ds = ds.ragged_batch(c.batch_size)
        tag_lookup = self.tag_lookup

        def encode(tokens, tags):
            return self.features(tokens), tf.cast(tag_lookup(tags).to_tensor(), tf.int32)

        return ds.map(encode, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    # -- model -----------------------------------------------------------------------------
    def build_model(self) -> keras.Model:
        c = self.config
        keras.utils.set_random_seed(c.seed)
        words = keras.Input((None,), dtype="int32", name="word_ids")
        chars = keras.Input((None, c.max_word_length), dtype="int32", name="char_ids")
        shapes = keras.Input((None,), dtype="int32", name="shape_ids")
        mask = keras.ops.not_equal(words, 0)
        rates = None  # one rate per word id, rare words most often, or one for all
        if c.rare_word_dropout:
            rates = rare_word_rates(self.word_counts, c.word_dropout, c.rare_word_dropout)
        word_ids = WordDropout(c.word_dropout, seed=c.seed, rates=rates, name="word_dropout")(words)
        w = keras.layers.Embedding(len(self.words) + 2, c.word_dim, name="word_embedding")(word_ids)
        ch = CharFeatures(len(self.chars) + 2, c.char_dim, c.char_units, name="char_features")(
            chars
        )
        sh = keras.layers.Embedding(len(SHAPES) + 1, c.shape_dim, name="shape_embedding")(shapes)
        inputs, parts = [words, chars, shapes], [w, ch, sh]
        if "frequency" in self.lexicons:
            frequency = keras.Input((None,), dtype="int32", name="frequency_ids")
            embedding = keras.layers.Embedding(FREQUENCY_IDS, c.lexicon_dim, name="frequency")
            inputs.append(frequency)
            parts.append(embedding(frequency))
        if self.lexicon_tables is not None and self.lexicon_tables.gazetteer_names:
            count = len(self.lexicon_tables.gazetteer_names)
            gazetteers = keras.Input((None, count), dtype="int32", name="gazetteer_ids")
            inputs.append(gazetteers)
            parts.append(keras.ops.cast(gazetteers, "float32"))
        x = keras.layers.Concatenate()(parts)
        x = keras.layers.Dropout(c.dropout, seed=c.seed)(x)
        x = keras.layers.Bidirectional(
            cl.LSTM(c.units, return_sequences=True), name="sentence_lstm"
        )(x, mask=mask)
        x = keras.layers.Dropout(c.dropout, seed=c.seed)(x)
        scores = keras.layers.Dense(len(self.tags) + 1, name="tag_scores")(x)
        encoder = keras.Model(inputs, scores)
        if c.output == "crf":
            names = [PAD_TAG, *self.tags]
            crf = cl.CRF(len(names), **crf_constraints(names, c.constrain_iob))
            model = CRFTagger(encoder, crf)
        else:
            model = SoftmaxTagger(encoder)
        model.compile(optimizer=self.optimizer(), jit_compile=self.jit_compile())
        self.model = model
        self.set_entity_bias(c.entity_bias or 0.0)
        return model

    # -- loss and metrics --------------------------------------------------------------------
    # the loss is the tagging model's own (tagger.py): the CRF's negative log-likelihood,
    # or per-token cross-entropy
    def metrics(self, examples: Tagged) -> dict[str, Any]:
        """Entity-level ``precision``, ``recall``, ``f1`` (micro) and ``f1_<type>``
        (seqeval, in the CoNLL evaluation's way)."""
        if len(examples) == 0:
            raise UserError("No sentences to score.")
        return entity_scores(examples.tags, self._names(self._tag_ids(examples.tokens)))

    def _names(self, ids: list[list[int]]) -> list[list[str]]:
        names = [PAD_TAG, *self.tags]
        return [[names[i] if i else "O" for i in row] for row in ids]

    def training_callbacks(self, splits) -> list[keras.callbacks.Callback]:
        c = self.config
        callbacks: list[keras.callbacks.Callback] = []
        if c.weight_average:  # first: the callbacks after it see the averaged weights
            callbacks.append(WeightAverage(c.weight_average))
        callbacks.append(ValidationF1(self, splits.validation))
        return callbacks

    # -- the entity bias -------------------------------------------------------------------
    def set_entity_bias(self, bias: float) -> None:
        """Adds ``bias`` to the scores of every entity tag (``B-*``, ``I-*``) when decoding:
        above 0, more entities (recall up, precision down)."""
        self._require_model()
        self.model.decode_bias.assign(float(bias) * self._entity_tags())

    def _entity_tags(self) -> np.ndarray:
        """1 for each entity tag (``B-*``, ``I-*``), 0 for padding and ``O``, by tag id."""
        names = [PAD_TAG, *self.tags]
        return np.array([0.0 if n in (PAD_TAG, "O") else 1.0 for n in names], np.float32)

    @property
    def entity_bias(self) -> float:
        """The entity bias of the model (see :meth:`set_entity_bias`)."""
        self._require_model()
        return float(np.asarray(self.model.decode_bias)[self._entity_tags().argmax()])

    def calibrate_entity_bias(
        self, examples: Tagged, biases: tuple[float, ...] | None = None
    ) -> dict[float, float]:
        """Sets the entity bias with the best entity F1 on ``examples`` (the smallest of
        equals) among ``biases`` (default :data:`ENTITY_BIASES`).

        Returns:
            The F1 at every bias tried.
        """
        from seqeval.metrics import f1_score

        biases = [float(b) for b in (ENTITY_BIASES if biases is None else biases)]
        if not len(examples) or not biases:
            raise UserError("No sentences to score." if biases else "No entity biases to try.")
        decoded = self._tag_ids_at(examples.tokens, biases)
        scores = {
            bias: float(f1_score(examples.tags, self._names(ids), zero_division=0))
            for bias, ids in zip(biases, decoded, strict=True)
        }
        self.set_entity_bias(max(scores, key=lambda b: (scores[b], -b)))
        return scores

    def finish_training(self, splits) -> dict[str, Any]:
        if self.config.entity_bias is not None or not len(splits.validation):
            return {}
        with self.progress(f"choosing the entity bias on {len(splits.validation)} sentences"):
            scores = self.calibrate_entity_bias(splits.validation)
        return {"entity_bias": self.entity_bias, "val_f1_unbiased": scores[0.0]}

    # -- tagging ---------------------------------------------------------------------------
    def tag(self, sentences: list[str] | list[list[str]]) -> list[dict]:
        """Tags and entities of raw sentences (tokenized by :func:`tokenize`) or token lists.

        Returns:
            One dict per sentence: ``tokens``, ``tags`` (IOB2) and ``entities``, each
            ``{"type", "start", "end", "text"}`` (token indexes, ``end`` exclusive).
        """
        token_lists = [
            [t.decode("utf-8") for t in tokenize(tf.constant([s]))[0].numpy()]
            if isinstance(s, str)
            else [str(t) for t in s]
            for s in sentences
        ]
        results = []
        nonempty = [t for t in token_lists if t]
        names = iter(self._names(self._tag_ids(nonempty))) if nonempty else iter([])
        for tokens in token_lists:
            tags = next(names) if tokens else []
            results.append({"tokens": tokens, "tags": tags, "entities": entities(tokens, tags)})
        return results

    def predict(self, inputs: list[str]) -> list[dict]:
        """:meth:`tag` of each input sentence."""
        return [{"text": s, **r} for s, r in zip(inputs, self.tag(inputs), strict=True)]

    def _tag_ids(self, tokens: list[list[str]]) -> list[list[int]]:
        return self._tag_ids_at(tokens, [None])[0]

    def _tag_ids_at(
        self, tokens: list[list[str]], biases: list[float | None]
    ) -> list[list[list[int]]]:
        """Tag ids of every sentence, decoded once per entity bias (``None``: the model's
        own); the network runs once, only the decoding is repeated."""
        self._require_model()
        encode = self._compiled("encode", self._encoder)
        best_tags = self._compiled(
            "best_tags", lambda: tf.function(self.model.best_tags, reduce_retracing=True)
        )
        entity = tf.constant(self._entity_tags())
        out: list[list[list[int]]] = [[] for _ in biases]
        for start in self.counted(range(0, len(tokens), 256), "batches"):
            part = tokens[start : start + 256]
            ragged = tf.ragged.constant(part, dtype=tf.string, ragged_rank=1)
            scores, mask = encode(ragged.to_tensor(), ragged.row_lengths())
            for rows, bias in zip(out, biases, strict=True):
                shift = self.model.decode_bias if bias is None else bias * entity
                ids = best_tags(scores + shift, mask).numpy()
                rows += [list(row[: len(s)]) for row, s in zip(ids, part, strict=True)]
        return out

    def _encoder(self):
        model = self.model

        def encode(padded, lengths):
            features = self.features(tf.RaggedTensor.from_tensor(padded, lengths=lengths))
            return model.scores(features), tf.not_equal(features["word_ids"], 0)

        return tf.function(encode, reduce_retracing=True)

    # -- run folder ----------------------------------------------------------------------------
    def save_assets(self, run_dir: Path) -> None:
        assets = {
            "words": self.words,
            "chars": self.chars,
            "tags": self.tags,
            "word_counts": self.word_counts,
        }
        (run_dir / "vocabulary.json").write_text(
            json.dumps(assets, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        if self.lexicons:
            save_lexicons(self.lexicons, run_dir)

    def load_assets(self, run_dir: Path) -> None:
        try:
            assets = json.loads((run_dir / "vocabulary.json").read_text(encoding="utf-8"))
            self.words, self.chars, self.tags = assets["words"], assets["chars"], assets["tags"]
            self.word_counts = assets.get("word_counts", [])  # only training reads them
        except (OSError, KeyError, json.JSONDecodeError) as err:
            raise UserError(f"{run_dir}: vocabulary.json unreadable ({err}).") from None
        c = self.config
        self.lexicons = {}
        if c.lexicon_frequency or c.lexicon_places or c.lexicon_names:
            if not (run_dir / LEXICONS_FILE).is_file():
                raise UserError(
                    f"{run_dir}: {LEXICONS_FILE} is missing, which its config's lexicons "
                    "need; copy the whole run folder, or fit the run again."
                )
            self.lexicons = load_lexicons(run_dir)
        self._make_lookups()

    # -- export --------------------------------------------------------------------------------
    def serving_resources(self) -> list:
        tables = [] if self.lexicon_tables is None else [self.lexicon_tables]
        return [self.word_lookup, self.char_lookup, *tables, self.model]

    def serving_signature(self) -> list[tf.TensorSpec]:
        return [tf.TensorSpec([None], tf.string, name="sentence")]

    def write_onnx(self, export_dir: Path) -> None:
        """``model.onnx`` (the features of token lists -> ``tag_ids`` and ``scores``, the
        entity bias applied), ``preprocessing.json`` (vocabularies, tag names,
        ``max_word_length`` and the tokenizer's Unicode classes as RE2 reads them) and
        ``inference.py`` (:mod:`recipes.ner.onnx_inference`: raw sentences in, predict's
        dicts out, with NumPy and onnxruntime only)."""
        from recipes.core import onnx

        onnx.convert(*self._numeric_function(), export_dir / onnx.MODEL_FILE)
        self._write_portable(export_dir)

    def write_tflite(self, export_dir: Path, quantize: str | None = None) -> None:
        """Refused in one line: TFLite's builtin ops cannot run the tagger, whose LSTMs
        write their per-step outputs to TensorLists of a batch of unknown size
        (``TensorListReserve``, ...: Flex ops). :func:`recipes.core.tflite.convert` names
        them."""
        from recipes.core import tflite

        numeric, _ = self._numeric_function()
        tflite.convert(numeric, self.name, export_dir / tflite.MODEL_FILE, quantize)
        self._write_portable(export_dir)

    def _numeric_function(self):
        """The features of token lists -> ``tag_ids`` (the entity bias applied) and
        ``scores``."""
        self._require_model()
        model = self.model
        names = input_names(model.encoder)
        signature = [
            tf.TensorSpec([None, *tensor.shape[1:]], tf.int64, name=name)
            for name, tensor in zip(names, model.encoder.inputs, strict=True)
        ]

        @tf.function(input_signature=signature)
        def numeric(*ids):
            inputs = {n: tf.cast(i, tf.int32) for n, i in zip(names, ids, strict=True)}
            scores = model.scores(inputs) + model.decode_bias
            mask = tf.not_equal(inputs["word_ids"], 0)
            return {"tag_ids": model.best_tags(scores, mask), "scores": scores}

        return numeric, signature

    def _write_portable(self, export_dir: Path) -> None:
        from recipes.core.portable import write_portable

        preprocessing = {
            "max_word_length": self.config.max_word_length,
            "words": self.words,
            "chars": self.chars,
            "tags": self.tags,
            "classes": unicode_classes(),
            "lexicons": self.lexicons,
            "max_entry_words": MAX_ENTRY_WORDS,
        }
        write_portable(export_dir, Path(__file__).with_name("onnx_inference.py"), preprocessing)

    def serving_function(self):
        """Raw sentences in; ``tokens`` and ``tags`` (padded with "") and the entity spans
        of :func:`~recipes.ner.scoring.entity_spans` out."""
        model = self.model
        names = tf.constant(["", *self.tags])

        def serve(sentence):
            tokens = tokenize(sentence)
            ids = model.decode(self.features(tokens))
            tags = tf.RaggedTensor.from_tensor(tf.gather(names, ids), lengths=tokens.row_lengths())
            return {
                "tokens": tokens.to_tensor(),
                "tags": tags.to_tensor(),
                **entity_spans(tokens, tags),
            }

        return serve
