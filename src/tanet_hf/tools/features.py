"""
`tanet-hf extract-features`: TANet features of video files, for retrieval, linear probes or temporal action
localisation.

Levels (all from the last stage, spatially averaged per frame; `C` = the last hidden size):

- `clip`: one clip per video, sampled as the processor samples for evaluation; `(C,)`, `TANetModel`'s
  `pooler_output` (mean over the T frames).
- `frame`: the same clip's per-frame features `(T, C)`, `TANetModel`'s `frame_features`. TAM mixes the T frames
  (non-causal), so a frame's feature depends on the clip around it.
- `window`: sliding windows of T frames along the whole video (see `tools/windows.py`), `(num_windows, C)`.

Each video gives `DIR/<stem>.npy` (or `.safetensors`, key `"features"`) and `DIR/<stem>.json` recording the fps,
the frame indices, window and stride, model and layer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file
from tqdm.auto import tqdm

from ..modeling_tanet import TANetModel
from ..video_decoding_tanet import VideoDecodeError, decode_video_frames
from ..video_processing_tanet import TANetVideoProcessor, sample_frame_indices
from .loading import load_backbone, model_id
from .windows import stream_windows

LEVELS = ("clip", "frame", "window")
FORMATS = ("npy", "safetensors")


@torch.inference_mode()
def clip_features(network: TANetModel, processor: TANetVideoProcessor, video: str | os.PathLike, level: str):
    """`(features, metadata)` for `level` `"clip"` `(C,)` or `"frame"` `(T, C)` of the evaluation clip (sampled as
    the processor samples it, its `frame_seek` included; `metadata["frame_indices"]` are the frames used)."""
    decoded = decode_video_frames(
        video,
        lambda total, keyframes=None: sample_frame_indices(
            total, processor.num_frames, processor.sampling, "eval", 1, processor.dense_window, keyframes=keyframes
        ),
        backend=processor.decode_backend,
        frame_seek=processor.frame_seek,
    )
    pixel_values = processor(decoded.frames, do_sample_frames=False)["pixel_values"]  # (1, T, 3, H, W)
    outputs = network(pixel_values=pixel_values)
    features = outputs.pooler_output[0] if level == "clip" else outputs.frame_features[0]
    metadata = {
        "fps": decoded.fps,
        "num_video_frames": decoded.num_video_frames,
        "frame_indices": decoded.indices.reshape(-1).tolist(),
        "sampling": processor.sampling,
    }
    return features.float().numpy(), metadata


@torch.inference_mode()
def window_features(
    network: TANetModel,
    processor: TANetVideoProcessor,
    video: str | os.PathLike,
    window_seconds: float,
    stride_seconds: float,
    batch_size: int = 8,
):
    """`(features (num_windows, C), metadata)` of sliding windows (streamed; memory flat in the video's length)."""
    plan, windows = stream_windows(video, network.config.num_frames, window_seconds, stride_seconds)
    features, indices, spans, batch = [], [], [], []

    def flush() -> None:
        pixel_values = torch.cat([processor(w.frames, do_sample_frames=False)["pixel_values"] for w in batch])
        features.append(network(pixel_values=pixel_values).pooler_output.float().numpy())
        batch.clear()

    for window in windows:
        indices.append(window.frame_indices.tolist())
        spans.append([window.start_seconds, window.end_seconds])
        batch.append(window)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    metadata = {
        "fps": plan.fps,
        "window_frames": plan.window_frames,
        "stride_frames": plan.stride_frames,
        "frame_indices": indices,
        "window_seconds_span": spans,
    }
    return np.concatenate(features), metadata


def extract_features(
    model: str | os.PathLike,
    videos: list[str | os.PathLike],
    output_dir: str | os.PathLike,
    level: str = "clip",
    window_seconds: float = 2.0,
    stride_seconds: float = 1.0,
    file_format: str = "npy",
    progress: bool = True,
) -> tuple[list[Path], list[str]]:
    """
    Write the features of every video to `output_dir`; returns `(files written, error messages)`. A video that
    cannot be read is reported and skipped; the others are written as they finish.
    """
    if level not in LEVELS:
        raise ValueError(f"level={level!r}; expected one of {list(LEVELS)}.")
    if file_format not in FORMATS:
        raise ValueError(f"format={file_format!r}; expected one of {list(FORMATS)}.")
    stems = [Path(v).stem for v in videos]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise ValueError(f"videos with the same file name {duplicates} would overwrite each other's features.")
    network, processor = load_backbone(model)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written, errors = [], []
    for video, stem in zip(tqdm(videos, desc="features", unit="video", disable=not progress), stems):
        try:
            if level == "window":
                features, metadata = window_features(network, processor, video, window_seconds, stride_seconds)
                metadata.update(window_seconds=window_seconds, stride_seconds=stride_seconds)
            else:
                features, metadata = clip_features(network, processor, video, level)
        except VideoDecodeError as error:
            errors.append(str(error))
            tqdm.write(f"skipped {error}", file=sys.stderr)
            continue
        array_path = output_dir / f"{stem}.{file_format}"
        if file_format == "npy":
            np.save(array_path, features)
        else:
            save_file({"features": np.ascontiguousarray(features)}, str(array_path))
        layer = "pooler_output" if level != "frame" else "frame_features"
        metadata = {
            "video": os.fspath(video),
            "model": model_id(model),
            "level": level,
            "layer": f"{layer} (last stage, spatial mean per frame)",
            "shape": list(features.shape),
            "num_frames_per_clip": network.config.num_frames,
            "crop_size": [processor.crop_size.height, processor.crop_size.width],
            **metadata,
        }
        json_path = output_dir / f"{stem}.json"
        json_path.write_text(json.dumps(metadata, indent=1) + "\n")
        written += [array_path, json_path]
    return written, errors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="Model folder (weights, config, video_preprocessor_config.json) or Hub id.")
    parser.add_argument("videos", nargs="+", help="Video files.")
    parser.add_argument("--output-dir", required=True, help="Folder for <stem>.npy|.safetensors and <stem>.json.")
    parser.add_argument("--level", choices=LEVELS, default="clip", help="clip (C,), frame (T, C) or window (N, C).")
    parser.add_argument("--window-seconds", type=float, default=2.0, help="Window length for --level window.")
    parser.add_argument("--stride-seconds", type=float, default=1.0, help="Window stride for --level window.")
    parser.add_argument("--format", choices=FORMATS, default="npy", dest="file_format", help="Array file format.")
    parser.add_argument("--no-progress", action="store_true", help="No progress bar.")


def run(args: argparse.Namespace) -> int:
    written, errors = extract_features(
        args.model,
        args.videos,
        args.output_dir,
        args.level,
        args.window_seconds,
        args.stride_seconds,
        args.file_format,
        not args.no_progress,
    )
    print(f"wrote {len(written) // 2} feature files to {args.output_dir}")
    for message in errors:
        print(f"could not read {message}", file=sys.stderr)
    return 1 if errors and not written else 0
