"""Character text generator: learns any text, character by character, and writes more.

Data: a text file, a folder of text files (every file below it, in path order, hidden
ones left out), a glob pattern (``"books/*.txt"``), ``tfds:NAME`` (e.g.
``tfds:tiny_shakespeare``), or the embedded default: a fixed subset of the Python
standard library's own source files, read from the running interpreter's installation
(works offline everywhere; generated text then looks like Python).
"""

from __future__ import annotations

import glob
import sysconfig
from pathlib import Path

from recipes.char_text.config import CharTextConfig
from recipes.charlm.recipe import CharLM, tail_parts
from recipes.core.data import TFDS_PREFIX, read_text, read_tfds
from recipes.core.errors import UserError

#: the embedded default corpus: these modules of the standard library (about 0.9 MB),
#: chosen because they exist unchanged in name from Python 3.10 on
STDLIB_MODULES = (
    "argparse.py",
    "calendar.py",
    "csv.py",
    "dataclasses.py",
    "difflib.py",
    "fractions.py",
    "ftplib.py",
    "gettext.py",
    "heapq.py",
    "inspect.py",
    "shlex.py",
    "shutil.py",
    "statistics.py",
    "string.py",
    "tarfile.py",
    "textwrap.py",
    "threading.py",
    "zipfile/__init__.py",
)


def stdlib_documents() -> list[tuple[str, str]]:
    """``(path, text)`` of :data:`STDLIB_MODULES` from the running interpreter's library."""
    root = Path(sysconfig.get_paths()["stdlib"])
    documents = []
    for name in STDLIB_MODULES:
        path = root / name
        if not path.exists() and name == "zipfile/__init__.py":
            path = root / "zipfile.py"  # Python 3.10 and 3.11
        if not path.exists():
            raise UserError(
                f"The embedded default data needs {path}, which this Python installation "
                f"lacks (a slimmed-down install?); pass your own text with --data PATH."
            )
        documents.append((str(path), read_text(path)))
    return documents


def local_documents(source: str) -> list[tuple[str, str]]:
    """``(path, text)`` of a file, of every file in a folder, or of a glob pattern's files."""
    path = Path(source).expanduser()
    if any(ch in source for ch in "*?["):
        paths = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
        paths = [p for p in paths if p.is_file()]
        if not paths:
            raise UserError(f"No file matches --data {source}.")
    elif path.is_dir():
        paths = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not paths:
            raise UserError(f"Data folder {path} holds no files.")
    elif path.exists():
        paths = [path]
    else:
        raise UserError(f"Data path {path} does not exist.")
    return [(str(p), read_text(p)) for p in paths]


class CharText(CharLM):
    """Character language model of any text; ``predict`` writes new text."""

    name = "char_text"
    config_class = CharTextConfig
    default_prime = "\n"

    def _read_tfds(self, source: str) -> dict[str, list[str]]:
        c = self.config
        parts = read_tfds(source, c.data_dir, (c.text_column,), "text_column")
        return {split: part[c.text_column] for split, part in parts.items()}

    def load_documents(self, source: str | None) -> tuple[list[str], list[str], list[str]]:
        """Train, validation and test texts. A source without those splits (files, a
        tfds set with train only) gives each text's tail (:func:`tail_parts`)."""
        c = self.config
        if source and source.startswith(TFDS_PREFIX):
            splits = self._read_tfds(source)
            train = splits.get("train", [])
            if "validation" in splits:
                return train, splits["validation"], splits.get("test", [])
            parts = [tail_parts(text, c.validation_split, 0.0) for text in train]
            return [a for a, _, _ in parts], [b for _, b, _ in parts], splits.get("test", [])
        documents = local_documents(source) if source else stdlib_documents()
        parts = [tail_parts(text, c.validation_split, c.test_split) for _, text in documents]
        return [a for a, _, _ in parts], [b for _, b, _ in parts], [t for *_, t in parts if t]

    def load_examples(self, data: str) -> list[str]:
        """Every text of a source, whole (tfds: its test split, if it has one)."""
        if data.startswith(TFDS_PREFIX):
            splits = self._read_tfds(data)
            return splits.get("test") or [d for docs in splits.values() for d in docs]
        return [text for _, text in local_documents(data)]
