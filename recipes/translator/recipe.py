"""Seq2seq translator (many-to-many, encoder-decoder with attention).

Reads top to bottom: settings, tokens, data, model, decoding, evaluation, export.

    source tokens -> Embedding -> Bidirectional(custom_layers GRU/LSTM)    (encoder)
    final states  -> Dense(tanh)                      (the decoder's initial state)
    previous target token -> Embedding -> custom_layers GRU/LSTM          (decoder)
      -> attention over the encoder outputs (Bahdanau additive or Luong multiplicative)
      -> Dense(tanh)([context; decoder output]) -> Dense logits

Training is teacher-forced (the decoder reads the reference's previous token), so the
whole target runs through the fast sequence layer at once. Decoding feeds the model's
own tokens back one step at a time: greedy and beam search are each one compiled
(XLA) loop over the decoder cell. Tokens (characters or words) are looked up inside
the model's preprocessing, so the exported SavedModel takes and returns raw strings.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import custom_layers as cl
from recipes.core.data import (
    TFDS_PREFIX,
    Examples,
    Splits,
    named_splits,
    read_delimited,
    read_tfds,
    split_examples,
)
from recipes.core.errors import UserError
from recipes.core.recipe import Recipe, string_lookup
from recipes.core.training import save_figure
from recipes.translator.config import TranslatorConfig, checked

PAD, OOV, START, END = 0, 1, 2, 3  # token ids; the vocabulary proper starts at 4
SPECIALS = ("<s>", "</s>")
JOINER = "\uffed"  # marks a token glued to its neighbour (no space between them)
DATE_EPOCHS, SENTENCE_EPOCHS = 3, 20  # epochs when the config says 0


# -- settings ---------------------------------------------------------------------------
# -- tokens -----------------------------------------------------------------------------
_WORD = r"[\pL\pN_]"
_MARK = rf"[^\pL\pN\s_{JOINER}]"  # punctuation, symbols, non-breaking spaces


def split_words(texts: tf.Tensor) -> tf.RaggedTensor:
    """Words and punctuation marks, reversibly: ``"l'homme!"`` -> ``l ￭' homme ￭!``.

    Every mark becomes a token of its own; a joiner (``￭``) on a token's side records
    that no space stood there, so :func:`join_words` restores the text exactly (up to
    runs of spaces). Case is kept. Runs in the graph (TensorFlow's RE2 regular
    expressions), so the exported model tokenizes raw strings itself.
    """
    texts = tf.strings.strip(tf.strings.regex_replace(texts, r"\s+", " "))
    texts = tf.strings.regex_replace(texts, rf"({_WORD})({_MARK})", rf"\1 {JOINER}\2")
    for _ in range(3):  # runs of marks: each pass splits every other boundary
        texts = tf.strings.regex_replace(texts, rf"({_MARK})({_MARK})", rf"\1{JOINER} \2")
    texts = tf.strings.regex_replace(texts, rf"({_MARK})({_WORD})", rf"\1{JOINER} \2")
    return tf.strings.split(texts)


def join_words(tokens: tf.Tensor) -> tf.Tensor:
    """The text of rows of word tokens (the inverse of :func:`split_words`)."""
    text = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
    text = tf.strings.regex_replace(text, f" ?{JOINER} ?", "")
    return tf.strings.strip(tf.strings.regex_replace(text, " +", " "))


def split_chars(texts: tf.Tensor) -> tf.RaggedTensor:
    return tf.strings.unicode_split(texts, "UTF-8")


def join_chars(tokens: tf.Tensor) -> tf.Tensor:
    return tf.strings.reduce_join(tokens, axis=-1)


TOKENIZERS = {"chars": (split_chars, join_chars), "words": (split_words, join_words)}


def count_tokens(texts: list[str], split) -> Counter:
    counts: Counter = Counter()
    for start in range(0, len(texts), 4096):
        tokens = split(tf.constant(texts[start : start + 4096], tf.string))
        counts.update(t.decode("utf-8") for t in tokens.flat_values.numpy())
    return counts


BUCKETS = [8 * 2**i * f for i in range(12) for f in (1, 1.5)]


def bucket_lengths(n: np.ndarray) -> np.ndarray:
    """:func:`bucket_length` of every element of an array."""
    grid = np.array([int(b) for b in BUCKETS])
    return grid[np.searchsorted(grid, np.asarray(n))]


def bucket_length(n: tf.Tensor) -> tf.Tensor:
    """Lengths rounded up to 8, 12, 16, 24, 32, 48, ... (few distinct shapes to compile)."""
    grid = tf.constant([int(b) for b in BUCKETS], tf.int32)
    return tf.gather(grid, tf.searchsorted(grid, tf.reshape(tf.cast(n, tf.int32), [1]))[0])


# -- the recipe -------------------------------------------------------------------------
class Translator(Recipe):
    """Encoder-decoder with attention; greedy and beam search decoding in the graph."""

    name = "translator"
    description = "text -> text (seq2seq): BiGRU/LSTM encoder, attention decoder, beam search"
    default_data = "dates (generated: 'saturday march 3 2001' -> '2001-03-03')"
    config_class = TranslatorConfig

    def __init__(self, config: TranslatorConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        self.token_kind: str | None = None
        self.source_vocabulary: list[str] = []
        self.target_vocabulary: list[str] = []

    def planned_epochs(self) -> int:
        if self.config.epochs:
            return self.config.epochs
        return DATE_EPOCHS if self.config.data is None else SENTENCE_EPOCHS

    # -- data ----------------------------------------------------------------------------
    def _read_pairs(self, source: str) -> Examples:
        c = self.config
        pairs = read_delimited(source, c.source_column, c.target_column, header=False)
        return self._oriented(pairs)

    def _oriented(self, pairs: Examples) -> Examples:
        return Examples(pairs.labels, pairs.texts) if self.config.reverse else pairs

    def _load_tfds(self, source: str) -> dict[str, Examples]:
        """A tfds data set's splits: pairs of its supervised keys (source, target)."""
        parts = read_tfds(source, self.config.data_dir, None)
        return {split: self._oriented(Examples(*part.values())) for split, part in parts.items()}

    def load_examples(self, data: str) -> Examples:
        if str(data).startswith(TFDS_PREFIX):
            splits = self._load_tfds(str(data))
            return splits.get("test") or splits.get("validation") or splits["train"]
        return self._read_pairs(data)

    def load_splits(self, data: str | None) -> Splits:
        c = self.config
        if data is None:
            from recipes.translator.dates import date_splits

            return date_splits(c.dates, c.validation_split, c.test_split, c.seed)
        if data.startswith(TFDS_PREFIX):
            return named_splits(self._load_tfds(data), data, c.validation_split, c.seed)
        return split_examples(self._read_pairs(data), c.validation_split, c.test_split, c.seed)

    # -- vocabularies ----------------------------------------------------------------------
    def prepare(self, splits: Splits) -> None:
        c = self.config
        if len(splits.train) == 0:
            raise UserError("The training data holds no pairs.")
        self.token_kind = (
            c.tokens if c.tokens != "auto" else ("chars" if c.data is None else "words")
        )
        split = TOKENIZERS[self.token_kind][0]
        min_count = c.min_count if self.token_kind == "words" else 1

        def vocabulary(texts: list[str]) -> list[str]:
            counts = count_tokens(texts, split)
            kept = [t for t, n in counts.most_common() if n >= min_count and t not in SPECIALS]
            return sorted(kept[: c.max_vocabulary])

        self.source_vocabulary = vocabulary(splits.train.texts)
        self.target_vocabulary = vocabulary(splits.train.labels)
        self._make_lookups()

    def _make_lookups(self) -> None:
        # ids: 0 padding, 1 out of vocabulary, 2 start, 3 end, then the vocabulary
        self.source_lookup = string_lookup(
            [*SPECIALS, *self.source_vocabulary], mask_token="", num_oov_indices=1
        )
        self.target_lookup = string_lookup(
            [*SPECIALS, *self.target_vocabulary], mask_token="", num_oov_indices=1
        )
        self.split_tokens, self.join_tokens = TOKENIZERS[self.token_kind]

    @property
    def source_size(self) -> int:
        return len(self.source_vocabulary) + 4

    @property
    def target_size(self) -> int:
        return len(self.target_vocabulary) + 4

    def encode_sources(self, texts: tf.Tensor) -> tf.RaggedTensor:
        return tf.cast(self.source_lookup(self.split_tokens(texts)), tf.int32)

    def encode_targets(self, texts: tf.Tensor) -> tf.RaggedTensor:
        return tf.cast(self.target_lookup(self.split_tokens(texts)), tf.int32)

    def token_counts(self, examples: Examples) -> tuple[np.ndarray, np.ndarray]:
        """Source and target lengths in tokens (the target without start/end tokens)."""
        sources, targets = [], []
        for start in range(0, len(examples), 4096):
            part = examples.take(range(start, min(start + 4096, len(examples))))
            sources.append(self.encode_sources(tf.constant(part.texts)).row_lengths().numpy())
            targets.append(self.encode_targets(tf.constant(part.labels)).row_lengths().numpy())
        if not sources:
            return np.zeros(0, "int64"), np.zeros(0, "int64")
        return np.concatenate(sources), np.concatenate(targets)

    def to_dataset(self, examples: Examples, training: bool) -> tf.data.Dataset:
        """``((source ids, target input ids), target output ids)`` in length buckets.

        Pairs of similar lengths are batched together, padded to a few bucket lengths
        and to full batches (rows of padding add nothing to the loss), so XLA compiles
        a handful of shapes. Pairs longer than ``max_train_length`` tokens are left
        out (from the validation loss too; :meth:`metrics` decodes every pair).
        """
        c = self.config
        source_lengths, target_lengths = self.token_counts(examples)
        target_lengths = target_lengths + 1  # the start or end token
        kept = np.flatnonzero(
            (source_lengths <= c.max_train_length) & (target_lengths <= c.max_train_length)
        )
        if len(kept) == 0:
            raise UserError(
                f"No pair of the {'training' if training else 'validation'} data is at most "
                f"max_train_length={c.max_train_length} tokens long; raise it with --set."
            )
        keys = bucket_lengths(source_lengths[kept]) * 1024 + bucket_lengths(target_lengths[kept])
        per_key = np.unique(keys, return_counts=True)[1]
        batches = int(np.sum(per_key // c.batch_size if training else -(-per_key // c.batch_size)))
        if batches == 0:
            raise UserError(
                f"Too few training pairs for one batch of {c.batch_size} of similar length; "
                "lower batch_size with --set."
            )
        examples = examples.take(kept)
        ds = tf.data.Dataset.from_tensor_slices(
            (
                tf.constant(examples.texts, tf.string),
                tf.constant(examples.labels, tf.string),
                tf.constant(keys, tf.int64),
            )
        )
        if training:
            ds = ds.shuffle(len(examples), seed=c.seed, reshuffle_each_iteration=True)

        def encode(source, target, key):
            src = self.encode_sources(source[None])[0]
            tgt = self.encode_targets(target[None])[0]
            return src, tf.concat([[START], tgt], 0), tf.concat([tgt, [END]], 0), key

        def batch(key, window):
            src_len, tgt_len = key // 1024, key % 1024
            shapes = ([src_len], [tgt_len], [tgt_len], [])
            return window.padded_batch(c.batch_size, shapes, drop_remainder=training)

        def full(s, ti, to, key):
            rows = c.batch_size - tf.shape(s)[0]
            s, ti, to = (tf.pad(x, [[0, rows], [0, 0]]) for x in (s, ti, to))
            return (s, ti), to

        ds = ds.map(encode, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.group_by_window(lambda s, ti, to, key: key, batch, window_size=c.batch_size)
        ds = ds.map(full).apply(tf.data.experimental.assert_cardinality(batches))
        return ds.prefetch(tf.data.AUTOTUNE)

    # -- model -----------------------------------------------------------------------------
    def build_model(self) -> keras.Model:
        c = self.config
        keras.utils.set_random_seed(c.seed)
        rnn = {"gru": cl.GRU, "lstm": cl.LSTM}[c.cell]
        source = keras.Input((None,), dtype="int32", name="source_ids")
        target_in = keras.Input((None,), dtype="int32", name="target_ids")
        layers = {
            "source_embedding": keras.layers.Embedding(
                self.source_size, c.embedding_dim, mask_zero=True, name="source_embedding"
            ),
            "encoder": keras.layers.Bidirectional(
                rnn(c.units, return_sequences=True, return_state=True), name="encoder"
            ),
            "target_embedding": keras.layers.Embedding(
                self.target_size, c.embedding_dim, name="target_embedding"
            ),
            "decoder": rnn(c.units, return_sequences=True, name="decoder"),
            "attention": EncoderAttention(c.attention_units, c.attention, name="attention"),
            "attentional": keras.layers.Dense(c.units, activation="tanh", name="attentional"),
            "logits": keras.layers.Dense(self.target_size, name="logits"),
        }
        states = len(layers["decoder"].cell.state_size)  # GRU 1, LSTM 2 (h and c)
        for i in range(states):
            layers[f"bridge_{i}"] = keras.layers.Dense(
                c.units, activation="tanh", name=f"bridge_{i}"
            )
        dropout = keras.layers.Dropout(c.dropout, seed=c.seed)
        logits, _ = _teacher_forced(layers, source, target_in, dropout, states)
        model = keras.Model([source, target_in], logits, name="translator")
        model.compile(
            optimizer=self.optimizer(),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD),
            jit_compile=self.jit_compile(),
        )
        return model

    def _layers(self) -> dict[str, keras.layers.Layer]:
        self._require_model()
        return {layer.name: layer for layer in self.model.layers}

    # -- decoding ----------------------------------------------------------------------------
    def _decoder_function(self):
        """Raw strings in, translations out; beam search (width 1: greedy) in one XLA loop."""
        layers = self._layers()
        states = len(layers["decoder"].cell.state_size)
        numeric = tf.function(
            lambda ids, width, max_length, alpha: beam_search(
                layers, states, ids, width, max_length, alpha
            ),
            jit_compile=True,
        )
        table = tf.constant(["", "", "", "", *self.target_vocabulary])

        def translate(texts, width, alpha, max_length):
            ids = self.encode_sources(texts)
            ids = ids.to_tensor()
            padding = bucket_length(tf.shape(ids)[1]) - tf.shape(ids)[1]
            ids = tf.pad(ids, [[0, 0], [0, padding]])
            max_length = tf.where(max_length > 0, max_length, 2 * tf.shape(ids)[1] + 10)
            tokens = numeric(ids, width, max_length, alpha)
            return self.join_tokens(tf.gather(table, tokens))

        return translate

    def translate(
        self,
        texts: list[str],
        beam_width: int | None = None,
        length_penalty: float | None = None,
        max_length: int | None = None,
    ) -> list[str]:
        """Translations of raw texts.

        Args:
            texts: the source texts.
            beam_width: beams kept (1: greedy); default ``config.beam_width``.
            length_penalty: alpha of the length normalization; default the config's.
            max_length: output tokens at most (0: twice the source's, plus 10);
                default the config's.
        """
        c = self.config
        # the options checked against their config keys' ranges, before any work
        width = c.beam_width if beam_width is None else checked("beam_width", beam_width)
        alpha = (
            c.length_penalty
            if length_penalty is None
            else checked("length_penalty", length_penalty)
        )
        max_length = c.max_length if max_length is None else checked("max_length", max_length)
        self._require_model()
        texts = [str(t) for t in texts]
        decode = self._compiled("decode", self._decoder_function)
        translate = self._compiled(
            f"translate-{width}",
            lambda: tf.function(
                lambda texts, alpha, max_length: decode(texts, width, alpha, max_length),
                input_signature=[
                    tf.TensorSpec([None], tf.string),
                    tf.TensorSpec([], tf.float32),
                    tf.TensorSpec([], tf.int32),
                ],
            ),
        )
        out: list[str] = []
        for start in range(0, len(texts), c.batch_size):
            chunk = tf.constant(texts[start : start + c.batch_size], tf.string)
            translated = translate(chunk, tf.constant(alpha), tf.constant(max_length))
            out += [t.decode("utf-8") for t in translated.numpy()]
        return out

    def attention(self, text: str, translation: str | None = None) -> tuple:
        """Attention weights of the decoder over ``text`` while it writes ``translation``.

        Returns:
            ``(source tokens, output tokens, weights)``: ``weights[i, j]`` is the
            attention of output token ``i`` (the end token last) on source token ``j``.
        """
        if translation is None:
            translation = self.translate([text])[0]
        layers = self._layers()
        states = len(layers["decoder"].cell.state_size)
        src = self.encode_sources(tf.constant([text]))
        tgt = self.encode_targets(tf.constant([translation]))
        target_in = tf.concat([[[START]], tgt.to_tensor()], axis=1)
        _, weights = _teacher_forced(layers, src.to_tensor(), target_in, None, states)
        source_tokens = [t.decode() for t in self.split_tokens(tf.constant([text]))[0].numpy()]
        output_tokens = [
            t.decode() for t in self.split_tokens(tf.constant([translation]))[0].numpy()
        ] + ["</s>"]
        return source_tokens, output_tokens, weights.numpy()[0]

    def plot_attention(self, text: str, path: str | Path) -> Path:
        """Draws the attention weights of one translation as a heatmap PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        translation = self.translate([text])[0]
        source, output, weights = self.attention(text, translation)
        shown = [t.replace(JOINER, "") or "·" for t in source]
        width = max(4.0, 0.3 * len(source) + 2)
        height = max(3.0, 0.3 * len(output) + 1.5)
        fig, ax = plt.subplots(figsize=(width, height))
        ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0, vmax=1)
        ax.set_xticks(range(len(source)), [t if t != " " else "␣" for t in shown], rotation=90)
        ax.set_yticks(range(len(output)), [t.replace(JOINER, "") for t in output])
        ax.set_xlabel("source")
        ax.set_ylabel("output")
        ax.set_title(f"{text!r} -> {translation!r}", fontsize=10)
        return save_figure(fig, path, dpi=120)

    def predict(
        self, inputs: list[str], beam_width: int | None = None, plot: str | None = None
    ) -> list[dict]:
        """Translations of raw texts, one ``{"source", "translation"}`` dict per text.

        ``plot``: a PNG path; the attention weights of the first input are drawn there.
        """
        translations = self.translate(inputs, beam_width=beam_width)
        if plot and inputs:
            self.plot_attention(inputs[0], plot)
        return [{"source": s, "translation": t} for s, t in zip(inputs, translations, strict=True)]

    # -- evaluation --------------------------------------------------------------------------
    def metrics(self, examples: Examples) -> dict[str, float]:
        """``bleu`` and ``chrf`` (sacrebleu, corpus level, 0..100) and ``exact_match``."""
        import sacrebleu

        is_train = self._splits is not None and examples is self._splits[1].train
        if is_train and self.config.eval_examples:
            examples = examples.take(range(min(len(examples), self.config.eval_examples)))
        if len(examples) == 0:
            raise UserError("No pairs to score.")
        hypotheses = self.translate(examples.texts)
        references = examples.labels
        return {
            # rounded: sacrebleu's float sums print 100 as 100.00000000000004
            "bleu": round(float(sacrebleu.corpus_bleu(hypotheses, [references]).score), 4),
            "chrf": round(float(sacrebleu.corpus_chrf(hypotheses, [references]).score), 4),
            "exact_match": float(
                np.mean([h == r for h, r in zip(hypotheses, references, strict=True)])
            ),
        }

    # -- run folder ----------------------------------------------------------------------------
    def save_assets(self, run_dir: Path) -> None:
        (run_dir / "vocabulary.json").write_text(
            json.dumps(
                {
                    "tokens": self.token_kind,
                    "source": self.source_vocabulary,
                    "target": self.target_vocabulary,
                },
                ensure_ascii=False,
            )
            + "\n",
            encoding="utf-8",
        )

    def load_assets(self, run_dir: Path) -> None:
        try:
            assets = json.loads((run_dir / "vocabulary.json").read_text(encoding="utf-8"))
            self.token_kind = assets["tokens"]
            self.source_vocabulary = list(assets["source"])
            self.target_vocabulary = list(assets["target"])
        except (OSError, KeyError, json.JSONDecodeError) as err:
            raise UserError(f"{run_dir}: vocabulary.json unreadable ({err}).") from None
        self._make_lookups()

    # -- export --------------------------------------------------------------------------------
    def serving_resources(self) -> list:
        return [self.source_lookup, self.target_lookup, self.model]

    def serving_signature(self) -> list[tf.TensorSpec]:
        return [tf.TensorSpec([None], tf.string, name="text")]

    def serving_function(self):
        """Raw strings in; ``translation`` (strings, beam search inside) out."""
        translate = self._decoder_function()
        width = self.config.beam_width
        alpha = tf.constant(self.config.length_penalty, tf.float32)
        max_length = tf.constant(self.config.max_length, tf.int32)

        def serve(text):
            return {"translation": translate(text, width, alpha, max_length)}

        return serve


# -- the network's pieces ---------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="recipes")
class EncoderAttention(keras.layers.Layer):
    """Attention of decoder outputs (queries) over encoder outputs (values).

    ``bahdanau`` (additive): ``score = v . tanh(W_q q + W_k h)``; ``luong``
    (multiplicative, "general"): ``score = (W_q q) . (W_k h)``. Padding of the source
    gets no weight. The key projection can be computed once per source
    (:meth:`keys`) and reused at every decoding step (:meth:`attend`).
    """

    def __init__(self, units: int, score: str = "bahdanau", **kwargs):
        super().__init__(**kwargs)
        if score not in ("bahdanau", "luong"):
            raise UserError(f"Unknown attention {score!r}; expected bahdanau or luong.")
        self.units, self.score = units, score
        self.query_dense = keras.layers.Dense(units, use_bias=False, name="query")
        self.key_dense = keras.layers.Dense(units, use_bias=False, name="key")
        self.v = keras.layers.Dense(1, use_bias=False, name="v") if score == "bahdanau" else None

    def build(self, query_shape, values_shape, source_mask_shape=None):
        self.query_dense.build(query_shape)
        self.key_dense.build(values_shape)
        if self.v is not None:
            self.v.build((None, self.units))

    def keys(self, values):
        return self.key_dense(values)

    def attend(self, query, keys, values, mask):
        """``query [B, T, Q]``, ``keys [B, S, A]``, ``values [B, S, D]``, ``mask [B, S]``
        -> ``(context [B, T, D], weights [B, T, S])``."""
        q = self.query_dense(query)
        if self.v is not None:
            scores = keras.ops.squeeze(
                self.v(keras.ops.tanh(q[:, :, None, :] + keys[:, None, :, :])), -1
            )
        else:
            scores = keras.ops.einsum("bta,bsa->bts", q, keys)
        scores = keras.ops.where(mask[:, None, :], scores, cl.MASKED)
        scores = scores - keras.ops.max(scores, axis=-1, keepdims=True)
        weights = keras.ops.exp(scores)  # softmax (keras.ops.softmax warns on one step)
        weights = weights / keras.ops.sum(weights, axis=-1, keepdims=True)
        return keras.ops.matmul(weights, values), weights

    def call(self, query, values, source_mask):
        return self.attend(query, self.keys(values), values, source_mask)

    def compute_output_spec(self, query, values, source_mask):
        b, t = query.shape[0], query.shape[1]
        return (
            keras.KerasTensor((b, t, values.shape[-1])),
            keras.KerasTensor((b, t, values.shape[1])),
        )

    def get_config(self):
        return {**super().get_config(), "units": self.units, "score": self.score}


def _encode(layers, source_ids, states: int):
    """Encoder outputs, their attention keys, the source mask and the decoder's start."""
    mask = keras.ops.not_equal(source_ids, PAD)
    outputs = layers["encoder"](layers["source_embedding"](source_ids), mask=mask)
    values, finals = outputs[0], outputs[1:]
    forward, backward = finals[:states], finals[states:]
    initial = [
        layers[f"bridge_{i}"](keras.ops.concatenate([forward[i], backward[i]], axis=-1))
        for i in range(states)
    ]
    return values, mask, initial


def _teacher_forced(layers, source_ids, target_in, dropout, states: int):
    """Logits of every target position given the reference's previous tokens."""
    values, mask, initial = _encode(layers, source_ids, states)
    y = layers["target_embedding"](target_in)
    if dropout is not None:
        y = dropout(y)
    decoded = layers["decoder"](y, initial_state=initial)
    context, weights = layers["attention"](decoded, values, mask)
    attentional = layers["attentional"](keras.ops.concatenate([context, decoded], axis=-1))
    if dropout is not None:
        attentional = dropout(attentional)
    return layers["logits"](attentional), weights


def beam_search(layers, states: int, source_ids, width: int, max_length, alpha):
    """Beam search over the decoder cell (``width`` 1: greedy decoding).

    Beams are ranked by their log-probability divided by the GNMT length penalty
    ``((5 + length) / 6) ** alpha``; a beam that wrote the end token is finished and
    keeps its score. Stops when every beam is finished or after ``max_length`` tokens.

    Returns:
        ``[B, max_length]`` token ids of the best beam of each source, padded with 0.
    """
    values, mask, initial = _encode(layers, source_ids, states)
    keys = layers["attention"].keys(values)
    batch = tf.shape(source_ids)[0]

    def tile(x):
        return tf.repeat(x, width, axis=0)  # [B, ...] -> [B * width, ...]

    values, keys, mask = tile(values), tile(keys), tile(mask)
    cell_states = [tile(s) for s in initial]
    cell = layers["decoder"].cell
    vocabulary = layers["logits"].units
    neg = tf.constant(cl.MASKED)
    never = tf.concat([tf.fill([START + 1], neg), tf.zeros([vocabulary - START - 1])], 0)

    def step(tokens, cell_states):
        x = layers["target_embedding"](tokens)
        out, new_states = cell(x, cell_states)
        new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
        context, _ = layers["attention"].attend(out[:, None, :], keys, values, mask)
        attentional = layers["attentional"](tf.concat([context[:, 0], out], axis=-1))
        # padding, out-of-vocabulary and start tokens are never written
        return tf.nn.log_softmax(layers["logits"](attentional) + never), new_states

    def penalty(length):
        return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, alpha)

    only_pad = tf.concat([[0.0], tf.fill([vocabulary - 1], neg)], 0)  # finished beams
    scores = tf.tile(tf.concat([[0.0], tf.fill([width - 1], neg)], 0)[None], [batch, 1])
    lengths = tf.zeros([batch, width], tf.int32)
    finished = tf.zeros([batch, width], tf.bool)
    history = tf.zeros([batch * width, max_length], tf.int32)
    tokens = tf.fill([batch * width], START)
    offsets = (tf.range(batch) * width)[:, None]  # row of each source's first beam

    def body(t, tokens, cell_states, scores, lengths, finished, history):
        logp, cell_states = step(tokens, cell_states)
        logp = tf.reshape(logp, [batch, width, vocabulary])
        logp = tf.where(finished[..., None], only_pad, logp)
        candidates = scores[..., None] + logp
        new_lengths = tf.where(finished, lengths, lengths + 1)
        ranked = candidates / penalty(new_lengths)[..., None]
        _, best = tf.math.top_k(tf.reshape(ranked, [batch, -1]), k=width)
        beam, token = best // vocabulary, best % vocabulary
        scores = tf.gather(tf.reshape(candidates, [batch, -1]), best, batch_dims=1)
        lengths = tf.gather(new_lengths, beam, batch_dims=1)
        finished = tf.gather(finished, beam, batch_dims=1) | (token == END)
        parents = tf.reshape(beam + offsets, [-1])
        cell_states = [tf.gather(s, parents) for s in cell_states]
        token = tf.reshape(token, [-1])
        history = tf.gather(history, parents)
        history = tf.where(tf.range(max_length)[None, :] == t, token[:, None], history)
        return t + 1, token, cell_states, scores, lengths, finished, history

    _, _, _, scores, lengths, _, history = tf.while_loop(
        lambda t, tokens, cell_states, scores, lengths, finished, history: (
            (t < max_length) & ~tf.reduce_all(finished)
        ),
        body,
        (0, tokens, cell_states, scores, lengths, finished, history),
        maximum_iterations=max_length,
    )
    chosen = tf.argmax(scores / penalty(lengths), axis=-1, output_type=tf.int32)
    return tf.gather(history, tf.reshape(chosen + offsets[:, 0], [-1]))
