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

`train` calls the steps below in order: `start_accelerator`, `load_data`, `build_model_and_processor`,
`make_loaders`, `plan_schedule`, `make_optimizer`, `prepare`, `resume`, `announce`; then per epoch `train_epoch`
(`epoch_loader`, `forward_backward`, `log_window`, `validate`) and `end_epoch` (save, then evaluate); then `finish`
(final evaluation, model folder, `train_results.json`). The loop's state travels in one [`Run`].
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, field
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


@dataclass
class Loaders:
    """The training clips and the loaders over them (the prepared loaders once [`prepare`] ran)."""

    train_clips: VideoClipDataset | StreamingClipDataset
    train: Any
    train_sampler: Any  # the EpochShuffleSampler, shared with the prepared loaders
    eval: Any | None
    test: Any | None
    eval_split: str | None
    test_split: str | None


@dataclass
class Schedule:
    """The run's size: batches and optimizer steps per epoch, epochs, total steps, global batch and learning rate."""

    global_batch: int
    learning_rate: float
    batches_per_epoch: int
    steps_per_epoch: int
    num_epochs: int
    total_steps: int


@dataclass
class Run:
    """The loop's state, passed to each step: what it trains with and where it stands (what a checkpoint records)."""

    accelerator: Accelerator
    train_args: TrainArguments
    recipe: Any
    model: torch.nn.Module
    optimizer: Any
    scheduler: Any
    loaders: Loaders
    schedule: Schedule
    streaming: bool
    label_names: list[str]
    run_settings: dict[str, Any]  # recorded in every checkpoint; resuming says which changed
    checkpoints_dir: Path
    state: dict[str, Any]  # the trainer state (resumed or fresh); its log_history grows as training goes
    global_step: int
    skipped_total: int
    start_epoch: int
    resume_batches: int
    resume_at: tuple[int, int]  # (epoch, batches consumed) of the last optimizer step
    progress: Any
    snapshot: BufferSnapshot  # the buffers as of the last optimizer step
    current_epoch: int
    steps_this_run: int = 0
    status: str = "finished"  # or "stopped" (stop_after_steps / signal)
    last_checkpoint: Path | None = None
    updating: bool = False  # inside the optimizer step: the state is consistent only before or after it
    step_guard: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    evaluation_errors: list[str] = field(default_factory=list)
    window_loss: list[float] = field(default_factory=list)
    window_clips: int = 0
    window_start: float = field(default_factory=time.perf_counter)

    def trainer_state(self) -> dict[str, Any]:
        """The trainer state a checkpoint of the last optimizer step records."""
        epoch, batch_in_epoch = self.resume_at
        return {
            **self.state,
            "global_step": self.global_step,
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "skipped_videos": self.skipped_total,
            **self.run_settings,
            "global_batch": self.schedule.global_batch,
            "label_names": self.label_names,
        }

    def checkpoint_folder(self, prefix: str = CHECKPOINT_PREFIX) -> Path:
        return self.checkpoints_dir / f"{prefix}{self.global_step}"

    def save(self) -> Path:
        """Save the state after the last optimizer step as `checkpoint-<step>` (keeping `save_total_limit`)."""
        return save_checkpoint(
            self.accelerator, self.checkpoint_folder(), self.trainer_state(), self.train_args.save_total_limit
        )


def start_accelerator(train_args: TrainArguments, output_dir: Path) -> tuple[Accelerator, list[str] | None]:
    """The Accelerator (mixed precision, accumulation, trackers), the launch check, the output folder and the seed."""
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
    return accelerator, trackers


def load_data(accelerator: Accelerator, data_args: DataArguments, train_args: TrainArguments) -> tuple[bool, Any, Any]:
    """`(streaming, train_source, data)`: streaming (shards or a Hub stream) streams the train split, split by rank
    here, never by `accelerator.prepare`; otherwise `data` holds every split (`train_source` is then None)."""
    streaming = data_args.streaming or is_shard_folder(data_args.dataset)
    train_source = None
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
    return streaming, train_source, data


def build_model_and_processor(
    model_args: ModelArguments,
    data_args: DataArguments,
    train_args: TrainArguments,
    recipe: Any,
    label_names: list[str],
    init_labels: list[str] | None,
) -> tuple[torch.nn.Module, Any, Any]:
    """`(model, processor, augmentation)` for these labels (a new head when they differ from `--init_from`'s)."""
    model = build_model(model_args, label_names, recipe.dropout)
    processor = build_processor(data_args, recipe, model.config.num_frames, model_args.init_from)
    augmentation = build_augmentation(
        data_args, recipe, label_names, labels_changed=init_labels is not None and init_labels != label_names
    )
    if train_args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if model_args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, processor, augmentation


def make_loaders(
    accelerator: Accelerator,
    streaming: bool,
    train_source: Any,
    data: Any,
    processor: Any,
    augmentation: Any,
    data_args: DataArguments,
    train_args: TrainArguments,
) -> Loaders:
    """The training clips and loader, and single-view evaluation / multi-view test loaders when there is a split."""
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
    return Loaders(train_clips, train_loader, train_loader.sampler, eval_loader, test_loader, eval_split, test_split)


def plan_schedule(accelerator: Accelerator, recipe: Any, train_args: TrainArguments, num_clips: int) -> Schedule:
    """The global batch, the (scaled) learning rate, and the steps: `--max_steps`, else the recipe's epochs."""
    per_device = train_args.per_device_train_batch_size
    global_batch = per_device * accelerator.num_processes * train_args.gradient_accumulation_steps
    learning_rate = scaled_learning_rate(recipe, global_batch, train_args.scale_lr)
    batches_per_epoch = math.ceil(num_clips / (per_device * accelerator.num_processes))
    steps_per_epoch = math.ceil(batches_per_epoch / train_args.gradient_accumulation_steps)
    if train_args.max_steps is not None:
        total_steps = train_args.max_steps
        num_epochs = math.ceil(total_steps / steps_per_epoch)
    else:
        num_epochs = math.ceil(recipe.num_train_epochs)
        total_steps = num_epochs * steps_per_epoch
    return Schedule(global_batch, learning_rate, batches_per_epoch, steps_per_epoch, num_epochs, total_steps)


def make_optimizer(model: torch.nn.Module, recipe: Any, schedule: Schedule, train_args: TrainArguments) -> tuple:
    """The recipe's optimizer and its per-step learning-rate schedule (warm-up, then step / cosine decay)."""
    optimizer = build_optimizer(model, recipe, schedule.learning_rate)
    steps_per_epoch, total_steps = schedule.steps_per_epoch, schedule.total_steps
    warmup_steps = warmup_steps_of(recipe, steps_per_epoch, train_args.warmup_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, steps_per_epoch, total_steps, recipe, warmup_steps)
    )
    return optimizer, scheduler


def prepare(
    accelerator: Accelerator, model: torch.nn.Module, optimizer: Any, scheduler: Any, loaders: Loaders, streaming: bool
) -> tuple[torch.nn.Module, Any]:
    """`accelerator.prepare` the model, optimizer and loaders (replaced in `loaders`); the scheduler is checkpointed."""
    if streaming:  # already this rank's share: prepare would split it again
        prepared = (*accelerator.prepare(model, optimizer), loaders.train)
        if loaders.eval is not None:
            prepared += accelerator.prepare(loaders.eval, loaders.test)
    else:
        prepared = accelerator.prepare(
            model, optimizer, loaders.train, *(x for x in (loaders.eval, loaders.test) if x is not None)
        )
    model, optimizer, loaders.train = prepared[:3]
    if loaders.eval is not None:
        loaders.eval, loaders.test = prepared[3:5]
    accelerator.register_for_checkpointing(scheduler)
    return model, optimizer


def resume(
    accelerator: Accelerator,
    train_args: TrainArguments,
    model: torch.nn.Module,
    optimizer: Any,
    label_names: list[str],
    run_settings: dict[str, Any],
    output_dir: Path,
) -> dict[str, Any]:
    """The trainer state to start from: fresh, or `--resume_from_checkpoint`'s (model, optimizer, scheduler and RNG
    loaded into place; the batch position is exact, or says which run setting changed)."""
    state: dict[str, Any] = {"global_step": 0, "epoch": 0, "batch_in_epoch": 0, "skipped_videos": 0, "log_history": []}
    if not train_args.resume_from_checkpoint:
        return state
    checkpoint = resolve_checkpoint(train_args.resume_from_checkpoint, output_dir)
    if checkpoint is None:
        logger.info("No checkpoint in %s yet: starting from scratch.", output_dir / "checkpoints")
        return state
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
    return state


def announce(
    accelerator: Accelerator,
    model: torch.nn.Module,
    recipe: Any,
    schedule: Schedule,
    num_videos: int,
    num_labels: int,
    trackers: list[str] | None,
    arguments: tuple[ModelArguments, DataArguments, TrainArguments],
) -> None:
    """Log what is trained and how; start the trackers with the run's flat configuration."""
    train_args = arguments[2]
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        logger.info(
            "Training %s (%s, %d labels, %.2fM parameters) on %d videos: %d epochs × %d steps, global batch %d "
            "(%d processes × %d × %d accumulation), lr %.5g (%s), %s schedule.",
            type(unwrapped).__name__, unwrapped.config.temporal_module, num_labels,
            sum(p.numel() for p in model.parameters()) / 1e6, num_videos, schedule.num_epochs,
            schedule.steps_per_epoch, schedule.global_batch, accelerator.num_processes,
            train_args.per_device_train_batch_size, train_args.gradient_accumulation_steps, schedule.learning_rate,
            recipe.optimizer, recipe.lr_scheduler,
        )  # fmt: skip
    if trackers:
        accelerator.init_trackers(train_args.run_name, config=_flat_config(*arguments, {"lr": schedule.learning_rate}))


def validate(run: Run, epoch: float) -> None:
    """Single-view validation of the model being trained, logged and kept in the history. Runs after the checkpoint
    of its step is saved; a failure is reported (logged, kept in the history and in `train_results.json`) and
    training goes on."""
    accelerator, global_step = run.accelerator, run.global_step
    try:
        results = summarise(evaluate_model(run.model, run.loaders.eval, accelerator, f"eval step {global_step}"))
    except Exception as error:
        if is_worker_failure(error):
            raise
        message = f"evaluation at step {global_step} (epoch {epoch:g}) failed: {type(error).__name__}: {error}"
        logger.error("%s; training goes on (saved checkpoints are kept).", message, exc_info=True)
        run.evaluation_errors.append(message)
        entry = {"eval/error": message}
    else:
        entry = {f"eval/{k}": v for k, v in results.items() if k in ("top1", "top5", "mean_class_accuracy")}
        accelerator.log(entry, step=global_step)
        if accelerator.is_main_process:
            logger.info(
                "epoch %g: %s %s", epoch, run.loaders.eval_split, describe({k[5:]: v for k, v in entry.items()})
            )
    run.state["log_history"].append({"step": global_step, "epoch": epoch, **entry})
    if run.last_checkpoint is not None and run.last_checkpoint.name == run.checkpoint_folder().name:
        update_trainer_state(accelerator, run.last_checkpoint, {"log_history": run.state["log_history"]})


def stop_on_non_finite(run: Run, what: str, values: list[float], where: str) -> None:
    """Save the state before this step (parameters are untouched until the optimizer step; the buffers the forward
    passes of this step updated are restored) as a `nan-checkpoint-*`, then raise."""
    run.snapshot.restore()
    nan_folder = save_checkpoint(
        run.accelerator, run.checkpoint_folder(NAN_CHECKPOINT_PREFIX), run.trainer_state(), None
    )
    run.accelerator.end_training()
    raise FloatingPointError(
        f"Non-finite {what} {values} at {where}; the state before this step is saved in {nan_folder} "
        f"(lower the learning rate, or check the data, and resume from it)."
    )


def save_after_worker_failure(run: Run, error: Exception) -> DataLoaderWorkerError:
    """The last consistent state after a DataLoader worker died, and the error to raise."""
    run.progress.close()
    if run.updating:  # died inside the optimizer step: this step's state is half-written
        kept = f"the latest checkpoint ({run.last_checkpoint})" if run.last_checkpoint else "no checkpoint"
        saved = f"it died during the optimizer step of step {run.global_step + 1}, so {kept} is the state to resume"
    else:
        run.snapshot.restore()
        folder = run.last_checkpoint if run.last_checkpoint == run.checkpoint_folder() else run.save()
        saved = f"the state after step {run.global_step} is saved in {folder}"
    return DataLoaderWorkerError(
        f"A DataLoader worker died ({type(error).__name__}: {error}): often the out-of-memory killer (see `dmesg`); lower "
        f"--dataloader_num_workers or the batch size. Training stopped; {saved}: continue with "
        f"--resume_from_checkpoint latest."
    )


def epoch_loader(run: Run, epoch: int) -> tuple[Any, int]:
    """`(loader, batch_in_epoch)` for this epoch: reshuffled, and on the resumed epoch past the batches consumed."""
    loaders, accelerator = run.loaders, run.accelerator
    run.model.train()
    loaders.train_clips.set_epoch(epoch)
    if not run.streaming:
        loaders.train_sampler.set_epoch(epoch)
        loaders.train.set_epoch(epoch)
    if epoch == run.start_epoch and run.resume_batches and run.streaming:
        loaders.train_clips.set_start_batch(run.resume_batches)  # the stream skips them before decoding
        return loaders.train, run.resume_batches
    if epoch == run.start_epoch and run.resume_batches:
        loader = accelerator.skip_first_batches(loaders.train, run.resume_batches)
        loader.set_epoch(epoch)
        return loader, run.resume_batches
    return loaders.train, 0


def forward_backward(run: Run, batch: dict[str, Any], stop: StopRequest, where: str) -> torch.Tensor:
    """One batch's forward and backward pass (and the optimizer step when the accumulation is complete). Returns
    every process's `[loss, stop requested, videos skipped]`, shape `(num_processes, 3)`; stops on a non-finite loss
    or gradient norm."""
    accelerator, model = run.accelerator, run.model
    skipped = batch.pop("skipped")
    batch.pop("valid")
    for message in skipped:
        logger.warning("Unreadable video skipped (process %d): %s", accelerator.process_index, message)
    with accelerator.accumulate(model):
        loss = model(pixel_values=batch["pixel_values"], labels=batch["labels"]).loss
        status_row = torch.tensor(
            [loss.detach().float().item(), float(stop.requested), float(len(skipped))], device=accelerator.device
        )
        everyone = accelerator.gather(status_row[None]).view(-1, 3)
        if not torch.isfinite(everyone[:, 0]).all():
            stop_on_non_finite(run, "loss", everyone[:, 0].tolist(), where)
        accelerator.backward(loss)
        if accelerator.sync_gradients:
            # the norm (of the synchronised gradients: the same on every process) is checked before the step;
            # with fp16 the grad scaler skips non-finite steps itself
            norm = accelerator.clip_grad_norm_(model.parameters(), run.recipe.max_grad_norm or math.inf)
            if accelerator.scaler is None and norm is not None and not math.isfinite(float(norm)):
                stop_on_non_finite(run, "gradient norm", [float(norm)], where)
            # never half a step: from here to its bookkeeping a dying worker is found by the loader later
            run.step_guard.enter_context(worker_exits_ignored())
            run.updating = True
        run.optimizer.step()
        run.optimizer.zero_grad(set_to_none=True)
    return everyone


def log_window(run: Run) -> None:
    """Log the mean loss, learning rate and throughput since the last log (console, trackers, history)."""
    accelerator, global_step = run.accelerator, run.global_step
    elapsed = time.perf_counter() - run.window_start
    logs = {
        "train/loss": float(np.mean(run.window_loss)),
        "train/lr": run.optimizer.param_groups[0]["lr"],
        "train/clips_per_second": run.window_clips / max(elapsed, 1e-9),
        "train/epoch": global_step / run.schedule.steps_per_epoch,
        "train/skipped_videos": run.skipped_total,
    }
    run.progress.set_postfix(loss=f"{logs['train/loss']:.4f}", clips_s=f"{logs['train/clips_per_second']:.1f}")
    if accelerator.is_main_process:
        logger.info(
            "step %d/%d epoch %.2f loss %.4f lr %.3g %.1f clips/s",
            global_step, run.schedule.total_steps, logs["train/epoch"], logs["train/loss"], logs["train/lr"],
            logs["train/clips_per_second"],
        )  # fmt: skip
    accelerator.log(logs, step=global_step)
    run.state["log_history"].append({"step": global_step, **logs})
    run.window_loss, run.window_clips, run.window_start = [], 0, time.perf_counter()


def train_epoch(run: Run, epoch: int, stop: StopRequest) -> tuple[int, bool]:
    """One epoch's batches. After each optimizer step: log, save and validate by the strategies; stop with a
    checkpoint on a signal or `--stop_after_steps`. Returns `(batches consumed, stopped)`."""
    accelerator, train_args, schedule = run.accelerator, run.train_args, run.schedule
    loader, batch_in_epoch = epoch_loader(run, epoch)
    run.resume_at = (epoch, batch_in_epoch)
    for batch in loader:
        if run.streaming:
            batch = send_to_device(batch, accelerator.device)
        where = f"step {run.global_step + 1} (epoch {epoch}, batch {batch_in_epoch})"
        everyone = forward_backward(run, batch, stop, where)
        batch_in_epoch += 1
        run.skipped_total += int(everyone[:, 2].sum())
        run.window_loss.append(float(everyone[:, 0].mean()))
        run.window_clips += batch["pixel_values"].shape[0] * accelerator.num_processes
        if not accelerator.sync_gradients:
            continue
        if not accelerator.optimizer_step_was_skipped:
            run.scheduler.step()
        run.global_step += 1
        run.steps_this_run += 1
        run.resume_at = (epoch, batch_in_epoch)
        run.snapshot.take()
        run.updating = False
        run.step_guard.close()
        run.progress.update(1)
        if run.global_step % train_args.logging_steps == 0 or run.global_step == schedule.total_steps:
            log_window(run)
        if train_args.save_strategy == "steps" and run.global_step % train_args.save_steps == 0:
            run.last_checkpoint = run.save()
        if run.loaders.eval is not None and train_args.eval_strategy == "steps":
            if run.global_step % train_args.eval_steps == 0:
                validate(run, run.global_step / schedule.steps_per_epoch)
                run.model.train()
        stop_requested = bool(everyone[:, 1].any())
        out_of_budget = train_args.stop_after_steps is not None and run.steps_this_run >= train_args.stop_after_steps
        if run.global_step >= schedule.total_steps:
            break
        if stop_requested or out_of_budget:
            if run.last_checkpoint != run.checkpoint_folder():
                run.last_checkpoint = run.save()
            logger.info("Stopped at step %d with a resumable checkpoint in %s.", run.global_step, run.last_checkpoint)
            run.status = "stopped"
            return batch_in_epoch, True
    return batch_in_epoch, False


def end_epoch(run: Run, epoch: int, batch_in_epoch: int) -> None:
    """Epoch end: save, then evaluate (a failed evaluation loses nothing)."""
    epoch_done = epoch + 1
    if batch_in_epoch >= run.schedule.batches_per_epoch:
        run.resume_at = (epoch_done, 0)
    if run.train_args.save_strategy == "epoch" or run.global_step >= run.schedule.total_steps:
        # (replaces a step checkpoint written at the same step: same weights, position "next epoch")
        run.last_checkpoint = run.save()
    if run.loaders.eval is not None and run.train_args.eval_strategy == "epoch":
        validate(run, epoch_done)


def finish(run: Run, processor: Any, data: Any, output_dir: Path) -> TrainingResult:
    """After a finished run: the final (multi-view) evaluation, then the model folder, whatever the evaluation did.
    Then `train_results.json` and the [`TrainingResult`]."""
    accelerator, train_args, loaders = run.accelerator, run.train_args, run.loaders
    metrics: dict[str, Any] = {}
    model_dir = None
    if run.status == "finished":
        if train_args.do_final_eval and loaders.eval is not None:
            try:
                metrics = final_evaluation(
                    run.model, loaders.eval, loaders.test, accelerator, processor, loaders.eval_split,
                    loaders.test_split, run.label_names, output_dir, train_args.confusion_matrix_max_labels,
                )  # fmt: skip
            except Exception as error:  # the trained model is still saved, without measured accuracy
                message = f"final evaluation failed: {type(error).__name__}: {error}"
                logger.error("%s; the model is saved without measured accuracy.", message, exc_info=True)
                run.evaluation_errors.append(message)
        model_dir = output_dir / "model"
        save_final_model(accelerator, run.model, processor, run.label_names, model_dir, metrics, run.recipe)
    if accelerator.is_main_process:
        summary = {
            "status": run.status,
            "global_step": run.global_step,
            "skipped_videos": run.skipped_total,
            "metrics": metrics,
            "missing_videos": {k: len(v) for k, v in data.missing_videos.items()},
            "evaluation_errors": run.evaluation_errors,
        }
        (output_dir / "train_results.json").write_text(json.dumps(summary, indent=2) + "\n")
        if run.skipped_total:
            logger.warning("%d unreadable training videos were skipped (see the warnings above).", run.skipped_total)
    accelerator.end_training()
    return TrainingResult(
        status=run.status,
        global_step=run.global_step,
        epoch=run.current_epoch,
        checkpoint=str(run.last_checkpoint) if run.last_checkpoint else None,
        model_dir=str(model_dir) if model_dir else None,
        metrics=metrics,
        skipped_videos=run.skipped_total,
        log_history=run.state["log_history"],
        model=accelerator.unwrap_model(run.model, keep_torch_compile=False),
    )


def train(model_args: ModelArguments, data_args: DataArguments, train_args: TrainArguments) -> TrainingResult:
    """Train (or resume), evaluate and save; see the module documentation. Returns a [`TrainingResult`]."""
    recipe = recipe_from_arguments(train_args, model_args, data_args)
    output_dir = Path(train_args.output_dir)
    accelerator, trackers = start_accelerator(train_args, output_dir)

    init_labels = checkpoint_label_names(model_args.init_from)
    streaming, train_source, data = load_data(accelerator, data_args, train_args)
    label_names = data.label_names
    model, processor, augmentation = build_model_and_processor(
        model_args, data_args, train_args, recipe, label_names, init_labels
    )
    loaders = make_loaders(accelerator, streaming, train_source, data, processor, augmentation, data_args, train_args)

    schedule = plan_schedule(accelerator, recipe, train_args, len(loaders.train_clips))
    optimizer, scheduler = make_optimizer(model, recipe, schedule, train_args)
    model, optimizer = prepare(accelerator, model, optimizer, scheduler, loaders, streaming)

    run_settings = {
        "per_device_train_batch_size": train_args.per_device_train_batch_size,
        "num_processes": accelerator.num_processes,
        "gradient_accumulation_steps": train_args.gradient_accumulation_steps,
        "seed": train_args.seed,
    }
    state = resume(accelerator, train_args, model, optimizer, label_names, run_settings, output_dir)
    start_epoch, resume_batches = int(state["epoch"]), int(state["batch_in_epoch"])
    announce(
        accelerator, model, recipe, schedule, len(loaders.train_clips), len(label_names), trackers,
        (model_args, data_args, train_args),
    )  # fmt: skip
    progress = tqdm(
        total=schedule.total_steps, initial=int(state["global_step"]), desc="train",
        disable=not accelerator.is_local_main_process, dynamic_ncols=True,
    )  # fmt: skip
    run = Run(
        accelerator, train_args, recipe, model, optimizer, scheduler, loaders, schedule, streaming, label_names,
        run_settings, output_dir / "checkpoints", state, global_step=int(state["global_step"]),
        skipped_total=int(state["skipped_videos"]), start_epoch=start_epoch, resume_batches=resume_batches,
        resume_at=(start_epoch, resume_batches), progress=progress, snapshot=BufferSnapshot(model),
        current_epoch=start_epoch,
    )  # fmt: skip

    with StopRequest() as stop, on_worker_failure(functools.partial(save_after_worker_failure, run)):
        for epoch in range(start_epoch, schedule.num_epochs):
            if run.global_step >= schedule.total_steps:
                break
            run.current_epoch = epoch
            batch_in_epoch, stopped = train_epoch(run, epoch, stop)
            if stopped:
                break
            end_epoch(run, epoch, batch_in_epoch)
    run.progress.close()
    return finish(run, processor, data, output_dir)


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
