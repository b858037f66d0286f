"""Evidence heatmaps: where in a face crop the classifier looked when it scored it.

Grad-CAM (Selvaraju et al., ICCV 2017) on the last convolution of each network: the
convolution's feature maps, weighted by the mean gradient of the fake logit with respect to
each, summed, kept where positive, then upsampled to the crop. An ensemble's map is the mean
of its members' maps (each normalised to a peak of 1); a mirror test-time augmentation is left
out, as it only averages the crop with its mirror image. Grad-CAM assumes the network pools its
last feature maps over space (EfficientNet, ResNet, DenseNet do). A network that does not
(``custom-cnn`` flattens them into dense layers) or has no gradient to its input (``residual-mlp``:
hand-made histogram features) gets an occlusion map instead: how much the fake logit falls when
each cell of an 8 x 8 grid is blurred.

A heatmap shows which pixels moved the score most. It is not proof of tampering, nor a mask of
what was edited: a model can look at a blending edge, at teeth, or at compression noise.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn

from forensics.models.ensemble import FlipMean, LogitMean
from forensics.models.registry import ModelSpec, crops_to_tensor

OCCLUSION_GRID = 8
"""Cells per side of the occlusion map, for networks without a usable gradient."""


def _members(network: nn.Module) -> list[nn.Module]:
    """The networks whose maps are averaged: an ensemble's members, without mirror TTA."""
    if isinstance(network, FlipMean):
        network = network.network
    return list(network.members) if isinstance(network, LogitMean) else [network]


def last_convolution(network: nn.Module) -> nn.Conv2d | None:
    """The last ``Conv2d`` a network registers (the one nearest its head), or None."""
    convolutions = [m for m in network.modules() if isinstance(m, nn.Conv2d)]
    return convolutions[-1] if convolutions else None


def _pools_globally(member: nn.Module) -> bool:
    """True when the network averages its last feature maps over space (Grad-CAM's premise);
    a head that flattens them into dense layers weighs each position apart, and its Grad-CAM
    map fails the deletion check (tests/test_review.py), so such a network gets occlusion."""
    return any(isinstance(m, nn.AdaptiveAvgPool2d) for m in member.modules())


def _normalise(maps: np.ndarray) -> np.ndarray:
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    return np.where(peak > 0, maps / np.maximum(peak, 1e-12), 0.0).astype(np.float32)


def _grad_cam(member: nn.Module, layer: nn.Conv2d, batch: torch.Tensor) -> np.ndarray | None:
    """The Grad-CAM maps, or None when the logit has no gradient to the layer (hand-made features)."""
    kept: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        if output.requires_grad:
            output.retain_grad()
        kept["maps"] = output

    handle = layer.register_forward_hook(keep)
    try:
        logits = member(batch)
        if not logits.requires_grad or "maps" not in kept or not kept["maps"].requires_grad:
            return None
        logits.sum().backward()  # crops are independent: one backward gives each its gradient
    finally:
        handle.remove()
    maps, grads = kept["maps"], kept["maps"].grad
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * maps).sum(dim=1)).detach().float()
    size = batch.shape[-2:]
    cam = nn.functional.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    return _normalise(cam.cpu().numpy())


def _occlusion(member: nn.Module, spec: ModelSpec, crops: np.ndarray, device, grid: int = OCCLUSION_GRID) -> np.ndarray:
    """How much the fake logit falls when each cell of a ``grid`` x ``grid`` is replaced by a
    blurred copy of itself (fine traces removed, no new edges drawn)."""
    size = crops.shape[1]
    sigma = max(1.0, size / 60)
    blurred = np.stack([cv2.GaussianBlur(c, (0, 0), sigma) for c in crops])
    edges = np.linspace(0, size, grid + 1).round().astype(int)
    cells = [(slice(edges[r], edges[r + 1]), slice(edges[c], edges[c + 1])) for r in range(grid) for c in range(grid)]
    drops = np.zeros((len(crops), grid * grid), np.float32)
    with torch.inference_mode():
        for i, crop in enumerate(crops):
            base = float(member(crops_to_tensor(crop[None], spec, device)).float()[0])
            hidden = np.repeat(crop[None], len(cells), axis=0)
            for k, (ys, xs) in enumerate(cells):
                hidden[k, ys, xs] = blurred[i, ys, xs]
            drops[i] = base - member(crops_to_tensor(hidden, spec, device)).float().cpu().numpy()
    drops = drops.reshape(len(crops), grid, grid)
    maps = np.stack([cv2.resize(np.maximum(d, 0), (size, size), interpolation=cv2.INTER_CUBIC) for d in drops])
    return _normalise(np.maximum(maps, 0))


def heatmaps(network: nn.Module, spec: ModelSpec, crops: np.ndarray, device: torch.device | str = "cpu") -> np.ndarray:
    """Grad-CAM maps of ``uint8`` crops (n, S, S, 3): float32 (n, S, S) in [0, 1], 1 = most evidence
    for *fake*. The network's parameters are left as they were (no gradient is kept on them)."""
    if len(crops) == 0:
        return np.zeros((0,) + crops.shape[1:3], np.float32)
    was_training = network.training
    network.eval()
    requires = [p.requires_grad for p in network.parameters()]
    for p in network.parameters():
        p.requires_grad_(False)  # gradients flow to the feature maps only
    try:
        maps = []
        with torch.enable_grad(), torch.inference_mode(False):
            batch = crops_to_tensor(crops, spec, device)
            for member in _members(network):
                layer = last_convolution(member)
                cam = None
                if layer is not None and _pools_globally(member):
                    cam = _grad_cam(member, layer, batch.clone().requires_grad_(True))
                maps.append(cam if cam is not None else _occlusion(member, spec, crops, device))
        return _normalise(np.mean(maps, axis=0))
    finally:
        for p, r in zip(network.parameters(), requires):
            p.requires_grad_(r)
        network.train(was_training)


def overlay(crop: np.ndarray, heat: np.ndarray, opacity: float = 0.45) -> np.ndarray:
    """The crop (``uint8`` RGB) with its heatmap on top in the JET colour map (blue 0, red 1)."""
    colours = cv2.applyColorMap(np.round(np.clip(heat, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    colours = cv2.cvtColor(colours, cv2.COLOR_BGR2RGB).astype(np.float32)
    mixed = crop.astype(np.float32) * (1 - opacity) + colours * opacity
    return np.clip(np.round(mixed), 0, 255).astype(np.uint8)
