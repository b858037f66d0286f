"""Xception and Inception-ResNet-v2 (timm) with a one-logit head, at their native 299x299.

Founding-paper figures to compare with: Xception reached 0.91 accuracy and
Inception-ResNet-v2 0.93 on real-vs-fake faces. (Xception is also FaceForensics++'s
reference detector.)

Both come from timm. Inputs: RGB scaled to [0, 1] and normalised with mean 0.5 and
std 0.5 per channel (timm's ``pretrained_cfg`` for both, i.e. pixels in [-1, 1]).
"""

from __future__ import annotations

from torch import nn

from forensics.models.pretrained import timm_model
from forensics.models.registry import register_model

INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)


@register_model(
    "xception",
    input_size=299,
    mean=INCEPTION_MEAN,
    std=INCEPTION_STD,
    description="Xception (timm legacy_xception), 1-logit head, 299x299, [-1,1] input",
)
def xception(pretrained: str | None = None) -> nn.Module:
    """Xception: (N, 3, 299, 299) -> (N,) logits; ``pretrained`` as in :mod:`forensics.models.pretrained`."""
    return timm_model("xception", ("legacy_xception", "xception"), pretrained)


@register_model(
    "inception-resnet-v2",
    input_size=299,
    mean=INCEPTION_MEAN,
    std=INCEPTION_STD,
    description="Inception-ResNet-v2 (timm), 1-logit head, 299x299, [-1,1] input",
)
def inception_resnet_v2(pretrained: str | None = None) -> nn.Module:
    """Inception-ResNet-v2: (N, 3, 299, 299) -> (N,) logits; ``pretrained`` as in
    :mod:`forensics.models.pretrained`."""
    return timm_model("inception-resnet-v2", ("inception_resnet_v2",), pretrained)
