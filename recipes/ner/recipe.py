"""Named-entity tagger (many-to-many, one tag per token): BiLSTM with character features
and a CRF.

Reads top to bottom: settings, tokens and features, data, model, tagging, evaluation,
export.

    words  -> Embedding (lower-cased vocabulary; word dropout to the unknown word,
              rare words most often)
    chars  -> Embedding -> Bidirectional(custom_layers LSTM) per word   (unseen names)
    shapes -> Embedding (Xxxx, xxxx, XXXX, dd, @mention, #tag, URL, ...)
      -> concatenate -> Dropout -> Bidirectional(custom_layers LSTM) over the sentence
      -> Dense tag scores (+ the entity bias when decoding, chosen on validation)
      -> linear-chain CRF (or softmax)

Tokens, characters and shapes are looked up in ``tf.data`` and in the exported model
(which tokenizes raw sentences in the graph), so the numeric model stays XLA-compilable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import custom_layers as cl
from recipes.core.data import TFDS_PREFIX, named_splits, read_tfds, split_examples
from recipes.core.errors import UserError
from recipes.core.recipe import Recipe, string_lookup
from recipes.core.training import WeightAverage
from recipes.ner.config import NERConfig
from recipes.ner.conll import Tagged, read_conll, split_files, to_iob2

PAD_TAG = "<pad>"  # tag id 0: padding, never predicted
#: entity biases tried on the validation split after every epoch (``entity_bias = None``)
ENTITY_BIASES = tuple(0.25 * i for i in range(13))  # 0, 0.25, ..., 3


# -- settings ---------------------------------------------------------------------------
# -- tokens and features ----------------------------------------------------------------
_PUNCT = r"[^\pL\pN\s@#_]"


def tokenize(sentences: tf.Tensor) -> tf.RaggedTensor:
    """Raw sentences -> tokens, in the graph (so the export tokenizes too).

    The rule: split at whitespace; URLs (``http...``, ``www...``) stay whole; then
    punctuation at the start or end of a word becomes tokens of its own (``"Paris,"``
    -> ``Paris ,``; a run of marks gives one token per mark), and English clitics are
    split off (``It's`` -> ``It 's``, ``don't`` -> ``do n't``). ``@mentions`` and
    ``#hashtags`` stay whole.
    """
    s = tf.strings.regex_replace(sentences, r"\s+", " ")
    s = tf.strings.regex_replace(s, r"(^| )((?:https?://|www\.)\S+)", r"\1\2 ")
    # trailing punctuation (a URL's own dots are kept: it is followed by the space above)
    for _ in range(2):
        s = tf.strings.regex_replace(s, rf"([\pL\pN_])({_PUNCT}+)( |$)", r"\1 \2\3")
        s = tf.strings.regex_replace(s, rf"(^| )({_PUNCT}+)([\pL\pN@#_])", r"\1\2 \3")
    for _ in range(3):  # a run of marks on its own: one token per mark
        s = tf.strings.regex_replace(s, rf"(^| )({_PUNCT})({_PUNCT}+)( |$)", r"\1\2 \3\4")
    s = tf.strings.regex_replace(s, r"(?i)([\pL])(n't)( |$)", r"\1 \2\3")
    s = tf.strings.regex_replace(s, r"(?i)([\pL])('(?:s|re|ll|ve|d|m))( |$)", r"\1 \2\3")
    return tf.strings.split(tf.strings.strip(s))


SHAPES = (
    "x",  # all lower case
    "X",  # all upper case
    "Xx",  # capitalized
    "xX",  # mixed case
    "d",  # all digits
    "dx",  # digits and letters
    ".",  # punctuation
    "@",  # @mention
    "#",  # #hashtag
    "url",
)


def word_shapes(tokens: tf.RaggedTensor) -> tf.RaggedTensor:
    """The shape class of every token, as an id 1.. into :data:`SHAPES` (0: other)."""
    flat = tokens.flat_values
    rules = [
        r"[\p{Ll}]+",
        r"[\p{Lu}]+",
        r"[\p{Lu}][\p{Ll}'’.-]+",
        r"[\pL'’.-]+",
        r"[\pN.,:/-]+",
        r"[\pL\pN'’.,:/_-]+",
        r"[^\pL\pN]+",
        r"@\w+",
        r"#\w+",
        r"(?:https?://|www\.)\S+",
    ]
    shape = tf.zeros_like(flat, tf.int32)
    # later rules win: the broad classes (digits and letters, mixed case) first,
    # the special classes last
    for index in (6, 4, 1, 2, 3, 5, 7, 8, 9, 10):
        shape = tf.where(tf.strings.regex_full_match(flat, rules[index - 1]), index, shape)
    return tokens.with_flat_values(shape)


# -- the recipe -------------------------------------------------------------------------
class NER(Recipe):
    """Named-entity tagger: word, character and shape features, BiLSTM, CRF."""

    name = "ner"
    description = "sentence -> entity tags (many-to-many): char+word BiLSTM with a CRF"
    default_data = "tfds:conll2003"
    config_class = NERConfig
    monitor = ("val_f1", "max")

    def __init__(self, config: NERConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        self.words: list[str] = []
        self.chars: list[str] = []
        self.tags: list[str] = []
        self.word_counts: list[int] = []  # training occurrences of each word

    # -- data ----------------------------------------------------------------------------
    def _load_tfds(self, source: str) -> dict[str, Tagged]:
        """A tfds data set's splits: its ``tokens`` and the tags of ``tag_feature``."""
        features = ("tokens", self.config.tag_feature)
        parts = read_tfds(source, self.config.data_dir, features, "tag_feature")
        return {
            split: Tagged(part["tokens"], [to_iob2(tags) for tags in part[features[1]]])
            for split, part in parts.items()
        }

    def _read_source(self, source: str) -> dict[str, Tagged]:
        if source.startswith(TFDS_PREFIX):
            return self._load_tfds(source)
        path = Path(source)
        if path.is_dir():
            return {split: read_conll(file) for split, file in split_files(path).items()}
        return {"all": read_conll(path)}

    def load_examples(self, data: str) -> Tagged:
        parts = self._read_source(str(data))
        for split in ("all", "test", "validation", "train"):
            if split in parts:
                return parts[split]
        raise UserError(f"{data}: no tagged sentences.")

    def load_splits(self, data: str | None):
        """A file is split deterministically; a folder's files are the splits (a missing
        validation file is carved from train, a missing test file leaves test empty)."""
        c = self.config
        parts = self._read_source(data or self.default_data)
        if "all" in parts:
            return split_examples(parts["all"], c.validation_split, c.test_split, c.seed)
        return named_splits(parts, data or self.default_data, c.validation_split, c.seed)

    # -- vocabularies ----------------------------------------------------------------------
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
        self._make_lookups()

    def _make_lookups(self) -> None:
        # words: 0 padding, 1 unknown; chars likewise; tags: 0 padding
        self.word_lookup = string_lookup(self.words, mask_token="", num_oov_indices=1)
        self.char_lookup = string_lookup(self.chars, mask_token="", num_oov_indices=1)
        self.tag_lookup = string_lookup(self.tags, mask_token=PAD_TAG, num_oov_indices=0)

    def features(self, tokens: tf.RaggedTensor) -> dict[str, tf.Tensor]:
        """Model inputs of a batch of token lists (ragged strings), padded."""
        c = self.config
        words = self.word_lookup(tf.strings.lower(tokens, encoding="utf-8")).to_tensor()
        shapes = word_shapes(tokens).to_tensor()
        chars = tf.strings.unicode_split(tokens, "UTF-8")  # [B, W, (C)]
        chars = chars[:, :, : c.max_word_length]
        chars = self.char_lookup(chars).to_tensor(shape=[None, None, c.max_word_length])
        return {
            "word_ids": tf.cast(words, tf.int32),
            "char_ids": tf.cast(chars, tf.int32),
            "shape_ids": shapes,
        }

    def to_dataset(self, examples: Tagged, training: bool) -> tf.data.Dataset:
        c = self.config
        tokens = tf.ragged.constant(examples.tokens, dtype=tf.string)
        tags = tf.ragged.constant(examples.tags, dtype=tf.string)
        ds = tf.data.Dataset.from_tensor_slices((tokens, tags))
        if training:
            ds = ds.shuffle(len(examples), seed=c.seed, reshuffle_each_iteration=True)
            if c.lowercase_sentences:
                coins = tf.data.Dataset.random(seed=c.seed + 1, rerandomize_each_iteration=True)
                share = int(round(c.lowercase_sentences * 10000))

                def lowercase(example, coin):
                    tokens, tags = example
                    lower = tf.strings.lower(tokens, encoding="utf-8")
                    return tf.where(coin % 10000 < share, lower, tokens), tags

                ds = tf.data.Dataset.zip((ds, coins)).map(lowercase)
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
        rates = None
        if c.rare_word_dropout:  # padding and unknown (ids 0, 1) are never replaced
            counts = np.asarray(self.word_counts, np.float32)
            alpha = c.rare_word_dropout
            rates = [0.0, 0.0, *np.maximum(c.word_dropout, alpha / (alpha + counts))]
        word_ids = WordDropout(c.word_dropout, seed=c.seed, rates=rates, name="word_dropout")(words)
        w = keras.layers.Embedding(len(self.words) + 2, c.word_dim, name="word_embedding")(word_ids)
        ch = CharFeatures(len(self.chars) + 2, c.char_dim, c.char_units, name="char_features")(
            chars
        )
        sh = keras.layers.Embedding(len(SHAPES) + 1, c.shape_dim, name="shape_embedding")(shapes)
        x = keras.layers.Concatenate()([w, ch, sh])
        x = keras.layers.Dropout(c.dropout, seed=c.seed)(x)
        x = keras.layers.Bidirectional(
            cl.LSTM(c.units, return_sequences=True), name="sentence_lstm"
        )(x, mask=mask)
        x = keras.layers.Dropout(c.dropout, seed=c.seed)(x)
        scores = keras.layers.Dense(len(self.tags) + 1, name="tag_scores")(x)
        encoder = keras.Model([words, chars, shapes], scores)
        if c.output == "crf":
            model = CRFTagger(encoder, cl.CRF(len(self.tags) + 1, **self._constraints()))
        else:
            model = SoftmaxTagger(encoder)
        model.compile(
            optimizer=self.optimizer(),
            jit_compile=self.jit_compile(),
        )
        self.model = model
        self.set_entity_bias(c.entity_bias or 0.0)
        return model

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
        scores = self.calibrate_entity_bias(splits.validation)
        return {"entity_bias": self.entity_bias, "val_f1_unbiased": scores[0.0]}

    def _constraints(self) -> dict[str, Any]:
        names = [PAD_TAG, *self.tags]
        if self.config.constrain_iob:
            allowed = cl.iob2_constraints(names)
        else:
            n = len(names)
            allowed = {
                "allowed_transitions": [[True] * n for _ in range(n)],
                "allowed_starts": [True] * n,
                "allowed_ends": [True] * n,
            }
        # padding is never a tag of a real token
        for row in allowed["allowed_transitions"]:
            row[0] = False
        allowed["allowed_starts"][0] = False
        return allowed

    # -- tagging ---------------------------------------------------------------------------
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
        for start in range(0, len(tokens), 256):
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
        ids = iter(self._tag_ids(nonempty)) if nonempty else iter([])
        names = [PAD_TAG, *self.tags]
        for tokens in token_lists:
            tags = [names[i] if i else "O" for i in next(ids)] if tokens else []
            results.append({"tokens": tokens, "tags": tags, "entities": entities(tokens, tags)})
        return results

    def predict(self, inputs: list[str]) -> list[dict]:
        """:meth:`tag` of each input sentence."""
        return [{"text": s, **r} for s, r in zip(inputs, self.tag(inputs), strict=True)]

    # -- evaluation --------------------------------------------------------------------------
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

    def load_assets(self, run_dir: Path) -> None:
        try:
            assets = json.loads((run_dir / "vocabulary.json").read_text(encoding="utf-8"))
            self.words, self.chars, self.tags = assets["words"], assets["chars"], assets["tags"]
            self.word_counts = assets.get("word_counts", [])  # only training reads them
        except (OSError, KeyError, json.JSONDecodeError) as err:
            raise UserError(f"{run_dir}: vocabulary.json unreadable ({err}).") from None
        self._make_lookups()

    # -- export --------------------------------------------------------------------------------
    def serving_resources(self) -> list:
        return [self.word_lookup, self.char_lookup, self.model]

    def serving_signature(self) -> list[tf.TensorSpec]:
        return [tf.TensorSpec([None], tf.string, name="sentence")]

    def serving_function(self):
        """Raw sentences in; ``tokens`` and ``tags`` (padded with "") out."""
        model = self.model
        names = tf.constant(["", *self.tags])

        def serve(sentence):
            tokens = tokenize(sentence)
            ids = model.decode(self.features(tokens))
            tags = tf.RaggedTensor.from_tensor(tf.gather(names, ids), lengths=tokens.row_lengths())
            return {"tokens": tokens.to_tensor(), "tags": tags.to_tensor()}

        return serve


def entity_scores(truth: list[list[str]], predicted: list[list[str]]) -> dict[str, float]:
    """Entity-level ``precision``, ``recall``, ``f1`` (micro) and ``f1_<type>`` of IOB2 tag
    sequences (seqeval, in the CoNLL evaluation's way)."""
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    report = classification_report(truth, predicted, output_dict=True, zero_division=0)
    out = {
        "precision": float(precision_score(truth, predicted, zero_division=0)),
        "recall": float(recall_score(truth, predicted, zero_division=0)),
        "f1": float(f1_score(truth, predicted, zero_division=0)),
    }
    for kind, values in sorted(report.items()):
        if not kind.endswith(" avg"):
            out[f"f1_{kind}"] = float(values["f1-score"])
    return out


def entities(tokens: list[str], tags: list[str]) -> list[dict]:
    """Entity spans of IOB2 tags: ``{"type", "start", "end", "text"}``."""
    spans, start, kind = [], None, None
    for i, tag in enumerate([*tags, "O"]):
        if start is not None and not (tag.startswith("I-") and tag[2:] == kind):
            spans.append(
                {"type": kind, "start": start, "end": i, "text": " ".join(tokens[start:i])}
            )
            start = kind = None
        if tag.startswith("B-") or (tag.startswith("I-") and start is None):
            start, kind = i, tag[2:]
    return spans


class ValidationF1(keras.callbacks.Callback):
    """Adds ``val_f1`` (entity level, seqeval) to the logs after every epoch.

    With ``entity_bias = None`` the epoch's model first gets the entity bias with the
    best validation F1 (logged as ``val_entity_bias``), so epochs are compared, and the best
    one saved, as they will decode.
    """

    def __init__(self, recipe: NER, examples: Tagged):
        super().__init__()
        self.recipe, self.examples = recipe, examples

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not len(self.examples):
            return
        if self.recipe.config.entity_bias is None:
            logs["val_f1"] = max(self.recipe.calibrate_entity_bias(self.examples).values())
            logs["val_entity_bias"] = self.recipe.entity_bias
        else:
            logs["val_f1"] = self.recipe.metrics(self.examples)["f1"]


def _ordered(inputs):
    """The encoder's inputs as a list (a dict's keys may come sorted from a graph)."""
    if isinstance(inputs, dict):
        return [inputs["word_ids"], inputs["char_ids"], inputs["shape_ids"]]
    return inputs


# -- model pieces ---------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="recipes")
class WordDropout(keras.layers.Layer):
    """In training, replaces word ids by the unknown word (id 1): each with probability
    ``rate``, or, given ``rates`` (one per id), with its own probability, kept as a
    (not trained) weight of the layer."""

    def __init__(
        self,
        rate: float,
        seed: int | None = None,
        rates: Any = None,
        vocabulary_size: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rate, self.seed = rate, seed
        self._given = None if rates is None else np.asarray(rates, np.float32)
        self.vocabulary_size = len(self._given) if rates is not None else vocabulary_size
        self.generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.rates = None
        if self.vocabulary_size is not None:
            init = "zeros" if self._given is None else keras.initializers.Constant(self._given)
            self.rates = self.add_weight(
                shape=(self.vocabulary_size,), initializer=init, trainable=False, name="rates"
            )

    def call(self, ids, training=False):
        if not training or (not self.rate and self.rates is None):
            return ids
        rate = self.rate if self.rates is None else keras.ops.take(self.rates, ids)
        drop = keras.random.uniform(keras.ops.shape(ids), seed=self.generator) < rate
        return keras.ops.where(drop & (ids > 1), 1, ids)

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "seed": self.seed,
            "vocabulary_size": self.vocabulary_size,
        }


@keras.saving.register_keras_serializable(package="recipes")
class CharFeatures(keras.layers.Layer):
    """A bidirectional custom_layers LSTM over each word's characters: ``[B, W, C]`` ids
    -> ``[B, W, 2 * units]`` (the final states of both directions)."""

    def __init__(self, vocabulary: int, dim: int, units: int, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary, self.dim, self.units = vocabulary, dim, units
        self.embedding = keras.layers.Embedding(vocabulary, dim, mask_zero=True)
        self.rnn = keras.layers.Bidirectional(cl.LSTM(units))

    def build(self, input_shape):
        self.embedding.build((None, input_shape[-1]))
        self.rnn.build((None, input_shape[-1], self.dim))

    def call(self, char_ids):
        shape = keras.ops.shape(char_ids)
        flat = keras.ops.reshape(char_ids, (-1, shape[-1]))
        mask = keras.ops.not_equal(flat, 0)
        # words of padding have no characters: give them one step so the mask is not empty
        mask = keras.ops.logical_or(mask, keras.ops.arange(shape[-1])[None, :] == 0)
        out = self.rnn(self.embedding(flat), mask=mask)
        return keras.ops.reshape(out, (shape[0], shape[1], 2 * self.units))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], 2 * self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary": self.vocabulary,
            "dim": self.dim,
            "units": self.units,
        }


class _Tagger(keras.Model):
    """Tag scores from ``encoder``; :meth:`decode` adds ``decode_bias`` (one value per
    tag, not trained) to them before choosing the tags."""

    def __init__(self, encoder: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decode_bias = self.add_weight(
            shape=(encoder.output.shape[-1],),
            initializer="zeros",
            trainable=False,
            name="decode_bias",
        )

    def call(self, inputs, training=False):
        return self.encoder(_ordered(inputs), training=training)

    def load_own_variables(self, store):
        if not len(store.keys()):  # saved before the entity bias existed: no bias
            return
        super().load_own_variables(store)

    def scores(self, inputs):
        """Tag scores ``[batch, words, tags]`` in inference mode."""
        return self.encoder(_ordered(inputs), training=False)

    def best_tags(self, scores, mask):
        """The best tag ids for ``scores`` (0 where ``mask`` is False)."""
        raise NotImplementedError

    def decode(self, inputs):
        """Tag ids of a batch of features, the entity bias applied."""
        mask = keras.ops.not_equal(inputs["word_ids"], 0)
        return self.best_tags(self.scores(inputs) + self.decode_bias, mask)

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
        }


@keras.saving.register_keras_serializable(package="recipes")
class CRFTagger(_Tagger):
    """Trained by the CRF's negative log-likelihood; :meth:`decode` gives the Viterbi
    tags."""

    def __init__(self, encoder: keras.Model, crf: cl.CRF, **kwargs):
        super().__init__(encoder, **kwargs)
        self.crf = crf
        if not crf.built:  # its weights exist before training starts
            crf.build((None, None, encoder.output.shape[-1]))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        mask = keras.ops.not_equal(y, 0)
        nll = -self.crf.log_likelihood(y_pred, y, mask)
        return keras.ops.mean(nll) + sum(self.losses)

    def best_tags(self, scores, mask):
        return self.crf.viterbi(scores, mask)[0]

    def get_config(self):
        return {**super().get_config(), "crf": keras.saving.serialize_keras_object(self.crf)}

    @classmethod
    def from_config(cls, config):
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        crf = keras.saving.deserialize_keras_object(config.pop("crf"))
        return cls(encoder, crf, **config)


@keras.saving.register_keras_serializable(package="recipes")
class SoftmaxTagger(_Tagger):
    """Trained by per-token cross-entropy; argmax decoding."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
        return loss(y, y_pred) + sum(self.losses)

    def best_tags(self, scores, mask):
        scores = keras.ops.concatenate([scores[..., :1] + cl.MASKED, scores[..., 1:]], axis=-1)
        ids = keras.ops.argmax(scores, axis=-1)
        return keras.ops.cast(ids, "int32") * keras.ops.cast(mask, "int32")

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config.pop("encoder")), **config)
