"""`tanet-hf predict`: labels and scores of video files, batched, with a progress bar; a video that cannot be read
is reported by name and the run goes on; the results of the videos that worked are written even when the run
stops early (an error, Ctrl-C)."""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..modeling_tanet import TANetForVideoClassification
from ..video_decoding_tanet import VideoDecodeError
from ..video_processing_tanet import TANetVideoProcessor
from .loading import classify, load_classifier, model_id
from .scores import Scores, save_scores

VIEWS = {"single": "eval", "test": "test"}  # --views → processor mode


def predict_videos(
    network: TANetForVideoClassification,
    processor: TANetVideoProcessor,
    videos: Sequence[str | os.PathLike],
    views: str = "single",
    batch_size: int = 8,
    progress: bool = True,
    model_name: str = "",
    on_error: Callable[[str, str], None] | None = None,
    collected: Scores | None = None,
) -> Scores:
    """
    Score every video.

    Args:
        views: `"single"`: one centre clip, `(1, T, 3, H, W)` per video; `"test"`: the processor's test views
            (`num_test_clips` × `test_crop`), `(1, V, T, 3, H, W)`, fused as the model's `view_fusion` says.
        batch_size: Videos per forward pass.
        on_error: Called with `(video, message)` for each video that cannot be read (default: print to stderr).
        collected: Results are appended here as each batch finishes, so that a caller keeps them if the run stops.

    Returns:
        [`Scores`] (logits) of the videos that could be read, in input order, and `errors` for the others.
    """
    if views not in VIEWS:
        raise ValueError(f"views={views!r}; expected one of {list(VIEWS)}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    labels = [network.config.id2label[i] for i in range(network.config.num_labels)]
    result = collected or Scores(model_name, labels, [], np.zeros((0, len(labels)), np.float32))
    on_error = on_error or (lambda video, message: tqdm.write(f"skipped {message}", file=sys.stderr))
    pending_ids: list[str] = []
    pending: list[torch.Tensor] = []

    def flush() -> None:
        logits = classify(network, torch.cat(pending)).numpy()
        result.video_ids.extend(pending_ids)
        result.scores = np.concatenate([result.scores, logits])
        pending_ids.clear()
        pending.clear()

    for video in tqdm(videos, desc="predict", unit="video", disable=not progress):
        name = os.fspath(video)
        try:
            pending.append(processor(name, mode=VIEWS[views])["pixel_values"])
        except VideoDecodeError as error:
            result.errors.append((name, str(error)))
            on_error(name, str(error))
            continue
        pending_ids.append(name)
        if len(pending) == batch_size:
            flush()
    if pending:
        flush()
    return result


def write_predictions(scores: Scores, path: str | os.PathLike, top_k: int) -> Path:
    """`.json`: the scores file (every score, top-k, errors; readable by `tanet-hf fuse`); `.csv`: one row per
    video and rank (`video, rank, label, probability, error`)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        return save_scores(scores, path, top_k=top_k)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video", "rank", "label", "probability", "error"])
        for video_id, ranking in zip(scores.video_ids, scores.top_k(top_k)):
            for rank, (label, probability) in enumerate(ranking, start=1):
                writer.writerow([video_id, rank, label, f"{probability:.6f}", ""])
        for video_id, message in scores.errors:
            writer.writerow([video_id, "", "", "", message])
    return path


def _check_output_suffix(path: str | None) -> None:
    if path and Path(path).suffix.lower() not in (".json", ".csv"):
        raise ValueError(f"--output {path}: expected a .json or .csv file.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="Model folder (weights, config, video_preprocessor_config.json) or Hub id.")
    parser.add_argument("videos", nargs="+", help="Video files.")
    parser.add_argument("--views", choices=sorted(VIEWS), default="single", help="One centre clip, or the test views.")
    parser.add_argument("--top-k", type=int, default=5, help="Labels reported per video (default 5).")
    parser.add_argument("--batch-size", type=int, default=8, help="Videos per forward pass (default 8).")
    parser.add_argument("--output", help="FILE.json (scores file, fusable) or FILE.csv (top-k rows).")
    parser.add_argument("--no-progress", action="store_true", help="No progress bar.")


def run(args: argparse.Namespace) -> int:
    _check_output_suffix(args.output)
    network, processor = load_classifier(args.model)
    labels = [network.config.id2label[i] for i in range(network.config.num_labels)]
    scores = Scores(model_id(args.model), labels, [], np.zeros((0, len(labels)), np.float32))
    try:
        predict_videos(
            network, processor, args.videos, args.views, args.batch_size, not args.no_progress, collected=scores
        )
    finally:
        if args.output:
            print(f"wrote {write_predictions(scores, args.output, args.top_k)}", file=sys.stderr)
    for video_id, ranking in zip(scores.video_ids, scores.top_k(args.top_k)):
        print(f"{video_id}\t" + "\t".join(f"{label} {p:.3f}" for label, p in ranking))
    if scores.errors:
        print(f"{len(scores.errors)} of {len(args.videos)} videos could not be read:", file=sys.stderr)
        for _, message in scores.errors:
            print(f"  {message}", file=sys.stderr)
    return 1 if scores.errors and not scores.video_ids else 0
