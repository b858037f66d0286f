"""Build a suite of detectors, one per family of manipulation, and calibrate it on real videos.

A suite card (``weights/suite.json``; format in :class:`forensics.models.card.SuiteCard`)
names each member's weights and family. Members come from their own recipes; this module only
puts them together and *calibrates* them: each family's scores are moved in logit space
(:func:`forensics.aggregate.shift_logits`) so that, at the scan's threshold, at most ``rate``
of the given real videos are flagged by that family. The videos are scanned by the scan
pipeline itself (frame sampling, tracking and the default aggregation), so the calibration is
of what ``forensics scan`` reports. Calibrate on real videos that no member trained on and no
benchmark scores; the false-alarm rate it promises holds for videos like them, and is measured,
not promised, on others (docs/evaluation.md).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

from forensics.aggregate import media_score, shift_logits
from forensics.config import Aggregation
from forensics.models.weights import Card, SuiteCard


def _auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    return float(roc_auc_score(labels, scores)) if len(set(labels.tolist())) == 2 else None


def family_metrics(rows: Sequence[dict[str, Any]], threshold: float = 0.5) -> list[dict[str, Any]]:
    """Each family's detector and the suite, per source and pooled (``all``), from the rows of
    ``forensics evaluate`` (videos or images): real and fake counts, ROC AUC, fakes caught and
    reals flagged at ``threshold``. A source of fakes only is ranked against every real of the
    rows (``auc_against``: ``"all reals"``), as FaceForensics++'s methods are. Rows without a
    score are left out. Without family scores, the one detector is called ``model``."""
    scored = [r for r in rows if r.get("status", "ok") == "ok" and r.get("score") is not None]
    families = sorted({f for r in scored for f in (r.get("family_scores") or {})})
    detectors = [*families, "suite"] if families else ["model"]
    sources = sorted({r["source"] for r in scored})
    out = []
    for detector in detectors:
        for source in [*sources, "all"]:
            mine = [r for r in scored if source == "all" or r["source"] == source]
            if not mine:
                continue
            labels = np.array([int(r["label"]) for r in mine])
            def key(r: dict[str, Any], detector: str = detector) -> float:
                return r["score"] if detector in ("suite", "model") else r["family_scores"][detector]

            scores = np.array([key(r) for r in mine], np.float64)
            fake, real = labels == 1, labels == 0
            auc, against = _auc(labels, scores), None
            if auc is None and fake.any():  # a source of fakes only (FF++'s methods): against every real
                reals = [r for r in scored if int(r["label"]) == 0]
                both = np.concatenate([scores[fake], [key(r) for r in reals]])
                auc = _auc(np.r_[np.ones(int(fake.sum())), np.zeros(len(reals))], both)
                against = "all reals"
            out.append({"detector": detector, "source": source, "real": int(real.sum()), "fake": int(fake.sum()),
                        "auc": auc, "auc_against": against,
                        "caught": int((scores[fake] >= threshold).sum()), "flagged": int((scores[real] >= threshold).sum())})
    return out


def break_even_shift(face_scores: np.ndarray, track_ids: np.ndarray, aggregation: Aggregation,
                     lo: float = -20.0, hi: float = 20.0, tolerance: float = 1e-4) -> float:
    """The logit shift at which a video's media score falls to the threshold: the video is
    flagged under any smaller shift. Found by bisection (the media score falls as the shift grows)."""
    def flagged(shift: float) -> bool:
        score, _ = media_score(shift_logits(face_scores, shift), track_ids, aggregation.aggregate,
                               aggregation.topk, aggregation.min_track_faces)
        return score is not None and score >= aggregation.threshold

    if not flagged(lo):
        return lo
    if flagged(hi):
        return hi
    while hi - lo > tolerance:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if flagged(mid) else (lo, mid)
    return hi


def fit_shift(videos: Sequence[tuple[np.ndarray, np.ndarray]], rate: float, aggregation: Aggregation) -> dict[str, Any]:
    """The smallest logit shift that flags at most ``rate`` of the real ``videos`` (each its
    face scores and track ids), and what it does on them.

    With ``n`` videos, ``floor(rate * n)`` of them may stay flagged: the shift sits just above
    the next video's break-even point.
    """
    if not videos:
        raise ValueError("no real video with a face to calibrate on")
    points = np.sort([break_even_shift(s, t, aggregation) for s, t in videos])[::-1]
    allowed = int(np.floor(rate * len(points) + 1e-9))
    shift = float(points[allowed]) + 1e-3 if allowed < len(points) else float(points[-1])
    flagged = int(np.count_nonzero(points > shift))
    return {"logit_shift": round(shift, 4), "real_videos": len(points), "flagged": flagged,
            "flag_rate": flagged / len(points), "flag_rate_upper_95": round(flag_rate_bound(flagged, len(points)), 4),
            "flagged_before": int(np.count_nonzero(points > 0))}


def flag_rate_bound(flagged: int, n: int, confidence: float = 0.95) -> float:
    """The one-sided Clopper-Pearson upper bound on the false-alarm rate of media like the ``n``
    calibration media of which ``flagged`` were flagged (0 of n: about 3/n at 95%)."""
    from scipy.stats import beta

    return 1.0 if flagged >= n else float(beta.ppf(confidence, flagged + 1, n - flagged))


def choose_image_families(rows: Sequence[dict[str, Any]], families: Sequence[str]) -> tuple[list[str], dict[str, float]]:
    """The families whose highest calibrated score ranks the validation images best (ROC AUC;
    ties go to more families), and every subset's AUC. ``rows`` are :func:`evaluate_images`'
    scored rows, real and fake."""
    from itertools import combinations

    labels = np.array([int(r["label"]) for r in rows])
    table = np.array([[r["family_scores"][f] for f in families] for r in rows], np.float64)
    aucs = {}
    for size in range(len(families), 0, -1):
        for subset in combinations(range(len(families)), size):
            aucs["+".join(families[k] for k in subset)] = _auc(labels, table[:, list(subset)].max(axis=1)) or 0.0
    best = max(aucs, key=lambda k: (round(aucs[k], 6), k.count("+")))
    return best.split("+"), {k: round(v, 4) for k, v in aucs.items()}


def write_suite_card(out: str | os.PathLike[str], members: Mapping[str, str | os.PathLike[str]], name: str,
                     extra: dict[str, Any] | None = None,
                     calibration: Mapping[str, dict[str, Any]] | None = None,
                     kinds: Mapping[str, Sequence[str]] | None = None) -> SuiteCard:
    """Write a suite card at ``out`` naming ``members`` (family -> weights file; see
    :meth:`SuiteCard.of_members`), with ``extra`` fields at its top level; returns it."""
    card = SuiteCard.of_members(out, members, name, calibration, kinds, extra)
    card.write(out)
    return card


def build_suite(out: str | os.PathLike[str], members: Mapping[str, str | os.PathLike[str]],
                reals: str | os.PathLike[str], rate: float = 0.05, name: str = "suite", frames: int = 32,
                device: str = "auto", threads: int | None = None, batch_size: int = 64,
                log: Callable[[str], None] = print,
                reals_for: Mapping[str, str | os.PathLike[str]] | None = None,
                images: str | os.PathLike[str] | None = None, image_rate: float = 0.05) -> SuiteCard:
    """Write a calibrated suite card at ``out``.

    Args:
        out: the suite card to write (``.json``).
        members: family -> weights (``.safetensors`` with a card); one crop policy for all.
        reals: real videos to calibrate every family on: a manifest or folder as ``forensics
            evaluate`` reads (its ``fake`` rows, if any, are ignored). A family is never
            calibrated on a video its member's split file (``<weights>.splits.csv``) lists in
            its training or validation split: the card counts them as ``left_out_trained_on``.
        rate: the share of its calibration videos each family may flag at the threshold
            (default 0.05). With ``n`` videos and none flagged, the flag rate on videos like
            them is below about ``3 / n`` at 95% confidence (the rule of three); one of 22
            flagged bounds it only below 20%.
        name: the suite's name, shown in reports.
        frames, device, threads, batch_size: as for the scan (default 32 frames per video).
        reals_for: family -> more real videos to calibrate that family on, beside ``reals``:
            videos the other members trained on but this one never saw (default none).
        images: labelled still images (a manifest or folder; validation images no member
            trained on) to calibrate the suite on stills apart: each family is moved so that at
            most ``image_rate`` of the real ones reach the threshold (``calibration.image``),
            then the families whose highest score ranks these images best are the ones that
            judge stills (the others get ``"kinds": ["video"]``). Default None: stills are
            scored as videos are, by every family.

    Returns:
        The card written.
    """
    from forensics.train.data import load_samples, path_key
    from forensics.train.evaluate import evaluate_videos

    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate is a share in [0, 1), not {rate}")
    if not members:
        raise ValueError("a suite needs at least one member")
    reals_for = dict(reals_for or {})
    if set(reals_for) - set(members):
        raise ValueError(f"more calibration videos for {', '.join(sorted(set(reals_for) - set(members)))}: "
                         "not a member of this suite")

    def real_videos(data: str | os.PathLike[str]) -> list[Any]:
        found = [s for s in load_samples(data, None, kinds=("video",)) if s.label == 0]
        if not found:
            raise ValueError(f"{data}: no real videos to calibrate on")
        return found

    shared = real_videos(reals)
    own = {family: real_videos(data) for family, data in reals_for.items()}
    videos = list({path_key(s.path): s for s in [*shared, *(s for more in own.values() for s in more)]}.values())
    write_suite_card(out, members, name)  # uncalibrated: the members' own scores
    log(f"calibrating {', '.join(members)} on {len(videos)} real videos (at most {rate:.0%} flagged each)")
    scanned = evaluate_videos(videos, out, 0.5, frames, device, threads, batch_size)  # write_suite_card's threshold
    # keyed by the normalised path: two manifests may name one file differently (a/../b), and the
    # scan reads it once
    rows = {path_key(r["path"]): r for r in scanned["rows"] if r["status"] == "ok"}
    aggregation = Aggregation(**{k: v for k, v in scanned["scan_config"].items() if k in Aggregation.__dataclass_fields__})
    calibration = {family: _fit_family(family, members[family], [*shared, *own.get(family, [])], reals, rows,
                                       aggregation, rate, reals_for.get(family), log) for family in members}
    kinds: dict[str, list[str]] = {}
    if images is not None:
        image_calibration = calibrate_images(out, members, images, image_rate, calibration, log)
        for family, found in image_calibration.pop("families").items():
            calibration[family]["image"] = found
        kinds = {f: ["image", "video"] if f in image_calibration["judge_stills"] else ["video"] for f in members}
    common = [rows[path_key(s.path)] for s in shared if path_key(s.path) in rows]
    extra = {"calibration": {"data": str(reals), "rate": rate, "real_videos": len(common),
                             "sources": _count_sources(common),
                             "not_scored": len(scanned["rows"]) - len(rows), "frames": frames,
                             "aggregation": {k: getattr(aggregation, k) for k in Aggregation.__dataclass_fields__}}}
    if images is not None:
        extra["calibration"]["images"] = image_calibration
    return write_suite_card(out, members, name, extra, calibration, kinds)


def _fit_family(family: str, weights: str | os.PathLike[str], candidates: Sequence[Any],
                reals: str | os.PathLike[str], rows: Mapping[str, dict[str, Any]], aggregation: Aggregation,
                rate: float, more_data: str | os.PathLike[str] | None, log: Callable[[str], None]) -> dict[str, Any]:
    """One family's calibration (:func:`fit_shift`) on the scanned ``rows`` of the ``candidates``
    it never trained on or chose its epoch by (its member's split file says which)."""
    from forensics.train.data import path_key
    from forensics.train.evaluate import select_split

    candidates = list({path_key(s.path): s for s in candidates}.values())
    unseen, _ = select_split(candidates, reals, weights, "test", Card.read(weights))
    mine = [rows[p] for p in dict.fromkeys(path_key(s.path) for s in unseen) if p in rows]
    per_video = [(np.asarray(r["family_face_scores"][family]), np.asarray(r["face_tracks"])) for r in mine]
    found = fit_shift(per_video, rate, aggregation)
    found["sources"] = _count_sources(mine)
    if len(unseen) < len(candidates):
        found["left_out_trained_on"] = len(candidates) - len(unseen)
    if more_data is not None:
        found["more_data"] = str(more_data)
    log(f"{family}: logit shift {found['logit_shift']:+.3f}; real videos flagged "
        f"{found['flagged_before']} -> {found['flagged']} of {len(per_video)}")
    return found


def calibrate_images(out: str | os.PathLike[str], members: Mapping[str, str | os.PathLike[str]],
                     images: str | os.PathLike[str], rate: float, video_calibration: Mapping[str, dict[str, Any]],
                     log: Callable[[str], None] = print) -> dict[str, Any]:
    """Each family's shift on the real ``images`` (at most ``rate`` of them flagged), and the
    families that judge stills (:func:`choose_image_families` on the images, real and fake)."""
    from forensics.score import SuiteScorer
    from forensics.train.data import CropCache, load_samples
    from forensics.train.evaluate import evaluate_images

    samples = load_samples(images, None, kinds=("image",))
    write_suite_card(out, members, "uncalibrated")  # the members' own scores, for images alike
    scorer = SuiteScorer(out)
    scanned = [r for r in evaluate_images(samples, scorer, CropCache(Card.read(next(iter(members.values()))).crop_policy,
                                                                      video_frames=8), 0.5)["rows"] if r["status"] == "ok"]
    reals = [r for r in scanned if int(r["label"]) == 0]
    if not reals:
        raise ValueError(f"{images}: no real image with a face to calibrate on")
    still = Aggregation(aggregate="mean", min_track_faces=1)
    families, calibrated = {}, []
    for family in members:
        faces = [(np.array([r["family_scores"][family]]), np.zeros(1, np.int64)) for r in reals]
        found = fit_shift(faces, rate, still)
        families[family] = {"logit_shift": found["logit_shift"], "real_images": found["real_videos"],
                            "flagged": found["flagged"], "flag_rate_upper_95": found["flag_rate_upper_95"],
                            "flagged_before": found["flagged_before"]}
        log(f"{family} on stills: logit shift {found['logit_shift']:+.3f} (videos {video_calibration[family]['logit_shift']:+.3f}); "
            f"real images flagged {found['flagged_before']} -> {found['flagged']} of {len(reals)}")
    for r in scanned:
        calibrated.append(dict(r, family_scores={f: float(shift_logits(np.array([r["family_scores"][f]]),
                                                                       families[f]["logit_shift"])[0]) for f in members}))
    judge, aucs = choose_image_families(calibrated, list(members)) if len({int(r["label"]) for r in scanned}) == 2 \
        else (list(members), {})
    log(f"stills judged by {', '.join(judge)} (validation AUC of each choice: {aucs})")
    return {"data": str(images), "rate": rate, "real_images": len(reals), "images": len(scanned),
            "sources": _count_sources(scanned), "judge_stills": judge, "auc_of_each_choice": aucs, "families": families}


def _count_sources(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    return dict(Counter(r["source"] for r in rows))
