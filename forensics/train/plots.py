"""ROC, precision-recall and confusion-matrix plots of an evaluation's rows (:func:`write_plots`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

LABEL_NAMES = ("real", "fake")


def write_plots(rows: Sequence[dict[str, Any]], folder: str | os.PathLike[str], prefix: str = "",
                threshold: float = 0.5) -> list[str]:
    """ROC and precision-recall curves (one line per source, and ``all`` when there are
    several) and confusion matrices, as ``<prefix>roc.png``, ``<prefix>pr.png`` and
    ``<prefix>confusion.png`` in ``folder``. Sources with one class only have no curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import (
        ConfusionMatrixDisplay,
        PrecisionRecallDisplay,
        RocCurveDisplay,
        confusion_matrix,
    )

    scored = [r for r in rows if r.get("score") is not None]
    if not scored:
        return []
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    labels = np.array([r["label"] for r in scored])
    scores = np.array([r["score"] for r in scored], np.float64)
    sources = np.array([r["source"] for r in scored])
    groups = [(str(s), sources == s) for s in sorted(set(sources.tolist()))]
    if len(groups) > 1:
        groups.append(("all", np.ones(len(scored), bool)))
    written = []
    for kind, display, title in (("roc", RocCurveDisplay, "ROC curve"), ("pr", PrecisionRecallDisplay, "Precision-recall")):
        fig, ax = plt.subplots(figsize=(5.5, 5))
        drawn = 0
        for name, mask in groups:
            if len(np.unique(labels[mask])) < 2:
                continue
            display.from_predictions(labels[mask], scores[mask], name=f"{name} (n={int(mask.sum())})", ax=ax,
                                     plot_chance_level=drawn == 0)
            drawn += 1
        ax.set_title(f"{prefix}{title} (P(fake), fake = positive)")
        if not drawn:
            ax.text(0.5, 0.5, "no source has both classes", ha="center", va="center", transform=ax.transAxes)
        fig.tight_layout()
        path = folder / f"{prefix}{kind}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(str(path))
    fig, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups), 3.4), squeeze=False)
    for ax, (name, mask) in zip(axes[0], groups):
        matrix = confusion_matrix(labels[mask], (scores[mask] >= threshold).astype(int), labels=[0, 1])
        ConfusionMatrixDisplay(matrix, display_labels=list(LABEL_NAMES)).plot(ax=ax, colorbar=False, cmap="Blues")
        ax.set_title(f"{name} (n={int(mask.sum())})")
    fig.suptitle(f"{prefix}confusion at threshold {threshold:g}")
    fig.tight_layout()
    path = folder / f"{prefix}confusion.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(str(path))
    return written
