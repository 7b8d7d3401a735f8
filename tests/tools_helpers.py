"""Models and videos for the inference-tool tests: a saved tiny TANet folder, and a two-class model whose classes
(dark / bright) are determined by construction, with videos of those classes."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import torch
from conftest import tiny_config_kwargs

from tanet_hf import TANetConfig, TANetForVideoClassification, TANetVideoProcessor

CROP = 32


def tiny_processor(**overrides) -> TANetVideoProcessor:
    settings = dict(num_frames=4, crop_size=CROP, short_side_size=CROP, sampling="uniform")
    settings.update(overrides)
    return TANetVideoProcessor(**settings)


def save_tiny_model(folder: Path, labels: list[str] | None = None, seed: int = 0, **processor_overrides) -> Path:
    """A randomly initialised tiny classifier (classifier weights scaled up so scores are not all ~0) and its
    processor, saved to `folder`."""
    labels = labels or [f"class {i}" for i in range(5)]
    torch.manual_seed(seed)
    config = TANetConfig(
        **tiny_config_kwargs(num_labels=len(labels)),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    model = TANetForVideoClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight.normal_(0, 1.0)
    model.save_pretrained(folder)
    tiny_processor(**processor_overrides).save_pretrained(folder)
    return folder


def write_frames(path: Path, frames: np.ndarray, fps: int = 10) -> Path:
    """Encode `(N, H, W, 3)` `uint8` frames as an H.264 `.mp4`."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "10", "preset": "ultrafast"})
        stream.height, stream.width = frames.shape[1:3]
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def flat_frames(level: int, count: int, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    """`count` frames of uniform gray `level` with a little fixed noise, `(count, H, W, 3)` `uint8`."""
    noise = np.random.default_rng(0).integers(-8, 9, size=(*size, 3))
    return np.broadcast_to(np.clip(level + noise, 0, 255).astype(np.uint8), (count, *size, 3)).copy()


def save_brightness_model(folder: Path) -> Path:
    """A tiny classifier with labels `["dark", "bright"]` that tells them apart by construction: the classifier is the
    nearest-centroid rule `logit_c = f·μ_c − ½|μ_c|²` on the backbone's per-frame features `f`, `μ_c` the mean
    feature of a clip of class `c` (the head averages per-frame logits, so a clip's logits are this rule on its mean
    feature)."""
    save_tiny_model(folder, labels=["dark", "bright"])
    model = TANetForVideoClassification.from_pretrained(folder).eval()
    processor = TANetVideoProcessor.from_pretrained(folder)
    centroids = []
    with torch.no_grad():
        for level in (40, 215):
            clip = torch.from_numpy(flat_frames(level, 4)).permute(0, 3, 1, 2)
            centroids.append(model.tanet(processor(clip, do_sample_frames=False)["pixel_values"]).pooler_output[0])
        means = torch.stack(centroids)
        model.classifier.weight.copy_(means)
        model.classifier.bias.copy_(-0.5 * (means**2).sum(dim=1))
    model.save_pretrained(folder)
    return folder
