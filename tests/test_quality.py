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
