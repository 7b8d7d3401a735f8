# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Evaluation of a model on a split: top-1 (top-5 where there are more than 5 classes) and mean class accuracy
with the package's `video_accuracy` metric (loaded offline by path), single view or the processor's multi-view
protocol, and the confusion matrix (JSON and PNG). [`evaluate_split`] evaluates a model on one split alone (no
training split needed).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from datasets import Dataset
from tqdm.auto import tqdm

from ..video_processing_tanet import TANetVideoProcessor

logger = logging.getLogger(__name__)

METRIC_DIR = Path(__file__).resolve().parents[1] / "metrics" / "video_accuracy"
SUMMARY_KEYS = ("top1", "top5", "mean_class_accuracy", "num_samples", "skipped_videos")


def reported_top_k(num_labels: int) -> tuple[int, ...]:
    """Top-1, and top-5 only when there are more than 5 classes (with 5 or fewer it is always 1.0)."""
    return (1,) + ((5,) if num_labels > 5 else ())


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """The reported numbers of an [`evaluate_model`] result (top-5 only where it was computed)."""
    return {key: results[key] for key in SUMMARY_KEYS if key in results}


def describe(values: dict[str, Any]) -> str:
    """`"top-1 0.9375 top-5 0.9900 mean class 0.9375"` (top-5 where reported)."""
    top5 = f" top-5 {values['top5']:.4f}" if "top5" in values else ""
    return f"top-1 {values['top1']:.4f}{top5} mean class {values['mean_class_accuracy']:.4f}"


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
    keep_scores: bool = False,
) -> dict[str, Any]:
    """
    Top-1 / top-5 (see [`reported_top_k`]) / mean class accuracy, per-class accuracy and the confusion matrix of
    `model` on a prepared evaluation loader.
    Batches may be single-view `(B, T, 3, H, W)` or multi-view `(B, V, T, 3, H, W)`; the model fuses views.
    Videos that could not be decoded are left out and counted under `skipped_videos`. Under several processes the
    results are gathered with `gather_for_metrics`, which drops the samples repeated to even out the last batch.

    With `keep_scores`, the result also holds every scored video's logits `"scores"` `(N, num_labels)` and dataset
    row `"indices"` `(N,)`, the rows of the unreadable videos `"unreadable_indices"` and, on every process, the
    unreadable videos' messages `"skipped_messages"`.
    """
    model.eval()
    scores, labels, indices, unreadable, skipped = [], [], [], [], 0
    messages: list[str] = []
    progress = tqdm(dataloader, desc=description, leave=False, disable=not accelerator.is_local_main_process)
    for batch in progress:
        logits = model(pixel_values=batch["pixel_values"]).logits.float()
        logits, batch_labels, valid, rows = accelerator.gather_for_metrics(
            (logits, batch["labels"], batch["valid"], batch["index"])
        )
        scores.append(logits[valid].cpu())
        labels.append(batch_labels[valid].cpu())
        indices.append(rows[valid].cpu())
        unreadable.append(rows[~valid].cpu())
        skipped += int((~valid).sum())
        messages.extend(batch["skipped"])
    predictions = torch.cat(scores).numpy()  # (N, num_labels)
    results = load_video_accuracy().compute(
        predictions=predictions,
        references=torch.cat(labels).numpy(),
        top_k=reported_top_k(predictions.shape[1]),
        return_confusion_matrix=True,
        return_per_class=True,
    )
    results["skipped_videos"] = skipped
    if keep_scores:
        from accelerate.utils import gather_object

        results["scores"] = predictions
        results["indices"] = torch.cat(indices).numpy()
        results["unreadable_indices"] = torch.cat(unreadable).numpy()
        everyone = gather_object(messages) if accelerator.num_processes > 1 else messages
        results["skipped_messages"] = list(dict.fromkeys(everyone))
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
        f"{eval_split}_single_view": summarise(single),
        f"{test_split}_multi_view": {**summarise(multi), "protocol": protocol},
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
            logger.info("%s: %s (%d videos)", split, describe(values), values["num_samples"])
        (output_dir / "eval_results.json").write_text(
            json.dumps({**metrics, "confusion_matrix": multi["confusion_matrix"], "label_names": label_names}, indent=2)
            + "\n"
        )
        if len(label_names) <= confusion_matrix_max_labels:
            save_confusion_matrix_png(multi["confusion_matrix"], label_names, output_dir / "confusion_matrix.png")
    return metrics


def evaluate_split(
    model: str | os.PathLike | torch.nn.Module,
    dataset: Dataset,
    processor: TANetVideoProcessor | None = None,
    mode: str = "test",
    batch_size: int = 8,
    num_workers: int = 0,
    accelerator: Accelerator | None = None,
    keep_scores: bool = False,
) -> dict[str, Any]:
    """
    Evaluate `model` (a TANet folder / Hub id, or a model) on one split, with no training split involved.

    Args:
        model: the model, or where to load it (and its processor, when `processor` is None) from.
        dataset: a split of [`load_video_classification_data`] (columns `video`, `label`), its labels in the
            model's index order.
        mode: `"test"` (the processor's multi-view protocol) or `"eval"` (one centred clip).
        batch_size: videos per batch (multi-view batches hold `batch_size` videos × their views).
        accelerator: where to run (default: a new `Accelerator()`, one GPU when there is one; under `accelerate
            launch` the split is shared out and gathered).
        keep_scores: also return every video's logits and row, see [`evaluate_model`].

    Returns:
        `{"top1", ["top5"], "mean_class_accuracy", "num_samples", "skipped_videos", "confusion_matrix",
        "per_class_accuracy", "protocol"}`, and with `keep_scores` `"scores"`, `"indices"`, `"unreadable_indices"`,
        `"skipped_messages"`.
    """
    from ..modeling_tanet import TANetForVideoClassification
    from .loading import VideoClipDataset, make_video_dataloader

    if not isinstance(model, torch.nn.Module):
        processor = processor or TANetVideoProcessor.from_pretrained(model)
        model = TANetForVideoClassification.from_pretrained(model)
    if processor is None:
        raise ValueError("evaluate_split got a model object but no processor: pass processor=.")
    accelerator = accelerator or Accelerator()
    clips = VideoClipDataset(dataset, processor, mode=mode)
    loader = make_video_dataloader(clips, batch_size, shuffle=False, num_workers=num_workers)
    model, loader = accelerator.prepare(model, loader)
    protocol = f"{processor.num_test_clips} clips × {processor.test_crop}" if mode == "test" else "1 clip × centre crop"
    results = evaluate_model(model, loader, accelerator, f"evaluate ({protocol})", keep_scores=keep_scores)
    kept = ("confusion_matrix", "per_class_accuracy", "scores", "indices", "unreadable_indices", "skipped_messages")
    return {**summarise(results), **{k: results[k] for k in kept if k in results}, "protocol": protocol}


__all__ = [
    "METRIC_DIR",
    "describe",
    "evaluate_model",
    "evaluate_split",
    "final_evaluation",
    "load_video_accuracy",
    "reported_top_k",
    "save_confusion_matrix_png",
    "summarise",
]
