"""Readers of local data: formats, one-line errors with line numbers, fuzzing."""

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recipes.core.config import RecipeConfig, parse_overrides, read_toml
from recipes.core.data import read_labelled_text, split_examples
from recipes.core.errors import UserError
from recipes.sentiment.config import SentimentConfig


def test_tab_separated_with_quotes_and_blank_lines(tmp_path):
    path = tmp_path / "imdb.txt"
    path.write_text('A "quoted" word, and more.  \t0\n\nGreat "film\t1\n')
    examples = read_labelled_text(path)
    assert examples.texts == ['A "quoted" word, and more.', 'Great "film']
    assert examples.labels == ["0", "1"]


def test_csv_with_header_and_column_names(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text('id,review,stars\n1,"good, really",pos\n2,bad,neg\n')
    examples = read_labelled_text(path, text_column="review", label_column="stars")
    assert examples.texts == ["good, really", "bad"]
    assert examples.labels == ["pos", "neg"]
    by_index = read_labelled_text(path, text_column=1, label_column=2, header=True)
    assert by_index.labels == ["pos", "neg"]
    with pytest.raises(
        UserError, match=r"no column 'text' in the header \['id', 'review', 'stars'\]"
    ):
        read_labelled_text(path, text_column="text", label_column="stars")


@pytest.mark.parametrize(
    ("first", "header"),
    [
        ("text,label", True),  # a usual column name
        ("review,stars", True),  # a word above numeric labels
        ("Fine enough,1", False),  # an example: its label is the other rows' too
    ],
)
def test_a_header_row_is_recognised(tmp_path, first, header):
    path = tmp_path / "reviews.csv"
    path.write_text(f'{first}\nThe battery died.,0\n"Works great, really.",1\nAwful,0\n')
    examples = read_labelled_text(path)
    assert examples.texts[0] == ("The battery died." if header else first.split(",")[0])
    assert examples.texts[-2:] == ["Works great, really.", "Awful"]


def test_class_folders(tmp_path):
    for label, texts in {"neg": ["awful"], "pos": ["great", "fine"]}.items():
        (tmp_path / label).mkdir()
        for i, text in enumerate(texts):
            (tmp_path / label / f"{i}.txt").write_text(text)
    examples = read_labelled_text(tmp_path)
    assert sorted(zip(examples.texts, examples.labels, strict=True)) == [
        ("awful", "neg"),
        ("fine", "pos"),
        ("great", "pos"),
    ]


def test_folder_of_files_skips_readme(tmp_path):
    (tmp_path / "a_labelled.txt").write_text("good\t1\n")
    (tmp_path / "b_labelled.txt").write_text("bad\t0\n")
    (tmp_path / "readme.txt").write_text("This dataset was created for a paper.\nCite it.\n")
    examples = read_labelled_text(tmp_path)
    assert examples.texts == ["good", "bad"]


@pytest.mark.parametrize(
    "content,match",
    [
        ("good\t1\nbad\t0\tEXTRA\n", r"line 2: expected 2 columns, found 3"),
        ("only text here\n", r"line 1: expected at least 2 columns"),
        ("good\t\n", r"line 1: empty label"),
        ("", r"no examples found"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, content, match):
    path = tmp_path / "bad.tsv"
    path.write_text(content)
    with pytest.raises(UserError, match=match) as info:
        read_labelled_text(path)
    assert str(path) in str(info.value)


def test_wrong_encoding_names_the_line(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("ok\t1\ncaf\u00e9\t0\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"latin1.tsv, line 2: not UTF-8"):
        read_labelled_text(path)


def test_missing_path():
    with pytest.raises(UserError, match="does not exist"):
        read_labelled_text("/no/such/file.tsv")


def test_split_is_deterministic_and_disjoint(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("".join(f"text {i}\t{i % 2}\n" for i in range(100)))
    examples = read_labelled_text(path)
    a, b = split_examples(examples, 0.1, 0.2, seed=5), split_examples(examples, 0.1, 0.2, seed=5)
    assert a.test.texts == b.test.texts and len(a.test) == 20 and len(a.validation) == 10
    assert not set(a.train.texts) & set(a.test.texts)
    assert split_examples(examples, 0.1, 0.2, seed=6).test.texts != a.test.texts


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.binary(max_size=300), suffix=st.sampled_from([".tsv", ".csv", ".txt"]))
def test_fuzz_arbitrary_bytes_give_data_or_one_line_error(tmp_path, content, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(content)
    try:
        examples = read_labelled_text(path)
    except UserError as err:
        assert "\n" not in str(err) and str(path) in str(err)
    else:
        assert len(examples.texts) == len(examples.labels) > 0
        assert all(label for label in examples.labels)


text_rows = st.lists(
    st.tuples(
        st.text(alphabet=string.printable + "éü—", max_size=20),
        st.text(alphabet=string.ascii_letters + "\t,", max_size=5),
        st.integers(0, 3),
    ),
    max_size=8,
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=text_rows,
    header=st.sampled_from([None, True, False]),
    columns=st.sampled_from([(0, -1), ("text", "label"), (5, 0)]),
)
def test_fuzz_columns_and_headers(tmp_path, rows, header, columns):
    path = tmp_path / "rows.tsv"
    path.write_text(
        "".join(f"{text}\t{label}" + "\tx" * extra + "\n" for text, label, extra in rows)
    )
    try:
        read_labelled_text(path, columns[0], columns[1], header)
    except UserError as err:
        assert "\n" not in str(err)


@settings(max_examples=100, deadline=None)
@given(
    values=st.dictionaries(
        st.sampled_from(SentimentConfig.keys() + ["unitz", "cel", "x"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-5, 5),
            st.floats(allow_nan=True),
            st.text(max_size=8),
        ),
        max_size=4,
    )
)
def test_fuzz_config_values_give_a_config_or_one_line_error(values):
    try:
        config = SentimentConfig.from_dict(values)
    except UserError as err:
        assert "\n" not in str(err) and "'" in str(err)
    else:
        assert isinstance(config, RecipeConfig)


def test_toml_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('units = 16\ncell = "gru"\n')
    values = {
        **read_toml(path),
        **parse_overrides(["units=64", "data=reviews.tsv", "dropout=0.25"]),
    }
    config = SentimentConfig.from_dict(values)
    assert (config.units, config.cell, config.data, config.dropout) == (
        64,
        "gru",
        "reviews.tsv",
        0.25,
    )
    assert SentimentConfig.from_dict(read_toml_roundtrip(tmp_path, config)) == config
    path.write_text("units = \n")
    with pytest.raises(UserError, match="not valid TOML"):
        read_toml(path)
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_overrides(["units"])


def read_toml_roundtrip(tmp_path, config):
    path = tmp_path / "round.toml"
    path.write_text(config.to_toml())
    return read_toml(path)
