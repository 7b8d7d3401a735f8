# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""The trained model's folder (`output_dir/model`): weights, video processor, labels and the model card, in
the layout `pipeline("video-classification", model=...)` and `tanet-hf push` take as is.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from ..atomic import replace_folder
from ..configuration_tanet import TANetConfig
from ..registry import Recipe
from ..video_processing_tanet import TANetVideoProcessor

logger = logging.getLogger(__name__)


def save_final_model(
    accelerator: Accelerator,
    model: torch.nn.Module,
    processor: TANetVideoProcessor,
    label_names: list[str],
    model_dir: Path,
    metrics: dict[str, Any],
    recipe: Recipe,
) -> None:
    """`model_dir`: model + video processor (+ remote code), `labels.txt` and a README card, ready for
    `pipeline("video-classification", model=model_dir)` and `tanet-hf push`."""
    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model, keep_torch_compile=False)
    state_dict = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        tmp = model_dir.with_name(f".tmp-{model_dir.name}")
        shutil.rmtree(tmp, ignore_errors=True)
        unwrapped.save_pretrained(tmp, state_dict=state_dict, save_function=accelerator.save)
        processor.save_pretrained(tmp)
        (tmp / "labels.txt").write_text("\n".join(label_names) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(
            model_card_text(unwrapped.config, label_names, metrics, recipe), encoding="utf-8"
        )
        replace_folder(tmp, model_dir)
        logger.info("Saved the model, video processor and labels to %s.", model_dir)
    accelerator.wait_for_everyone()


def model_card_text(
    config: TANetConfig,
    label_names: list[str],
    metrics: dict[str, Any],
    recipe: Recipe,
) -> str:
    """The trained folder's card, written by the one card writer (`tanet_hf.conversion.model_card`)."""
    from ..conversion.model_card import build_model_card

    classes = ", ".join(label_names[:20]) + (" …" if len(label_names) > 20 else "")
    training = f"Trained with `tanet_hf`, recipe `{recipe.name}`: {recipe.describe()} Classes: {classes}."
    card = build_model_card(config, "path/to/this/folder", evaluation=metrics, training=training)
    return str(card)


__all__ = ["model_card_text", "save_final_model"]
