"""Classification metrics of P(fake) scores against labels (1 = fake), computed by scikit-learn."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn import metrics as skm


def expected_calibration_error(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> float:
    """ECE: mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    labels, scores = np.asarray(labels), np.asarray(scores, np.float64)
    confidence = np.where(scores >= 0.5, scores, 1 - scores)
    correct = (scores >= 0.5).astype(int) == labels
    edges = np.linspace(0.5, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        here = which == b
        if here.any():
            ece += here.mean() * abs(correct[here].mean() - confidence[here].mean())
    return float(ece)


def equal_error_rate(labels: np.ndarray, scores: np.ndarray) -> float:
    """The error rate where the false-positive and false-negative rates meet."""
    fpr, tpr, _ = skm.roc_curve(labels, scores)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2)


def binary_metrics(labels: Sequence[int], scores: Sequence[float], threshold: float = 0.5) -> dict[str, Any]:
    """Accuracy, precision, recall, F1, balanced accuracy, ROC AUC, AP, EER, log loss, ECE,
    and the confusion matrix ([[TN, FP], [FN, TP]]), at ``threshold`` (default 0.5).

    Metrics that need both classes are None when only one is present.
    """
    labels = np.asarray(labels, np.int64)
    scores = np.clip(np.asarray(scores, np.float64), 1e-7, 1 - 1e-7)
    predicted = (scores >= threshold).astype(np.int64)
    both = len(np.unique(labels)) == 2
    out: dict[str, Any] = {
        "n": int(len(labels)),
        "n_fake": int(labels.sum()),
        "n_real": int((labels == 0).sum()),
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "precision": float(skm.precision_score(labels, predicted, zero_division=0)),
        "recall": float(skm.recall_score(labels, predicted, zero_division=0)),
        "f1": float(skm.f1_score(labels, predicted, zero_division=0)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(labels, predicted)) if both else None,
        "roc_auc": float(skm.roc_auc_score(labels, scores)) if both else None,
        "average_precision": float(skm.average_precision_score(labels, scores)) if both else None,
        "eer": equal_error_rate(labels, scores) if both else None,
        "log_loss": float(skm.log_loss(labels, scores, labels=[0, 1])),
        "ece": expected_calibration_error(labels, scores),
        "confusion_matrix": skm.confusion_matrix(labels, predicted, labels=[0, 1]).tolist(),
        "threshold": threshold,
    }
    return out


def metrics_by_source(labels: Sequence[int], scores: Sequence[float], sources: Sequence[str],
                      threshold: float = 0.5) -> dict[str, Any]:
    """``{"all": metrics, "per_source": {source: metrics}}``."""
    labels, scores, sources = np.asarray(labels), np.asarray(scores), np.asarray(sources)
    per_source = {str(s): binary_metrics(labels[sources == s], scores[sources == s], threshold)
                  for s in sorted(set(sources.tolist()))}
    return {"all": binary_metrics(labels, scores, threshold), "per_source": per_source}
