# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Evaluation of a model on a prepared split: top-1 / top-5 / mean class accuracy with the package's
`video_accuracy` metric (loaded offline by path), single view or the processor's multi-view protocol, and the
confusion matrix (JSON and PNG).
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
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

METRIC_DIR = Path(__file__).resolve().parents[1] / "metrics" / "video_accuracy"


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


__all__ = ["METRIC_DIR", "evaluate_model", "final_evaluation", "load_video_accuracy", "save_confusion_matrix_png"]
