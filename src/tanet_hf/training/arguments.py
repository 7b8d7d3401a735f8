# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""
Command-line arguments of the training scripts (transformers' `HfArgumentParser`: `--name value` flags, or one
JSON / YAML file holding them).

The flags use `transformers.TrainingArguments`' names for every concept the two share (`--learning_rate`,
`--lr_scheduler_type`, `--bf16`, `--save_steps`, `--dataloader_num_workers`, `--eval_strategy`, ...), so that
`examples/train.py` (Accelerate) and `examples/finetune_trainer.py` (`Trainer`) read the same command lines; the few
TANet-specific ones are in [`RecipeArguments`] (the recipe, its parameter-group multipliers, the lr scaling). A
field left unset (`None`) takes the recipe's value.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

from transformers import HfArgumentParser

from ..registry import ARCHITECTURES, DATASETS, RECIPES, Recipe
from .datasets import VideoClassificationData, load_video_classification_data, prepare_splits
from .recipes import resolve_recipe


@dataclass
class ModelArguments:
    """What to train: a fresh architecture (optionally with ImageNet weights) or a TANet checkpoint."""

    arch: str | None = field(
        default=None, metadata={"help": f"Backbone of a new model {list(ARCHITECTURES)} (default r50)."}
    )
    temporal_module: str | None = field(
        default=None, metadata={"help": 'New model: "tam" (TANet, the default) or "none" (the C2D baseline).'}
    )
    num_frames: int | None = field(
        default=None, metadata={"help": "Frames per clip T of a new model (default 8); a checkpoint has its own."}
    )
    config_overrides: str | None = field(
        default=None,
        metadata={
            "help": 'TANetConfig fields of a new model as "key=value,key=value" (JSON values), e.g. '
            '"tam_position=\\"c\\""; on a checkpoint only fields that leave the network unchanged.'
        },
    )
    init_from_imagenet: str | None = field(
        default=None, metadata={"help": "ImageNet ResNet weights (torchvision / timm / transformers file or folder)."}
    )
    init_from: str | None = field(
        default=None,
        metadata={"help": "A TANet checkpoint (folder or Hub id) to fine-tune; a new head when labels differ."},
    )
    dropout: float | None = field(default=None, metadata={"help": "Classifier dropout (default: the recipe's)."})
    channels_last: bool = field(default=False, metadata={"help": "Run convolutions in channels_last memory format."})


@dataclass
class DataArguments:
    """Where the videos are and how clips are made from them (see `tanet_hf.training.datasets`)."""

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
    validation_split_percentage: int = field(
        default=10,
        metadata={
            "help": "Without a validation or test split (a plain root/<class>/ folder), hold out this percentage "
            "of the training videos, drawn with --seed (0: train without any evaluation)."
        },
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Train on N training videos drawn at random with --seed."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Evaluate on N evaluation videos drawn at random with --seed."}
    )
    strict_videos: bool = field(
        default=False, metadata={"help": "Stop on an unreadable or missing video instead of skipping and counting it."}
    )
    streaming: bool = field(
        default=False,
        metadata={
            "help": "Stream the train split of a Hub dataset (a folder of `tanet-hf shard` shards always streams): "
            "shared out over processes and workers, resumed exactly."
        },
    )
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
    frame_seek: str = field(
        default="exact",
        metadata={
            "help": "Training clips: exact (the release's random frame per segment) or keyframe (approximate, "
            "faster to decode: a random keyframe of each segment that holds one). Evaluation stays as the "
            "processor samples.",
            "choices": ["exact", "keyframe"],
        },
    )

    def load(self, seed: int = 0) -> VideoClassificationData:
        """
        The splits and label set these arguments name ([`load_video_classification_data`]), with a validation
        split carved from the training videos when there is none and the `max_*_samples` subsets, both drawn with
        `seed` ([`prepare_splits`]).
        """
        data = load_video_classification_data(
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
        return prepare_splits(
            data, self.validation_split_percentage, self.max_train_samples, self.max_eval_samples, seed
        )


@dataclass
class RecipeArguments:
    """The TANet-specific training flags: the recipe and what `TrainingArguments` has no name for."""

    recipe: str = field(
        default="kinetics400", metadata={"help": f"Defaults for the fields left unset: {list(RECIPES)}."}
    )
    scale_lr: bool = field(
        default=True,
        metadata={"help": "Scale the learning rate by global batch / 64, the recipes' batch (the linear rule)."},
    )
    momentum: float | None = field(default=None, metadata={"help": "SGD momentum (default: the recipe's, 0.9)."})
    lr_steps: list[float] | None = field(
        default=None, metadata={"help": "Epochs where the step schedule divides the learning rate by 10."}
    )
    linear_lr_mult: float | None = field(default=None, metadata={"help": "lr multiplier of nn.Linear weights."})
    linear_bias_lr_mult: float | None = field(default=None, metadata={"help": "lr multiplier of nn.Linear biases."})


@dataclass
class TrainArguments(RecipeArguments):
    """How `examples/train.py` trains: `TrainingArguments`' names, plus the recipe flags of [`RecipeArguments`]."""

    output_dir: str = field(default="outputs/tanet", metadata={"help": "Checkpoints, logs, results and model/."})
    per_device_train_batch_size: int = field(default=8, metadata={"help": "Clips per process per micro-batch."})
    per_device_eval_batch_size: int | None = field(default=None, metadata={"help": "Default: the training batch."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Micro-batches per optimizer step."})
    num_train_epochs: float | None = field(default=None, metadata={"help": "Default: the recipe's."})
    max_steps: int | None = field(default=None, metadata={"help": "Total optimizer steps (overrides epochs)."})
    stop_after_steps: int | None = field(
        default=None,
        metadata={
            "help": "Stop this run after N more optimizer steps with a resumable checkpoint (schedule unchanged)."
        },
    )
    learning_rate: float | None = field(default=None, metadata={"help": "Base learning rate for a global batch of 64."})
    optim: str | None = field(default=None, metadata={"help": "sgd or adamw_torch (default: the recipe's)."})
    weight_decay: float | None = field(default=None, metadata={"help": "Default: the recipe's."})
    lr_scheduler_type: str | None = field(default=None, metadata={"help": "step, cosine or constant."})
    warmup_steps: int | None = field(
        default=None, metadata={"help": "Linear warm-up in optimizer steps (default: the recipe's warm-up epochs)."}
    )
    max_grad_norm: float | None = field(default=None, metadata={"help": "Gradient-norm clipping (0: off)."})
    bf16: bool = field(default=False, metadata={"help": "bfloat16 mixed precision."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Recompute activations in the backward."})
    torch_compile: bool = field(default=False, metadata={"help": "torch.compile the model (Accelerate's dynamo)."})
    fp16: bool = field(default=False, metadata={"help": "float16 mixed precision (with loss scaling)."})
    seed: int = field(default=0, metadata={"help": "Seed of the initialisation, data order and augmentation."})
    dataloader_num_workers: int = field(default=2, metadata={"help": "DataLoader worker processes per process."})
    save_strategy: str = field(
        default="epoch", metadata={"help": "When to save a checkpoint: epoch, steps (every --save_steps) or no."}
    )
    save_steps: int = field(
        default=500, metadata={"help": "Optimizer steps between checkpoints (save_strategy steps)."}
    )
    save_total_limit: int | None = field(default=3, metadata={"help": "Keep only the newest N checkpoints."})
    resume_from_checkpoint: str | None = field(default=None, metadata={"help": '"latest" or a checkpoint folder.'})
    eval_strategy: str = field(
        default="epoch", metadata={"help": "Single-view validation: epoch, steps (every --eval_steps) or no."}
    )
    eval_steps: int | None = field(default=None, metadata={"help": "Optimizer steps between evaluations."})
    do_final_eval: bool = field(
        default=True, metadata={"help": "Single- and multi-view evaluation of the trained model before saving it."}
    )
    logging_steps: int = field(default=10, metadata={"help": "Optimizer steps between log lines."})
    report_to: str = field(default="auto", metadata={"help": "auto (TensorBoard when installed), none, or trackers."})
    run_name: str = field(default="tanet", metadata={"help": "Name of the run for the trackers."})
    confusion_matrix_max_labels: int = field(
        default=50, metadata={"help": "Write confusion_matrix.png up to N classes."}
    )

    def __post_init__(self) -> None:
        for name, allowed in (("save_strategy", ("no", "epoch", "steps")), ("eval_strategy", ("no", "epoch", "steps"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r} is not supported; expected one of {list(allowed)}.")
        if self.eval_strategy == "steps" and not self.eval_steps:
            raise ValueError("eval_strategy='steps' needs --eval_steps N (optimizer steps between evaluations).")
        if self.bf16 and self.fp16:
            raise ValueError("Give --bf16 or --fp16, not both.")

    @property
    def mixed_precision(self) -> str | None:
        """Accelerate's `mixed_precision`: "bf16", "fp16", or None (Accelerate's config or environment decides)."""
        return "bf16" if self.bf16 else "fp16" if self.fp16 else None


def recipe_from_arguments(args: Any, model_args: ModelArguments, data_args: DataArguments) -> Recipe:
    """
    The recipe in use: `args.recipe` with the values set on the command line. `args` is a [`TrainArguments`], or
    any object with the [`RecipeArguments`] fields and `TrainingArguments`' names (`learning_rate`, `optim`, ...);
    names it lacks keep the recipe's values.
    """
    value = lambda name: getattr(args, name, None)  # noqa: E731
    return resolve_recipe(
        args.recipe,
        learning_rate=value("learning_rate"),
        optimizer=value("optim"),
        momentum=value("momentum"),
        weight_decay=value("weight_decay"),
        lr_scheduler=value("lr_scheduler_type"),
        lr_steps=value("lr_steps"),
        max_grad_norm=value("max_grad_norm"),
        num_train_epochs=value("num_train_epochs"),
        linear_lr_mult=value("linear_lr_mult"),
        linear_bias_lr_mult=value("linear_bias_lr_mult"),
        dropout=model_args.dropout,
        processor_preset=data_args.processor_preset,
    )


class LaunchError(RuntimeError):
    """The processes were started in a way that would make them race (see [`check_distributed_launch`])."""


def check_distributed_launch(num_processes: int, environ: dict[str, str] | None = None) -> None:
    """
    Stop when the environment says several processes were started (`WORLD_SIZE` > 1, e.g. by `torchrun` or a
    job scheduler) but Accelerate sees one: every such process would train alone and race the others into one
    output folder. Raises [`LaunchError`] saying how to launch.
    """
    world_size = int((os.environ if environ is None else environ).get("WORLD_SIZE", "1"))
    if world_size > 1 and num_processes == 1:
        raise LaunchError(
            f"WORLD_SIZE={world_size} but this process is not part of a distributed group (Accelerate sees 1 "
            "process): each process would train alone into the same output folder. Launch with "
            f"`accelerate launch --num_processes {world_size} examples/train.py ...` (or `torchrun "
            f"--nproc_per_node {world_size} examples/train.py ...`), or unset WORLD_SIZE for one process."
        )


def make_parser(dataclass_types: tuple[type, ...]) -> HfArgumentParser:
    """An `HfArgumentParser` whose `--no_*` complements of boolean flags say what they turn off."""
    parser = HfArgumentParser(dataclass_types)
    for action in parser._actions:
        negated = next((option for option in action.option_strings if option.startswith("--no_")), None)
        if negated is not None:
            name = negated[len("--no_") :]
            action.help = f"Turn off --{name} (on by default)."
    return parser


def parse_arguments(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, TrainArguments]:
    """`--name value` flags of the three dataclasses, or a single `.json` / `.yaml` file holding them."""
    parser = make_parser((ModelArguments, DataArguments, TrainArguments))
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(argv[0])
    if len(argv) == 1 and argv[0].endswith((".yaml", ".yml")):
        return parser.parse_yaml_file(argv[0])
    return parser.parse_args_into_dataclasses(args=argv)


__all__ = [
    "DataArguments",
    "LaunchError",
    "ModelArguments",
    "RecipeArguments",
    "TrainArguments",
    "check_distributed_launch",
    "make_parser",
    "parse_arguments",
    "recipe_from_arguments",
]
