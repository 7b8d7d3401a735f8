"""Multiply-accumulate counts of a TANet forward pass, the way the paper and fvcore count them.

Convolutions, linear layers and matrix products are counted (via `torch.utils.flop_counter.FlopCounterMode`);
normalisation, activations and pooling are not. TAM's temporal aggregation is a grouped convolution in the
release's formulation (counted by the flop counter) and `K` multiply-adds per element in the fast formulation
and in the fused CPU operators (counted here explicitly, once per TAM), so every path reports the same number; the
fused inference operator registers its branches' matrix products with the flop counter.
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from .modeling_tanet import TANetTemporalAdaptiveModule


@torch.no_grad()
def count_macs(model: torch.nn.Module, pixel_values: torch.Tensor) -> int:
    """
    Multiply-accumulates of one forward pass of `model` on `pixel_values`.

    Args:
        model: a `TANetModel` / `TANetForVideoClassification` (any module containing TAMs works).
        pixel_values: `(B, T, 3, H, W)` or `(B, V, T, 3, H, W)`; the count covers the whole batch.

    Returns:
        MACs as an `int` (`GMACs = count_macs(...) / 1e9`). TANet-R50, 400 classes, `(1, 8, 3, 224, 224)`:
        32.76 GMACs.
    """
    aggregation_macs = 0

    def count_fast_aggregation(module: TANetTemporalAdaptiveModule, inputs) -> None:
        nonlocal aggregation_macs
        if module.implementation != "reference" and module.G is not None:
            aggregation_macs += module.kernel_size * inputs[0].numel()

    # Counted when the module is called, whichever forward then runs (a TANetRectifiedTAM's fused one included).
    hooks = [
        m.register_forward_pre_hook(count_fast_aggregation)
        for m in model.modules()
        if isinstance(m, TANetTemporalAdaptiveModule)
    ]
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            model(pixel_values)
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return counter.get_total_flops() // 2 + aggregation_macs


__all__ = ["count_macs"]
