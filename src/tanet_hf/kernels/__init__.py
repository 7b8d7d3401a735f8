# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""
Optional native backends for the model, installed by `import tanet_hf`; never part of a saved model folder.

The model files (`modeling_tanet.py` and friends) are what `save_pretrained` copies next to the weights and what a
Hub user runs with `trust_remote_code=True`: pure PyTorch, no compiler, no shared libraries. They expose one
extension point, [`TANetRectifiedTAM.kernel_forward`] (a class attribute, `None` there), in the spirit of
transformers' `use_kernel_forward_from_hub`: a function that computes the `relu → TAM` unit's output or declines.
[`install`] sets it to the fused CPU forward of [`ops`] (registered `torch.ops.tanet_hf.*` operators over the C
kernels of [`tam_cpu`]). Why a class attribute rather than replacing `forward` or wrapping modules: the model's own
`forward` stays the readable reference, instances and checkpoints are unchanged (same module tree, same state-dict
keys), and a process that never imports `tanet_hf` (remote code) simply never has the attribute set.

Importing this package only registers the operators; the C library is built on the first CPU forward that uses it
(see [`tam_cpu`] for why at first use rather than at install).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ..modeling_tanet import TANetRectifiedTAM


def install() -> None:
    """Route every [`TANetRectifiedTAM`] through the fused CPU operators (CPU float32/float64 tensors only)."""
    from .ops import rectified_tam_forward

    TANetRectifiedTAM.kernel_forward = rectified_tam_forward


def uninstall() -> None:
    """Back to the model's own PyTorch forward."""
    TANetRectifiedTAM.kernel_forward = None


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """The model's own PyTorch forward inside the block, whatever is installed: for programs that must run without
    `tanet_hf` (ONNX files, `torch.export` programs), which would otherwise record `torch.ops.tanet_hf.*` calls."""
    previous = TANetRectifiedTAM.kernel_forward
    TANetRectifiedTAM.kernel_forward = None
    try:
        yield
    finally:
        TANetRectifiedTAM.kernel_forward = previous


__all__ = ["disabled", "install", "uninstall"]
