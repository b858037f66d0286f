"""Preparing weights to ship (``forensics weights ...``): store them in float16, take one
member out of an ensemble, and add held-out evaluations and data licences to a model card.

Each function writes weights with their card (and split file) beside them, and never copies a
path of the machine it ran on into a card.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from forensics.media.storage import file_sha256
from forensics.models.ensemble import FlipMean
from forensics.models.weights import (
    Card,
    SuiteCard,
    WeightsError,
    is_suite_card,
    load_weights,
    save_weights,
)

EVALUATION_KEYS = ("n", "n_real", "n_fake", "roc_auc", "accuracy", "balanced_accuracy", "ece", "confusion_matrix")
"""The metrics a card keeps of each evaluation (per kind and per source)."""


def halve_weights(src: Path, dst: Path) -> Card:
    """Write ``src``'s floating-point tensors as float16 to ``dst`` (half the bytes in git), with
    its card (``"storage": "float16"``, the source's sha256 as ``float32_sha256``) and the
    source's ``.splits.csv`` and ``.history.*`` beside it. The network still computes in
    float32. Check with ``forensics evaluate`` on both files that no figure moves. Returns the card."""
    model, card = load_weights(src)
    if isinstance(model, FlipMean):  # the card, not the file, asks for the mirror
        model = model.network
    card = save_weights(model, dst, card.updated(float32_sha256=file_sha256(src)), half=True)
    for suffix in (".splits.csv", ".history.csv", ".history.png"):
        extra = src.with_name(src.stem + suffix)
        if extra.exists():
            shutil.copyfile(extra, dst.with_name(dst.stem + suffix))
    return card


def ensemble_member(ensemble: Path, index: int, out: Path) -> Card:
    """Write member ``index`` (from 0) of an ensemble as weights of its own at ``out``: its
    card is the ensemble's without the ensemble fields (``tta`` none, the member's sha256, a
    ``member_of`` record), its split file the ensemble's. Returns the card.

    Raises:
        WeightsError: the ensemble has no such member.
    """
    from safetensors.torch import load_file, save_file

    card = Card.read(ensemble).to_dict()
    members = (card.get("ensemble") or {}).get("members") or []
    if not 0 <= index < len(members):
        raise WeightsError(f"{ensemble} has {len(members)} member(s); no member {index}")
    prefix = f"members.{index}."
    tensors = {k[len(prefix):]: v.contiguous() for k, v in load_file(str(ensemble)).items() if k.startswith(prefix)}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out))
    for key in ("ensemble", "why_default", "evaluation"):
        card.pop(key, None)
    card.update(name=f"{card.get('name', card['model'])}, member {index} (seed {members[index].get('seed')})",
                tta="none", file=out.name, sha256=file_sha256(out),
                member_of={"file": ensemble.name, "sha256": card["sha256"], "index": index})
    written = Card.from_dict(card, f"the card of member {index}")
    written.write(out)
    shutil.copy(ensemble.with_suffix(".splits.csv"), out.with_suffix(".splits.csv"))
    return written


def _summary_header(report: dict, note: str | None) -> dict:
    """What every card summary of a report starts with: the data's name (never a path of this
    machine), the threshold, when it was measured, and the note when given."""
    summary: dict = {"data": Path(report["data"]).name if report["data"] else None,
                     "threshold": report["threshold"], "created": report["created"]}
    if note:
        summary["note"] = note
    return summary


def summarise_evaluation(report: dict, note: str | None = None) -> dict:
    """The card's view of one ``forensics evaluate --json`` report: per kind (images, videos)
    and per source, the counts and :data:`EVALUATION_KEYS`."""
    summary = _summary_header(report, note)
    for kind in ("images", "videos"):
        part = report.get(kind) or {}
        metrics = part.get("metrics")
        if not metrics or not metrics.get("all"):
            continue
        rows = pd.DataFrame(part["rows"])
        summary[kind] = {
            "scored": int((rows.status == "ok").sum()), "not_scored": int((rows.status != "ok").sum()),
            "all": {k: metrics["all"].get(k) for k in EVALUATION_KEYS},
            "per_source": {src: {k: m.get(k) for k in EVALUATION_KEYS} for src, m in metrics["per_source"].items()},
        }
    return summary


FFPP_TERMS = "FaceForensics++ terms: research use only, no redistribution"
"""The licence of the FaceForensics++ clips (the dataset's own terms; its manifest has no licence column)."""
FFPP_SOURCES = ("ffpp", "ffpp-original", "original", "Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")


def source_licences(sources: set[str], manifests: Sequence[Path]) -> dict[str, list[str]]:
    """Licence notes of ``sources`` from the ``licence`` column of ``manifests`` (absent ones are
    skipped). A source named ``videos-X`` (a training manifest's name for shared source X) is
    looked up as X; FaceForensics++'s sources and methods carry its terms."""
    found: dict[str, set[str]] = {}
    for manifest in manifests:
        if manifest.exists():
            table = pd.read_csv(manifest)
            if "licence" not in table.columns:
                continue
            for source in sources:  # a source is a manifest source or a folder of it (clips/)
                name = source.removeprefix("videos-")
                by_source = table.source == name if "source" in table.columns else False
                rows = table[by_source | table.path.str.startswith(f"{name}/")]
                found.setdefault(source, set()).update(str(n) for n in rows.licence.dropna())
    for source in sources:
        if source in FFPP_SOURCES:
            found.setdefault(source, set()).add(FFPP_TERMS)
    return {s: sorted(found.get(s) or {"unknown: not in the manifests given"}) for s in sorted(sources)}


def add_card_evaluations(weights: Path, reports: dict[str, Path], notes: dict[str, str] | None = None,
                         why_default: str | None = None, manifests: Sequence[Path] = (),
                         purpose: str | None = None, misses: str | None = None) -> Card | SuiteCard:
    """Add each ``forensics evaluate --json`` report (by name) to the card of ``weights`` as
    ``evaluation.NAME`` (summarised, never copied), list the licences of every source trained or
    evaluated on (``data_licences``, from ``manifests``), and record ``why_default``, what the
    detector is for (``what_it_is_for``) and what it misses (``what_it_misses``) when given.
    Returns the card.

    Raises:
        WeightsError: a report scored other weights (another sha256).
    """
    if is_suite_card(weights):
        return add_suite_evaluations(weights, reports, notes, why_default, manifests)
    card = Card.read(weights)
    fields: dict[str, Any] = {}
    if purpose:
        fields["what_it_is_for"] = purpose
    if misses:
        fields["what_it_misses"] = misses
    evaluation = dict(card.get("evaluation", {}))
    sources = set(card.get("training", {}).get("sources") or [])
    for name, path in reports.items():
        report = json.loads(Path(path).read_text())
        if report["sha256"] != card.sha256:
            raise WeightsError(f"{path} scored other weights (sha256 {report['sha256'][:12]}…, "
                               f"card {str(card.sha256)[:12]}…)")
        evaluation[name] = summarise_evaluation(report, (notes or {}).get(name))
        for kind in ("images", "videos"):
            sources.update((evaluation[name].get(kind) or {}).get("per_source", {}))
    fields["evaluation"] = evaluation
    if why_default:
        fields["why_default"] = why_default
    fields["data_licences"] = source_licences(sources, manifests)
    card = card.updated(**fields)
    card.write(weights)
    return card


def add_suite_evaluations(suite: Path, reports: dict[str, Path], notes: dict[str, str] | None = None,
                          why_default: str | None = None, manifests: Sequence[Path] = ()) -> SuiteCard:
    """:func:`add_card_evaluations` for a suite card: each report is summarised per family's
    detector and for the suite, per source (:func:`forensics.train.suite.family_metrics`).

    Raises:
        WeightsError: a report scored another suite (another :attr:`SuiteCard.sha256`).
    """
    from forensics.train.suite import family_metrics

    card = SuiteCard.read(suite)
    identity = card.sha256
    evaluation = dict(card.record.get("evaluation", {}))
    sources = {x["source"] for summary in evaluation.values() for kind in ("images", "videos")
               for x in summary.get(kind, []) if x["source"] != "all"}
    for name, path in reports.items():
        report = json.loads(Path(path).read_text())
        if report["sha256"] != identity:
            raise WeightsError(f"{path} scored another suite or weights (sha256 {report['sha256'][:12]}…, "
                               f"suite {identity[:12]}…)")
        summary = _summary_header(report, (notes or {}).get(name))
        for kind in ("images", "videos"):
            part = report.get(kind)
            if part and part.get("rows"):
                lines = family_metrics(part["rows"], report["threshold"])
                summary[kind] = lines
                sources.update(x["source"] for x in lines if x["source"] != "all")
        evaluation[name] = summary
    fields = {"evaluation": evaluation, **({"why_default": why_default} if why_default else {}),
              "data_licences": source_licences(sources, manifests)}
    card = card.updated(**fields)
    card.write(suite)
    return card
