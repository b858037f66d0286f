"""EfficientNet B0 to B4 (torchvision) with a one-logit head, each at its native resolution.

Native input sizes (Tan & Le, 2019): B0 224, B1 240, B2 260, B3 300, B4 380 pixels; RGB scaled
to [0, 1] and normalised with the ImageNet mean and std. EfficientNets are the backbone of
the DFDC winner's detector (B7 there); B0-B4 fit a laptop.
"""

from __future__ import annotations

from typing import Callable

from torch import nn
from torchvision import models as tvm

from forensics.models.pretrained import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    OneLogit,
    init_pretrained,
    torchvision_urls,
)
from forensics.models.registry import register_model

INPUT_SIZES = {"b0": 224, "b1": 240, "b2": 260, "b3": 300, "b4": 380}


def _efficientnet(variant: str, pretrained: str | None) -> nn.Module:
    net = getattr(tvm, f"efficientnet_{variant}")(weights=None)
    linear = net.classifier[1]
    net.classifier[1] = nn.Linear(linear.in_features, 1)
    weights_enum = getattr(tvm, f"EfficientNet_{variant.upper()}_Weights")
    init_pretrained(net, pretrained, imagenet_urls=torchvision_urls(weights_enum), head=["classifier."])
    return OneLogit(net)


def _register(variant: str, size: int) -> Callable[..., nn.Module]:
    @register_model(
        f"efficientnet-{variant}",
        input_size=size,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        description=f"EfficientNet-{variant.upper()} (torchvision), 1-logit head, {size}x{size}, "
                    "ImageNet normalisation; --pretrained imagenet|FILE",
    )
    def builder(pretrained: str | None = None) -> nn.Module:
        return _efficientnet(variant, pretrained)

    builder.__name__ = builder.__qualname__ = f"efficientnet_{variant}"
    builder.__doc__ = (f"EfficientNet-{variant.upper()}: (N, 3, {size}, {size}) -> (N,) logits; "
                       "``pretrained`` as in :mod:`forensics.models.pretrained`.")
    return builder


efficientnet_b0, efficientnet_b1, efficientnet_b2, efficientnet_b3, efficientnet_b4 = (
    _register(v, s) for v, s in INPUT_SIZES.items()
)
