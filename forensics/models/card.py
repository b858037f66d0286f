"""Model cards, typed: what scoring reads from a card is a field, checked when the card loads.

A weights file (``.safetensors``) has its card beside it (same stem, ``.json``), as
torchvision's ``Weights`` have their ``meta``. :class:`Card` holds what decides how the network
is built and scores (architecture, crop policy, ensemble and test-time augmentation,
temperature, threshold, family) and the file's identity (sha256, storage); everything else a
card records (training data and settings, metrics, held-out evaluations, licences, notes) is
kept as written in :attr:`Card.record`, so a card read and written again loses nothing.

A suite card (several detectors, one per family: ``weights/suite.json``) is a
:class:`SuiteCard` of :class:`SuiteMember` entries, typed the same way.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from forensics import __version__
from forensics.faces.align import CropPolicy
from forensics.families import FAMILIES, KINDS
from forensics.media.storage import file_sha256
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
        return _write_json(card_path(weights_path), self.to_dict())

    def get(self, key: str, default: Any = None) -> Any:
        """A recorded field that is not typed (``training``, ``metrics``, ``evaluation``…), or ``default``."""
        return self.record.get(key, default)


SUITE_KIND = "suite"
"""The ``kind`` of a suite card (a model card has none)."""


def _write_json(path: Path, data: Mapping[str, Any]) -> Path:
    """Write ``data`` to ``path`` through a temporary name renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def suite_card_data(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The JSON object at ``path`` when it is a suite card (a ``.json`` file whose ``kind`` is
    ``suite``), else None (no such file, not JSON, a model card)."""
    path = Path(path)
    if path.suffix != ".json" or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and data.get("kind") == SUITE_KIND else None


@dataclass(frozen=True)
class SuiteMember:
    """One detector of a suite.

    Attributes:
        family: the family of manipulation it is for (:data:`forensics.families.FAMILIES`).
        weights: its ``.safetensors`` file, as the card writes it (relative to the card's folder).
        sha256: of the weights file, checked when the suite loads (None: not checked).
        model: its architecture, as its own card names it.
        logit_shift: its calibration on videos: scores move by this in logit space (default 0).
        image_logit_shift: its calibration on stills, where it has one apart (None: the videos').
        kinds: the kinds of media it judges (default both, :data:`forensics.families.KINDS`).
        calibration: the calibration as written (shifts, the videos it was fitted on, bounds).
        record: the whole entry as written.
    """

    family: str
    weights: str
    sha256: str | None = None
    model: str | None = None
    logit_shift: float = 0.0
    image_logit_shift: float | None = None
    kinds: tuple[str, ...] = KINDS
    calibration: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    record: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "SuiteMember":
        """A member from its entry in a suite card, checked (family, weights, kinds, shifts)."""
        if not isinstance(data, Mapping):
            raise WeightsError(f"{where}: a member is not a JSON object")
        family = data.get("family")
        if family not in FAMILIES:
            raise WeightsError(f"{where}: unknown family {family!r}; this version knows {', '.join(FAMILIES)}")
        if not isinstance(data.get("weights"), str):
            raise WeightsError(f"{where}: the {family} detector names no weights file")
        kinds = data.get("kinds", list(KINDS))
        if not isinstance(kinds, list) or not kinds or set(kinds) - set(KINDS):
            raise WeightsError(f"{where}: the {family} detector's kinds {kinds} are not some of {', '.join(KINDS)}")
        calibration = data.get("calibration") or {}
        image = (calibration.get("image") or {}).get("logit_shift")
        try:
            shift = float(calibration.get("logit_shift", 0.0))
            image = None if image is None else float(image)
        except (TypeError, ValueError):
            raise WeightsError(f"{where}: the {family} detector's logit shift is not a number") from None
        return cls(family, data["weights"], data.get("sha256"), data.get("model"), shift, image,
                   tuple(kinds), dict(calibration), dict(data))

    @property
    def identity(self) -> dict[str, Any]:
        """What of this member decides the suite's scores (:attr:`SuiteCard.sha256`)."""
        identity = {"family": self.family, "sha256": self.sha256, "logit_shift": self.logit_shift}
        if "image" in self.calibration or "kinds" in self.record:  # cards without them keep their identity
            identity.update(image_logit_shift=self.image_logit_shift, kinds=sorted(self.kinds))
        return identity


@dataclass(frozen=True)
class SuiteCard:
    """A suite card: detectors, one per family, each calibrated, combined by the highest score.

    The JSON it reads and writes::

        {"kind": "suite", "name": "...", "threshold": 0.5,
         "members": [{"family": "blend", "weights": "blend.safetensors", "sha256": "...", "model": "...",
                      "calibration": {"logit_shift": 1.3, ..., "image": {"logit_shift": 2.0, ...}},
                      "kinds": ["image", "video"]}, ...],
         ... (calibration data, evaluations, notes: kept as written)}

    Attributes:
        name: what the suite is called in reports.
        members: its detectors, in the card's order (a family at most once).
        threshold: P(fake) at or above which a media is ``fake`` (default 0.5).
        folder: the folder its members' ``weights`` are relative to (where the card lies).
        record: the whole card as written.
        path: the file it was read from (None: made in memory).
    """

    name: str
    members: tuple[SuiteMember, ...]
    threshold: float = 0.5
    folder: Path = Path(".")
    record: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    path: Path | None = None

    @classmethod
    def from_dict(cls, data: Any, folder: str | os.PathLike[str] = ".", where: str = "the suite card") -> "SuiteCard":
        """A suite card from its JSON object, checked: its kind, at least one member, no family
        twice, every kind of media judged by some member, a threshold in [0, 1]."""
        if not isinstance(data, Mapping) or data.get("kind") != SUITE_KIND:
            raise WeightsError(f"{where} is not a suite card (its \"kind\" is not \"suite\")")
        if not data.get("members"):
            raise WeightsError(f"{where} lists no members")
        members = tuple(SuiteMember.from_dict(m, where) for m in data["members"])
        families = [m.family for m in members]
        if len(set(families)) != len(families):
            raise WeightsError(f"{where} names a family twice: {', '.join(families)}")
        for kind in KINDS:
            if not any(kind in m.kinds for m in members):
                raise WeightsError(f"{where}: no detector judges {kind}s")
        threshold = data.get("threshold", 0.5)
        if not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
            raise WeightsError(f"{where}: threshold must be in [0, 1], got {threshold!r}")
        return cls(str(data.get("name", "suite")), members, float(threshold), Path(folder), dict(data))

    @classmethod
    def read(cls, path: str | os.PathLike[str], check_files: bool = True) -> "SuiteCard":
        """The suite card at ``path``; with ``check_files`` (default) each member's weights must
        exist and be the file the card names (its sha256).

        Raises:
            WeightsError: no such file, not JSON, not a valid suite card, a member file missing
                or not the one the card names.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise WeightsError(f"suite card not found: {path}") from None
        except json.JSONDecodeError as exc:
            raise WeightsError(f"suite card {path} is not valid JSON: {exc}") from None
        return cls._loaded(data, path, check_files)

    @classmethod
    def _loaded(cls, data: Any, path: Path, check_files: bool = True) -> "SuiteCard":
        """The card of ``data`` read from ``path``, checked; with ``check_files``, its members' files too."""
        card = dataclasses.replace(cls.from_dict(data, path.parent, f"suite card {path}"), path=path)
        for member in card.members if check_files else ():
            weights = card.weights_of(member)
            if not weights.exists():
                raise WeightsError(f"suite card {path}: the {member.family} detector's weights {weights} are missing")
            if member.sha256 and file_sha256(weights) != member.sha256:
                raise WeightsError(f"suite card {path}: {weights} is not the file the card names (sha256 differs); "
                                   "refusing to score with it")
        return card

    @classmethod
    def read_if_suite(cls, path: str | os.PathLike[str]) -> "SuiteCard | None":
        """The suite card at ``path`` (:meth:`read`), or None when ``path`` is not one (not a
        ``.json`` file, not JSON, or a JSON object whose ``kind`` is not ``suite``: a model
        card, say); the file is parsed once, to tell and to load.

        Raises:
            WeightsError: a suite card that does not load (:meth:`read`).
        """
        data = suite_card_data(path)
        return None if data is None else cls._loaded(data, Path(path))

    @classmethod
    def of_members(cls, out: str | os.PathLike[str], members: Mapping[str, str | os.PathLike[str]], name: str,
                   calibration: Mapping[str, Mapping[str, Any]] | None = None,
                   kinds: Mapping[str, Sequence[str]] | None = None,
                   fields: Mapping[str, Any] | None = None) -> "SuiteCard":
        """The card of a suite to be written at ``out``: ``members`` (family -> weights file, each
        with its model card), paths relative to ``out``'s folder, each with its sha256,
        calibration (family -> its entry's ``calibration``; none: no shift) and the kinds of
        media it judges (none named: both); ``fields`` are recorded at the card's top level
        (e.g. the data it was calibrated on, as ``calibration``)."""
        folder = Path(out).parent
        entries = []
        for family, weights in members.items():
            if family not in FAMILIES:
                raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
            entries.append({"family": family, "what_it_is_for": FAMILIES[family],
                            "weights": os.path.relpath(Path(weights).resolve(), folder.resolve()),
                            "model": Card.read(weights).model, "sha256": file_sha256(weights),
                            "calibration": dict((calibration or {}).get(family, {"logit_shift": 0.0})),
                            **({"kinds": list(kinds[family])} if kinds and family in kinds else {})})
        data = {"kind": SUITE_KIND, "name": name, "threshold": 0.5,
                "combine": "the media's score is the highest of its families' calibrated media scores, over the "
                           "families that judge its kind (a member's kinds; both when unnamed)",
                "members": entries, **(fields or {}),
                "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "forensics_version": __version__}
        return cls.from_dict(data, folder, f"suite card {out}")

    def get(self, key: str, default: Any = None) -> Any:
        """A recorded field that is not typed (``calibration``, ``evaluation``…), or ``default``."""
        return self.record.get(key, default)

    def weights_of(self, member: SuiteMember) -> Path:
        """A member's weights file, resolved against the card's folder."""
        return (self.folder / member.weights).resolve()

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(m.family for m in self.members)

    @property
    def sha256(self) -> str:
        """The identity of the suite: the sha256 of what decides its scores (each member's family,
        weights sha256, calibration shifts for videos and for stills, and the kinds of media it
        judges; the threshold), so that notes and evaluations added to the card do not change it."""
        scoring = {"threshold": self.threshold, "members": [m.identity for m in self.members]}
        return hashlib.sha256(json.dumps(scoring, sort_keys=True).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The card as JSON, as written (members' paths relative to its folder)."""
        return dict(self.record)

    def updated(self, **fields: Any) -> "SuiteCard":
        """This card with top-level ``fields`` recorded (evaluations, notes), checked again."""
        return dataclasses.replace(SuiteCard.from_dict({**self.record, **fields}, self.folder), path=self.path)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the card at ``path`` (to a temporary name, then renamed into place). Its members'
        paths are relative to its folder: write it where it was read or made for."""
        return _write_json(Path(path), self.to_dict())


__all__ = ["Card", "SUITE_KIND", "SuiteCard", "SuiteMember", "WeightsError", "card_path", "suite_card_data"]
