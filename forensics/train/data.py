"""Labelled training data: discovery, deterministic splits and the face-crop cache.

DATA may be:

- a CSV manifest with ``path`` and ``label`` (``real``/``fake`` or 0/1) columns, paths
  relative to the CSV's folder, and optionally ``source`` and ``split`` columns
  (like ../shared/data/manifest.csv);
- a folder with ``train/``, ``valid/`` and ``test/``, each holding ``real/`` and ``fake/``;
- a folder with ``real/`` and ``fake/`` folders at any depth.

Videos in DATA are left out unless asked for (``videos=True``, ``forensics train
--video-frames N``). A video is then one sample, so that it lands in one split whole (no
frame of a test video in training), and gives several crops: N frames sampled evenly over
the whole video, faces detected, cropped and tracked by the scan's own extraction
(:func:`forensics.pipeline.extract_item`), the crops of its main person (the longest track)
kept.

Faces are cropped by the scan's own detector and :func:`forensics.faces.align.crop_face`,
with the model's crop policy, and cached on disk keyed by the file's sha256 and the policy,
so that no epoch or rerun detects twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from forensics.config import ScanConfig
from forensics.faces.align import (
    CropPolicy,
    crop_face,
    crop_transform,
    transform_points,
)
from forensics.media.decode import DecodeError
from forensics.media.image import read_image
from forensics.media.discover import VIDEO_EXTENSIONS, MediaItem, discover
from forensics.media.storage import file_sha256

LABELS = {"real": 0, "fake": 1, "0": 0, "1": 1}
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Sample:
    """One labelled image or video: ``label`` is 1 for fake, 0 for real."""

    path: str
    label: int
    source: str = ""
    split: str | None = None

    @property
    def is_video(self) -> bool:
        return Path(self.path).suffix.lower() in VIDEO_EXTENSIONS


def _label_from_parts(path: Path) -> int | None:
    for part in reversed(path.parts[:-1]):
        if part.lower() in ("real", "fake"):
            return LABELS[part.lower()]
    return None


def load_samples(data: str | os.PathLike[str], sources: Sequence[str] | None = None,
                 kinds: Sequence[str] = ("image",)) -> list[Sample]:
    """Labelled media of a manifest or folder (see the module doc), sorted by path: the one way
    to list what training and evaluation read.

    Args:
        data: a CSV manifest or a folder.
        sources: keep only rows of these sources (manifests with a ``source`` column).
        kinds: which media to keep: ``("image",)`` (the default), ``("video",)`` or both. In a
            manifest a video is a path with a video extension; in a folder, the kind is sniffed
            from the content (an unreadable video is kept and ends as an ``error`` row).

    Raises:
        ValueError: a manifest without ``path``/``label``, a bad label, ``sources`` without a
            ``source`` column, or a folder without any such media under ``real/``/``fake/``.
    """
    unknown = sorted(set(kinds) - {"image", "video"})
    if unknown or not kinds:
        raise ValueError(f"kinds are image and/or video, not {', '.join(unknown) or 'none'}")
    data = Path(data)
    if data.is_file():
        table = pd.read_csv(data, dtype=str, keep_default_na=False)
        missing = {"path", "label"} - set(table.columns)
        if missing:
            raise ValueError(f"{data}: manifest lacks column(s) {', '.join(sorted(missing))}")
        if sources:
            if "source" not in table.columns:
                raise ValueError(f"{data}: --source given but the manifest has no source column")
            table = table[table["source"].isin(sources)]
        samples = []
        for row in table.itertuples(index=False):
            row = row._asdict()
            label = LABELS.get(str(row["label"]).strip().lower())
            if label is None:
                raise ValueError(f"{data}: label {row['label']!r} of {row['path']} is not real/fake/0/1")
            path = data.parent / row["path"]
            if ("video" if path.suffix.lower() in VIDEO_EXTENSIONS else "image") not in kinds:
                continue
            split = row.get("split") or None
            samples.append(Sample(str(path), label, row.get("source", "") or "", split))
        return sorted(samples, key=lambda s: s.path)
    if not data.is_dir():
        raise ValueError(f"{data}: no such file or folder")
    has_splits = all((data / s).is_dir() for s in ("train", "test")) 
    samples = []
    for item in discover([data]).items:
        if item.kind not in kinds:
            continue
        path = Path(item.path)
        label = _label_from_parts(path.relative_to(data))
        if label is None:
            continue
        split = None
        if has_splits:
            first = path.relative_to(data).parts[0]
            split = first if first in SPLITS else None
        samples.append(Sample(str(path), label, data.name, split))
    if not samples:
        raise ValueError(f"{data}: found no {' or '.join(k + 's' for k in kinds)} under real/ or fake/ folders")
    return sorted(samples, key=lambda s: s.path)


def assign_splits(samples: Sequence[Sample], fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
                  seed: int = 0) -> list[Sample]:
    """Give every sample without a split one: deterministic, stratified by source and label."""
    if all(s.split for s in samples):
        return list(samples)
    todo = [s for s in samples if not s.split]
    strata = [f"{s.source}|{s.label}" for s in todo]
    train_frac, valid_frac, test_frac = fractions
    rest_frac = valid_frac + test_frac
    train, rest = train_test_split(todo, test_size=rest_frac, random_state=seed, stratify=strata)
    rest_strata = [f"{s.source}|{s.label}" for s in rest]
    valid, test = train_test_split(rest, test_size=test_frac / rest_frac, random_state=seed, stratify=rest_strata)
    named = {id(s): "train" for s in train} | {id(s): "valid" for s in valid} | {id(s): "test" for s in test}
    out = [s if s.split else Sample(s.path, s.label, s.source, named[id(s)]) for s in samples]
    return sorted(out, key=lambda s: s.path)


def source_weights(labels: np.ndarray, sources: Sequence[str]) -> np.ndarray:
    """Per-sample weights under which every (source, label) group weighs the same and the two
    labels weigh the same in all."""
    from collections import Counter

    keys = list(zip(sources, np.asarray(labels).tolist()))
    counts = Counter(keys)
    groups = Counter(y for _, y in counts)  # sources per label
    w = np.array([1.0 / (counts[k] * groups[k[1]]) for k in keys])
    return w * len(w) / w.sum()


def data_base(data: str | os.PathLike[str]) -> Path:
    """The folder that sample paths of DATA are relative to in a split file (as ``train`` writes them)."""
    data = Path(data)
    return data.parent if data.is_file() else data


def splits_file(weights: str | os.PathLike[str]) -> Path:
    """``<stem>.splits.csv`` beside the weights, as written by ``forensics train``."""
    return Path(weights).with_suffix(".splits.csv")


def save_splits(samples: Iterable[Sample], path: str | os.PathLike[str],
                relative_to: str | os.PathLike[str] | None = None) -> None:
    """Write the samples and their splits as CSV (paths relative to ``relative_to`` when given)."""
    rows = []
    for s in samples:
        row = dict(s.__dict__)
        if relative_to is not None:
            row["path"] = os.path.relpath(s.path, relative_to)
        rows.append(row)
    pd.DataFrame(rows).to_csv(path, index=False)


def read_splits(path: str | os.PathLike[str], base: str | os.PathLike[str]) -> list[Sample]:
    """The samples of a split file written by :func:`save_splits`, paths resolved against
    ``base`` (the :func:`data_base` of the data it was written for)."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    return sorted((Sample(os.path.normpath(Path(base) / row["path"]), LABELS[str(row["label"]).strip().lower()],
                          row.get("source", ""), row.get("split") or None) for row in table.to_dict("records")),
                  key=lambda s: s.path)


def path_key(path: str | os.PathLike[str]) -> str:
    """A path in the form that compares equal however it was written (absolute, normalised)."""
    return os.path.normcase(os.path.abspath(path))


def reuse_splits(samples: Sequence[Sample], split_file: str | os.PathLike[str],
                 base: str | os.PathLike[str]) -> list[Sample]:
    """``samples`` with the splits that ``split_file`` (paths relative to ``base``) gives them,
    so that a new run holds out exactly the images an earlier one held out.

    Raises:
        ValueError: a sample the split file does not list.
    """
    listed = {path_key(s.path): s.split for s in read_splits(split_file, base)}
    missing = [s.path for s in samples if listed.get(path_key(s.path)) is None]
    if missing:
        raise ValueError(f"{len(missing)} of the {len(samples)} images are not in the split file {split_file} "
                         f"(first: {missing[0]}); select the same data (and --source) as the run that wrote it")
    return [Sample(s.path, s.label, s.source, listed[path_key(s.path)]) for s in samples]


def _save_atomically(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


class CropCache:
    """Face crops on disk, one ``.npy`` per (file content, crop policy); ``None`` for no face.

    A video's crops are one ``.npy`` of shape (n, size, size, 3) per (content, policy, frames).

    Args:
        root: cache folder (default ``$FORENSICS_CACHE`` or ``~/.cache/forensics/crops``).
        policy: the crop policy; its values (and the detector's settings) key the cache.
        detect_size, min_prob, min_face_px: the face detector's settings (default: the scan's,
            :class:`forensics.config.ScanConfig`, so that training crops are the scan's crops).
        video_frames: frames sampled from each video (default 8).
    """

    def __init__(self, policy: CropPolicy, root: str | os.PathLike[str] | None = None,
                 detect_size: int = ScanConfig.default("detect_size"),
                 min_prob: float = ScanConfig.default("min_face_prob"),
                 min_face_px: int = ScanConfig.default("min_face_px"), video_frames: int = 8):
        base = Path(root or os.environ.get("FORENSICS_CACHE", Path.home() / ".cache" / "forensics" / "crops"))
        settings = dict(policy.to_dict(), detect_size=detect_size, min_prob=min_prob, min_face_px=min_face_px)
        key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
        self.folder = base / key
        self.folder.mkdir(parents=True, exist_ok=True)
        self.policy = policy
        self.detector_settings = dict(detect_size=detect_size, min_prob=min_prob, min_face_px=min_face_px)
        self._detector = None
        self.video_frames = video_frames
        self._worker = None  # the decoding worker process, started by the first video

    def _detect(self):
        if self._detector is None:
            from forensics.faces.detect import FaceDetector

            self._detector = FaceDetector("cpu", **self.detector_settings)
        return self._detector

    def crop(self, path: str) -> np.ndarray | None:
        """The crop of the image's most probable face, or None when no face (or unreadable)."""
        sha = file_sha256(path)
        npy, none = self.folder / f"{sha}.npy", self.folder / f"{sha}.none"
        if npy.exists():
            return np.load(npy)
        if none.exists():
            return None
        try:
            image = read_image(path).image
        except DecodeError:
            none.write_text("undecodable\n")
            return None
        faces = self._detect().detect([image])[0]
        if not faces:
            none.write_text("no face\n")
            return None
        face = max(faces, key=lambda d: d.prob)
        crop = crop_face(image, face.box, face.landmarks, self.policy)
        points = transform_points(face.landmarks, crop_transform(face.box, face.landmarks, self.policy))
        _save_atomically(self.folder / f"{sha}.landmarks.npy", points.astype(np.float32))
        _save_atomically(npy, crop)  # last: a crop on disk means its landmarks are too
        return crop

    def landmarks_of(self, samples: Sequence[Sample]) -> np.ndarray:
        """The five landmarks of each sample's crop in crop pixels, (n, 5, 2) float32, as
        :meth:`load` lists crops (a video once per crop, in order); NaN for crops cached
        without them."""
        out = np.full((len(samples), 5, 2), np.nan, np.float32)
        loaded: dict[str, np.ndarray | None] = {}
        seen: dict[str, int] = {}
        for i, sample in enumerate(samples):
            if sample.path not in loaded:
                suffix = f"-v{self.video_frames}.landmarks.npy" if sample.is_video else ".landmarks.npy"
                found = self.folder / f"{file_sha256(sample.path)}{suffix}"
                # an image's file holds one face's (5, 2); a video's one (5, 2) per crop
                loaded[sample.path] = np.load(found).reshape(-1, 5, 2) if found.exists() else None
            points, k = loaded[sample.path], seen.get(sample.path, 0)
            seen[sample.path] = k + 1
            if points is not None and k < len(points):
                out[i] = points[k]
        return out

    def video_crops(self, path: str) -> np.ndarray | None:
        """The crops of a video's main person (its longest track) in ``video_frames`` frames
        sampled as a scan samples them, (n, size, size, 3) ``uint8``; None when the video
        cannot be decoded or shows no face."""
        from forensics.config import ScanConfig
        from forensics.media.worker import DecodeWorker
        from forensics.pipeline import extract_item

        sha = file_sha256(path)
        npy = self.folder / f"{sha}-v{self.video_frames}.npy"
        none = npy.with_suffix(".none")
        if npy.exists():
            return np.load(npy)
        if none.exists():
            return None
        args = self.detector_settings
        config = ScanConfig(frames=self.video_frames, detect_size=args["detect_size"],
                            min_face_prob=args["min_prob"], min_face_px=args["min_face_px"])
        if self._worker is None:
            self._worker = DecodeWorker(config.timeout_per_media)
        found = extract_item(MediaItem(path, "video"), self._detect(), self.policy, config, self._worker)
        if found.error is not None or found.crops is None or len(found.crops) == 0:
            none.write_text(f"{found.error or 'no face'}\n")
            return None
        main = found.track_ids == np.bincount(found.track_ids).argmax()
        crops = np.ascontiguousarray(found.crops[main])
        points = [transform_points(lm, crop_transform(box, lm, self.policy))
                  for box, lm in zip(found.boxes[main], found.landmarks[main])]
        _save_atomically(npy.with_name(f"{sha}-v{self.video_frames}.landmarks.npy"), np.stack(points).astype(np.float32))
        # the faces' boxes in frame pixels: their size is what a crop resized to the policy's side forgets
        _save_atomically(npy.with_name(f"{sha}-v{self.video_frames}.boxes.npy"), found.boxes[main].astype(np.float32))
        _save_atomically(npy, crops)  # last: a crop file on disk means its landmarks are too
        return crops

    def close(self) -> None:
        """Stop the decoding worker, if a video started one."""
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def load(self, samples: Sequence[Sample], progress: Callable[[int], None] | None = None
             ) -> tuple[np.ndarray, list[Sample], list[Sample]]:
        """Crops of all samples with a face: (n, size, size, 3) ``uint8``, the sample of each
        crop (a video's sample once per crop), and the samples skipped."""
        crops, kept, skipped = [], [], []
        try:
            for sample in samples:
                found = self.video_crops(sample.path) if sample.is_video else self.crop(sample.path)
                if found is None:
                    skipped.append(sample)
                elif sample.is_video:
                    crops.extend(found)
                    kept.extend([sample] * len(found))
                else:
                    crops.append(found)
                    kept.append(sample)
                if progress:
                    progress(1)
        finally:
            self.close()
        size = self.policy.size
        array = np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)
        return array, kept, skipped


CropsBySplit = dict[str, tuple[np.ndarray, list[Sample]]]
"""Each split's face crops (``uint8`` (n, S, S, 3)) and the sample of each crop."""


def load_split_crops(samples: Sequence[Sample], cache: CropCache, log: Callable[[str], None] = print,
                     splits: Sequence[str] = SPLITS) -> tuple[CropsBySplit, dict[str, int]]:
    """The face crops of the samples of ``splits`` (default train, valid and test; detected
    once, then cached), and the number of images of each split without a detectable face."""
    from rich.progress import Progress as Bar

    by_split: CropsBySplit = {}
    skipped_total: dict[str, int] = {}
    wanted = [s for s in samples if s.split in splits]
    with Bar(transient=True) as bar:
        task = bar.add_task("face crops", total=len(wanted))
        for split in splits:
            chosen = [s for s in samples if s.split == split]
            crops, kept, skipped = cache.load(chosen, lambda n: bar.advance(task, n))
            by_split[split] = (crops, kept)
            skipped_total[split] = len(skipped)
    for split, (crops, kept) in by_split.items():
        log(f"{split}: {len(kept)} crops ({skipped_total[split]} images or videos without a detectable face skipped)")
    return by_split, skipped_total


def split_counts(by_split: CropsBySplit, skipped_total: dict[str, int]) -> dict[str, dict[str, int]]:
    """Real and fake crops, and images without a face, of each split (as a model card records them)."""
    counts = {split: {"real": int(sum(1 for s in kept if s.label == 0)), "fake": int(sum(1 for s in kept if s.label == 1)),
                      "skipped_no_face": skipped_total[split]}
              for split, (_, kept) in by_split.items()}
    for split, (_, kept) in by_split.items():
        videos = {s for s in kept if s.is_video}
        if videos:  # crops above count a video's frames; these count videos
            counts[split]["videos_real"] = sum(1 for s in videos if s.label == 0)
            counts[split]["videos_fake"] = sum(1 for s in videos if s.label == 1)
    return counts
