"""Where a training run stands, kept on disk: the resumable checkpoint (``<out>.ckpt.pt``) and
the training curves (``<out>.history.csv`` and ``.png``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from forensics.train.config import RUN_ONLY, TrainConfig


@dataclass
class Progress:
    """A run's progress: the first epoch still to train (0-based), optimiser steps taken, the
    best epoch so far (``auc``: its validation AUC that selects, ``epoch``: 1-based, ``state``:
    its weights) and one row of the curves per epoch trained."""

    start_epoch: int = 0
    steps: int = 0
    best: dict[str, Any] = field(default_factory=lambda: {"auc": -1.0, "epoch": -1, "state": None})
    history: list[dict[str, float]] = field(default_factory=list)


def settings_of(config: TrainConfig) -> str:
    """What a checkpoint must share with the run that resumes it (all but :data:`RUN_ONLY`)."""
    return repr({k: v for k, v in asdict(config).items() if k not in RUN_ONLY})


def save_checkpoint(path: Path, model: nn.Module, optimiser: torch.optim.Optimizer, scheduler: Any,
                    config: TrainConfig, epoch: int, progress: Progress) -> None:
    """Write the state after ``epoch`` (0-based) to ``path``: enough for :func:`resume` to go on."""
    keys = list(progress.history[0])
    best = progress.best
    torch.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                "scheduler": scheduler.state_dict(), "epoch": epoch, "steps": progress.steps,
                "best_auc": best["auc"], "best_epoch": best["epoch"], "best_state": best["state"],
                "history_keys": keys, "settings": settings_of(config),
                "history": torch.tensor([[r[k] for k in keys] for r in progress.history], dtype=torch.float64)},
               path)


def resume(path: Path, model: nn.Module, optimiser: torch.optim.Optimizer, scheduler: Any, config: TrainConfig,
           device: torch.device) -> Progress | None:
    """Load the checkpoint at ``path`` into ``model``, ``optimiser`` and ``scheduler``; its
    progress, or None where there is no checkpoint.

    Raises:
        ValueError: the checkpoint was made by a run with other settings (:func:`settings_of`).
    """
    if not path.exists():
        return None
    ckpt = torch.load(path, weights_only=True, map_location=device)
    if ckpt.get("settings") != settings_of(config):
        raise ValueError(f"{path} was made by a run with other settings; delete it to start afresh")
    model.load_state_dict(ckpt["model"])
    optimiser.load_state_dict(ckpt["optimiser"])
    scheduler.load_state_dict(ckpt["scheduler"])
    return Progress(int(ckpt["epoch"]) + 1, int(ckpt["steps"]),
                    {"auc": float(ckpt["best_auc"]), "epoch": int(ckpt["best_epoch"]), "state": ckpt["best_state"]},
                    [dict(zip(ckpt["history_keys"], row)) for row in ckpt["history"].tolist()])


def save_history(history: list[dict[str, float]], out: Path) -> None:
    """The curves, one row per epoch: ``<out>.history.csv`` and a plot of loss, accuracy and ROC
    AUC (training and validation, and each validation source's AUC) in ``<out>.history.png``."""
    import pandas as pd

    frame = pd.DataFrame(history)
    frame.to_csv(out.with_suffix(".history.csv"), index=False)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, (key, label) in zip(axes, [("loss", "loss"), ("acc", "accuracy"), ("auc", "ROC AUC")]):
        for split in ("train", "valid"):
            column = f"{split}_{key}"
            if column in frame:
                ax.plot(frame["epoch"], frame[column], marker="o", label=split)
        if key == "auc":
            for column in (c for c in frame if c.startswith("valid_auc_")):
                ax.plot(frame["epoch"], frame[column], linestyle="--", label=column.removeprefix("valid_auc_"))
        ax.set_xlabel("epoch")
        ax.set_title(label)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out.with_suffix(".history.png"), dpi=90)
    plt.close(fig)
