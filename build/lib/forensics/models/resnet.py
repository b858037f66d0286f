"""ResNet50 (torchvision) with a one-logit head.

Founding-paper figure to compare with: ResNet50 reached 0.71 accuracy on real-vs-fake faces,
the weakest of the architectures tried (a deep ImageNet network fine-tuned on small face
sets); the CNNs designed for the task did better.

Input: 224x224 RGB scaled to [0, 1] and normalised with the ImageNet mean and std.
"""

from __future__ import annotations

from torch import nn
from torchvision.models import ResNet50_Weights
from torchvision.models import resnet50 as tv_resnet50

from forensics.models.pretrained import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    OneLogit,
    init_pretrained,
    torchvision_urls,
)
from forensics.models.registry import register_model


@register_model(
    "resnet50",
    input_size=224,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    description="ResNet50 (torchvision), 1-logit head, 224x224, ImageNet normalisation; --pretrained imagenet|FILE",
)
def resnet50(pretrained: str | None = None) -> nn.Module:
    """ResNet50, ``fc`` replaced by ``Linear(2048, 1)``: (N, 3, 224, 224) -> (N,) logits.

    Args:
        pretrained: None (random init), ``"imagenet"`` (torchvision's IMAGENET1K_V2, or V1 if
            that is the one in the torch hub cache) or a checkpoint file; see
            :mod:`forensics.models.pretrained`.
    """
    net = tv_resnet50(weights=None)
    net.fc = nn.Linear(net.fc.in_features, 1)
    init_pretrained(net, pretrained, imagenet_urls=torchvision_urls(ResNet50_Weights), head=["fc."])
    return OneLogit(net)
