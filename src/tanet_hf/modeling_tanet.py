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
class TANetTAMWeights(ModelOutput):
    """
    What one TAM computed from a clip (paper §3): the tensors its forward used, so gradients flow through them.

    Args:
        kernel (`torch.FloatTensor` of shape `(B, C, K)`, *optional*):
            `Θ = G(s)`, the video-adaptive temporal kernel of every channel (softmax rows: each sums to 1);
            `None` for a local-only TAM.
        importance (`torch.FloatTensor` of shape `(B, C, T)`, *optional*):
            `V = L(s)`, the location-sensitive importance map (sigmoid: in (0, 1)); the SE gate for
            `temporal_module="global_se"`; `None` for a global-only TAM.
    """

    kernel: torch.FloatTensor | None = None
    importance: torch.FloatTensor | None = None


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
        tam_weights (`tuple(TANetTAMWeights)`, *optional*):
            With `output_tam_weights=True`: every TAM's `Θ` and `V` in network order (batch `B*V` for 6D input;
            empty for a model without TAMs).
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    frame_features: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    tam_weights: tuple[TANetTAMWeights, ...] | None = None


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
        tam_weights (`tuple(TANetTAMWeights)`, *optional*):
            As in [`TANetModelOutput`].
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    view_logits: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    tam_weights: tuple[TANetTAMWeights, ...] | None = None


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


class AggregationRecipe:
    """
    How to rebuild a TAM output `Y = aggregate(X, W)` (`(B, T, C, H, W)`) from its input `X` and its per-position
    weights `W` `(B, T, K, C)`, both of which TAM's backward keeps anyway; see [`saved_as_recipe`].

    `aggregate` is the function that computed `Y` (so the rebuilt values are bitwise the forward's); the layout of
    `Y` is checked, and an in-place change of `X` or `W` after the forward is refused as autograd refuses it.
    """

    def __init__(self, aggregate: Callable, clips: torch.Tensor, weights: torch.Tensor, output: torch.Tensor):
        self.aggregate = aggregate
        self.clips, self.weights = clips.detach(), weights.detach()  # detach() shares the version counters
        self.versions = (clips._version, weights._version)
        self.stride = output.stride()

    def __call__(self) -> torch.Tensor:
        if (self.clips._version, self.weights._version) != self.versions:
            raise RuntimeError(
                "TAM's input or weights were modified in place after the forward (versions "
                f"{(self.clips._version, self.weights._version)}, expected {self.versions}); its output cannot be "
                "rebuilt for backward."
            )
        with torch.no_grad():
            output = self.aggregate(self.clips, self.weights)
        if output.stride() != self.stride:  # a different memory format: restore the forward's layout
            output = output.new_empty_strided(output.shape, self.stride).copy_(output)
        return output


def attach_recipe(
    output: torch.Tensor, aggregate: Callable, clips: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Attach to `output = aggregate(clips, weights)` its [`AggregationRecipe`] for [`saved_as_recipe`]; eager mode
    only (under `torch.compile` the partitioner decides what is saved). Returns `output`."""
    if not torch.compiler.is_compiling():
        output.tam_recipe = AggregationRecipe(aggregate, clips, weights, output)
    return output


@contextmanager
def saved_as_recipe(tensor: torch.Tensor):
    """
    Within this context autograd does not keep `tensor`, a TAM output (or a view of one) carrying an
    [`AggregationRecipe`], for backward: an operation that saves it (the convolution after TAM saves its input)
    keeps the recipe instead, and the backward pass rebuilds the values (one aggregation pass) when it needs them.
    Every other saved tensor is kept as usual; for a tensor without a recipe, with gradients off or under
    `torch.compile` this does nothing.

    Why: in a training step TAM's aggregation keeps its input `X` (for `dW` and the ReLU's mask) and the next
    convolution keeps TAM's output `Y` (for its weight gradient): one full-size tensor per TAM more than C2D, whose
    ReLU and convolution share one. Rebuilding `Y` from `X` and `W` brings TANet's saved activations to C2D's.
    """
    if torch.compiler.is_compiling() or not torch.is_grad_enabled():
        yield
        return
    recipe = getattr(tensor if tensor._base is None else tensor._base, "tam_recipe", None)  # on the result itself
    if recipe is None:
        yield
        return
    storage = tensor.untyped_storage().data_ptr()  # `tensor` stays alive here, so no other tensor can reuse it

    def pack(saved: torch.Tensor):
        if saved.untyped_storage().data_ptr() != storage:
            return saved
        return recipe, saved.shape, saved.stride(), saved.storage_offset()

    def unpack(packed):
        if isinstance(packed, torch.Tensor):
            return packed
        rebuild, shape, stride, offset = packed
        return rebuild().as_strided(shape, stride, offset)

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        yield


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
    optimised backend may replace as a whole (for `temporal_module="tam"`; a "global_se" module follows the ReLU).

    `temporal_module="global_se"` builds the paper's "Global branch + SE": `L` is then an SE gate
    `Conv1d(C, C/8, 1) → Identity → ReLU → Conv1d(C/8, C, 1) → sigmoid` (with biases, as SE), the same slots.

    With `record_weights` set (the model does this for `output_tam_weights=True`), each forward stores its `Θ`
    `(B, C, K)` and `V` `(B, C, T)` in `recorded_weights` ([`TANetTAMWeights`]).
    """

    record_weights: bool = False
    recorded_weights: TANetTAMWeights | None = None

    def __init__(self, config: TANetConfig, channels: int):
        super().__init__()
        self.num_frames = config.num_frames
        self.kernel_size = config.tam_kernel_size
        self.local_first = config.tam_order == "local_first"
        self.implementation = config.tam_implementation
        self.G: nn.Sequential | None = None
        self.L: nn.Sequential | None = None
        if config.temporal_module == "global_se":
            self.G = self._build_global(config)
            reduced = max(1, channels // SE_REDUCTION)
            self.L = nn.Sequential(
                nn.Conv1d(channels, reduced, 1), nn.Identity(), nn.ReLU(), nn.Conv1d(reduced, channels, 1), nn.Sigmoid()
            )
            return
        if config.tam_branches in ("both", "global"):
            self.G = self._build_global(config)
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

    @staticmethod
    def _build_global(config: TANetConfig) -> nn.Sequential:
        """`G`: `Linear(T, αT) → BN → ReLU → Linear(αT, K) → softmax` on each `(b, c)` row of `s`."""
        hidden = config.num_frames * config.tam_alpha
        return nn.Sequential(
            nn.Linear(config.num_frames, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Linear(hidden, config.tam_kernel_size, bias=False),
            nn.Softmax(dim=-1),
        )

    def _record(self, kernel: torch.Tensor | None, importance: torch.Tensor | None) -> None:
        """Keep `Θ` `(B, C, K)` and `V` `(B, C, T)` when `record_weights` is set (a no-op otherwise)."""
        if self.record_weights:
            self.recorded_weights = TANetTAMWeights(kernel=kernel, importance=importance)

    def _record_frame_major(
        self, kernel: torch.Tensor | None, importance: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """
        [`_record`] for the fast formulation's `Θ` `(B, K, C)` and `V` `(B, T, C)`: records their `(B, C, ·)`
        transposes and returns views of those for the forward to continue with, so that the recorded tensors are
        the ones the output was computed from. Returns its inputs unchanged when not recording.
        """
        if not self.record_weights:
            return kernel, importance
        kernel, importance = (t.transpose(1, 2) if t is not None else None for t in (kernel, importance))
        self._record(kernel, importance)
        return tuple(t.transpose(1, 2) if t is not None else None for t in (kernel, importance))

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
        rows = windows.reshape(batch * num_frames, channels * local_kernel)
        hidden = activation(norm(F.linear(rows, conv_in.weight.flatten(1), conv_in.bias)))  # (B*T, C/β)
        return gate(F.linear(hidden, conv_out.weight.flatten(1), conv_out.bias)).view(batch, num_frames, channels)

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
        kernel, importance = self._record_frame_major(self._global_kernel(squeezed), importance)  # Θ: (B, K, C)
        return self._position_weights(kernel, importance)

    def _fast(self, clips: torch.Tensor) -> torch.Tensor:
        """`clips` `(B, T, C, H, W)` → `(B, T, C, H, W)` in the same memory format."""
        height, width = clips.shape[-2:]
        squeezed = clips.sum(dim=(3, 4)) / (height * width)  # (B, T, C)
        if self.G is None:  # local branch only: Y = V ⊙ X
            _, importance = self._record_frame_major(None, self._local_importance(squeezed))  # (B, T, C)
            return clips * importance[..., None, None].to(clips.dtype)
        weights = self.weights_from_squeeze(squeezed).to(clips.dtype)  # (B, T, K, C)
        if torch.is_grad_enabled() and (clips.requires_grad or weights.requires_grad):
            out = TANetTemporalAggregation.apply(clips, weights)
            return attach_recipe(out, shift_accumulate, clips, weights)
        return shift_accumulate(clips, weights)  # no graph to record: skip the autograd.Function machinery

    def _reference(self, clips: torch.Tensor) -> torch.Tensor:
        """The release's formulation: permute to `(B, C, T, H, W)`, scale, grouped `conv2d`, permute back."""
        batch, num_frames, channels, height, width = clips.shape
        squeezed = clips.mean(dim=(3, 4)).transpose(1, 2)  # (B, C, T)
        kernel = None  # Θ: (B, C, K)
        if self.G is not None:
            kernel = self.G(squeezed.reshape(-1, num_frames)).view(batch, channels, self.kernel_size)
        importance = self.L(squeezed) if self.L is not None else None  # V: (B, C, T)
        self._record(kernel, importance)
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
    While `record_weights` is set (`output_tam_weights=True`) the unit runs its PyTorch forward, which records `Θ`
    and `V`; the backend is not asked.
    """

    kernel_forward: ClassVar[Callable[[TANetRectifiedTAM, torch.Tensor], torch.Tensor | None] | None] = None

    def forward(self, pre_activation: torch.Tensor) -> torch.Tensor:
        kernel_forward = type(self).kernel_forward
        if kernel_forward is not None and not self.record_weights:
            out = kernel_forward(self, pre_activation)
            if out is not None:
                return out
        return super().forward(F.relu(pre_activation, inplace=True))


SE_REDUCTION = 8  # "Global branch + SE": Linear(C, C/8); reduction 8 gives Table 2's 24.65M parameters
TSM_SHIFT_DIVISOR = 8  # TSM shifts 1/8 of the channels each way


def clips_to_volume(hidden_state: torch.Tensor, num_frames: int) -> torch.Tensor:
    """`(B*T, C, H, W)` → `(B, C, T, H, W)` (a view), the layout of `Conv3d`."""
    return hidden_state.view(-1, num_frames, *hidden_state.shape[1:]).transpose(1, 2)


def volume_to_clips(volume: torch.Tensor) -> torch.Tensor:
    """`(B, C, T, H, W)` → `(B*T, C, H, W)` (frames of a clip contiguous again)."""
    return volume.transpose(1, 2).flatten(0, 1)


class TANetTemporalPooling(nn.Module):
    """
    C2D-Pool: `Y[t] = mean_{k : 0 ≤ t+k-p < T} X[t+k-p]`, temporal average pooling `K×1×1`, stride 1, `p = K // 2`.

    At the clip's ends the mean runs over the frames that exist (not over zero padding). No parameters. Computed
    as [`shift_accumulate`] with constant weights; `(B*T, C, H, W)` → `(B*T, C, H, W)`.
    """

    def __init__(self, config: TANetConfig, channels: int):
        super().__init__()
        self.num_frames = config.num_frames
        self.kernel_size = config.tam_kernel_size

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        frames_and_batch, channels, height, width = hidden_state.shape
        clips = hidden_state.view(-1, self.num_frames, channels, height, width)
        pad, device = self.kernel_size // 2, hidden_state.device
        sources = torch.arange(self.num_frames, device=device)[:, None] + torch.arange(self.kernel_size, device=device)
        inside = ((sources >= pad) & (sources < self.num_frames + pad)).to(hidden_state.dtype)  # (T, K): t+k-p exists
        weights = (inside / inside.sum(dim=1, keepdim=True))[None, :, :, None].expand(1, -1, -1, channels)
        return shift_accumulate(clips, weights).view(frames_and_batch, channels, height, width)


class TANetChannelwiseTemporalConv(nn.Module):
    """
    C2D-TIM: a channel-wise temporal convolution `K×1×1`, `Y[t, c] = Σ_k w[c, k] · X[t+k-p, c]` (zero padding),
    one `K`-tap kernel per channel shared by every video (TEINet's TIM).

    Initialised as TSM ([`shift_initialisation`]): 1/8 of the channels take frame `t+1`, the next 1/8 frame
    `t-1`, the rest frame `t`, so the ImageNet network starts with TSM's shift. The weight `(C, K)` is applied by
    [`TANetTemporalAggregation`] with per-position weights `(B, T, K, C)` broadcast from it.
    """

    def __init__(self, config: TANetConfig, channels: int):
        super().__init__()
        self.num_frames = config.num_frames
        self.weight = nn.Parameter(self.shift_initialisation(channels, config.tam_kernel_size))

    @staticmethod
    def shift_initialisation(channels: int, kernel_size: int) -> torch.Tensor:
        """`(C, K)`: TSM's shift as taps (forward shift, backward shift, identity)."""
        fold, pad = channels // TSM_SHIFT_DIVISOR, kernel_size // 2
        weight = torch.zeros(channels, kernel_size)
        weight[:fold, pad + 1] = 1.0  # Y[t] = X[t + 1]
        weight[fold : 2 * fold, pad - 1] = 1.0  # Y[t] = X[t - 1]
        weight[2 * fold :, pad] = 1.0
        return weight

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        frames_and_batch, channels, height, width = hidden_state.shape
        clips = hidden_state.view(-1, self.num_frames, channels, height, width)
        weights = self.weight.t().to(clips.dtype).expand(clips.shape[0], self.num_frames, -1, -1)  # (B, T, K, C)
        return TANetTemporalAggregation.apply(clips, weights).view(frames_and_batch, channels, height, width)


class TANetTemporalConv(nn.Module):
    """C2D-TConv: a full temporal convolution `K×1×1` (`C → C`, zero padding, no bias), randomly initialised.
    `(B*T, C, H, W)` → `(B*T, C, H, W)` through `Conv3d` on the `(B, C, T, H, W)` view."""

    def __init__(self, config: TANetConfig, channels: int):
        super().__init__()
        self.num_frames = config.num_frames
        kernel_size = config.tam_kernel_size
        self.conv = nn.Conv3d(channels, channels, (kernel_size, 1, 1), padding=(kernel_size // 2, 0, 0), bias=False)

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        return volume_to_clips(self.conv(clips_to_volume(hidden_state, self.num_frames)))


class TANetTemporalShift(nn.Module):
    """
    TSM: `Y[t, :C/8] = X[t+1, :C/8]`, `Y[t, C/8:C/4] = X[t-1, C/8:C/4]` (zeros past the clip's ends), the rest
    unchanged. No parameters, no multiply-adds. `(B*T, C, H, W)` → `(B*T, C, H, W)`.
    """

    def __init__(self, config: TANetConfig, channels: int):
        super().__init__()
        self.num_frames = config.num_frames

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        frames_and_batch, channels, height, width = hidden_state.shape
        clips = hidden_state.view(-1, self.num_frames, channels, height, width)
        fold = channels // TSM_SHIFT_DIVISOR
        ahead, behind, rest = clips.split([fold, fold, channels - 2 * fold], dim=2)
        ahead = F.pad(ahead[:, 1:], (0, 0, 0, 0, 0, 0, 0, 1))  # frame t takes t + 1
        behind = F.pad(behind[:, :-1], (0, 0, 0, 0, 0, 0, 1, 0))  # frame t takes t - 1
        return torch.cat([ahead, behind, rest], dim=2).view(frames_and_batch, channels, height, width)


class TANetInflatedTaps(nn.Module):
    """
    The outer taps of I3D's 3×1×1 inflation of a block's first convolution `conv1` (kernel `kh×kw`, stride `s`).

    The inflated convolution is `Y[t] = W_{-1} ∗ X[t-1] + W_0 ∗ X[t] + W_{+1} ∗ X[t+1]`; the block keeps `W_0` as
    its 2D `conv1` (where ImageNet weights load) and this module computes the other two terms as one `Conv3d`
    `(2, kh, kw)` with temporal dilation 2 (taps at `t-1` and `t+1`), zero-initialised ("centre" inflation: the
    network starts as C2D). Same parameters and multiply-adds as the inflated convolution.
    `(B*T, C_in, H, W)` → `(B*T, C_out, H/s, W/s)`, to be added to `conv1`'s output.
    """

    def __init__(self, config: TANetConfig, conv1: nn.Conv2d):
        super().__init__()
        self.num_frames = config.num_frames
        self.stride = (1, *conv1.stride)
        self.padding = (1, *conv1.padding)
        self.weight = nn.Parameter(torch.zeros(conv1.out_channels, conv1.in_channels, 2, *conv1.kernel_size))

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        volume = clips_to_volume(hidden_state, self.num_frames)
        weight = self.weight.to(volume.dtype)
        return volume_to_clips(F.conv3d(volume, weight, stride=self.stride, padding=self.padding, dilation=(2, 1, 1)))


class TANetNonLocal(nn.Module):
    """
    Non-local block (Wang et al., CVPR 2018; embedded Gaussian, the NL C2D of the paper's Table 2) over the whole
    clip: every position of every frame attends to all `N = T·H·W` positions.

    `θ, φ, g`: `1×1×1` convolutions `C → C/2` (with bias); `A = softmax_j(θ_i · φ_j)` `(B, N, N)`; `y = A g`;
    `z = x + BN(W y)` with `W` a `1×1×1` convolution `C/2 → C` and the BatchNorm's scale zero-initialised, so the
    block starts as the identity. No subsampling of `φ, g`. `(B*T, C, H, W)` → `(B*T, C, H, W)`.
    """

    def __init__(self, config: TANetConfig, channels: int):
        super().__init__()
        self.num_frames = config.num_frames
        inner = channels // 2
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.out = nn.Conv2d(inner, channels, 1)
        self.norm = nn.BatchNorm2d(channels)
        self.norm.initial_scale = 0.0  # read by `_init_weights`: the block starts as the identity

    def _positions(self, embedded: torch.Tensor) -> torch.Tensor:
        """`(B*T, C', H, W)` → `(B, T·H·W, C')`."""
        frames_and_batch, channels = embedded.shape[:2]
        per_clip = embedded.view(-1, self.num_frames, channels, embedded.shape[2] * embedded.shape[3])
        return per_clip.transpose(2, 3).reshape(per_clip.shape[0], -1, channels)

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        frames_and_batch, channels, height, width = hidden_state.shape
        theta, phi, g = (self._positions(layer(hidden_state)) for layer in (self.theta, self.phi, self.g))
        attention = torch.matmul(theta, phi.transpose(1, 2)).softmax(dim=-1)  # (B, N, N)
        attended = torch.matmul(attention, g)  # (B, T·H·W, C/2)
        attended = attended.view(-1, self.num_frames, height * width, g.shape[-1]).transpose(2, 3)
        attended = attended.reshape(frames_and_batch, g.shape[-1], height, width)
        return hidden_state + self.norm(self.out(attended))


TEMPORAL_MODULES: dict[str, type[nn.Module]] = {
    "pool": TANetTemporalPooling,
    "tconv": TANetTemporalConv,
    "tim": TANetChannelwiseTemporalConv,
    "tsm": TANetTemporalShift,
    "global_se": TANetTemporalAdaptiveModule,
    "nonlocal": TANetNonLocal,
}
NONLOCAL_STAGES = ("stage2", "stage3")  # res3 and res4, every other block: 2 + 3 = 5 blocks in ResNet-50


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
def recorded_tam_weights(model: nn.Module, enabled: bool):
    """
    Within the block, every TAM of `model` keeps the `Θ` and `V` of its forward; yields the list that receives
    them, filled in network order on exit (empty when not `enabled`, when nothing is touched).
    """
    tams = [m for m in model.modules() if isinstance(m, TANetTemporalAdaptiveModule)] if enabled else []
    recorded: list[TANetTAMWeights] = []
    for tam in tams:
        tam.record_weights, tam.recorded_weights = True, None
    try:
        yield recorded
    finally:
        for tam in tams:
            recorded.append(tam.recorded_weights)
            tam.record_weights, tam.recorded_weights = False, None


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
        # `tam` holds the block's temporal module whichever it is (`config.temporal_module`), so that its
        # parameters are named `….tam.…` and ImageNet initialisation knows them as the non-ResNet part.
        self.tam_position = self.tam = None
        self.inflated = use_tam and config.temporal_module == "i3d"
        if self.inflated:
            self.tam = TANetInflatedTaps(config, self.conv1)
        elif use_tam and config.temporal_module == "nonlocal":
            self.tam_position = "output"
            self.tam = TANetNonLocal(config, out_channels)
        elif use_tam:
            self.tam_position = config.tam_position
            rectified = config.temporal_module == "tam" and config.tam_position in self.positions_after_relu
            module_class = TEMPORAL_MODULES.get(config.temporal_module, TANetTemporalAdaptiveModule)
            module_class = TANetRectifiedTAM if rectified else module_class
            self.tam = module_class(config, tam_channels[config.tam_position])
        self.tam_includes_relu = isinstance(self.tam, TANetRectifiedTAM)

    def _first_conv(self, hidden_state: torch.Tensor) -> torch.Tensor:
        """`conv1`, or I3D's inflated `conv1` (the 2D centre tap plus [`TANetInflatedTaps`]) for `"i3d"`."""
        out = self.conv1(hidden_state)
        return out + self.tam(hidden_state) if self.inflated else out

    def _tam_at(self, position: str, hidden_state: torch.Tensor) -> torch.Tensor:
        """The temporal module where this block carries it at `position` (a, d: no ReLU before it); otherwise
        `hidden_state`."""
        return self.tam(hidden_state) if self.tam_position == position else hidden_state

    def _relu_at(self, position: str, pre_activation: torch.Tensor) -> torch.Tensor:
        """The ReLU, then the temporal module where this block carries it at `position` (b, c); TAM there is a
        [`TANetRectifiedTAM`], one `relu → TAM` unit."""
        if self.tam_position != position:
            return self.activation(pre_activation)
        return self.tam(pre_activation) if self.tam_includes_relu else self.tam(self.activation(pre_activation))

    def _conv_after(
        self, position: str, conv: Callable[[torch.Tensor], torch.Tensor], hidden_state: torch.Tensor
    ) -> torch.Tensor:
        """`conv(hidden_state)`; where `hidden_state` is the output of this block's TAM at `position`, the convolution
        keeps TAM's recipe for backward instead of the tensor ([`saved_as_recipe`]): C2D's activation memory. Not
        under gradient checkpointing, whose own hooks already keep nothing inside the block."""
        if self.tam_position != position or self.gradient_checkpointing:
            return conv(hidden_state)
        with saved_as_recipe(hidden_state):
            return conv(hidden_state)


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
        out = self._relu_at("b", self.bn1(self._conv_after("a", self._first_conv, out)))
        out = self._relu_at("c", self.bn2(self._conv_after("b", self.conv2, out)))
        out = self._tam_at("d", self.bn3(self._conv_after("c", self.conv3, out)))
        return self._tam_at("output", self.activation(out + residual))


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
        out = self._relu_at("b", self.bn1(self._conv_after("a", self._first_conv, out)))
        out = self._tam_at("c", self.bn2(self._conv_after("b", self.conv2, out)))
        return self._tam_at("output", self.activation(out + residual))


# Adapted from transformers.models.resnet.modeling_resnet.ResNetStage.
class TANetStage(nn.Module):
    """One ResNet stage (res2–res5): `depth` blocks, the first with the stage's stride and a projection shortcut."""

    def __init__(
        self, config: TANetConfig, in_channels: int, out_channels: int, depth: int, stride: int, use_tam: bool
    ):
        super().__init__()
        layer_class = TANetBottleNeckLayer if config.layer_type == "bottleneck" else TANetBasicLayer
        every_other = config.temporal_module == "nonlocal"  # non-local blocks follow every other block
        self.layers = nn.ModuleList(
            layer_class(
                config,
                in_channels if i == 0 else out_channels,
                out_channels,
                stride if i == 0 else 1,
                use_tam and (i % 2 == 1 or not every_other),
            )
            for i in range(depth)
        )

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            hidden_state = layer(hidden_state)
        return hidden_state


class TANetEncoder(nn.Module):
    def __init__(self, config: TANetConfig):
        super().__init__()
        use_tam = config.temporal_module != "none"
        in_sizes = [config.embedding_size] + list(config.hidden_sizes[:-1])
        self.stages = nn.ModuleList(
            TANetStage(
                config,
                in_channels,
                out_channels,
                depth,
                stride=1 if i == 0 else 2,
                use_tam=use_tam
                and f"stage{i + 1}" in config.tam_stages
                and (config.temporal_module != "nonlocal" or f"stage{i + 1}" in NONLOCAL_STAGES),
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
        Adapted from `transformers.models.resnet.modeling_resnet.ResNetPreTrainedModel._init_weights` (plus Conv1d,
        the head and the other temporal modules' documented init); the base class's initialisation runs first."""
        super()._init_weights(module)
        if isinstance(module, (nn.Conv2d, nn.Conv3d)):  # Conv3d: C2D-TConv's random temporal convolution
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, TANetChannelwiseTemporalConv):  # C2D-TIM: TSM's shift
            init.copy_(module.weight, module.shift_initialisation(*module.weight.shape))
        elif isinstance(module, TANetInflatedTaps):  # I3D: outer taps zero, the 2D conv1 is the centre tap
            init.zeros_(module.weight)
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
            init.constant_(module.weight, getattr(module, "initial_scale", 1.0))  # 0 in a non-local block
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
        output_tam_weights: bool | None = None,
        **kwargs,
    ) -> TANetModelOutput:
        """
        Args:
            pixel_values (`torch.FloatTensor` of shape `(B, T, C, H, W)` or `(B, V, T, C, H, W)`):
                Normalised frames (see [`TANetVideoProcessor`]); `T` must equal `config.num_frames`.
            output_hidden_states (`bool`, *optional*):
                Return the stem's and every stage's output.
            output_tam_weights (`bool`, *optional*):
                Return every TAM's `Θ` `(B, C, K)` and `V` `(B, C, T)` ([`TANetTAMWeights`]); defaults to
                `config.output_tam_weights`.
            return_dict (`bool`, *optional*):
                Return a tuple instead of a [`TANetModelOutput`] when `False`.
        """
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        batch, views = self._check_pixel_values(pixel_values)
        num_frames = self.config.num_frames
        frames = pixel_values.reshape(-1, *pixel_values.shape[-3:])  # (B*V*T, C, H, W)

        if output_tam_weights is None:
            output_tam_weights = self.config.output_tam_weights
        embedding = self.embedder(frames)
        with recorded_tam_weights(self, output_tam_weights) as tam_weights:
            last_hidden, hidden_states = self.encoder(embedding, num_frames, output_hidden_states=output_hidden_states)
        frame_features = self.pooler(last_hidden).flatten(1).view(batch * views, num_frames, -1)  # (B*V, T, C)
        pooled = frame_features.view(batch, views * num_frames, -1).mean(dim=1)  # (B, C)
        return TANetModelOutput(
            last_hidden_state=last_hidden.view(batch * views, num_frames, *last_hidden.shape[1:]),
            pooler_output=pooled,
            frame_features=frame_features,
            hidden_states=hidden_states,
            tam_weights=tuple(tam_weights) if output_tam_weights else None,
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
        output_tam_weights: bool | None = None,
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
            output_tam_weights (`bool`, *optional*):
                Return every TAM's `Θ` and `V`, as [`TANetModel`] does.
            return_dict (`bool`, *optional*):
                Return a tuple instead of a [`TANetVideoClassifierOutput`] when `False`.
        """
        outputs = self.tanet(
            pixel_values,
            output_hidden_states=output_hidden_states,
            output_tam_weights=output_tam_weights,
            return_dict=True,
        )
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
            tam_weights=outputs.tam_weights,
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
    "TANetTAMWeights",
    "TANetTemporalPooling",
    "TANetTemporalConv",
    "TANetChannelwiseTemporalConv",
    "TANetTemporalShift",
    "TANetInflatedTaps",
    "TANetNonLocal",
    "TANetModelOutput",
    "TANetVideoClassifierOutput",
]
