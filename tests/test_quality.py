"""Quality runs on real data (slow: ``pytest -m slow``); skipped without ../shared/data."""

from pathlib import Path

import pytest

from recipes import Sentiment

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
UCI = DATA / "uci_sentiment_sentences"


@pytest.mark.slow
@pytest.mark.skipif(not UCI.exists(), reason=f"{UCI} not found (test data beside the checkout)")
def test_sentiment_defaults_on_uci_sentences(tmp_path):
    """The recipe's defaults on the 2,000 Amazon and IMDb sentences (README: Quality)."""
    app = Sentiment()
    metrics = app.fit(data=str(UCI), run_dir=tmp_path / "run", verbose=0)
    test = app.evaluate(split="test")
    print(f"val_accuracy={metrics['val_accuracy']:.3f} test_accuracy={test['accuracy']:.3f}")
    assert metrics["val_accuracy"] >= 0.80
    assert test["accuracy"] >= 0.75


SHAKESPEARE = DATA / "tiny_shakespeare" / "input.txt"
IRISH = DATA / "irish_abc" / "irish.abc"


@pytest.mark.slow
@pytest.mark.skipif(not SHAKESPEARE.exists(), reason=f"{SHAKESPEARE} not found")
def test_char_text_on_tiny_shakespeare(tmp_path):
    """README "Generators, quality": <= 2.10 bits per character within 30 minutes."""
    from recipes import CharText

    app = CharText(max_minutes=30)
    metrics = app.fit(data=str(SHAKESPEARE), run_dir=tmp_path / "run", verbose=0)
    print(metrics)
    assert metrics["val_bits_per_char"] <= 2.10


@pytest.mark.slow
@pytest.mark.skipif(not IRISH.exists(), reason=f"{IRISH} not found")
def test_char_music_tunes_parse(tmp_path):
    """README "Generators, quality": >= 90% of 50 tunes parse and carry X:, M:, K:."""
    from recipes import CharMusic

    app = CharMusic()
    metrics = app.fit(data=str(IRISH), run_dir=tmp_path / "run", verbose=0)
    results = app.predict([], samples=50, seed=1, out=str(tmp_path / "tunes"))[:-1]
    good = sum(r["parses"] and r["headers"] for r in results) / len(results)
    print(metrics, f"parse_and_headers={good:.2f}")
    assert good >= 0.9
