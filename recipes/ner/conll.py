"""CoNLL-style tagged text: one token per line (token first, tag last), sentences between
blank lines; IOB1, IOB2 and IOBES (also BILOU) tags, all read as IOB2.

    EU      NNP  B-NP  B-ORG
    rejects VBZ  B-VP  O
    German  JJ   B-NP  B-MISC

Lines holding only whitespace end a sentence too; ``-DOCSTART-`` lines are skipped.
:func:`read_tagged` reads any of the tagger's data sources: a CoNLL file, a folder of
split files, a tensorflow-datasets set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recipes.core.data import TFDS_PREFIX, read_text, read_tfds
from recipes.core.errors import UserError

PREFIXES = {"B", "I", "E", "S", "L", "U"}


@dataclass
class Tagged:
    """Sentences as token lists with one tag per token (IOB2)."""

    tokens: list[list[str]]
    tags: list[list[str]]

    def __len__(self) -> int:
        return len(self.tokens)

    def take(self, indices) -> Tagged:
        return Tagged([self.tokens[i] for i in indices], [self.tags[i] for i in indices])


def _check_tag(tag: str, path: Path, number: int) -> None:
    if tag == "O":
        return
    prefix, dash, kind = tag.partition("-")
    if not dash or prefix not in PREFIXES or not kind:
        raise UserError(
            f"{path}, line {number}: tag {tag!r} is not O or PREFIX-TYPE with a prefix among "
            f"{', '.join(sorted(PREFIXES))} (IOB1, IOB2, IOBES, BILOU); is the tag the last "
            "column?"
        )


def to_iob2(tags: list[str]) -> list[str]:
    """IOB1, IOB2, IOBES or BILOU tags of one sentence as IOB2.

    Every entity starts with ``B-``; ``I-X`` that does not continue an ``X`` entity
    (IOB1's way to start one) becomes ``B-X``; ``S-``/``U-`` become ``B-`` and
    ``E-``/``L-`` become ``I-``.
    """
    out: list[str] = []
    previous_kind = None  # the entity type the previous tag belongs to, if any
    for tag in tags:
        if tag == "O":
            out.append("O")
            previous_kind = None
            continue
        prefix, _, kind = tag.partition("-")
        if prefix in ("B", "S", "U") or (prefix in ("I", "E", "L") and previous_kind != kind):
            out.append(f"B-{kind}")
        else:
            out.append(f"I-{kind}")
        # an entity ends at E-/L-/S-/U-: a following I- starts a new one
        previous_kind = None if prefix in ("E", "L", "S", "U") else kind
    return out


def read_conll(path: str | Path) -> Tagged:
    """Reads one CoNLL file; a malformed line fails with the file name and line number."""
    path = Path(path)
    text = read_text(path)
    tokens: list[list[str]] = []
    tags: list[list[str]] = []
    sentence: list[str] = []
    sentence_tags: list[str] = []

    def close() -> None:
        if sentence:
            tokens.append(list(sentence))
            tags.append(to_iob2(sentence_tags))
            sentence.clear()
            sentence_tags.clear()

    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            close()
            continue
        if fields[0] == "-DOCSTART-":
            close()
            continue
        if len(fields) < 2:
            raise UserError(
                f"{path}, line {number}: expected a token and a tag separated by whitespace, "
                f"found {line.strip()!r}."
            )
        _check_tag(fields[-1], path, number)
        sentence.append(fields[0])
        sentence_tags.append(fields[-1])
    close()
    if not tokens:
        raise UserError(f"{path}: no tagged sentences found (expected CoNLL: token ... tag).")
    return Tagged(tokens, tags)


def split_files(folder: str | Path) -> dict[str, Path]:
    """The split files of a folder, by name: ``train``, ``validation`` (a name with
    ``dev`` or ``valid``, or CoNLL-2003's ``eng.testa``), ``test`` (``eng.testb`` too), with
    any extension (``train.txt``, ``dev.conll``); Markdown files, READMEs and licences are
    ignored, and so are files that name no split."""
    folder = Path(folder)
    found: dict[str, Path] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        name = path.name.lower()
        if path.suffix.lower() == ".md" or name.startswith(("readme", "license", "licence")):
            continue  # notes beside the data
        split = (
            "train"
            if "train" in name
            else "validation"
            if "dev" in name or "valid" in name or name.endswith(".testa")
            else "test"
            if "test" in name
            else None
        )
        if split is None:
            continue
        if split in found:
            raise UserError(
                f"{folder}: both {found[split].name} and {path.name} look like the {split} "
                "split; keep one."
            )
        found[split] = path
    if "train" not in found:
        raise UserError(
            f"{folder}: no training file (a file name containing 'train'); "
            "name the split files train/dev/test or pass one file."
        )
    return found


def read_tagged(source: str, data_dir: str | None, tag_feature: str) -> dict[str, Tagged]:
    """The tagged sentences of a data source, by split: a tfds data set's splits (its
    ``tokens`` and the tags of ``tag_feature``), a folder's split files
    (:func:`split_files`), or one file's sentences as split ``"all"``."""
    if source.startswith(TFDS_PREFIX):
        parts = read_tfds(source, data_dir, ("tokens", tag_feature), "tag_feature")
        return {
            split: Tagged(part["tokens"], [to_iob2(tags) for tags in part[tag_feature]])
            for split, part in parts.items()
        }
    path = Path(source)
    if path.is_dir():
        return {split: read_conll(file) for split, file in split_files(path).items()}
    return {"all": read_conll(path)}
