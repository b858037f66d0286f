"""What `forensics models` lists: the registered architectures, the weights shipped for them, and
the default suite, as rows of text (the CLI only lays them out)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from forensics.config import DEFAULT_MODEL
from forensics.families import FAMILIES
from forensics.models.registry import get_model_spec, list_models
from forensics.models.weights import SuiteCard, WeightsError, list_shipped_cards, shipped_suite, weights_dir

Table = tuple[tuple[str, ...], list[tuple[str, ...]]]
"""Column names and rows of text."""


@dataclass
class Catalogue:
    """What the shipped package can score with.

    Attributes:
        models: every registered architecture (name, input, shipped weights files, description);
            the default suite's members or the default model are tagged.
        weights: every shipped model card (file, model, sha256 prefix, held-out ROC AUC per source).
        weights_dir: the folder the shipped weights are read from.
        suite: one line on the default suite of `forensics scan` (None: no suite ships, or it cannot be used).
        problem: why the shipped suite cannot be used, where it cannot.
    """

    models: Table
    weights: Table
    weights_dir: Path
    suite: str | None = None
    problem: str | None = None


def catalogue() -> Catalogue:
    """The catalogue of the weights folder (:func:`forensics.models.weights.weights_dir`)."""
    cards, path, problem = list_shipped_cards(), shipped_suite(), None
    try:
        suite = SuiteCard.read(path) if path is not None else None
    except WeightsError as exc:
        suite, problem = None, f"the shipped suite {path} cannot be used: {exc}"
    in_suite = {m.model for m in suite.members} if suite else set()
    models = []
    for name in list_models():
        spec = get_model_spec(name)
        shipped = ", ".join(c.file or "?" for c in cards if c.model == name) or "-"
        tag = " (in the default suite)" if name in in_suite else " (default)" if name == DEFAULT_MODEL and not suite else ""
        models.append((name + tag, f"{spec.input_size}x{spec.input_size}{' gray' if spec.grayscale else ''}", shipped,
                       spec.description))
    weights = []
    for card in cards:
        aucs = card.get("metrics", {}).get("test", {}).get("per_source", {})
        auc = ", ".join(f"{src} {m.get('roc_auc', float('nan')):.3f}" for src, m in aucs.items()) or "-"
        model = card.model + (f" ×{card.members}" if card.members > 1 else "") + (" + mirror" if card.tta == "hflip" else "")
        weights.append((card.file or "?", model, (card.sha256 or "?")[:16] + "…", auc))
    line = None
    if suite is not None:
        line = f"Default of `forensics scan`: the suite {path.name}, " + "; ".join(
            f"{m.family} ({FAMILIES[m.family]}): {Path(m.weights).name}, logit shift {m.logit_shift:+.2f}"
            for m in suite.members)
    return Catalogue((("model", "input", "shipped weights", "description"), models),
                     (("file", "model", "sha256", "held-out ROC AUC"), weights), weights_dir(), line, problem)
