"""Seq2seq translator (many-to-many, encoder-decoder with attention).

Reads top to bottom: settings, data, vocabularies, model, decoding (the task verb
``translate``), evaluation, run folder, export.

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

Beside this file: the tokenizers (``tokens.py``), the length buckets (``buckets.py``),
the attention layer (``attention.py``), the encoder, decoder and beam search over the
model's layers (``decoding.py``), the attention heatmap (``plots.py``) and the ONNX
export's ``inference.py`` (``onnx_inference.py``: tokenizing and reading the ids back
in Python, the beam search in ``model.onnx``).
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import custom_layers as cl
from recipes.core.config import check_setting
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
from recipes.translator.attention import EncoderAttention
from recipes.translator.buckets import BUCKETS, bucketed_batches, token_lengths
from recipes.translator.config import TranslatorConfig
from recipes.translator.decoding import (
    SEARCH_SIGNATURE,
    attention_of,
    search_function,
    teacher_forced,
    translation_function,
)
from recipes.translator.loss import SmoothedCrossEntropy
from recipes.translator.plots import attention_heatmap
from recipes.translator.tokens import (
    END,
    JOINER,
    OOV,
    PAD,
    SPECIALS,
    START,
    TOKENIZERS,
    character_classes,
    vocabulary,
)

# -- settings ---------------------------------------------------------------------------
DATE_EPOCHS, SENTENCE_EPOCHS = 3, 30  # epochs when the config says 0
#: the widest beam the export's ``translate`` signature takes (at least; the run's if wider)
EXPORT_BEAM_WIDTH = 16


class EpochWeights(keras.callbacks.Callback):
    """For checkpoint averaging (``average_epochs``): the model's weights at the end of
    the last ``count`` epochs, and a copy of them taken at the epoch with the lowest
    monitored validation loss so far (that epoch and up to ``count - 1`` before it),
    whatever the patience: at most twice ``count`` sets of weights are held."""

    def __init__(self, monitor: str, count: int):
        super().__init__()
        self.monitor, self.kept = monitor, collections.deque(maxlen=count)
        self.best: float | None = None
        self.window: list[tuple[int, list[np.ndarray]]] = []

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not np.isfinite(value):
            return
        self.kept.append((epoch + 1, self.model.get_weights()))
        if self.best is None or float(value) < self.best:
            self.best, self.window = float(value), list(self.kept)

    def averaged(self) -> tuple[list[int], list[np.ndarray]] | None:
        """The epochs and the mean weights of the best epoch and those kept before it;
        None when there are fewer than two."""
        if len(self.window) < 2:
            return None
        each = [w for _, w in self.window]
        weights = [np.mean(values, axis=0) for values in zip(*each, strict=True)]
        return [epoch for epoch, _ in self.window], weights


class Translator(Recipe):
    """Encoder-decoder with attention; greedy and beam search decoding in the graph."""

    name = "translator"
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
        self.source_vocabulary = vocabulary(splits.train.texts, split, min_count, c.max_vocabulary)
        self.target_vocabulary = vocabulary(splits.train.labels, split, min_count, c.max_vocabulary)
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

    def to_dataset(self, examples: Examples, training: bool) -> tf.data.Dataset:
        """``((source ids, target input ids), target output ids)`` in length buckets.

        Pairs of similar lengths are batched together, padded to a few bucket lengths
        and to full batches (rows of padding add nothing to the loss), so XLA compiles
        a handful of shapes. Pairs longer than ``max_train_length`` tokens are left
        out (from the validation loss too; :meth:`metrics` decodes every pair).
        """
        c = self.config
        source_lengths = token_lengths(self.encode_sources, examples.texts)
        target_lengths = token_lengths(self.encode_targets, examples.labels) + 1  # <s> or </s>
        kept = np.flatnonzero(
            (source_lengths <= c.max_train_length) & (target_lengths <= c.max_train_length)
        )
        if len(kept) == 0:
            raise UserError(
                f"No pair of the {'training' if training else 'validation'} data is at most "
                f"max_train_length={c.max_train_length} tokens long; raise it with --set."
            )

        def encode(source, target):
            # teacher forcing: the decoder reads <s> y1 .. yn and writes y1 .. yn </s>
            src = self.encode_sources(source[None])[0]
            tgt = self.encode_targets(target[None])[0]
            return src, tf.concat([[START], tgt], 0), tf.concat([tgt, [END]], 0)

        lengths = (source_lengths[kept], target_lengths[kept])
        return bucketed_batches(
            examples.take(kept), lengths, encode, c.batch_size, training, c.seed
        )

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
        logits, _ = teacher_forced(layers, source, target_in, dropout, states)
        model = keras.Model([source, target_in], logits, name="translator")
        model.compile(
            optimizer=self.optimizer(),
            loss=(
                SmoothedCrossEntropy(c.label_smoothing, ignore_class=PAD)
                if c.label_smoothing
                else keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD)
            ),
            jit_compile=self.jit_compile(),
        )
        return model

    def _layers(self) -> dict[str, keras.layers.Layer]:
        self._require_model()
        return {layer.name: layer for layer in self.model.layers}

    # -- decoding ----------------------------------------------------------------------------
    def _decoder_function(self):
        """Raw strings in, translations out (:func:`translation_function`)."""
        return translation_function(
            self._layers(), self.encode_sources, self.join_tokens, self.target_vocabulary
        )

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
        return [
            best[0][0] for best in self.n_best(texts, 1, beam_width, length_penalty, max_length)
        ]

    def n_best(
        self,
        texts: list[str],
        n: int,
        beam_width: int | None = None,
        length_penalty: float | None = None,
        max_length: int | None = None,
    ) -> list[list[tuple[str, float]]]:
        """The ``n`` best translations of each text, best first, with their scores.

        A score is the beam's log-probability divided by the length penalty
        ``((5 + length) / 6) ** length_penalty``, the end token counted. The other
        arguments are :meth:`translate`'s; ``n`` is at most the beam width.
        """
        c = self.config
        # the options checked against their config keys' ranges, before any work
        width = (
            c.beam_width
            if beam_width is None
            else check_setting(TranslatorConfig, "beam_width", beam_width)
        )
        alpha = (
            c.length_penalty
            if length_penalty is None
            else check_setting(TranslatorConfig, "length_penalty", length_penalty)
        )
        max_length = (
            c.max_length
            if max_length is None
            else check_setting(TranslatorConfig, "max_length", max_length)
        )
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= width:
            raise UserError(
                f"n_best must be an integer in [1, {width}] (the beam width), got {n!r}."
            )
        self._require_model()
        texts = [str(t) for t in texts]
        decode = self._compiled("decode", self._decoder_function)
        translate = self._compiled(
            f"translate-{width}-{n}",
            lambda: tf.function(
                lambda texts, alpha, max_length: {
                    k: v
                    for k, v in decode(texts, width, alpha, max_length, keep=n).items()
                    if k in ("translations", "scores")
                },
                input_signature=[
                    tf.TensorSpec([None], tf.string),
                    tf.TensorSpec([], tf.float32),
                    tf.TensorSpec([], tf.int32),
                ],
            ),
        )
        out: list[list[tuple[str, float]]] = []
        for start in self.counted(range(0, len(texts), c.batch_size), "batches"):
            chunk = tf.constant(texts[start : start + c.batch_size], tf.string)
            found = translate(chunk, tf.constant(alpha), tf.constant(max_length))
            for row, scores in zip(
                found["translations"].numpy(), found["scores"].numpy(), strict=True
            ):
                out.append(
                    [(t.decode("utf-8"), float(x)) for t, x in zip(row, scores, strict=True)]
                )
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
        _, weights = teacher_forced(layers, src.to_tensor(), target_in, None, states)
        source_tokens = [t.decode() for t in self.split_tokens(tf.constant([text]))[0].numpy()]
        output_tokens = [
            t.decode() for t in self.split_tokens(tf.constant([translation]))[0].numpy()
        ] + ["</s>"]
        return source_tokens, output_tokens, weights.numpy()[0]

    def plot_attention(self, text: str, path: str | Path, beam_width: int | None = None) -> Path:
        """Draws the attention weights of one translation as a heatmap PNG."""
        translation = self.translate([text], beam_width=beam_width)[0]
        return attention_heatmap(text, translation, *self.attention(text, translation), path)

    def predict(
        self,
        inputs: list[str],
        beam_width: int | None = None,
        n_best: int | None = None,
        plot: str | None = None,
    ) -> list[dict]:
        """Translations of raw texts, one ``{"source", "translation"}`` dict per text.

        ``n_best`` above 1 adds ``"n_best"``: that many ``{"translation", "score"}``,
        best first (:meth:`n_best`, scores rounded to 4 decimals). ``plot``: a PNG path;
        the attention weights of the first input are drawn there.
        """
        n = 1 if n_best is None else n_best
        found = self.n_best(inputs, n, beam_width=beam_width)
        if plot and inputs:
            self.plot_attention(inputs[0], plot, beam_width=beam_width)
        results = []
        for source, best in zip(inputs, found, strict=True):
            result = {"source": source, "translation": best[0][0]}
            if n > 1:
                result["n_best"] = [{"translation": t, "score": round(x, 4)} for t, x in best]
            results.append(result)
        return results

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

    def training_callbacks(self, splits: Splits) -> list[keras.callbacks.Callback]:
        """With ``average_epochs`` above 1: :class:`EpochWeights`, which keeps the weights
        of the last epochs for :meth:`finish_training`."""
        c = self.config
        self._epoch_weights = None
        if c.average_epochs > 1:
            self._epoch_weights = EpochWeights(self.monitored()[0], c.average_epochs)
        return [self._epoch_weights] if self._epoch_weights else []

    def finish_training(self, splits: Splits) -> dict[str, Any]:
        """With ``average_epochs`` above 1, checkpoint averaging: the mean of the weights
        of the best epoch and the ``average_epochs - 1`` before it (those this call of
        ``fit`` trained), kept when it scores a higher validation BLEU than the best
        epoch alone. Reports both scores and the epochs averaged."""
        kept = getattr(self, "_epoch_weights", None)
        averaged = kept.averaged() if kept else None
        if averaged is None:
            return {}
        epochs, weights = averaged
        best = self.measured(splits.validation, "the best epoch's validation BLEU")["bleu"]
        alone = self.model.get_weights()
        self.model.set_weights(weights)
        mean = self.measured(splits.validation, "the averaged epochs' validation BLEU")["bleu"]
        if mean <= best:
            self.model.set_weights(alone)
        return {
            "averaged_epochs": epochs if mean > best else [],
            "val_bleu_best_epoch": best,
            "val_bleu_averaged": mean,
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
            found = translate(text, width, alpha, max_length, keep=1)
            return {"translation": found["translations"][:, 0]}

        return serve

    def export_beam_width(self) -> int:
        """The widest beam the ``translate`` signature takes: the run's, or
        :data:`EXPORT_BEAM_WIDTH` if that is wider."""
        return max(self.config.beam_width, EXPORT_BEAM_WIDTH)

    def translate_function(self):
        """The ``translate`` signature: ``text`` [B], ``beam_width`` and ``n_best`` (int32
        scalars) in; the best ``translation`` [B], the ``translations`` and ``scores``
        [B, n_best] (best first, as :meth:`n_best`), and the best translation's
        ``source_tokens`` [B, S] and ``output_tokens`` [B, T] (padded with "", the end
        token ``</s>`` included) with the ``attention`` [B, T, S] of each output token over
        the source tokens (as :meth:`attention`; 0 in the padding)."""
        layers = self._layers()
        translate = self._decoder_function()
        widest = self.export_beam_width()
        alpha = tf.constant(self.config.length_penalty, tf.float32)
        max_length = tf.constant(self.config.max_length, tf.int32)
        tokens_of = tf.constant(["", "", "", SPECIALS[1], *self.target_vocabulary])

        def serve(text, beam_width, n_best):
            checks = [
                tf.debugging.assert_greater_equal(
                    beam_width, 1, message="beam_width must be at least 1"
                ),
                tf.debugging.assert_less_equal(
                    beam_width,
                    widest,
                    message=f"beam_width must be at most {widest}, the widest beam of this export",
                ),
                tf.debugging.assert_greater_equal(n_best, 1, message="n_best must be at least 1"),
                tf.debugging.assert_less_equal(
                    n_best, beam_width, message="n_best must be at most beam_width"
                ),
            ]
            with tf.control_dependencies(checks):
                found = translate(text, widest, alpha, max_length, live=beam_width, keep=n_best)
            best = found["tokens"][:, 0]  # [B, max_length]: to the longest written
            best = best[:, : tf.reduce_max(tf.reduce_sum(tf.cast(best != PAD, tf.int32), 1))]
            source_tokens = self.split_tokens(text).to_tensor("")
            weights = attention_of(layers, found["source_ids"], best)
            return {
                "translation": found["translations"][:, 0],
                "translations": found["translations"],
                "scores": found["scores"],
                "source_tokens": source_tokens,
                "output_tokens": tf.gather(tokens_of, best),
                "attention": weights[:, :, : tf.shape(source_tokens)[1]],
            }

        return serve

    def export_endpoints(self) -> dict[str, tuple[Any, list[tf.TensorSpec]]]:
        """``serving_default`` (``text`` -> ``translation``, the run's beam width) and
        ``translate`` (:meth:`translate_function`: beam width and n-best as inputs)."""
        return {
            **super().export_endpoints(),
            "translate": (
                self.translate_function(),
                [
                    tf.TensorSpec([None], tf.string, name="text"),
                    tf.TensorSpec([], tf.int32, name="beam_width"),
                    tf.TensorSpec([], tf.int32, name="n_best"),
                ],
            ),
        }

    def write_onnx(self, export_dir: Path) -> None:
        """``model.onnx`` (:func:`~recipes.translator.decoding.search_function`: source ids,
        beam width and n-best in; the n best beams' token ids, their scores and the best
        one's attention weights out; the beam search is an ONNX ``Loop`` in the graph, one
        search :meth:`export_beam_width` wide as the ``translate`` signature),
        ``preprocessing.json`` (the vocabularies by id, the special ids, the tokenizer's
        kind and character classes, the length buckets, the batch size and the decoding
        settings) and ``inference.py`` (:mod:`recipes.translator.onnx_inference`: raw
        texts in, predict's dicts out, with NumPy and onnxruntime only)."""
        from recipes.core import onnx

        onnx.convert(self._search_function(), SEARCH_SIGNATURE, export_dir / onnx.MODEL_FILE)
        self._write_portable(export_dir)

    def write_tflite(self, export_dir: Path, quantize: str | None = None) -> None:
        """Refused in one line: TFLite's builtin ops cannot run the beam search, whose
        loop writes its steps to TensorLists (Flex ops); :func:`recipes.core.tflite.convert`
        names them."""
        from recipes.core import tflite

        tflite.convert(self._search_function(), self.name, export_dir / tflite.MODEL_FILE, quantize)
        self._write_portable(export_dir)

    def _search_function(self):
        """:func:`~recipes.translator.decoding.search_function` of the trained layers, one
        search :meth:`export_beam_width` wide."""
        self._require_model()
        return tf.function(
            search_function(self._layers(), self.export_beam_width()),
            input_signature=SEARCH_SIGNATURE,
        )

    def _write_portable(self, export_dir: Path) -> None:
        from recipes.core.portable import write_portable

        c = self.config
        widest = self.export_beam_width()
        preprocessing = {
            "tokens": self.token_kind,
            # the token of id i is the i-th (0 padding, 1 out of vocabulary, 2 start, 3 end)
            "source_vocabulary": [str(t) for t in self.source_lookup.get_vocabulary()],
            "target_vocabulary": [str(t) for t in self.target_lookup.get_vocabulary()],
            "ids": {"padding": PAD, "unknown": OOV, "start": START, "end": END},
            "joiner": JOINER,
            "character_classes": character_classes() if self.token_kind == "words" else {},
            "buckets": [int(b) for b in BUCKETS],
            "batch_size": c.batch_size,
            "beam_width": c.beam_width,
            "widest_beam": widest,
            "length_penalty": c.length_penalty,
            "max_length": c.max_length,
        }
        write_portable(export_dir, Path(__file__).with_name("onnx_inference.py"), preprocessing)
