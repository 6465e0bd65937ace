"""Small labelled texts the sentiment tests write to files."""

import numpy as np

POSITIVE = ["great", "wonderful", "excellent", "loved", "superb", "fine", "happy"]
NEGATIVE = ["awful", "terrible", "boring", "hated", "poor", "bad", "broken"]
FILLER = ["the", "film", "phone", "was", "really", "quite", "plot", "battery", "and"]


def sentences(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (text, label) pairs whose label follows the sentiment words in them."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = list(rng.choice(FILLER, size=4)) + list(
            rng.choice(POSITIVE if label else NEGATIVE, size=2)
        )
        rng.shuffle(words)
        rows.append((" ".join(words), str(label)))
    return rows


def write_tsv(path, n: int = 96, seed: int = 0):
    path.write_text("".join(f"{text}\t{label}\n" for text, label in sentences(n, seed)))
    return path
