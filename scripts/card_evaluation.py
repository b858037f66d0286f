"""Add held-out evaluations and the licence of every data source to a shipped model card.

Each ``NAME=REPORT`` is a JSON report written by ``forensics evaluate --json`` on the same
weights (checked by sha256). The card gains ``evaluation.NAME``: what was scored, how many
media, and per source the counts, ROC AUC, accuracy at the card's threshold and confusion
matrix; ``data_licences`` lists, for every source the weights were trained or evaluated on,
the licence notes of the shared manifests (``licence`` column); ``--why`` records why these
weights are the default (``why_default``). Reports are summarised, never
copied: no path of the machine that ran them enters the card.

    python scripts/card_evaluation.py weights/efficientnet-lite0.safetensors \\
        "videos=runs/video-cv/baseline.eval.json" "clips=runs/video-robustness/clips/original.eval.json" \\
        --note videos="177 shared videos, never trained on: held out by source and by video"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from forensics.models.weights import read_card

MANIFESTS = (Path("../shared/data/manifest.csv"), Path("../shared/data/videos/manifest.csv"))
KEPT = ("n", "n_real", "n_fake", "roc_auc", "accuracy", "balanced_accuracy", "ece", "confusion_matrix")


def summarise(report: dict, note: str | None) -> dict:
    """The card's view of one ``forensics evaluate`` report: per-kind and per-source metrics."""
    summary: dict = {"data": Path(report["data"]).name if report["data"] else None,
                     "threshold": report["threshold"], "created": report["created"]}
    if note:
        summary["note"] = note
    for kind in ("images", "videos"):
        part = report.get(kind) or {}
        metrics = part.get("metrics")
        if not metrics or not metrics.get("all"):
            continue
        rows = pd.DataFrame(part["rows"])
        summary[kind] = {
            "scored": int((rows.status == "ok").sum()), "not_scored": int((rows.status != "ok").sum()),
            "all": {k: metrics["all"].get(k) for k in KEPT},
            "per_source": {src: {k: m.get(k) for k in KEPT} for src, m in metrics["per_source"].items()},
        }
    return summary


def licences(sources: set[str]) -> dict[str, list[str]]:
    """Licence notes of ``sources`` from the shared manifests (absent manifests are skipped)."""
    found: dict[str, set[str]] = {}
    for manifest in MANIFESTS:
        if manifest.exists():
            table = pd.read_csv(manifest)
            for source in sources:  # a source is a manifest source or a folder of it (clips/)
                rows = table[(table.source == source) | table.path.str.startswith(f"{source}/")]
                found.setdefault(source, set()).update(str(n) for n in rows.licence.dropna())
    return {s: sorted(found.get(s) or {"unknown: not in the shared manifests"}) for s in sorted(sources)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("reports", nargs="+", help="NAME=REPORT.json from forensics evaluate --json")
    parser.add_argument("--note", action="append", default=[], help="NAME=text describing that evaluation")
    parser.add_argument("--why", help="why these weights are the default, on held-out image and video figures together")
    args = parser.parse_args(argv)
    card_path = args.weights.with_suffix(".json")
    card = read_card(args.weights)
    notes = dict(n.split("=", 1) for n in args.note)
    evaluation = card.get("evaluation", {})
    sources = set(card.get("training", {}).get("sources") or [])
    for item in args.reports:
        name, path = item.split("=", 1)
        report = json.loads(Path(path).read_text())
        if report["sha256"] != card["sha256"]:
            print(f"{path} scored other weights (sha256 {report['sha256'][:12]}…, card {card['sha256'][:12]}…)",
                  file=sys.stderr)
            return 2
        evaluation[name] = summarise(report, notes.get(name))
        for kind in ("images", "videos"):
            sources.update((evaluation[name].get(kind) or {}).get("per_source", {}))
    card["evaluation"] = evaluation
    if args.why:
        card["why_default"] = args.why
    card["data_licences"] = licences(sources)
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(f"updated {card_path}: evaluation {', '.join(evaluation)}; licences of {len(sources)} sources")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
