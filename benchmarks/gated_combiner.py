"""What a gated combiner would do to the suite's ranking: the animation family let into the
max of the family scores only above the threshold (below it, its score times ``a``), re-scored
offline on FF++ test and on the shared videos held out by source (docs/evaluation.md, session 47).

    python benchmarks/gated_combiner.py --ffpp SUITE3-FFPP.eval.json --suite SUITE2-VIDEOS.eval.json \\
        --fold FOLD0.eval.json ... [--factor 1 --factor 0.5 ...]

``--ffpp`` is ``forensics evaluate runs/blend/ffpp-test.csv --weights weights/suite.json``;
``--suite`` and ``--fold`` are benchmarks/animation_table.py's (the fold detectors calibrated at
rate 0). Verdicts do not change with ``a`` (a family at or above the threshold counts as it is);
only the ranking of the media below it does. Both benchmarks are test sets: a factor chosen
here would be tuned on them.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from animation_table import held_out_animation, video_rows
from common import REPO  # noqa: F401 - puts the repository on the path
from sklearn.metrics import roc_auc_score

from forensics.config import Aggregation

LEFT_OUT = ("LivePortrait", "PC-AVS")  # reals the blend detector trained on


def gated(families: dict[str, float | None], factor: float, family: str = "animation", threshold: float = 0.5) -> float:
    """The highest family score, ``family``'s multiplied by ``factor`` where it is below ``threshold``."""
    return max((s if s >= threshold or f != family else factor * s) for f, s in families.items() if s is not None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ffpp", type=Path, required=True)
    parser.add_argument("--suite", type=Path, required=True)
    parser.add_argument("--fold", type=Path, action="append", required=True)
    parser.add_argument("--factor", type=float, action="append", default=[])
    args = parser.parse_args()
    animation, _ = held_out_animation(args.fold, "ffpp-original", 0.0, Aggregation())
    animation = {os.path.realpath(p): s for p, s in animation.items()}
    shared = []
    for r in video_rows(args.suite):
        path = os.path.realpath(r["path"])
        if path in animation and r["source"] not in LEFT_OUT:
            shared.append((int(r["label"]), {**{f: s for f, s in r["family_scores"].items() if f != "animation"},
                                             "animation": animation[path]}))
    ffpp = [(int(r["label"]), r["family_scores"]) for r in video_rows(args.ffpp)]
    print(f"{'a':>5} {'FF++ test':>10} {'shared, held out':>17}")
    for factor in args.factor or [1.0, 0.5, 0.25, 0.0]:
        aucs = []
        for rows in (ffpp, shared):
            labels = np.array([label for label, _ in rows])
            aucs.append(roc_auc_score(labels, [gated(f, factor) for _, f in rows]))
        print(f"{factor:>5g} {aucs[0]:>10.3f} {aucs[1]:>17.3f}   ({len(ffpp)} and {len(shared)} videos)")


if __name__ == "__main__":
    main()
