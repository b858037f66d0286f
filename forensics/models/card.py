"""Model cards, typed: what scoring reads from a card is a field, checked when the card loads.

A weights file (``.safetensors``) has its card beside it (same stem, ``.json``), as
torchvision's ``Weights`` have their ``meta``. :class:`Card` holds what decides how the network
is built and scores (architecture, crop policy, ensemble and test-time augmentation,
temperature, threshold, family) and the file's identity (sha256, storage); everything else a
card records (training data and settings, metrics, held-out evaluations, licences, notes) is
kept as written in :attr:`Card.record`, so a card read and written again loses nothing.

Suite cards (several detectors, one per family) are :mod:`forensics.models.weights`' ``read_suite``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from forensics.faces.align import CropPolicy
from forensics.families import FAMILIES
from forensics.models.ensemble import TTA_MODES
from forensics.models.registry import get_model_spec


class WeightsError(Exception):
    """Weights are missing, do not match their card, or do not fit the model."""


def card_path(weights_path: str | os.PathLike[str]) -> Path:
    """The card of a weights file: ``x.safetensors`` -> ``x.json``."""
    return Path(weights_path).with_suffix(".json")


@dataclass(frozen=True)
class Card:
    """A weights file's model card.

    Attributes:
        model: the registered architecture (:func:`forensics.models.registry.get_model_spec`).
        crop_policy: how the crops it scores are cut (default: the architecture's input size,
            margin 0.2, aligned).
        name: what the weights are called in reports (default: none).
        family: the family of manipulation it detects (a name of
            :data:`forensics.families.FAMILIES`), or None.
        temperature: its logits are divided by this before the sigmoid (default 1.0, > 0).
        threshold: P(fake) at or above which a media is ``fake`` (default 0.5).
        tta: test-time augmentation, one of :data:`forensics.models.ensemble.TTA_MODES` (default ``none``).
        members: networks of an ensemble averaged in logit space (0: a single network).
        sha256: of the weights file, checked before it is loaded.
        file: the weights file's name.
        storage: ``float32`` or ``float16`` (tensors stored in half precision, computed in float32).
        record: the whole card as written (the fields above included), in its order.
    """

    model: str
    crop_policy: CropPolicy
    name: str | None = None
    family: str | None = None
    temperature: float = 1.0
    threshold: float = 0.5
    tta: str = "none"
    members: int = 0
    sha256: str | None = None
    file: str | None = None
    storage: str = "float32"
    record: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Any, where: str = "the model card") -> "Card":
        """A card from its JSON object, checked.

        Raises:
            WeightsError: not an object, no or an unknown model, an unknown test-time
                augmentation or family, a temperature that is not a positive number, a threshold
                outside [0, 1], or a crop policy that is not one.
        """
        if not isinstance(data, Mapping):
            raise WeightsError(f"{where} is not a JSON object")
        model = data.get("model")
        try:
            spec = get_model_spec(model) if isinstance(model, str) else None
        except (KeyError, ValueError):
            spec = None
        if spec is None:
            raise WeightsError(f"{where} names no registered model (model: {model!r}; see `forensics models`)")
        tta = data.get("tta", "none")
        if tta not in TTA_MODES:
            raise WeightsError(f"{where} asks for test-time augmentation {tta!r}; this version knows "
                               f"{', '.join(TTA_MODES)}")
        family = data.get("family")
        if family is not None and family not in FAMILIES:
            raise WeightsError(f"{where} names the family {family!r}; families: {', '.join(FAMILIES)}")
        temperature, threshold = data.get("temperature", 1.0), data.get("threshold", 0.5)
        if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature <= 0:
            raise WeightsError(f"{where}: temperature must be a positive number, got {temperature!r}")
        if not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
            raise WeightsError(f"{where}: threshold must be in [0, 1], got {threshold!r}")
        try:
            policy = CropPolicy.from_dict(data["crop_policy"]) if "crop_policy" in data else CropPolicy(size=spec.input_size)
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsError(f"{where}: crop_policy is not size, margin and align ({exc})") from None
        return cls(model, policy, data.get("name"), family, float(temperature), float(threshold), tta,
                   len((data.get("ensemble") or {}).get("members") or []), data.get("sha256"), data.get("file"),
                   data.get("storage", "float32"), dict(data))

    @classmethod
    def read(cls, weights_path: str | os.PathLike[str]) -> "Card":
        """The card beside ``weights_path`` (:func:`card_path`).

        Raises:
            WeightsError: no card, not JSON, or not a valid card (:meth:`from_dict`).
        """
        path = card_path(weights_path)
        if not path.exists():
            raise WeightsError(f"no model card beside the weights: expected {path}")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise WeightsError(f"model card {path} is not valid JSON: {exc}") from None
        return cls.from_dict(data, f"model card {path}")

    def to_dict(self) -> dict[str, Any]:
        """The card as JSON: its record with the typed fields written over it (in the record's
        order; a field left at its default and absent from the record stays absent)."""
        out = dict(self.record)
        out["model"] = self.model
        out["crop_policy"] = self.crop_policy.to_dict()
        for key, value, default in (("name", self.name, None), ("family", self.family, None),
                                    ("temperature", self.temperature, None), ("threshold", self.threshold, None),
                                    ("tta", self.tta, "none"), ("sha256", self.sha256, None),
                                    ("file", self.file, None), ("storage", self.storage, "float32")):
            if value != default or key in out:
                out[key] = value
        return out

    def updated(self, **fields: Any) -> "Card":
        """This card with ``fields`` (typed or recorded ones) set, checked again."""
        return Card.from_dict({**self.to_dict(), **fields})

    def write(self, weights_path: str | os.PathLike[str]) -> Path:
        """Write the card beside ``weights_path`` (to a temporary name, then renamed into place)."""
        path = card_path(weights_path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")
        os.replace(tmp, path)
        return path

    def get(self, key: str, default: Any = None) -> Any:
        """A recorded field that is not typed (``training``, ``metrics``, ``evaluation``…), or ``default``."""
        return self.record.get(key, default)


__all__ = ["Card", "WeightsError", "card_path"]
