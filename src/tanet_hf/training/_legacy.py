# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Training and evaluation of TANet with 🤗 Accelerate.

One loop for one CPU, one GPU, many GPUs and many nodes (`accelerate launch examples/train.py ...`; DDP, or
FSDP / DeepSpeed through Accelerate's own config), or plain `python examples/train.py ...`:

- data through `datasets` ([`tanet_hf.data`]), decoded, sampled and augmented in DataLoader workers
  ([`TrainAugmentation`] for training clips, the [`TANetVideoProcessor`]'s views for evaluation), with per-sample
  seeds `(seed, epoch, index)`;
- the paper's recipes as presets ([`RECIPES`]: SGD, step schedule, weight decay, gradient clipping at 20,
  dropout, the release's parameter groups), learning rate scaled by global batch / 64, every value overridable;
- mixed precision, gradient accumulation, `channels_last`, `torch.compile`, gradient checkpointing;
- initialisation from ImageNet ResNet weights (torchvision / timm / transformers state dicts) or from any TANet
  checkpoint (fine-tuning with a new head and new labels);
- checkpoints (`accelerator.save_state`) every N optimizer steps and at every epoch end, written to a temporary
  folder and renamed into place; `resume_from_checkpoint="latest"` continues exactly (same next batch, optimizer,
  scheduler, RNG); a non-finite loss stops with the step named and a saved state; Ctrl-C / SIGTERM save a
  resumable state;
- evaluation with top-1 / top-5 / mean class accuracy (the `video_accuracy` `evaluate` module shipped in the
  package), single view during training and the processor's multi-view protocol at the end, a confusion-matrix
  PNG for small label sets, tqdm progress, clips/s in the logs, Accelerate trackers (TensorBoard when installed);
- at the end, `output_dir/model`: a `save_pretrained` folder (model, video processor, remote code, labels,
  README card) that `pipeline("video-classification", model=...)` and `tanet-hf push` take as is.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration, set_seed
from tqdm.auto import tqdm
from transformers import HfArgumentParser

from .. import registry
from ..configuration_tanet import TANetConfig
from ..data import VideoClassificationData, VideoClipDataset, load_video_classification_data, make_video_dataloader
from ..modeling_tanet import TANetForVideoClassification
from ..registry import ARCHITECTURES, DATASETS, RECIPES
from ..video_processing_tanet import TANetVideoProcessor
from .augmentation import TrainAugmentation

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "checkpoint-"
NAN_CHECKPOINT_PREFIX = "nan-checkpoint-"
TRAINER_STATE_FILE = "trainer_state.json"
METRIC_DIR = Path(__file__).resolve().parents[1] / "metrics" / "video_accuracy"

# ----------------------------------------------------------------------------------------------------------------
# Recipes and architectures
# ----------------------------------------------------------------------------------------------------------------

# RECIPES and ARCHITECTURES live in `tanet_hf.registry` (one home); `resolve_recipe` reads a `Recipe` into the
# dict of hyper-parameters the loop below uses.


# ----------------------------------------------------------------------------------------------------------------
# Arguments (transformers' HfArgumentParser: `--name value`, or one JSON / YAML file)
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class ModelArguments:
    """What to train: a fresh architecture (optionally with ImageNet weights) or a TANet checkpoint."""

    arch: str = field(default="r50", metadata={"help": f"Backbone when not fine-tuning: {list(ARCHITECTURES)}."})
    temporal_module: str = field(default="tam", metadata={"help": '"tam" (TANet) or "none" (the C2D baseline).'})
    num_frames: int = field(default=8, metadata={"help": "Frames per clip T (the model is tied to it)."})
    config_overrides: str | None = field(
        default=None,
        metadata={"help": 'TANetConfig fields as "key=value,key=value" (JSON values), e.g. "tam_position=\\"c\\"".'},
    )
    init_from_imagenet: str | None = field(
        default=None, metadata={"help": "ImageNet ResNet weights (torchvision / timm / transformers file or folder)."}
    )
    init_from: str | None = field(
        default=None,
        metadata={"help": "A TANet checkpoint (folder or Hub id) to fine-tune; a new head when labels differ."},
    )
    dropout: float | None = field(default=None, metadata={"help": "Classifier dropout (default: the recipe's)."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Recompute activations in the backward."})
    channels_last: bool = field(default=False, metadata={"help": "Run convolutions in channels_last memory format."})
    torch_compile: bool = field(default=False, metadata={"help": "torch.compile the model (Accelerate's dynamo)."})


@dataclass
class DataArguments:
    """Where the videos are and how clips are made from them (see `tanet_hf.data`)."""

    dataset: str | None = field(
        default=None, metadata={"help": "A folder root/{train,validation,test}/<class>/<video>, or a Hub dataset id."}
    )
    data_format: str = field(
        default="auto", metadata={"help": "auto, videofolder, kinetics_csv, sthv2_json, list, hub."}
    )
    train_file: str | None = field(
        default=None, metadata={"help": "Training annotations (Kinetics CSV, Sth-Sth JSON, list)."}
    )
    validation_file: str | None = field(default=None, metadata={"help": "Validation annotations."})
    test_file: str | None = field(default=None, metadata={"help": "Test annotations."})
    video_root: str | None = field(default=None, metadata={"help": "Folder holding the annotated videos."})
    label_file: str | None = field(
        default=None, metadata={"help": "Class names in index order (file, or kinetics400 / sthv1 / sthv2)."}
    )
    video_column: str | None = field(default=None, metadata={"help": "Video column of a Hub dataset."})
    label_column: str | None = field(default=None, metadata={"help": "Label column of a Hub dataset."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Configuration of a Hub dataset."})
    cache_dir: str | None = field(default=None, metadata={"help": "datasets cache folder."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only the first N training videos."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use only the first N evaluation videos."})
    strict_videos: bool = field(
        default=False, metadata={"help": "Stop on an unreadable or missing video instead of skipping and counting it."}
    )
    num_workers: int = field(default=2, metadata={"help": "DataLoader worker processes per training process."})
    processor_preset: str | None = field(
        default=None, metadata={"help": f"Video processor protocol {sorted(DATASETS)} (default: the recipe's)."}
    )
    sampling: str | None = field(default=None, metadata={"help": "Frame sampling: uniform or dense."})
    short_side_size: int | None = field(default=None, metadata={"help": "Short side before cropping (256)."})
    crop_size: int | None = field(default=None, metadata={"help": "Training / evaluation crop (224)."})
    num_test_clips: int | None = field(default=None, metadata={"help": "Clips of the multi-view test protocol."})
    test_crop: str | None = field(default=None, metadata={"help": "center, three_crop or ten_crop."})
    test_crop_size: int | None = field(default=None, metadata={"help": "Side of the test crops."})
    multiscale_scales: list[float] | None = field(
        default=None, metadata={"help": "Scales of the training multi-scale crop (1 .875 .75 .66)."}
    )
    do_flip: bool | None = field(default=None, metadata={"help": "Random horizontal flip in training."})
    flip_label_pairs: str | None = field(
        default=None, metadata={"help": 'Classes a flip swaps, "name_a:name_b,name_c:name_d" (or indices).'}
    )
    decode_backend: str | None = field(default=None, metadata={"help": "auto, torchcodec or pyav."})

    def load(self) -> VideoClassificationData:
        """The splits and label set these arguments name ([`load_video_classification_data`])."""
        return load_video_classification_data(
            self.dataset,
            data_format=self.data_format,
            train_file=self.train_file,
            validation_file=self.validation_file,
            test_file=self.test_file,
            video_root=self.video_root,
            label_file=self.label_file,
            video_column=self.video_column,
            label_column=self.label_column,
            dataset_config_name=self.dataset_config_name,
            cache_dir=self.cache_dir,
            strict=self.strict_videos,
        )


@dataclass
class TrainArguments:
    """How to train: the recipe, optimisation, checkpointing, evaluation and logging."""

    output_dir: str = field(default="outputs/tanet", metadata={"help": "Checkpoints, logs, results and model/."})
    recipe: str = field(
        default="kinetics400", metadata={"help": f"Defaults for the fields left unset: {list(RECIPES)}."}
    )
    per_device_train_batch_size: int = field(default=8, metadata={"help": "Clips per process per micro-batch."})
    per_device_eval_batch_size: int | None = field(default=None, metadata={"help": "Default: the training batch."})
    gradient_accumulation_steps: int = field(default=1)
    num_train_epochs: int | None = field(default=None, metadata={"help": "Default: the recipe's."})
    max_steps: int | None = field(default=None, metadata={"help": "Total optimizer steps (overrides epochs)."})
    stop_after_steps: int | None = field(
        default=None,
        metadata={
            "help": "Stop this run after N more optimizer steps with a resumable checkpoint (schedule unchanged)."
        },
    )
    learning_rate: float | None = field(default=None, metadata={"help": "Base learning rate for a global batch of 64."})
    scale_lr: bool = field(default=True, metadata={"help": "Scale the learning rate by global batch / 64."})
    optimizer: str | None = field(default=None, metadata={"help": "sgd or adamw."})
    momentum: float | None = field(default=None)
    weight_decay: float | None = field(default=None)
    lr_scheduler: str | None = field(default=None, metadata={"help": "step, cosine or constant."})
    lr_steps: list[float] | None = field(
        default=None, metadata={"help": "Epochs where the step schedule divides by 10."}
    )
    warmup_epochs: float | None = field(default=None, metadata={"help": "Linear warm-up length in epochs."})
    max_grad_norm: float | None = field(default=None, metadata={"help": "Gradient-norm clipping (0: off)."})
    linear_lr_mult: float | None = field(default=None, metadata={"help": "lr multiplier of nn.Linear weights."})
    linear_bias_lr_mult: float | None = field(default=None, metadata={"help": "lr multiplier of nn.Linear biases."})
    mixed_precision: str | None = field(
        default=None, metadata={"help": "no, fp16 or bf16 (default: accelerate config)."}
    )
    seed: int = field(default=0)
    checkpointing_steps: int | None = field(
        default=None, metadata={"help": "Save a checkpoint every N optimizer steps."}
    )
    checkpoint_every_epoch: bool = field(default=True, metadata={"help": "Save a checkpoint at every epoch end."})
    save_total_limit: int | None = field(default=3, metadata={"help": "Keep only the newest N checkpoints."})
    resume_from_checkpoint: str | None = field(default=None, metadata={"help": '"latest" or a checkpoint folder.'})
    eval_every_epochs: int = field(default=1, metadata={"help": "Single-view validation every N epochs (0: never)."})
    do_final_eval: bool = field(default=True, metadata={"help": "Single- and multi-view evaluation after training."})
    logging_steps: int = field(default=10)
    report_to: str = field(default="auto", metadata={"help": "auto (TensorBoard when installed), none, or trackers."})
    run_name: str = field(default="tanet")
    confusion_matrix_max_labels: int = field(
        default=50, metadata={"help": "Write confusion_matrix.png up to N classes."}
    )


def resolve_recipe(train_args: TrainArguments, model_args: ModelArguments, data_args: DataArguments) -> dict[str, Any]:
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


# ----------------------------------------------------------------------------------------------------------------
# Optimisation
# ----------------------------------------------------------------------------------------------------------------


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
        if isinstance(module, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)):
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


def build_optimizer(model: torch.nn.Module, recipe: dict[str, Any], learning_rate: float) -> torch.optim.Optimizer:
    groups = release_parameter_groups(
        model, learning_rate, recipe["weight_decay"], recipe["linear_lr_mult"], recipe["linear_bias_lr_mult"]
    )
    if recipe["optimizer"] == "sgd":
        return torch.optim.SGD(groups, lr=learning_rate, momentum=recipe["momentum"])
    return torch.optim.AdamW(groups, lr=learning_rate)


# ----------------------------------------------------------------------------------------------------------------
# Model, processor and labels
# ----------------------------------------------------------------------------------------------------------------


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


def build_model(model_args: ModelArguments, label_names: list[str], dropout: float) -> TANetForVideoClassification:
    """A fresh TANet / C2D (optionally with ImageNet weights), or a TANet checkpoint with a head for `label_names`."""
    id2label = dict(enumerate(label_names))
    label2id = {name: index for index, name in id2label.items()}
    overrides = _parse_overrides(model_args.config_overrides)
    if model_args.init_from is not None:
        if model_args.init_from_imagenet is not None:
            raise ValueError("Give init_from (a TANet checkpoint) or init_from_imagenet, not both.")
        model = TANetForVideoClassification.from_pretrained(model_args.init_from)
        same_labels = [model.config.id2label.get(i) for i in range(model.config.num_labels)] == label_names
        if model.config.num_frames != model_args.num_frames:
            raise ValueError(
                f"init_from {model_args.init_from} is built for num_frames={model.config.num_frames}, but "
                f"--num_frames={model_args.num_frames} (TAM's global branch is tied to T); pass --num_frames "
                f"{model.config.num_frames}."
            )
        if not same_labels:
            logger.info(
                "Fine-tuning %s: new classifier for %d labels (was %d).",
                model_args.init_from, len(label_names), model.config.num_labels,
            )  # fmt: skip
            model.classifier = torch.nn.Linear(model.config.hidden_sizes[-1], len(label_names))
            torch.nn.init.normal_(model.classifier.weight, std=model.config.classifier_init_std)
            torch.nn.init.zeros_(model.classifier.bias)
            model.num_labels = len(label_names)
        model.config.num_labels = len(label_names)
        model.config.id2label, model.config.label2id = id2label, label2id
        model.config.classifier_dropout = dropout
        model.dropout.p = dropout
        for key, value in overrides.items():
            setattr(model.config, key, value)
        return model

    if model_args.arch not in ARCHITECTURES:
        raise ValueError(f"arch={model_args.arch!r} is not known; expected one of {list(ARCHITECTURES)}.")
    config = TANetConfig(
        **{
            **ARCHITECTURES[model_args.arch],
            "num_frames": model_args.num_frames,
            "temporal_module": model_args.temporal_module,
            "classifier_dropout": dropout,
            **overrides,
        },
        num_labels=len(label_names),
        id2label=id2label,
        label2id=label2id,
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
    recipe: dict[str, Any],
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
    overrides = {**(recipe.get("processor_overrides") or {}), **overrides}
    if recipe["processor_preset"] is not None:  # the dataset's released protocol (inference settings only)
        return registry.video_processor(recipe["processor_preset"], num_frames=num_frames, **overrides)
    return TANetVideoProcessor(num_frames=num_frames, **overrides)


def build_augmentation(
    data_args: DataArguments, recipe: dict[str, Any], label_names: list[str], labels_changed: bool
) -> TrainAugmentation:
    """
    The training augmentation: the recipe preset's flip and flip map (dropped when fine-tuning onto a new label set,
    whose classes the map does not name), with `multiscale_scales`, `do_flip` and `flip_label_pairs` of `data_args`
    overriding.
    """
    preset = recipe["processor_preset"]
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
    return TrainAugmentation(**settings)


# ----------------------------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------------------------


def load_video_accuracy():
    """The package's `video_accuracy` metric through `evaluate.load` (offline: it is loaded by path)."""
    import evaluate

    return evaluate.load(str(METRIC_DIR), keep_in_memory=True)


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    dataloader: torch.utils.data.DataLoader,
    accelerator: Accelerator,
    description: str = "eval",
) -> dict[str, Any]:
    """
    Top-1 / top-5 / mean class accuracy (and the confusion matrix) of `model` on a prepared evaluation loader.
    Batches may be single-view `(B, T, 3, H, W)` or multi-view `(B, V, T, 3, H, W)`; the model fuses views.
    Videos that could not be decoded are left out and counted under `skipped_videos`.
    """
    model.eval()
    scores, labels, skipped = [], [], 0
    progress = tqdm(dataloader, desc=description, leave=False, disable=not accelerator.is_local_main_process)
    for batch in progress:
        logits = model(pixel_values=batch["pixel_values"]).logits.float()
        logits, batch_labels, valid = accelerator.gather_for_metrics((logits, batch["labels"], batch["valid"]))
        scores.append(logits[valid].cpu())
        labels.append(batch_labels[valid].cpu())
        skipped += int((~valid).sum())
    metric = load_video_accuracy()
    results = metric.compute(
        predictions=torch.cat(scores).numpy(),
        references=torch.cat(labels).numpy(),
        top_k=(1, 5),
        return_confusion_matrix=True,
        return_per_class=True,
    )
    results["skipped_videos"] = skipped
    return results


def save_confusion_matrix_png(
    confusion: Sequence[Sequence[int]], label_names: Sequence[str], path: str | os.PathLike
) -> bool:
    """Plot a row-normalised confusion matrix (rows: true class) to `path`; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed: no confusion-matrix PNG (pip install matplotlib).")
        return False
    matrix = np.asarray(confusion, dtype=np.float64)
    normalised = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.45 * len(label_names) + 2)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    image = axes.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(label_names)), labels=label_names, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(len(label_names)), labels=label_names, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if len(label_names) <= 20:
        for (row, column), count in np.ndenumerate(matrix):
            if count:
                colour = "white" if normalised[row, column] > 0.5 else "black"
                axes.text(column, row, int(count), ha="center", va="center", fontsize=7, color=colour)
    figure.colorbar(image, ax=axes, fraction=0.046)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


# ----------------------------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------------------------


def _checkpoint_step(path: Path) -> int:
    return int(path.name[len(CHECKPOINT_PREFIX) :])


def list_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints under `output_dir/checkpoints`, oldest first (temporary folders are ignored)."""
    folder = Path(output_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [
        path
        for path in folder.iterdir()
        if path.is_dir()
        and re.fullmatch(rf"{CHECKPOINT_PREFIX}\d+", path.name)
        and (path / TRAINER_STATE_FILE).is_file()
    ]
    return sorted(found, key=_checkpoint_step)


def resolve_checkpoint(spec: str, output_dir: str | os.PathLike) -> Path | None:
    """`"latest"` → the newest complete checkpoint (None when there is none yet); a path → that folder."""
    if spec == "latest":
        checkpoints = list_checkpoints(output_dir)
        return checkpoints[-1] if checkpoints else None
    path = Path(spec)
    if not (path / TRAINER_STATE_FILE).is_file():
        raise FileNotFoundError(
            f"resume_from_checkpoint={spec!r} is not a checkpoint folder (no {TRAINER_STATE_FILE})."
        )
    return path


def save_checkpoint(
    accelerator: Accelerator, folder: Path, trainer_state: dict[str, Any], save_total_limit: int | None
) -> Path:
    """
    `accelerator.save_state` into `.tmp-<name>`, then (main process) `trainer_state.json` and an atomic rename to
    `<name>`: a checkpoint folder either is complete or does not exist under its final name.
    """
    tmp = folder.with_name(f".tmp-{folder.name}")
    if accelerator.is_main_process:
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / TRAINER_STATE_FILE).write_text(json.dumps(trainer_state, indent=2) + "\n")
        if folder.exists():
            old = folder.with_name(f".old-{folder.name}")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
        if save_total_limit is not None and save_total_limit > 0 and folder.name.startswith(CHECKPOINT_PREFIX):
            for stale in list_checkpoints(folder.parent.parent)[:-save_total_limit]:
                if stale != folder:
                    shutil.rmtree(stale, ignore_errors=True)
    accelerator.wait_for_everyone()
    return folder


class _StopRequest:
    """SIGINT / SIGTERM handler: the first signal asks the loop to stop at the next optimizer step with a saved
    state; a second SIGINT interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopRequest:
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        logger.warning(
            "Signal %d: saving a resumable checkpoint after the current step (Ctrl-C again to abort).", signum
        )

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


# ----------------------------------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class TrainingResult:
    """What [`train`] returns: the state it stopped in and the evaluation results."""

    status: str  # "finished", "stopped" (stop_after_steps / signal)
    global_step: int
    epoch: int
    checkpoint: str | None
    model_dir: str | None
    metrics: dict[str, Any]
    skipped_videos: int
    log_history: list[dict[str, Any]]
    model: torch.nn.Module | None = None  # the trained model (unwrapped), on every process


def _trackers(report_to: str) -> list[str] | None:
    if report_to == "none":
        return None
    if report_to == "auto":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            return None
        return ["tensorboard"]
    return [name.strip() for name in report_to.split(",") if name.strip()]


def _flat_config(*parts: Any) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for part in parts:
        items = dataclasses.asdict(part).items() if dataclasses.is_dataclass(part) else part.items()
        for key, value in items:
            flat[key] = value if isinstance(value, (int, float, str, bool)) else json.dumps(value)
    return flat


def _subset(dataset, limit: int | None):
    return dataset.select(range(min(limit, len(dataset)))) if limit is not None else dataset


def train(model_args: ModelArguments, data_args: DataArguments, train_args: TrainArguments) -> TrainingResult:
    """Train (or resume), evaluate and save; see the module documentation. Returns a [`TrainingResult`]."""
    recipe = resolve_recipe(train_args, model_args, data_args)
    output_dir = Path(train_args.output_dir)
    trackers = _trackers(train_args.report_to)
    accelerator = Accelerator(
        gradient_accumulation_steps=train_args.gradient_accumulation_steps,
        mixed_precision=train_args.mixed_precision,
        log_with=trackers,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        dynamo_backend="inductor" if model_args.torch_compile else None,
    )
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
    set_seed(train_args.seed)

    # ---- data -----------------------------------------------------------------------------------------------
    init_labels = checkpoint_label_names(model_args.init_from)
    with accelerator.main_process_first():
        data: VideoClassificationData = data_args.load()
    if "train" not in data.splits:
        raise ValueError(f"The dataset has no train split (splits: {sorted(data.splits)}).")
    label_names = data.label_names
    model = build_model(model_args, label_names, recipe["dropout"])
    processor = build_processor(data_args, recipe, model.config.num_frames, model_args.init_from)
    augmentation = build_augmentation(
        data_args, recipe, label_names, labels_changed=init_labels is not None and init_labels != label_names
    )
    if model_args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if model_args.channels_last:
        model = model.to(memory_format=torch.channels_last)

    train_clips = VideoClipDataset(
        _subset(data.splits["train"], data_args.max_train_samples), processor, "train", train_args.seed,
        strict=data_args.strict_videos, augmentation=augmentation,
    )  # fmt: skip
    eval_split = "validation" if "validation" in data.splits else ("test" if "test" in data.splits else None)
    test_split = "test" if "test" in data.splits else eval_split
    eval_batch = train_args.per_device_eval_batch_size or train_args.per_device_train_batch_size
    workers = data_args.num_workers
    train_loader = make_video_dataloader(
        train_clips, train_args.per_device_train_batch_size, shuffle=True, seed=train_args.seed, num_workers=workers,
        pin_memory=accelerator.device.type == "cuda",
    )  # fmt: skip
    eval_loader = test_loader = None
    if eval_split is not None:
        eval_clips = VideoClipDataset(_subset(data.splits[eval_split], data_args.max_eval_samples), processor, "eval")
        eval_loader = make_video_dataloader(eval_clips, eval_batch, shuffle=False, num_workers=workers)
        test_clips = VideoClipDataset(_subset(data.splits[test_split], data_args.max_eval_samples), processor, "test")
        test_batch = max(1, eval_batch // max(1, processor.num_test_clips))
        test_loader = make_video_dataloader(test_clips, test_batch, shuffle=False, num_workers=workers)

    # ---- optimisation ---------------------------------------------------------------------------------------
    global_batch = (
        train_args.per_device_train_batch_size * accelerator.num_processes * train_args.gradient_accumulation_steps
    )
    learning_rate = scaled_learning_rate(recipe["learning_rate"], global_batch, train_args.scale_lr)
    optimizer = build_optimizer(model, recipe, learning_rate)
    batches_per_epoch = math.ceil(
        len(train_clips) / (train_args.per_device_train_batch_size * accelerator.num_processes)
    )
    steps_per_epoch = math.ceil(batches_per_epoch / train_args.gradient_accumulation_steps)
    if train_args.max_steps is not None:
        total_steps = train_args.max_steps
        num_epochs = math.ceil(total_steps / steps_per_epoch)
    else:
        num_epochs = int(recipe["num_train_epochs"])
        total_steps = num_epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, steps_per_epoch, total_steps, recipe)
    )

    train_sampler = train_loader.sampler  # the EpochShuffleSampler, shared with the prepared loaders
    prepared = accelerator.prepare(
        model, optimizer, train_loader, *(x for x in (eval_loader, test_loader) if x is not None)
    )
    model, optimizer, train_loader = prepared[:3]
    if eval_loader is not None:
        eval_loader, test_loader = prepared[3:5]
    accelerator.register_for_checkpointing(scheduler)

    # ---- resume ---------------------------------------------------------------------------------------------
    state: dict[str, Any] = {"global_step": 0, "epoch": 0, "batch_in_epoch": 0, "skipped_videos": 0, "log_history": []}
    if train_args.resume_from_checkpoint:
        checkpoint = resolve_checkpoint(train_args.resume_from_checkpoint, output_dir)
        if checkpoint is None:
            logger.info("No checkpoint in %s yet: starting from scratch.", output_dir / "checkpoints")
        else:
            accelerator.load_state(str(checkpoint))
            state.update(json.loads((checkpoint / TRAINER_STATE_FILE).read_text()))
            if (
                state.get("num_processes", accelerator.num_processes) != accelerator.num_processes
                or state.get("global_batch", global_batch) != global_batch
            ):
                logger.warning(
                    "Resuming %s with a different process count or global batch: the data order changes.", checkpoint
                )
            logger.info(
                "Resumed from %s: step %d, epoch %d, batch %d.",
                checkpoint, state["global_step"], state["epoch"], state["batch_in_epoch"],
            )  # fmt: skip

    if accelerator.is_main_process:
        logger.info(
            "Training %s (%s, %d labels, %.2fM parameters) on %d videos: %d epochs × %d steps, global batch %d "
            "(%d processes × %d × %d accumulation), lr %.5g (%s), %s schedule.",
            type(accelerator.unwrap_model(model)).__name__, model_args.temporal_module, len(label_names),
            sum(p.numel() for p in model.parameters()) / 1e6, len(train_clips), num_epochs, steps_per_epoch,
            global_batch, accelerator.num_processes, train_args.per_device_train_batch_size,
            train_args.gradient_accumulation_steps, learning_rate, recipe["optimizer"], recipe["lr_scheduler"],
        )  # fmt: skip
    if trackers:
        accelerator.init_trackers(
            train_args.run_name, config=_flat_config(model_args, data_args, train_args, {"lr": learning_rate})
        )

    checkpoints_dir = output_dir / "checkpoints"

    def trainer_state(epoch: int, batch_in_epoch: int) -> dict[str, Any]:
        return {
            **state,
            "global_step": global_step,
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "skipped_videos": skipped_total,
            "num_processes": accelerator.num_processes,
            "global_batch": global_batch,
            "label_names": label_names,
        }

    global_step = int(state["global_step"])
    skipped_total = int(state["skipped_videos"])
    start_epoch, resume_batches = int(state["epoch"]), int(state["batch_in_epoch"])
    steps_this_run = 0
    current_epoch = start_epoch
    status = "finished"
    last_checkpoint: Path | None = None
    metrics: dict[str, Any] = {}
    progress = tqdm(
        total=total_steps,
        initial=global_step,
        desc="train",
        disable=not accelerator.is_local_main_process,
        dynamic_ncols=True,
    )
    window_loss, window_clips, window_start = [], 0, time.perf_counter()

    with _StopRequest() as stop:
        for epoch in range(start_epoch, num_epochs):
            if global_step >= total_steps:
                break
            current_epoch = epoch
            model.train()
            train_clips.set_epoch(epoch)
            train_sampler.set_epoch(epoch)
            train_loader.set_epoch(epoch)
            loader = train_loader
            batch_in_epoch = 0
            if epoch == start_epoch and resume_batches:
                loader = accelerator.skip_first_batches(train_loader, resume_batches)
                loader.set_epoch(epoch)
                batch_in_epoch = resume_batches
            boundary_batch = batch_in_epoch  # batches consumed at the last optimizer step
            stopping = False
            for batch in loader:
                skipped = batch.pop("skipped")
                batch.pop("valid")
                for message in skipped:
                    logger.warning("Unreadable video skipped (process %d): %s", accelerator.process_index, message)
                with accelerator.accumulate(model):
                    loss = model(pixel_values=batch["pixel_values"], labels=batch["labels"]).loss
                    status_row = torch.tensor(
                        [loss.detach().float().item(), float(stop.requested), float(len(skipped))],
                        device=accelerator.device,
                    )
                    everyone = accelerator.gather(status_row[None]).view(-1, 3)
                    if not torch.isfinite(everyone[:, 0]).all():
                        where = f"step {global_step + 1} (epoch {epoch}, batch {batch_in_epoch})"
                        nan_folder = save_checkpoint(
                            accelerator, checkpoints_dir / f"{NAN_CHECKPOINT_PREFIX}{global_step}",
                            trainer_state(epoch, boundary_batch), None,
                        )  # fmt: skip
                        accelerator.end_training()
                        raise FloatingPointError(
                            f"Non-finite loss {everyone[:, 0].tolist()} at {where}; the state before this step is "
                            f"saved in {nan_folder} (lower the learning rate, or check the data, and resume from it)."
                        )
                    accelerator.backward(loss)
                    if accelerator.sync_gradients and recipe["max_grad_norm"]:
                        accelerator.clip_grad_norm_(model.parameters(), recipe["max_grad_norm"])
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                batch_in_epoch += 1
                skipped_total += int(everyone[:, 2].sum())
                window_loss.append(float(everyone[:, 0].mean()))
                window_clips += batch["pixel_values"].shape[0] * accelerator.num_processes
                if not accelerator.sync_gradients:
                    continue
                if not accelerator.optimizer_step_was_skipped:
                    scheduler.step()
                global_step += 1
                steps_this_run += 1
                boundary_batch = batch_in_epoch
                progress.update(1)
                if global_step % train_args.logging_steps == 0 or global_step == total_steps:
                    elapsed = time.perf_counter() - window_start
                    logs = {
                        "train/loss": float(np.mean(window_loss)),
                        "train/lr": optimizer.param_groups[0]["lr"],
                        "train/clips_per_second": window_clips / max(elapsed, 1e-9),
                        "train/epoch": global_step / steps_per_epoch,
                        "train/skipped_videos": skipped_total,
                    }
                    progress.set_postfix(
                        loss=f"{logs['train/loss']:.4f}", clips_s=f"{logs['train/clips_per_second']:.1f}"
                    )
                    if accelerator.is_main_process:
                        logger.info(
                            "step %d/%d epoch %.2f loss %.4f lr %.3g %.1f clips/s",
                            global_step, total_steps, logs["train/epoch"], logs["train/loss"], logs["train/lr"],
                            logs["train/clips_per_second"],
                        )  # fmt: skip
                    accelerator.log(logs, step=global_step)
                    state["log_history"].append({"step": global_step, **logs})
                    window_loss, window_clips, window_start = [], 0, time.perf_counter()
                if train_args.checkpointing_steps and global_step % train_args.checkpointing_steps == 0:
                    last_checkpoint = save_checkpoint(
                        accelerator, checkpoints_dir / f"{CHECKPOINT_PREFIX}{global_step}",
                        trainer_state(epoch, batch_in_epoch), train_args.save_total_limit,
                    )  # fmt: skip
                stop_requested = bool(everyone[:, 1].any())
                out_of_budget = (
                    train_args.stop_after_steps is not None and steps_this_run >= train_args.stop_after_steps
                )
                if global_step >= total_steps:
                    break
                if stop_requested or out_of_budget:
                    name = checkpoints_dir / f"{CHECKPOINT_PREFIX}{global_step}"
                    if last_checkpoint != name:
                        last_checkpoint = save_checkpoint(
                            accelerator, name, trainer_state(epoch, batch_in_epoch), train_args.save_total_limit
                        )
                    logger.info("Stopped at step %d with a resumable checkpoint in %s.", global_step, last_checkpoint)
                    status, stopping = "stopped", True
                    break
            if stopping:
                break
            # ---- epoch end --------------------------------------------------------------------------------
            epoch_done = epoch + 1
            if (
                eval_loader is not None
                and train_args.eval_every_epochs
                and (epoch_done % train_args.eval_every_epochs == 0 or epoch_done == num_epochs)
            ):
                results = evaluate_model(model, eval_loader, accelerator, f"eval epoch {epoch_done}")
                summary = {k: results[k] for k in ("top1", "top5", "mean_class_accuracy")}
                state["log_history"].append(
                    {"step": global_step, "epoch": epoch_done, **{f"eval/{k}": v for k, v in summary.items()}}
                )
                accelerator.log({f"eval/{k}": v for k, v in summary.items()}, step=global_step)
                if accelerator.is_main_process:
                    logger.info(
                        "epoch %d: %s top-1 %.4f top-5 %.4f mean class %.4f",
                        epoch_done, eval_split, summary["top1"], summary["top5"], summary["mean_class_accuracy"],
                    )  # fmt: skip
            if train_args.checkpoint_every_epoch or global_step >= total_steps:
                # (replaces a step checkpoint written at the same step: same weights, position "next epoch")
                position = (epoch_done, 0) if batch_in_epoch >= batches_per_epoch else (epoch, batch_in_epoch)
                last_checkpoint = save_checkpoint(
                    accelerator, checkpoints_dir / f"{CHECKPOINT_PREFIX}{global_step}", trainer_state(*position),
                    train_args.save_total_limit,
                )  # fmt: skip
    progress.close()

    model_dir = None
    if status == "finished":
        if train_args.do_final_eval and eval_loader is not None:
            metrics = final_evaluation(
                model, eval_loader, test_loader, accelerator, processor, eval_split, test_split, label_names,
                output_dir, train_args.confusion_matrix_max_labels,
            )  # fmt: skip
        model_dir = output_dir / "model"
        save_final_model(accelerator, model, processor, label_names, model_dir, metrics, recipe, train_args)
    if accelerator.is_main_process:
        summary = {
            "status": status,
            "global_step": global_step,
            "skipped_videos": skipped_total,
            "metrics": metrics,
            "missing_videos": {k: len(v) for k, v in data.missing_videos.items()},
        }
        (output_dir / "train_results.json").write_text(json.dumps(summary, indent=2) + "\n")
        if skipped_total:
            logger.warning("%d unreadable training videos were skipped (see the warnings above).", skipped_total)
    accelerator.end_training()
    return TrainingResult(
        status=status,
        global_step=global_step,
        epoch=current_epoch,
        checkpoint=str(last_checkpoint) if last_checkpoint else None,
        model_dir=str(model_dir) if model_dir else None,
        metrics=metrics,
        skipped_videos=skipped_total,
        log_history=state["log_history"],
        model=accelerator.unwrap_model(model, keep_torch_compile=False),
    )


def final_evaluation(
    model, eval_loader, test_loader, accelerator, processor, eval_split, test_split, label_names, output_dir,
    confusion_matrix_max_labels,
) -> dict[str, Any]:  # fmt: skip
    """Single-view evaluation on the validation split and the processor's multi-view protocol on the test split
    (or validation); writes `eval_results.json` and, for small label sets, `confusion_matrix.png`."""
    single = evaluate_model(model, eval_loader, accelerator, f"{eval_split} single-view")
    protocol = f"{processor.num_test_clips} clips × {processor.test_crop}"
    multi = evaluate_model(model, test_loader, accelerator, f"{test_split} {protocol}")
    metrics = {
        f"{eval_split}_single_view": {
            k: single[k] for k in ("top1", "top5", "mean_class_accuracy", "num_samples", "skipped_videos")
        },
        f"{test_split}_multi_view": {
            **{k: multi[k] for k in ("top1", "top5", "mean_class_accuracy", "num_samples", "skipped_videos")},
            "protocol": protocol,
        },
    }
    accelerator.log(
        {
            f"final/{split}/{k}": v
            for split, values in metrics.items()
            for k, v in values.items()
            if isinstance(v, float)
        }
    )
    if accelerator.is_main_process:
        for split, values in metrics.items():
            logger.info(
                "%s: top-1 %.4f top-5 %.4f mean class %.4f (%d videos)",
                split, values["top1"], values["top5"], values["mean_class_accuracy"], values["num_samples"],
            )  # fmt: skip
        (output_dir / "eval_results.json").write_text(
            json.dumps({**metrics, "confusion_matrix": multi["confusion_matrix"], "label_names": label_names}, indent=2)
            + "\n"
        )
        if len(label_names) <= confusion_matrix_max_labels:
            save_confusion_matrix_png(multi["confusion_matrix"], label_names, output_dir / "confusion_matrix.png")
    return metrics


def save_final_model(
    accelerator: Accelerator,
    model: torch.nn.Module,
    processor: TANetVideoProcessor,
    label_names: list[str],
    model_dir: Path,
    metrics: dict[str, Any],
    recipe: dict[str, Any],
    train_args: TrainArguments,
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
            model_card_text(unwrapped.config, label_names, metrics, recipe, train_args), encoding="utf-8"
        )
        if model_dir.exists():
            shutil.rmtree(model_dir)
        os.replace(tmp, model_dir)
        logger.info("Saved the model, video processor and labels to %s.", model_dir)
    accelerator.wait_for_everyone()


def model_card_text(
    config: TANetConfig,
    label_names: list[str],
    metrics: dict[str, Any],
    recipe: dict[str, Any],
    train_args: TrainArguments,
) -> str:
    """The trained folder's card, written by the one card writer (`tanet_hf.conversion.model_card`)."""
    from ..conversion.model_card import build_model_card

    values = {**recipe, "lr_steps": tuple(recipe["lr_steps"])}
    resolved = dataclasses.replace(
        RECIPES[train_args.recipe], **{k: v for k, v in values.items() if k != "processor_overrides"}
    )
    classes = ", ".join(label_names[:20]) + (" …" if len(label_names) > 20 else "")
    training = f"Trained with `tanet_hf`, recipe `{train_args.recipe}`: {resolved.describe()} Classes: {classes}."
    card = build_model_card(config, "path/to/this/folder", evaluation=metrics, training=training)
    return str(card)


# ----------------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------------


def parse_arguments(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, TrainArguments]:
    """`--name value` flags of the three dataclasses, or a single `.json` / `.yaml` file holding them."""
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainArguments))
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(argv[0])
    if len(argv) == 1 and argv[0].endswith((".yaml", ".yml")):
        return parser.parse_yaml_file(argv[0])
    return parser.parse_args_into_dataclasses(args=argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `examples/train.py` (and `accelerate launch examples/train.py`)."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    for noisy in ("httpx", "accelerate", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    model_args, data_args, train_args = parse_arguments(argv)
    try:
        result = train(model_args, data_args, train_args)
    except FloatingPointError as error:
        logger.error("%s", error)
        return 1
    if result.status == "stopped":
        logger.info("Stopped at step %d; continue with --resume_from_checkpoint latest.", result.global_step)
    return 0


__all__ = [
    "ARCHITECTURES",
    "RECIPES",
    "DataArguments",
    "ModelArguments",
    "TrainArguments",
    "TrainingResult",
    "build_model",
    "build_optimizer",
    "build_augmentation",
    "build_processor",
    "checkpoint_label_names",
    "evaluate_model",
    "list_checkpoints",
    "load_video_accuracy",
    "lr_factor",
    "main",
    "parse_arguments",
    "release_parameter_groups",
    "resolve_checkpoint",
    "resolve_recipe",
    "save_checkpoint",
    "save_confusion_matrix_png",
    "scaled_learning_rate",
    "train",
]
