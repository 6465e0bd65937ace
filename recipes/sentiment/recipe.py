"""Sentiment classifier (many-to-one): a text in, a label with probabilities out.

Reads top to bottom: settings, data, model, training, inference, export.

    TextVectorization (in the tf.data pipeline and in the exported model)
      -> Embedding(mask_zero=True) [+ the word's prior polarity from a sentiment lexicon]
      -> Bidirectional(custom_layers LSTM or GRU) -> Dense logits

The lexicon (VADER's, 7,500 words rated by people; ``lexicon = "vader"``; or AFINN's, or
both averaged) gives each word a
polarity that does not depend on the training data, so words the training texts never
used ("delicious" in restaurant reviews after training on phone reviews) still count. As
in VADER, a polarity is reversed and weakened (x -0.74) when one of the three words before
it is a negation ("not", "never", "didnt", ...).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import custom_layers as cl
from recipes.core.data import (
    TFDS_PREFIX,
    Examples,
    Splits,
    named_splits,
    read_labelled_text,
    read_tfds,
    split_examples,
)
from recipes.core.errors import UserError
from recipes.core.recipe import Recipe
from recipes.sentiment.config import SentimentConfig
from recipes.sentiment.layers import (
    MaskedMaxPooling,
    NegatedPolarity,
    PolaritySums,
    ZeroUnknown,
)
from recipes.sentiment.lexicon import LEXICON_FILE, lexicon_of


# -- settings ---------------------------------------------------------------------------
class Sentiment(Recipe):
    """Text classification with a bidirectional LSTM/GRU (binary or multi-class)."""

    name = "sentiment"
    config_class = SentimentConfig
    monitor = ("val_accuracy", "max")

    def __init__(self, config: SentimentConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        self.vectorizer: keras.layers.TextVectorization | None = None
        self.labels: list[str] = []
        #: the lexicon's words (as the vectorizer standardizes them) -> (polarity, whether
        #: the word negates the words after it)
        self.lexicon: dict[str, tuple[float, bool]] = {}
        self.lexicon_vectorizer: keras.layers.TextVectorization | None = None

    # -- data ------------------------------------------------------------------------
    def _read_local(self, source: str) -> Examples:
        c = self.config
        return read_labelled_text(source, c.text_column, c.label_column, c.header)

    def _read_tfds(self, source: str) -> dict[str, Examples]:
        """A tfds data set's splits; text and label are its features named by
        ``text_column`` and ``label_column`` (``text`` and ``label`` for indexes)."""
        c = self.config
        names = tuple(
            column if isinstance(column, str) else default
            for column, default in ((c.text_column, "text"), (c.label_column, "label"))
        )
        parts = read_tfds(source, c.data_dir, names, "text_column and label_column")
        return {split: Examples(*(part[n] for n in names)) for split, part in parts.items()}

    def load_examples(self, data: str) -> Examples:
        if str(data).startswith(TFDS_PREFIX):
            parts = self._read_tfds(str(data))
            return parts.get("test") or parts["train"]
        return self._read_local(data)

    def load_splits(self, data: str | None) -> Splits:
        c = self.config
        source = data or self.default_data
        if source.startswith(TFDS_PREFIX):
            return named_splits(self._read_tfds(source), source, c.validation_split, c.seed)
        return split_examples(self._read_local(source), c.validation_split, c.test_split, c.seed)

    def prepare(self, splits: Splits) -> None:
        self.labels = sorted(set(splits.train.labels))
        if len(self.labels) < 2:
            raise UserError(
                f"The training data has {len(self.labels)} label(s) {self.labels}; "
                "a classifier needs two or more."
            )
        self.vectorizer = self._make_vectorizer()
        self.vectorizer.adapt(tf.constant(splits.train.texts, tf.string), batch_size=1024)
        self._set_lexicon(lexicon_of(self.config.lexicon))

    def _set_lexicon(self, lexicon: dict[str, tuple[float, bool]]) -> None:
        self.lexicon = dict(sorted(lexicon.items()))
        self.lexicon_vectorizer = (
            self._make_vectorizer(vocabulary=list(self.lexicon)) if self.lexicon else None
        )

    def _make_vectorizer(
        self, vocabulary: list[str] | None = None
    ) -> keras.layers.TextVectorization:
        # `max_tokens` bounds a vocabulary learned by `adapt`; a given one is used whole
        vectorizer = keras.layers.TextVectorization(
            max_tokens=self.config.max_tokens if vocabulary is None else None,
            output_sequence_length=self.config.max_length,
            vocabulary=vocabulary,
        )
        if vocabulary is not None:
            vectorizer(tf.constant([""]))  # built, so that it can be exported
        return vectorizer

    def _label_ids(self, labels: list[str]) -> np.ndarray:
        index = {label: i for i, label in enumerate(self.labels)}
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise UserError(f"Labels {unknown[:5]} are not among the trained labels {self.labels}.")
        return np.array([index[label] for label in labels], dtype="int32")

    def to_dataset(self, examples: Examples, training: bool) -> tf.data.Dataset:
        # string preprocessing runs here, in tf.data: the model itself stays XLA-compilable
        ds = tf.data.Dataset.from_tensor_slices(
            (tf.constant(examples.texts, tf.string), self._label_ids(examples.labels))
        )
        if training:
            ds = ds.shuffle(len(examples), seed=self.config.seed, reshuffle_each_iteration=True)
        inputs = self.model_inputs
        return (
            ds.batch(self.config.batch_size)
            .map(lambda text, label: (inputs(text), label), num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE)
        )

    def model_inputs(self, texts: tf.Tensor) -> dict[str, tf.Tensor]:
        """The model's inputs of a batch of raw strings: token ids (and lexicon ids)."""
        inputs = {"token_ids": self.vectorizer(texts)}
        if self.lexicon_vectorizer is not None:
            inputs["lexicon_ids"] = self.lexicon_vectorizer(texts)
        return inputs

    # -- model -----------------------------------------------------------------------
    def build_model(self) -> keras.Model:
        c = self.config
        keras.utils.set_random_seed(c.seed)
        token_ids = keras.Input((c.max_length,), dtype="int32", name="token_ids")
        inputs, polarity, sums = [token_ids], None, None
        if self.lexicon:
            # each word's lexicon polarity (-4..4, scaled to -1..1; 0: not in the lexicon),
            # fixed (it means the same in any domain), reversed after a negation
            lexicon_ids = keras.Input((c.max_length,), dtype="int32", name="lexicon_ids")
            table = np.array([(0.0, 0.0), (0.0, 0.0), *self.lexicon.values()], "float32")
            table[:, 0] /= 4.0
            entries = keras.layers.Embedding(
                len(table),
                2,
                embeddings_initializer=keras.initializers.Constant(table),
                trainable=False,
                mask_zero=True,  # the same padding as the words (the mask survives concat)
                name="lexicon_entries",
            )(lexicon_ids)
            polarity = NegatedPolarity(name="lexicon_polarity")(entries)
            inputs.append(lexicon_ids)
            if c.lexicon_sums:
                sums = PolaritySums()(polarity)
        members = [self._member(token_ids, polarity, sums, k) for k in range(c.members)]
        # an ensemble inside one model: the members' logits averaged, trained together
        logits = members[0] if c.members == 1 else keras.layers.Average(name="logits")(members)
        model = keras.Model(inputs, logits, name="sentiment")
        model.compile(
            optimizer=self.optimizer(),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            jit_compile=self.jit_compile(),
        )
        return model

    def _member(self, token_ids, polarity, sums, k: int):
        """One network of the ensemble (``members`` of them; the only one by default): its
        own word vectors and recurrent layer over the shared inputs -> logits."""
        c = self.config
        seed = c.seed + k
        x = keras.layers.Embedding(
            self.vectorizer.vocabulary_size(), c.embedding_dim, mask_zero=True
        )(token_ids)
        if c.zero_unknown:
            # every training word is in the vocabulary, so training never updates the
            # out-of-vocabulary vector: a word new to the model reads as a dropped one
            x = ZeroUnknown()([x, token_ids])
        if c.word_dropout:
            # whole word vectors dropped (their lexicon polarity stays): the classifier
            # cannot lean on a few words, and learns to read the polarity of words it
            # has no vector for
            x = keras.layers.Dropout(
                c.word_dropout, noise_shape=(None, c.max_length, 1), seed=seed
            )(x)
        if polarity is not None:
            x = keras.layers.Concatenate()([x, polarity])
        x = keras.layers.Dropout(c.dropout, seed=seed)(x)
        rnn = {"lstm": cl.LSTM, "gru": cl.GRU}[c.cell]
        sequences = c.pooling == "max"
        x = keras.layers.Bidirectional(
            rnn(
                c.units,
                recurrent_dropout=c.recurrent_dropout,
                seed=seed,
                return_sequences=sequences,
            )
        )(x)
        if sequences:
            x = MaskedMaxPooling()(x)
        x = keras.layers.Dropout(c.dropout, seed=seed)(x)
        if sums is not None:
            x = keras.layers.Concatenate()([x, sums])
        return keras.layers.Dense(
            len(self.labels), name="logits" if c.members == 1 else f"logits_{k}"
        )(x)

    # -- evaluation ------------------------------------------------------------------
    def metrics(self, examples: Examples) -> dict[str, float]:
        """``accuracy``, ``macro_f1`` (mean of per-label F1) and ``loss`` (cross-entropy)."""
        self._require_model()
        targets = self._label_ids(examples.labels)
        counting = self.counting_callbacks(-(-len(examples) // self.config.batch_size))
        logits = self.model.predict(
            self.to_dataset(examples, training=False), verbose=0, callbacks=counting
        )
        loss = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(targets, logits))
        predicted = logits.argmax(axis=-1)
        f1s = []
        for k in range(len(self.labels)):
            tp = np.sum((predicted == k) & (targets == k))
            fp = np.sum((predicted == k) & (targets != k))
            fn = np.sum((predicted != k) & (targets == k))
            f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
        return {
            "accuracy": float(np.mean(predicted == targets)),
            "macro_f1": float(np.mean(f1s)),
            "loss": loss,
        }

    # -- inference -------------------------------------------------------------------
    def predict(self, texts: list[str]) -> list[dict]:
        """Label and probabilities of each text.

        Returns:
            One dict per text: ``{"text", "label", "probabilities": {label: p}}``.
        """
        self._require_model()
        texts = [str(t) for t in texts]
        if not texts:
            return []
        # one traced call per batch, from the raw strings: no model.predict, whose
        # per-call set-up costs more than the model itself on a sentence or two
        model, inputs = self.model, self.model_inputs
        classify = self._compiled(
            "classify",
            lambda: tf.function(
                lambda texts: tf.nn.softmax(model(inputs(texts), training=False)),
                reduce_retracing=True,
            ),
        )
        size = self.config.batch_size
        probabilities = np.concatenate(
            [
                classify(tf.constant(texts[i : i + size], tf.string)).numpy()
                for i in range(0, len(texts), size)
            ]
        )
        return [
            {
                "text": text,
                "label": self.labels[int(p.argmax())],
                "probabilities": {
                    label: round(float(q), 6) for label, q in zip(self.labels, p, strict=True)
                },
            }
            for text, p in zip(texts, probabilities, strict=True)
        ]

    # -- run folder --------------------------------------------------------------------
    def save_assets(self, run_dir: Path) -> None:
        vocabulary = self.vectorizer.get_vocabulary()
        (run_dir / "vocabulary.txt").write_text("\n".join(vocabulary[2:]) + "\n", encoding="utf-8")
        (run_dir / "labels.json").write_text(json.dumps(self.labels) + "\n")
        if self.lexicon:  # the run keeps its lexicon: loading it needs no lexicon package
            (run_dir / LEXICON_FILE).write_text(
                "".join(f"{w}\t{v:g}\t{int(n)}\n" for w, (v, n) in self.lexicon.items()),
                encoding="utf-8",
            )

    def load_assets(self, run_dir: Path) -> None:
        try:
            words = (run_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")[:-1]
            self.labels = json.loads((run_dir / "labels.json").read_text())
            lexicon = {}
            if (run_dir / LEXICON_FILE).exists():
                for line in (run_dir / LEXICON_FILE).read_text(encoding="utf-8").splitlines():
                    word, value, negates = line.split("\t")
                    lexicon[word] = (float(value), negates == "1")
        except (OSError, ValueError) as err:
            raise UserError(
                f"{run_dir}: vocabulary, labels or lexicon unreadable ({err})."
            ) from None
        self.vectorizer = self._make_vectorizer(vocabulary=words)
        self._set_lexicon(lexicon)

    # -- export ------------------------------------------------------------------------
    def serving_resources(self) -> list:
        lexicon = [self.lexicon_vectorizer] if self.lexicon_vectorizer is not None else []
        return [self.vectorizer, *lexicon, self.model]

    def serving_signature(self) -> list[tf.TensorSpec]:
        return [tf.TensorSpec([None], tf.string, name="text")]

    def write_onnx(self, export_dir: Path) -> None:
        """``model.onnx`` (token ids -> ``probabilities``; ids of ``preprocessing.json``'s
        vocabularies), ``preprocessing.json`` (the vocabularies by input name, ``max_length``
        and the label names) and ``inference.py`` (:mod:`recipes.sentiment.onnx_inference`:
        raw texts in, predict's dicts out, with NumPy and onnxruntime only)."""
        from recipes.core import onnx

        numeric, signature = self._numeric_function()
        onnx.convert(numeric, signature, export_dir / onnx.MODEL_FILE)
        self._write_portable(export_dir)

    def write_tflite(self, export_dir: Path, quantize: str | None = None) -> None:
        """``model.tflite`` (TFLite's builtin ops; the inputs and outputs of
        :meth:`write_onnx`'s model), ``preprocessing.json`` and ``inference.py``;
        ``quantize="float16"``: the weights stored as float16 (int8 is not offered: the
        converter's int8 calibration crashes on the LSTM's loop)."""
        from recipes.core import tflite

        numeric, _ = self._numeric_function()
        tflite.convert(numeric, self.name, export_dir / tflite.MODEL_FILE, quantize)
        self._write_portable(export_dir)

    def _vectorizers(self) -> dict[str, Any]:
        vectorizers = {"token_ids": self.vectorizer}
        if self.lexicon_vectorizer is not None:
            vectorizers["lexicon_ids"] = self.lexicon_vectorizer
        return vectorizers

    def _numeric_function(self):
        """Token ids (int64 ``[batch, max_length]`` per input) -> ``probabilities``."""
        self._require_model()
        names, model = list(self._vectorizers()), self.model
        length = self.config.max_length
        signature = [tf.TensorSpec([None, length], tf.int64, name=n) for n in names]

        @tf.function(input_signature=signature)
        def numeric(*ids):
            inputs = {n: tf.cast(i, tf.int32) for n, i in zip(names, ids, strict=True)}
            return {"probabilities": tf.nn.softmax(model(inputs, training=False))}

        return numeric, signature

    def _write_portable(self, export_dir: Path) -> None:
        from recipes.core.portable import write_portable

        vectorizers = self._vectorizers()
        vocabularies = {
            name: [str(w) for w in v.get_vocabulary()] for name, v in vectorizers.items()
        }
        preprocessing = {
            "max_length": self.config.max_length,
            "inputs": vocabularies,
            "labels": self.labels,
        }
        write_portable(export_dir, Path(__file__).with_name("onnx_inference.py"), preprocessing)

    def serving_function(self):
        """Raw strings in; ``label`` (strings), ``probabilities`` and ``labels`` (each row
        the label names, in the columns' order) out."""
        inputs, model = self.model_inputs, self.model
        label_names = tf.constant(self.labels)

        def serve(text):
            probabilities = tf.nn.softmax(model(inputs(text), training=False))
            return {
                "label": tf.gather(label_names, tf.argmax(probabilities, axis=-1)),
                "probabilities": probabilities,
                "labels": tf.tile(label_names[tf.newaxis], [tf.shape(probabilities)[0], 1]),
            }

        return serve
