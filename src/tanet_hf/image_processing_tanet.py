# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Image processor for TANet: the video processor's transforms behind the `AutoImageProcessor` interface.

Code written for image-processor-era video models (VideoMAE, TimeSformer) decodes the frames itself and calls
`image_processor(list_of_frames)`. [`TANetImageProcessor`] is [`TANetVideoProcessor`] with that calling convention:
it is the same class underneath (same settings, same crops, same normalisation), it reads and writes
`preprocessor_config.json`, and by default it uses the frames it is given as the clip (`do_sample_frames=False`).
"""

from __future__ import annotations

import os
from typing import Any

from transformers import BatchFeature
from transformers.image_processing_base import ImageProcessingMixin

from .video_processing_tanet import TANetVideoProcessor


class TANetImageProcessor(TANetVideoProcessor):
    r"""
    [`TANetVideoProcessor`] for `AutoImageProcessor`: `processor(frames)` with `frames` a list of PIL images or
    `(H, W, 3)` arrays (one clip), or a list of such lists (a batch), gives `pixel_values` `(B, T, 3, 224, 224)` in
    `"eval"` mode. All settings and modes of [`TANetVideoProcessor`] apply; pass `do_sample_frames=True` to sample
    `num_frames` frames out of longer frame lists.
    """

    do_sample_frames = False
    _auto_class = None  # not inherited from the video processor: this class registers as "AutoImageProcessor"

    @classmethod
    def from_video_processor(cls, video_processor: TANetVideoProcessor) -> TANetImageProcessor:
        """The image processor with the settings of `video_processor`."""
        settings = video_processor.to_dict()
        settings.pop("video_processor_type", None)
        settings["do_sample_frames"] = False
        return cls(**settings)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> TANetImageProcessor:
        """Load from `preprocessor_config.json` (as every image processor does)."""
        return ImageProcessingMixin.from_pretrained.__func__(cls, pretrained_model_name_or_path, **kwargs)

    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **kwargs: Any):
        """Write `preprocessor_config.json` (and the code files when registered for auto classes)."""
        return ImageProcessingMixin.save_pretrained(self, save_directory, push_to_hub=push_to_hub, **kwargs)

    @classmethod
    def register_for_auto_class(cls, auto_class: str = "AutoImageProcessor") -> None:
        ImageProcessingMixin.register_for_auto_class.__func__(cls, auto_class)

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        output.pop("video_processor_type", None)
        output["image_processor_type"] = type(self).__name__
        return output

    def __call__(self, images: Any = None, **kwargs: Any) -> BatchFeature:
        return self.preprocess(images, **kwargs)


__all__ = ["TANetImageProcessor"]
