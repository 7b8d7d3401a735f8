# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""What a training run is made of, built from its arguments and recipe: the model (fresh, from ImageNet
weights or from a TANet checkpoint), the video processor, the training augmentation, and the optimizer with the
release's parameter groups.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import torch

from .. import registry
from ..configuration_tanet import TANetConfig
from ..modeling_tanet import TANetChannelwiseTemporalConv, TANetForVideoClassification, TANetInflatedTaps
from ..registry import ARCHITECTURES, DATASETS, RECIPES, Recipe
from ..video_processing_tanet import TANetVideoProcessor
from .arguments import DataArguments, ModelArguments
from .augmentation import TrainAugmentation

logger = logging.getLogger(__name__)


# Modules whose weights are convolution kernels: torch's convolutions, and the temporal modules of Table 2 that hold
# a kernel as a bare parameter (TIM's channel-wise taps `(C, K)`, I3D's outer taps of the inflated conv1).
_CONVOLUTIONS = (
    torch.nn.Conv1d,
    torch.nn.Conv2d,
    torch.nn.Conv3d,
    TANetChannelwiseTemporalConv,
    TANetInflatedTaps,
)


def release_parameter_groups(
    model: torch.nn.Module,
    learning_rate: float,
    weight_decay: float,
    linear_lr_mult: float = 5.0,
    linear_bias_lr_mult: float = 10.0,
    conv_bias_lr_mult: float = 2.0,
) -> list[dict[str, Any]]:
    """
    The release's parameter groups (`get_optim_policies`): convolution weights at `lr` with weight decay,
    convolution biases at `2·lr` without, BatchNorm scales and shifts at `lr` without, `nn.Linear` weights (the
    classifier and TAM's global branch) at `linear_lr_mult·lr` with weight decay, `nn.Linear` biases (the
    classifier's) at `linear_bias_lr_mult·lr` without. Empty groups are left out; a parameter of any other module
    type raises, as in the release. Each group carries `name` and `lr_mult`.
    """
    groups: dict[str, tuple[float, float, list[torch.nn.Parameter]]] = {
        "conv_weight": (1.0, 1.0, []),
        "conv_bias": (conv_bias_lr_mult, 0.0, []),
        "linear_weight": (linear_lr_mult, 1.0, []),
        "linear_bias": (linear_bias_lr_mult, 0.0, []),
        "norm": (1.0, 0.0, []),
    }
    for name, module in model.named_modules():
        params = [p for p in module.parameters(recurse=False) if p.requires_grad]
        if not params:
            continue
        if isinstance(module, _CONVOLUTIONS):
            kind = "conv"
        elif isinstance(module, torch.nn.Linear):
            kind = "linear"
        elif isinstance(module, (torch.nn.modules.batchnorm._BatchNorm, torch.nn.GroupNorm, torch.nn.LayerNorm)):
            groups["norm"][2].extend(params)
            continue
        else:
            raise ValueError(f"Module {name} ({type(module).__name__}) has parameters but no learning-rate policy.")
        groups[f"{kind}_weight"][2].append(module.weight)
        if getattr(module, "bias", None) is not None and module.bias.requires_grad:
            groups[f"{kind}_bias"][2].append(module.bias)
    return [
        {
            "params": params,
            "lr": learning_rate * lr_mult,
            "weight_decay": weight_decay * decay_mult,
            "name": name,
            "lr_mult": lr_mult,
        }
        for name, (lr_mult, decay_mult, params) in groups.items()
        if params
    ]


def build_optimizer(model: torch.nn.Module, recipe: Recipe, learning_rate: float) -> torch.optim.Optimizer:
    """The recipe's optimizer (SGD with momentum, or AdamW) over the release's parameter groups
    ([`release_parameter_groups`]), base learning rate `learning_rate` (already scaled to the global batch)."""
    groups = release_parameter_groups(
        model, learning_rate, recipe.weight_decay, recipe.linear_lr_mult, recipe.linear_bias_lr_mult
    )
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=learning_rate, momentum=recipe.momentum)
    return torch.optim.AdamW(groups, lr=learning_rate)


def _parse_overrides(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    overrides = {}
    for item in re.split(r",(?![^\[]*\])", text):
        if "=" not in item:
            raise ValueError(f"config_overrides item {item!r} is not key=value.")
        key, value = item.split("=", 1)
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value.strip()
    unknown = [
        key for key in overrides if key not in TANetConfig.__dataclass_fields__ and not hasattr(TANetConfig(), key)
    ]
    if unknown:
        raise ValueError(f"config_overrides names unknown TANetConfig fields {unknown}.")
    return overrides


def checkpoint_label_names(init_from: str | None) -> list[str] | None:
    """The class names of a TANet checkpoint (folder or Hub id) in index order; None without a checkpoint."""
    if init_from is None:
        return None
    config = TANetConfig.from_pretrained(init_from)
    return [config.id2label.get(i) for i in range(config.num_labels)]


# TANetConfig fields that leave the network (its modules and what they compute from the same weights) unchanged:
# the only ones `config_overrides` may set on a loaded checkpoint.
NETWORK_NEUTRAL_FIELDS = ("classifier_dropout", "classifier_init_std", "tam_implementation", "view_fusion")


def build_model(model_args: ModelArguments, label_names: list[str], dropout: float) -> TANetForVideoClassification:
    """A fresh TANet / C2D (optionally with ImageNet weights), or a TANet checkpoint with a head for `label_names`."""
    if model_args.init_from is not None:
        return _model_from_checkpoint(model_args, label_names, dropout)
    arch = model_args.arch or "r50"
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch={arch!r} is not known; expected one of {list(ARCHITECTURES)}.")
    config = TANetConfig(
        **{
            **ARCHITECTURES[arch],
            "num_frames": model_args.num_frames or 8,
            "temporal_module": model_args.temporal_module or "tam",
            "classifier_dropout": dropout,
            **_parse_overrides(model_args.config_overrides),
        },
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={name: index for index, name in enumerate(label_names)},
    )
    model = TANetForVideoClassification(config)
    if model_args.init_from_imagenet is not None:
        from ..conversion.state_dict import load_imagenet_resnet

        report = load_imagenet_resnet(model, model_args.init_from_imagenet)
        logger.info(
            "ImageNet initialisation from %s (%s layout): %d tensors loaded, %d left as initialised (TAM, head).",
            model_args.init_from_imagenet, report.get("layout"), len(report.get("loaded", [])), len(report.get("missing", [])),
        )  # fmt: skip
    return model


def _model_from_checkpoint(
    model_args: ModelArguments, label_names: list[str], dropout: float
) -> TANetForVideoClassification:
    """
    `init_from` with its own architecture and T (the flags that describe a new network must not contradict it),
    a new classifier when the labels differ (`from_pretrained(..., id2label=..., ignore_mismatched_sizes=True)`),
    and only [`NETWORK_NEUTRAL_FIELDS`] from `config_overrides`: any other field would change the network the
    checkpoint's weights belong to.
    """
    source = model_args.init_from
    if model_args.init_from_imagenet is not None:
        raise ValueError("Give init_from (a TANet checkpoint) or init_from_imagenet, not both.")
    config = TANetConfig.from_pretrained(source)
    given = {
        "arch": model_args.arch,
        "temporal_module": model_args.temporal_module,
        "num_frames": model_args.num_frames,
    }
    saved = {"temporal_module": config.temporal_module, "num_frames": config.num_frames}
    for name, value in given.items():
        if value is not None and (name == "arch" or value != saved[name]):
            raise ValueError(
                f"--{name} {value} with init_from {source}: the checkpoint's network is fixed (temporal_module="
                f"{config.temporal_module!r}, num_frames={config.num_frames}, TAM's global branch is tied to T); "
                f"drop --{name}, or train a new model without init_from."
            )
    overrides = _parse_overrides(model_args.config_overrides)
    refused = sorted(set(overrides) - set(NETWORK_NEUTRAL_FIELDS))
    if refused:
        raise ValueError(
            f"config_overrides sets {refused} on the checkpoint {source}: those fields change the network, which "
            f"its weights would no longer match. On a checkpoint only {list(NETWORK_NEUTRAL_FIELDS)} may be "
            "overridden; for another architecture train a new model (--arch ... --config_overrides ...)."
        )
    old_labels = [config.id2label.get(i) for i in range(config.num_labels)]
    model = TANetForVideoClassification.from_pretrained(
        source,
        id2label=dict(enumerate(label_names)),
        label2id={name: index for index, name in enumerate(label_names)},
        ignore_mismatched_sizes=True,
        **{**overrides, "classifier_dropout": dropout},
    )
    if old_labels != label_names:
        logger.info("Fine-tuning %s: new classifier for %d labels (was %d).", source, len(label_names), len(old_labels))
        torch.nn.init.normal_(model.classifier.weight, std=model.config.classifier_init_std)  # also when the
        torch.nn.init.zeros_(model.classifier.bias)  # count matches: other classes, other rows
    return model


def parse_flip_pairs(text: str | None, label_names: list[str]) -> dict[int, int] | None:
    """`"a:b,c:d"` (class names or indices) → a symmetric `{index: index}` map."""
    if not text:
        return None
    lookup = {name: index for index, name in enumerate(label_names)}
    mapping: dict[int, int] = {}
    for pair in text.split(","):
        parts = [p.strip() for p in pair.split(":")]
        if len(parts) != 2:
            raise ValueError(f"flip_label_pairs item {pair!r} is not 'class_a:class_b'.")
        indices = []
        for part in parts:
            if part in lookup:
                indices.append(lookup[part])
            elif part.isdigit() and int(part) < len(label_names):
                indices.append(int(part))
            else:
                raise ValueError(f"flip_label_pairs names {part!r}, which is not a class of this dataset.")
        mapping[indices[0]], mapping[indices[1]] = indices[1], indices[0]
    return mapping


def build_processor(
    data_args: DataArguments,
    recipe: Recipe,
    num_frames: int,
    init_from: str | None,
) -> TANetVideoProcessor:
    """
    The video processor: the checkpoint's when fine-tuning (unless `processor_preset` is given), else the recipe's
    preset and settings; the processor flags of `data_args` override either.
    """
    overrides: dict[str, Any] = {}
    for name in ("sampling", "short_side_size", "crop_size", "num_test_clips", "test_crop", "test_crop_size"):
        value = getattr(data_args, name)
        if value is not None:
            overrides[name] = value
    if data_args.decode_backend is not None:
        overrides["decode_backend"] = data_args.decode_backend
    if init_from is not None and data_args.processor_preset is None:
        try:
            saved = TANetVideoProcessor.from_pretrained(init_from).to_dict()
        except OSError:  # a checkpoint without a processor: fall back to the recipe's
            saved = None
        if saved is not None:
            settings = {k: v for k, v in saved.items() if k in TANetVideoProcessor.valid_kwargs.__annotations__}
            return TANetVideoProcessor(**{**settings, **overrides, "num_frames": num_frames})
    overrides = {**recipe.processor_overrides, **overrides}
    if recipe.processor_preset is not None:  # the dataset's released protocol (inference settings only)
        return registry.video_processor(recipe.processor_preset, num_frames=num_frames, **overrides)
    return TANetVideoProcessor(num_frames=num_frames, **overrides)


def build_augmentation(
    data_args: DataArguments, recipe: Recipe, label_names: list[str], labels_changed: bool
) -> TrainAugmentation:
    """
    The training augmentation: the recipe preset's flip and flip map (dropped when fine-tuning onto a new label set,
    whose classes the map does not name), with `multiscale_scales`, `do_flip` and `flip_label_pairs` of `data_args`
    overriding, and its `frame_seek`.
    """
    preset = recipe.processor_preset
    settings: dict[str, Any] = {}
    if preset is not None:  # the dataset's recipe and flip map (tanet_hf.registry)
        settings = {"do_flip": RECIPES[preset].do_flip, "flip_label_map": DATASETS[preset].flip_label_map}
    if labels_changed:
        settings["flip_label_map"] = None
    flip_map = parse_flip_pairs(data_args.flip_label_pairs, label_names)
    if flip_map is not None:
        settings["flip_label_map"] = flip_map
    if data_args.do_flip is not None:
        settings["do_flip"] = data_args.do_flip
    if data_args.multiscale_scales is not None:
        settings["scales"] = tuple(data_args.multiscale_scales)
    return TrainAugmentation(**settings, frame_seek=data_args.frame_seek)


__all__ = [
    "build_augmentation",
    "build_model",
    "build_optimizer",
    "build_processor",
    "NETWORK_NEUTRAL_FIELDS",
    "checkpoint_label_names",
    "parse_flip_pairs",
    "release_parameter_groups",
]
