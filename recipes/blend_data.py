"""Write the manifests of the `blend` detector's recipe (issue 34): real faces to self-blend,
and FaceForensics++ split by identity.

    python recipes/blend_data.py [--data ../shared/data] [--out runs/blend]

Writes, in ``--out``:

- ``train.csv``: the manifest ``forensics train --self-blend only`` reads. Training rows are
  real faces only: the real images of the shipped default's *train* split (LFW and FFHQ;
  their valid/test images stay out, so the image figures stay held out), the originals of
  the FaceForensics++ identities drawn for training, and the real videos of two shared
  video sources that have no fake (LivePortrait, PC-AVS: 26 clips). Validation rows are the FF++ clips (real
  and fake) of the validation identities: they choose the epoch, so FF++ validation figures
  are tuned ones. No fake is ever trained on.
- ``ffpp-test.csv``: the FF++ clips of the test identities (``source`` = the method), for
  ``forensics evaluate``: no person of these clips, target or source, is in train.csv.
- ``calibration.csv``: real videos no detector trains on and no benchmark scores, to calibrate
  each detector's false-alarm rate (``forensics suite build --reals``): the other shared sources
  without fakes (LIA, first-order-model, video-retalking: 14 clips) and the FF++ originals of
  the validation identities (8 clips).
- ``calibration-synthesis.csv``: more real videos to calibrate the synthesis detector on
  (``forensics suite build --reals-for synthesis=...``): the ones the blend detector trains on
  (the FF++ originals of the training identities, the LivePortrait and PC-AVS reals: 41 clips),
  which the synthesis detector (trained on still images) never saw.
- ``images-valid.csv``: the still images of the shipped synthesis detector's validation split
  (LFW face swaps, StyleGAN faces and their reals): the suite's calibration on stills
  (``forensics suite build --images``). The synthesis detector chose its epoch on them and the
  blend detector never saw them; no figure is measured on them.
- ``images-test.csv``: that detector's test split: the image figures.
- ``ffpp-splits.csv``: which identity went where.

Identities are grouped into the connected parts of FF++'s (target, source) pairs, so a fake
and both its people always land in one split; parts are shuffled with ``--seed`` and filled
to about 35% train, 15% valid, 50% test of the clips. Of the 177 shared videos only reals of
sources without fakes are trained or calibrated on, so every fake and the reals of the five
sources with fakes (42 clips) stay held out by source (``videos-heldout.csv`` lists them); the six
clips are not used at all.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd


TRAIN_VIDEO_SOURCES = ("LivePortrait", "PC-AVS")
"""Shared video sources without fakes whose reals the blend detector trains on; the others calibrate."""


def identity_parts(ffpp: pd.DataFrame) -> dict[str, int]:
    """Each identity's connected part of the (target, source) graph, as a number."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for row in ffpp.itertuples():
        find(row.target_id)
        if row.source_id:
            parent[find(row.source_id)] = find(row.target_id)
    roots = sorted({find(x) for x in parent})
    return {x: roots.index(find(x)) for x in parent}


def split_identities(ffpp: pd.DataFrame, seed: int, shares: tuple[float, float] = (0.35, 0.15)) -> dict[str, str]:
    """``train``/``valid``/``test`` for every identity, whole parts at a time (see the module doc)."""
    part_of = identity_parts(ffpp)
    clips = ffpp["target_id"].map(part_of).value_counts().to_dict()
    parts = sorted(set(part_of.values()))
    order = np.random.default_rng(seed).permutation(parts)
    total, filled, where = len(ffpp), 0, {}
    for part in order:
        share = filled / total
        where[part] = "train" if share < shares[0] else "valid" if share < shares[0] + shares[1] else "test"
        filled += clips.get(part, 0)
    return {x: where[p] for x, p in part_of.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data", help="the shared data folder")
    parser.add_argument("--out", default="runs/blend", help="folder for the manifests")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data, out = Path(args.data).resolve(), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rel = lambda p: os.path.relpath(data / p, out.resolve())  # noqa: E731 - manifests resolve paths against their folder

    default_splits = pd.read_csv(Path(__file__).parent.parent / "weights" / "efficientnet-lite0.splits.csv", dtype=str)
    for split in ("valid", "test"):
        mine = default_splits[default_splits["split"] == split]
        pd.DataFrame({"path": [rel(p) for p in mine["path"]], "label": mine["label"], "source": mine["source"]}
                     ).to_csv(out / f"images-{split}.csv", index=False)
    faces = default_splits[(default_splits["label"] == "0") & (default_splits["split"] == "train")]
    rows = [{"path": rel(p), "label": "real", "source": s, "split": "train"} for p, s in zip(faces["path"], faces["source"])]

    ffpp = pd.read_csv(data / "ffpp" / "manifest.csv", dtype=str, keep_default_na=False)
    split_of = split_identities(ffpp, args.seed)
    ffpp["split"] = [max((split_of[t], split_of.get(s, split_of[t])), key=("train", "valid", "test").index)
                     for t, s in zip(ffpp["target_id"], ffpp["source_id"])]
    for row in ffpp.itertuples():
        if row.split == "train" and row.label == "real":
            rows.append({"path": rel(f"ffpp/{row.path}"), "label": "real", "source": "ffpp-original", "split": "train"})
        elif row.split == "valid":
            rows.append({"path": rel(f"ffpp/{row.path}"), "label": row.label, "source": "ffpp", "split": "valid"})
    videos = pd.read_csv(data / "videos" / "manifest.csv", dtype=str, keep_default_na=False)
    faked = set(videos.loc[videos["label"] == "fake", "source"])
    trained = videos[videos["source"].isin(TRAIN_VIDEO_SOURCES) & (videos["label"] == "real")]
    rows += [{"path": rel(f"videos/{p}"), "label": "real", "source": f"videos-{s}", "split": "train"}
             for p, s in zip(trained["path"], trained["source"])]
    spare = videos[(videos["label"] == "real") & ~videos["source"].isin(faked | set(TRAIN_VIDEO_SOURCES))]
    originals = ffpp[(ffpp["split"] == "valid") & (ffpp["label"] == "real")]
    pd.DataFrame({"path": [rel(f"videos/{p}") for p in spare["path"]] + [rel(f"ffpp/{p}") for p in originals["path"]],
                  "label": "real", "source": list(spare["source"]) + ["ffpp-original"] * len(originals)}
                 ).to_csv(out / "calibration.csv", index=False)
    trained_originals = ffpp[(ffpp["split"] == "train") & (ffpp["label"] == "real")]
    pd.DataFrame({"path": [rel(f"ffpp/{p}") for p in trained_originals["path"]] + [rel(f"videos/{p}") for p in trained["path"]],
                  "label": "real", "source": ["ffpp-original"] * len(trained_originals) + list(trained["source"])}
                 ).to_csv(out / "calibration-synthesis.csv", index=False)
    heldout = videos[videos["source"].isin(faked)]
    pd.DataFrame({"path": [rel(f"videos/{p}") for p in heldout["path"]], "label": heldout["label"],
                  "source": heldout["source"]}).to_csv(out / "videos-heldout.csv", index=False)
    pd.DataFrame(rows).to_csv(out / "train.csv", index=False)
    test = ffpp[ffpp["split"] == "test"]
    pd.DataFrame({"path": [rel(f"ffpp/{p}") for p in test["path"]], "label": test["label"],
                  "source": test["method"]}).to_csv(out / "ffpp-test.csv", index=False)
    pd.DataFrame(sorted(split_of.items()), columns=["identity", "split"]).to_csv(out / "ffpp-splits.csv", index=False)
    counts = ffpp.groupby(["split", "method"]).size().unstack(fill_value=0)
    print(counts.to_string())
    print(f"train.csv: {len(rows)} rows ({len(trained)} shared real videos); ffpp-test.csv: {len(test)} clips; "
          f"videos-heldout.csv: {len(heldout)} clips; calibration.csv: {len(spare) + len(originals)} clips; "
          f"calibration-synthesis.csv: {len(trained_originals) + len(trained)} clips")


if __name__ == "__main__":
    main()
