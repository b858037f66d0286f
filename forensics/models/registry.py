"""A registry of classifier architectures, in the manner of torchvision's ``get_model``.

Every model maps a face crop to one logit; ``sigmoid(logit)`` is P(fake). A spec declares
its input size and normalisation so that the crop stage and the tensor conversion adapt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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
    """

    name: str
    builder: Callable[[], nn.Module]
    input_size: int
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    grayscale: bool = False
    description: str = ""


_MODELS: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    input_size: int,
    mean: tuple[float, ...] = (0.0, 0.0, 0.0),
    std: tuple[float, ...] = (1.0, 1.0, 1.0),
    grayscale: bool = False,
    description: str = "",
) -> Callable[[Callable[[], nn.Module]], Callable[[], nn.Module]]:
    """Decorator that registers a model builder under ``name``."""

    def wrap(builder: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        _MODELS[name] = ModelSpec(name, builder, input_size, mean, std, grayscale, description)
        return builder

    return wrap


def get_model_spec(name: str) -> ModelSpec:
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(list_models())}") from None


def build_model(name: str) -> nn.Module:
    """A fresh, untrained instance of the named model."""
    return get_model_spec(name).builder()


def list_models() -> list[str]:
    return sorted(_MODELS)
