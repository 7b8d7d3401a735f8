"""
`tanet-hf classify-long`: labels along a long video, one per sliding window of T sampled frames.

TAM is non-causal and its global branch is a `Linear(T, αT)` tied to the T frames the model was built for: a
window's label uses frames from its whole span, so a label for time t is available only once the window ending
after t is decoded — the latency is one window length (`--window-seconds`), and every window must hold at least T
frames. Decoding streams through the file (see `tools/windows.py`): memory stays flat in the video's length.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..modeling_tanet import TANetForVideoClassification
from ..video_processing_tanet import TANetVideoProcessor
from .loading import classify, load_classifier, model_id
from .windows import Window, stream_windows


@dataclass
class WindowPrediction:
    """Top-k `(label, probability)` of window `index`, which spans `[start_seconds, end_seconds)`."""

    index: int
    start_seconds: float
    end_seconds: float
    frame_indices: list[int]
    top_k: list[tuple[str, float]]


def classify_long_video(
    network: TANetForVideoClassification,
    processor: TANetVideoProcessor,
    video: str | os.PathLike,
    window_seconds: float = 2.0,
    stride_seconds: float = 1.0,
    top_k: int = 3,
    batch_size: int = 8,
) -> list[WindowPrediction]:
    """
    Per-window top-k along `video`: windows of `window_seconds`, `stride_seconds` apart, T frames sampled in each
    (the middle of T equal segments), cropped and normalised by `processor`, classified as `(B, T, 3, H, W)`.

    Raises:
        ValueError: a window holds fewer than T frames; `VideoDecodeError`: the file cannot be read or is
            shorter than one window.
    """
    _, windows = stream_windows(video, network.config.num_frames, window_seconds, stride_seconds)
    labels = [network.config.id2label[i] for i in range(network.config.num_labels)]
    predictions: list[WindowPrediction] = []
    batch: list[Window] = []

    def flush() -> None:
        pixel_values = torch.cat([processor(w.frames, do_sample_frames=False)["pixel_values"] for w in batch])
        probabilities = classify(network, pixel_values).softmax(dim=-1)
        values, classes = probabilities.topk(min(top_k, len(labels)), dim=-1)
        for window, row_values, row_classes in zip(batch, values.tolist(), classes.tolist()):
            predictions.append(
                WindowPrediction(
                    index=window.index,
                    start_seconds=round(window.start_seconds, 6),
                    end_seconds=round(window.end_seconds, 6),
                    frame_indices=window.frame_indices.tolist(),
                    top_k=[(labels[c], float(v)) for c, v in zip(row_classes, row_values)],
                )
            )
        batch.clear()

    for window in windows:
        batch.append(window)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return predictions


def write_windows(predictions: list[WindowPrediction], path: str | os.PathLike, metadata: dict) -> Path:
    """`.json`: `{metadata..., "windows": [...]}`; `.csv`: one row per window and rank."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        rows = [{**asdict(p), "top_k": [{"label": lab, "probability": v} for lab, v in p.top_k]} for p in predictions]
        path.write_text(json.dumps({**metadata, "windows": rows}, indent=1) + "\n")
        return path
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["window", "start_seconds", "end_seconds", "rank", "label", "probability"])
        for p in predictions:
            for rank, (label, value) in enumerate(p.top_k, start=1):
                writer.writerow(
                    [p.index, f"{p.start_seconds:.3f}", f"{p.end_seconds:.3f}", rank, label, f"{value:.6f}"]
                )
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (parser.description or "") + (
        " TAM is non-causal and its global branch is tied to the model's T frames: each window's label uses its "
        "whole span, so labels lag by one window length; a window must hold at least T frames."
    )
    parser.add_argument("model", help="Model folder (weights, config, video_preprocessor_config.json) or Hub id.")
    parser.add_argument("video", help="Video file.")
    parser.add_argument("--window-seconds", type=float, default=2.0, help="Window length = latency (default 2 s).")
    parser.add_argument("--stride-seconds", type=float, default=1.0, help="Step between windows (default 1 s).")
    parser.add_argument("--top-k", type=int, default=3, help="Labels per window (default 3).")
    parser.add_argument("--batch-size", type=int, default=8, help="Windows per forward pass (default 8).")
    parser.add_argument("--output", help="FILE.json or FILE.csv.")


def run(args: argparse.Namespace) -> int:
    if args.output and Path(args.output).suffix.lower() not in (".json", ".csv"):
        raise ValueError(f"--output {args.output}: expected a .json or .csv file.")
    network, processor = load_classifier(args.model)
    predictions = classify_long_video(
        network, processor, args.video, args.window_seconds, args.stride_seconds, args.top_k, args.batch_size
    )
    for p in predictions:
        labels = "  ".join(f"{label} {value:.3f}" for label, value in p.top_k)
        print(f"{p.start_seconds:8.2f}–{p.end_seconds:8.2f} s  {labels}")
    if args.output:
        metadata = {
            "video": args.video,
            "model": model_id(args.model),
            "num_frames_per_window": network.config.num_frames,
            "window_seconds": args.window_seconds,
            "stride_seconds": args.stride_seconds,
        }
        print(f"wrote {write_windows(predictions, args.output, metadata)}", file=sys.stderr)
    return 0
