"""The scan of one media item as engine-independent stages.

``fetched`` (:mod:`forensics.media.fetch`: hash; download an object from a bucket) -> ``provenance_of`` (what the file declares:
C2PA, AI labels, generator traces) -> ``open_frames`` (decode) -> ``extract`` (detect, align/crop,
track) -> ``FaceScorer.score`` -> ``finish`` (aggregate, verdict, report row). Engines only
compose these: the local engine in one process with decoding on a helper thread, the Ray engine
inside Ray Data batches.
Decoding itself runs in a worker process (:class:`~forensics.media.worker.DecodeWorker`).

Every failure of one item ends as a row with status ``error`` whose message names the stage
(:class:`StageError`); it never stops a batch. Only a broken model does
(:class:`~forensics.score.BrokenModelError`): its scores would be wrong for every item.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import cv2
import numpy as np

from forensics.families import PROVENANCE_FAMILY
from forensics.aggregate import combine_families, counted_tracks, media_score, track_sizes, verdict
from forensics.config import Aggregation, FaceSearch, Sampling, ScanConfig
from forensics.faces.align import CropPolicy, crop_face
from forensics.faces.detect import Detection, FaceDetector, FaceFollower
from forensics.faces.track import link_tracks
from forensics.media.decode import DecodeError, Frame, MediaInfo
from forensics.media.discover import MediaItem
from forensics.media.fetch import FetchedMedia, fetched
from forensics.media.provenance import Provenance
from forensics.media.worker import DecodeWorker, OpenedMedia
from forensics.result import Extraction, FaceRecord, MediaResult, Preview, TrackScore

if TYPE_CHECKING:
    from forensics.score import Scorer

PREVIEW_FRAMES = 16  # frames kept, downscaled, for a video's contact sheet
PREVIEW_SIDE = {"video": 320, "image": 1024}  # longest side of a kept frame, pixels


class StageError(Exception):
    """One media item failed in one stage (detect, crop, track, score, thumbnail); the message says where."""


def stage_error(stage: str, exc: BaseException) -> StageError:
    """``exc``, raised while ``stage`` ran on one media, as that media's error."""
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return StageError(f"{stage} failed: {type(exc).__name__}{': ' + text if text else ''}")


def provenance_of(media: FetchedMedia, trust_anchors: str | None, worker: DecodeWorker) -> Provenance:
    """What a fetched media declares about its origin: its Content Credentials, AI labels and
    generator traces (:func:`forensics.media.provenance.read_provenance`), read in the decoding
    worker, once per media, before its frames.

    ``trust_anchors`` is the PEM text a C2PA signer must chain to for ``valid`` (None: none).
    A reader that fails, crashes or hangs is a warning of the provenance, never the media's error.
    """
    if media.file.problem is not None or media.file.kind not in ("image", "video"):
        return Provenance()
    try:
        return worker.provenance(media.file, trust_anchors)
    except DecodeError as exc:
        return Provenance(warnings=[f"provenance not read: {exc}"])


def open_frames(item: MediaItem, sampling: Sampling, worker: DecodeWorker) -> OpenedMedia:
    """Open a media item in the decoding worker: its info, the number of frames to be sampled,
    their chunks, and the warnings decoding gives (complete once the chunks are exhausted).

    Raises:
        DecodeError: the item cannot be opened; iterating the chunks may raise it too.
    """
    if item.problem is not None:
        raise DecodeError(item.problem)
    return worker.open(item, sampling)


def _preview(frame: Frame, kind: str) -> Preview:
    h, w = frame.image.shape[:2]
    scale = min(1.0, PREVIEW_SIDE.get(kind, 320) / max(h, w))
    image = frame.image
    if scale < 1.0:
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return Preview(frame.index, frame.timestamp_s, image.copy(), scale * frame.scale)


def extract(
    item: MediaItem,
    info: MediaInfo,
    frame_count: int,
    chunks: Iterable[list[Frame]],
    detector: FaceDetector,
    policy: CropPolicy,
    search: FaceSearch,
    faces: Sequence[list[Detection]] | None = None,
) -> Extraction:
    """Detect, crop and track the faces of a media item's sampled frames.

    ``faces``, when given, are the faces of each sampled frame in order, already searched with
    ``detector`` (the embedded engine searches several photos in one call); None searches here.

    Frames are dropped as soon as their faces are cropped; only the crops and up to
    ``PREVIEW_FRAMES`` downscaled previews are kept. Boxes and landmarks are reported in the
    original frame's pixels, also when a large frame was decoded at reduced size.

    Raises:
        DecodeError: from ``chunks``.
        StageError: detection, cropping or tracking failed on this item, or anything else
            went wrong while extracting it (an unexpected error is this media's, not the scan's).
    """
    try:
        return _extract(item, info, frame_count, chunks, detector, policy, search, faces)
    except (DecodeError, StageError):
        raise
    except Exception as exc:
        raise stage_error("face extraction", exc) from exc


def _extract(item: MediaItem, info: MediaInfo, frame_count: int, chunks: Iterable[list[Frame]],
             detector: FaceDetector, policy: CropPolicy, search: FaceSearch,
             faces: Sequence[list[Detection]] | None) -> Extraction:
    out = Extraction(item=item, info=info)
    keep = set(np.linspace(0, frame_count - 1, min(PREVIEW_FRAMES, frame_count)).round().astype(int).tolist())
    boxes_per_frame: list[np.ndarray] = []
    face_frames, face_times, boxes, probs, points, crops = [], [], [], [], [], []
    position = 0
    small, small_size = 0, (0, 0)  # frames too small to hold a face, and their size
    follower = FaceFollower(detector, search.keyframe_every)
    for chunk in chunks:
        if faces is not None:
            detections = faces[position : position + len(chunk)]
        else:
            try:
                detections = follower.detect([frame.image for frame in chunk])
            except Exception as exc:
                raise stage_error("face detection", exc) from exc
        for frame, found in zip(chunk, detections):
            if detector.too_small(*frame.image.shape[:2]):
                small, small_size = small + 1, frame.image.shape[:2]
            out.frame_indices.append(frame.index)
            out.frame_times.append(frame.timestamp_s)
            if position in keep:
                out.previews.append(_preview(frame, item.kind))
            position += 1
            # detections are in decoded pixels; the report speaks in original pixels
            frame_boxes = [d.box / frame.scale for d in found]
            boxes_per_frame.append(np.array(frame_boxes, np.float32).reshape(-1, 4))
            for d, box in zip(found, frame_boxes):
                face_frames.append(frame.index)
                face_times.append(frame.timestamp_s)
                boxes.append(box)
                probs.append(d.prob)
                points.append(d.landmarks / frame.scale)
                try:
                    crops.append(crop_face(frame.image, d.box, d.landmarks, policy))
                except Exception as exc:
                    raise stage_error("face cropping", exc) from exc
    if position and small == position:
        out.warnings.append(f"the {'picture' if item.kind == 'image' else 'video'} is {small_size[1]}x{small_size[0]} "
                            f"px: too small to hold a face of {detector.min_face_px} px")
    if boxes:
        out.face_frames = np.asarray(face_frames, np.int64)
        out.face_times = np.asarray(face_times, np.float64)
        out.boxes = np.stack(boxes).astype(np.float32)
        out.probs = np.asarray(probs, np.float32)
        out.landmarks = np.stack(points).astype(np.float32)
        out.crops = np.stack(crops)
        try:
            out.track_ids = np.concatenate(link_tracks(boxes_per_frame, search.track_iou))
        except Exception as exc:
            raise stage_error("face tracking", exc) from exc
    else:
        out.crops = np.zeros((0, policy.size, policy.size, 3), np.uint8)
    return out


@dataclass
class OpenedItem:
    """A media item fetched (hashed, or downloaded from a bucket), its provenance read and its
    frames opened in the decoding worker, their chunks not yet read (:func:`opened_item`).

    ``warnings`` is the decoder's own list: it grows while the chunks are read. ``error`` says
    why the item could not be opened (then there are no chunks).
    """

    item: MediaItem
    sha256: str | None
    size_bytes: int | None
    provenance: Provenance
    started: float  # perf_counter() when fetching began
    info: MediaInfo | None = None
    frame_count: int = 0
    chunks: Iterable[list[Frame]] = ()
    warnings: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None


@contextlib.contextmanager
def opened_item(item: MediaItem, sampling: Sampling, worker: DecodeWorker,
                trust_anchors: str | None = None) -> Iterator[OpenedItem]:
    """The first half of a media's extraction: fetch it (:func:`fetched`; a bucket object's
    temporary file lives until the context ends), read its provenance (:func:`provenance_of`)
    and open its frames (:func:`open_frames`). Failures end in ``OpenedItem.error``."""
    started = time.perf_counter()
    with fetched(item) as media:
        opened = OpenedItem(media.item, media.sha256, media.size_bytes,
                            provenance_of(media, trust_anchors, worker), started)
        try:
            frames = open_frames(media.file, sampling, worker)
            opened.info, opened.frame_count, opened.chunks = frames.info, frames.frame_count, frames.chunks
            opened.warnings = frames.warnings
        except DecodeError as exc:
            opened.error = str(exc)
        yield opened


def extract_opened(opened: OpenedItem, detector: FaceDetector, policy: CropPolicy, search: FaceSearch,
                   chunks: Iterable[list[Frame]] | None = None,
                   faces: Sequence[list[Detection]] | None = None) -> Extraction:
    """The second half: detect, crop and track the faces of an opened item (:func:`extract`);
    failures end in ``Extraction.error``, which keeps the media's info, hash and provenance.

    ``chunks`` replaces the item's own (an engine that reads them ahead, on another thread); it
    is closed when extraction stops, so that its producer may skip what was not read. ``faces``
    are the sampled frames' faces when the engine searched them already (several photos in one
    call); None searches here. Sets ``elapsed_s``: seconds since the item was fetched.
    """
    if opened.error is not None:
        out = Extraction(item=opened.item, error=opened.error)
    else:
        try:
            out = extract(opened.item, opened.info, opened.frame_count,
                          opened.chunks if chunks is None else chunks, detector, policy, search, faces)
        except (DecodeError, StageError) as exc:  # a file that opens but fails to decode keeps its info
            out = Extraction(item=opened.item, info=opened.info, error=str(exc))
        finally:
            if chunks is not None and hasattr(chunks, "close"):
                chunks.close()
    out.warnings = list(opened.warnings) + out.warnings
    out.sha256, out.size_bytes = opened.sha256, opened.size_bytes
    out.provenance = opened.provenance
    out.elapsed_s = time.perf_counter() - opened.started
    return out


def extract_item(item: MediaItem, detector: FaceDetector, policy: CropPolicy, config: ScanConfig,
                 worker: DecodeWorker, trust_anchors: str | None = None) -> Extraction:
    """Fetch (hash or download), read its provenance and decode it (in ``worker``), detect, crop
    and track one item (:func:`opened_item`, then :func:`extract_opened`); failures end in
    ``Extraction.error``. ``trust_anchors``: PEM text of the certificates a C2PA signer must
    chain to (:func:`provenance_of`)."""
    with opened_item(item, config.sampling, worker, trust_anchors) as opened:
        return extract_opened(opened, detector, policy, config.face_search)


def score_extractions(scorer: "Scorer", media: list[Extraction]) -> dict[int, np.ndarray | None]:
    """Score the crops of several media in one pass; returns each one's scores by ``id``: (n, 1 + F)
    arrays, each face's P(fake) then its score for each of the scorer's F families
    (:meth:`~forensics.score.FaceScorer.score_by_family`).

    If the joint pass fails, each media is scored alone so that only the one that fails gets
    an error (``Extraction.error``, scores None). A broken model (non-finite scores) is raised.
    """
    from forensics.score import BrokenModelError

    media = [x for x in media if x.error is None and x.crops is not None]
    if not media:
        return {}
    try:
        kinds = [x.item.kind for x in media for _ in range(len(x.crops))]
        scores = scorer.score_by_family(np.concatenate([x.crops for x in media]), kinds)
        bounds = np.cumsum([0] + [len(x.crops) for x in media])
        return {id(x): scores[a:b] for x, a, b in zip(media, bounds[:-1], bounds[1:])}
    except BrokenModelError:  # every score of these weights is suspect: stop
        raise
    except Exception:  # find the media that fails, score the others
        out: dict[int, np.ndarray | None] = {}
        for x in media:
            try:
                out[id(x)] = scorer.score_by_family(x.crops, [x.item.kind] * len(x.crops))
            except BrokenModelError:
                raise
            except Exception as exc:
                x.error = str(stage_error("scoring", exc))
                out[id(x)] = None
        return out


def finish(extraction: Extraction, scores: np.ndarray | None, aggregation: Aggregation,
           elapsed_s: float = 0.0, families: Sequence[str] = ()) -> MediaResult:
    """Aggregate face scores into the media's score and verdict, and build its report rows.

    Without families, the media's score is its face scores' aggregate. With families (a
    suite, or a model whose card names its family), each family's face scores are aggregated
    into that family's media score, and the media's score is the highest of them; a ``fake``
    verdict names the family that fired (:func:`forensics.aggregate.combine_families`).

    A media that declares itself generated or edited with generative AI (``provenance.ai``) is
    ``fake`` with family :data:`~forensics.families.PROVENANCE_FAMILY`, whatever its face scores
    and its status (``no_face`` and ``error`` stay so): the one place the verdict is decided.
    Its face scores are kept as they are. The provenance's warnings join the media's.

    Pictures (thumbnail, evidence crops, heatmaps) are the engines' to draw, after this
    (:func:`forensics.engines.base.score_and_finish`).

    Args:
        extraction: the item's faces and frames.
        scores: P(fake) of each crop (same order as the extraction's faces), (n,), or (n, 1 + F)
            with each family's score after the face's (as :func:`score_extractions` gives them).
        aggregation: how face scores become the media's score and verdict.
        elapsed_s: seconds spent on the item so far (added to the extraction's own time).
        families: the names of the F family columns of ``scores`` (default none). A column
            of NaN is a family that does not judge this kind of media: it is left out of the
            verdict and of the rows (see :meth:`forensics.score.SuiteScorer.for_kind`).
    """
    result = _finish_scores(extraction, scores, aggregation, elapsed_s, families)
    result.provenance = extraction.provenance
    result.warnings += extraction.provenance.warnings
    if extraction.provenance.ai:
        result.verdict, result.family = "fake", PROVENANCE_FAMILY
    return result


def _finish_scores(x: Extraction, scores: np.ndarray | None, aggregation: Aggregation, elapsed_s: float,
                   families: Sequence[str]) -> MediaResult:
    """:func:`finish` from the face scores alone."""
    result = MediaResult(path=x.item.path, kind=x.item.kind, status="error", sha256=x.sha256, size_bytes=x.size_bytes)
    if x.info is not None:
        result.width, result.height = x.info.width, x.info.height
        result.fps, result.duration_s = x.info.fps, x.info.duration_s
    result.frames_sampled = len(x.frame_indices)
    result.warnings = list(x.warnings)
    result.elapsed_s = x.elapsed_s + elapsed_s
    if x.error is not None:
        result.error = x.error
        return result
    table = np.zeros((0, 1 + len(families))) if scores is None else np.asarray(scores, np.float64)
    if table.ndim == 1:
        table = table[:, None]
    if table.shape[1] != 1 + len(families):
        result.error = f"scoring failed: {table.shape[1]} score column(s) for {len(families)} famil(ies)"
        return result
    result.faces_detected = len(table)
    if len(table) == 0:
        result.status = "no_face"
        return result
    min_faces = aggregation.min_track_faces if x.item.kind == "video" else 1
    # a family whose column is NaN does not judge this kind of media (a suite card's "kinds")
    judged = [k for k in range(len(families)) if np.isfinite(table[:, 1 + k]).all()]
    try:
        if families:
            by_family = {families[k]: media_score(table[:, 1 + k], x.track_ids, aggregation.aggregate, aggregation.topk,
                                                  min_faces) for k in judged}
            result.family_scores = {f: s for f, (s, _) in by_family.items()}
            score, result.family = combine_families(result.family_scores, aggregation.threshold)
            per_family = {f: ts for f, (_, ts) in by_family.items()}
        else:
            score, tracks = media_score(table[:, 0], x.track_ids, aggregation.aggregate, aggregation.topk, min_faces)
            per_family = {}
    except Exception as exc:
        result.error = str(stage_error("aggregation", exc))
        return result
    result.status, result.score, result.verdict = "ok", score, verdict(score, aggregation.threshold)
    sizes = track_sizes(x.track_ids)
    counted = set(counted_tracks(sizes, min_faces))
    result.track_scores = [
        TrackScore(t, n, t in counted, max(ts[t] for ts in per_family.values()) if per_family else tracks[t],
                   {f: ts[t] for f, ts in per_family.items()})
        for t, n in sizes.items()
    ]
    result.tracks = len(result.track_scores)
    result.faces = [
        FaceRecord(int(x.face_frames[i]), float(x.face_times[i]), int(x.track_ids[i]), x.boxes[i],
                   float(x.probs[i]), x.landmarks[i], float(table[i, 0]),
                   {families[k]: float(table[i, 1 + k]) for k in judged})
        for i in range(len(table))
    ]
    return result
