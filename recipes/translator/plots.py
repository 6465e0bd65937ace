"""The attention weights of one translation drawn as a heatmap."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recipes.core.training import save_figure
from recipes.translator.tokens import JOINER


def attention_heatmap(
    text: str,
    translation: str,
    source: list[str],
    output: list[str],
    weights: np.ndarray,
    path: str | Path,
) -> Path:
    """A PNG at ``path`` of ``weights[i, j]``, the attention of output token ``i`` on
    source token ``j`` (``Translator.attention``), titled ``text -> translation``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [t.replace(JOINER, "") or "·" for t in source]
    width = max(4.0, 0.3 * len(source) + 2)
    height = max(3.0, 0.3 * len(output) + 1.5)
    fig, ax = plt.subplots(figsize=(width, height))
    ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0, vmax=1)
    ax.set_xticks(range(len(source)), [t if t != " " else "␣" for t in shown], rotation=90)
    ax.set_yticks(range(len(output)), [t.replace(JOINER, "") for t in output])
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    ax.set_title(f"{text!r} -> {translation!r}", fontsize=10)
    return save_figure(fig, path, dpi=120)
