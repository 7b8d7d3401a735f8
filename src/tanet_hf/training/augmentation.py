# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Training augmentation of the authors' release, applied by the training dataset
(`tanet_hf.training.loading.VideoClipDataset`) and never saved with a model:

1. random temporal offsets: [`sample_frame_indices`] in `"train"` mode (a random frame per TSN segment, or a random
   start of the dense window); with `frame_seek="keyframe"` (opt-in), a keyframe drawn at random among those of
   each segment instead, where the segment holds one (one decoded frame per clip frame; see
   [`snap_to_keyframes`]);
2. multi-scale crop: a box whose sides are drawn from `scales` × the short side (after resizing it to the
   processor's `size`), at one of 13 fixed offsets, resized to the processor's `crop_size`;
3. horizontal flip with probability 0.5; a flipped clip's label goes through `flip_label_map` (classes whose
   meaning a mirror reverses, "... left to right" ↔ "... right to left").

Sampling, resize size, crop size, normalisation and decoding come from the [`TANetVideoProcessor`] the model is
saved with, so training and inference cannot drift apart. As in the processor, frames too large to resize whole are
cropped in source coordinates first ([`resize_within_budget`], [`crop_resized`]), so the work is bounded by the
output size whatever the frame's shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..video_decoding_tanet import FRAME_SEEK_MODES, decode_video_frames
from ..video_processing_tanet import (
    TANetVideoProcessor,
    crop_resized,
    fixed_crop_offsets,
    interpolation_mode,
    resize_within_budget,
    resized_shape,
    sample_frame_indices,
)

MULTISCALE_SCALES = (1.0, 0.875, 0.75, 0.66)


def sample_multiscale_crop(
    image_height: int,
    image_width: int,
    output_size: tuple[int, int],
    scales: tuple[float, ...] | list[float],
    rng: np.random.Generator,
    max_distort: int = 1,
) -> tuple[int, int, int, int]:
    """
    The release's multi-scale crop box `(top, left, height, width)`.

    Candidate sides are `int(short_side · s)` for every scale `s`, snapped to the output side when within 3 pixels;
    a `(width, height)` pair is drawn among those whose scale indices differ by at most `max_distort`, then a
    position among the 13 [`fixed_crop_offsets`]. The crop is later resized to `output_size` `(height, width)`.
    """
    out_height, out_width = output_size
    base = min(image_height, image_width)
    sides = [int(base * scale) for scale in scales]
    heights = [out_height if abs(side - out_height) < 3 else side for side in sides]
    widths = [out_width if abs(side - out_width) < 3 else side for side in sides]
    pairs = [
        (min(w, image_width), min(h, image_height))
        for i, h in enumerate(heights)
        for j, w in enumerate(widths)
        if abs(i - j) <= max_distort
    ]
    crop_width, crop_height = pairs[int(rng.integers(len(pairs)))]
    offsets = fixed_crop_offsets(image_width, image_height, crop_width, crop_height, more_offsets=True)
    left, top = offsets[int(rng.integers(len(offsets)))]
    return top, left, crop_height, crop_width


def _int_label_map(label_map: Mapping[Any, Any] | None) -> dict[int, int] | None:
    if label_map is None:
        return None
    if not isinstance(label_map, Mapping):
        raise ValueError(f"flip_label_map must be a dict of label → label, got {type(label_map).__name__}.")
    try:
        return {int(key): int(value) for key, value in label_map.items()}
    except (TypeError, ValueError) as error:
        raise ValueError(f"flip_label_map must map integer labels to integer labels, got {label_map!r}.") from error


@dataclass
class TrainAugmentation:
    """
    The release's training transform of one video, see the module documentation.

    Args:
        scales: crop scales of the multi-scale crop (the release: 1, .875, .75, .66), each in `(0, 1]`.
        do_flip: random horizontal flip with probability 0.5.
        flip_label_map: labels swapped when a clip is flipped (`None`: labels never change).
        frame_seek: `"exact"` (the release's random frame of each segment) or `"keyframe"` (approximate and cheaper
            to decode: a random keyframe of each segment that holds one, the exact random frame elsewhere). The
            processor's own `frame_seek` governs evaluation and inference, not this.
    """

    scales: tuple[float, ...] = MULTISCALE_SCALES
    do_flip: bool = True
    flip_label_map: dict[int, int] | None = field(default=None)
    frame_seek: str = "exact"

    def __post_init__(self) -> None:
        self.scales = tuple(float(scale) for scale in self.scales)
        if not self.scales or any(not 0 < scale <= 1 for scale in self.scales):
            raise ValueError(f"TrainAugmentation.scales must be non-empty values in (0, 1], got {self.scales!r}.")
        self.flip_label_map = _int_label_map(self.flip_label_map)
        if self.frame_seek not in FRAME_SEEK_MODES:
            raise ValueError(
                f"TrainAugmentation.frame_seek={self.frame_seek!r} is not supported; expected one of "
                f"{list(FRAME_SEEK_MODES)}."
            )

    def __call__(
        self, video: Any, label: int, processor: TANetVideoProcessor, rng: np.random.Generator
    ) -> tuple[torch.Tensor, int]:
        """
        One training clip of `video` (anything the processor reads) → `pixel_values` `(T, 3, h, w)` float32,
        normalised as `processor` does, and the label (swapped through `flip_label_map` when flipped). All random
        choices come from `rng`, in a fixed order (frames, crop, flip), so a seeded `rng` gives the same clip.
        """
        decoded = decode_video_frames(
            video,
            lambda total, keyframes=None: sample_frame_indices(
                total, processor.num_frames, processor.sampling, "train", 1, processor.dense_window, rng, keyframes
            ),
            backend=processor.decode_backend,
            frame_seek=self.frame_seek,
        )
        frames = decoded.frames  # (T, 3, H, W) uint8
        height, width = frames.shape[-2:]
        resized = resized_shape(height, width, processor.short_side_size) if processor.do_resize else (height, width)
        crop = processor.crop_size
        box = sample_multiscale_crop(*resized, (crop.height, crop.width), self.scales, rng)
        interpolation = interpolation_mode(processor.resample)
        frames, resized = resize_within_budget(frames, resized, box[2] * box[3], interpolation)
        frames = crop_resized(frames, box, resized, (crop.height, crop.width), interpolation)
        if self.do_flip and rng.random() < 0.5:
            frames = frames.flip(-1)
            label = (self.flip_label_map or {}).get(int(label), int(label))
        return processor.normalize_frames(frames), int(label)


__all__ = [
    "MULTISCALE_SCALES",
    "TrainAugmentation",
    "sample_multiscale_crop",
]
