# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""The recipe in use: a registry [`Recipe`] (`tanet_hf.registry.RECIPES`, the one home of the paper's
hyper-parameters) with the values the command line sets, the learning-rate scaling rule and the schedule.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ..registry import DATASETS, RECIPES, Recipe

OPTIMIZERS = {"sgd": "sgd", "adamw": "adamw", "adamw_torch": "adamw"}  # `--optim` value → the recipe's optimizer
SCHEDULES = ("step", "cosine", "constant")


def resolve_recipe(name: str, **overrides: Any) -> Recipe:
    """
    The registry recipe `name` with `overrides` (a `Recipe` field → value; `None` values keep the recipe's).

    Raises `ValueError` naming an unknown recipe, optimizer, schedule or processor preset.
    """
    if name not in RECIPES:
        raise ValueError(f"recipe={name!r} is not known; expected one of {list(RECIPES)}.")
    values = {key: value for key, value in overrides.items() if value is not None}
    if "optimizer" in values:
        if values["optimizer"] not in OPTIMIZERS:
            raise ValueError(f"optim={values['optimizer']!r} is not supported; expected one of {list(OPTIMIZERS)}.")
        values["optimizer"] = OPTIMIZERS[values["optimizer"]]
    if "lr_steps" in values:
        values["lr_steps"] = tuple(values["lr_steps"])
    recipe = dataclasses.replace(RECIPES[name], **values)
    if recipe.lr_scheduler not in SCHEDULES:
        raise ValueError(
            f"lr_scheduler_type={recipe.lr_scheduler!r} is not supported; expected one of {list(SCHEDULES)}."
        )
    if recipe.processor_preset is not None and recipe.processor_preset not in DATASETS:
        raise ValueError(f"processor_preset={recipe.processor_preset!r} is not one of {sorted(DATASETS)}.")
    return recipe


def scaled_learning_rate(recipe: Recipe, global_batch: int, scale: bool = True) -> float:
    """The linear scaling rule: `recipe.learning_rate` is meant for a global batch of `recipe.batch_size` (64)."""
    return recipe.learning_rate * (global_batch / recipe.batch_size if scale else 1.0)


def warmup_steps_of(recipe: Recipe, steps_per_epoch: int, warmup_steps: int | None = None) -> int:
    """Warm-up length in optimizer steps: `warmup_steps` when given, else the recipe's `warmup_epochs`."""
    return int(warmup_steps) if warmup_steps is not None else int(round(recipe.warmup_epochs * steps_per_epoch))


def lr_factor(step: int, steps_per_epoch: int, total_steps: int, recipe: Recipe, warmup_steps: int = 0) -> float:
    """
    Multiplier of every group's learning rate after `step` optimizer steps: linear warm-up over `warmup_steps`,
    then ÷10 at each of `recipe.lr_steps` (epochs; "step"), a half cosine to 0 at `total_steps` ("cosine") or 1
    ("constant"). The step schedule changes at epoch boundaries, as the release's per-epoch `adjust_learning_rate`.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if recipe.lr_scheduler == "step":
        epoch = step // max(steps_per_epoch, 1)
        return 0.1 ** sum(epoch >= milestone for milestone in recipe.lr_steps)
    if recipe.lr_scheduler == "cosine":
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return 1.0


__all__ = ["OPTIMIZERS", "SCHEDULES", "lr_factor", "resolve_recipe", "scaled_learning_rate", "warmup_steps_of"]
