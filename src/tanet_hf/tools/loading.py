"""Load a model folder (or Hub id) and its video processor for inference, with errors that name the folder."""

from __future__ import annotations

import os

import torch

from ..modeling_tanet import TANetForVideoClassification, TANetModel
from ..video_processing_tanet import TANetVideoProcessor

PROCESSOR_FILE = "video_preprocessor_config.json"


def load_processor(model: str | os.PathLike, num_frames: int) -> TANetVideoProcessor:
    """
    The video processor saved with `model`; its `num_frames` must be the model's T.

    Raises:
        ValueError: the folder has no `video_preprocessor_config.json` (the tools do not guess the crop, short side
            and sampling a checkpoint was trained with), or its `num_frames` differs from the model's.
    """
    name = os.fspath(model)
    if os.path.isdir(name) and not os.path.isfile(os.path.join(name, PROCESSOR_FILE)):
        raise ValueError(
            f"{name}: no {PROCESSOR_FILE} in the model folder; the tools need the processor the checkpoint was "
            f"trained with (frames T, short side, crop, sampling). Save one next to the weights, e.g. "
            f"`TANetVideoProcessor(num_frames={num_frames}, short_side_size=256, crop_size=224).save_pretrained(...)`."
        )
    processor = TANetVideoProcessor.from_pretrained(name)
    if processor.num_frames != num_frames:
        raise ValueError(
            f"{name}: the processor samples num_frames={processor.num_frames} but the model was built for "
            f"num_frames={num_frames}; TAM's global branch is tied to T, so they must agree."
        )
    return processor


def load_classifier(model: str | os.PathLike) -> tuple[TANetForVideoClassification, TANetVideoProcessor]:
    """`(model in eval mode, processor)` from a folder saved by `save_pretrained` (weights, config, processor)."""
    network = _from_pretrained(TANetForVideoClassification, model)
    return network, load_processor(model, network.config.num_frames)


def load_backbone(model: str | os.PathLike) -> tuple[TANetModel, TANetVideoProcessor]:
    """`(TANetModel in eval mode, processor)`; a classification checkpoint gives its backbone."""
    network = _from_pretrained(TANetForVideoClassification, model).tanet
    return network.eval(), load_processor(model, network.config.num_frames)


def _from_pretrained(cls, model: str | os.PathLike):
    name = os.fspath(model)
    if not os.path.exists(name) and (name.startswith((".", "/", "~")) or name.count("/") > 1):  # not a Hub id
        raise ValueError(f"{name}: model folder not found.")
    try:
        network = cls.from_pretrained(name)
    except OSError as error:
        raise ValueError(f"{name}: cannot load a TANet checkpoint ({error}).") from error
    return network.eval()


def model_id(model: str | os.PathLike) -> str:
    """How a model is named in the files the tools write: the path or Hub id as given."""
    return os.fspath(model)


@torch.inference_mode()
def classify(network: TANetForVideoClassification, pixel_values: torch.Tensor) -> torch.Tensor:
    """Logits `(B, num_labels)` for `(B, T, 3, H, W)` or `(B, V, T, 3, H, W)` (views fused as the config says)."""
    return network(pixel_values=pixel_values).logits.float()
