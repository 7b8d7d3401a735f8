"""Training kit. `augmentation` holds the training-time transforms; the rest of the kit (arguments, recipes, the
Accelerate loop, checkpoints) is still the single module `_legacy`, whose names are reachable from here
(`from tanet_hf.training import train`) and loaded on first use, so that importing `tanet_hf.training.augmentation`
(as `tanet_hf.data` does) does not import the loop."""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    _legacy = importlib.import_module(f"{__name__}._legacy")
    try:
        return getattr(_legacy, name)
    except AttributeError:
        raise AttributeError(f"module 'tanet_hf.training' has no attribute {name!r}") from None
