"""Data sources shared by the recipes: local files and folders, tensorflow-datasets, splits.

Everything is read into memory once (the recipes' data sets are small) and becomes a
``tf.data.Dataset`` right after. Every problem with a file is a :class:`UserError`
that names the file (and the line, where there is one).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recipes.core.errors import UserError

TFDS_PREFIX = "tfds:"
TEXT_SUFFIXES = (".txt", ".tsv", ".csv")


@dataclass
class Examples:
    """Texts with their labels (as strings), in file order."""

    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, indices) -> Examples:
        return Examples([self.texts[i] for i in indices], [self.labels[i] for i in indices])


@dataclass
class Splits:
    """Train, validation and test examples."""

    train: Examples
    validation: Examples
    test: Examples


def read_text(path: Path) -> str:
    """A file's text as UTF-8 (a BOM is dropped), with one-line errors."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"Data path {path} does not exist.") from None
    except IsADirectoryError:
        raise UserError(f"Data path {path} is a folder; expected a file.") from None
    except OSError as err:
        raise UserError(f"Cannot read {path}: {err.strerror}.") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise UserError(
            f"{path}, line {line}: not UTF-8 text (byte {data[err.start]:#04x}); "
            f"save the file as UTF-8."
        ) from None


def _column(name: str, spec: str | int, header: list[str] | None, width: int, path: Path) -> int:
    if isinstance(spec, int):
        index = spec if spec >= 0 else width + spec
        if not 0 <= index < width:
            raise UserError(f"{path}: {name} {spec} is out of range for rows of {width} columns.")
        return index
    if header is None:
        raise UserError(
            f"{path}: {name} {spec!r} is a column name, but the file has no header; "
            f"give a column index instead (e.g. --set {name}=0)."
        )
    if spec not in header:
        raise UserError(f"{path}: no column {spec!r} in the header {header}.")
    return header.index(spec)


#: label-column names that mark a first row as a header
HEADER_NAMES = {"label", "labels", "class", "category", "target", "sentiment", "polarity", "y"}


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _looks_like_header(rows: list[tuple[int, list[str]]], label_column: int) -> bool:
    """Whether the first row names the columns: its label cell is a usual column name,
    or a word where every other row has a number, and no other row has that label."""
    if len(rows) < 2:
        return False
    try:
        first = rows[0][1][label_column].strip()
        others = {row[label_column].strip() for _, row in rows[1:]}
    except IndexError:
        return False
    if first in others:
        return False
    return first.lower() in HEADER_NAMES or (
        not _number(first) and all(_number(label) for label in others)
    )


def read_delimited(
    path: str | Path,
    text_column: str | int = 0,
    label_column: str | int = -1,
    header: bool | None = None,
) -> Examples:
    """Reads a CSV (``.csv``, quoted fields) or tab-separated file (any other suffix).

    Args:
        path: the file. Tab-separated files are read without quoting (review text
            often holds stray quotes), so a field cannot contain a tab.
        text_column, label_column: column names (needs a header) or indexes
            (negative from the end).
        header: whether the first row names the columns; ``None`` decides: yes when
            a column is given by name, or when the first row's label is a column name
            (``label``, ``class``, ...) or a word above numeric labels, and no other row
            has it.

    Returns:
        The examples; blank lines are skipped.
    """
    path = Path(path)
    text = read_text(path)
    is_csv = path.suffix.lower() == ".csv"
    separator = "," if is_csv else "<TAB>"
    if is_csv:
        reader = csv.reader(io.StringIO(text, newline=""))
    else:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    try:
        rows = [
            (number, row)
            for number, row in enumerate(reader, start=1)
            if any(c.strip() for c in row)
        ]
    except csv.Error as err:
        raise UserError(f"{path}, line {reader.line_num}: {err}.") from None
    if header is None:
        header = (
            isinstance(text_column, str)
            or isinstance(label_column, str)
            or _looks_like_header(rows, label_column)
        )
    names = None
    if header:
        if not rows:
            raise UserError(f"{path}: empty file; expected a header row and examples.")
        names = [c.strip() for c in rows[0][1]]
        rows = rows[1:]
    if not rows:
        raise UserError(f"{path}: no examples found; expected lines of text{separator}label.")
    width = len(names) if names is not None else len(rows[0][1])
    if width < 2:
        raise UserError(
            f"{path}, line {rows[0][0]}: expected at least 2 columns (text and label), found 1; "
            f"{'is it a CSV file?' if is_csv else 'columns are separated by tabs'}."
        )
    text_index = _column("text_column", text_column, names, width, path)
    label_index = _column("label_column", label_column, names, width, path)
    texts, labels = [], []
    for number, row in rows:
        if len(row) != width:
            raise UserError(f"{path}, line {number}: expected {width} columns, found {len(row)}.")
        label = row[label_index].strip()
        if not label:
            raise UserError(f"{path}, line {number}: empty label.")
        texts.append(row[text_index].strip())
        labels.append(label)
    return Examples(texts, labels)


def read_class_folders(path: str | Path) -> Examples:
    """One sub-folder per class, each holding ``.txt`` files (one example per file)."""
    path = Path(path)
    texts, labels = [], []
    for folder in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for file in sorted(folder.glob("*.txt")):
            texts.append(read_text(file).strip())
            labels.append(folder.name)
    if not texts:
        raise UserError(f"{path}: no .txt files found in its class sub-folders.")
    return Examples(texts, labels)


def _looks_like_data(path: Path) -> bool:
    """A text file whose first non-blank line has a tab (CSV files: a comma)."""
    try:
        for line in read_text(path).splitlines():
            if line.strip():
                return ("," if path.suffix.lower() == ".csv" else "\t") in line
    except UserError:
        return True  # let the reader report it
    return False


def read_labelled_text(
    source: str | Path,
    text_column: str | int = 0,
    label_column: str | int = -1,
    header: bool | None = None,
) -> Examples:
    """A local text/label source: a file, a folder of class sub-folders, or a folder of files.

    A folder without class sub-folders is read as the union of its ``.txt``, ``.tsv``
    and ``.csv`` files that hold tab (or comma) separated rows, in name order; other
    files in it (a README) are left out.
    """
    path = Path(source)
    if not path.exists():
        raise UserError(f"Data path {path} does not exist; give a file, a folder or tfds:NAME.")
    if path.is_file():
        return read_delimited(path, text_column, label_column, header)
    if any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir()):
        return read_class_folders(path)
    files = [
        p
        for p in sorted(path.iterdir())
        if p.suffix.lower() in TEXT_SUFFIXES and _looks_like_data(p)
    ]
    if not files:
        raise UserError(
            f"{path}: no data files found; "
            "expected text<TAB>label files or one sub-folder per class."
        )
    texts, labels = [], []
    for file in files:
        examples = read_delimited(file, text_column, label_column, header)
        texts += examples.texts
        labels += examples.labels
    return Examples(texts, labels)


def split_examples(examples: Examples, validation: float, test: float, seed: int) -> Splits:
    """A deterministic shuffled split (the same for the same seed and data)."""
    order = np.random.default_rng(seed).permutation(len(examples))
    n_test = int(round(test * len(examples)))
    n_val = int(round(validation * len(examples)))
    if len(examples) - n_test - n_val < 1:
        raise UserError(
            f"Only {len(examples)} examples: too few to split into train, validation and test."
        )
    return Splits(
        train=examples.take(order[n_test + n_val :]),
        validation=examples.take(order[n_test : n_test + n_val]),
        test=examples.take(order[:n_test]),
    )


def parse_tfds(source: str) -> str:
    """``"tfds:imdb_reviews/plain_text"`` -> ``"imdb_reviews/plain_text"``."""
    name = source[len(TFDS_PREFIX) :].strip()
    if not name:
        raise UserError("Expected a data set name after tfds:, e.g. tfds:imdb_reviews.")
    return name


def tfds_builder(source: str, data_dir: str | None):
    """The prepared tensorflow-datasets builder of ``tfds:NAME[/CONFIG]``, downloading it
    if need be; every failure is one :class:`UserError` line that names ``--data``."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as err:
        raise UserError(
            f"tensorflow-datasets is not installed ({err}); pip install tensorflow-datasets."
        ) from None
    name = parse_tfds(source)
    online = True
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        if not builder.is_prepared():
            online = network_reachable()
            with _fail_fast_when_offline(online):
                builder.download_and_prepare()
    except Exception as err:  # tfds raises many kinds: no network, unknown name, ...
        if not online:
            why = "RNN_APPS_OFFLINE is set" if _offline_set() else f"{PROBE_HOST[0]} is unreachable"
            raise UserError(
                f"Could not download {source}: no network access ({why}); pass a local file "
                f"or folder with --data PATH, or set data_dir to a folder where the data set "
                f"is already prepared."
            ) from None
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(
            f"Could not load {source} with tensorflow-datasets ({reason[:200]}); without network "
            f"access, pass a local file or folder with --data PATH."
        ) from None
    return builder


#: split names of tensorflow-datasets read as this package's (CoNLL sets call it "dev")
SPLIT_NAMES = {"dev": "validation"}


def read_tfds(
    source: str, data_dir: str | None, features: tuple[str, ...] | None, setting: str = ""
) -> dict[str, dict[str, list]]:
    """Every split of a tensorflow-datasets set: ``{split: {feature: values}}``.

    ``features``: the features to read (``None``: the data set's supervised keys, input
    and target). Values come as Python values: text as ``str``, sequences of text as
    lists of ``str``, class labels (and sequences of them) by their class names. Split
    ``dev`` is read as ``validation``. A missing feature is one :class:`UserError` line
    that lists the features there are and names ``setting``, the setting that chooses it.
    """
    builder = tfds_builder(source, data_dir)  # first: a one-line error without tfds
    import tensorflow_datasets as tfds

    info = builder.info
    if features is None:
        features = tuple(info.supervised_keys or ())
        if len(features) != 2:
            raise UserError(f"{source} has no (input, target) pair of features to learn.")
    missing = [f for f in features if f not in info.features]
    if missing:
        fix = f"; set {setting}" if setting else ""
        raise UserError(
            f"{source} has no {' or '.join(repr(f) for f in missing)} feature (it has "
            f"{sorted(info.features)}){fix}."
        )
    decoders = {name: _decoder(info.features[name]) for name in features}
    out = {}
    for split in info.splits:
        columns: dict[str, list] = {name: [] for name in features}
        for example in tfds.as_numpy(builder.as_dataset(split=split)):
            for name, decode in decoders.items():
                columns[name].append(decode(example[name]))
        out[SPLIT_NAMES.get(split, split)] = columns
    return out


def _decoder(feature):
    """A function from a tfds feature's NumPy value to a Python value."""
    names = getattr(feature, "names", None)
    inner = getattr(getattr(feature, "feature", None), "names", None)  # a Sequence of labels

    def text(value):
        return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)

    def decode(value):
        if names:
            return names[int(value)]
        if inner:
            return [inner[int(v)] for v in value]
        if isinstance(value, np.ndarray) and value.ndim:
            return [text(v) for v in value]
        return text(value)

    return decode


def named_splits(parts: dict, source: str, validation: float, seed: int) -> Splits:
    """The splits of a source that comes in named parts (a tfds data set, a folder of
    split files): its ``train``; its ``validation``, or else a deterministic share
    ``validation`` of train (:func:`split_examples`); its ``test``, or else none."""
    train = parts.get("train")
    if train is None:
        raise UserError(f"{source} has no train split.")
    held = parts.get("validation")
    if held is None:
        carved = split_examples(train, validation, 0.0, seed)
        train, held = carved.train, carved.validation
    return Splits(train, held, parts.get("test", train.take([])))


PROBE_HOST = ("storage.googleapis.com", 443)
"""Where tensorflow-datasets keeps its data set metadata: reachable whenever tfds can work."""


def _offline_set() -> bool:
    return os.environ.get("RNN_APPS_OFFLINE", "") not in ("", "0")


def network_reachable(timeout: float = 3.0) -> bool:
    """Whether this machine can open a connection to :data:`PROBE_HOST`.

    With an HTTP(S) proxy configured the answer is always True: only the proxy knows.
    With ``RNN_APPS_OFFLINE=1`` in the environment it is False and nothing is probed
    (for machines known to be offline, and for test runs).
    """
    if _offline_set():
        return False
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")):
        return True
    try:
        with socket.create_connection(PROBE_HOST, timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _fail_fast_when_offline(online: bool) -> Iterator[None]:
    """Without network, let a tfds download fail at once instead of retrying for minutes.

    tensorflow-datasets retries every failed request ten times with backoff (minutes in
    all, with progress bars). Offline, retries cannot help; data sets that need no
    download (built from local files) still prepare normally.
    """
    if online:
        yield
        return
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.download import downloader

    tfds.disable_progress_bar()  # nothing to show: the download fails at once
    saved = downloader.MAX_RETRIES
    downloader.MAX_RETRIES = 0
    try:
        # nor its "Downloading and preparing..." line: the error is the one line
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        downloader.MAX_RETRIES = saved
