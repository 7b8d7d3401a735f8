# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Command-line arguments of the training script (transformers' `HfArgumentParser`: `--name value` flags,
or one JSON / YAML file holding them).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from ..registry import ARCHITECTURES, DATASETS, RECIPES
from .datasets import VideoClassificationData, load_video_classification_data


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


def parse_arguments(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, TrainArguments]:
    """`--name value` flags of the three dataclasses, or a single `.json` / `.yaml` file holding them."""
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainArguments))
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(argv[0])
    if len(argv) == 1 and argv[0].endswith((".yaml", ".yml")):
        return parser.parse_yaml_file(argv[0])
    return parser.parse_args_into_dataclasses(args=argv)


__all__ = ["DataArguments", "ModelArguments", "TrainArguments", "parse_arguments"]
