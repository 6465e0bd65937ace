"""The sentiment lexicon: VADER's word polarities, standardized as the classifier reads words."""

from __future__ import annotations

import re

from recipes.core.errors import UserError

LEXICON_FILE = "lexicon.tsv"
#: what TextVectorization's default standardization removes
_PUNCTUATION = re.compile(r"[!\"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~']")


def vader_lexicon() -> dict[str, tuple[float, bool]]:
    """VADER's sentiment lexicon (Hutto & Gilbert 2014, MIT license, from the
    ``vaderSentiment`` package): word -> (mean human polarity rating in -4..4, whether it
    is one of VADER's negations).

    Words are standardized as the sentiment vectorizer standardizes text (lower case,
    punctuation removed: "didn't" -> "didnt"); entries that are not one word then
    (emoticons) are left out.
    """
    try:
        from importlib.resources import files

        from vaderSentiment.vaderSentiment import NEGATE

        text = files("vaderSentiment").joinpath("vader_lexicon.txt").read_text(encoding="utf-8")
    except ModuleNotFoundError:
        raise UserError(
            "lexicon = 'vader' needs the vaderSentiment package: pip install vaderSentiment "
            "(or train without a lexicon: --set lexicon=none)."
        ) from None

    def standard(word: str) -> str:
        return _PUNCTUATION.sub("", word.lower())

    lexicon: dict[str, tuple[float, bool]] = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 2:
            continue
        word = standard(fields[0])
        if word.isalpha() and word not in lexicon:
            lexicon[word] = (float(fields[1]), False)
    for word in map(standard, NEGATE):
        if word.isalpha():
            lexicon[word] = (lexicon.get(word, (0.0, True))[0], True)
    return lexicon
