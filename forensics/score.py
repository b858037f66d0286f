"""Score face crops: P(fake) for each crop, from a registered model and its weights
(:class:`FaceScorer`), or from a suite of detectors, one per family of manipulation
(:class:`SuiteScorer`); :func:`open_scorer` picks one from the scan's settings."""

from __future__ import annotations

import contextlib
import os
from typing import Any, Sequence

import numpy as np
import torch

from forensics.aggregate import shift_logits
from forensics.config import DEFAULT_MODEL, RUNTIMES, Scoring
from forensics.faces.align import CropPolicy
from forensics.models.registry import crops_to_tensor, get_model_spec
from forensics.models.runtime import AGREEMENT, OnnxNetwork, RuntimeUnavailable
from forensics.models.weights import (
    Card,
    SuiteCard,
    WeightsError,
    load_weights,
    shipped_suite,
    shipped_weights,
    to_device,
)

HALF_AGREEMENT = 2e-3
"""Largest difference in P(fake) on the load-time test crops for float16 to be used on a GPU."""


class BrokenModelError(RuntimeError):
    """The classifier gave scores that are not numbers (NaN or infinite): its weights are broken.

    A scan stops on it rather than report a verdict on any media: with such weights every
    score would be wrong, and NaN compared with the threshold reads as ``real``.
    """


def check_finite(scores: np.ndarray, weights_path: str, what: str) -> None:
    """Raise :class:`BrokenModelError` when any score is NaN or infinite."""
    bad = int(np.count_nonzero(~np.isfinite(scores)))
    if bad:
        raise BrokenModelError(
            f"the model gave {bad} non-finite score(s) (NaN or infinite) on {what}: the weights {weights_path} "
            "are broken (a diverged training run?); no verdict can be trusted, so the scan stopped")


class FaceScorer:
    """A model with its weights, ready to score crops made with its crop policy.

    Args:
        model: registered model name; None (the default) takes the one the card of ``weights``
            names, or :data:`forensics.config.DEFAULT_MODEL` when ``weights`` is None.
        weights: path to a ``.safetensors`` file with a card beside it; None takes the
            shipped weights for ``model``.
        device: torch device.
        batch_size: crops per forward pass (default 64).
        runtime: ``auto`` (ONNX Runtime on a CPU when installed, else PyTorch), ``torch`` or
            ``onnx`` (see :mod:`forensics.models.runtime`). ``runtime_note`` says why ``auto``
            fell back to PyTorch, if it did.

    On a CUDA GPU the network runs in float16 (autocast) when its scores of the load-time test
    crops stay within :data:`HALF_AGREEMENT` of float32's, else in float32 (``runtime_note``
    says why); ``precision`` tells which.
    """

    def __init__(self, model: str | None = None, weights: str | os.PathLike[str] | None = None,
                 device: torch.device | str = "cpu", batch_size: int = 64, runtime: str = "auto"):
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
        if model is not None:
            get_model_spec(model)  # an unknown name fails before any file is read
        if weights is None:
            model = model or DEFAULT_MODEL
        path = weights if weights is not None else shipped_weights(model)
        if path is None:
            raise WeightsError(
                f"no shipped weights for model {model!r}; train some with `forensics train` "
                "and pass them with --weights"
            )
        network, card = load_weights(path, model_name=model)  # a card for another model is refused
        self.spec = get_model_spec(card.model)
        self.device = torch.device(device)
        self.network = to_device(network, self.device)
        self.card: Card = card
        self.weights_path = str(path)
        self.crop_policy: CropPolicy = card.crop_policy
        self.temperature = card.temperature
        self.families: tuple[str, ...] = (card.family,) if card.family else ()
        self.batch_size = batch_size
        self._onnx: OnnxNetwork | None = None
        self.runtime, self.runtime_note = "torch", None
        self.precision = "float32"
        probes = self._probes()
        reference = self._forward(probes)
        check_finite(reference, self.weights_path, "test crops at load time")
        if self.device.type == "cuda":
            self._use_half(probes, reference)
        if runtime == "onnx" or (runtime == "auto" and self.device.type == "cpu"):
            try:
                self._use_onnx(probes, reference)
            except RuntimeUnavailable as exc:
                if runtime == "onnx":
                    raise
                self.runtime_note = f"PyTorch runtime: {exc}"

    def _probes(self) -> np.ndarray:
        """A grey, a noise and a gradient crop: weights that give NaN fail at load, before any media."""
        size = self.crop_policy.size
        noise = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
        ramp = np.broadcast_to(np.linspace(0, 255, size, dtype=np.float32)[None, :, None], (size, size, 3))
        return np.concatenate([np.full((1, size, size, 3), 128, np.uint8), noise, ramp[None].astype(np.uint8)])

    def _use_half(self, probes: np.ndarray, reference: np.ndarray) -> None:
        self.precision = "float16"
        gap = float(np.max(np.abs(self._forward(probes) - reference)))
        if not gap <= HALF_AGREEMENT:
            self.precision = "float32"
            self.runtime_note = f"float32 on the GPU: float16 scores differ by {gap:.2g} on the test crops"

    def _use_onnx(self, probes: np.ndarray, reference: np.ndarray) -> None:
        if self.device.type != "cpu":
            raise RuntimeUnavailable("ONNX Runtime is used on the CPU only")
        channels = 1 if self.spec.grayscale else 3
        self._onnx = OnnxNetwork(self.network, self.card, (channels, self.crop_policy.size, self.crop_policy.size))
        gap = float(np.max(np.abs(self._forward(probes) - reference)))
        if not gap <= AGREEMENT:
            self._onnx = None
            raise RuntimeUnavailable(f"ONNX Runtime's scores differ from PyTorch's by {gap:.2g} on the test crops")
        self.runtime = "onnx"

    @property
    def weights_sha256(self) -> str:
        return str(self.card.sha256)

    def score(self, crops: np.ndarray) -> np.ndarray:
        """P(fake) in [0, 1] for each ``uint8`` crop of shape (n, size, size, 3); (n,) float32.

        Raises:
            BrokenModelError: a score is NaN or infinite.
        """
        scores = self._forward(crops)
        check_finite(scores, self.weights_path, f"{len(crops)} face crop(s)")
        return scores

    def for_kind(self, kind: str, table: np.ndarray) -> np.ndarray:
        """The scores of :meth:`score_by_family` for a media of ``kind``: one model judges every kind alike."""
        return table

    def score_by_family(self, crops: np.ndarray, kinds: Sequence[str] | None = None) -> np.ndarray:
        """(n, 1 + len(families)) float32: each crop's P(fake), then its score for each family
        of :attr:`families` (the same number: a single model is the detector of its card's family).
        ``kinds`` (each crop's media kind) changes nothing: one model judges every kind."""
        scores = self.score(crops)[:, None]
        return np.repeat(scores, 1 + len(self.families), axis=1)

    def heatmaps(self, crops: np.ndarray) -> np.ndarray:
        """Where the model looked in each ``uint8`` crop (n, size, size, 3): Grad-CAM maps,
        float32 (n, size, size) in [0, 1]; see :mod:`forensics.heatmap`."""
        from forensics.heatmap import heatmaps

        return heatmaps(self.network, self.spec, crops, self.device)

    def _forward(self, crops: np.ndarray) -> np.ndarray:
        return torch.sigmoid(torch.from_numpy(self.logits(crops)) / self.temperature).numpy().astype(np.float32)

    def logits(self, crops: np.ndarray) -> np.ndarray:
        """The network's logits (n,) float32 for ``uint8`` crops (n, size, size, 3), before the
        card's temperature (``score`` is sigmoid of these divided by it); not checked for NaN."""
        if len(crops) == 0:
            return np.zeros(0, dtype=np.float32)
        logits = []
        with torch.inference_mode():
            for start in range(0, len(crops), self.batch_size):
                batch = crops_to_tensor(crops[start : start + self.batch_size], self.spec, self.device)
                if self._onnx is not None:
                    logits.append(self._onnx(batch))
                    continue
                half = self.precision == "float16"
                with torch.autocast("cuda", torch.float16) if half else contextlib.nullcontext():
                    logits.append(self.network(batch).float().cpu().numpy())
        return np.concatenate(logits).astype(np.float32)


class SuiteScorer:
    """Several detectors, one per family of manipulation, run on the same crops.

    Each member is a :class:`FaceScorer`; its scores are moved by the calibration its suite
    card records (:func:`forensics.aggregate.shift_logits`, fitted on real videos by
    ``forensics suite``), so that the families' scores share one threshold. A crop's score is
    the highest of its family scores.

    Args:
        card: the suite card (``.json``, see :class:`forensics.models.card.SuiteCard`), or one read already.
        device, batch_size, runtime: as for :class:`FaceScorer`, for every member.

    Raises:
        WeightsError: the card or a member is missing or altered, or the members crop faces
            differently (one crop must serve every member).
    """

    def __init__(self, card: SuiteCard | str | os.PathLike[str], device: torch.device | str = "cpu",
                 batch_size: int = 64, runtime: str = "auto"):
        self.card = card if isinstance(card, SuiteCard) else SuiteCard.read(card)
        path = self.card.path
        self.weights_path = str(path) if path is not None else f"suite {self.card.name} (in memory)"
        self.weights_sha256 = self.card.sha256  # what decides the scores, every member's sha256 among it
        self.members = [FaceScorer(None, self.card.weights_of(m), device, batch_size, runtime) for m in self.card.members]
        self.families = self.card.families
        self.shifts = np.array([m.logit_shift for m in self.card.members])
        # stills may be calibrated apart (on real photos), and a family may judge one kind only
        self.image_shifts = np.array([m.logit_shift if m.image_logit_shift is None else m.image_logit_shift
                                      for m in self.card.members])
        self.kinds = [m.kinds for m in self.card.members]
        policies = {m.crop_policy for m in self.members}
        if len(policies) > 1:
            raise WeightsError(f"suite {path}: its members crop faces differently ({policies}); "
                               "every member must use one crop policy")
        self.crop_policy: CropPolicy = self.members[0].crop_policy
        self.device = self.members[0].device
        self.temperature = 1.0
        notes = sorted({m.runtime_note for m in self.members if m.runtime_note})
        self.runtime_note = "; ".join(notes) if notes else None

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def runtime(self) -> str:
        """The members' runtime (``onnx`` or ``torch``), ``mixed`` when they differ."""
        runtimes = {m.runtime for m in self.members}
        return runtimes.pop() if len(runtimes) == 1 else "mixed"

    @property
    def precision(self) -> str:
        """The members' precision (``float32``, or ``float16`` on a GPU), ``mixed`` when they differ."""
        precisions = {m.precision for m in self.members}
        return precisions.pop() if len(precisions) == 1 else "mixed"

    def score_by_family(self, crops: np.ndarray, kinds: Sequence[str] | None = None) -> np.ndarray:
        """(n, 1 + len(families)) float32: each crop's score (the highest family score), then
        its calibrated score for each family, in :attr:`families` order (video calibration).

        Args:
            crops: ``uint8`` (n, size, size, 3).
            kinds: each crop's media kind (``image`` or ``video``), default unknown: a member
                scores only the crops of the kinds it judges (its card's ``kinds``), the others'
                column is NaN, so a detector for videos costs nothing on stills.

        Raises:
            BrokenModelError: a member gave a score that is not a number.
        """
        family = np.full((len(crops), len(self.members)), np.nan)
        for k, (member, shift, judges) in enumerate(zip(self.members, self.shifts, self.kinds)):
            rows = np.arange(len(crops)) if kinds is None else np.flatnonzero(np.isin(np.asarray(kinds), judges))
            if len(rows):
                family[rows, k] = shift_logits(member.score(crops[rows]), shift)
        top = np.nanmax(family, axis=1, keepdims=True) if len(crops) else np.zeros((0, 1))
        return np.concatenate([top, family], axis=1).astype(np.float32)

    def for_kind(self, kind: str, table: np.ndarray) -> np.ndarray:
        """The scores of :meth:`score_by_family` for a media of ``kind`` (``image`` or ``video``):
        each family's column moved to that kind's calibration (the card's ``calibration.image``
        for stills, where it has one), NaN for a family that does not judge that kind (the
        member's ``kinds``), and the first column the highest of the others."""
        judged = [kind in kinds for kinds in self.kinds]
        moved = [kind == "image" and image != video for image, video in zip(self.image_shifts, self.shifts)]
        if all(judged) and not any(moved):
            return table
        out = np.array(table, np.float64)
        for k in range(len(self.members)):
            if not judged[k]:
                out[:, 1 + k] = np.nan
            elif moved[k]:
                out[:, 1 + k] = shift_logits(out[:, 1 + k], self.image_shifts[k] - self.shifts[k])
        out[:, 0] = np.max(out[:, 1:][:, judged], axis=1)
        return out.astype(np.float32)

    def score(self, crops: np.ndarray) -> np.ndarray:
        """P(fake) of each crop, (n,) float32: its highest calibrated family score."""
        return self.score_by_family(crops)[:, 0]

    def heatmaps(self, crops: np.ndarray) -> np.ndarray:
        """Where the detector that scores each crop highest looked (see :meth:`FaceScorer.heatmaps`)."""
        if len(crops) == 0:
            return np.zeros((0,) + crops.shape[1:3], np.float32)
        which = self.score_by_family(crops)[:, 1:].argmax(axis=1)
        out = np.zeros((len(crops),) + crops.shape[1:3], np.float32)
        for k, member in enumerate(self.members):
            if np.any(which == k):
                out[which == k] = member.heatmaps(crops[which == k])
        return out

    def audit(self) -> dict[str, Any]:
        """What a report records about the suite: its card's sha256 and each member's."""
        return {"model": f"suite: {self.name}", "weights": self.weights_path, "weights_sha256": self.weights_sha256,
                "members": [{"family": f, "model": m.spec.name, "weights": m.weights_path,
                             "weights_sha256": m.weights_sha256, "logit_shift": float(s)}
                            for f, m, s in zip(self.families, self.members, self.shifts)]}


Scorer = FaceScorer | SuiteScorer


def open_scorer(model: str | None = None, weights: str | os.PathLike[str] | None = None,
                device: torch.device | str = "cpu", batch_size: int = 64, runtime: str = "auto") -> Scorer:
    """The scorer a scan asks for: ``weights`` that are a suite card give a :class:`SuiteScorer`;
    ``model`` or ``.safetensors`` weights a :class:`FaceScorer`; neither gives the shipped
    default suite (``weights/suite.json``), or :data:`DEFAULT_MODEL`'s weights where no suite ships."""
    suite = SuiteCard.read_if_suite(weights) if weights is not None else None
    if suite is not None:
        if model is not None:
            raise WeightsError(f"{weights} is a suite of several models: do not name one with a model")
        return SuiteScorer(suite, device, batch_size, runtime)
    if model is None and weights is None and shipped_suite() is not None:
        return SuiteScorer(shipped_suite(), device, batch_size, runtime)
    return FaceScorer(model, weights, device, batch_size, runtime)


def scorer_for(scoring: Scoring, device: torch.device | str) -> Scorer:
    """The scorer a scan's settings ask for (:func:`open_scorer` with ``config.scoring``), on ``device``."""
    return open_scorer(scoring.model, scoring.weights, device, scoring.batch_size, scoring.runtime)


def scorer_audit(scorer: Scorer) -> dict[str, Any]:
    """What the report's metadata records about a scorer: model, weights and their sha256, crop policy."""
    if isinstance(scorer, SuiteScorer):
        audit = scorer.audit()
    else:
        audit = {"model": scorer.spec.name, "weights": scorer.weights_path, "weights_sha256": scorer.weights_sha256}
    return dict(audit, crop_policy=scorer.crop_policy.to_dict())
