# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""The recipe in use: a registry `Recipe` (`tanet_hf.registry.RECIPES`, the one home of the paper's
hyper-parameters) with the fields the command line sets, the learning-rate scaling rule and the schedule.
"""

from __future__ import annotations

import math
from typing import Any

from ..registry import DATASETS, RECIPES


def resolve_recipe(train_args, model_args, data_args) -> dict[str, Any]:
    """The effective hyper-parameters: every field left `None` takes the recipe's value."""
    if train_args.recipe not in RECIPES:
        raise ValueError(f"recipe={train_args.recipe!r} is not known; expected one of {list(RECIPES)}.")
    recipe = RECIPES[train_args.recipe].as_dict()
    for name in (
        "num_train_epochs", "learning_rate", "optimizer", "momentum", "weight_decay", "lr_scheduler", "lr_steps",
        "warmup_epochs", "max_grad_norm", "linear_lr_mult", "linear_bias_lr_mult",
    ):  # fmt: skip
        value = getattr(train_args, name)
        if value is not None:
            recipe[name] = value
    if model_args.dropout is not None:
        recipe["dropout"] = model_args.dropout
    if data_args.processor_preset is not None:
        recipe["processor_preset"] = data_args.processor_preset
    if recipe["optimizer"] not in ("sgd", "adamw"):
        raise ValueError(f"optimizer={recipe['optimizer']!r} is not supported; expected 'sgd' or 'adamw'.")
    if recipe["lr_scheduler"] not in ("step", "cosine", "constant"):
        raise ValueError(
            f"lr_scheduler={recipe['lr_scheduler']!r} is not supported; expected step, cosine or constant."
        )
    if recipe["processor_preset"] is not None and recipe["processor_preset"] not in DATASETS:
        raise ValueError(f"processor_preset={recipe['processor_preset']!r} is not one of {sorted(DATASETS)}.")
    return recipe


def scaled_learning_rate(base_learning_rate: float, global_batch: int, scale: bool = True) -> float:
    """The linear scaling rule of the recipes: `base_learning_rate` is meant for a global batch of 64."""
    return base_learning_rate * (global_batch / 64 if scale else 1.0)


def lr_factor(step: int, steps_per_epoch: int, total_steps: int, recipe: dict[str, Any]) -> float:
    """
    Multiplier of every group's learning rate after `step` optimizer steps: linear warm-up over `warmup_epochs`,
    then ÷10 at each of `lr_steps` (epochs; "step"), a half cosine to 0 at `total_steps` ("cosine") or 1
    ("constant"). The step schedule changes at epoch boundaries, as the release's per-epoch `adjust_learning_rate`.
    """
    warmup_steps = int(round(recipe["warmup_epochs"] * steps_per_epoch))
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if recipe["lr_scheduler"] == "step":
        epoch = step // max(steps_per_epoch, 1)
        return 0.1 ** sum(epoch >= milestone for milestone in recipe["lr_steps"])
    if recipe["lr_scheduler"] == "cosine":
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return 1.0


__all__ = ["resolve_recipe", "scaled_learning_rate", "lr_factor"]
