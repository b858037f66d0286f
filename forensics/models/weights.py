"""Weights files and their model cards.

Weights are ``.safetensors`` (loading executes no code) with a JSON model card beside them
(same stem, ``.json``). The card plays the role of torchvision's ``Weights.meta``: it records
the architecture, the crop policy (the ``transforms``), the training data, held-out metrics,
the calibration temperature and the sha256 of the weights file, which is checked on load.
A card may also ask for an ensemble of members and a test-time augmentation
(:mod:`forensics.models.ensemble`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from forensics.media.storage import file_sha256
from forensics.models.card import SUITE_KIND, Card, SuiteCard, SuiteMember, WeightsError, card_path, suite_card_data
from forensics.models.ensemble import LogitMean, with_tta
from forensics.models.registry import build_model


__all__ = ["Card", "SuiteCard", "SuiteMember", "WeightsError", "card_path", "load_weights", "save_weights",
           "shipped_suite", "shipped_weights", "weights_dir", "list_shipped_cards", "is_suite_card", "recorded_command",
           "to_device"]

SHIPPED_SUITE = "suite.json"
"""The file name of the shipped default suite in the weights folder."""


def recorded_command() -> str | None:
    """The ``forensics ...`` command line of this process for a card, without the machine's
    path to the executable (None when not run from the command line)."""
    import shlex
    import sys

    if not sys.argv or "forensics" not in sys.argv[0]:
        return None
    return shlex.join(["forensics", *sys.argv[1:]])


def weights_dir() -> Path:
    """Folder of shipped weights: ``$FORENSICS_WEIGHTS_DIR``, else the checkout's ``weights/``,
    else the installed package's ``forensics/weights`` (where a wheel puts them)."""
    env = os.environ.get("FORENSICS_WEIGHTS_DIR")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parents[1]
    checkout = package.parent / "weights"
    return checkout if (package.parent / "pyproject.toml").exists() and checkout.is_dir() else package / "weights"


def shipped_weights(model: str) -> Path | None:
    """The default weights file shipped for ``model`` (``weights/<model>.safetensors``), if any."""
    path = weights_dir() / f"{model}.safetensors"
    return path if path.exists() else None


def list_shipped_cards() -> list[Card]:
    """Every model card in the weights folder, sorted by file name (suite cards are not model
    cards; a card that does not load is left out)."""
    folder = weights_dir()
    if not folder.is_dir():
        return []
    cards = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
            if isinstance(data, dict) and data.get("kind") != SUITE_KIND:
                cards.append(Card.from_dict(data, str(path)))
        except (OSError, json.JSONDecodeError, WeightsError):
            continue
    return cards


def save_weights(model: nn.Module, path: str | os.PathLike[str], card: Card | Mapping[str, Any],
                 half: bool = False) -> Card:
    """Write ``model``'s state as safetensors and its card (with the file name and sha256 filled
    in) beside it; returns the card written.

    With ``half``, floating-point tensors are stored as float16 (half the file; they load back
    into float32 parameters) and the card records ``"storage": "float16"``. Both files are
    written to temporary names first and renamed into place.

    Raises:
        WeightsError: ``card`` is not a valid card (:meth:`Card.from_dict`), checked before writing.
    """
    card = card if isinstance(card, Card) else Card.from_dict(card)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        card = card.updated(storage="float16")
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp), metadata={"model": card.model})
    os.replace(tmp, path)
    card = card.updated(file=path.name, sha256=file_sha256(path))
    card.write(path)
    return card


def load_weights(weights_path: str | os.PathLike[str], model_name: str | None = None) -> tuple[nn.Module, Card]:
    """Build the card's model and load the weights into it, after checking their sha256.

    A card with ``"ensemble": {"members": [...]}`` gets a :class:`LogitMean` of that many
    copies of the architecture, and one with ``"tta": "hflip"`` a :class:`FlipMean` around
    the network; the module returned is what the card's temperature was fitted to.

    Raises:
        WeightsError: missing file or card, sha256 mismatch, a card for another model, an
            unknown test-time augmentation, or a state dict that does not fit the architecture.
    """
    path = Path(weights_path)
    if not path.exists():
        raise WeightsError(f"weights file not found: {path}")
    card = Card.read(path)
    expected = card.sha256
    actual = file_sha256(path)
    if expected != actual:
        raise WeightsError(
            f"sha256 of {path} is {actual}, but its model card says {expected}: "
            "the file is corrupt or was replaced; refusing to score with it"
        )
    name = card.model
    if model_name is not None and name != model_name:
        raise WeightsError(f"{path} holds weights for model {name!r}, not {model_name!r}")
    members = card.members
    model = LogitMean([build_model(name) for _ in range(members)]) if members else build_model(name)
    try:
        model.load_state_dict(load_file(str(path)))
    except RuntimeError as exc:
        raise WeightsError(f"{path} does not fit model {name!r}: {str(exc).splitlines()[0]}") from None
    return with_tta(model, card.tta), card


def to_device(model: nn.Module, device: torch.device) -> nn.Module:
    model = model.to(device).eval()
    return model.to(memory_format=torch.channels_last)


def is_suite_card(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a suite card (a ``.json`` file whose ``kind`` is ``suite``)."""
    return suite_card_data(path) is not None


def shipped_suite() -> Path | None:
    """The default suite shipped in the weights folder (``weights/suite.json``), if any."""
    path = weights_dir() / SHIPPED_SUITE
    return path if path.exists() else None
