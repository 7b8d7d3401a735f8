# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Conversion wing: foreign checkpoints → TANet state dicts → Hub folders → the Hub.

- `state_dict`: read checkpoints safely, rename keys, read the architecture off the tensors, ImageNet init.
- `convert`: assemble a complete Hub folder (`tanet-hf convert`).
- `model_card`: the one card writer, for converted and trained folders (`tanet-hf model-cards`).
- `hub`: push a folder with `HfApi.upload_folder` (`tanet-hf push`).

The wing imports the model wing and `tanet_hf.registry` / `tanet_hf.labels`; nothing in the model wing imports it.
"""

from .state_dict import CheckpointError, load_imagenet_resnet, read_state_dict

__all__ = ["CheckpointError", "load_imagenet_resnet", "read_state_dict"]
