"""The character generators' ONNX export (char_text, char_music) on raw primes, with NumPy
and onnxruntime only.

``rnn-apps export RUN --format onnx`` writes this file beside ``model.onnx`` as
``inference.py``, with the vocabulary and the generation settings in
``preprocessing.json``; it needs neither TensorFlow nor rnn-apps::

    import sys
    sys.path.insert(0, "exported/text-onnx")  # the export folder
    import inference

    model = inference.load("exported/text-onnx")
    print(model.predict(["Once upon"], length=40, temperature=0.8, seed=7))
    # [{'prime': 'Once upon', 'seed': 7, 'text': 'Once upon a time ...'}]

``predict`` returns what ``rnn-apps predict RUN`` prints for the same options and seed,
the same characters (``generate``: those of ``CharLM.generate``). For char_music (whose
``preprocessing.json`` has ``"tunes": true``) each text is one whole tune and ``predict``
adds ``parses`` and ``headers`` and a last ``{"parse_rate"}``, as the recipe does: the
headers are read here, but whether a tune parses needs ``music21`` (the ``music`` extra),
imported only then (and for the MIDI files of ``out``); ``generate`` never needs it.

``model.onnx`` (one graph, the generation loop included):

- inputs: ``char_ids`` int64 ``[B, T]``: ``lead_in + prime`` (an empty prime: the default
  prime) as character ids (the index in ``["[UNK]", *chars]``; 0 for characters not in
  ``chars``), left-padded with 0 to the longest; ``mask`` bool ``[B, T]``: False at the
  padding; ``length`` int32 ``[]``: characters to draw; ``temperature`` float32 ``[]``;
  ``top_k`` int32 ``[]`` (0: all); ``top_p`` float32 ``[]`` (1: all); ``uniform``
  float32 ``[length, B, V]`` (V = ``len(chars) + 1``): step ``i``'s uniforms of the
  Gumbel-max draw, in ``[1e-20, 1)``.
- outputs: ``generated`` int32 ``[B, S]``: the drawn ids, ``S <= length`` (a tune's row
  draws 0 after its first blank line, and the loop stops when every row has one: the
  missing columns are 0); ``probabilities`` float32 ``[B, V]``: the model's distribution
  of the character after the primes.

What runs here, outside the graph: the strings (the prime's default and lead-in, the
vocabulary lookup, the padding, the joining of the drawn characters, a tune cut at its
end, its checks) and the random numbers. The recipe's loop draws step ``i`` with
``tf.random.stateless_uniform([B, V], seed=[seed, i], minval=1e-20, maxval=1.0)``, which
tf2onnx does not convert ("Tensorflow op [...: StatelessRandomGetKeyCounter] is not
supported", the same for ``StatelessRandomUniformV2``); :func:`generation_uniforms`
computes those numbers bit for bit as XLA does (Philox-4x32-10 keyed as TensorFlow keys
a seed, the seeds cut to 32 bits, the high 23 bits as the mantissa, the scaling one fused
multiply-add) and feeds them as ``uniform``. (:func:`stateless_uniform` gives the op's
numbers for any shape and range, under XLA or in TensorFlow's own kernels, which differ.)
The logits are onnxruntime's, within float round-off of TensorFlow's, so a draw could
differ only where two characters tie within that round-off. A run of model.onnx takes a
batch's uniforms whole, ``length x rows x V`` float32: :meth:`CharLMONNX.generated_ids`
splits a batch into runs of at most :data:`MAX_UNIFORMS` (64 MiB; one row at least).
"""

from __future__ import annotations

import json
import numbers
import re
from pathlib import Path

import numpy as np

try:  # in an export folder: the runtime shipped beside this file
    from rnn_apps_runtime import open_model
except ImportError:  # inside the rnn-apps package
    from recipes.core.model_runtime import open_model

# -- TensorFlow's stateless uniform numbers, in NumPy --------------------------------------
_PHILOX_M = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
_PHILOX_W = (np.uint32(0x9E3779B9), np.uint32(0xBB67AE85))
#: the key with which TensorFlow scrambles a seed into a Philox key and counter
_SEED_KEY = (0x3EC8F720, 0x02461E29)
_LOW32 = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)


def philox(counter: list[np.ndarray], key: list[np.ndarray]) -> list[np.ndarray]:
    """Philox-4x32-10: four uint32 words of ``counter`` (arrays of one shape) under the
    two words of ``key`` (arrays that broadcast to it) -> four uint32 arrays."""
    c0, c1, c2, c3 = (np.asarray(c, np.uint32) for c in counter)
    k0, k1 = (np.asarray(k, np.uint32) for k in key)
    with np.errstate(over="ignore"):
        for round_ in range(10):
            p0 = _PHILOX_M[0] * c0.astype(np.uint64)
            p1 = _PHILOX_M[1] * c2.astype(np.uint64)
            c0, c1, c2, c3 = (
                (p1 >> _32).astype(np.uint32) ^ c1 ^ k0,
                p1.astype(np.uint32),
                (p0 >> _32).astype(np.uint32) ^ c3 ^ k1,
                p0.astype(np.uint32),
            )
            if round_ < 9:
                k0, k1 = k0 + _PHILOX_W[0], k1 + _PHILOX_W[1]
    return [c0, c1, c2, c3]


def _words(value: np.ndarray) -> list[np.ndarray]:
    """uint64 values as their low and high uint32 words."""
    return [(value & _LOW32).astype(np.uint32), (value >> _32).astype(np.uint32)]


def random_bits(
    seed0: int, seed1: np.ndarray, start: int, count: int, xla: bool = True
) -> np.ndarray:
    """``[len(seed1), count]`` uint32: elements ``start .. start + count - 1`` of the
    Philox stream of each seed ``[seed0, seed1[j]]``, as TensorFlow's stateless random
    ops number them (each counter gives four elements, in order).

    The seed becomes a key and counter as ``StatelessRandomGetKeyCounter`` makes them: the
    seed words as a counter, scrambled by one Philox call under a fixed key. With ``xla``
    (the recipe's compiled loop), XLA's rule: each seed cut to its low 32 bits first;
    without, TensorFlow's kernels': the 64-bit seeds whole.
    """
    seed1 = np.asarray(seed1, np.int64).reshape(-1)
    seeds = [np.full(seed1.shape, seed0, np.int64).astype(np.uint64), seed1.astype(np.uint64)]
    if xla:
        seeds = [s & _LOW32 for s in seeds]
    words = [*_words(seeds[0]), *_words(seeds[1])]
    key = [np.full(seed1.shape, k, np.uint32) for k in _SEED_KEY]
    mix = philox(words, key)
    # key (mix0, mix1); counter (0, 0, mix2, mix3): low 64 bits 0, high 64 bits from mix
    key = [mix[0][:, None], mix[1][:, None]]
    high = (mix[2].astype(np.uint64) | (mix[3].astype(np.uint64) << _32))[:, None]
    first, last = start // 4, (start + count - 1) // 4
    low = np.arange(first, last + 1, dtype=np.uint64)[None, :]  # + 0: no carry below 2**64
    counter = [*_words(np.broadcast_to(low, (len(seed1), low.shape[1]))), *_words(high)]
    counter = [np.broadcast_to(c, (len(seed1), low.shape[1])) for c in counter]
    blocks = np.stack(philox(counter, key), axis=-1).reshape(len(seed1), -1)
    offset = start - 4 * first
    return blocks[:, offset : offset + count]


def bits_to_unit_float(bits: np.ndarray, xla: bool = True) -> np.ndarray:
    """uint32 random bits -> float32 in [0, 1), 23 of the bits as the mantissa of a
    number in [1, 2), minus 1: the high 23 under XLA, the low 23 in TensorFlow's kernels."""
    mantissa = (bits >> np.uint32(9)) if xla else (bits & np.uint32(0x7FFFFF))
    return (mantissa | np.uint32(0x3F800000)).view(np.float32) - np.float32(1.0)


def scaled_uniform(bits: np.ndarray, minval: float, maxval: float, xla: bool = True):
    """uint32 random bits -> float32 uniforms in ``[minval, maxval)`` as TensorFlow scales
    them, ``unit * (maxval - minval) + minval`` in float32: under XLA one fused
    multiply-add, rounded once (here through float64, where the product is exact)."""
    unit = bits_to_unit_float(bits, xla)
    low, high = np.float32(minval), np.float32(maxval)
    if not xla:
        return unit * (high - low) + low
    fused = unit.astype(np.float64) * np.float64(high - low) + np.float64(low)
    return fused.astype(np.float32)


def stateless_uniform(
    shape: tuple[int, ...],
    seed: tuple[int, int],
    minval: float = 0.0,
    maxval: float = 1.0,
    xla: bool = True,
) -> np.ndarray:
    """``tf.random.stateless_uniform(shape, seed, minval, maxval)`` (float32), bit for
    bit: under ``jit_compile=True`` with ``xla`` (as the recipe's generation loop runs it),
    eagerly or in a plain graph without."""
    count = int(np.prod(shape, dtype=np.int64))
    if count == 0:
        return np.zeros(shape, np.float32)
    bits = random_bits(seed[0], np.array([seed[1]]), 0, count, xla=xla)[0]
    return scaled_uniform(bits, minval, maxval, xla).reshape(shape)


def generation_uniforms(
    seed: int,
    length: int,
    rows: int,
    size: int,
    first_row: int = 0,
    minval: float = 1e-20,
    maxval: float = 1.0,
) -> np.ndarray:
    """float32 ``[length, rows, size]``: at step ``i``, rows ``first_row ..`` of
    ``tf.random.stateless_uniform([B, size], [seed, i], minval, maxval)`` as the recipe's
    XLA loop draws them (a row's numbers do not depend on ``B``), computed a few steps at
    a time."""
    uniform = np.zeros((length, rows, size), np.float32)
    steps = max(1, (1 << 20) // max(1, rows * size))
    for start in range(0, length if rows and size else 0, steps):
        index = np.arange(start, min(start + steps, length))
        bits = random_bits(seed, index, first_row * size, rows * size, xla=True)
        uniform[index] = scaled_uniform(bits, minval, maxval, xla=True).reshape(-1, rows, size)
    return uniform


# -- the export ----------------------------------------------------------------------------
_INTERVAL = re.compile(r"([\[(])\s*([^,]+?)\s*,\s*([^,]+?)\s*([\])])")
#: most uniforms (steps x rows x vocabulary) fed to one run of model.onnx (64 MiB)
MAX_UNIFORMS = 1 << 24


def check_option(name: str, value, interval: str, integer: bool):
    """``value`` when it is an integer (or any number, without ``integer``) in the
    interval (``"[1, 1000000]"``, ``"(0, 1]"``); a one-line ValueError naming it else."""
    left, low, high, right = _INTERVAL.fullmatch(interval).groups()
    kind = "an integer" if integer else "a number"
    allowed = numbers.Integral if integer else numbers.Real
    inside = (
        isinstance(value, allowed)
        and not isinstance(value, bool)
        and (isinstance(value, numbers.Integral) or np.isfinite(value))
        and (value > float(low) if left == "(" else value >= float(low))
        and (value < float(high) if right == ")" else value <= float(high))
    )
    if not inside:
        raise ValueError(f"{name} must be {kind} in {interval}, got {value!r}.")
    return int(value) if integer else float(value)


def headers(tune: str) -> dict[str, str]:
    """The header fields of an ABC tune (``{"X": "1", "M": "6/8", ...}``), up to its ``K:``."""
    fields = {}
    for line in tune.splitlines():
        match = re.match(r"^([A-Za-z]):", line)
        if not match:
            break
        fields.setdefault(match.group(1), line[2:].strip())
        if match.group(1) == "K":
            break
    return fields


def whole_tune(text: str) -> str:
    """A sample cut at its first blank line (where a tune ends), with one final newline."""
    return text.split("\n\n", 1)[0].rstrip("\n") + "\n"


def parsed_tune(tune: str):
    """The music21 score of a tune when music21 parses it into notes, else None (needs
    music21, imported here only)."""
    try:
        import music21
    except ImportError:
        raise ImportError(
            "char_music's predict checks each tune with music21, which is not installed: "
            "pip install music21 (generate() gives the tunes without it)."
        ) from None
    try:
        score = music21.converter.parse(tune, format="abc")
        return score if len(score.flatten().notes) > 0 else None
    except Exception:  # music21 raises many kinds on malformed ABC
        return None


#: ``:|`` that close no ``|:`` (music21 repeats from the part's start) that a tune may have
#: for its MIDI file: music21 expands the repeats first, in a time that grows
#: exponentially with their number (6: about 1 s, 8: 7 s, 10: 73 s)
MIDI_IMPLIED_REPEATS = 6


def tune_parts(score) -> list:
    """The parts of a parsed tune (needs music21): those of each tune of an Opus (one
    per ``X:``), a tune without parts being its own."""
    import music21

    scores = score.scores if isinstance(score, music21.stream.Opus) else [score]
    return [part for one in scores for part in (one.parts if one.parts else [one])]


def implied_repeats(score) -> int:
    """How many of a parsed tune's ``:|`` close no ``|:`` (needs music21)."""
    import music21

    count = 0
    for part in tune_parts(score):
        open_repeats = 0
        for bar in part.getElementsByClass("Measure"):
            for line in (bar.leftBarline, bar.rightBarline):
                if not isinstance(line, music21.bar.Repeat):
                    continue
                if line.direction == "start":
                    open_repeats += 1
                elif open_repeats:
                    open_repeats -= 1
                else:
                    count += 1
    return count


def write_midi(score, path: str | Path) -> dict[str, str]:
    """Writes a parsed tune to ``path`` as MIDI: ``{"midi": path}``, or
    ``{"midi_error": one line}`` where music21 cannot render it, or would take minutes to
    expand its repeats (more than :data:`MIDI_IMPLIED_REPEATS` with no ``|:``)."""
    implied = implied_repeats(score)
    if implied > MIDI_IMPLIED_REPEATS:
        return {
            "midi_error": f"{implied} repeats close with no |: (music21 would take minutes "
            f"to expand more than {MIDI_IMPLIED_REPEATS}); no MIDI written"
        }
    try:
        score.write("midi", fp=str(path))
    except Exception as err:  # music21 may parse what it cannot render
        return {"midi_error": str(err).splitlines()[0][:200]}
    return {"midi": str(path)}


class CharLMONNX:
    """``model.onnx`` of an export folder with its vocabulary and generation settings."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        self.config = json.loads((folder / "preprocessing.json").read_text(encoding="utf-8"))
        self.chars: list[str] = self.config["chars"]
        self.index = {char: i for i, char in enumerate(self.chars, start=1)}
        self.table = np.array(["", *self.chars], dtype=object)  # id 0 reads as nothing
        self.model = open_model(folder)

    @property
    def vocabulary_size(self) -> int:
        return len(self.chars) + 1

    def option(self, name: str, value):
        """An option checked as the recipe checks it; None: the export's default."""
        spec = self.config["options"][name]
        if value is None:
            return spec["default"]
        return check_option(name, value, spec["range"], spec["integer"])

    # -- numbers -------------------------------------------------------------------------
    def char_ids(self, primes: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``char_ids`` int64 and ``mask`` bool ``[len(primes), T]`` of model.onnx: each
        ``lead_in + prime`` (empty: the default prime) as ids, left-padded."""
        rows = [
            [self.index.get(c, 0) for c in self.config["lead_in"] + self.fed_prime(p)]
            for p in primes
        ]
        width = max((len(r) for r in rows), default=0)
        ids = np.zeros((len(rows), width), np.int64)
        mask = np.zeros((len(rows), width), bool)
        for row, found in enumerate(rows):
            if found:
                ids[row, width - len(found) :] = found
                mask[row, width - len(found) :] = True
        return ids, mask

    def fed_prime(self, prime: str) -> str:
        return prime or self.config["default_prime"]

    def uniform(self, seed: int, length: int, rows: int, first_row: int = 0) -> np.ndarray:
        """``uniform`` of model.onnx for ``rows`` samples (:func:`generation_uniforms`)."""
        spec = self.config["uniform"]
        return generation_uniforms(
            seed, length, rows, self.vocabulary_size, first_row, spec["low"], spec["high"]
        )

    def run(
        self,
        primes: list[str],
        length: int,
        temperature: float,
        top_k: int,
        top_p: float,
        seed: int,
        first_row: int = 0,
    ) -> dict[str, np.ndarray]:
        """model.onnx on the primes (one batch): ``{"generated", "probabilities"}``,
        ``generated`` padded with 0 to ``length`` columns."""
        ids, mask = self.char_ids(primes)
        feeds = {
            "char_ids": ids,
            "mask": mask,
            "length": np.array(length, np.int32),
            "temperature": np.array(temperature, np.float32),
            "top_k": np.array(top_k, np.int32),
            "top_p": np.array(top_p, np.float32),
            "uniform": self.uniform(seed, length, len(primes), first_row),
        }
        out = self.model.run(feeds)
        generated, probabilities = out["generated"], out["probabilities"]
        drawn = np.zeros((len(primes), length), np.int32)  # the columns not reached: 0
        if generated.size:
            drawn[:, : generated.shape[1]] = generated
        return {"generated": drawn, "probabilities": probabilities}

    def probabilities(self, primes: list[str]) -> np.ndarray:
        """``[len(primes), V]`` float32: the model's distribution of the character after
        each prime (the columns: id 0 the unknown character, then ``chars``)."""
        return self.run(primes, 0, 1.0, 0, 1.0, 0)["probabilities"]

    def generated_ids(self, primes: list[str], length, temperature, top_k, top_p, seed):
        """``[len(primes), length]`` int32: the ids drawn after each prime (0: none), in
        batches of at most :data:`MAX_UNIFORMS` uniforms (the same ids as one batch)."""
        rows = max(1, MAX_UNIFORMS // max(1, length * self.vocabulary_size))
        parts = [
            self.run(primes[s : s + rows], length, temperature, top_k, top_p, seed, s)
            for s in range(0, len(primes), rows)
        ]
        return np.concatenate([p["generated"] for p in parts], axis=0)

    # -- texts ---------------------------------------------------------------------------
    def generate(
        self,
        prime: str | list[str] = "",
        samples: int = 1,
        length: int | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> list[str]:
        """Samples text, each beginning with its prime, as ``CharLM.generate`` (the same
        arguments and defaults; char_music: whole tunes)."""
        samples = self.option("samples", samples)
        length, temperature, top_k, top_p, seed = (
            self.option(name, value)
            for name, value in (
                ("length", length),
                ("temperature", temperature),
                ("top_k", top_k),
                ("top_p", top_p),
                ("seed", seed),
            )
        )
        primes = [prime] * samples if isinstance(prime, str) else list(prime)
        if not primes:
            return []
        generated = self.generated_ids(primes, length, temperature, top_k, top_p, seed)
        texts = [
            self.fed_prime(p) + "".join(self.table[row])
            for p, row in zip(primes, generated, strict=True)
        ]
        return [whole_tune(t) for t in texts] if self.config["tunes"] else texts

    def predict(
        self,
        inputs: list[str],
        samples: int | None = None,
        length: int | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        out: str | None = None,
    ) -> list[dict]:
        """One ``{"prime", "seed", "text"}`` per sample, as ``rnn-apps predict`` prints
        them: ``samples`` per prime (no primes: the default one), a random seed when none
        is given; ``out``: a folder to write each sample to (``"file"``). char_music adds
        ``parses``, ``headers`` (``"midi"`` with ``out``) and a last ``{"parse_rate"}``."""
        options = {"length": length, "temperature": temperature, "top_k": top_k}
        options = {**options, "top_p": top_p}
        for name, value in {**options, "samples": samples, "seed": seed}.items():
            if value is not None:
                self.option(name, value)
        if seed is None:
            seed = int(np.random.default_rng().integers(2**31))
        samples = 1 if samples is None else samples
        results = []
        for prime in inputs or [""]:
            texts = self.generate(prime, samples=samples, seed=seed, **options)
            results += [{"prime": prime, "seed": seed, "text": t} for t in texts]
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            for number, result in enumerate(results, start=1):
                path = Path(out) / self.config["sample_name"].format(number)
                path.write_text(result["text"], encoding="utf-8")
                result["file"] = str(path)
        if not self.config["tunes"]:
            return results
        for result in results:
            score = parsed_tune(result["text"])
            result["parses"] = score is not None
            result["headers"] = all(key in headers(result["text"]) for key in ("X", "M", "K"))
            if score is not None and "file" in result:
                result.update(write_midi(score, Path(result["file"]).with_suffix(".mid")))
        rate = sum(r["parses"] for r in results) / len(results) if results else 0.0
        return [*results, {"parse_rate": rate}]


def load(folder: str | Path) -> CharLMONNX:
    """The export in ``folder`` (every ONNX export's ``inference.py`` has this function)."""
    return CharLMONNX(folder)
