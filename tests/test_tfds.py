"""The tfds: data source, on a data set built locally (no network needed)."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from recipes import Sentiment, UserError
from recipes.core.data import read_tfds


class TinyReviews(tfds.core.GeneratorBasedBuilder):
    """A two-split text classification set generated on the spot."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "text": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(names=["neg", "pos"]),
                }
            ),
            supervised_keys=("text", "label"),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(40, 0), "test": self._generate_examples(10, 1)}

    def _generate_examples(self, n, seed):
        rng = np.random.default_rng(seed)
        for i in range(n):
            label = int(rng.integers(2))
            yield (
                f"{seed}-{i}",
                {"text": ("great fine" if label else "awful bad") + f" {i}", "label": label},
            )


def test_tfds_source_uses_its_splits_and_class_names(tmp_path):
    reader = Sentiment(data_dir=str(tmp_path), validation_split=0.25)
    splits = reader.load_splits("tfds:tiny_reviews")
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (30, 10, 10)
    assert set(splits.train.labels) <= {"neg", "pos"}
    app = Sentiment(units=4, embedding_dim=4, max_length=6, epochs=1, data_dir=str(tmp_path))
    app.fit(data="tfds:tiny_reviews", run_dir=tmp_path / "run", verbose=0)
    assert app.labels == ["neg", "pos"]
    with pytest.raises(
        UserError,
        match=r"tfds:tiny_reviews has no 'review' feature \(it has "
        r"\['label', 'text'\]\); set text_column and label_column\.",
    ):
        Sentiment(data_dir=str(tmp_path), text_column="review").load_splits("tfds:tiny_reviews")
    assert set(app.evaluate(split="test")) == {"accuracy", "macro_f1", "loss"}


def test_download_failure_is_one_line_naming_data(tmp_path, monkeypatch):
    def offline(self, *args, **kwargs):
        raise ConnectionError(
            "Failed to establish a new connection: [Errno 101] Network is unreachable"
        )

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline)
    monkeypatch.setattr("recipes.core.data.network_reachable", lambda: True)  # the probe passed
    with pytest.raises(
        UserError, match=r"tfds:imdb_reviews.*Network is unreachable.*--data PATH"
    ) as info:
        Sentiment(data_dir=str(tmp_path)).fit(run_dir=tmp_path / "run", verbose=0)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()  # nothing half-made


def test_offline_setting_skips_the_probe(monkeypatch):
    import socket

    from recipes.core import data

    def no_connections(*args, **kwargs):
        raise AssertionError("the network was probed")

    monkeypatch.setattr(socket, "create_connection", no_connections)
    for key in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("RNN_APPS_OFFLINE", "1")
    assert not data.network_reachable()
    monkeypatch.setenv("RNN_APPS_OFFLINE", "0")
    with pytest.raises(AssertionError, match="probed"):
        data.network_reachable()


def test_unknown_tfds_name(tmp_path):
    with pytest.raises(UserError, match="tfds:no_such_set_xyz"):
        read_tfds("tfds:no_such_set_xyz", str(tmp_path), ("text",))


def test_offline_download_fails_at_once_without_retries(tmp_path, monkeypatch):
    """The real imdb_reviews builder, with name resolution cut: one try, then the error."""
    import socket

    from tensorflow_datasets.core.download import downloader

    from recipes.core import data

    lookups = []

    def no_dns(host, *args, **kwargs):
        lookups.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    for key in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "RNN_APPS_OFFLINE"):
        monkeypatch.delenv(key, raising=False)
    assert not data.network_reachable()  # the probe itself, its name resolution cut
    with pytest.raises(UserError, match=r"tfds:imdb_reviews: no network access.*--data PATH"):
        read_tfds("tfds:imdb_reviews", str(tmp_path), ("text", "label"))
    download_lookups = [h for h in lookups if h != data.PROBE_HOST[0]]
    assert 1 <= len(download_lookups) <= 2  # tfds alone would try 11 times with backoff
    assert downloader.MAX_RETRIES == 10  # restored


class TinyPlays(tfds.core.GeneratorBasedBuilder):
    """Like tiny_shakespeare: each split is one long text."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({"text": tfds.features.Text()})
        )

    def _split_generators(self, dl_manager):
        return {
            name: self._generate_examples(name, lines)
            for name, lines in (("train", 60), ("validation", 10), ("test", 10))
        }

    def _generate_examples(self, name, lines):
        yield name, {"text": "".join(f"{name} line {i}.\n" for i in range(lines))}


def test_tfds_text_for_the_character_generators(tmp_path):
    from recipes import CharText

    app = CharText(data_dir=str(tmp_path), window=16, units=8, embedding_dim=4, epochs=1)
    train, validation, test = app.load_documents("tfds:tiny_plays")
    assert [t.splitlines()[0] for t in (*train, *validation, *test)] == [
        "train line 0.",
        "validation line 0.",
        "test line 0.",
    ]
    app.fit(data="tfds:tiny_plays", run_dir=tmp_path / "run", verbose=0)
    assert set(app.evaluate()) == {"bits_per_char"}  # on the data set's own test split
    with pytest.raises(UserError, match="no 'words' feature.*text_column"):
        CharText(data_dir=str(tmp_path), text_column="words").load_documents("tfds:tiny_plays")
