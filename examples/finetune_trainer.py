#!/usr/bin/env python
# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Fine-tune TANet with `transformers.Trainer`, as the transformers video-classification guide does for VideoMAE.

The same model, data and video processor as `examples/train.py`, driven by `Trainer` instead of the Accelerate
loop: a `datasets` split wrapped in `tanet_hf.training.loading.VideoClipDataset` (decoding and augmentation in
DataLoader workers), a collator, `compute_metrics` with the package's `video_accuracy` metric, and the video processor as
`processing_class` (saved next to the model by `trainer.save_model()`).

    python examples/finetune_trainer.py --dataset data/synthetic --arch tiny --recipe synthetic \
        --output_dir outputs/trainer --num_train_epochs 5 --per_device_train_batch_size 16 \
        --learning_rate 2e-3 --eval_strategy epoch --save_strategy epoch --report_to none

    # fine-tune a TANet checkpoint on new labels
    python examples/finetune_trainer.py --init_from path/or/hub-id --dataset my_videos --output_dir out ...

All `transformers.TrainingArguments` flags work (mixed precision, accumulation, `--use_cpu`, `--push_to_hub`, ...).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from transformers import HfArgumentParser, Trainer, TrainingArguments

from tanet_hf.registry import ARCHITECTURES, RECIPES
from tanet_hf.training.arguments import DataArguments, ModelArguments
from tanet_hf.training.builders import build_augmentation, build_model, build_processor, checkpoint_label_names
from tanet_hf.training.evaluation import load_video_accuracy
from tanet_hf.training.loading import VideoClipDataset

logger = logging.getLogger("finetune_trainer")


@dataclass
class TrainerModelArguments:
    """The model to fine-tune (a subset of `tanet_hf.training.ModelArguments`; the rest is in TrainingArguments)."""

    arch: str = field(default="r50", metadata={"help": f"Backbone when not fine-tuning: {list(ARCHITECTURES)}."})
    temporal_module: str = field(default="tam", metadata={"help": '"tam" (TANet) or "none" (C2D).'})
    num_frames: int = field(default=8, metadata={"help": "Frames per clip."})
    init_from: str | None = field(default=None, metadata={"help": "A TANet checkpoint (folder or Hub id)."})
    init_from_imagenet: str | None = field(default=None, metadata={"help": "ImageNet ResNet weights file."})
    recipe: str = field(default="kinetics400", metadata={"help": f"Processor settings and dropout of {list(RECIPES)}."})
    dropout: float | None = field(default=None, metadata={"help": "Classifier dropout (default: the recipe's)."})


def collate_for_trainer(samples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """`VideoClipDataset` items → the model's inputs: `pixel_values` `(B, T, 3, H, W)` and `labels` `(B,)`."""
    for sample in samples:
        for message in sample["skipped"]:
            logger.warning("Unreadable video skipped: %s", message)
    return {
        "pixel_values": torch.stack([s["pixel_values"] for s in samples]),
        "labels": torch.tensor([s["labels"] for s in samples], dtype=torch.long),
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    parser = HfArgumentParser((TrainerModelArguments, DataArguments, TrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    training_args.remove_unused_columns = False  # the datasets hold videos, not model arguments

    data = data_args.load()
    recipe = RECIPES[model_args.recipe].as_dict()
    dropout = model_args.dropout if model_args.dropout is not None else recipe["dropout"]
    model = build_model(
        ModelArguments(
            arch=model_args.arch,
            temporal_module=model_args.temporal_module,
            num_frames=model_args.num_frames,
            init_from=model_args.init_from,
            init_from_imagenet=model_args.init_from_imagenet,
        ),
        data.label_names,
        dropout,
    )
    init_labels = checkpoint_label_names(model_args.init_from)
    processor = build_processor(data_args, recipe, model.config.num_frames, model_args.init_from)
    augmentation = build_augmentation(
        data_args, recipe, data.label_names, labels_changed=init_labels is not None and init_labels != data.label_names
    )

    def subset(split: str, limit: int | None):
        dataset = data.splits[split]
        return dataset.select(range(min(limit, len(dataset)))) if limit is not None else dataset

    train_dataset = VideoClipDataset(
        subset("train", data_args.max_train_samples),
        processor,
        mode="train",
        seed=training_args.seed,
        strict=data_args.strict_videos,
        augmentation=augmentation,
    )
    eval_split = "validation" if "validation" in data.splits else ("test" if "test" in data.splits else None)
    eval_dataset = (
        VideoClipDataset(subset(eval_split, data_args.max_eval_samples), processor, mode="eval")
        if eval_split is not None
        else None
    )
    metric = load_video_accuracy()

    def compute_metrics(eval_pred) -> dict[str, float]:
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        results = metric.compute(predictions=np.asarray(logits), references=np.asarray(eval_pred.label_ids))
        return {key: results[key] for key in ("top1", "top5", "mean_class_accuracy")}

    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=collate_for_trainer,
        processing_class=processor,
        compute_metrics=compute_metrics,
    )
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model()  # model + video processor, loadable by pipeline("video-classification", model=output_dir)
    trainer.log_metrics("train", train_result.metrics)
    trainer.save_metrics("train", train_result.metrics)
    metrics: dict[str, float] = dict(train_result.metrics)
    if eval_dataset is not None:
        eval_metrics = trainer.evaluate()
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)
        metrics.update(eval_metrics)
    trainer.save_state()
    return metrics


if __name__ == "__main__":
    main()
    sys.exit(0)
