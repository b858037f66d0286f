"""Write the manifests of the `animation` detector's recipe (issue 42): the labelled videos of
talking-head, portrait-animation, reenactment, lip-sync and live-swap generators, and the real
videos to calibrate it on.

    python recipes/animation_data.py [--data ../shared/data] [--out runs/animation]

Writes, in ``--out``:

- ``videos.csv``: every clip of ../shared/data/videos and ../shared/data/videos3 (``path,
  label, source, set``): what the detector trains on, and what its leave-one-source-out figures
  are measured on (each source's videos scored by a head that never saw that source).
- ``fold<k>.csv`` (k = 0 .. ``--folds`` - 1): the same clips with a ``split`` column for a
  training held out by source: the sources of fold k are ``test`` (never trained on, never
  used to choose an epoch), a few other sources with both labels are ``valid`` (they choose
  the epoch), the rest ``train``. Sources are dealt to folds largest first, each to the fold
  with the fewest videos, so every fold holds fakes.
- ``all.csv``: every source trains but the ``valid`` ones of fold 0's training sources: the
  shipped detector.
- ``calibration.csv``: real videos the detector never trains on and no figure of the suite
  scores: the FaceForensics++ originals of the identities recipes/blend_data.py does not hold
  out for testing (news and interview footage, 23 clips), for ``forensics suite build
  --reals-for animation=...``.
- ``eval.csv``: ``videos.csv`` and ``calibration.csv`` together, for ``forensics evaluate`` of
  each fold's detector (its split file keeps the fold's test videos, and the calibration videos
  it does not list): benchmarks/animation_table.py calibrates and scores from it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd
from blend_data import split_identities  # the FF++ identities held out for testing

VIDEO_SETS = ("videos", "videos3")


def deal_folds(videos: pd.DataFrame, folds: int) -> dict[str, int]:
    """Each source's fold: sources with fakes dealt largest first to the fold with the fewest
    fakes, then sources of reals only to the fold with the fewest reals."""
    fold_of: dict[str, int] = {}
    fakes, reals = np.zeros(folds), np.zeros(folds)
    count = videos.groupby(["source", "label"]).size().unstack(fill_value=0)
    for label, load in (("fake", fakes), ("real", reals)):
        mine = count[count.get(label, 0) > 0].sort_values(label, ascending=False)
        for source, row in mine.iterrows():
            if source in fold_of:
                continue
            k = int(np.argmin(load))
            fold_of[source] = k
            fakes[k] += row.get("fake", 0)
            reals[k] += row.get("real", 0)
    return fold_of


def validation_sources(videos: pd.DataFrame, training: set[str], share: float = 0.15) -> set[str]:
    """Sources with both labels, smallest first, from ``training`` until they hold ``share`` of its videos."""
    count = videos[videos["source"].isin(training)].groupby(["source", "label"]).size().unstack(fill_value=0)
    both = count[(count.get("fake", 0) > 0) & (count.get("real", 0) > 0)]
    total, chosen, held = int(count.to_numpy().sum()), set(), 0
    for source, row in both.assign(n=both.sum(axis=1)).sort_values(["n"]).iterrows():
        if held >= share * total:
            break
        chosen.add(source)
        held += int(row["n"])
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data", help="the shared data folder")
    parser.add_argument("--out", default="runs/animation", help="folder for the manifests")
    parser.add_argument("--folds", type=int, default=4, help="folds of sources for the held-out trainings")
    args = parser.parse_args()
    data, out = Path(args.data).resolve(), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rel = lambda p: os.path.relpath(data / p, out.resolve())  # noqa: E731 - manifests resolve paths against their folder
    frames = []
    for name in VIDEO_SETS:
        manifest = data / name / "manifest.csv"
        if not manifest.exists():
            raise SystemExit(f"{manifest} is missing: this recipe needs ../shared/data/{name}")
        table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
        frames.append(pd.DataFrame({"path": [rel(f"{name}/{p}") for p in table["path"]], "label": table["label"],
                                    "source": table["source"], "set": name}))
    videos = pd.concat(frames, ignore_index=True)
    clash = videos.groupby("source")["set"].nunique()
    if (clash > 1).any():
        raise SystemExit(f"sources named alike in two sets: {', '.join(clash[clash > 1].index)}")
    videos.to_csv(out / "videos.csv", index=False)
    fold_of = deal_folds(videos, args.folds)
    for k in range(args.folds):
        test = {s for s, f in fold_of.items() if f == k}
        valid = validation_sources(videos, set(fold_of) - test)
        split = ["test" if s in test else "valid" if s in valid else "train" for s in videos["source"]]
        videos.assign(split=split).to_csv(out / f"fold{k}.csv", index=False)
        held = videos[[x == "test" for x in split]]
        print(f"fold {k}: test {len(held)} clips ({(held['label'] == 'fake').sum()} fake) of {len(test)} sources; "
              f"valid {', '.join(sorted(valid))}")
    valid = validation_sources(videos, {s for s, f in fold_of.items() if f != 0})
    videos.assign(split=["valid" if s in valid else "train" for s in videos["source"]]).to_csv(out / "all.csv", index=False)
    ffpp = pd.read_csv(data / "ffpp" / "manifest.csv", dtype=str, keep_default_na=False)
    split_of = split_identities(ffpp, 0)
    originals = ffpp[(ffpp["label"] == "real") & (ffpp["target_id"].map(split_of) != "test")]
    calibration = pd.DataFrame({"path": [rel(f"ffpp/{p}") for p in originals["path"]], "label": "real",
                                "source": "ffpp-original"})
    calibration.to_csv(out / "calibration.csv", index=False)
    pd.concat([videos.drop(columns="set"), calibration]).to_csv(out / "eval.csv", index=False)
    counts = videos.groupby(["set", "label"]).size().unstack(fill_value=0)
    print(counts.to_string())
    print(f"videos.csv: {len(videos)} clips of {videos['source'].nunique()} sources "
          f"({videos.loc[videos['label'] == 'fake', 'source'].nunique()} with fakes); "
          f"calibration.csv: {len(originals)} FF++ originals of identities not held out for testing")


if __name__ == "__main__":
    main()
