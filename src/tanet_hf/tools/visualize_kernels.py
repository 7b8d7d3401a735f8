"""What TAM learned: distributions of the global kernels Θ and importance maps V per stage (the paper's Figs. 5–6),
next to the shared temporal kernels of a TConv / I3D model (Fig. 3), and `tanet-hf visualize-kernels`.

TAM computes, for every video and channel, a temporal kernel `Θ` `(B, C, K)` (a softmax over `K` offsets, each row
sums to 1) and an importance map `V` `(B, C, T)` (a sigmoid, in (0, 1)); a TConv / I3D 3×1×1 model has one kernel
per filter, the same for every video. As in the paper (Fig. 3: "the last block of stage4 and stage5", i.e. res4 and
res5), each stage is represented by its last TA-block. Θ and V are read from the model's `output_tam_weights=True`
output (one entry per TAM in network order); the stage of each entry follows from the config (every block of a stage
in `config.tam_stages` holds one TAM).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..configuration_tanet import TANetConfig
from ..modeling_tanet import TANetForVideoClassification, TANetTemporalAdaptiveModule
from .loading import load_classifier


@dataclass
class StageKernels:
    """
    TAM's outputs in the last TA-block of one stage, over a set of videos.

    Args:
        stage: the stage (`"stage3"` is the paper's res4).
        kernel: Θ `(N, C, K)` for N videos, or `None` (no global branch).
        importance: V `(N, C, T)`, or `None` (no local branch).
    """

    stage: str
    kernel: np.ndarray | None
    importance: np.ndarray | None


def tam_stages(config: TANetConfig) -> list[str]:
    """The stage of every TAM in network order: every block of a stage in `config.tam_stages` holds one."""
    return [
        f"stage{i + 1}"
        for i, depth in enumerate(config.depths)
        if f"stage{i + 1}" in config.tam_stages
        for _ in range(depth)
    ]


@torch.no_grad()
def tam_weights(model: TANetForVideoClassification, pixel_values: torch.Tensor) -> list[StageKernels]:
    """
    Θ and V of the last TA-block of every stage, for a batch `pixel_values` `(B, T, 3, H, W)`.

    Raises:
        ValueError: the model has no TAM (`temporal_module` other than `"tam"`), or does not return `tam_weights`.
    """
    outputs = model(pixel_values=pixel_values, output_tam_weights=True)
    entries = getattr(outputs, "tam_weights", None)
    stages = tam_stages(model.config)
    if not entries:
        raise ValueError(
            f"the model (temporal_module={model.config.temporal_module!r}) returned no TAM weights for "
            "output_tam_weights=True; Θ and V exist only in a TANet (temporal_module='tam')."
        )
    if len(entries) != len(stages):
        raise ValueError(f"the model returned {len(entries)} TAM entries, but its config places {len(stages)} TAMs.")
    last = {stage: index for index, stage in enumerate(stages)}  # the last TAM of each stage
    return [
        StageKernels(stage, _numpy(entries[index].kernel), _numpy(entries[index].importance))
        for stage, index in last.items()
    ]


def _numpy(tensor: torch.Tensor | None) -> np.ndarray | None:
    return None if tensor is None else tensor.detach().float().cpu().numpy()


def collect_tam_weights(
    model: TANetForVideoClassification, batches: Sequence[torch.Tensor] | torch.Tensor
) -> list[StageKernels]:
    """[`tam_weights`] over several batches `(B_i, T, 3, H, W)`, concatenated along the video axis."""
    per_batch = [tam_weights(model, batch) for batch in ([batches] if torch.is_tensor(batches) else batches)]
    return [
        StageKernels(
            parts[0].stage,
            None if parts[0].kernel is None else np.concatenate([p.kernel for p in parts]),
            None if parts[0].importance is None else np.concatenate([p.importance for p in parts]),
        )
        for parts in zip(*per_batch)
    ]


def shared_temporal_kernels(model: nn.Module) -> dict[str, np.ndarray]:
    """
    The temporal kernels of a model whose kernels are the same for every video (TConv, TIM, I3D 3×1×1), per stage,
    from the stage's last block, as `(taps, K)` rows (one row per filter and input channel); stages without one are
    left out. What counts as a temporal kernel in a block (outside TAM):

    - a convolution that extends over time only: `Conv3d` `K×1×1` (TConv), `Conv2d` `K×1`, `Conv1d` with `K > 1`;
    - a `(C, K)` weight of the block's temporal module (`block.tam.weight`: TIM's channel-wise taps);
    - I3D's inflated `conv1`: the block's `conv1` weight is the centre tap `W_0` and `block.tam.weight`
      `(C_out, C_in, 2, kh, kw)` holds the outer taps `W_{-1}`, `W_{+1}` (`block.inflated` is true); rows are
      `(W_{-1}, W_0, W_{+1})` per filter, input channel and spatial position.
    """
    stages = model.tanet.encoder.stages if hasattr(model, "tanet") else model.encoder.stages
    found: dict[str, np.ndarray] = {}
    for index, stage in enumerate(stages):
        kernels = _block_temporal_kernels(stage.layers[-1])
        if kernels:
            found[f"stage{index + 1}"] = np.concatenate([k.detach().float().cpu().numpy() for k in kernels])
    return found


def _block_temporal_kernels(block: nn.Module) -> list[torch.Tensor]:
    """The rules of [`shared_temporal_kernels`] for one block: a list of `(taps, K)` tensors."""
    tams = [m for m in block.modules() if isinstance(m, TANetTemporalAdaptiveModule)]
    inside_tam = {id(m) for tam in tams for m in tam.modules()}
    kernels = [
        module.weight.reshape(-1, module.kernel_size[0])
        for module in block.modules()
        if id(module) not in inside_tam and _is_temporal_convolution(module)
    ]
    weight = getattr(getattr(block, "tam", None), "weight", None)
    if isinstance(weight, torch.Tensor) and id(block.tam) not in inside_tam:
        if weight.ndim == 2:  # TIM: (C, K)
            kernels.append(weight)
        elif weight.ndim == 5 and weight.shape[2] == 2 and getattr(block, "inflated", False):  # I3D outer taps
            centre = block.conv1.weight
            kernels.append(torch.stack([weight[:, :, 0], centre, weight[:, :, 1]], dim=-1).reshape(-1, 3))
    return kernels


def _is_temporal_convolution(module: nn.Module) -> bool:
    if not isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) or module.kernel_size[0] < 2:
        return False
    return all(size == 1 for size in module.kernel_size[1:])


def plot_kernels(
    stages: Sequence[StageKernels], path: str | os.PathLike, compare: dict[str, np.ndarray] | None = None,
    compare_name: str = "shared kernels",
) -> Path:  # fmt: skip
    """
    One row per stage: violins of Θ per temporal offset (all channels and videos; dots: each video's median), of
    V per frame, and, with `compare`, of the shared kernels' weights per offset at the same stage. Written as a PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    columns = ["Θ", "V"] + ([compare_name] if compare else [])
    figure, axes = plt.subplots(len(stages), len(columns), figsize=(3.6 * len(columns), 2.6 * len(stages)),
                                squeeze=False)  # fmt: skip
    for row, stage in enumerate(stages):
        title = f"{stage.stage} (res{int(stage.stage[5:]) + 1})"
        _violins(axes[row, 0], stage.kernel, f"{title}: Θ", "offset")
        _violins(axes[row, 1], stage.importance, f"{title}: V", "frame t")
        if compare:
            _violins(axes[row, 2], compare.get(stage.stage), f"{title}: {compare_name}", "offset", per_video=False)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def _violins(axis, values: np.ndarray | None, title: str, xlabel: str, per_video: bool = True) -> None:
    """Violins over the last axis of `values` `(N, C, L)` (or `(filters, L)`), centred offsets for odd `L` kernels."""
    axis.set_title(title, fontsize=9)
    if values is None:
        axis.text(0.5, 0.5, "none", ha="center", va="center", transform=axis.transAxes)
        axis.set_xticks([])
        return
    length = values.shape[-1]
    ticks = np.arange(length) - (length // 2 if xlabel == "offset" else 0)
    axis.violinplot([values[..., i].ravel() for i in range(length)], positions=ticks, showmedians=True)
    if per_video and values.ndim == 3:
        medians = np.median(values, axis=1)  # (N, L): one dot per video
        jitter = np.linspace(-0.15, 0.15, len(medians))[:, None]
        axis.scatter((ticks + jitter).ravel(), medians.ravel(), s=6, color="black", zorder=3)
    axis.set_xticks(ticks)
    axis.set_xlabel(xlabel, fontsize=8)


def _load_batches(processor, videos: Sequence[str], batch_size: int) -> list[torch.Tensor]:
    clips = [processor(os.fspath(video), mode="eval")["pixel_values"] for video in videos]
    return [torch.cat(clips[i : i + batch_size]) for i in range(0, len(clips), batch_size)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="TANet folder (weights, config, video_preprocessor_config.json) or Hub id.")
    parser.add_argument("videos", nargs="+", help="Video files whose Θ and V are plotted.")
    parser.add_argument("--output", required=True, help="FILE.png.")
    parser.add_argument(
        "--compare", help="A TConv / TIM / I3D model folder whose shared kernels are plotted alongside."
    )
    parser.add_argument("--batch-size", type=int, default=8, help="Videos per forward pass (default 8).")


def run(args: argparse.Namespace) -> int:
    if Path(args.output).suffix.lower() != ".png":
        raise ValueError(f"--output {args.output}: expected a .png file.")
    network, processor = load_classifier(args.model)
    stages = collect_tam_weights(network, _load_batches(processor, args.videos, args.batch_size))
    compare = None
    if args.compare:
        other, _ = load_classifier(args.compare)
        compare = shared_temporal_kernels(other)
        if not compare:
            raise ValueError(
                f"--compare {args.compare}: temporal_module={other.config.temporal_module!r} has no shared temporal "
                "kernels (expected a TConv, TIM or I3D model)."
            )
        name = f"{other.config.temporal_module} kernels"
    path = plot_kernels(stages, args.output, compare, name if compare else "")
    print(f"wrote {path}: Θ and V of {len(args.videos)} videos at {[s.stage for s in stages]}", file=sys.stderr)
    return 0


__all__ = [
    "StageKernels",
    "collect_tam_weights",
    "plot_kernels",
    "shared_temporal_kernels",
    "tam_stages",
    "tam_weights",
]
