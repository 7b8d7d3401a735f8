# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""`tanet-hf reencode`: re-encode videos to short-GOP, short-side-256 H.264 files for fast training.

Data loading is the usual bottleneck of video training: a sampled clip needs 8 frames spread over the video, and a
decoder can only start at a keyframe. Web videos have keyframes every few seconds (x264's default GOP is 250 frames),
so every sampled frame costs decoding most of a GOP; frames larger than the 256 pixels the model's crops need cost
more again. Re-encoding once with a keyframe every 16 frames at short side 256 makes every clip cheap to decode
(see `benchmarks/RESULTS_decode.md`).

The re-encoder keeps every frame and its timestamp (frame indices and variable frame rates survive), applies the
display rotation (the output is stored upright), converts to 8-bit 4:2:0, and drops audio.

    tanet-hf reencode videos/ --output-dir videos_256/ --workers 8
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

VIDEO_SUFFIXES = (
    ".mp4",
    ".m4v",
    ".mkv",
    ".webm",
    ".avi",
    ".mov",
    ".mpg",
    ".mpeg",
    ".ts",
    ".flv",
    ".wmv",
    ".3gp",
    ".ogv",
)


@dataclass
class ReencodeResult:
    """What one re-encoding did (`error` is set, and the rest zero, when it failed)."""

    source: str
    destination: str
    frames: int = 0
    width: int = 0
    height: int = 0
    seconds: float = 0.0
    error: str | None = None


def output_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """`(width, height)` with the short side `short_side` and the aspect ratio kept, both even (4:2:0 needs it)."""
    if min(width, height) < 1:
        raise ValueError(f"cannot resize a {width}×{height} frame")
    scale = short_side / min(width, height)

    def even(value: float) -> int:
        return max(2, int(round(value / 2.0)) * 2)

    return even(width * scale), even(height * scale)


def reencode_video(
    source: str | os.PathLike,
    destination: str | os.PathLike,
    short_side: int = 256,
    gop: int = 16,
    crf: int = 23,
    preset: str = "veryfast",
    bframes: int = 0,
    fast_decode: bool = False,
    codec: str = "libx264",
) -> ReencodeResult:
    """
    Re-encode one video to an MP4 with a keyframe every `gop` frames and short side `short_side`.

    Args:
        source: Any video FFmpeg reads.
        destination: Output path (`.mp4`); parent folders are created.
        short_side (`int`): Short side of the output (up- or down-scaled, aspect kept, even sizes).
        gop (`int`): Frames between keyframes, fixed (no scene-cut keyframes); 16 keeps a seek within 15 frames.
        crf (`int`): x264 constant rate factor (lower is better quality and larger files).
        preset (`str`): x264 speed preset.
        bframes (`int`): Consecutive B-frames allowed (x264 `bf`). 0 (the default) lets the decoder output a frame as
            soon as it is decoded, which makes seeking to a frame cheaper; files grow by about 10%.
        fast_decode (`bool`): x264 `tune=fastdecode` (no CABAC, no deblocking): faster decoding, larger files.
        codec (`str`): Encoder; `libx264` unless you know better.

    Returns:
        [`ReencodeResult`]. Raises [`VideoDecodeError`] when the source cannot be read.
    """
    import av

    from .video_decoding_tanet import VideoDecodeError, _open_container, _open_source, describe_video_source

    started = time.perf_counter()
    name = describe_video_source(source)
    source_data = _open_source(source, name)
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")

    with _open_container(source_data, name) as container:
        if not container.streams.video:
            raise VideoDecodeError(name, "has no video stream")
        in_stream = container.streams.video[0]
        time_base = in_stream.time_base
        rate = in_stream.average_rate or 30
        options = {
            "crf": str(crf),
            "preset": preset,
            "g": str(gop),
            "keyint_min": str(gop),
            "sc_threshold": "0",
            "bf": str(bframes),
        }
        if fast_decode:
            options["tune"] = "fastdecode"
        frames_written, last_pts, size = 0, None, None
        with av.open(str(partial), mode="w", format="mp4", options={"movflags": "+faststart"}) as output:
            out_stream = output.add_stream(codec, rate=rate, options=options)
            out_stream.pix_fmt = "yuv420p"
            if time_base is not None:
                out_stream.codec_context.time_base = time_base
            try:
                for frame in container.decode(in_stream):
                    picture, size = _resized_upright_rgb(frame, short_side, size)
                    if frames_written == 0:
                        out_stream.width, out_stream.height = picture.shape[1], picture.shape[0]
                    out_frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                    if time_base is not None:
                        pts = frame.pts if frame.pts is not None else (last_pts or 0) + 1
                        pts = pts if last_pts is None or pts > last_pts else last_pts + 1
                        out_frame.pts, out_frame.time_base, last_pts = pts, time_base, pts
                    for packet in out_stream.encode(out_frame):
                        output.mux(packet)
                    frames_written += 1
                for packet in out_stream.encode():
                    output.mux(packet)
            except av.FFmpegError as error:
                raise VideoDecodeError(name, f"decoding failed after {frames_written} frames ({error})") from error
        if frames_written == 0:
            partial.unlink(missing_ok=True)
            raise VideoDecodeError(name, "the video stream has no decodable frames")
    os.replace(partial, destination)
    return ReencodeResult(
        source=str(name),
        destination=str(destination),
        frames=frames_written,
        width=size[0],
        height=size[1],
        seconds=time.perf_counter() - started,
    )


def _resized_upright_rgb(frame, short_side: int, size: tuple[int, int] | None) -> tuple[np.ndarray, tuple[int, int]]:
    """The frame as upright RGB with the short side `short_side`: scaled by FFmpeg (area averaging when shrinking,
    bicubic when enlarging) in the same pass as the colour conversion, then turned as the display matrix says."""
    turns = round(frame.rotation / 90.0) % 4 if frame.rotation else 0
    stored_w, stored_h = frame.width, frame.height
    display_w, display_h = (stored_h, stored_w) if turns % 2 else (stored_w, stored_h)
    if size is None:
        size = output_size(display_w, display_h, short_side)
    target_w, target_h = (size[1], size[0]) if turns % 2 else size
    shrinking = target_w * target_h < stored_w * stored_h
    picture = frame.reformat(
        width=target_w, height=target_h, format="rgb24", interpolation="AREA" if shrinking else "BICUBIC"
    ).to_ndarray()
    if turns:
        picture = np.ascontiguousarray(np.rot90(picture, k=turns))
    return picture, size


def find_videos(inputs: list[str | os.PathLike]) -> list[tuple[Path, Path]]:
    """`(file, path relative to its input folder)` for every video file among `inputs` (files or folders)."""
    found = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            for path in sorted(item.rglob("*")):
                if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
                    found.append((path, path.relative_to(item)))
        elif item.is_file():
            found.append((item, Path(item.name)))
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    return found


def _reencode_one(job: tuple[str, str, dict]) -> ReencodeResult:
    source, destination, settings = job
    try:
        return reencode_video(source, destination, **settings)
    except (ValueError, OSError) as error:  # VideoDecodeError is a ValueError
        return ReencodeResult(source=source, destination=destination, error=str(error))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", help="Video files or folders (searched recursively).")
    parser.add_argument("--output-dir", required=True, help="Where the .mp4 files go (folder structure kept).")
    parser.add_argument("--short-side", type=int, default=256, help="Short side of the output (default 256).")
    parser.add_argument("--gop", type=int, default=16, help="Frames between keyframes (default 16).")
    parser.add_argument("--crf", type=int, default=23, help="x264 quality, lower is better (default 23).")
    parser.add_argument("--preset", default="veryfast", help="x264 preset (default veryfast).")
    parser.add_argument("--bframes", type=int, default=0, help="x264 B-frames (default 0: cheaper seeking).")
    parser.add_argument(
        "--fast-decode", action="store_true", help="x264 tune=fastdecode: faster decoding, larger files."
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="Parallel processes (default: all cores)."
    )
    parser.add_argument("--overwrite", action="store_true", help="Re-encode files whose output already exists.")


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    videos = find_videos(args.inputs)
    if not videos:
        print(f"No video files ({', '.join(VIDEO_SUFFIXES)}) under {args.inputs}.", file=sys.stderr)
        return 1
    output_dir = Path(args.output_dir)
    settings = dict(
        short_side=args.short_side,
        gop=args.gop,
        crf=args.crf,
        preset=args.preset,
        bframes=args.bframes,
        fast_decode=args.fast_decode,
    )
    jobs, destinations = [], {}
    for source, relative in videos:
        destination = output_dir / relative.with_suffix(".mp4")
        if destination in destinations:
            print(f"{source} and {destinations[destination]} would both become {destination}.", file=sys.stderr)
            return 1
        destinations[destination] = source
        if destination.exists() and not args.overwrite:
            continue
        jobs.append((str(source), str(destination), settings))

    results: list[ReencodeResult] = []
    if args.workers <= 1:
        for job in tqdm(jobs, desc="re-encoding", unit="video"):
            results.append(_reencode_one(job))
    else:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            futures = [pool.submit(_reencode_one, job) for job in jobs]
            for future in tqdm(as_completed(futures), total=len(futures), desc="re-encoding", unit="video"):
                results.append(future.result())

    failed = [result for result in results if result.error]
    for result in failed:
        print(f"failed: {result.error}", file=sys.stderr)
    done = len(results) - len(failed)
    print(f"{done} re-encoded, {len(videos) - len(jobs)} already there, {len(failed)} failed → {output_dir}")
    if results:
        import json

        with open(output_dir / "reencode_log.jsonl", "a", encoding="utf-8") as log:
            for result in results:
                log.write(json.dumps(asdict(result)) + "\n")
    return 1 if failed else 0


__all__ = ["reencode_video", "output_size", "find_videos", "ReencodeResult", "add_arguments", "run"]
