"""A linear head on a frozen backbone's features (a *probe*), trained per held-out source.

Fine-tuning a network once per held-out source is out of reach of a CPU; a logistic head on
features computed once is not. So a probe's leave-one-source-out figures are exact: every
video is scored by a head that never saw a video of its source. A head fitted
on every source would go into the backbone's own classifier; measured at chance on the shared
videos (docs/evaluation.md), none is shipped.

Training views: each crop as the scan cuts it, and ``views - 1`` augmented copies (the
training augmentations: rescaling, JPEG and H.264 re-encoding, flips; see
:func:`forensics.train.augment.augmenter`), so that format shortcuts (a source's resolution
or codec) are not what the head learns. Sources are balanced: every source's fakes weigh as
much as any other source's fakes, and the same for reals, whatever their number of videos.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from forensics.aggregate import track_score
from forensics.models.registry import ModelSpec, crops_to_tensor
from forensics.train.calibrate import batches, sigmoid
from forensics.train.data import source_weights


def backbone_of(model: nn.Module) -> nn.Module:
    """The single network inside ``model``: the first member of an ensemble, the network of a
    flip-averaging wrapper, the timm network of a one-logit wrapper."""
    while True:
        if hasattr(model, "members"):
            model = model.members[0]
        elif hasattr(model, "network"):
            model = model.network
        elif hasattr(model, "net"):
            return model.net
        else:
            return model


def crop_features(model: nn.Module, crops: np.ndarray, spec: ModelSpec, batch_size: int = 64,
                  augment=None) -> np.ndarray:
    """Pooled features (n, F) float32 of ``uint8`` crops (n, S, S, 3): what the network's
    classifier sees. ``augment`` (a per-crop tensor transform) is applied first when given."""
    net = backbone_of(model)
    net.eval()
    out = []
    with torch.inference_mode():
        for idx in batches(len(crops), batch_size, None):
            view = torch.from_numpy(crops[idx])
            if augment is not None:
                view = torch.stack([augment(c) for c in view.permute(0, 3, 1, 2)]).permute(0, 2, 3, 1)
            x = crops_to_tensor(view.contiguous(), spec, "cpu")
            out.append(net.forward_head(net.forward_features(x), pre_logits=True).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


@dataclass
class Head:
    """A linear head on standardised features: ``logit = ((x - mean) / scale) @ coef + bias``."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    bias: float

    def logits(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.scale) @ self.coef + self.bias


def fit_head(features: np.ndarray, labels: np.ndarray, sources: Sequence[str], c: float = 0.05) -> Head:
    """An L2-regularised logistic head (inverse strength ``c`` on standardised features),
    sources balanced as :func:`source_weights` says."""
    from sklearn.linear_model import LogisticRegression

    mean = features.mean(0)
    scale = features.std(0) + 1e-6
    fit = LogisticRegression(C=c, max_iter=500, tol=1e-3).fit((features - mean) / scale, labels,
                                                     sample_weight=source_weights(labels, sources))
    return Head(mean, scale, fit.coef_[0].astype(np.float64), float(fit.intercept_[0]))


def leave_one_source_out(train_features: np.ndarray, train_labels: np.ndarray, train_sources: Sequence[str],
                         test_features: np.ndarray, test_sources: Sequence[str], c: float = 0.05) -> np.ndarray:
    """Logits of every test crop from a head fitted without any training crop of its source.

    ``train_*`` may hold several views of each crop; ``test_*`` is what is scored (the crops as
    the scan cuts them)."""
    train_sources, test_sources = np.asarray(train_sources), np.asarray(test_sources)
    out = np.full(len(test_features), np.nan)
    for source in sorted(set(test_sources)):
        keep = train_sources != source
        head = fit_head(train_features[keep], train_labels[keep], train_sources[keep], c)
        chosen = test_sources == source
        out[chosen] = head.logits(test_features[chosen])
    return out


def media_scores(logits: np.ndarray, media: Sequence[str], strategy: str = "confident") -> dict[str, float]:
    """Each media's score from its crops' logits, aggregated as the scan aggregates a track."""
    media = np.asarray(media)
    probs = sigmoid(logits)
    return {m: track_score(probs[media == m], strategy) for m in dict.fromkeys(media.tolist())}
