"""Start a torchvision or timm backbone from pretrained weights, never hanging offline.

``pretrained`` (the argument of every builder that takes one, and of
``build_model(name, pretrained=...)``) is one of:

- ``None``: random initialisation (train from scratch).
- ``"imagenet"``: the ImageNet weights of the architecture. They are looked up in the torch
  hub cache first (``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``,
  the folder torchvision itself uses); only when absent are they downloaded, with a short
  network timeout. Offline without them, a ``ValueError`` says which file to fetch and where
  to put it. No model hub is contacted at scan time: scanning loads our own trained weights.
- the path of a local checkpoint file: ``.safetensors``, or a ``torch.save`` file read with
  ``weights_only=True`` (a plain state dict, or one under a ``state_dict`` or ``model`` key).
  Either the architecture's ImageNet checkpoint (its 1000-class head is dropped) or a
  checkpoint of the same registered model (e.g. our own ``.safetensors``), to fine-tune from.

Every backbone layer of the model must be found in the checkpoint with the same shape (an
RGB first convolution is summed to one channel for grayscale models); only the
classification head may be missing. Anything else is a ``ValueError``, never a silent
partial load.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from forensics.media.storage import hashed_copy

IMAGENET = "imagenet"
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's ImageNet normalisation, RGB in [0, 1]
IMAGENET_STD = (0.229, 0.224, 0.225)
CONNECT_TIMEOUT_S = 10.0  # name lookup, connection and each read of a download
StateDict = dict[str, torch.Tensor]


class OneLogit(nn.Module):
    """A classifier whose head has one output, returning (N,) logits instead of (N, 1).

    ``net`` keeps the library's module names, so that its state dict matches the library's
    checkpoints once the ``net.`` prefix is taken off.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def torchvision_urls(weights_enum) -> list[str]:
    """Download addresses of a torchvision weights enum (e.g. ``ResNet50_Weights``), DEFAULT first."""
    return [weights_enum.DEFAULT.url] + [w.url for w in weights_enum if w is not weights_enum.DEFAULT]


def hub_checkpoint_dir() -> Path:
    """The torch hub checkpoint folder (``$TORCH_HOME/hub/checkpoints`` by default)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _fetch_help(url: str, target: Path) -> str:
    return (f"download {url} on a machine with network access and either put it at {target} "
            f"or pass its path: --pretrained /path/to/{target.name} (pretrained='/path/to/file' in Python); "
            "or train from scratch without --pretrained")


def _resolve_host(host: str, timeout_s: float) -> None:
    """Resolve ``host`` within ``timeout_s`` (a name lookup has no timeout of its own); the
    lookup runs on a daemon thread so that a stuck resolver cannot hold the process."""
    outcome: list[BaseException | None] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, 443)
            outcome.append(None)
        except BaseException as exc:  # handed to the caller
            outcome.append(exc)

    thread = threading.Thread(target=lookup, name="forensics-dns", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not outcome:
        raise OSError(f"looking up {host} took more than {timeout_s:.0f} s")
    if outcome[0] is not None:
        raise OSError(f"cannot look up {host}: {outcome[0]}")


def download(url: str, target: Path, timeout_s: float = CONNECT_TIMEOUT_S) -> Path:
    """Download ``url`` to ``target`` (via a temporary file), checking a torch-hub style
    sha256 prefix in the file name (``name-<hex>.pth``) when there is one.

    Raises:
        OSError: no network, a timeout (``timeout_s`` for the name lookup, the connection
            and each read), or a hash mismatch.
    """
    _resolve_host(urllib.parse.urlparse(url).hostname or "", timeout_s)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".partial")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(tmp, "wb") as f:
            digest, _ = hashed_copy(response, f)
        prefix = torch.hub.HASH_REGEX.search(target.name)
        if prefix and not digest.startswith(prefix.group(1)):
            raise OSError(f"sha256 of the download of {url} does not start with {prefix.group(1)}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def imagenet_checkpoint(urls: Sequence[str], filename: str | None = None,
                        timeout_s: float = CONNECT_TIMEOUT_S) -> Path:
    """The local file of an ImageNet checkpoint: the first of ``urls`` already in the torch
    hub cache, else the first one, downloaded there.

    Args:
        urls: download addresses, preferred first (e.g. every torchvision weights version).
        filename: name in the cache when the URL's last part is not unique (hub files).
        timeout_s: network timeout, seconds (default 10).

    Raises:
        ValueError: not cached and cannot be downloaded; the message says how to provide it.
    """
    folder = hub_checkpoint_dir()
    names = [filename or os.path.basename(urllib.parse.urlparse(u).path) for u in urls]
    for name in names:
        if (folder / name).is_file():
            return folder / name
    target = folder / names[0]
    try:
        return download(urls[0], target, timeout_s)
    except (OSError, urllib.error.URLError) as exc:
        raise ValueError(f"ImageNet weights are not in the torch hub cache ({target}) and cannot be "
                         f"downloaded ({exc}); {_fetch_help(urls[0], target)}") from None


def read_state_dict(path: str | os.PathLike[str]) -> StateDict:
    """Tensors of a checkpoint file without executing code: safetensors, or ``torch.load``
    with ``weights_only=True``; a ``state_dict``/``model`` entry is unwrapped and a
    ``module.`` (DataParallel) prefix removed.

    Raises:
        ValueError: the file is missing or is not a readable checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"pretrained checkpoint {path} is not a file; pretrained takes "
                         f"'{IMAGENET}', the path of a checkpoint file, or nothing (train from scratch)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # safetensors, pickle and zip errors have no common base
        raise ValueError(f"cannot read pretrained checkpoint {path}: {exc}") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors")
    return {re.sub(r"^module\.", "", k): v for k, v in state.items()}


def load_backbone(net: nn.Module, state: Mapping[str, torch.Tensor], head: Sequence[str],
                  source: str = "checkpoint") -> nn.Module:
    """Load ``state`` into ``net``, keeping ``net``'s own head where the checkpoint's does not fit.

    Args:
        net: the library module (without the :class:`OneLogit` wrapper).
        state: its checkpoint; keys may carry our ``net.`` prefix.
        head: key prefixes of the classification head (e.g. ``["fc."]``), which may be absent
            or of another shape (a 1000-class ImageNet head).
        source: what the state is, for error messages.

    Raises:
        ValueError: a backbone tensor is missing, unexpected or of another shape.
    """
    own = net.state_dict()
    state = {re.sub(r"^net\.", "", k): v for k, v in state.items()}
    in_head = lambda key: any(key.startswith(p) for p in head)  # noqa: E731
    usable: StateDict = {}
    problems = []
    for key, value in state.items():
        if key not in own:
            if not in_head(key):
                problems.append(f"unexpected {key}")
            continue
        want = own[key].shape
        if value.shape != want and value.ndim == 4 and want[1] == 1 and value.shape[1] == 3 \
                and value.shape[0] == want[0] and value.shape[2:] == want[2:]:
            value = value.sum(dim=1, keepdim=True)  # RGB first convolution -> one grey channel
        if value.shape != want:
            if not in_head(key):
                problems.append(f"{key} has shape {tuple(value.shape)}, the model {tuple(want)}")
            continue
        usable[key] = value
    # old checkpoints (torchvision's DenseNet) predate BatchNorm's num_batches_tracked counter
    missing = [k for k in own if k not in usable and not in_head(k) and not k.endswith("num_batches_tracked")]
    problems += [f"missing {k}" for k in missing]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ValueError(f"{source} does not fit this architecture: {shown}")
    net.load_state_dict(usable, strict=False)
    return net


def init_pretrained(
    net: nn.Module,
    pretrained: str | None,
    *,
    imagenet_urls: Sequence[str],
    head: Sequence[str],
    imagenet_filename: str | None = None,
    remap: Callable[[StateDict], StateDict] | None = None,
) -> nn.Module:
    """Initialise a library backbone from ``pretrained`` (see the module doc); the one place
    where every torchvision and timm builder gets its pretrained weights.

    Args:
        net: the library module, its head already replaced by a one-output layer.
        pretrained: None, ``"imagenet"`` or a checkpoint path.
        imagenet_urls: where the ImageNet checkpoint can be downloaded, preferred first.
        head: key prefixes of the head, which the checkpoint need not fill.
        imagenet_filename: its name in the torch hub cache, when not the URL's last part.
        remap: rewrites checkpoint keys of an older layout (torchvision's DenseNet).

    Raises:
        ValueError: weights not found (with how to provide them) or not fitting.
    """
    if pretrained is None:
        return net
    if pretrained == IMAGENET:
        if not imagenet_urls:
            raise ValueError("no ImageNet weights are known for this architecture")
        path = imagenet_checkpoint(imagenet_urls, imagenet_filename)
    else:
        path = Path(pretrained).expanduser()
    state = read_state_dict(path)
    if remap is not None:
        state = remap(state)
    return load_backbone(net, state, head, source=str(path))


def timm_model(model: str, names: Sequence[str], pretrained: str | None,
               remap: Callable[[StateDict, list[str]], StateDict] | None = None) -> nn.Module:
    """Build the first of timm's ``names`` that this timm knows, with one output, initialised
    from ``pretrained`` (see the module doc), wrapped in :class:`OneLogit`.

    ImageNet weights come from the ``url`` of timm's ``pretrained_cfg`` or, for weights on the
    Hugging Face hub, that hub's file address; both through the torch hub cache
    (:func:`imagenet_checkpoint`).

    Args:
        model: our registry name, for error messages.
        remap: rewrites checkpoint keys of another layout, given the module's own keys in order.
    """
    try:
        import timm
    except ImportError:
        raise ValueError(f"model {model!r} needs timm, a dependency of forensics that is missing "
                         "here: pip install 'timm>=0.9'") from None
    name = next((n for n in names if timm.is_model(n)), names[-1])
    net = timm.create_model(name, pretrained=False, num_classes=1)
    # timm's EfficientNets draw a head of one output uniformly from ±1 (their init scales by
    # 1/sqrt(outputs)): logits near ±10 from the first step, whose gradients scramble the
    # pretrained backbone. PyTorch's default (±1/sqrt(inputs)) starts them near 0.
    net.get_classifier().reset_parameters()
    cfg = dict(net.pretrained_cfg)
    url, filename = cfg.get("url") or "", None
    if not url and cfg.get("hf_hub_id"):
        hub_id = cfg["hf_hub_id"]
        url = f"https://huggingface.co/{hub_id}/resolve/main/model.safetensors"
        filename = f"{hub_id.replace('/', '--')}.safetensors"
    head = [f"{cfg.get('classifier', 'fc')}."]
    own_keys = list(net.state_dict())
    init_pretrained(net, pretrained, imagenet_urls=[url] if url else [], head=head, imagenet_filename=filename,
                    remap=None if remap is None else (lambda state: remap(state, own_keys)))
    return OneLogit(net)


def freeze_stages(model: nn.Module, stages: int) -> int:
    """Stop training the stem and the first ``stages`` stages of a timm EfficientNet (their
    parameters no longer take gradients, so the backward pass stops before them: on a CPU the
    high-resolution early layers cost most of a step); returns how many parameters froze.
    Their batch-norm statistics still follow the training data.

    Raises:
        ValueError: a model without such stages (only the timm EfficientNets have them), or
            ``stages`` beyond their number.
    """
    net = getattr(model, "net", model)
    blocks = getattr(net, "blocks", None)
    if blocks is None or not hasattr(net, "conv_stem"):
        raise ValueError("freezing stages needs a timm EfficientNet (efficientnet-lite0, efficientnet-lite2, ...)")
    if not 0 <= stages <= len(blocks):
        raise ValueError(f"this network has {len(blocks)} stages; cannot freeze {stages}")
    if stages == 0:
        return 0
    frozen = [net.conv_stem, net.bn1, *blocks[:stages]]
    count = 0
    for module in frozen:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
            count += parameter.numel()
    return count
