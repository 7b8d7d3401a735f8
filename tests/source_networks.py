"""Independent re-statements of the TANet networks whose checkpoints the converter reads.

Written from the paper and the authors' published description (not from the authors' or mmaction2's code, and
without any tanet_hf module), with the module structure — hence the state-dict key names — of each published layout:

- `ReleaseTSN`: the authors' release. A torchvision-style ResNet `base_model` whose blocks are wrapped as
  `layerX.Y.net` (the plain bottleneck) + `layerX.Y.tam`, a `new_fc` classifier, saved under DataParallel's
  `module.` prefix; `legacy=True` renames TAM's branches to the older `self_conv.conv_f` / `self_conv.conv_g`.
- `MMRecognizer`: mmaction2. `backbone` with conv+bn(+relu) units named `conv`/`bn`, blocks wrapped as
  `layerX.Y.block` + `layerX.Y.tam`, and `cls_head.fc_cls`.

TAM here is computed literally from the paper, frame by frame: Y[t] = Σ_k Θ_k · V[t+k-1] · X[t+k-1] with zero
padding — a third formulation, independent of both tanet_hf's fused one and the release's grouped convolution.
All forwards take `(B, T, 3, H, W)` and return clip logits `(B, classes)` (frame logits averaged over T).
"""

from __future__ import annotations

import math

import torch
from torch import nn

TINY = dict(stem=8, planes=(4, 8, 16, 32), depths=(1, 2, 1, 1))
RESNET50 = dict(stem=64, planes=(64, 128, 256, 512), depths=(3, 4, 6, 3))


class PaperTAM(nn.Module):
    """TAM (α = 2, β = 4, K = 3): global branch G → kernel Θ, local branch L → importance map V."""

    def __init__(self, channels: int, num_frames: int, alpha: int = 2, beta: int = 4, kernel_size: int = 3):
        super().__init__()
        self.num_frames, self.kernel_size = num_frames, kernel_size
        self.G = nn.Sequential(
            nn.Linear(num_frames, alpha * num_frames, bias=False),
            nn.BatchNorm1d(alpha * num_frames),
            nn.ReLU(),
            nn.Linear(alpha * num_frames, kernel_size, bias=False),
            nn.Softmax(dim=-1),
        )
        self.L = nn.Sequential(
            nn.Conv1d(channels, channels // beta, 3, padding=1, bias=False),
            nn.BatchNorm1d(channels // beta),
            nn.ReLU(),
            nn.Conv1d(channels // beta, channels, 1, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N*T, C, H, W)
        frames = self.num_frames
        clips = x.view(-1, frames, *x.shape[1:])  # (N, T, C, H, W)
        n, _, c, h, w = clips.shape
        squeezed = clips.mean(dim=(3, 4)).transpose(1, 2)  # (N, C, T)
        theta = self.G(squeezed.reshape(n * c, frames)).view(n, c, self.kernel_size)
        importance = self.L(squeezed)  # (N, C, T)
        outputs = []
        for t in range(frames):
            y = torch.zeros(n, c, h, w, dtype=x.dtype)
            for k in range(self.kernel_size):
                s = t + k - self.kernel_size // 2
                if 0 <= s < frames:
                    y = y + (theta[:, :, k] * importance[:, :, s])[:, :, None, None] * clips[:, s]
            outputs.append(y)
        return torch.stack(outputs, dim=1).reshape(x.shape)


# ---------------------------------------------------------------- the authors' release (torchvision ResNet + TSN)


class TorchvisionBottleneck(nn.Module):
    def __init__(self, in_channels: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or in_channels != planes * 4:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, planes * 4, 1, stride=stride, bias=False), nn.BatchNorm2d(planes * 4)
            )


class ReleaseBlock(nn.Module):
    """`net` (the torchvision bottleneck) + `tam`, TAM after conv1 → bn1 → relu (TANet-b)."""

    def __init__(self, net: TorchvisionBottleneck, num_frames: int):
        super().__init__()
        self.net = net
        self.tam = PaperTAM(net.conv1.out_channels, num_frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.net
        out = self.tam(net.relu(net.bn1(net.conv1(x))))
        out = net.relu(net.bn2(net.conv2(out)))
        out = net.bn3(net.conv3(out))
        identity = net.downsample(x) if net.downsample is not None else x
        return net.relu(out + identity)


class ReleaseResNet(nn.Module):
    def __init__(self, stem: int, planes: tuple, depths: tuple, num_frames: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_channels = stem
        for i, (width, depth) in enumerate(zip(planes, depths)):
            blocks = []
            for j in range(depth):
                blocks.append(
                    ReleaseBlock(TorchvisionBottleneck(in_channels, width, 2 if i and not j else 1), num_frames)
                )
                in_channels = width * 4
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Dropout(0.5)  # the release replaces torchvision's fc by dropout and adds new_fc
        self.out_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(self.avgpool(x).flatten(1))


class ReleaseTSN(nn.Module):
    def __init__(self, num_frames: int, num_classes: int, stem: int, planes: tuple, depths: tuple):
        super().__init__()
        self.num_frames = num_frames
        self.base_model = ReleaseResNet(stem, planes, depths, num_frames)
        self.new_fc = nn.Linear(self.base_model.out_channels, num_classes)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        b = clips.shape[0]
        frame_logits = self.new_fc(self.base_model(clips.flatten(0, 1)))
        return frame_logits.view(b, self.num_frames, -1).mean(dim=1)

    def checkpoint(self, legacy: bool = False) -> dict:
        """`ckpt.best.pth.tar` contents: DataParallel keys, optional pre-rename TAM names, training metadata."""
        state = {}
        for key, value in self.state_dict().items():
            if legacy:
                key = key.replace("tam.G.", "self_conv.conv_f.").replace("tam.L.", "self_conv.conv_g.")
            state["module." + key] = value
        return {
            "epoch": 100,
            "arch": "resnet50",
            "state_dict": state,
            "optimizer": {"state": {}, "param_groups": []},
            "best_prec1": 76.1,
        }


# ---------------------------------------------------------------- mmaction2 (ConvModule units, TABlock, TSMHead)


class ConvModule(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.activate = nn.ReLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.bn(self.conv(x)))


class MMBottleneck(nn.Module):
    def __init__(self, in_channels: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = ConvModule(in_channels, planes, 1)
        self.conv2 = ConvModule(planes, planes, 3, stride=stride)
        self.conv3 = ConvModule(planes, planes * 4, 1, act=False)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or in_channels != planes * 4:
            self.downsample = ConvModule(in_channels, planes * 4, 1, stride=stride, act=False)


class MMTABlock(nn.Module):
    def __init__(self, block: MMBottleneck, num_frames: int):
        super().__init__()
        self.block = block
        self.tam = PaperTAM(block.conv1.conv.out_channels, num_frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        block = self.block
        out = block.conv3(block.conv2(self.tam(block.conv1(x))))
        identity = block.downsample(x) if block.downsample is not None else x
        return block.relu(out + identity)


class MMBackbone(nn.Module):
    def __init__(self, stem: int, planes: tuple, depths: tuple, num_frames: int):
        super().__init__()
        self.conv1 = ConvModule(3, stem, 7, stride=2)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_channels = stem
        for i, (width, depth) in enumerate(zip(planes, depths)):
            blocks = []
            for j in range(depth):
                blocks.append(MMTABlock(MMBottleneck(in_channels, width, 2 if i and not j else 1), num_frames))
                in_channels = width * 4
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.out_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return x


class MMHead(nn.Module):
    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.fc_cls = nn.Linear(in_channels, num_classes)


class MMRecognizer(nn.Module):
    def __init__(self, num_frames: int, num_classes: int, stem: int, planes: tuple, depths: tuple):
        super().__init__()
        self.num_frames = num_frames
        self.backbone = MMBackbone(stem, planes, depths, num_frames)
        self.cls_head = MMHead(self.backbone.out_channels, num_classes)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        b = clips.shape[0]
        features = self.backbone(clips.flatten(0, 1)).mean(dim=(2, 3))
        return self.cls_head.fc_cls(features).view(b, self.num_frames, -1).mean(dim=1)

    def checkpoint(self) -> dict:
        return {
            "meta": {"epoch": 50, "mmengine_version": "0.8.0", "dataset_meta": None},
            "state_dict": self.state_dict(),
        }


# ---------------------------------------------------------------- helpers


@torch.no_grad()
def randomize_(module: nn.Module, seed: int) -> nn.Module:
    """Random weights and BatchNorm statistics of sensible scale (so eval-mode BN is not the identity)."""
    generator = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * math.sqrt(1.0 / fan_in))
            if m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=generator) * 0.1)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.weight.copy_(torch.rand(m.weight.shape, generator=generator) + 0.5)
            m.bias.copy_(torch.randn(m.bias.shape, generator=generator) * 0.1)
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=generator) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=generator) + 0.5)
            m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=generator)))
    return module.eval()
