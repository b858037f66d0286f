"""A registry of classifier architectures, in the manner of torchvision's ``get_model``.

Every model maps a face crop to one logit; ``sigmoid(logit)`` is P(fake). A spec declares
its input size and normalisation so that the crop stage and the tensor conversion adapt.
"""

from __future__ import annotations

import inspect
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
