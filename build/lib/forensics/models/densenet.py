"""DenseNet121 (torchvision) with a one-logit head, in RGB and in grayscale.

Founding-paper figures to compare with: DenseNet121 reached 0.97 accuracy; trained on
grayscale faces it reached 0.98 accuracy and 0.998 ROC AUC, the best of the architectures.

Inputs: 224x224 scaled to [0, 1]; ``densenet121`` takes RGB normalised with the ImageNet mean
and std, ``densenet121-gray`` one luminance channel (0.299 R + 0.587 G + 0.114 B, made by
:func:`forensics.models.registry.crops_to_tensor`) normalised with the luminance of those statistics.
"""

from __future__ import annotations

import re

from torch import nn
from torchvision.models import DenseNet121_Weights
from torchvision.models import densenet121 as tv_densenet121

from forensics.models.pretrained import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    OneLogit,
    StateDict,
    init_pretrained,
    torchvision_urls,
)
from forensics.models.registry import register_model

# luminance of the ImageNet statistics: 0.299, 0.587, 0.114 weights of R, G, B
GRAY_MEAN = (0.449,)
GRAY_STD = (0.226,)

# torchvision's DenseNet checkpoints name layers "norm.1"; the modules are now "norm1"
_OLD_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def _remap(state: StateDict) -> StateDict:
    """Rename the old ``denselayerN.norm.1`` keys of torchvision's checkpoints (as torchvision does)."""
    out = {}
    for key, value in state.items():
        match = _OLD_KEY.match(key)
        out[match.group(1) + match.group(2) if match else key] = value
    return out


def _densenet121(channels: int, pretrained: str | None) -> nn.Module:
    net = tv_densenet121(weights=None)
    if channels != 3:
        old = net.features.conv0
        net.features.conv0 = nn.Conv2d(channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False)
        nn.init.kaiming_normal_(net.features.conv0.weight)
    net.classifier = nn.Linear(net.classifier.in_features, 1)
    init_pretrained(net, pretrained, imagenet_urls=torchvision_urls(DenseNet121_Weights), head=["classifier."], remap=_remap)
    return OneLogit(net)


@register_model(
    "densenet121",
    input_size=224,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    description="DenseNet121 (torchvision), 1-logit head, 224x224 RGB, ImageNet normalisation; --pretrained imagenet|FILE",
)
def densenet121(pretrained: str | None = None) -> nn.Module:
    """DenseNet121: (N, 3, 224, 224) -> (N,) logits; ``pretrained`` as in :mod:`forensics.models.pretrained`."""
    return _densenet121(3, pretrained)


@register_model(
    "densenet121-gray",
    input_size=224,
    mean=GRAY_MEAN,
    std=GRAY_STD,
    grayscale=True,
    description="DenseNet121 on one grayscale channel, 224x224; --pretrained imagenet|FILE (RGB conv summed to grey)",
)
def densenet121_gray(pretrained: str | None = None) -> nn.Module:
    """DenseNet121 whose first convolution takes one grey channel: (N, 1, 224, 224) -> (N,) logits.

    With ImageNet weights the first convolution's RGB kernels are summed over the channels.
    """
    return _densenet121(1, pretrained)
