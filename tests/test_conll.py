"""CoNLL reading: columns, sentence breaks, tag schemes, errors with line numbers."""

import pytest

from recipes import UserError
from recipes.ner.conll import read_conll, split_files, to_iob2


def test_columns_docstart_and_blank_lines(tmp_path):
    path = tmp_path / "a.conll"
    path.write_text(
        "-DOCSTART- -X- -X- O\n\n"
        "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\n"
        "Peter\tB-PER\nBlackburn\tI-PER\n\t\n"  # a line holding a lone tab ends a sentence
        "London B-LOC\n",
        encoding="utf-8",
    )
    data = read_conll(path)
    assert data.tokens == [["EU", "rejects", "German"], ["Peter", "Blackburn"], ["London"]]
    assert data.tags == [["B-ORG", "O", "B-MISC"], ["B-PER", "I-PER"], ["B-LOC"]]


@pytest.mark.parametrize(
    "tags, expected",
    [
        (["I-PER", "I-PER", "O", "I-LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),  # IOB1
        (["I-PER", "B-PER", "I-PER"], ["B-PER", "B-PER", "I-PER"]),  # IOB1, adjacent
        (["B-PER", "I-PER", "O"], ["B-PER", "I-PER", "O"]),  # IOB2 unchanged
        (["S-PER", "B-LOC", "E-LOC", "S-LOC"], ["B-PER", "B-LOC", "I-LOC", "B-LOC"]),  # IOBES
        (["B-ORG", "I-ORG", "E-ORG", "I-ORG"], ["B-ORG", "I-ORG", "I-ORG", "B-ORG"]),
        (["U-PER", "B-LOC", "L-LOC"], ["B-PER", "B-LOC", "I-LOC"]),  # BILOU
        (["I-PER", "I-LOC"], ["B-PER", "B-LOC"]),
    ],
)
def test_schemes_become_iob2(tags, expected):
    assert to_iob2(tags) == expected


def test_wnut17_files_read():
    from tests.test_quality import DATA

    folder = DATA / "wnut17"
    if not folder.exists():
        pytest.skip(f"{folder} not found")
    files = split_files(folder)
    assert set(files) == {"train", "validation"}
    train = read_conll(files["train"])
    assert len(train) == 3394
    assert all(len(a) == len(b) for a, b in zip(train.tokens, train.tags, strict=True))


@pytest.mark.parametrize(
    "text, message",
    [
        ("EU B-ORG\nrejects\n", r"line 2: expected a token and a tag"),
        ("EU B-ORG\nrejects X-VERB\n", r"line 2: tag 'X-VERB'"),
        ("EU B-\n", r"line 1: tag 'B-'"),
        ("\n\n", r"no tagged sentences"),
    ],
)
def test_malformed_files_name_the_line(tmp_path, text, message):
    path = tmp_path / "bad.conll"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=message) as info:
        read_conll(path)
    assert "bad.conll" in str(info.value)


def test_split_files_by_name(tmp_path):
    for name in ("eng.train", "eng.testa.dev", "eng.testb", "README.md", "notes.txt"):
        (tmp_path / name).write_text("a O\n", encoding="utf-8")
    files = split_files(tmp_path)
    assert {k: v.name for k, v in files.items()} == {
        "train": "eng.train",
        "validation": "eng.testa.dev",
        "test": "eng.testb",
    }
    (tmp_path / "other.train.conll").write_text("a O\n", encoding="utf-8")
    with pytest.raises(UserError, match="both"):
        split_files(tmp_path)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("train.txt", "dev.txt", "test.txt", "readme.txt"), ("train.txt", "dev.txt", "test.txt")),
        (("eng.train", "eng.testa", "eng.testb"), ("eng.train", "eng.testa", "eng.testb")),
    ],
)
def test_common_split_layouts(tmp_path, names, expected):
    for name in names:
        (tmp_path / name).write_text("a O\n", encoding="utf-8")
    files = split_files(tmp_path)
    assert [files[s].name for s in ("train", "validation", "test")] == list(expected)
