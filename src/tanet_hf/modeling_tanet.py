# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""PyTorch TANet: a 2D ResNet with Temporal Adaptive Modules (Liu et al., ICCV 2021).

Shapes used throughout: `B` clips (batch), `V` views per clip, `T` frames per clip (`config.num_frames`), `C`
channels, `H × W` spatial size. Frames of one clip are contiguous along the flattened `B*T` axis, as in the
authors' release, so every 2D layer runs on `(B*T, C, H, W)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import ModelOutput, can_return_tuple

from .configuration_tanet import TANetConfig


@dataclass
class TANetModelOutput(ModelOutput):
    """
    Output of [`TANetModel`].

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(B*V, T, C, h, w)`):
            Feature map of the last stage for every frame (`V = 1` for 5D input).
        pooler_output (`torch.FloatTensor` of shape `(B, C)`):
            Clip feature: spatial mean per frame, then mean over frames (and over views for 6D input).
        frame_features (`torch.FloatTensor` of shape `(B*V, T, C)`):
            Spatially pooled feature of every frame, what the release's classifier sees.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            With `output_hidden_states=True`: the stem's and every stage's output, each `(B*V, T, C_i, H_i, W_i)`.
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    frame_features: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class TANetVideoClassifierOutput(ModelOutput):
    """
    Output of [`TANetForVideoClassification`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            Loss on the (fused) logits when `labels` are given.
        logits (`torch.FloatTensor` of shape `(B, num_labels)`):
            Clip scores. For multi-view input these are the fused scores: the mean of the views' logits
            (`view_fusion="logits"`) or the log of the mean of their softmax (`view_fusion="softmax"`).
        view_logits (`torch.FloatTensor` of shape `(B, V, num_labels)`, *optional*):
            Every view's logits, for 6D input.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            As in [`TANetModelOutput`].
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    view_logits: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


def shift_accumulate(clips: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """
    `Y[:, t] = Σ_k weights[:, t, k] ⊙ clips[:, t + k - p]` with `p = K // 2` and zeros outside `[0, T)`.

    Args:
        clips: `(B, T, C, H, W)`, any memory format.
        weights: `(B, T, K, C)`, per-position scales, same dtype as `clips`.

    Returns:
        `(B, T, C, H, W)` in the memory format of `clips`: one multiply and `K - 1` in-place `addcmul_` on frame
        slices, so every element of `clips` is read `K` times and the output written `K` times, nothing else.
    """
    num_frames, kernel_size = clips.shape[1], weights.shape[2]
    pad = kernel_size // 2
    scales = weights[..., None, None]  # (B, T, K, C, 1, 1)
    out = clips * scales[:, :, pad]
    for k in range(kernel_size):
        shift = k - pad  # Y[t] += W[t, k] · X[t + shift]
        if shift == 0 or abs(shift) >= num_frames:
            continue
        if shift < 0:
            out[:, -shift:].addcmul_(clips[:, : num_frames + shift], scales[:, -shift:, k])
        else:
            out[:, : num_frames - shift].addcmul_(clips[:, shift:], scales[:, : num_frames - shift, k])
    return out


def transpose_shift_weights(weights: torch.Tensor) -> torch.Tensor:
    """
    Weights of the adjoint of [`shift_accumulate`]: `dX = shift_accumulate(dY, transpose_shift_weights(W))`.

    `dX[s] = Σ_k W[s - k + p, k] · dY[s - k + p]`; with `j = K - 1 - k` this is `Σ_j W'[s, j] · dY[s + j - p]` for
    `W'[s, j] = W[s + j - p, K - 1 - j]` (zero where `s + j - p` leaves `[0, T)`). `(B, T, K, C)` → `(B, T, K, C)`.
    """
    num_frames, kernel_size = weights.shape[1], weights.shape[2]
    pad = kernel_size // 2
    padded = F.pad(weights.flip(2), (0, 0, 0, 0, pad, pad))  # (B, T + 2p, K, C), reversed taps
    return torch.stack([padded[:, j : j + num_frames, j] for j in range(kernel_size)], dim=2)


def shift_correlate(grad_out: torch.Tensor, clips: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """
    Gradient of [`shift_accumulate`] with respect to its weights: `dW[b, t, k, c] = Σ_{h,w} dY[b, t, c] ⊙
    X[b, t + k - p, c]` (zero where `t + k - p` leaves `[0, T)`): one product and one spatial reduction per tap.
    `grad_out`, `clips`: `(B, T, C, H, W)` → `(B, T, K, C)`.
    """
    batch, num_frames, channels = clips.shape[:3]
    pad = kernel_size // 2
    grad_weights = clips.new_zeros(batch, num_frames, kernel_size, channels)
    for k in range(kernel_size):
        shift = k - pad
        if abs(shift) >= num_frames:
            continue
        out_frames = slice(max(0, -shift), num_frames - max(0, shift))  # t with t + shift inside the clip
        in_frames = slice(max(0, shift), num_frames + min(0, shift))
        grad_weights[:, out_frames, k] = (grad_out[:, out_frames] * clips[:, in_frames]).sum(dim=(-2, -1))
    return grad_weights


class TANetTemporalAggregation(torch.autograd.Function):
    """
    TAM's temporal aggregation `Y[:, t] = Σ_k W[:, t, k] ⊙ X[:, t + k - p]` with a hand-written backward.

    Autograd through the in-place `addcmul_` of [`shift_accumulate`] would copy the whole gradient for every
    sliced update (`CopySlices`) and materialise a broadcast product per tap; here `dX` is the same aggregation
    with transposed weights ([`transpose_shift_weights`]) and `dW` one product-and-reduce per tap
    ([`shift_correlate`]). Both are written with differentiable operations, so double backward works too.

    Inputs: `clips` `(B, T, C, H, W)` (any memory format) and `weights` `(B, T, K, C)` of the same dtype.
    Output: `(B, T, C, H, W)`.
    """

    @staticmethod
    def forward(clips: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return shift_accumulate(clips, weights)

    @staticmethod
    def setup_context(ctx, inputs: tuple[torch.Tensor, torch.Tensor], output: torch.Tensor) -> None:
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        clips, weights = ctx.saved_tensors
        grad_clips = grad_weights = None
        if ctx.needs_input_grad[0]:
            grad_clips = TANetTemporalAggregation.apply(grad_out, transpose_shift_weights(weights))
        if ctx.needs_input_grad[1]:
            grad_weights = shift_correlate(grad_out, clips, weights.shape[2])
        return grad_clips, grad_weights


class TANetTemporalAdaptiveModule(nn.Module):
    """
    Temporal Adaptive Module (paper §3, exactly as released).

    From the squeezed feature `s = mean_{H,W} X` of shape `(B, C, T)`:
    - global branch `G`: `Linear(T, αT) → BN → ReLU → Linear(αT, K) → softmax` on each `(b, c)` row gives a
      video-adaptive kernel `Θ` of shape `(B, C, K)`;
    - local branch `L`: `Conv1d(C, C/β, k) → BN → ReLU → Conv1d(C/β, C, 1) → sigmoid` gives a location-sensitive
      importance map `V` of shape `(B, C, T)`;
    - output (TANet): `Y[t] = Σ_k Θ_k · V[t+k-p] · X[t+k-p]` with `p = K // 2` and zeros outside `[0, T)`;
      TANet-R (`tam_order="global_first"`): `Y[t] = V[t] · Σ_k Θ_k · X[t+k-p]`.

    Two formulations compute this function with the same weights (`implementation`, from
    `config.tam_implementation`):

    - `"fast"` (default) works in the frame-major layout `(B, T, C, H, W)` that the network already has: the
      squeeze is a spatial sum (whose backward is a broadcast view, not a full-size tensor), both branches run as
      matrix products on the squeezed `(B, T, C)` tensor (the branch modules' weights used directly: no
      transposes, no small convolutions), `Θ` and `V` are folded into one per-position weight `W[b, t, k, c]`
      (`B·T·K·C` scalars), and [`TANetTemporalAggregation`] accumulates `K` shifted, scaled copies of `X` with a
      hand-written backward. No permutes, no contiguous copies, no grouped convolution; any memory format
      (channels-last stays channels-last), any batch size.
    - `"reference"`: the release's code path (spatial mean, the branch modules called as they are, permute to
      `(B, C, T, H, W)`, scale by `V`, grouped `conv2d` with `B·C` groups, permute back).

    Where a ReLU precedes TAM (positions b and c) the block holds a [`TANetRectifiedTAM`] instead, the unit that an
    optimised backend may replace as a whole.
    """

    def __init__(self, config: TANetConfig, channels: int):
        super().__init__()
        self.num_frames = config.num_frames
        self.kernel_size = config.tam_kernel_size
        self.local_first = config.tam_order == "local_first"
        self.implementation = config.tam_implementation
        num_frames, kernel_size = config.num_frames, config.tam_kernel_size
        self.G: nn.Sequential | None = None
        self.L: nn.Sequential | None = None
        if config.tam_branches in ("both", "global"):
            hidden = num_frames * config.tam_alpha
            self.G = nn.Sequential(
                nn.Linear(num_frames, hidden, bias=False),
                nn.BatchNorm1d(hidden),
                nn.ReLU(),
                nn.Linear(hidden, kernel_size, bias=False),
                nn.Softmax(dim=-1),
            )
        if config.tam_branches in ("both", "local"):
            reduced = channels // config.tam_beta
            if reduced < 1:
                raise ValueError(f"tam_beta={config.tam_beta} leaves no channels in a TAM of width {channels}.")
            local_kernel = config.tam_local_kernel_size
            self.L = nn.Sequential(
                nn.Conv1d(channels, reduced, local_kernel, padding=local_kernel // 2, bias=False),
                nn.BatchNorm1d(reduced),
                nn.ReLU(),
                nn.Conv1d(reduced, channels, 1, bias=False),
                nn.Sigmoid(),
            )

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        """`(B*T, C, H, W)` (frames of a clip contiguous) → `(B*T, C, H, W)`."""
        frames_and_batch, channels, height, width = hidden_state.shape
        clips = hidden_state.view(-1, self.num_frames, channels, height, width)  # (B, T, C, H, W)
        out = self._reference(clips) if self.implementation == "reference" else self._fast(clips)
        return out.view(frames_and_batch, channels, height, width)

    def _global_kernel(self, squeezed: torch.Tensor) -> torch.Tensor:
        """
        `G` on frame-major input: `s` `(B, T, C)` → `Θ` `(B, K, C)`, the same function as `self.G` on `(B·C, T)` rows.

        Each `Linear` acts on the T axis, so it is a matrix product from the left (`(αT, T) @ (B, T, C)`); the
        BatchNorm1d then sees `(B, αT, C)`, its native `(N, C, L)` layout with the same `B·C` samples per channel,
        and the softmax runs over the K axis: no transposes, no copies.
        """
        linear_in, norm, activation, linear_out, _ = self.G
        hidden = activation(norm(torch.matmul(linear_in.weight, squeezed)))  # (B, αT, C)
        return torch.matmul(linear_out.weight, hidden).softmax(dim=1)  # (B, K, C)

    def _local_importance(self, squeezed: torch.Tensor) -> torch.Tensor:
        """
        `L` on frame-major rows: `s` `(B, T, C)` → `V` `(B, T, C)`, the same function as `self.L` on `(B, C, T)`.

        Conv1d(C, C/β, k) is a linear map of each frame's `k`-frame window `(C·k,)`, the 1×1 Conv1d a linear map
        of each frame, and BatchNorm1d over `(B, C/β, T)` normalises each channel over `B·T` samples exactly as
        over `(B·T, C/β)` rows: two matrix products instead of two small convolutions.
        """
        conv_in, norm, activation, conv_out, gate = self.L
        batch, num_frames, channels = squeezed.shape
        local_kernel = conv_in.kernel_size[0]
        padding = conv_in.padding[0]
        windows = F.pad(squeezed, (0, 0, padding, padding)).unfold(1, local_kernel, 1)  # (B, T, C, k)
        hidden = F.linear(windows.reshape(batch * num_frames, channels * local_kernel), conv_in.weight.flatten(1))
        hidden = activation(norm(hidden))  # (B*T, C/β)
        return gate(F.linear(hidden, conv_out.weight.flatten(1))).view(batch, num_frames, channels)

    def _position_weights(self, kernel: torch.Tensor, importance: torch.Tensor | None) -> torch.Tensor:
        """Fold `Θ` `(B, K, C)` and `V` `(B, T, C)` into per-position weights `W` `(B, T, K, C)`."""
        num_frames, kernel_size, pad = self.num_frames, self.kernel_size, self.kernel_size // 2
        kernel_bkc = kernel.unsqueeze(1)  # (B, 1, K, C)
        if importance is None:
            return kernel_bkc.expand(-1, num_frames, -1, -1)
        if not self.local_first:  # TANet-R: V scales the aggregated output at t
            return kernel_bkc * importance.unsqueeze(2)
        # TANet: V scales the input at t + k - p; zero padding of V is the zero padding of the convolution.
        windows = F.pad(importance, (0, 0, pad, pad)).unfold(1, kernel_size, 1)  # (B, T, C, K) = V[t + k - p]
        return windows.transpose(2, 3) * kernel_bkc

    def weights_from_squeeze(self, squeezed: torch.Tensor) -> torch.Tensor:
        """Both branches and their folding: `s` `(B, T, C)` → per-position weights `W` `(B, T, K, C)` (needs `G`)."""
        importance = self._local_importance(squeezed) if self.L is not None else None  # V: (B, T, C)
        return self._position_weights(self._global_kernel(squeezed), importance)  # Θ: (B, K, C) folded with V

    def _fast(self, clips: torch.Tensor) -> torch.Tensor:
        """`clips` `(B, T, C, H, W)` → `(B, T, C, H, W)` in the same memory format."""
        height, width = clips.shape[-2:]
        squeezed = clips.sum(dim=(3, 4)) / (height * width)  # (B, T, C)
        if self.G is None:  # local branch only: Y = V ⊙ X
            return clips * self._local_importance(squeezed)[..., None, None].to(clips.dtype)
        weights = self.weights_from_squeeze(squeezed).to(clips.dtype)  # (B, T, K, C)
        if torch.is_grad_enabled() and (clips.requires_grad or weights.requires_grad):
            return TANetTemporalAggregation.apply(clips, weights)
        return shift_accumulate(clips, weights)  # no graph to record: skip the autograd.Function machinery

    def _reference(self, clips: torch.Tensor) -> torch.Tensor:
        """The release's formulation: permute to `(B, C, T, H, W)`, scale, grouped `conv2d`, permute back."""
        batch, num_frames, channels, height, width = clips.shape
        squeezed = clips.mean(dim=(3, 4)).transpose(1, 2)  # (B, C, T)
        kernel = None  # Θ: (B, C, K)
        if self.G is not None:
            kernel = self.G(squeezed.reshape(-1, num_frames)).view(batch, channels, self.kernel_size)
        importance = self.L(squeezed) if self.L is not None else None  # V: (B, C, T)
        x = clips.permute(0, 2, 1, 3, 4).contiguous()  # (B, C, T, H, W)
        if importance is not None and (self.local_first or kernel is None):
            x = x * importance.view(batch, channels, num_frames, 1, 1)
        if kernel is not None:
            x = F.conv2d(
                x.view(1, batch * channels, num_frames, height * width),
                kernel.reshape(batch * channels, 1, self.kernel_size, 1).to(x.dtype),
                padding=(self.kernel_size // 2, 0),
                groups=batch * channels,
            ).view(batch, channels, num_frames, height, width)
            if importance is not None and not self.local_first:
                x = x * importance.view(batch, channels, num_frames, 1, 1)
        return x.permute(0, 2, 1, 3, 4).contiguous()


class TANetRectifiedTAM(TANetTemporalAdaptiveModule):
    """
    `relu → TAM`: the block's ReLU and the TAM after it (positions b and c), one unit with TAM's parameters.

    `(B*T, C, H, W)` pre-activation (a fresh BatchNorm output, which the ReLU may overwrite as
    `nn.ReLU(inplace=True)` does) → `TAM(relu(x))` `(B*T, C, H, W)`.

    Extension point: `kernel_forward`, a class attribute, is `None` in this file. A backend may set it to a
    function `(unit, pre_activation) -> Tensor | None` computing the same value (returning `None` where it does not
    apply); the `tanet_hf` package installs its fused CPU operators there when it is imported. This file itself never
    loads native code, so a model folder loaded with `trust_remote_code=True` runs the PyTorch forward below.
    """

    kernel_forward: ClassVar[Callable[[TANetRectifiedTAM, torch.Tensor], torch.Tensor | None] | None] = None

    def forward(self, pre_activation: torch.Tensor) -> torch.Tensor:
        kernel_forward = type(self).kernel_forward
        if kernel_forward is not None:
            out = kernel_forward(self, pre_activation)
            if out is not None:
                return out
        return super().forward(F.relu(pre_activation, inplace=True))


# Adapted from transformers.models.resnet.modeling_resnet.ResNetEmbeddings (no channel check: done once per forward).
class TANetEmbeddings(nn.Module):
    """Stem: 7×7/2 convolution → BN → ReLU → 3×3/2 max-pool. `(B*T, 3, H, W)` → `(B*T, 64, H/4, W/4)`."""

    def __init__(self, config: TANetConfig):
        super().__init__()
        self.convolution = nn.Conv2d(config.num_channels, config.embedding_size, 7, stride=2, padding=3, bias=False)
        self.normalization = nn.BatchNorm2d(config.embedding_size)
        self.activation = nn.ReLU()
        self.pooler = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.pooler(self.activation(self.normalization(self.convolution(pixel_values))))


# Adapted from transformers.models.resnet.modeling_resnet.ResNetShortCut (a plain convolution and BatchNorm here).
class TANetShortCut(nn.Module):
    """Projection shortcut: 1×1 convolution (with the block's stride) → BN."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.convolution = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
        self.normalization = nn.BatchNorm2d(out_channels)

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        return self.normalization(self.convolution(hidden_state))


@contextmanager
def preserved_batch_norm_statistics(module: nn.Module):
    """
    BatchNorm layers inside `module` run as usual (training mode: batch statistics), and their buffers
    (`running_mean`, `running_var`, `num_batches_tracked`) are restored afterwards to their values on entry.
    """
    buffers = [b for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) for b in m.buffers(False)]
    saved = [buffer.clone() for buffer in buffers]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(buffers, saved):
                buffer.copy_(value)


class TANetBlock(GradientCheckpointingLayer):
    """
    What both residual blocks share: the projection shortcut and a TAM at one of the positions a/b/c/d.

    Gradient checkpointing (`model.gradient_checkpointing_enable()`) runs a block twice per step, the second time
    when the backward pass recomputes it. The recomputation must not update BatchNorm's running statistics a second
    time, so the checkpoint function transformers assigns is wrapped: the first run updates them, the replay restores
    them ([`preserved_batch_norm_statistics`]); both runs normalise with the same batch statistics, so outputs and
    gradients are unchanged.
    """

    @property
    def _gradient_checkpointing_func(self) -> Callable:
        checkpoint = self._checkpoint

        def checkpoint_updating_statistics_once(function: Callable, *args):
            runs = 0

            def run(*inner_args, **inner_kwargs):
                nonlocal runs
                runs += 1
                if runs == 1:
                    return function(*inner_args, **inner_kwargs)
                with preserved_batch_norm_statistics(self):
                    return function(*inner_args, **inner_kwargs)

            return checkpoint(run, *args)

        return checkpoint_updating_statistics_once

    @_gradient_checkpointing_func.setter
    def _gradient_checkpointing_func(self, checkpoint: Callable) -> None:
        self._checkpoint = checkpoint

    def _build_shortcut_and_tam(
        self,
        config: TANetConfig,
        in_channels: int,
        out_channels: int,
        stride: int,
        use_tam: bool,
        tam_channels: dict[str, int],
    ) -> None:
        self.shortcut = (
            TANetShortCut(in_channels, out_channels, stride)
            if in_channels != out_channels or stride != 1
            else nn.Identity()
        )
        self.tam_position = config.tam_position if use_tam else None
        rectified = config.tam_position in self.positions_after_relu
        tam_class = TANetRectifiedTAM if rectified else TANetTemporalAdaptiveModule
        self.tam = tam_class(config, tam_channels[config.tam_position]) if use_tam else None

    def _tam_at(self, position: str, hidden_state: torch.Tensor) -> torch.Tensor:
        """TAM where this block carries it at `position` (a, d: no ReLU before it); otherwise `hidden_state`."""
        return self.tam(hidden_state) if self.tam_position == position else hidden_state

    def _relu_at(self, position: str, pre_activation: torch.Tensor) -> torch.Tensor:
        """The ReLU, or `relu → TAM` ([`TANetRectifiedTAM`]) where this block carries TAM at `position` (b, c)."""
        return self.tam(pre_activation) if self.tam_position == position else self.activation(pre_activation)


class TANetBottleNeckLayer(TANetBlock):
    """
    TA-block (bottleneck): `conv1 1×1 → bn1 → relu → [TAM] → conv2 3×3/stride → bn2 → relu → conv3 1×1 → bn3
    → (+ shortcut) → relu`, TAM at position b. Positions a/c/d put it before conv1, after relu(bn2), after bn3.
    `(B*T, in_channels, H, W)` → `(B*T, out_channels, H/stride, W/stride)`.
    """

    expansion = 4
    positions_after_relu = ("b", "c")

    def __init__(self, config: TANetConfig, in_channels: int, out_channels: int, stride: int, use_tam: bool):
        super().__init__()
        mid_channels = out_channels // self.expansion
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.activation = nn.ReLU(inplace=True)  # on fresh tensors only, as torchvision
        tam_channels = {"a": in_channels, "b": mid_channels, "c": mid_channels, "d": out_channels}
        self._build_shortcut_and_tam(config, in_channels, out_channels, stride, use_tam, tam_channels)

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        residual = self.shortcut(hidden_state)
        out = self._tam_at("a", hidden_state)
        out = self._relu_at("b", self.bn1(self.conv1(out)))
        out = self._relu_at("c", self.bn2(self.conv2(out)))
        out = self._tam_at("d", self.bn3(self.conv3(out)))
        return self.activation(out + residual)


class TANetBasicLayer(TANetBlock):
    """
    TA-block (basic, ResNet-18/34): `conv1 3×3/stride → bn1 → relu → [TAM] → conv2 3×3 → bn2 → (+ shortcut)
    → relu`, TAM at position b; `a` puts it before conv1, `c` after bn2.
    """

    expansion = 1
    positions_after_relu = ("b",)

    def __init__(self, config: TANetConfig, in_channels: int, out_channels: int, stride: int, use_tam: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.activation = nn.ReLU(inplace=True)
        tam_channels = {"a": in_channels, "b": out_channels, "c": out_channels}
        self._build_shortcut_and_tam(config, in_channels, out_channels, stride, use_tam, tam_channels)

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        residual = self.shortcut(hidden_state)
        out = self._tam_at("a", hidden_state)
        out = self._relu_at("b", self.bn1(self.conv1(out)))
        out = self._tam_at("c", self.bn2(self.conv2(out)))
        return self.activation(out + residual)


# Adapted from transformers.models.resnet.modeling_resnet.ResNetStage.
class TANetStage(nn.Module):
    """One ResNet stage (res2–res5): `depth` blocks, the first with the stage's stride and a projection shortcut."""

    def __init__(
        self, config: TANetConfig, in_channels: int, out_channels: int, depth: int, stride: int, use_tam: bool
    ):
        super().__init__()
        layer_class = TANetBottleNeckLayer if config.layer_type == "bottleneck" else TANetBasicLayer
        self.layers = nn.ModuleList(
            layer_class(config, in_channels if i == 0 else out_channels, out_channels, stride if i == 0 else 1, use_tam)
            for i in range(depth)
        )

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            hidden_state = layer(hidden_state)
        return hidden_state


class TANetEncoder(nn.Module):
    def __init__(self, config: TANetConfig):
        super().__init__()
        use_tam = config.temporal_module == "tam"
        in_sizes = [config.embedding_size] + list(config.hidden_sizes[:-1])
        self.stages = nn.ModuleList(
            TANetStage(
                config,
                in_channels,
                out_channels,
                depth,
                stride=1 if i == 0 else 2,
                use_tam=use_tam and f"stage{i + 1}" in config.tam_stages,
            )
            for i, (in_channels, out_channels, depth) in enumerate(zip(in_sizes, config.hidden_sizes, config.depths))
        )

    def forward(
        self, hidden_state: torch.Tensor, num_frames: int, output_hidden_states: bool = False
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """
        `(B*T, C, H, W)` stem output → the last stage's output `(B*T, C', h, w)` and, with `output_hidden_states`,
        the stem's and every stage's output as `(B, T, C_i, H_i, W_i)` views that the next stage computes from (so
        that `retain_grad()` on any of them sees its gradient).
        """
        hidden_states = () if output_hidden_states else None
        for stage in [None, *self.stages]:
            if stage is not None:
                hidden_state = stage(hidden_state)
            if output_hidden_states:
                per_clip = hidden_state.view(-1, num_frames, *hidden_state.shape[1:])
                hidden_states = hidden_states + (per_clip,)
                hidden_state = per_clip.flatten(0, 1)
        return hidden_state, hidden_states


TANET_AUTO_MAP = {
    "AutoConfig": "configuration_tanet.TANetConfig",
    "AutoModel": "modeling_tanet.TANetModel",
    "AutoModelForVideoClassification": "modeling_tanet.TANetForVideoClassification",
}


class TANetPreTrainedModel(PreTrainedModel):
    config: TANetConfig
    config_class = TANetConfig
    base_model_prefix = "tanet"
    main_input_name = "pixel_values"
    input_modalities = ("video",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["TANetBottleNeckLayer", "TANetBasicLayer"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """The release's initialisation: torchvision's ResNet init, PyTorch defaults in TAM, N(0, 0.001) head.
        Adapted from `transformers.models.resnet.modeling_resnet.ResNetPreTrainedModel._init_weights` (plus Conv1d
        and the head); the base class's initialisation runs first, as there."""
        super()._init_weights(module)
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, (nn.Conv1d, nn.Linear)):
            if module is getattr(self, "classifier", None):
                init.normal_(module.weight, mean=0.0, std=self.config.classifier_init_std)
                init.zeros_(module.bias)
                return
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))  # nn.Linear / nn.Conv1d reset_parameters
            if module.bias is not None:
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(module.weight)
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            if getattr(module, "num_batches_tracked", None) is not None:
                init.zeros_(module.num_batches_tracked)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """`PreTrainedModel.save_pretrained`, plus the remote-code files and an `auto_map` naming every TANet
        Auto class, so the folder also loads with `trust_remote_code=True` where `tanet_hf` is not installed."""
        self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}), **TANET_AUTO_MAP}
        return super().save_pretrained(save_directory, *args, **kwargs)

    def _check_pixel_values(self, pixel_values: torch.Tensor) -> tuple[int, int]:
        """Validate `(B, T, C, H, W)` or `(B, V, T, C, H, W)`; return `(B, V)`."""
        if not isinstance(pixel_values, torch.Tensor):
            raise ValueError(f"pixel_values must be a torch.Tensor, got {type(pixel_values).__name__}.")
        expected = (
            f"(batch, num_frames={self.config.num_frames}, channels={self.config.num_channels}, height, width) "
            f"or (batch, views, num_frames={self.config.num_frames}, channels={self.config.num_channels}, height, width)"
        )
        if pixel_values.ndim not in (5, 6):
            raise ValueError(
                f"pixel_values must have shape {expected}; got rank {pixel_values.ndim} {tuple(pixel_values.shape)}."
            )
        if pixel_values.shape[-3] != self.config.num_channels:
            raise ValueError(
                f"pixel_values has {pixel_values.shape[-3]} channels at dim -3; expected {expected}, "
                f"got {tuple(pixel_values.shape)}."
            )
        if pixel_values.shape[-4] != self.config.num_frames:
            raise ValueError(
                f"pixel_values has {pixel_values.shape[-4]} frames at dim -4 but this model was built for "
                f"num_frames={self.config.num_frames} (TAM's global branch is Linear(T, {self.config.tam_alpha}T), "
                f"tied to T); expected {expected}, got {tuple(pixel_values.shape)}."
            )
        batch = pixel_values.shape[0]
        views = pixel_values.shape[1] if pixel_values.ndim == 6 else 1
        return batch, views


class TANetModel(TANetPreTrainedModel):
    """
    TANet backbone with per-frame spatial pooling.

    Example:

    ```python
    >>> import torch
    >>> from tanet_hf import TANetConfig, TANetModel

    >>> config = TANetConfig(hidden_sizes=[32, 64, 128, 256], depths=[1, 1, 1, 1], embedding_size=16, num_frames=4)
    >>> model = TANetModel(config).eval()
    >>> outputs = model(torch.randn(2, 4, 3, 64, 64))  # (batch, frames, channels, height, width)
    >>> tuple(outputs.pooler_output.shape), tuple(outputs.last_hidden_state.shape)
    ((2, 256), (2, 4, 256, 2, 2))

    ```
    """

    def __init__(self, config: TANetConfig):
        super().__init__(config)
        self.embedder = TANetEmbeddings(config)
        self.encoder = TANetEncoder(config)
        self.pooler = nn.AdaptiveAvgPool2d((1, 1))
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> TANetModelOutput:
        """
        Args:
            pixel_values (`torch.FloatTensor` of shape `(B, T, C, H, W)` or `(B, V, T, C, H, W)`):
                Normalised frames (see [`TANetVideoProcessor`]); `T` must equal `config.num_frames`.
            output_hidden_states (`bool`, *optional*):
                Return the stem's and every stage's output.
            return_dict (`bool`, *optional*):
                Return a tuple instead of a [`TANetModelOutput`] when `False`.
        """
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        batch, views = self._check_pixel_values(pixel_values)
        num_frames = self.config.num_frames
        frames = pixel_values.reshape(-1, *pixel_values.shape[-3:])  # (B*V*T, C, H, W)

        embedding = self.embedder(frames)
        last_hidden, hidden_states = self.encoder(embedding, num_frames, output_hidden_states=output_hidden_states)
        frame_features = self.pooler(last_hidden).flatten(1).view(batch * views, num_frames, -1)  # (B*V, T, C)
        pooled = frame_features.view(batch, views * num_frames, -1).mean(dim=1)  # (B, C)
        return TANetModelOutput(
            last_hidden_state=last_hidden.view(batch * views, num_frames, *last_hidden.shape[1:]),
            pooler_output=pooled,
            frame_features=frame_features,
            hidden_states=hidden_states,
        )


class TANetForVideoClassification(TANetPreTrainedModel):
    """
    TANet with the release's head: per-frame dropout → linear → mean over the T frames. For 6D input
    `(B, V, T, C, H, W)` every view is scored and the views are fused as `config.view_fusion` says.

    Example:

    ```python
    >>> import torch
    >>> from tanet_hf import TANetConfig, TANetForVideoClassification

    >>> config = TANetConfig(
    ...     hidden_sizes=[32, 64, 128, 256], depths=[1, 1, 1, 1], embedding_size=16, num_frames=4, num_labels=5
    ... )
    >>> model = TANetForVideoClassification(config).eval()
    >>> clip = torch.randn(2, 4, 3, 64, 64)  # (batch, frames, channels, height, width)
    >>> model(clip).logits.shape
    torch.Size([2, 5])
    >>> views = torch.randn(2, 6, 4, 3, 64, 64)  # (batch, views, frames, channels, height, width)
    >>> out = model(views, labels=torch.tensor([0, 3]))
    >>> tuple(out.logits.shape), tuple(out.view_logits.shape), out.loss.ndim
    ((2, 5), (2, 6, 5), 0)

    ```
    """

    def __init__(self, config: TANetConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.tanet = TANetModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_sizes[-1], config.num_labels)
        self.post_init()

    def fuse_views(self, view_logits: torch.Tensor) -> torch.Tensor:
        """`(B, V, num_labels)` → `(B, num_labels)`: mean of logits, or log of the mean softmax."""
        if self.config.view_fusion == "softmax":
            return torch.log(view_logits.float().softmax(dim=-1).mean(dim=1).clamp_min(1e-12)).to(view_logits.dtype)
        return view_logits.mean(dim=1)

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> TANetVideoClassifierOutput:
        """
        Args:
            pixel_values (`torch.FloatTensor` of shape `(B, T, C, H, W)` or `(B, V, T, C, H, W)`):
                Normalised frames; `T` must equal `config.num_frames` (validated once, by [`TANetModel`]).
            labels (`torch.LongTensor` of shape `(B,)`, or `torch.FloatTensor` of shape `(B, num_labels)`, *optional*):
                Class indices (single-label), multi-hot targets (`problem_type="multi_label_classification"`) or
                targets (`"regression"`); the loss follows `config.problem_type` as in transformers.
            output_hidden_states (`bool`, *optional*):
                Return the stem's and every stage's output.
            return_dict (`bool`, *optional*):
                Return a tuple instead of a [`TANetVideoClassifierOutput`] when `False`.
        """
        outputs = self.tanet(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        batch = pixel_values.shape[0]
        frame_logits = self.classifier(self.dropout(outputs.frame_features))  # (B*V, T, num_labels)
        view_logits = frame_logits.mean(dim=1).view(batch, -1, self.num_labels)  # (B, V, num_labels)
        logits = view_logits[:, 0] if pixel_values.ndim == 5 else self.fuse_views(view_logits)

        loss = None
        if labels is not None:
            if labels.shape[0] != batch:
                raise ValueError(f"labels has {labels.shape[0]} rows but pixel_values holds {batch} clips.")
            loss = self.loss_function(labels, logits, self.config)
        return TANetVideoClassifierOutput(
            loss=loss,
            logits=logits,
            view_logits=view_logits if pixel_values.ndim == 6 else None,
            hidden_states=outputs.hidden_states,
        )


# Saving a model copies this file and configuration_tanet.py next to the weights (remote code).
TANetConfig.register_for_auto_class()
TANetModel.register_for_auto_class("AutoModel")
TANetForVideoClassification.register_for_auto_class("AutoModelForVideoClassification")

__all__ = [
    "TANetPreTrainedModel",
    "TANetModel",
    "TANetForVideoClassification",
    "TANetTemporalAdaptiveModule",
    "TANetRectifiedTAM",
    "TANetModelOutput",
    "TANetVideoClassifierOutput",
]
