"""Character music generator: learns tunes in ABC notation and writes new whole tunes.

Data: an ``.abc`` file or a folder of them (tunes split at their ``X:`` lines; comment
lines and free text between tunes dropped), or the embedded default: the O'Neill's
Music of Ireland collection (1903, public domain) that ships with ``music21``. Generated
tunes are checked with ``music21`` (the ``music`` extra): each one that parses can be
written as MIDI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recipes.char_music.config import MUSIC21_COLLECTION, CharMusicConfig
from recipes.char_music.tunes import check_tune, require_music21, whole_tune, write_midi
from recipes.charlm.recipe import CharLM
from recipes.core.data import read_text
from recipes.core.errors import UserError


def split_tunes(text: str) -> list[str]:
    """The tunes of an ABC text: each from its ``X:`` line to the next blank line.

    Comment lines (``%``) and any text outside tunes (file headers, notes between
    tunes) are dropped; trailing spaces are removed; each tune ends with a newline.
    """
    tunes, current = [], None
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.startswith("X:"):
            if current:
                tunes.append(current)
            current = [line]
        elif current is not None:
            if not line:
                tunes.append(current)
                current = None
            elif not line.startswith("%"):
                current.append(line)
    if current:
        tunes.append(current)
    return ["\n".join(lines) + "\n" for lines in tunes if len(lines) > 1]


def abc_paths(source: str) -> list[Path]:
    path = Path(source).expanduser()
    if path.is_dir():
        paths = sorted(p for p in path.rglob("*.abc") if p.is_file())
        if not paths:
            raise UserError(f"Data folder {path} holds no .abc files.")
        return paths
    if not path.exists():
        raise UserError(f"Data path {path} does not exist.")
    return [path]


class CharMusic(CharLM):
    """Character language model of ABC tunes; ``predict`` writes whole new tunes."""

    name = "char_music"
    config_class = CharMusicConfig
    default_prime = "X:"
    separator = "\n\n"  # a blank line ends a tune
    lead_in = "\n\n"  # tunes begin after a blank line
    stop_at_blank_line = True
    tunes = True
    sample_name = "tune_{:03d}.abc"

    def grammar_tables(self):
        """The ABC grammar over the model's characters (:mod:`recipes.char_music.grammar`):
        what generation draws from, unless the ``grammar`` setting or option is off."""
        from recipes.char_music.grammar import tables

        return tables(tuple(self.chars))

    def tunes_per_file(self, source: str | None) -> list[list[str]]:
        """The tunes of each file of a source (None: the embedded default)."""
        if source:
            files = [read_text(p) for p in abc_paths(source)]
        else:
            music21 = require_music21()
            paths = music21.corpus.getComposer(MUSIC21_COLLECTION, fileExtensions=("abc",))
            files = [read_text(Path(p)) for p in sorted(paths, key=str)]
        per_file = [split_tunes(text) for text in files]
        if not any(per_file):
            raise UserError(f"{source or self.default_data}: no tunes (lines 'X:') found.")
        return per_file

    def load_examples(self, data: str) -> list[str]:
        return [tune for tunes in self.tunes_per_file(data) for tune in tunes]

    def load_documents(self, source: str | None) -> tuple[list[str], list[str], list[str]]:
        """Tunes; the last ``validation_split`` of each file's tunes are for validation,
        the ``test_split`` before them for test."""
        c = self.config
        train, validation, test = [], [], []
        for tunes in self.tunes_per_file(source):
            held = int(round(len(tunes) * c.validation_split))
            tested = int(round(len(tunes) * c.test_split))
            train += tunes[: len(tunes) - held - tested]
            test += tunes[len(tunes) - held - tested : len(tunes) - held]
            validation += tunes[len(tunes) - held :]
        if not validation:  # files of one tune each: hold out the last ones overall
            held = max(1, int(round(len(train) * c.validation_split)))
            train, validation = train[:-held], train[-held:]
        return train, validation, test

    def corpus(self, documents: list[str]) -> str:
        return "".join(tune.rstrip("\n") + "\n\n" for tune in documents)

    def generate(self, prime: str | list[str] = "", **kwargs: Any) -> list[str]:
        """Whole tunes, each cut at its first blank line (see :meth:`CharLM.generate`)."""
        texts = super().generate(prime, **kwargs)
        return [whole_tune(text) for text in texts]

    def predict(self, inputs: list[str], **options: Any) -> list[dict]:
        """Tunes with ``parses`` and ``headers`` checks; with ``out``, files too.

        ``out`` (a folder): each tune goes to ``tune_001.abc``, ... and each one that
        parses also to ``tune_001.mid``. The last dict is ``{"parse_rate": ...}``.
        """
        results = super().predict(inputs, **options)
        for result in results:
            check = check_tune(result["text"])
            result["parses"] = check["parses"]
            result["headers"] = check["headers"]
            if check["parses"] and "file" in result:
                midi = Path(result["file"]).with_suffix(".mid")
                result.update(write_midi(check["score"], midi))
        rate = sum(r["parses"] for r in results) / len(results) if results else 0.0
        return [*results, {"parse_rate": rate}]
