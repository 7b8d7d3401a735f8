"""Grad-CAM for video (Selvaraju et al., ICCV 2017, applied frame by frame) and `tanet-hf gradcam`.

For a class `c` and a layer with per-frame activations `A` of shape `(B, T, C, h, w)`, the gradient of the class
score `y_c` gives per-frame channel weights `α[b, t, k] = mean_{i,j} ∂y_c / ∂A[b, t, k, i, j]`, and the map is
`ReLU(Σ_k α[b, t, k] · A[b, t, k])` `(B, T, h, w)`, upsampled bilinearly to the input size and scaled so that each
clip's largest value is 1. The activations are the model's `output_hidden_states=True` outputs, which are the
tensors the network computed with, so their gradients are the real ones (no hooks).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..modeling_tanet import TANetForVideoClassification
from ..video_processing_tanet import TANetVideoProcessor
from .loading import load_classifier

OUTPUT_SUFFIXES = (".png", ".gif", ".mp4")


@dataclass
class GradCAM:
    """
    Grad-CAM maps of a batch of clips.

    Args:
        maps: `(B, T, H, W)` float in [0, 1], the input's frame size; each clip scaled by its own maximum (all zeros
            where no location raises the class score).
        target: `(B,)` the class each map explains.
        logits: `(B, num_labels)` the model's scores of the clips.
    """

    maps: torch.Tensor
    target: torch.Tensor
    logits: torch.Tensor


def grad_cam(
    model: TANetForVideoClassification,
    pixel_values: torch.Tensor,
    target: int | torch.Tensor | None = None,
    layer: str | None = None,
) -> GradCAM:
    """
    Per-frame Grad-CAM maps (module docstring) of `pixel_values` `(B, T, 3, H, W)`.

    Args:
        target: the class to explain: an index for every clip, a `(B,)` tensor, or `None` for each clip's top class.
        layer: `"stem"`, `"stage1"`, … (`model.config.stage_names`); default the last stage.

    Returns:
        [`GradCAM`] with `maps` `(B, T, H, W)`. The model's parameters receive no gradient (`.grad` is left as it
        was) and its train/eval mode is left as it was (the maps are computed in eval mode).
    """
    names = model.config.stage_names
    layer = layer or names[-1]
    if layer not in names:
        raise ValueError(f"layer={layer!r} is not a layer of this model; expected one of {names}.")
    if pixel_values.ndim != 5:
        raise ValueError(f"pixel_values must be (B, T, 3, H, W), got shape {tuple(pixel_values.shape)}.")
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            inputs = pixel_values.detach().clone().requires_grad_(True)  # every activation then carries a graph
            outputs = model(pixel_values=inputs, output_hidden_states=True)
            activations = outputs.hidden_states[names.index(layer)]  # (B, T, C, h, w)
            logits = outputs.logits
            target = _resolve_target(target, logits)
            score = logits.gather(1, target[:, None]).sum()
            (gradients,) = torch.autograd.grad(score, activations)
    finally:
        model.train(was_training)
    weights = gradients.mean(dim=(3, 4), keepdim=True)  # α: (B, T, C, 1, 1)
    maps = F.relu((weights * activations.detach()).sum(dim=2))  # (B, T, h, w)
    maps = F.interpolate(maps, size=pixel_values.shape[-2:], mode="bilinear", align_corners=False)  # T as channels
    peak = maps.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None, None]
    return GradCAM(maps=(maps / peak).clamp(0, 1), target=target, logits=logits.detach())


def _resolve_target(target: int | torch.Tensor | None, logits: torch.Tensor) -> torch.Tensor:
    batch, num_labels = logits.shape
    if target is None:
        return logits.argmax(dim=1)
    target = torch.as_tensor(target, device=logits.device).long().expand(batch).clone()
    if target.min() < 0 or target.max() >= num_labels:
        raise ValueError(f"target={target.tolist()} holds a class index outside [0, {num_labels}).")
    return target


def display_frames(pixel_values: torch.Tensor, processor: TANetVideoProcessor) -> np.ndarray:
    """Undo the processor's normalisation: one clip `(T, 3, H, W)` → `(T, H, W, 3)` `uint8` RGB."""
    mean = torch.tensor(processor.image_mean, dtype=torch.float32)[:, None, None]
    std = torch.tensor(processor.image_std, dtype=torch.float32)[:, None, None]
    frames = pixel_values.detach().float().cpu() * std + mean  # in [0, 1] (rescale_factor 1/255)
    return (frames.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


def overlay(frames: np.ndarray, maps: np.ndarray, colormap: str = "jet", alpha: float = 0.5) -> np.ndarray:
    """Blend a matplotlib colormap of `maps` `(T, H, W)` in [0, 1] over `frames` `(T, H, W, 3)` `uint8`."""
    from matplotlib import colormaps

    heat = colormaps[colormap](np.clip(maps, 0, 1))[..., :3] * 255  # (T, H, W, 3)
    return np.clip((1 - alpha) * frames + alpha * heat, 0, 255).astype(np.uint8)


def save_overlay(frames: np.ndarray, blended: np.ndarray, path: str | os.PathLike, fps: int = 4) -> Path:
    """`.png`: a strip, the frames above their overlays; `.gif` / `.mp4`: the overlaid frames as a video."""
    from PIL import Image

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise ValueError(f"--output {path}: expected one of {list(OUTPUT_SUFFIXES)}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        strip = np.concatenate([np.concatenate(list(frames), axis=1), np.concatenate(list(blended), axis=1)], axis=0)
        Image.fromarray(strip).save(path)
    elif suffix == ".gif":
        images = [Image.fromarray(frame) for frame in blended]
        images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    else:
        from ..synthetic import write_video

        even = blended[:, : blended.shape[1] // 2 * 2, : blended.shape[2] // 2 * 2]  # yuv420p needs even sides
        write_video(path, even, fps=fps)
    return path


def _target_index(label: str | None, model: TANetForVideoClassification) -> int | None:
    if label is None:
        return None
    if label in model.config.label2id:
        return int(model.config.label2id[label])
    if label.isdigit() and int(label) < model.config.num_labels:
        return int(label)
    raise ValueError(
        f"--label {label!r} is neither a label of this model nor a class index < {model.config.num_labels}."
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="Model folder (weights, config, video_preprocessor_config.json) or Hub id.")
    parser.add_argument("video", help="Video file.")
    parser.add_argument("--output", required=True, help="FILE.png (frame strip), FILE.gif or FILE.mp4.")
    parser.add_argument("--label", help="Class to explain, by name or index (default: the predicted class).")
    parser.add_argument("--layer", help="stem, stage1, … (default: the last stage).")
    parser.add_argument("--colormap", default="jet", help="matplotlib colormap (default jet).")
    parser.add_argument("--alpha", type=float, default=0.5, help="Opacity of the map over the frames (default 0.5).")
    parser.add_argument("--fps", type=int, default=4, help="Frame rate of a .gif / .mp4 (default 4).")


def run(args: argparse.Namespace) -> int:
    if Path(args.output).suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"--output {args.output}: expected one of {list(OUTPUT_SUFFIXES)}.")
    network, processor = load_classifier(args.model)
    pixel_values = processor(args.video, mode="eval")["pixel_values"]  # (1, T, 3, H, W)
    result = grad_cam(network, pixel_values, _target_index(args.label, network), args.layer)
    frames = display_frames(pixel_values[0], processor)
    path = save_overlay(
        frames, overlay(frames, result.maps[0].numpy(), args.colormap, args.alpha), args.output, args.fps
    )
    label = network.config.id2label[int(result.target[0])]
    score = result.logits[0].softmax(dim=0)[result.target[0]].item()
    print(f"wrote {path}: Grad-CAM of {label!r} (p={score:.3f}) at {args.layer or network.config.stage_names[-1]}",
          file=sys.stderr)  # fmt: skip
    return 0


__all__ = ["GradCAM", "grad_cam", "display_frames", "overlay", "save_overlay"]
