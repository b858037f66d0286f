"""What every ``forensics`` command shares: the app, its --help panels, exit codes, the choice
types derived from ScanConfig, and the helpers that turn a bad argument into a usage error."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Callable, List

import typer
from rich.console import Console

from forensics.config import (
    AGGREGATE_STRATEGIES,
    DEVICES,
    ENGINES,
    PRESETS,
    RUNTIMES,
    ScanConfig,
)

if TYPE_CHECKING:
    from forensics.models.card import Card

app = typer.Typer(
    name="forensics",
    help="Tell real from deepfake faces in images and videos, and say why, in a Parquet report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)

LAB = "Lab: train, measure and ship detectors"
"""The --help panel of the commands that make and measure weights, apart from the scanning ones."""
SCAN = "Scan and review"

EXIT_USAGE = 2
EXIT_FAKE_FOUND = 3
EXIT_BROKEN_MODEL = 4
EXIT_ENGINE_FAILED = 5
EXIT_INTERRUPTED = 130


def _choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A typer choice type for one of ScanConfig's settings, with the config's own values."""
    return Enum(name, {value: value for value in values}, type=str)


Aggregate = _choices("Aggregate", AGGREGATE_STRATEGIES)
Device = _choices("Device", DEVICES)
Engine = _choices("Engine", ENGINES)
Runtime = _choices("Runtime", RUNTIMES)
Preset = _choices("Preset", tuple(PRESETS))


def _default(name: str) -> str:
    """``(default: X)`` for a help text: ScanConfig's default of ``name``, the one source of them."""
    value = ScanConfig.default(name)
    return f"(default: {'none' if value is None else value}; or as the --preset sets it)"


def _usage_error(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(EXIT_USAGE)


def _named_paths(items: List[str], usage: str, existing: Callable[[Path], bool] = Path.is_file) -> dict[str, Path]:
    """NAME=PATH arguments as a mapping; a usage error (``usage`` says what to give) for the
    first without ``=`` or whose path does not pass ``existing``."""
    named = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not existing(Path(path)):
            raise _usage_error(f"{item!r}: {usage}")
        named[name] = Path(path)
    return named


def _print_written(card: "Card", out: Path) -> None:
    """The test ROC AUC per source of freshly written weights, and where they went."""
    for src, m in card.get("metrics", {}).get("test", {}).get("per_source", {}).items():
        auc = m["roc_auc"]
        err.print(f"test {src}: n={m['n']} accuracy {m['accuracy']:.3f} ROC AUC {auc if auc is None else round(auc, 4)}")
    err.print(f"wrote {out} (sha256 {str(card.sha256)[:16]}…) and its card {out.with_suffix('.json')}")
