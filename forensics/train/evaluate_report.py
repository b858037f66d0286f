"""An evaluation laid out for people: rich tables per source (:func:`print_tables`) and ROC,
precision-recall and confusion-matrix plots (:func:`write_plots`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from forensics.train.evaluate import LABEL_NAMES, Evaluation


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


def _fmt(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_tables(result: Evaluation, console) -> None:
    """One rich table per level (images, videos): a row per source and one for all.

    Piped output (not a terminal) is laid out at least 150 columns wide, not rich's 80.
    """
    from rich.console import Console
    from rich.table import Table

    if not console.is_terminal and console.width < 150:
        console = Console(file=console.file, width=150)

    for level in ("images", "videos"):
        part = getattr(result, level)
        if not part:
            continue
        title = f"{level.capitalize()}: {result.model} ({Path(result.weights).name})"
        if level == "images" and result.selection["by"] != "all":
            title += f", {result.selection['split']} split ({result.selection['by']})"
        table = Table(title=title, title_justify="left")
        columns = ["source", "n", "real", "fake", "not scored", "accuracy", "bal. acc", "ROC AUC", "AP", "EER",
                   "log loss", "ECE", "[[TN FP] [FN TP]]"]
        for name in columns:
            table.add_column(name, justify="left" if name in ("source", columns[-1]) else "right")
        metrics = part["metrics"] or {"all": None, "per_source": {}}
        statuses = part["status_by_source"]
        names = sorted(set(statuses) | set(metrics["per_source"]))
        for name in names + (["all"] if len(names) > 1 or not names else []):
            m = metrics["all"] if name == "all" else metrics["per_source"].get(name)
            if name == "all":
                not_scored = sum(n for c in statuses.values() for s, n in c.items() if s != "ok")
            else:
                not_scored = sum(n for s, n in statuses.get(name, {}).items() if s != "ok")
            if m is None:
                table.add_row(name, "0", "-", "-", str(not_scored), *["-"] * 8)
                continue
            table.add_row(name, str(m["n"]), str(m["n_real"]), str(m["n_fake"]), str(not_scored),
                          _fmt(m["accuracy"]), _fmt(m["balanced_accuracy"]), _fmt(m["roc_auc"], 4),
                          _fmt(m["average_precision"], 4), _fmt(m["eer"]), _fmt(m["log_loss"]), _fmt(m["ece"]),
                          str(m["confusion_matrix"]), style="bold" if name == "all" else None)
        console.print(table)
        if level == "videos":
            c = part["counts"]
            console.print(f"videos: {c['ok']} scored, {c['no_face']} without a face, {c['error']} unreadable "
                          "(not scored)")
