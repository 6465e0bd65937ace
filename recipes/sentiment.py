"""Sentiment classifier (many-to-one): a text in, a label with probabilities out.

Reads top to bottom: settings, data, model, training, inference, export.

    TextVectorization (in the tf.data pipeline and in the exported model)
      -> Embedding(mask_zero=True) -> Bidirectional(custom_layers LSTM or GRU)
      -> Dense logits
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Literal

import keras
import numpy as np
import tensorflow as tf

import custom_layers as cl
from recipes.base import Recipe
from recipes.config import RecipeConfig
from recipes.data import (
    TFDS_PREFIX,
    Examples,
    Splits,
    load_tfds_text,
    read_labelled_text,
    split_examples,
)
from recipes.errors import UserError


# -- settings ---------------------------------------------------------------------------
@dataclasses.dataclass
class SentimentConfig(RecipeConfig):
    """Settings of the sentiment classifier (every key can be given with ``--set``)."""

    data: str | None = None  # file, folder or tfds:NAME; None = tfds:imdb_reviews
    data_dir: str | None = None  # where tensorflow-datasets keeps its data
    text_column: str | int = 0  # column name (with a header) or index
    label_column: str | int = -1  # column name or index (-1: the last)
    header: bool | None = None  # first row names the columns; None: when a column is a name
    validation_split: float = 0.1  # share held out for validation (sources without one)
    test_split: float = 0.1  # share held out for test (sources without one)
    seed: int = 1337  # splits, initialization, dropout
    max_tokens: int = 20000  # vocabulary size, padding and out-of-vocabulary included
    max_length: int = 100  # tokens kept per text (fixed length: one XLA program)
    embedding_dim: int = 64  # word vector size
    cell: Literal["lstm", "gru"] = "lstm"  # the bidirectional recurrent layer
    units: int = 32  # units per direction
    word_dropout: float = 0.0  # share of whole words dropped in training
    dropout: float = 0.5  # on the embeddings and before the output layer
    recurrent_dropout: float = 0.0  # on the recurrent state
    pooling: Literal["last", "max"] = "last"  # final states, or max over all steps
    batch_size: int = 32  # examples per training step
    epochs: int = 15  # at most (early stopping may end sooner)
    learning_rate: float = 2e-3  # Adam
    patience: int = 4  # epochs without validation improvement before stopping (0: never)
    monitor: Literal["val_accuracy", "val_loss"] = (
        "val_accuracy"  # for early stopping and the best model
    )
    jit_compile: bool = True  # compile the numeric model with XLA
    distribution: Literal["auto", "none", "mirrored", "multi_worker"] = "auto"  # tf.distribute

    def validate(self) -> None:
        self.require_positive_integers(
            "max_tokens", "max_length", "embedding_dim", "units", "batch_size", "epochs"
        )
        self.require_fractions("dropout", "recurrent_dropout", "word_dropout")
        self.require_fractions("validation_split", "test_split", below=0.5)
        self.require_positive("learning_rate")
        self.require_non_negative("patience")


class Sentiment(Recipe):
    """Text classification with a bidirectional LSTM/GRU (binary or multi-class)."""

    name = "sentiment"
    description = "text -> label (many-to-one): bidirectional LSTM/GRU classifier"
    default_data = "tfds:imdb_reviews"
    config_class = SentimentConfig
    monitor = ("val_accuracy", "max")

    def __init__(self, config: SentimentConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        self.vectorizer: keras.layers.TextVectorization | None = None
        self.labels: list[str] = []

    # -- data ------------------------------------------------------------------------
    def _read_local(self, source: str) -> Examples:
        c = self.config
        return read_labelled_text(source, c.text_column, c.label_column, c.header)

    def load_examples(self, data: str) -> Examples:
        if str(data).startswith(TFDS_PREFIX):
            splits = load_tfds_text(str(data), self.config.data_dir, seed=self.config.seed)
            return splits.test if len(splits.test) else splits.train
        return self._read_local(data)

    def load_splits(self, data: str | None) -> Splits:
        c = self.config
        source = data or self.default_data
        if source.startswith(TFDS_PREFIX):
            return load_tfds_text(source, c.data_dir, validation=c.validation_split, seed=c.seed)
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

    def _make_vectorizer(
        self, vocabulary: list[str] | None = None
    ) -> keras.layers.TextVectorization:
        vectorizer = keras.layers.TextVectorization(
            max_tokens=self.config.max_tokens,
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
        vectorizer = self.vectorizer
        return (
            ds.batch(self.config.batch_size)
            .map(lambda text, label: (vectorizer(text), label), num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE)
        )

    # -- model -----------------------------------------------------------------------
    def build_model(self) -> keras.Model:
        c = self.config
        keras.utils.set_random_seed(c.seed)
        token_ids = keras.Input((c.max_length,), dtype="int32", name="token_ids")
        # padding id 0 is masked: the recurrent layers skip it
        x = keras.layers.Embedding(
            self.vectorizer.vocabulary_size(), c.embedding_dim, mask_zero=True
        )(token_ids)
        if c.word_dropout:
            # whole word vectors dropped: the classifier cannot lean on a few words
            x = keras.layers.Dropout(
                c.word_dropout, noise_shape=(None, c.max_length, 1), seed=c.seed
            )(x)
        x = keras.layers.Dropout(c.dropout, seed=c.seed)(x)
        rnn = {"lstm": cl.LSTM, "gru": cl.GRU}[c.cell]
        sequences = c.pooling == "max"
        x = keras.layers.Bidirectional(
            rnn(
                c.units,
                recurrent_dropout=c.recurrent_dropout,
                seed=c.seed,
                return_sequences=sequences,
            )
        )(x)
        if sequences:
            x = MaskedMaxPooling()(x)
        x = keras.layers.Dropout(c.dropout, seed=c.seed)(x)
        logits = keras.layers.Dense(len(self.labels), name="logits")(x)
        model = keras.Model(token_ids, logits, name="sentiment")
        model.compile(
            optimizer=keras.optimizers.Adam(c.learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            jit_compile=self.jit_compile(),
        )
        return model

    # -- evaluation ------------------------------------------------------------------
    def metrics(self, examples: Examples) -> dict[str, float]:
        """``accuracy``, ``macro_f1`` (mean of per-label F1) and ``loss`` (cross-entropy)."""
        self._require_model()
        targets = self._label_ids(examples.labels)
        logits = self.model.predict(self.to_dataset(examples, training=False), verbose=0)
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
        ids = self.vectorizer(tf.constant(texts, tf.string))
        probabilities = tf.nn.softmax(
            self.model.predict(ids, verbose=0, batch_size=self.config.batch_size)
        ).numpy()
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

    def load_assets(self, run_dir: Path) -> None:
        try:
            words = (run_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")[:-1]
            self.labels = json.loads((run_dir / "labels.json").read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise UserError(f"{run_dir}: vocabulary or labels unreadable ({err}).") from None
        self.vectorizer = self._make_vectorizer(vocabulary=words)

    # -- export ------------------------------------------------------------------------
    def serving_resources(self) -> list:
        return [self.vectorizer, self.model]

    def serving_signature(self) -> list[tf.TensorSpec]:
        return [tf.TensorSpec([None], tf.string, name="text")]

    def serving_function(self):
        """Raw strings in; ``label`` (strings) and ``probabilities`` out."""
        vectorizer, model = self.vectorizer, self.model
        label_names = tf.constant(self.labels)

        def serve(text):
            probabilities = tf.nn.softmax(model(vectorizer(text), training=False))
            return {
                "label": tf.gather(label_names, tf.argmax(probabilities, axis=-1)),
                "probabilities": probabilities,
            }

        return serve


@keras.saving.register_keras_serializable(package="recipes")
class MaskedMaxPooling(keras.layers.Layer):
    """Max over the steps that the mask keeps (padding never wins)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = keras.ops.where(mask[:, :, None], inputs, -1e9)
        return keras.ops.max(inputs, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None
