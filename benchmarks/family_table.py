"""Per-family tables of a suite's evaluation: each detector alone and the suite, per source.

    python benchmarks/family_table.py runs/suite/ffpp-test.eval.json [more.eval.json ...]
        [--only-sources A,B] [--drop-sources C,D] [--without FAMILY] [--markdown]

Reads what ``forensics evaluate --weights SUITE.json --json X`` wrote (its video rows keep each
family's calibrated media score) and prints, for every source and pooled: the number of real
and fake videos, the video ROC AUC, the fakes caught and the reals flagged at the threshold,
for each family's detector alone and for the suite (the highest family score, as the scan
computes it). ``--without FAMILY`` drops a family and re-scores the suite as the highest of
the others (e.g. a held-out view where one member's scores would be memory). Rows whose status
is not ``ok`` are counted as not scored. Images, when the
evaluation has them, get the same table (one face per image).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

from common import REPO  # noqa: F401 - puts the repository on the path

from forensics.aggregate import combine_families
from forensics.train.suite import family_metrics


def markdown(lines: Sequence[dict[str, Any]], title: str) -> str:
    text = [f"**{title}**", "", "| detector | source | real | fake | ROC AUC | fakes caught | reals flagged |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for x in lines:
        auc = "-" if x["auc"] is None else f"{x['auc']:.3f}" + ("*" if x.get("auc_against") else "")
        caught = f"{x['caught']}/{x['fake']}" if x["fake"] else "-"
        flagged = f"{x['flagged']}/{x['real']}" if x["real"] else "-"
        source = f"**{x['source']}**" if x["source"] == "all" else x["source"]
        text.append(f"| {x['detector']} | {source} | {x['real']} | {x['fake']} | {auc} | {caught} | {flagged} |")
    if any(x.get("auc_against") for x in lines):
        text += ["", "\\* a source of fakes only: its fakes against every real video of the evaluation."]
    return "\n".join(text)


def without(row: dict[str, Any], families: Sequence[str]) -> dict[str, Any]:
    """The row as a suite without ``families`` scores it: the highest of the other families'
    calibrated scores (the scan's combination); a row with none of them left is unscored."""
    if not families or not row.get("family_scores"):
        return row
    left = {f: s for f, s in row["family_scores"].items() if f not in families}
    scored = {f: s for f, s in left.items() if s is not None}
    return {**row, "family_scores": left, "score": combine_families(scored)[0] if scored else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("evaluations", nargs="+", type=Path, help="JSON reports of `forensics evaluate --json`")
    parser.add_argument("--only-sources", default="", help="comma-separated sources to keep (default all)")
    parser.add_argument("--drop-sources", default="", help="comma-separated sources to leave out")
    parser.add_argument("--without", action="append", default=[], help="a family to leave out of the suite (repeatable)")
    args = parser.parse_args()
    keep = set(filter(None, args.only_sources.split(",")))
    drop = set(filter(None, args.drop_sources.split(",")))
    for path in args.evaluations:
        report = json.loads(path.read_text())
        for level in ("videos", "images"):
            part = report.get(level)
            if not part:
                continue
            rows = [without(r, args.without) for r in part["rows"]
                    if (not keep or r["source"] in keep) and r["source"] not in drop]
            print(markdown(family_metrics(rows, report.get("threshold", 0.5)), f"{path.name}: {level}"))
            print()


if __name__ == "__main__":
    main()
