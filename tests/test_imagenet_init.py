"""ImageNet initialisation: torchvision / timm / transformers ResNet weights load 1:1 into TANet's ResNet part.

With `temporal_module="none"` (C2D) the network is exactly the ResNet applied per frame, so every frame's pooled
feature must equal the source ResNet's pooled feature on that frame.
"""

from __future__ import annotations

import pickle

import pytest
import torch
from source_networks import randomize_

from tanet_hf import TANetConfig, TANetForVideoClassification, TANetModel
from tanet_hf.conversion.state_dict import CheckpointError, load_imagenet_resnet

FRAMES = 2


def _frames_and_clip(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    clip = torch.randn(1, FRAMES, 3, 64, 64, generator=torch.Generator().manual_seed(seed))
    return clip[0], clip


def _c2d(**overrides) -> TANetForVideoClassification:
    return TANetForVideoClassification(
        TANetConfig(temporal_module="none", num_frames=FRAMES, num_labels=5, **overrides)
    ).eval()


@torch.no_grad()
def test_torchvision_resnet50_features_equal_per_frame():
    from torchvision.models import resnet50

    source = randomize_(resnet50(weights=None), seed=1)
    model = _c2d()
    report = load_imagenet_resnet(model, source.state_dict())

    assert report["layout"] == "torchvision"
    assert report["unexpected"] == [] and report["mismatched"] == []
    assert sorted(report["ignored"]) == ["fc.bias", "fc.weight"]
    assert sorted(report["missing"]) == ["classifier.bias", "classifier.weight"]
    assert len(report["loaded"]) == len(source.state_dict()) - 2

    frames, clip = _frames_and_clip()
    source.fc = torch.nn.Identity()
    expected = source(frames)  # (T, 2048)
    features = model.tanet(clip).frame_features[0]  # (T, 2048)
    torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_timm_resnet50_safetensors_file(tmp_path):
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    source = randomize_(timm.create_model("resnet50", pretrained=False), seed=2)
    path = tmp_path / "model.safetensors"  # how timm checkpoints are published on the Hub
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, path)

    model = _c2d()
    report = load_imagenet_resnet(model, path)
    assert report["layout"] == "torchvision" and report["unexpected"] == []

    frames, clip = _frames_and_clip(1)
    expected = source.forward_head(source.forward_features(frames), pre_logits=True)
    torch.testing.assert_close(model.tanet(clip).frame_features[0], expected, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_transformers_resnet50_folder(tmp_path):
    from transformers import ResNetConfig, ResNetForImageClassification

    source = randomize_(ResNetForImageClassification(ResNetConfig(num_labels=10)), seed=3)  # microsoft/resnet-50 layout
    source.save_pretrained(tmp_path / "resnet-50")

    model = _c2d()
    report = load_imagenet_resnet(model, tmp_path / "resnet-50")
    assert report["layout"] == "hf"
    assert sorted(report["ignored"]) == ["classifier.1.bias", "classifier.1.weight"]
    assert report["unexpected"] == []

    frames, clip = _frames_and_clip(2)
    expected = source.resnet(frames).pooler_output.flatten(1)
    torch.testing.assert_close(model.tanet(clip).frame_features[0], expected, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_tanet_gets_backbone_and_keeps_tam_initialised():
    """Into a TANet (not C2D) the ResNet tensors load and exactly TAM + the video classifier stay as initialised."""
    from torchvision.models import resnet18

    source = randomize_(resnet18(weights=None), seed=4)
    model = TANetModel(
        TANetConfig(layer_type="basic", hidden_sizes=[64, 128, 256, 512], depths=[2, 2, 2, 2], num_frames=4)
    )
    tam_before = {k: v.clone() for k, v in model.state_dict().items() if ".tam." in k}
    report = load_imagenet_resnet(model, source.state_dict())

    assert sorted(report["missing"]) == sorted(k for k in tam_before if not k.endswith("num_batches_tracked"))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in tam_before.items())
    torch.testing.assert_close(model.embedder.convolution.weight, source.conv1.weight, rtol=0, atol=0)
    torch.testing.assert_close(
        model.encoder.stages[3].layers[1].bn2.running_var, source.layer4[1].bn2.running_var, rtol=0, atol=0
    )


def test_mismatched_architectures_fail_by_name():
    from torchvision.models import resnet18, resnet50

    with pytest.raises(
        CheckpointError, match=r"encoder\.stages\.0\.layers\.0\.conv1\.weight.*checkpoint \(64, 64, 3, 3\)"
    ):
        load_imagenet_resnet(_c2d(), resnet18(weights=None).state_dict())  # basic-block weights into a bottleneck model
    with pytest.raises(CheckpointError, match=r"missing \[.*encoder\.stages\.2\.layers\.6\.conv1\.weight"):
        load_imagenet_resnet(_c2d(depths=[3, 4, 23, 3]), resnet50(weights=None).state_dict())  # R50 into R101
    partial = _c2d(depths=[3, 4, 23, 3])
    report = load_imagenet_resnet(partial, resnet50(weights=None).state_dict(), strict=False)
    assert "tanet.encoder.stages.2.layers.22.conv3.weight" in report["missing"]


def test_refuses_pickled_code(tmp_path):
    class NotATensor:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "resnet50.pth"
    with open(path, "wb") as handle:
        torch.save({"conv1.weight": torch.zeros(1), "extra": NotATensor()}, handle, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="refusing to load"):
        load_imagenet_resnet(_c2d(), path)
    with pytest.raises(CheckpointError, match="nor of transformers"):
        load_imagenet_resnet(_c2d(), {"weight": torch.zeros(1)})
