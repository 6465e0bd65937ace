"""Character language models (one-to-many at generation): the shared core of ``char_text``
and ``char_music``.

Reads top to bottom: settings, corpus, model, evaluation, generation, export.

    StringLookup over characters (in tf.data, in generation and in the export)
      -> Embedding -> DeepRNN(custom_layers LSTM or GRU) -> Dropout -> Dense logits

Training sees windows of the corpus (``window`` characters, next-character targets at
every position). Evaluation reads each text from start to end in windows, carrying the
recurrent states across them, so every character is predicted from all the text before
it: that is what ``bits_per_char`` measures. Generation is one compiled loop in the
graph that carries the states from character to character.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import custom_layers as cl
from recipes.charlm.config import SAMPLES, CharLMConfig, check_flag, check_option
from recipes.charlm.generation import (
    UNIFORM_HIGH,
    UNIFORM_LOW,
    generation_function,
    onnx_generation_function,
    zero_states,
)
from recipes.core.config import field_range
from recipes.core.data import Splits
from recipes.core.errors import UserError
from recipes.core.recipe import Recipe, string_lookup

OOV = "[UNK]"


# -- settings ---------------------------------------------------------------------------
def tail_split(text: str, share: float) -> tuple[str, str]:
    """``text`` cut before its last ``share``, at a line start when there is one near."""
    cut = int(len(text) * (1 - share))
    newline = text.find("\n", cut - 1)
    if newline != -1 and newline + 1 < len(text) and newline - cut < 1000:
        cut = newline + 1
    return text[:cut], text[cut:]


def tail_parts(text: str, validation: float, test: float) -> tuple[str, str, str]:
    """Train, validation and test parts of a text: its last ``validation`` share, and the
    ``test`` share before that (each cut at a line start when there is one near)."""
    rest, held = tail_split(text, validation)
    if not test:
        return rest, held, ""
    train, tested = tail_split(rest, test / (1 - validation))
    return train, held, tested


# -- dynamic evaluation -----------------------------------------------------------------
#: dynamic evaluation: the share of the distance to the trained weights taken back at
#: every step
ADAPT_DECAY = 0.001
#: dynamic evaluation: the decay of RMSprop's mean square of the gradients
ADAPT_BETA = 0.99


class Adapter:
    """One step of dynamic evaluation, compiled: a window's negative log-likelihoods
    (scored before the step), then one RMSprop step on them, with the decay toward the
    trained weights (see :meth:`CharLM.bits_per_char`).

    Call :meth:`reset` with the trained weights before reading a text.
    """

    def __init__(self, model: keras.Model, emb, rnn, dense):
        self.weights = model.trainable_variables
        self.trained = [tf.Variable(tf.zeros_like(w.value), trainable=False) for w in self.weights]
        self.squares = [tf.Variable(tf.zeros_like(w.value), trainable=False) for w in self.weights]
        self.steps = tf.Variable(0.0, trainable=False)

        def step(inputs, targets, states, rate):
            with tf.GradientTape() as tape:
                outputs = rnn(emb(inputs), initial_state=states, training=False)
                nll = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, dense(outputs[0]))
                loss = tf.reduce_mean(nll)
            gradients = tape.gradient(loss, self.weights)
            self.steps.assign_add(1.0)
            unbiased = 1.0 - tf.pow(ADAPT_BETA, self.steps)
            for weight, gradient, square, trained in zip(
                self.weights, gradients, self.squares, self.trained, strict=True
            ):
                gradient = tf.convert_to_tensor(gradient)
                square.assign(ADAPT_BETA * square + (1.0 - ADAPT_BETA) * tf.square(gradient))
                move = gradient / (tf.sqrt(square / unbiased) + 1e-8)
                value = weight.value
                weight.assign(value - rate * move + ADAPT_DECAY * (trained - value))
            return nll, outputs[1:]

        self._step = tf.function(step, jit_compile=True, reduce_retracing=True)

    def reset(self, trained: list[np.ndarray]) -> None:
        """Before a text: the trained weights to decay toward, no gradients seen yet."""
        for variable, value in zip(self.trained, trained, strict=True):
            variable.assign(value)
        for square in self.squares:
            square.assign(tf.zeros_like(square))
        self.steps.assign(0.0)

    def __call__(self, inputs, targets, states, rate: float):
        return self._step(inputs, targets, states, tf.constant(rate, tf.float32))


# -- the recipe -------------------------------------------------------------------------
class CharLM(Recipe):
    """Base of the character generators: a subclass reads its corpus and post-processes."""

    config_class = CharLMConfig
    monitor = ("val_loss", "min")
    #: text fed before sampling when the prime is empty
    default_prime: str = "\n"
    #: text that every document of the corpus ends with (joined documents are read as one)
    separator: str = "\n"
    #: text fed before every prime (and left out of the samples): the context in which
    #: documents begin in the corpus
    lead_in: str = ""

    def __init__(self, config: CharLMConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        self.chars: list[str] = []
        self.lookup: keras.layers.StringLookup | None = None

    # -- corpus ------------------------------------------------------------------------
    def load_documents(self, source: str | None) -> tuple[list[str], list[str], list[str]]:
        """Train, validation and test documents of a source (test may be empty)."""
        raise NotImplementedError

    def load_splits(self, data: str | None) -> Splits:
        train, validation, test = self.load_documents(data)
        if not "".join(train):
            raise UserError(f"{data or self.default_data}: no training text found.")
        return Splits(train, validation, test)

    def load_examples(self, data: str) -> list[str]:
        """All documents of a source, whole (for ``evaluate(data=...)``)."""
        raise NotImplementedError

    def corpus(self, documents: list[str]) -> str:
        """Documents joined into the one text the model reads."""
        return "".join(d if d.endswith(self.separator) else d + self.separator for d in documents)

    def prepare(self, splits: Splits) -> None:
        counts: dict[str, int] = {}
        for char in self.corpus(splits.train):
            counts[char] = counts.get(char, 0) + 1
        self.chars = sorted(counts, key=lambda c: (-counts[c], c))
        self.lookup = self._make_lookup(self.chars)

    @staticmethod
    def _make_lookup(chars: list[str]) -> keras.layers.StringLookup:
        # id 0 is the out-of-vocabulary token, characters are 1..len(chars)
        return string_lookup(chars, num_oov_indices=1, oov_token=OOV)

    @property
    def vocabulary_size(self) -> int:
        return len(self.chars) + 1

    def encode(self, text: str) -> np.ndarray:
        """A text as character ids (0 for characters the vocabulary lacks)."""
        if not text:
            return np.zeros((0,), "int32")
        ids = self.lookup(tf.strings.unicode_split(tf.constant(text), "UTF-8"))
        return ids.numpy().astype("int32")

    def to_dataset(self, documents: list[str], training: bool) -> tf.data.Dataset:
        """Windows of the corpus with next-character targets.

        In training the window starts move by a random offset each time (so an epoch
        sees each character about once, in new company) and the windows are shuffled.
        """
        c = self.config
        ids = self.encode(self.corpus(documents))
        window = min(c.window, len(ids) - 1)
        if window < 1:
            raise UserError(
                f"The {'training' if training else 'validation'} text has {len(ids)} "
                f"characters; it needs at least 2."
            )
        count = (len(ids) - 1) // window
        last_start = len(ids) - 1 - window
        table = tf.constant(ids)
        starts = tf.data.Dataset.range(count)
        if training:
            starts = tf.data.Dataset.zip(
                starts.shuffle(count, seed=c.seed, reshuffle_each_iteration=True),
                tf.data.Dataset.random(seed=c.seed, rerandomize_each_iteration=True),
            ).map(lambda i, r: tf.minimum(i * window + r % window, last_start))
        else:
            starts = starts.map(lambda i: i * window)

        def window_at(start):
            piece = tf.slice(table, tf.reshape(start, [1]), [window + 1])
            return piece[:-1], piece[1:]

        ds = starts.map(window_at, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(c.batch_size, drop_remainder=training and count >= c.batch_size)
        return ds.prefetch(tf.data.AUTOTUNE)

    # -- model -------------------------------------------------------------------------
    def build_model(self) -> keras.Model:
        c = self.config
        keras.utils.set_random_seed(c.seed)
        ids = keras.Input((None,), dtype="int32", name="char_ids")
        x = keras.layers.Embedding(self.vocabulary_size, c.embedding_dim, name="embedding")(ids)
        sequences = cl.DeepRNN(
            [c.units] * c.layers,
            cell=c.cell,
            dropout=c.dropout,
            return_sequences=True,
            return_state=True,  # unused in training; generation carries them
            name="rnn",
        )(x)[0]
        x = keras.layers.Dropout(c.dropout, seed=c.seed, name="output_dropout")(sequences)
        logits = keras.layers.Dense(self.vocabulary_size, name="logits")(x)
        model = keras.Model(ids, logits, name=self.name)
        model.compile(
            optimizer=self.optimizer(),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=self.jit_compile(),
        )
        return model

    def _layers(self) -> tuple[keras.layers.Layer, cl.DeepRNN, keras.layers.Layer]:
        self._require_model()
        m = self.model
        return m.get_layer("embedding"), m.get_layer("rnn"), m.get_layer("logits")

    def _zero_states(self, batch) -> list[tf.Tensor]:
        return zero_states(self._layers()[1], batch)

    # -- evaluation --------------------------------------------------------------------
    def bits_per_char(
        self, documents: list[str], limit: int = 0, streams: int = 64, adapt: float = 0.0
    ) -> float:
        """Bits per character of the documents, each character predicted from all before it.

        The text is read as ``streams`` contiguous parts side by side, window after
        window, with the recurrent states carried from one window to the next.

        With ``adapt`` above 0 (dynamic evaluation, Krause et al., 2018), the model also
        keeps learning from the text as it reads it: the text is read as one stream, and
        after each window is scored, one RMSprop step of rate ``adapt`` on that window
        (on characters already predicted, never on those ahead) moves the weights, and
        :data:`ADAPT_DECAY` of their distance to the trained weights pulls them back.
        The trained weights are restored afterwards.
        """
        ids = self.encode(self.corpus(documents))
        if limit:
            ids = ids[: limit + 1]
        n = len(ids) - 1
        if n < 1:
            raise UserError("No text to score: the documents hold fewer than 2 characters.")
        streams = 1 if adapt else max(1, min(streams, n // self.config.window))
        span = -(-n // streams)  # characters per stream, the last padded
        pad = streams * span - n
        inputs = np.pad(ids[:-1], (0, pad)).reshape(streams, span)
        targets = np.pad(ids[1:], (0, pad)).reshape(streams, span)
        weights = np.pad(np.ones(n, "float32"), (0, pad)).reshape(streams, span)
        score = self._adapter() if adapt else self._scorer()
        variables = self.model.trainable_variables
        trained = [v.numpy() for v in variables] if adapt else []  # restored afterwards
        states = self._zero_states(streams)
        total = 0.0
        try:
            if adapt:
                score.reset(trained)
            for start in self.counted(range(0, span, self.config.window), "windows"):
                end = start + self.config.window
                window = (inputs[:, start:end], targets[:, start:end], states)
                nll, states = score(*window, adapt) if adapt else score(*window)
                total += float(tf.reduce_sum(nll * weights[:, start:end]))
        finally:
            if adapt:  # the trained weights back, whatever happened
                for variable, value in zip(variables, trained, strict=True):
                    variable.assign(value)
        return total / n / math.log(2)

    def _scorer(self):
        emb, rnn, dense = self._layers()

        def score(inputs, targets, states):
            outputs = rnn(emb(inputs), initial_state=states, training=False)
            logits = dense(outputs[0])
            nll = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
            return nll, outputs[1:]

        return self._compiled(
            "score", lambda: tf.function(score, jit_compile=True, reduce_retracing=True)
        )

    def _adapter(self) -> Adapter:
        """The scorer of dynamic evaluation (see :meth:`bits_per_char`), compiled once
        per model."""
        return self._compiled("adapt", lambda: Adapter(self.model, *self._layers()))

    def metrics(self, documents: list[str]) -> dict[str, float]:
        """``bits_per_char`` (states carried through each text; see :meth:`bits_per_char`),
        and with ``adapt_rate`` above 0, ``adapted_bits_per_char`` (dynamic evaluation)
        on held-out text."""
        # the training split's figure is taken on its first `eval_chars` characters; the
        # cached splits are only looked at (other documents never cause a data read)
        is_train = self._splits is not None and documents is self._splits[1].train
        limit = self.config.eval_chars if is_train else 0
        result = {"bits_per_char": self.bits_per_char(documents, limit=limit)}
        if self.config.adapt_rate and not is_train:
            adapted = self.bits_per_char(documents, adapt=self.config.adapt_rate)
            result["adapted_bits_per_char"] = adapted
        return result

    # -- generation --------------------------------------------------------------------
    def generator(self, grammar: bool):
        """The compiled generation function (built once per model), following
        :meth:`grammar_tables` unless ``grammar`` is False.

        ``(prime[B] strings, length, temperature, top_k, top_p, seed) -> text[B]``: the
        primes are fed first (each on its own, left-padded and masked), then ``length``
        characters are sampled in one graph loop that carries the recurrent states.
        """
        signature = [
            tf.TensorSpec([None], tf.string),  # prime
            tf.TensorSpec([], tf.int32),  # length
            tf.TensorSpec([], tf.float32),  # temperature
            tf.TensorSpec([], tf.int32),  # top_k
            tf.TensorSpec([], tf.float32),  # top_p
            tf.TensorSpec([], tf.int64),  # seed
        ]
        return self._compiled(
            f"generate-{grammar}",
            lambda: tf.function(self._generation_function(grammar), input_signature=signature),
        )

    def _generation_function(self, grammar: bool):
        emb, rnn, dense = self._layers()
        return generation_function(
            emb,
            rnn,
            dense,
            self.lookup,
            self.chars,
            self.default_prime,
            self.lead_in,
            self.stop_at_blank_line,
            self.grammar_tables() if grammar else None,
        )

    def grammar_tables(self) -> Any:
        """The grammar that generated texts follow, as tables the sampling loop reads
        (:func:`recipes.charlm.generation.grammar_functions`), or None: none (char_text)."""
        return None

    #: music stops a sample at its first blank line (the end of a tune)
    stop_at_blank_line: bool = False

    def generate(
        self,
        prime: str | list[str] = "",
        samples: int = 1,
        length: int | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        grammar: bool | None = None,
    ) -> list[str]:
        """Samples text, each beginning with its prime.

        Args:
            prime: text fed first (empty: ``default_prime``); a list gives one sample
                per prime, a string ``samples`` samples.
            samples: samples drawn at once when ``prime`` is a string.
            length: characters sampled after the prime (default: ``config.length``).
            temperature, top_k, top_p: sampling settings (defaults: the config's).
            seed: the same seed and arguments give the same samples (default:
                ``config.seed``).
            grammar: whether the samples follow the recipe's grammar, where it has one
                (char_music: :mod:`recipes.char_music.grammar`; default: the config's
                ``grammar``).
        """
        c = self.config
        # every option checked before any work (the config's values already are)
        samples = check_option("samples", samples)
        length = c.length if length is None else check_option("length", length)
        temperature = (
            c.temperature if temperature is None else check_option("temperature", temperature)
        )
        top_k = c.top_k if top_k is None else check_option("top_k", top_k)
        top_p = c.top_p if top_p is None else check_option("top_p", top_p)
        seed = c.seed if seed is None else check_option("seed", seed)
        grammar = (
            getattr(c, "grammar", False) if grammar is None else check_flag("grammar", grammar)
        )
        primes = [prime] * samples if isinstance(prime, str) else list(prime)
        if not primes:
            return []
        texts = self.generator(grammar)(
            tf.constant(primes, tf.string),
            tf.constant(length, tf.int32),
            tf.constant(temperature, tf.float32),
            tf.constant(top_k, tf.int32),
            tf.constant(top_p, tf.float32),
            tf.constant(seed, tf.int64),
        )
        return [t.decode("utf-8", errors="replace") for t in texts.numpy()]

    #: file name of the n-th sample written by ``predict(..., out=FOLDER)``
    sample_name: str = "sample_{:03d}.txt"

    def predict(self, inputs: list[str], **options: Any) -> list[dict]:
        """``generate`` for each prime in ``inputs`` (none: the default prime).

        Options: those of :meth:`generate` (a random ``seed`` when none is given; each
        result names its seed), and ``out``: a folder to write each sample to.

        Returns:
            One dict per sample: ``{"prime", "seed", "text"}`` (and ``"file"``).
        """
        out = options.pop("out", None)
        for name, value in options.items():  # before any sample is drawn
            if name not in self.predict_options():
                raise UserError(f"Unknown option '{name}' of {self.name} predict.")
            if value is not None:
                checked = check_flag if name == "grammar" else check_option
                options[name] = checked(name, value)
        seed = options.pop("seed", None)
        if seed is None:
            seed = int(np.random.default_rng().integers(2**31))
        samples = options.pop("samples", None)
        samples = 1 if samples is None else samples
        results = []
        for prime in inputs or [""]:
            texts = self.generate(prime, samples=samples, seed=seed, **options)
            results += [{"prime": prime, "seed": seed, "text": t} for t in texts]
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            for number, result in enumerate(results, start=1):
                path = Path(out) / self.sample_name.format(number)
                path.write_text(result["text"], encoding="utf-8")
                result["file"] = str(path)
        return results

    # -- run folder --------------------------------------------------------------------
    def save_assets(self, run_dir: Path) -> None:
        (run_dir / "vocabulary.json").write_text(json.dumps(self.chars, ensure_ascii=False) + "\n")

    def load_assets(self, run_dir: Path) -> None:
        try:
            self.chars = json.loads((run_dir / "vocabulary.json").read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise UserError(f"{run_dir}: vocabulary.json unreadable ({err}).") from None
        self.lookup = self._make_lookup(self.chars)
        self._functions = (None, {})

    # -- export ------------------------------------------------------------------------
    def serving_resources(self) -> list:
        return [self.lookup, self.model]

    def serving_signature(self) -> list[tf.TensorSpec]:
        return [
            tf.TensorSpec([None], tf.string, name="prime"),
            tf.TensorSpec([], tf.int32, name="length"),
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int32, name="top_k"),
            tf.TensorSpec([], tf.float32, name="top_p"),
            tf.TensorSpec([], tf.int64, name="seed"),
        ]

    def serving_function(self):
        """``generate(prime, length, temperature, top_k, top_p, seed)`` ->
        ``{"text": prime + sample}``; each option in its config key's range, else the call
        fails with a message naming it."""
        generate = self._generation_function(getattr(self.config, "grammar", False))

        def serve(prime, length, temperature, top_k, top_p, seed):
            checks = [
                tf.debugging.assert_greater_equal(
                    length, 0, message="length: must be at least 0 (0: the prime alone)"
                ),
                tf.debugging.assert_greater_equal(
                    temperature, 0.0, message="temperature: must be at least 0"
                ),
                tf.debugging.assert_greater_equal(
                    top_k, 0, message="top_k: must be at least 0 (0: all characters)"
                ),
                tf.debugging.assert_greater(
                    top_p, 0.0, message="top_p: must be in (0, 1] (1: all characters)"
                ),
                tf.debugging.assert_less_equal(
                    top_p, 1.0, message="top_p: must be in (0, 1] (1: all characters)"
                ),
            ]
            with tf.control_dependencies(checks):
                return {"text": generate(prime, length, temperature, top_k, top_p, seed)}

        return serve

    def serving_endpoints(self) -> list[str]:
        return ["serving_default", "generate"]

    #: whether generated texts are tunes (char_music): ONNX's ``inference.py`` then cuts
    #: each at its end and checks it, as the recipe's ``generate`` and ``predict`` do
    tunes: bool = False

    def write_onnx(self, export_dir: Path) -> None:
        """``model.onnx`` (the whole generation loop: primes' ids, the sampling options and
        the draws' uniforms in, the drawn ids out), ``preprocessing.json`` (the characters,
        the default prime, lead-in and options) and ``inference.py``
        (:mod:`recipes.charlm.onnx_inference`: primes in, predict's dicts out, with NumPy
        and onnxruntime only; it computes the uniforms of a seed as the recipe's loop
        draws them)."""
        from recipes.core import onnx

        onnx.convert(*self._numeric_function(), export_dir / onnx.MODEL_FILE)
        self._write_portable(export_dir)

    def write_tflite(self, export_dir: Path, quantize: str | None = None) -> None:
        """Refused in one line: TFLite's builtin ops cannot run the generation loop, whose
        recurrent layers write their steps to TensorLists (Flex ops);
        :func:`recipes.core.tflite.convert` names them."""
        from recipes.core import tflite

        numeric, _ = self._numeric_function()
        tflite.convert(numeric, self.name, export_dir / tflite.MODEL_FILE, quantize)
        self._write_portable(export_dir)

    def _numeric_function(self):
        """The generation loop of :meth:`write_onnx`'s model, and its input signature."""
        emb, rnn, dense = self._layers()
        signature = [
            tf.TensorSpec([None, None], tf.int64, name="char_ids"),
            tf.TensorSpec([None, None], tf.bool, name="mask"),
            tf.TensorSpec([], tf.int32, name="length"),
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int32, name="top_k"),
            tf.TensorSpec([], tf.float32, name="top_p"),
            tf.TensorSpec([None, None, self.vocabulary_size], tf.float32, name="uniform"),
        ]
        numeric = tf.function(
            onnx_generation_function(
                emb,
                rnn,
                dense,
                self.chars,
                self.stop_at_blank_line,
                self.grammar_tables() if getattr(self.config, "grammar", False) else None,
            ),
            input_signature=signature,
        )
        return numeric, signature

    def _write_portable(self, export_dir: Path) -> None:
        from recipes.core.portable import write_portable

        c = self.config
        options = {
            name: {
                "default": getattr(c, name),
                "range": str(field_range(type(c), name)),
                "integer": name not in ("temperature", "top_p"),
            }
            for name in ("length", "temperature", "top_k", "top_p", "seed")
        }
        options["samples"] = {"default": 1, "range": SAMPLES, "integer": True}
        preprocessing = {
            "recipe": self.name,
            "chars": self.chars,
            "default_prime": self.default_prime,
            "lead_in": self.lead_in,
            "tunes": self.tunes,
            "sample_name": self.sample_name,
            "options": options,
            "uniform": {"low": UNIFORM_LOW, "high": UNIFORM_HIGH},
        }
        write_portable(export_dir, Path(__file__).with_name("onnx_inference.py"), preprocessing)
