"""The sentiment lexicons, standardized as the classifier reads words: VADER's word
polarities, AFINN's, TextBlob's, or their means."""

from __future__ import annotations

import re

from recipes.core.errors import UserError

LEXICON_FILE = "lexicon.tsv"
#: what TextVectorization's default standardization removes
_PUNCTUATION = re.compile(r"[!\"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~']")


def _standard(word: str) -> str:
    return _PUNCTUATION.sub("", word.lower())


def _package_file(package: str, path: str, missing: str) -> bytes:
    """The bytes of the file ``path`` inside the installed ``package``; ``missing`` is the
    error when the package is not installed."""
    from importlib.resources import files

    try:
        return files(package).joinpath(path).read_bytes()
    except ModuleNotFoundError:
        raise UserError(missing) from None


def _ratings(package: str, path: str, missing: str, scale: float) -> dict[str, tuple[float, bool]]:
    """The ``word<TAB>rating`` lines of ``path`` in ``package``: standardized word ->
    (rating x ``scale``, False), the first of equal words kept, entries that are not one
    word after standardization left out; ``missing`` is the error when the package is not
    installed."""
    text = _package_file(package, path, missing).decode("utf-8")
    lexicon: dict[str, tuple[float, bool]] = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 2:
            continue
        word = _standard(fields[0])
        if word.isalpha() and word not in lexicon:
            lexicon[word] = (scale * float(fields[1]), False)
    return lexicon


def vader_lexicon() -> dict[str, tuple[float, bool]]:
    """VADER's sentiment lexicon (Hutto & Gilbert 2014, MIT license, from the
    ``vaderSentiment`` package): word -> (mean human polarity rating in -4..4, whether it
    is one of VADER's negations).

    Words are standardized as the sentiment vectorizer standardizes text (lower case,
    punctuation removed: "didn't" -> "didnt"); entries that are not one word then
    (emoticons) are left out.
    """
    lexicon = _ratings(
        "vaderSentiment",
        "vader_lexicon.txt",
        "lexicon = 'vader' needs the vaderSentiment package: pip install vaderSentiment "
        "(or train without a lexicon: --set lexicon=none).",
        scale=1.0,
    )
    from vaderSentiment.vaderSentiment import NEGATE

    for word in map(_standard, NEGATE):
        if word.isalpha():
            lexicon[word] = (lexicon.get(word, (0.0, True))[0], True)
    return lexicon


def afinn_lexicon() -> dict[str, tuple[float, bool]]:
    """AFINN-165 (Finn Årup Nielsen 2011-2015, 3,382 English words and phrases rated -5..5
    by hand; the word list under the Open Database License 1.0, from the ``afinn``
    package, GPL): word -> (rating x 0.8, on VADER's -4..4 scale; False: AFINN marks no
    negations). Words are standardized as in :func:`vader_lexicon`; phrases are left out.
    """
    return _ratings(
        "afinn",
        "data/AFINN-en-165.txt",
        "lexicon = 'afinn' needs the lexicons extra (afinn is not installed): "
        "pip install 'rnn-apps[lexicons]' (or train with --set lexicon=vader).",
        scale=0.8,
    )


def textblob_lexicon() -> dict[str, tuple[float, bool]]:
    """The subjectivity lexicon of English adjectives that TextBlob ships (De Smedt and
    Daelemans, from the Pattern library; ``en/en-sentiment.xml`` of the ``textblob``
    package, MIT; the word list under the Public Domain Dedication and License): word ->
    (mean polarity over the word's senses, -1..1, x 4 onto VADER's -4..4 scale; False).
    Words are standardized as in :func:`vader_lexicon`; words whose senses average 0
    (objective adjectives such as "american") are left out, so that they dilute no other
    lexicon's rating."""
    import xml.etree.ElementTree as ET

    xml = _package_file(
        "textblob",
        "en/en-sentiment.xml",
        "lexicon = 'textblob' needs the lexicons extra (textblob is not installed): "
        "pip install 'rnn-apps[lexicons]' (or train with --set lexicon=vader).",
    )
    senses: dict[str, list[float]] = {}
    root = ET.fromstring(xml)
    for entry in root.iter("word"):
        word = _standard(entry.get("form", ""))
        if word.isalpha():
            senses.setdefault(word, []).append(float(entry.get("polarity", 0)))
    means = {word: sum(values) / len(values) for word, values in senses.items()}
    return {word: (4.0 * mean, False) for word, mean in means.items() if mean}


def lexicon_of(name: str) -> dict[str, tuple[float, bool]]:
    """The lexicon a config's ``lexicon`` names: ``vader``, ``afinn``, ``textblob``, several
    joined by ``+`` (each word's mean polarity over the lexicons that rate it, VADER's
    negations kept) or ``none`` (empty)."""
    parts = {"vader": vader_lexicon, "afinn": afinn_lexicon, "textblob": textblob_lexicon}
    lexicons = [parts[part]() for part in name.split("+") if part in parts]
    merged: dict[str, tuple[float, bool]] = {}
    for word in sorted({w for lexicon in lexicons for w in lexicon}):
        entries = [lexicon[word] for lexicon in lexicons if word in lexicon]
        polarity = sum(value for value, _ in entries) / len(entries)
        merged[word] = (polarity, any(negates for _, negates in entries))
    return merged
