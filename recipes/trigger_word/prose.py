"""English prose for running speech: sentences of the Python standard library's
docstrings, read from its source files (nothing is imported, nothing downloaded), in three
parts by file. The trigger word's training hears the ``train`` part as negatives
(``speech_negatives``), the calibration of its threshold the ``validation`` part
(``calibration_speech_minutes``), its DET evaluation (:mod:`recipes.trigger_word.det`) the
``test`` part."""

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


#: the parts of the sentences
PARTS = ("train", "validation", "test")


def part_of(name: str) -> str:
    """The part of the sentences of the file ``name`` (a path under the standard
    library's folder), by a checksum of it: half of the files are ``test``; of the
    other half, one in five is ``validation`` and the rest ``train``."""
    checksum = zlib.crc32(name.encode())
    if checksum % 2:
        return "test"
    return "validation" if checksum // 2 % 5 == 0 else "train"


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
    once: sentence -> the part it belongs to (:data:`PARTS`, by its file)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skipped = {"site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3"}
    paths = sorted(root.glob("*.py")) + sorted(
        p for p in root.glob("*/*.py") if p.parent.name not in skipped
    )
    seen: dict[str, str] = {}
    for path in paths:
        part = part_of(path.relative_to(root).as_posix())
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                for sentence in _sentences(ast.get_docstring(node) or ""):
                    seen.setdefault(sentence, part)
    return seen


def speech_texts(word: str, part: str) -> list[str]:
    """English sentences for running speech, one ``part`` of :data:`PARTS` (split by the
    file they come from: the parts share no sentence): the prose of the
    standard library's docstrings, without any sentence that holds ``word`` (in any
    case, also inside a longer word).

    Raises:
        UserError: when every sentence holds ``word`` (a word of a letter or two).
    """
    lowered = word.lower()
    texts = [s for s, h in _stdlib_sentences().items() if h == part and lowered not in s.lower()]
    if not texts:
        raise UserError(
            f"Every sentence of the standard library's docstrings holds {word!r}, so there is "
            "no running speech without the trigger word: choose a longer word, or train "
            "with --set speech_negatives=0 --set calibration_speech_minutes=0."
        )
    return texts
