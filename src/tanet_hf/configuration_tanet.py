# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""TANet configuration.

TANet ("TAM: Temporal Adaptive Module for Video Recognition", Liu et al., ICCV 2021) is a 2D ResNet whose
bottleneck blocks carry a Temporal Adaptive Module (TAM). The backbone is described with the same vocabulary as
transformers' `ResNetConfig` so that `depths=[3, 4, 23, 3]` / `[3, 8, 36, 3]` give ResNet-101 / ResNet-152.
"""

from typing import Literal  # (no `from __future__ import annotations`: `@strict` reads the real field types)

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

STAGE_NAMES = ("stage1", "stage2", "stage3", "stage4")


@strict
class TANetConfig(PreTrainedConfig):
    r"""
    Configuration of a [`TANetModel`] / [`TANetForVideoClassification`]. The defaults give TANet-R50 (TANet-b,
    8 frames, α = 2, β = 4, K = 3, TA-blocks in every bottleneck of res2–res5) as released by the authors.

    Args:
        num_channels (`int`, *optional*, defaults to 3):
            Channels of the input frames.
        embedding_size (`int`, *optional*, defaults to 64):
            Width of the 7×7 stem convolution.
        hidden_sizes (`list[int]`, *optional*, defaults to `[256, 512, 1024, 2048]`):
            Output width of each stage (res2–res5).
        depths (`list[int]`, *optional*, defaults to `[3, 4, 6, 3]`):
            Blocks per stage: `[3, 4, 6, 3]` ResNet-50, `[3, 4, 23, 3]` ResNet-101, `[3, 8, 36, 3]` ResNet-152.
        layer_type (`str`, *optional*, defaults to `"bottleneck"`):
            `"bottleneck"` (ResNet-50 and deeper) or `"basic"` (ResNet-18/34).
        num_frames (`int`, *optional*, defaults to 8):
            Frames per clip T. TAM's global branch has `Linear(T, αT)`, so a checkpoint is tied to its T.
        temporal_module (`str`, *optional*, defaults to `"tam"`):
            `"tam"` for TANet, `"none"` for the C2D baseline (the identical network without TAM).
        tam_alpha (`int`, *optional*, defaults to 2):
            Expansion α of the global branch: `Linear(T, αT) → BN → ReLU → Linear(αT, K) → softmax`.
        tam_beta (`int`, *optional*, defaults to 4):
            Reduction β of the local branch: `Conv1d(C, C/β, k) → BN → ReLU → Conv1d(C/β, C, 1) → sigmoid`.
        tam_kernel_size (`int`, *optional*, defaults to 3):
            Size K of the adaptive temporal kernel (odd).
        tam_local_kernel_size (`int`, *optional*, defaults to 3):
            Temporal kernel size of the local branch's first Conv1d (odd).
        tam_position (`str`, *optional*, defaults to `"b"`):
            Where TAM sits in a block (paper appendix A): `"a"` before conv1, `"b"` after conv1 (TANet),
            `"c"` after conv2, `"d"` after conv3 (before the residual addition).
        tam_stages (`list[str]`, *optional*, defaults to `["stage1", "stage2", "stage3", "stage4"]`):
            Stages whose blocks are TA-blocks; `stage1` is the paper's res2.
        tam_order (`str`, *optional*, defaults to `"local_first"`):
            `"local_first"`: Y = G(X) ⊗ (L(X) ⊙ X) (TANet); `"global_first"`: Y = L(X) ⊙ (G(X) ⊗ X) (TANet-R).
        tam_branches (`str`, *optional*, defaults to `"both"`):
            `"both"`, `"global"` (global branch only: Y = G(X) ⊗ X) or `"local"` (local only: Y = L(X) ⊙ X).
        tam_implementation (`str`, *optional*, defaults to `"fast"`):
            `"fast"`: the fused per-position formulation (no permutes, no grouped conv); `"reference"`: the
            authors' grouped-`conv2d` formulation. Both compute the same function with the same weights.
        classifier_dropout (`float`, *optional*, defaults to 0.5):
            Dropout before the classifier.
        classifier_init_std (`float`, *optional*, defaults to 0.001):
            Standard deviation of the classifier's normal initialisation (the release uses 0.001, bias 0).
        view_fusion (`str`, *optional*, defaults to `"logits"`):
            How scores of several views `(batch, views, T, 3, H, W)` are fused: `"logits"` averages logits (the
            authors' release), `"softmax"` averages softmax probabilities (mmaction2; the output then holds
            log-probabilities so that `argmax` and `softmax` still behave).
    """

    model_type = "tanet"

    num_channels: int = 3
    embedding_size: int = 64
    hidden_sizes: list[int] | tuple[int, ...] = (256, 512, 1024, 2048)
    depths: list[int] | tuple[int, ...] = (3, 4, 6, 3)
    layer_type: Literal["basic", "bottleneck"] = "bottleneck"
    num_frames: int = 8
    temporal_module: Literal["tam", "none"] = "tam"
    tam_alpha: int = 2
    tam_beta: int = 4
    tam_kernel_size: int = 3
    tam_local_kernel_size: int = 3
    tam_position: Literal["a", "b", "c", "d"] = "b"
    tam_stages: list[str] | tuple[str, ...] = STAGE_NAMES
    tam_order: Literal["local_first", "global_first"] = "local_first"
    tam_branches: Literal["both", "global", "local"] = "both"
    tam_implementation: Literal["fast", "reference"] = "fast"
    classifier_dropout: float | int = 0.5
    classifier_init_std: float | int = 0.001
    view_fusion: Literal["logits", "softmax"] = "logits"

    def __post_init__(self, **kwargs):
        self.hidden_sizes = list(self.hidden_sizes)
        self.depths = list(self.depths)
        self.tam_stages = list(self.tam_stages)
        super().__post_init__(**kwargs)

    # Field types and `Literal` choices are checked by `@strict` when a field is set; the `validate_*` methods below
    # are the cross-field checks that `@strict` runs after `__init__` (and `save_pretrained` before writing).

    def validate_sizes(self) -> None:
        """Positive sizes, odd temporal kernels."""
        for name in ("num_channels", "embedding_size", "num_frames", "tam_alpha", "tam_beta"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TANetConfig.{name} must be a positive integer, got {value!r}.")
        for name in ("tam_kernel_size", "tam_local_kernel_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1 or value % 2 == 0:
                raise ValueError(f"TANetConfig.{name} must be a positive odd integer, got {value!r}.")

    def validate_architecture(self) -> None:
        """A TAM position the block type has, one depth per stage width, TAM stages that exist, a dropout rate."""
        if self.layer_type == "basic" and self.tam_position == "d":
            raise ValueError(
                'TANetConfig.tam_position="d" (after conv3) needs layer_type="bottleneck"; basic blocks have no conv3.'
            )
        if len(self.depths) != len(self.hidden_sizes) or not self.depths:
            raise ValueError(
                f"TANetConfig.depths ({self.depths}) and hidden_sizes ({self.hidden_sizes}) must be non-empty "
                "and of equal length (one entry per stage)."
            )
        if any(not isinstance(d, int) or d < 1 for d in self.depths):
            raise ValueError(f"TANetConfig.depths must hold positive integers, got {self.depths}.")
        stage_names = [f"stage{i + 1}" for i in range(len(self.depths))]
        unknown = [s for s in self.tam_stages if s not in stage_names]
        if unknown:
            raise ValueError(
                f"TANetConfig.tam_stages has unknown stages {unknown}; expected a subset of {stage_names}."
            )
        if not 0.0 <= float(self.classifier_dropout) < 1.0:
            raise ValueError(f"TANetConfig.classifier_dropout must be in [0, 1), got {self.classifier_dropout!r}.")

    @property
    def stage_names(self) -> list[str]:
        return ["stem"] + [f"stage{i + 1}" for i in range(len(self.depths))]


__all__ = ["TANetConfig"]
