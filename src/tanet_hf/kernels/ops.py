# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""
TAM's fused CPU kernels as registered PyTorch operators (`torch.ops.tanet_hf.*`), and the fused forward of the
model's `relu → TAM` unit built from them.

Every operator is declared with `torch.library.custom_op`, has a fake (shape-only) implementation and, where it is
differentiated, a registered autograd formula, so `torch.compile`, `torch.export`, fake tensors and
`FlopCounterMode` see one operator each. Each operator's CPU implementation runs the C kernel where the library
loaded and the tensors suit it (float32/float64, contiguous or channels-last), and otherwise computes the same
values with PyTorch operations, so a traced graph runs everywhere. `KERNEL_CALLS` counts the C calls per operator
(tests use it to prove that the fused path ran).

Shapes: `clips` `(B, T, C, H, W)`; `weights` `(B, T, K, C)`; `sums` `(B, T, C)`.
"""

from __future__ import annotations

from collections import Counter

import torch
from torch.utils.flop_counter import register_flop_formula

from ..modeling_tanet import (
    TANetRectifiedTAM,
    shift_accumulate,
    shift_correlate,
    transpose_shift_weights,
)
from . import tam_cpu

KERNEL_CALLS: Counter[str] = Counter()


def _kernel(name: str, *tensors: torch.Tensor):
    """The C function for these tensors, or `None` when the PyTorch computation must be used."""
    first = tensors[0]
    if first.dtype not in tam_cpu.SUFFIX or first.numel() == 0 or tam_cpu.library() is None:
        return None
    found = tam_cpu.layout(first)
    if found is None or any(t.dtype != first.dtype or tam_cpu.layout(t) != found for t in tensors[1:]):
        return None
    KERNEL_CALLS[name] += 1
    return tam_cpu.function(name, first)


def _threads() -> int:
    return torch.get_num_threads()


# --- the aggregation: Y[:, t] = Σ_k W[:, t, k] ⊙ X[:, t + k - p] ----------------------------------------------------


@torch.library.custom_op("tanet_hf::aggregate", mutates_args=(), device_types="cpu")
def aggregate(clips: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """`(B, T, C, H, W)`, `(B, T, K, C)` → `(B, T, C, H, W)` in the memory format of `clips`."""
    function = _kernel("aggregate", clips)
    if function is None:
        return shift_accumulate(clips, weights)
    batch, num_frames, channels, height, width = clips.shape
    weights = weights.contiguous()
    out = torch.empty_like(clips)
    function(clips.data_ptr(), weights.data_ptr(), None, None, out.data_ptr(),
             batch, num_frames, channels, height * width, weights.shape[2], 0, _threads())  # fmt: skip
    return out


@aggregate.register_fake
def _(clips, weights):
    return torch.empty_like(clips)


@torch.library.custom_op("tanet_hf::aggregate_backward", mutates_args=(), device_types="cpu")
def aggregate_backward(
    grad_out: torch.Tensor, clips: torch.Tensor, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both gradients of [`aggregate`]: `dX = Σ_k W'[:, t, k] ⊙ dY[:, t + k - p]` with the adjoint's weights
    `W'[:, t, k] = W[:, t + k - p, K - 1 - k]`, and `dW[b, t, k, c] = Σ_{h,w} dY[b, t, c] ⊙ X[b, t + k - p, c]`."""
    kernel_size = weights.shape[2]
    grad_out = _dense_like(grad_out, clips)
    transposed = _kernel("aggregate", grad_out)
    correlate = _kernel("correlate", grad_out, clips)
    if transposed is None or correlate is None:
        grad_clips = shift_accumulate(grad_out, transpose_shift_weights(weights))
        return grad_clips, shift_correlate(grad_out, clips, kernel_size)
    batch, num_frames, channels, height, width = clips.shape
    weights = weights.contiguous()
    grad_clips = torch.empty_like(grad_out)
    transposed(grad_out.data_ptr(), weights.data_ptr(), None, None, grad_clips.data_ptr(),
               batch, num_frames, channels, height * width, kernel_size, 1, _threads())  # fmt: skip
    grad_weights = clips.new_empty(batch, num_frames, kernel_size, channels)
    correlate(grad_out.data_ptr(), clips.data_ptr(), grad_weights.data_ptr(),
              batch, num_frames, channels, height * width, kernel_size, _threads())  # fmt: skip
    return grad_clips, grad_weights


@aggregate_backward.register_fake
def _(grad_out, clips, weights):
    return torch.empty_like(clips), weights.new_empty(weights.shape)


def _dense_like(tensor: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """`tensor` `(B, T, C, H, W)` in the layout of `reference`: contiguous, or channels-last as `(B*T, C, H, W)`."""
    if reference.is_contiguous():
        return tensor.contiguous()
    frames = tensor.flatten(0, 1).contiguous(memory_format=torch.channels_last)
    return frames.view(tensor.shape)


def _aggregate_setup(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _aggregate_grad(ctx, grad_out):
    clips, weights = ctx.saved_tensors
    return aggregate_backward(grad_out, clips, weights)


aggregate.register_autograd(_aggregate_grad, setup_context=_aggregate_setup)


# --- ReLU + squeeze: (max(X, 0), Σ_{h,w} max(X, 0)) ------------------------------------------------------------------


@torch.library.custom_op("tanet_hf::relu_spatial_sum", mutates_args=(), device_types="cpu")
def relu_spatial_sum(clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`(B, T, C, H, W)` → its ReLU (same memory format) and the ReLU's spatial sums `(B, T, C)`, in one pass."""
    function = _kernel("relu_sum", clips)
    if function is None:
        rectified = clips.clamp_min(0)
        return rectified, rectified.sum(dim=(3, 4))
    batch, num_frames, channels, height, width = clips.shape
    rectified = torch.empty_like(clips)
    sums = clips.new_empty(batch, num_frames, channels)
    if tam_cpu.layout(clips) == "nchw":  # rows of S pixels
        sizes = (batch * num_frames * channels, height * width)
    else:  # frames of S pixels of C channels
        sizes = (batch * num_frames, height * width, channels)
    function(clips.data_ptr(), rectified.data_ptr(), sums.data_ptr(), *sizes, _threads())
    return rectified, sums


@relu_spatial_sum.register_fake
def _(clips):
    return torch.empty_like(clips), clips.new_empty(clips.shape[:3])


@torch.library.custom_op("tanet_hf::relu_spatial_sum_backward", mutates_args=(), device_types="cpu")
def relu_spatial_sum_backward(
    grad_rectified: torch.Tensor, grad_sums: torch.Tensor, rectified: torch.Tensor
) -> torch.Tensor:
    """`dX = (dR + dS[..., None, None]) ⊙ [R > 0]`: both outputs' gradients through the ReLU, in one pass."""
    grad_rectified = _dense_like(grad_rectified, rectified)
    function = _kernel("aggregate", grad_rectified, rectified)
    if function is None:
        return (grad_rectified + grad_sums[..., None, None]) * (rectified > 0)
    batch, num_frames, channels, height, width = rectified.shape
    ones = rectified.new_ones(batch, num_frames, 1, channels)  # K = 1: the identity aggregation, then bias and mask
    grad_sums = grad_sums.contiguous()  # kept alive for the call
    grad_clips = torch.empty_like(grad_rectified)
    function(grad_rectified.data_ptr(), ones.data_ptr(), grad_sums.data_ptr(), rectified.data_ptr(),
             grad_clips.data_ptr(), batch, num_frames, channels, height * width, 1, 0, _threads())  # fmt: skip
    return grad_clips


@relu_spatial_sum_backward.register_fake
def _(grad_rectified, grad_sums, rectified):
    return torch.empty_like(rectified)


def _relu_sum_setup(ctx, inputs, output):
    ctx.save_for_backward(output[0])


def _relu_sum_grad(ctx, grad_rectified, grad_sums):
    (rectified,) = ctx.saved_tensors
    if grad_rectified is None:
        grad_rectified = torch.zeros_like(rectified)
    if grad_sums is None:
        grad_sums = rectified.new_zeros(rectified.shape[:3])
    return relu_spatial_sum_backward(grad_rectified, grad_sums, rectified)


relu_spatial_sum.register_autograd(_relu_sum_grad, setup_context=_relu_sum_setup)


# --- a whole relu → TAM in inference, in place --------------------------------------------------------------------


@torch.library.custom_op("tanet_hf::rectified_tam_inference_", mutates_args=("clips",), device_types="cpu")
def rectified_tam_inference_(
    clips: torch.Tensor,
    kernel_size: int,
    local_first: bool,
    g_in: torch.Tensor,
    g_mean: torch.Tensor,
    g_var: torch.Tensor,
    g_gamma: torch.Tensor | None,
    g_beta: torch.Tensor | None,
    g_eps: float,
    g_out: torch.Tensor,
    l_in: torch.Tensor | None,
    l_mean: torch.Tensor | None,
    l_var: torch.Tensor | None,
    l_gamma: torch.Tensor | None,
    l_beta: torch.Tensor | None,
    l_eps: float,
    l_out: torch.Tensor | None,
) -> None:
    """
    `clips` `(B, T, C, H, W)` ← `TAM(relu(clips))` with eval-mode BatchNorm in both branches: global branch
    `Linear(T, αT)` `g_in` → BN (`g_*`) → ReLU → `Linear(αT, K)` `g_out` → softmax; local branch (or all `None`)
    `Conv1d(C, C/β, k)` `l_in` → BN (`l_*`) → ReLU → `Conv1d(C/β, C, 1)` `l_out` → sigmoid. Only called where
    [`supports_inference`] holds (C library loaded, tensors suited).
    """
    function = _kernel("eval", clips)
    if function is None:
        raise RuntimeError("tanet_hf::rectified_tam_inference_ needs the C library; check supports_inference first.")
    batch, num_frames, channels, height, width = clips.shape

    def pointer(tensor: torch.Tensor | None) -> int | None:
        return tensor.data_ptr() if tensor is not None else None

    arguments = [
        clips.data_ptr(), batch, num_frames, channels, height * width, kernel_size,
        g_in.data_ptr(), g_in.shape[0], g_mean.data_ptr(), g_var.data_ptr(), pointer(g_gamma), pointer(g_beta), g_eps,
        g_out.data_ptr(),
    ]  # fmt: skip
    if l_in is not None:
        arguments += [l_in.data_ptr(), l_in.shape[0], l_in.shape[2], l_mean.data_ptr(), l_var.data_ptr(),
                      pointer(l_gamma), pointer(l_beta), l_eps, pointer(l_out)]  # fmt: skip
    else:
        arguments += [None, 0, 1, None, None, None, None, 0.0, None]
    function(*arguments, int(local_first), _threads())


@rectified_tam_inference_.register_fake
def _(clips, *args):
    return None


@register_flop_formula(torch.ops.tanet_hf.rectified_tam_inference_)
def _branch_flops(clips_shape, kernel_size, local_first, g_in_shape, *rest, **kwargs) -> int:
    """The branches' matrix products, as `FlopCounterMode` counts them on the PyTorch path (2 FLOPs per MAC); like
    there, the aggregation itself is not a counted operation (`tanet_hf.flops.count_macs` adds it)."""
    batch, num_frames, channels = clips_shape[:3]
    hidden = g_in_shape[0]
    flops = 2 * batch * channels * hidden * (num_frames + kernel_size)
    l_in_shape = rest[6]
    if l_in_shape is not None:
        reduced, _, local_kernel = l_in_shape
        flops += 2 * batch * num_frames * reduced * channels * (local_kernel + 1)
    return flops


# --- the relu → TAM unit's fused forward ----------------------------------------------------------------------------


def _branch_tensors(unit: TANetRectifiedTAM) -> list:
    g_in, g_norm, _, g_out, _ = unit.G
    tensors = [g_in.weight, g_norm.running_mean, g_norm.running_var, g_norm.weight, g_norm.bias, g_norm.eps]
    tensors.append(g_out.weight)
    if unit.L is None:
        return tensors + [None] * 5 + [0.0, None]
    l_in, l_norm, _, l_out, _ = unit.L
    return tensors + [l_in.weight, l_norm.running_mean, l_norm.running_var, l_norm.weight, l_norm.bias, l_norm.eps,
                      l_out.weight]  # fmt: skip


def supports_inference(unit: TANetRectifiedTAM, clips: torch.Tensor) -> bool:
    """Whether [`rectified_tam_inference_`] can run this unit in place (eval-mode BatchNorm, bias-free branch
    layers, the library loaded, parameters of the input's dtype); checked outside traced code only."""
    if torch.compiler.is_compiling() or tam_cpu.library() is None:
        return False
    norms = [unit.G[1]] + ([unit.L[1]] if unit.L is not None else [])
    layers = [unit.G[0], unit.G[3]] + ([unit.L[0], unit.L[3]] if unit.L is not None else [])
    if any(norm.training or norm.running_mean is None for norm in norms) or any(m.bias is not None for m in layers):
        return False
    tensors = [t for t in _branch_tensors(unit) if isinstance(t, torch.Tensor)]
    return all(t.dtype == clips.dtype and t.device == clips.device and t.is_contiguous() for t in tensors)


def rectified_tam_forward(unit: TANetRectifiedTAM, pre_activation: torch.Tensor) -> torch.Tensor | None:
    """
    `TAM(relu(pre_activation))` for a [`TANetRectifiedTAM`] through the registered operators, or `None` (nothing
    touched) where they do not apply: not CPU, not float32/float64, not contiguous/channels-last, the reference
    formulation, or no global branch.

    Inference (no gradient needed, eval-mode branches): one in-place call over `pre_activation` (the block's fresh
    BatchNorm output, as under `nn.ReLU(inplace=True)`). Otherwise: ReLU and squeeze in one pass, the branches in
    PyTorch on the `(B, T, C)` sums, and the aggregation in one pass, each with its fused backward.
    """
    if (
        pre_activation.device.type != "cpu"
        or pre_activation.dtype not in tam_cpu.SUFFIX
        or unit.implementation != "fast"
        or unit.G is None
    ):
        return None
    frames_and_batch, channels, height, width = pre_activation.shape
    clips = pre_activation.view(-1, unit.num_frames, channels, height, width)
    if tam_cpu.layout(clips) is None:
        return None
    if not torch.compiler.is_compiling() and tam_cpu.library() is None:
        return None  # the unit's own PyTorch forward is the better fallback in eager mode
    needs_grad = torch.is_grad_enabled() and (
        pre_activation.requires_grad or any(p.requires_grad for p in unit.parameters())
    )
    if not needs_grad and supports_inference(unit, clips):
        torch.ops.tanet_hf.rectified_tam_inference_(clips, unit.kernel_size, unit.local_first, *_branch_tensors(unit))
        return pre_activation
    rectified, sums = torch.ops.tanet_hf.relu_spatial_sum(clips)
    weights = unit.weights_from_squeeze(sums / (height * width)).to(clips.dtype)
    return torch.ops.tanet_hf.aggregate(rectified, weights).view(frames_and_batch, channels, height, width)


__all__ = ["KERNEL_CALLS", "rectified_tam_forward", "supports_inference"]
