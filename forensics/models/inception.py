"""Xception and Inception-ResNet-v2 (timm) with a one-logit head, at their native 299x299.

Founding-paper figures to compare with: Xception reached 0.91 accuracy and
Inception-ResNet-v2 0.93 on real-vs-fake faces. (Xception is also FaceForensics++'s
reference detector.)

Both need timm, an optional dependency: ``pip install -e ".[heavy]"``. They are registered
(and listed by ``forensics models``) without it; building one without timm raises a
``ValueError`` naming the extra. Inputs: RGB scaled to [0, 1] and normalised with mean 0.5 and
std 0.5 per channel (timm's ``pretrained_cfg`` for both, i.e. pixels in [-1, 1]).
"""

from __future__ import annotations

from types import ModuleType

from torch import nn

from forensics.models.pretrained import OneLogit, init_pretrained
from forensics.models.registry import register_model

HEAVY_EXTRA = 'pip install -e ".[heavy]"'
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)


def _timm(model: str) -> ModuleType:
    try:
        import timm
    except ImportError:
        raise ValueError(f"model {model!r} needs timm, an optional dependency: {HEAVY_EXTRA} "
                         "(or pip install 'timm>=0.9')") from None
    return timm


def _timm_model(model: str, names: tuple[str, ...], pretrained: str | None) -> nn.Module:
    """Build the first of ``names`` that this timm knows, with one output, and initialise it.

    ImageNet weights come from the ``url`` of timm's ``pretrained_cfg`` or, for weights on the
    Hugging Face hub, that hub's file address; both through the torch hub cache
    (:func:`forensics.models.pretrained.imagenet_checkpoint`).
    """
    timm = _timm(model)
    name = next((n for n in names if timm.is_model(n)), names[-1])
    net = timm.create_model(name, pretrained=False, num_classes=1)
    cfg = dict(net.pretrained_cfg)
    url, filename = cfg.get("url") or "", None
    if not url and cfg.get("hf_hub_id"):
        hub_id = cfg["hf_hub_id"]
        url = f"https://huggingface.co/{hub_id}/resolve/main/model.safetensors"
        filename = f"{hub_id.replace('/', '--')}.safetensors"
    head = [f"{cfg.get('classifier', 'fc')}."]
    init_pretrained(net, pretrained, imagenet_urls=[url] if url else [], head=head, imagenet_filename=filename)
    return OneLogit(net)


@register_model(
    "xception",
    input_size=299,
    mean=INCEPTION_MEAN,
    std=INCEPTION_STD,
    description="Xception (timm legacy_xception), 1-logit head, 299x299, [-1,1] input; needs timm (extra: heavy)",
)
def xception(pretrained: str | None = None) -> nn.Module:
    """Xception: (N, 3, 299, 299) -> (N,) logits; ``pretrained`` as in :mod:`forensics.models.pretrained`."""
    return _timm_model("xception", ("legacy_xception", "xception"), pretrained)


@register_model(
    "inception-resnet-v2",
    input_size=299,
    mean=INCEPTION_MEAN,
    std=INCEPTION_STD,
    description="Inception-ResNet-v2 (timm), 1-logit head, 299x299, [-1,1] input; needs timm (extra: heavy)",
)
def inception_resnet_v2(pretrained: str | None = None) -> nn.Module:
    """Inception-ResNet-v2: (N, 3, 299, 299) -> (N,) logits; ``pretrained`` as in
    :mod:`forensics.models.pretrained`."""
    return _timm_model("inception-resnet-v2", ("inception_resnet_v2",), pretrained)
