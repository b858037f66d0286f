"""A suite's held-out figures under other calibrations, re-scored offline from one set of scans.

    python benchmarks/calibration_table.py --card SUITE.json \\
        --calibrate calibration.eval.json [--more synthesis=more-reals.eval.json] \\
        --rate 0.05 --rate 0 --evaluate ffpp-test.eval.json videos.eval.json ...
        [--only-sources A,B]

Every ``*.eval.json`` is what ``forensics evaluate --weights SUITE.json --json`` wrote with the
card ``--card`` (its rows keep each face's calibrated family scores and track). Each face score
is moved back to the member's own score, then, for each ``--rate``, each family is calibrated
as ``forensics suite build`` would (:func:`forensics.train.suite.fit_shift`: on the real videos
of ``--calibrate``, plus that family's ``--more``), and every evaluation is scored again as the
scan scores (worst track per family, the highest family). Printed per rate: the shifts, and per
evaluation the suite's pooled ROC AUC, fakes caught and reals flagged. Still images are scored
as one face each. Calibrating on ``--calibrate`` and not on an evaluation keeps the figures
held out; choosing a rate by these figures would not.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from common import REPO  # noqa: F401 - puts the repository on the path

from forensics.aggregate import combine_families, media_score, shift_logits
from forensics.config import Aggregation
from forensics.train.suite import family_metrics, fit_shift


def own_scores(report: dict[str, Any], shifts: dict[str, float]) -> list[dict[str, Any]]:
    """The scored rows of an evaluation, each face's family scores moved back to the members' own."""
    rows = []
    for level in ("videos", "images"):
        for row in (report.get(level) or {}).get("rows", []):
            if row["status"] != "ok":
                continue
            if level == "videos":
                faces = {f: shift_logits(np.asarray(s), -shifts[f]) for f, s in row["family_face_scores"].items()}
                rows.append(dict(row, own=faces, tracks=np.asarray(row["face_tracks"])))
            else:
                faces = {f: shift_logits(np.asarray([s]), -shifts[f]) for f, s in row["family_scores"].items()}
                rows.append(dict(row, own=faces, tracks=np.zeros(1, np.int64)))
    return rows


def rescore(rows: list[dict[str, Any]], shifts: dict[str, float], aggregation: Aggregation) -> list[dict[str, Any]]:
    """Rows scored again under ``shifts``: each family's media score, the media's the highest."""
    out = []
    for row in rows:
        families = {f: media_score(shift_logits(s, shifts[f]), row["tracks"], aggregation.aggregate, aggregation.topk,
                                   aggregation.min_track_faces)[0] for f, s in row["own"].items()}
        out.append(dict(row, family_scores=families, score=combine_families(families, aggregation.threshold)[0]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--card", type=Path, required=True, help="the suite card the evaluations were scanned with")
    parser.add_argument("--calibrate", type=Path, required=True, help="evaluation of real videos to calibrate every family on")
    parser.add_argument("--more", action="append", default=[], help="FAMILY=EVAL.json: more real videos for one family (repeatable)")
    parser.add_argument("--rate", action="append", type=float, required=True, help="share of calibration videos flagged (repeatable)")
    parser.add_argument("--evaluate", nargs="+", type=Path, required=True, help="held-out evaluations to score")
    parser.add_argument("--only-sources", default="", help="comma-separated sources to keep in the evaluations (default all)")
    args = parser.parse_args()

    card = json.loads(args.card.read_text())
    shifts = {m["family"]: float(m.get("calibration", {}).get("logit_shift", 0.0)) for m in card["members"]}
    aggregation = Aggregation(**card["calibration"]["aggregation"])
    keep = set(filter(None, args.only_sources.split(",")))

    def load(path: Path) -> list[dict[str, Any]]:
        return own_scores(json.loads(path.read_text()), shifts)

    base = [r for r in load(args.calibrate) if int(r["label"]) == 0]
    more = {}
    for item in args.more:
        family, _, path = item.partition("=")
        more.setdefault(family, []).extend(r for r in load(Path(path)) if int(r["label"]) == 0)
    evaluations = {p.name: [r for r in load(p) if not keep or r["source"] in keep] for p in args.evaluate}
    for rate in args.rate:
        fitted = {}
        for family in shifts:
            videos = base + more.get(family, [])
            fitted[family] = fit_shift([(r["own"][family], r["tracks"]) for r in videos], rate, aggregation)
        print(f"rate {rate}: " + ", ".join(f"{f} shift {x['logit_shift']:+.3f} ({x['flagged']} of {x['real_videos']} flagged)"
                                           for f, x in fitted.items()))
        new = {f: x["logit_shift"] for f, x in fitted.items()}
        for name, rows in evaluations.items():
            pooled = next(x for x in family_metrics(rescore(rows, new, aggregation)) if x["detector"] == "suite"
                          and x["source"] == "all")
            print(f"  {name}: AUC {pooled['auc']:.3f}, fakes caught {pooled['caught']}/{pooled['fake']}, "
                  f"reals flagged {pooled['flagged']}/{pooled['real']}")


if __name__ == "__main__":
    main()
