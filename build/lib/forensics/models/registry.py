"""A registry of classifier architectures, in the manner of torchvision's ``get_model``.

Every model maps a face crop to one logit; ``sigmoid(logit)`` is P(fake). A spec declares
its input size and normalisation, and :func:`crops_to_tensor` turns crops into its input
(the spec carries its preprocessing, as torchvision's weights carry their transforms).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """What the pipeline needs to know about an architecture.

    Attributes:
        name: registry name, e.g. ``custom-cnn``.
        builder: returns a fresh, untrained module with one output logit.
        input_size: side of the square input crop, pixels.
        mean, std: per-channel normalisation applied after scaling pixels to [0, 1].
        grayscale: the model takes one luminance channel instead of RGB.
        description: one line for ``forensics models``.
        accepts_pretrained: the builder takes a ``pretrained`` argument (``"imagenet"`` or a
            checkpoint file, see :mod:`forensics.models.pretrained`).
    """

    name: str
    builder: Callable[..., nn.Module]
    input_size: int
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    grayscale: bool = False
    description: str = ""
    accepts_pretrained: bool = False


def crops_to_tensor(crops: np.ndarray | torch.Tensor, spec: "ModelSpec", device: torch.device | str = "cpu") -> torch.Tensor:
    """Model input from ``uint8`` crops of shape (n, size, size, 3).

    Pixels are scaled to [0, 1], converted to grayscale when the model takes one channel,
    then normalised with the spec's mean and std (on ``device``: a GPU receives the ``uint8``
    crops, from pinned memory). Returns (n, C, size, size) float32, channels-last in memory.
    """
    batch = torch.as_tensor(crops)
    if torch.device(device).type == "cuda" and batch.device.type == "cpu":
        batch = batch.pin_memory()  # lets the copy below run asynchronously
    batch = batch.to(device, non_blocking=True)
    batch = batch.permute(0, 3, 1, 2).float().div_(255.0)
    if spec.grayscale:
        weights = torch.tensor([0.299, 0.587, 0.114], device=batch.device).view(1, 3, 1, 1)
        batch = (batch * weights).sum(dim=1, keepdim=True)
    mean = torch.tensor(spec.mean[: batch.shape[1]], device=batch.device).view(1, -1, 1, 1)
    std = torch.tensor(spec.std[: batch.shape[1]], device=batch.device).view(1, -1, 1, 1)
    batch = (batch - mean) / std
    return batch.contiguous(memory_format=torch.channels_last)


_MODELS: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    input_size: int,
    mean: tuple[float, ...] = (0.0, 0.0, 0.0),
    std: tuple[float, ...] = (1.0, 1.0, 1.0),
    grayscale: bool = False,
    description: str = "",
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that registers a model builder under ``name``.

    A builder takes no argument, or one keyword argument ``pretrained: str | None`` (then
    ``build_model(name, pretrained=...)`` passes it through).
    """

    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        if len(mean) != len(std) or len(mean) != (1 if grayscale else 3):
            raise ValueError(f"model {name!r}: mean and std need {1 if grayscale else 3} value(s) each")
        accepts = "pretrained" in inspect.signature(builder).parameters
        _MODELS[name] = ModelSpec(name, builder, input_size, tuple(mean), tuple(std), grayscale, description, accepts)
        return builder

    return wrap


def get_model_spec(name: str) -> ModelSpec:
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(list_models())}") from None


def build_model(name: str, pretrained: str | None = None) -> nn.Module:
    """A fresh instance of the named model.

    Args:
        name: registered model name.
        pretrained: None (default) initialises at random; ``"imagenet"`` or the path of a
            checkpoint file initialise the backbone (see :mod:`forensics.models.pretrained`).
            Only models whose builder takes ``pretrained`` accept it.

    Raises:
        ValueError: unknown model, a model that cannot start from pretrained weights, or
            pretrained weights that cannot be found or do not fit.
    """
    spec = get_model_spec(name)
    if not spec.accepts_pretrained:
        if pretrained is not None:
            raise ValueError(f"model {name!r} has no pretrained weights option; it trains from scratch "
                             f"(got pretrained={pretrained!r})")
        return spec.builder()
    return spec.builder(pretrained=pretrained)


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_MODELS)
