"""Scoring a model's crops during training, and calibrating its scores: temperature scaling
fitted on the validation crops, then the valid and test metrics per source."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from forensics.models.registry import crops_to_tensor
from forensics.train.data import CropsBySplit
from forensics.train.metrics import metrics_by_source


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) in float64."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def batches(n: int, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Index batches over ``n`` items: shuffled by ``rng``, in order when it is None."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def predict_logits(model: nn.Module, crops: np.ndarray, spec, batch_size: int = 128,
                   device: torch.device | str = "cpu") -> np.ndarray:
    """Float32 logits (n,) of ``uint8`` crops (n, S, S, 3), in eval mode; ``device`` is where the model lives."""
    model.eval()
    out = []
    with torch.inference_mode():
        for idx in batches(len(crops), batch_size, None):
            out.append(model(crops_to_tensor(crops[idx], spec, device)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature T minimising the log loss of sigmoid(logit / T) (temperature scaling)."""
    x = torch.as_tensor(logits, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.float64)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure():
        optimiser.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(x / log_t.exp(), y)
        loss.backward()
        return loss

    optimiser.step(closure)
    return float(log_t.exp().item())


def calibrate(model: nn.Module, by_split: CropsBySplit, spec, device: torch.device | str = "cpu"
              ) -> tuple[float, dict[str, Any]]:
    """The temperature fitted on the validation crops, and the metrics of the valid and test
    splits (per source) with the scores it calibrates."""
    valid_x, valid_s = by_split["valid"]
    temperature = fit_temperature(predict_logits(model, valid_x, spec, device=device), np.array([s.label for s in valid_s]))
    metrics: dict[str, Any] = {}
    for split in ("valid", "test"):
        crops, kept = by_split[split]
        if len(crops) == 0:
            continue
        scores = sigmoid(predict_logits(model, crops, spec, device=device) / temperature)
        metrics[split] = metrics_by_source([s.label for s in kept], scores, [s.source for s in kept])
    return temperature, metrics
