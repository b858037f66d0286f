"""The `animation` detector's and the suite's figures on the shared videos held out by source,
re-scored offline from scans (recipes/train_animation.sh writes the scans' inputs).

    python benchmarks/animation_table.py --suite SUITE-VIDEOS.eval.json \\
        --fold FOLD0.eval.json --fold FOLD1.eval.json ... [--calibration-source ffpp-original] \\
        [--rate 0.05] [--json out.json]

``--suite`` is ``forensics evaluate`` of a suite on the videos (runs/animation/videos.csv): it
gives every video's blend and synthesis scores (neither detector trained on a fake of these
sets), and, when the suite has an animation member trained on every source, that member's
*in-source* scores. Each ``--fold`` is ``forensics evaluate`` of one fold's animation detector
on the videos and the calibration reals (runs/animation/eval.csv): the evaluation keeps
the fold's test videos (sources it never trained on) and the calibration videos. Each fold's
detector is calibrated as ``forensics suite build`` calibrates (:func:`forensics.train.suite.fit_shift`
on its calibration videos at ``--rate``), then its test videos get their calibrated
*leave-one-source-out* animation score, and the suite's held-out score is the highest of the
three families'. Printed: pooled ROC AUC, each fake source's AUC against every real video,
fakes caught and reals flagged at 0.5, for each family alone and the suite, both views.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from common import REPO  # noqa: F401 - puts the repository on the path

from forensics.aggregate import media_score, shift_logits
from forensics.config import Aggregation
from forensics.train.suite import family_metrics, fit_shift


def video_rows(path: Path) -> list[dict[str, Any]]:
    report = json.loads(path.read_text())
    return [r for r in (report.get("videos") or {}).get("rows", []) if r["status"] == "ok"]


def held_out_animation(folds: list[Path], calibration_source: str, rate: float,
                       aggregation: Aggregation) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Each test video's calibrated animation score from the fold that never saw its source,
    and what each fold's calibration did."""
    scores, fits = {}, []
    for path in folds:
        rows = video_rows(path)
        calibration = [r for r in rows if r["source"] == calibration_source]
        tests = [r for r in rows if r["source"] != calibration_source and r.get("split") == "test"]
        fit = fit_shift([(np.asarray(r["face_scores"]), np.asarray(r["face_tracks"])) for r in calibration], rate, aggregation)
        fits.append(dict(fit, fold=path.name, test_videos=len(tests)))
        for r in tests:
            faces = shift_logits(np.asarray(r["face_scores"]), fit["logit_shift"])
            scores[r["path"]] = media_score(faces, np.asarray(r["face_tracks"]), aggregation.aggregate, aggregation.topk,
                                            aggregation.min_track_faces)[0]
    return scores, fits


def show(title: str, lines: list[dict[str, Any]]) -> None:
    print(f"\n{title}")
    print(f"{'detector':<10} {'source':<28} {'real':>4} {'fake':>4} {'AUC':>6} {'caught':>6} {'flagged':>7}")
    for x in lines:
        auc = "" if x["auc"] is None else f"{x['auc']:.3f}"
        print(f"{x['detector']:<10} {x['source']:<28} {x['real']:>4} {x['fake']:>4} {auc:>6} {x['caught']:>6} {x['flagged']:>7}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, required=True)
    parser.add_argument("--fold", type=Path, action="append", required=True)
    parser.add_argument("--calibration-source", default="ffpp-original")
    parser.add_argument("--rate", type=float, default=0.05)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report = json.loads(args.suite.read_text())
    aggregation = Aggregation(**{k: v for k, v in report["videos"]["scan_config"].items()
                                 if k in Aggregation.__dataclass_fields__}) if "scan_config" in report["videos"] else Aggregation()
    suite_rows = video_rows(args.suite)
    animation, fits = held_out_animation(args.fold, args.calibration_source, args.rate, aggregation)
    held_out = []
    for r in suite_rows:
        if r["path"] not in animation:
            continue
        families = {f: s for f, s in r["family_scores"].items() if f != "animation"}
        families["animation"] = animation[r["path"]]
        held_out.append(dict(r, family_scores=families, score=max(families.values())))
    missing = len(suite_rows) - len(held_out)
    out: dict[str, Any] = {"rate": args.rate, "folds": fits, "videos": len(held_out), "without_held_out_score": missing,
                           "held_out": family_metrics(held_out)}
    show(f"held out by source: {len(held_out)} videos (animation: the fold that never saw the source; "
         f"{missing} suite rows without one)", out["held_out"])
    if any("animation" in r["family_scores"] for r in suite_rows):
        out["in_source"] = family_metrics(suite_rows)
        show("in-source: the suite as shipped (its animation detector trained on these sources)",
             [x for x in out["in_source"] if x["source"] == "all"])
    for fit in fits:
        print(f"{fit['fold']}: shift {fit['logit_shift']:+.3f} on {fit['real_videos']} calibration videos "
              f"({fit['flagged_before']} -> {fit['flagged']} flagged), {fit['test_videos']} test videos")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
