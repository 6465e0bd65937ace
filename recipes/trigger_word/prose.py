"""English prose for running speech: sentences of the Python standard library's
docstrings, read from its source files (nothing is imported, nothing downloaded), in two
halves by file. The trigger word's training hears one half as negatives
(``speech_negatives``); its DET evaluation (:mod:`recipes.trigger_word.det`) the other."""

from __future__ import annotations

import ast
import functools
import re
import sysconfig
import zlib
from pathlib import Path

from recipes.core.errors import UserError

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
#: characters of code, markup and addresses: a sentence with one is left out
_NOT_PROSE = re.compile(r"[=_`{}\[\]<>|\\#*@/~^$%]|::|\.\w|\d{3}")


def _sentences(docstring: str) -> list[str]:
    """The prose sentences of a docstring: paragraphs that hold no code (no ``>>>``, no
    indented line), split at sentence ends, each of 4 to 40 words without code
    characters."""
    found = []
    for paragraph in docstring.split("\n\n"):
        lines = paragraph.splitlines()
        if any(line.startswith((" ", "\t", ">>>", "...")) for line in lines):
            continue
        for sentence in _SENTENCE_END.split(" ".join(line.strip() for line in lines)):
            words = sentence.split()
            if 4 <= len(words) <= 40 and not _NOT_PROSE.search(sentence):
                found.append(" ".join(words))
    return found


@functools.cache
def _stdlib_sentences() -> dict[str, str]:
    """The prose sentences of the docstrings of the standard library's modules (its own
    folder and one level of packages; no tests, no site-packages), in file order, each
    once: sentence -> the half it belongs to (``train`` or ``test``, by its file)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skipped = {"site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3"}
    paths = sorted(root.glob("*.py")) + sorted(
        p for p in root.glob("*/*.py") if p.parent.name not in skipped
    )
    seen: dict[str, str] = {}
    for path in paths:
        # a whole file's sentences in one half: its name's checksum decides
        half = ("train", "test")[zlib.crc32(path.relative_to(root).as_posix().encode()) % 2]
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                for sentence in _sentences(ast.get_docstring(node) or ""):
                    seen.setdefault(sentence, half)
    return seen


def speech_texts(word: str, half: str) -> list[str]:
    """English sentences for running speech, one ``half`` of them (``train`` or ``test``,
    split by the file they come from: the halves share no sentence): the prose of the
    standard library's docstrings, without any sentence that holds ``word`` (in any
    case, also inside a longer word).

    Raises:
        UserError: when every sentence holds ``word`` (a word of a letter or two).
    """
    lowered = word.lower()
    texts = [s for s, h in _stdlib_sentences().items() if h == half and lowered not in s.lower()]
    if not texts:
        raise UserError(
            f"Every sentence of the standard library's docstrings holds {word!r}, so there is "
            "no running speech without the trigger word: choose a longer word, or train "
            "with --set speech_negatives=0."
        )
    return texts
