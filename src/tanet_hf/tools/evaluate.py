"""`tanet-hf evaluate`: accuracy of a trained model on one split of a dataset — top-1, top-5 (with more than 5
classes), mean class accuracy, per-class accuracy, the confusion matrix (JSON and PNG) and, with `--save-scores`,
every video's scores in the scores file `tanet-hf fuse` reads.

The dataset is anything the training kit reads (`tanet_hf.training.datasets`): a folder of class sub-folders, a Hub
dataset id, an annotation file (Kinetics CSV, Something-Something v2 JSON, `path label` list) with its video
folder, or a folder of shards written by `tanet-hf shard`. Only the evaluated split is needed. The numbers are computed by the training kit's evaluation
(`tanet_hf.training.evaluation.evaluate_split`), so they are the numbers the training script reports; under
`accelerate launch` the split is shared out over the processes and gathered without the padding duplicates.

    tanet-hf evaluate out/model --dataset data/synthetic --split test --views test --output-dir eval --save-scores s.json
    accelerate launch -m tanet_hf.cli evaluate out/model --dataset data/synthetic   # several processes / GPUs
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelerate import Accelerator

from ..training.datasets import DATA_FORMATS, SPLIT_NAMES, VideoClassificationData, load_video_classification_data
from ..training.evaluation import describe, evaluate_split, save_confusion_matrix_png
from ..training.loading import describe_row
from ..training.streaming import ShardIndex, is_shard_folder, load_shard_splits
from .loading import load_classifier, model_id
from .scores import Scores, save_scores

logger = logging.getLogger(__name__)

VIEWS = {"single": "eval", "test": "test"}  # --views → VideoClipDataset mode (as `tanet-hf predict`)


@dataclass
class Evaluation:
    """
    What [`evaluate_dataset`] measured on one split.

    Attributes:
        split / protocol: the split evaluated and its views (`"1 clip × centre crop"`, `"10 clips × three_crop"`).
        metrics: `top1`, `top5` (more than 5 classes), `mean_class_accuracy`, `num_samples`, `skipped_videos`.
        per_class_accuracy: class name → accuracy (`None` for a class with no video in the split).
        confusion_matrix: `C × C` counts, rows the true class, columns the predicted one.
        scores: every scored video's logits and target, and the unreadable or missing videos as `errors`.
    """

    split: str
    protocol: str
    metrics: dict[str, Any]
    per_class_accuracy: dict[str, float | None]
    confusion_matrix: list[list[int]]
    scores: Scores
    label_names: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "protocol": self.protocol,
            **self.metrics,
            "per_class_accuracy": self.per_class_accuracy,
            "confusion_matrix": self.confusion_matrix,
            "label_names": self.label_names,
            "errors": [{"id": video, "error": message} for video, message in self.scores.errors],
        }


def load_split(
    data: dict[str, Any], split: str, label_names: list[str], accelerator: Accelerator
) -> VideoClassificationData:
    """
    The dataset `data` names (keyword arguments of [`load_video_classification_data`]; `annotations` is the
    annotation file of `split`), labelled in the model's class order, holding `split`.

    Raises:
        ValueError: `split` is not in the dataset (the error lists the splits there are).
    """
    data = dict(data)
    annotations = data.pop("annotations", None)
    if annotations is not None:
        data[f"{split}_file"] = annotations
    with accelerator.main_process_first():  # one process fills the datasets cache
        if is_shard_folder(data.get("dataset")):
            index = ShardIndex.load(data["dataset"])
            if split in index.splits:
                loaded = load_shard_splits(data["dataset"], [split], data.get("cache_dir"), label_names)
            else:
                loaded = VideoClassificationData({}, label_names)
        else:
            loaded = load_video_classification_data(label_names=label_names, **data)
    if split not in loaded.splits:
        where = data.get("dataset") or annotations
        raise ValueError(f"{where}: no {split!r} split; the dataset has {sorted(loaded.splits)} (pass --split).")
    return loaded


def evaluate_dataset(
    model: str | os.PathLike,
    data: dict[str, Any],
    split: str = "test",
    views: str = "test",
    batch_size: int = 8,
    num_workers: int = 0,
    accelerator: Accelerator | None = None,
) -> Evaluation:
    """
    Evaluate the classifier saved in `model` on `split` of the dataset `data` names (see [`load_split`]).

    `views="single"` is one centred clip per video (`(B, T, 3, H, W)`), `"test"` the processor's multi-view
    protocol (`(B, V, T, 3, H, W)`, fused as the model's `view_fusion` says) — the two evaluations the training
    script reports as `<split>_single_view` and `<split>_multi_view`.
    """
    if views not in VIEWS:
        raise ValueError(f"views={views!r}; expected one of {list(VIEWS)}.")
    network, processor = load_classifier(model)
    label_names = [network.config.id2label[i] for i in range(network.config.num_labels)]
    accelerator = accelerator or Accelerator()
    loaded = load_split(data, split, label_names, accelerator)
    dataset = loaded.splits[split]
    results = evaluate_split(
        network, dataset, processor, VIEWS[views], batch_size, num_workers, accelerator, keep_scores=True
    )
    errors = [(entry, "missing: the annotation names a video that does not exist") for entry in
              loaded.missing_videos.get(split, [])]  # fmt: skip
    messages = {message.split(": ", 1)[0]: message for message in results["skipped_messages"]}
    for row in sorted(set(results["unreadable_indices"].tolist())):
        name = describe_row(dataset[int(row)])
        errors.append((name, messages.get(name, f"{name}: unreadable")))
    scores = Scores(
        model=model_id(model),
        labels=label_names,
        video_ids=[describe_row(dataset[int(row)]) for row in results["indices"]],
        scores=results["scores"],
        targets=[int(dataset[int(row)]["label"]) for row in results["indices"]],
        errors=errors,
    )
    per_class = {
        name: (None if value is None or math.isnan(value) else float(value))
        for name, value in zip(label_names, results["per_class_accuracy"])
    }
    metrics = {k: results[k] for k in ("top1", "top5", "mean_class_accuracy", "num_samples", "skipped_videos")
               if k in results}  # fmt: skip
    return Evaluation(split, results["protocol"], metrics, per_class, results["confusion_matrix"], scores, label_names)


def write_evaluation(evaluation: Evaluation, output_dir: str | os.PathLike, max_png_labels: int = 50) -> list[Path]:
    """`eval_results.json` and (up to `max_png_labels` classes, matplotlib installed) `confusion_matrix.png`."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = [output_dir / "eval_results.json"]
    written[0].write_text(json.dumps(evaluation.to_json(), indent=2) + "\n")
    png = output_dir / "confusion_matrix.png"
    if len(evaluation.label_names) <= max_png_labels and save_confusion_matrix_png(
        evaluation.confusion_matrix, evaluation.label_names, png
    ):
        written.append(png)
    return written


def dataset_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The [`load_split`] / `load_video_classification_data` keywords of [`add_dataset_arguments`]' flags."""
    if args.dataset is None and args.annotations is None:
        raise ValueError("no data: pass --dataset (a folder or Hub id) or --annotations FILE.")
    return {
        "dataset": args.dataset,
        "data_format": args.data_format,
        "annotations": args.annotations,
        "video_root": args.video_root,
        "video_column": args.video_column,
        "label_column": args.label_column,
        "dataset_config_name": args.dataset_config_name,
        "cache_dir": args.cache_dir,
    }


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that name a dataset the training loader reads (shared with `tanet-hf shard`)."""
    parser.add_argument(
        "--dataset",
        help="Folder of class sub-folders (with train/validation/test), Hub dataset id, or tanet-hf shard folder.",
    )
    parser.add_argument(
        "--annotations", help="Annotation file of the split (Kinetics CSV, Something-Something JSON, path-label list)."
    )
    parser.add_argument("--video-root", help="Folder the annotation file's videos are in.")
    parser.add_argument("--data-format", choices=DATA_FORMATS, default="auto", help="Default: from the input.")
    parser.add_argument("--video-column", help="Video column of a Hub dataset.")
    parser.add_argument("--label-column", help="Label column of a Hub dataset.")
    parser.add_argument("--dataset-config-name", help="Configuration of a Hub dataset.")
    parser.add_argument("--cache-dir", help="datasets cache folder.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="Model folder (weights, config, video_preprocessor_config.json) or Hub id.")
    add_dataset_arguments(parser)
    parser.add_argument("--split", default="test", help=f"Split to evaluate ({', '.join(SPLIT_NAMES)}; default test).")
    parser.add_argument(
        "--views", choices=sorted(VIEWS), default="test", help="One centre clip, or the processor's test views."
    )
    parser.add_argument("--batch-size", type=int, default=8, help="Videos per batch and process (default 8).")
    parser.add_argument("--num-workers", type=int, default=2, help="DataLoader workers decoding videos (default 2).")
    parser.add_argument("--output-dir", help="Write eval_results.json and confusion_matrix.png here.")
    parser.add_argument("--save-scores", help="Write every video's scores to this JSON file (read by tanet-hf fuse).")


def run(args: argparse.Namespace) -> int:
    if args.save_scores and Path(args.save_scores).suffix.lower() != ".json":
        raise ValueError(f"--save-scores {args.save_scores}: expected a .json file (the scores format).")
    accelerator = Accelerator()
    evaluation = evaluate_dataset(
        args.model, dataset_arguments(args), args.split, args.views, args.batch_size, args.num_workers, accelerator
    )
    if not accelerator.is_main_process:
        return 0
    metrics = evaluation.metrics
    print(f"{args.model} on {evaluation.split} ({evaluation.protocol}, {metrics['num_samples']} videos): "
          f"{describe(metrics)}")  # fmt: skip
    width = max(map(len, evaluation.label_names))
    for name, value in evaluation.per_class_accuracy.items():
        print(f"  {name:<{width}}  {'-' if value is None else f'{value:.4f}'}")
    for video, message in evaluation.scores.errors:
        print(f"not evaluated: {message if message.startswith(video) else f'{video}: {message}'}", file=sys.stderr)
    if args.output_dir:
        for path in write_evaluation(evaluation, args.output_dir):
            print(f"wrote {path}", file=sys.stderr)
    if args.save_scores:
        print(f"wrote {save_scores(evaluation.scores, args.save_scores)}", file=sys.stderr)
    return 0


__all__ = [
    "Evaluation",
    "add_dataset_arguments",
    "dataset_arguments",
    "evaluate_dataset",
    "load_split",
    "write_evaluation",
]
