#!/usr/bin/env python
# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Fine-tune TANet with `transformers.Trainer`: the same model, data, recipe and output folder as `examples/train.py`.

    python examples/finetune_trainer.py --dataset my_videos --recipe kinetics400 --init_from path/or/hub-id \
        --output_dir outputs/trainer --per_device_train_batch_size 8 --eval_strategy epoch --save_strategy epoch

What is shared with the Accelerate script (`tanet_hf.training`): the flags (`TrainingArguments`' own, plus the
model / data / recipe dataclasses), the data (`DataArguments.load`: a seeded validation split carved from a plain
`root/<class>/` folder, seeded `--max_*_samples`), the builders (model, video processor, training augmentation),
the recipe's optimizer with the release's parameter groups and its learning-rate schedule (through
`create_optimizer` / `create_scheduler`), the final single- and multi-view evaluation, and `output_dir/model`: the
folder with weights, processor, labels and a card with the measured accuracy that `tanet-hf push` uploads.

Recipe values fill the `TrainingArguments` left at their defaults: `--learning_rate` (for a global batch of 64,
scaled to the actual one unless `--no_scale_lr`), `--weight_decay`, `--max_grad_norm`, `--num_train_epochs`,
`--optim` (sgd or adamw_torch); `--lr_scheduler_type` left at `linear` means the recipe's schedule (step, cosine or
constant), `cosine` / `constant` choose those.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from tanet_hf.registry import RECIPES
from tanet_hf.training.arguments import (
    DataArguments,
    ModelArguments,
    RecipeArguments,
    make_parser,
    recipe_from_arguments,
)
from tanet_hf.training.builders import (
    build_augmentation,
    build_model,
    build_optimizer,
    build_processor,
    checkpoint_label_names,
)
from tanet_hf.training.evaluation import final_evaluation, load_video_accuracy, reported_top_k
from tanet_hf.training.loading import VideoClipDataset, make_video_dataloader
from tanet_hf.training.model_folder import save_final_model
from tanet_hf.training.recipes import SCHEDULES, lr_factor, scaled_learning_rate, warmup_steps_of

logger = logging.getLogger("finetune_trainer")


def parse(argv: list[str] | None) -> tuple[ModelArguments, DataArguments, RecipeArguments, TrainingArguments]:
    """The four dataclasses from `argv`, with the recipe's values as the defaults of `TrainingArguments`."""
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--recipe", default=RecipeArguments.recipe)
    name = first.parse_known_args(argv)[0].recipe
    if name not in RECIPES:
        raise ValueError(f"recipe={name!r} is not known; expected one of {list(RECIPES)}.")
    recipe = RECIPES[name]
    parser = make_parser((ModelArguments, DataArguments, RecipeArguments, TrainingArguments))
    parser.set_defaults(
        learning_rate=recipe.learning_rate,
        weight_decay=recipe.weight_decay,
        max_grad_norm=recipe.max_grad_norm,
        num_train_epochs=recipe.num_train_epochs,
        optim="sgd" if recipe.optimizer == "sgd" else "adamw_torch",
        remove_unused_columns=False,  # the datasets hold videos, not model arguments
    )
    return parser.parse_args_into_dataclasses(args=argv)


class RecipeTrainer(Trainer):
    """`Trainer` with the recipe's optimizer (the release's parameter groups) and learning-rate schedule."""

    def __init__(self, *args, recipe, scale_lr: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.recipe = recipe
        self.scale_lr = scale_lr

    def create_optimizer(self, model=None):
        if self.optimizer is None:
            args = self.args
            global_batch = args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
            learning_rate = scaled_learning_rate(self.recipe, global_batch, self.scale_lr)
            self.optimizer = build_optimizer(model if model is not None else self.model, self.recipe, learning_rate)
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None:
            batches = len(self.get_train_dataloader())  # per process, as the recipe's epochs count them
            steps_per_epoch = max(1, math.ceil(batches / self.args.gradient_accumulation_steps))
            warmup = warmup_steps_of(self.recipe, steps_per_epoch, int(self.args.warmup_steps) or None)
            self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer or self.optimizer,
                lambda step: lr_factor(step, steps_per_epoch, num_training_steps, self.recipe, warmup),
            )
        return self.lr_scheduler


class EpochSeeds(TrainerCallback):
    """Selects the epoch of the per-sample augmentation seeds before each epoch's DataLoader starts."""

    def __init__(self, clips: VideoClipDataset):
        self.clips = clips

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.clips.set_epoch(int(state.epoch or 0))


def collate_for_trainer(samples: list[dict]) -> dict[str, torch.Tensor]:
    """`VideoClipDataset` items → the model's inputs: `pixel_values` `(B, T, 3, H, W)` and `labels` `(B,)`."""
    for sample in samples:
        for message in sample["skipped"]:
            logger.warning("Unreadable video skipped: %s", message)
    return {
        "pixel_values": torch.stack([s["pixel_values"] for s in samples]),
        "labels": torch.tensor([s["labels"] for s in samples], dtype=torch.long),
    }


def run(argv: list[str] | None = None) -> tuple[RecipeTrainer, dict]:
    """Parse, build, train, evaluate and save; returns the trainer and the final metrics."""
    model_args, data_args, recipe_args, args = parse(argv)
    schedule = str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type))
    if schedule not in ("linear", *SCHEDULES):
        raise ValueError(f"lr_scheduler_type={schedule!r}: the recipes use {list(SCHEDULES)} (linear: the recipe's).")
    shared = {
        name: getattr(args, name) for name in ("learning_rate", "weight_decay", "max_grad_norm", "num_train_epochs")
    }
    recipe = recipe_from_arguments(  # the Accelerate script's resolution, on TrainingArguments' values
        SimpleNamespace(
            **vars(recipe_args), **shared, optim=str(getattr(args.optim, "value", args.optim)),
            lr_scheduler_type=None if schedule == "linear" else schedule,
        ),
        model_args,
        data_args,
    )  # fmt: skip

    data = data_args.load(seed=args.seed)
    labels = data.label_names
    model = build_model(model_args, labels, recipe.dropout)
    processor = build_processor(data_args, recipe, model.config.num_frames, model_args.init_from)
    init_labels = checkpoint_label_names(model_args.init_from)
    augmentation = build_augmentation(data_args, recipe, labels, init_labels is not None and init_labels != labels)
    train_clips = VideoClipDataset(
        data.splits["train"], processor, "train", args.seed, strict=data_args.strict_videos, augmentation=augmentation
    )
    eval_split = "validation" if "validation" in data.splits else ("test" if "test" in data.splits else None)
    eval_clips = VideoClipDataset(data.splits[eval_split], processor, "eval") if eval_split else None
    metric, top_k = load_video_accuracy(), reported_top_k(len(labels))

    def compute_metrics(eval_pred) -> dict[str, float]:
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        results = metric.compute(predictions=np.asarray(logits), references=eval_pred.label_ids, top_k=top_k)
        return {key: results[key] for key in ("top1", "top5", "mean_class_accuracy") if key in results}

    trainer = RecipeTrainer(
        model=model, args=args, train_dataset=train_clips, eval_dataset=eval_clips, data_collator=collate_for_trainer,
        processing_class=processor, compute_metrics=compute_metrics if eval_clips else None,
        callbacks=[EpochSeeds(train_clips)], recipe=recipe, scale_lr=recipe_args.scale_lr,
    )  # fmt: skip
    train_result = trainer.train(resume_from_checkpoint=args.resume_from_checkpoint)
    trainer.save_metrics("train", train_result.metrics)
    metrics: dict = {}
    if eval_split is not None:  # the Accelerate script's final evaluation, on the Trainer's accelerator
        test_split = "test" if "test" in data.splits else eval_split
        batch, workers = args.per_device_eval_batch_size, args.dataloader_num_workers
        loaders = [
            make_video_dataloader(VideoClipDataset(data.splits[split], processor, mode), size, False, num_workers=workers)
            for split, mode, size in ((eval_split, "eval", batch), (test_split, "test", max(1, batch // processor.num_test_clips)))
        ]  # fmt: skip
        eval_loader, test_loader = trainer.accelerator.prepare(*loaders)
        metrics = final_evaluation(
            trainer.model, eval_loader, test_loader, trainer.accelerator, processor, eval_split, test_split, labels,
            Path(args.output_dir), confusion_matrix_max_labels=50,
        )  # fmt: skip
    save_final_model(
        trainer.accelerator, trainer.model, processor, labels, Path(args.output_dir) / "model", metrics, recipe
    )
    return trainer, {
        **train_result.metrics,
        **{f"{split}_{k}": v for split, values in metrics.items() for k, v in values.items()},
    }


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
