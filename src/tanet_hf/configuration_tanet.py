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
            The temporal module every block of `tam_stages` carries (the paper's Table 2, same ResNet, same place):

            - `"tam"`: TANet's TAM (the `tam_*` options below shape it);
            - `"none"`: C2D, the identical network with no temporal module (frames meet only in the head);
            - `"pool"`: C2D-Pool, temporal average pooling `K×1×1` (stride 1, the mean of the frames that exist at
              the clip's ends), no parameters;
            - `"tconv"`: C2D-TConv, a full temporal convolution `K×1×1` (`C → C`, randomly initialised);
            - `"tim"`: C2D-TIM, a channel-wise temporal convolution `K×1×1` (one `K`-tap kernel per channel) with
              TSM's initialisation: 1/8 of the channels take frame `t+1`, 1/8 frame `t-1`, the rest frame `t`;
            - `"tsm"`: TSM, 1/8 of the channels shifted one frame each way (zeros at the clip's ends), no parameters;
            - `"i3d"`: I3D 3×1×1, the block's first convolution inflated to 3 temporal taps (`tam_kernel_size` does
              not apply). Stored as the 2D `conv1` (the centre tap, where ImageNet weights load) plus the two outer
              taps in the block's `tam` (zero-initialised, so the network starts as C2D: "centre" inflation rather
              than I3D's copy-and-divide, which would change the ImageNet network's output at the start);
            - `"global_se"`: TAM's global branch with an SE channel gate in place of the local branch:
              `Y = G(X) ⊗ (SE(X) ⊙ X)`, SE = `Linear(C, C/8) → ReLU → Linear(C/8, C) → sigmoid` on each frame's
              squeezed feature (reduction 8 gives the paper's 24.65M parameters; the paper does not state it);
              `tam_alpha`, `tam_kernel_size` and `tam_order` apply, `tam_branches` does not;
            - `"nonlocal"`: NL C2D, non-local blocks (embedded Gaussian, over all `T·H·W` positions of a clip, no
              subsampling) after every other block (the 2nd, 4th, …) of `stage2` and `stage3` (res3, res4) among
              `tam_stages`: 2 + 3 = 5 blocks in ResNet-50, as in the paper.

            `pool`, `tconv`, `tim`, `tsm` and `global_se` sit where `tam_position` says (every position a block
            has; TSM's paper shifts at position `"a"`, the residual branch's input); `tam_position` does not apply to
            `i3d` (at conv1) or `nonlocal` (after the block).

            Against Table 2 (ResNet-50, 8×256², 400 classes) every choice has the paper's parameter count and
            multiply-adds within 1%, with two readings: C2D-TIM at position b (the paper's 24.37M fits position a
            slightly better; both are within 0.2%), and NL C2D's 64.49G, which counts the blocks' 1×1×1
            convolutions but not the attention's two N×N products (`tanet_hf.flops.count_macs` counts those too).
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
        output_tam_weights (`bool`, *optional*, defaults to `False`):
            Return every TAM's kernel `Θ` `(B, C, K)` and importance map `V` `(B, C, T)` with the output (also a
            `forward` argument); see [`TANetTAMWeights`].
    """

    model_type = "tanet"

    num_channels: int = 3
    embedding_size: int = 64
    hidden_sizes: list[int] | tuple[int, ...] = (256, 512, 1024, 2048)
    depths: list[int] | tuple[int, ...] = (3, 4, 6, 3)
    layer_type: Literal["basic", "bottleneck"] = "bottleneck"
    num_frames: int = 8
    temporal_module: Literal["tam", "none", "pool", "tconv", "tim", "tsm", "i3d", "global_se", "nonlocal"] = "tam"
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
    output_tam_weights: bool = False

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
