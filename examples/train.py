#!/usr/bin/env python
# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Train / fine-tune / evaluate TANet with 🤗 Accelerate: the training loop, top to bottom.

    accelerate launch examples/train.py --dataset data/synthetic --recipe synthetic --arch tiny --output_dir out
    python examples/train.py --train_file k400/train.csv --validation_file k400/val.csv --video_root k400/videos \
        --recipe kinetics400 --init_from_imagenet resnet50.pth --output_dir out/k400

One loop for one CPU, one GPU, many GPUs and many nodes (DDP, or FSDP / DeepSpeed through Accelerate's own
config). The reusable pieces live in `tanet_hf.training`: data (`datasets`, `loading`, `augmentation`), the recipe
(`recipes`), the model / processor / optimizer (`builders`), checkpoints (`checkpointing`) and evaluation
(`evaluation`). Every option: `python examples/train.py --help`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration, send_to_device, set_seed
from tqdm.auto import tqdm

from tanet_hf.training.arguments import (
    DataArguments,
    LaunchError,
    ModelArguments,
    TrainArguments,
    check_distributed_launch,
    parse_arguments,
    recipe_from_arguments,
)
from tanet_hf.training.builders import (
    build_augmentation,
    build_model,
    build_optimizer,
    build_processor,
    checkpoint_label_names,
)
from tanet_hf.training.checkpointing import (
    CHECKPOINT_PREFIX,
    NAN_CHECKPOINT_PREFIX,
    BufferSnapshot,
    CheckpointSaveError,
    ResumeError,
    StopRequest,
    check_finite_training_state,
    check_labels_unchanged,
    read_trainer_state,
    resolve_checkpoint,
    resume_position,
    save_checkpoint,
    update_trainer_state,
)
from tanet_hf.training.datasets import VideoClassificationData
from tanet_hf.training.evaluation import describe, evaluate_model, final_evaluation, summarise
from tanet_hf.training.loading import (
    DataLoaderWorkerError,
    VideoClipDataset,
    is_worker_failure,
    make_video_dataloader,
    on_worker_failure,
    worker_exits_ignored,
)
from tanet_hf.training.model_folder import save_final_model
from tanet_hf.training.recipes import lr_factor, scaled_learning_rate, warmup_steps_of
from tanet_hf.training.streaming import (
    StreamingClipDataset,
    is_shard_folder,
    load_streaming_data,
    make_streaming_dataloader,
)

logger = logging.getLogger("train")


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


def train(model_args: ModelArguments, data_args: DataArguments, train_args: TrainArguments) -> TrainingResult:
    """Train (or resume), evaluate and save; see the module documentation. Returns a [`TrainingResult`]."""
    recipe = recipe_from_arguments(train_args, model_args, data_args)
    output_dir = Path(train_args.output_dir)
    trackers = _trackers(train_args.report_to)
    accelerator = Accelerator(
        gradient_accumulation_steps=train_args.gradient_accumulation_steps,
        mixed_precision=train_args.mixed_precision,
        log_with=trackers,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        dynamo_backend="inductor" if train_args.torch_compile else None,
    )
    check_distributed_launch(accelerator.num_processes)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
    set_seed(train_args.seed)

    # ---- data -----------------------------------------------------------------------------------------------
    init_labels = checkpoint_label_names(model_args.init_from)
    # streaming (shards or a Hub stream): the train split streams, split by rank here, never by accelerator.prepare
    streaming = data_args.streaming or is_shard_folder(data_args.dataset)
    with accelerator.main_process_first():
        if streaming:
            train_source, data = load_streaming_data(
                data_args.dataset, video_column=data_args.video_column, label_column=data_args.label_column,
                dataset_config_name=data_args.dataset_config_name, cache_dir=data_args.cache_dir,
            )  # fmt: skip
        else:
            data: VideoClassificationData = data_args.load(seed=train_args.seed)
    if not streaming and "train" not in data.splits:
        raise ValueError(f"The dataset has no train split (splits: {sorted(data.splits)}).")
    label_names = data.label_names
    model = build_model(model_args, label_names, recipe.dropout)
    processor = build_processor(data_args, recipe, model.config.num_frames, model_args.init_from)
    augmentation = build_augmentation(
        data_args, recipe, label_names, labels_changed=init_labels is not None and init_labels != label_names
    )
    if train_args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if model_args.channels_last:
        model = model.to(memory_format=torch.channels_last)

    if streaming:
        train_clips = StreamingClipDataset(
            train_source, processor, train_args.per_device_train_batch_size, augmentation, train_args.seed,
            accelerator.process_index, accelerator.num_processes, strict=data_args.strict_videos,
        )  # fmt: skip
    else:
        train_clips = VideoClipDataset(
            data.splits["train"], processor, "train", train_args.seed,
            strict=data_args.strict_videos, augmentation=augmentation,
        )  # fmt: skip
    eval_split = "validation" if "validation" in data.splits else ("test" if "test" in data.splits else None)
    test_split = "test" if "test" in data.splits else eval_split
    eval_batch = train_args.per_device_eval_batch_size or train_args.per_device_train_batch_size
    workers = train_args.dataloader_num_workers
    if streaming:
        train_loader = make_streaming_dataloader(train_clips, workers, pin_memory=accelerator.device.type == "cuda")
    else:
        train_loader = make_video_dataloader(
            train_clips, train_args.per_device_train_batch_size, shuffle=True, seed=train_args.seed,
            num_workers=workers, pin_memory=accelerator.device.type == "cuda",
        )  # fmt: skip
    eval_loader = test_loader = None
    if eval_split is not None:
        eval_clips = VideoClipDataset(data.splits[eval_split], processor, "eval")
        eval_loader = make_video_dataloader(eval_clips, eval_batch, shuffle=False, num_workers=workers)
        test_clips = VideoClipDataset(data.splits[test_split], processor, "test")
        test_batch = max(1, eval_batch // max(1, processor.num_test_clips))
        test_loader = make_video_dataloader(test_clips, test_batch, shuffle=False, num_workers=workers)

    # ---- optimisation ---------------------------------------------------------------------------------------
    global_batch = (
        train_args.per_device_train_batch_size * accelerator.num_processes * train_args.gradient_accumulation_steps
    )
    learning_rate = scaled_learning_rate(recipe, global_batch, train_args.scale_lr)
    optimizer = build_optimizer(model, recipe, learning_rate)
    batches_per_epoch = math.ceil(
        len(train_clips) / (train_args.per_device_train_batch_size * accelerator.num_processes)
    )
    steps_per_epoch = math.ceil(batches_per_epoch / train_args.gradient_accumulation_steps)
    if train_args.max_steps is not None:
        total_steps = train_args.max_steps
        num_epochs = math.ceil(total_steps / steps_per_epoch)
    else:
        num_epochs = math.ceil(recipe.num_train_epochs)
        total_steps = num_epochs * steps_per_epoch
    warmup_steps = warmup_steps_of(recipe, steps_per_epoch, train_args.warmup_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, steps_per_epoch, total_steps, recipe, warmup_steps)
    )

    train_sampler = train_loader.sampler  # the EpochShuffleSampler, shared with the prepared loaders
    if streaming:  # already this rank's share: prepare would split it again
        prepared = (*accelerator.prepare(model, optimizer), train_loader)
        if eval_loader is not None:
            prepared += accelerator.prepare(eval_loader, test_loader)
    else:
        prepared = accelerator.prepare(
            model, optimizer, train_loader, *(x for x in (eval_loader, test_loader) if x is not None)
        )
    model, optimizer, train_loader = prepared[:3]
    if eval_loader is not None:
        eval_loader, test_loader = prepared[3:5]
    accelerator.register_for_checkpointing(scheduler)

    # ---- resume ---------------------------------------------------------------------------------------------
    state: dict[str, Any] = {"global_step": 0, "epoch": 0, "batch_in_epoch": 0, "skipped_videos": 0, "log_history": []}
    run_settings = {  # recorded in every checkpoint; resuming says which changed
        "per_device_train_batch_size": train_args.per_device_train_batch_size,
        "num_processes": accelerator.num_processes,
        "gradient_accumulation_steps": train_args.gradient_accumulation_steps,
        "seed": train_args.seed,
    }
    if train_args.resume_from_checkpoint:
        checkpoint = resolve_checkpoint(train_args.resume_from_checkpoint, output_dir)
        if checkpoint is None:
            logger.info("No checkpoint in %s yet: starting from scratch.", output_dir / "checkpoints")
        else:
            saved = read_trainer_state(checkpoint)
            check_labels_unchanged(saved, label_names, checkpoint)
            accelerator.load_state(str(checkpoint))
            check_finite_training_state(accelerator.unwrap_model(model), optimizer, checkpoint)
            state.update({k: v for k, v in saved.items() if k != "files"})
            state["batch_in_epoch"] = resume_position(saved, run_settings, checkpoint)
            logger.info(
                "Resumed from %s: step %d, epoch %d, batch %d.",
                checkpoint, state["global_step"], state["epoch"], state["batch_in_epoch"],
            )  # fmt: skip

    if accelerator.is_main_process:
        logger.info(
            "Training %s (%s, %d labels, %.2fM parameters) on %d videos: %d epochs × %d steps, global batch %d "
            "(%d processes × %d × %d accumulation), lr %.5g (%s), %s schedule.",
            type(accelerator.unwrap_model(model)).__name__, accelerator.unwrap_model(model).config.temporal_module, len(label_names),
            sum(p.numel() for p in model.parameters()) / 1e6, len(train_clips), num_epochs, steps_per_epoch,
            global_batch, accelerator.num_processes, train_args.per_device_train_batch_size,
            train_args.gradient_accumulation_steps, learning_rate, recipe.optimizer, recipe.lr_scheduler,
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
            **run_settings,
            "global_batch": global_batch,
            "label_names": label_names,
        }

    evaluation_errors: list[str] = []

    def validate(epoch: float) -> None:
        """Single-view validation of the model being trained, logged and kept in the history. Runs after the
        checkpoint of its step is saved; a failure is reported (logged, kept in the history and in
        `train_results.json`) and training goes on."""
        try:
            results = summarise(evaluate_model(model, eval_loader, accelerator, f"eval step {global_step}"))
        except Exception as error:
            if is_worker_failure(error):
                raise
            message = f"evaluation at step {global_step} (epoch {epoch:g}) failed: {type(error).__name__}: {error}"
            logger.error("%s; training goes on (saved checkpoints are kept).", message, exc_info=True)
            evaluation_errors.append(message)
            entry = {"eval/error": message}
        else:
            entry = {f"eval/{k}": v for k, v in results.items() if k in ("top1", "top5", "mean_class_accuracy")}
            accelerator.log(entry, step=global_step)
            if accelerator.is_main_process:
                logger.info("epoch %g: %s %s", epoch, eval_split, describe({k[5:]: v for k, v in entry.items()}))
        state["log_history"].append({"step": global_step, "epoch": epoch, **entry})
        if last_checkpoint is not None and last_checkpoint.name == f"{CHECKPOINT_PREFIX}{global_step}":
            update_trainer_state(accelerator, last_checkpoint, {"log_history": state["log_history"]})

    def stop_on_non_finite(what: str, values: list[float], where: str) -> None:
        """Save the state before this step (parameters are untouched until the optimizer step; the buffers the
        forward passes of this step updated are restored) as a `nan-checkpoint-*`, then raise."""
        snapshot.restore()
        nan_folder = save_checkpoint(
            accelerator, checkpoints_dir / f"{NAN_CHECKPOINT_PREFIX}{global_step}", trainer_state(*resume_at), None
        )
        accelerator.end_training()
        raise FloatingPointError(
            f"Non-finite {what} {values} at {where}; the state before this step is saved in {nan_folder} "
            f"(lower the learning rate, or check the data, and resume from it)."
        )

    def save_after_worker_failure(error: Exception) -> DataLoaderWorkerError:
        """The last consistent state after a DataLoader worker died, and the error to raise."""
        progress.close()
        if updating:  # died inside the optimizer step: this step's state is half-written
            kept = f"the latest checkpoint ({last_checkpoint})" if last_checkpoint else "no checkpoint"
            saved = f"it died during the optimizer step of step {global_step + 1}, so {kept} is the state to resume"
        else:
            snapshot.restore()
            name = checkpoints_dir / f"{CHECKPOINT_PREFIX}{global_step}"
            folder = last_checkpoint if last_checkpoint == name else save_checkpoint(
                accelerator, name, trainer_state(*resume_at), train_args.save_total_limit
            )  # fmt: skip
            saved = f"the state after step {global_step} is saved in {folder}"
        return DataLoaderWorkerError(
            f"A DataLoader worker died ({type(error).__name__}: {error}): often the out-of-memory killer (see `dmesg`); lower "
            f"--dataloader_num_workers or the batch size. Training stopped; {saved}: continue with "
            f"--resume_from_checkpoint latest."
        )

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
    snapshot = BufferSnapshot(model)  # the buffers as of the last optimizer step
    resume_at = (start_epoch, resume_batches)  # (epoch, batches consumed) of the last optimizer step
    updating = False  # inside the optimizer step: the state is consistent only before or after it
    step_guard = contextlib.ExitStack()

    with StopRequest() as stop, on_worker_failure(save_after_worker_failure):
        for epoch in range(start_epoch, num_epochs):
            if global_step >= total_steps:
                break
            current_epoch = epoch
            model.train()
            train_clips.set_epoch(epoch)
            if not streaming:
                train_sampler.set_epoch(epoch)
                train_loader.set_epoch(epoch)
            loader = train_loader
            batch_in_epoch = 0
            if epoch == start_epoch and resume_batches and streaming:
                train_clips.set_start_batch(resume_batches)  # the stream skips them before decoding
                batch_in_epoch = resume_batches
            elif epoch == start_epoch and resume_batches:
                loader = accelerator.skip_first_batches(train_loader, resume_batches)
                loader.set_epoch(epoch)
                batch_in_epoch = resume_batches
            resume_at = (epoch, batch_in_epoch)
            stopping = False
            for batch in loader:
                if streaming:
                    batch = send_to_device(batch, accelerator.device)
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
                    where = f"step {global_step + 1} (epoch {epoch}, batch {batch_in_epoch})"
                    if not torch.isfinite(everyone[:, 0]).all():
                        stop_on_non_finite("loss", everyone[:, 0].tolist(), where)
                    accelerator.backward(loss)
                    if accelerator.sync_gradients:
                        # the norm (of the synchronised gradients: the same on every process) is checked before
                        # the step; with fp16 the grad scaler skips non-finite steps itself
                        norm = accelerator.clip_grad_norm_(model.parameters(), recipe.max_grad_norm or math.inf)
                        if accelerator.scaler is None and norm is not None and not math.isfinite(float(norm)):
                            stop_on_non_finite("gradient norm", [float(norm)], where)
                        # never half a step: from here to its bookkeeping a dying worker is found by the loader later
                        step_guard.enter_context(worker_exits_ignored())
                        updating = True
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
                resume_at = (epoch, batch_in_epoch)
                snapshot.take()
                updating = False
                step_guard.close()
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
                if train_args.save_strategy == "steps" and global_step % train_args.save_steps == 0:
                    last_checkpoint = save_checkpoint(
                        accelerator, checkpoints_dir / f"{CHECKPOINT_PREFIX}{global_step}",
                        trainer_state(*resume_at), train_args.save_total_limit,
                    )  # fmt: skip
                if eval_loader is not None and train_args.eval_strategy == "steps":
                    if global_step % train_args.eval_steps == 0:
                        validate(global_step / steps_per_epoch)
                        model.train()
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
                            accelerator, name, trainer_state(*resume_at), train_args.save_total_limit
                        )
                    logger.info("Stopped at step %d with a resumable checkpoint in %s.", global_step, last_checkpoint)
                    status, stopping = "stopped", True
                    break
            if stopping:
                break
            # ---- epoch end: save, then evaluate (a failed evaluation loses nothing) -------------------------
            epoch_done = epoch + 1
            if batch_in_epoch >= batches_per_epoch:
                resume_at = (epoch_done, 0)
            if train_args.save_strategy == "epoch" or global_step >= total_steps:
                # (replaces a step checkpoint written at the same step: same weights, position "next epoch")
                last_checkpoint = save_checkpoint(
                    accelerator, checkpoints_dir / f"{CHECKPOINT_PREFIX}{global_step}", trainer_state(*resume_at),
                    train_args.save_total_limit,
                )  # fmt: skip
            if eval_loader is not None and train_args.eval_strategy == "epoch":
                validate(epoch_done)
    progress.close()

    model_dir = None
    if status == "finished":
        if train_args.do_final_eval and eval_loader is not None:
            try:
                metrics = final_evaluation(
                    model, eval_loader, test_loader, accelerator, processor, eval_split, test_split, label_names,
                    output_dir, train_args.confusion_matrix_max_labels,
                )  # fmt: skip
            except Exception as error:  # the trained model is still saved, without measured accuracy
                message = f"final evaluation failed: {type(error).__name__}: {error}"
                logger.error("%s; the model is saved without measured accuracy.", message, exc_info=True)
                evaluation_errors.append(message)
        model_dir = output_dir / "model"
        save_final_model(accelerator, model, processor, label_names, model_dir, metrics, recipe)
    if accelerator.is_main_process:
        summary = {
            "status": status,
            "global_step": global_step,
            "skipped_videos": skipped_total,
            "metrics": metrics,
            "missing_videos": {k: len(v) for k, v in data.missing_videos.items()},
            "evaluation_errors": evaluation_errors,
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python examples/train.py` and `accelerate launch examples/train.py`."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    for noisy in ("httpx", "accelerate", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    model_args, data_args, train_args = parse_arguments(argv)
    try:
        result = train(model_args, data_args, train_args)
    except (FloatingPointError, LaunchError, ResumeError, CheckpointSaveError, DataLoaderWorkerError) as error:
        logger.error("%s", error)
        return 1
    if result.status == "stopped":
        logger.info("Stopped at step %d; continue with --resume_from_checkpoint latest.", result.global_step)
    return 0


if __name__ == "__main__":
    sys.exit(main())
