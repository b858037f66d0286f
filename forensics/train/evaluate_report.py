"""An evaluation laid out for people: rich tables per source (:func:`print_tables`; the plots
are :mod:`forensics.train.plots`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forensics.train.evaluate import Evaluation


def _fmt(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_tables(result: Evaluation, console) -> None:
    """One rich table per level (images, videos): a row per source and one for all.

    Piped output (not a terminal) is laid out at least 150 columns wide, not rich's 80.
    """
    from rich.table import Table

    from forensics.report.summary import readable

    console = readable(console)

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
