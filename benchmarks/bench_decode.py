# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Data-loading speed per core, end to end: video file → normalised 8-frame clip tensor `(8, 3, 224, 224)`.

The video: 10 s, 340×256, 30 fps, H.264 (x264 crf 23, preset veryfast, 4:2:0), a textured scene panning, about
0.6 MB, encoded as downloaded videos are (x264's default keyframe interval of 250 frames, B-frames), and the same
video after `tanet-hf reencode` (a keyframe every 16 frames, no B-frames; also with `--fast-decode`).

Pipelines, each from the file to the normalised clip (resize the short side to 256, centre crop 224, ImageNet
mean/std; the training transform for `tanet-train`):

- `stock`: transformers' own video processor (`BaseVideoProcessor` with TANet's evaluation settings, the sampled
  frame indices given through its `sample_frames` hook) and its default decoding: torchcodec, `seek_mode="exact"`,
  FFmpeg's choice of threads (`transformers.video_utils.read_video_torchcodec`). Needs torchcodec with FFmpeg;
- `stock-pyav`: the same processor on frames from `transformers.video_utils.load_video`'s default backend, PyAV
  (`read_video_pyav`: decodes from the first frame up to the last wanted one, as the pipeline's image-processor path);
- `tanet-pyav` / `tanet-torchcodec`: `TANetVideoProcessor(decode_backend=...)`, evaluation mode;
- `tanet-train-pyav`: `TrainAugmentation` (random frame offsets, multi-scale crop, flip) with the same processor: the
  clip a training DataLoader worker produces. Its frames are drawn at random each round (uniform: one per TSN
  segment; dense: a random window start), so it decodes a different stretch from the evaluation clip;
- `tanet-pyav-keyframe` / `tanet-train-pyav-keyframe`: the same two with `frame_seek="keyframe"` (approximate):
  every clip frame moved to a keyframe of its segment (evaluation: the nearest; training: one drawn at random) where
  the segment holds one, so that it costs one decoded frame. Their frames differ from the exact clip's, so they are
  left out of the agreement check.

Clips: `uniform` (TSN segments: the middle frame of 8 segments, spread over the video) and `dense` (8 frames at
stride 8 in the middle of the video), both as the evaluation sampling picks them.

Everything runs on one core (`torch.set_num_threads(1)`, one FFmpeg thread except in `stock`, which keeps its
default). The rate is 1 / (process CPU time per clip): CPU time is what the cores spend, all threads included, and
unlike wall time it does not grow when other processes share the machine. Wall times are recorded too. Rounds
interleave the pipelines; figures are medians over rounds. `frames decoded` counts what PyAV had to decode
(deterministic for evaluation; for the training rows, the median over 9 seeded draws). Before timing, the evaluation outputs of `stock` and `tanet-*` are compared (same frames, same
views: they must agree to float rounding).

When torchcodec cannot load FFmpeg (no system FFmpeg), the benchmark re-runs itself with `LD_LIBRARY_PATH` pointing
at the FFmpeg libraries inside PyAV's wheel, so that `stock` (torchcodec) is measured; `--no-torchcodec` skips that.

Usage:

    python benchmarks/bench_decode.py      # ~2 min; writes results/decode.json and the table in RESULTS_decode.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import torch

from tanet_hf import video_decoding_tanet
from tanet_hf.reencode import reencode_video
from tanet_hf.training.augmentation import TrainAugmentation
from tanet_hf.video_decoding_tanet import decode_video_frames, is_torchcodec_usable
from tanet_hf.video_processing_tanet import TANetVideoProcessor, sample_frame_indices

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from video_factory import link_pyav_ffmpeg_libraries, make_video  # noqa: E402

RESULTS_DIR = HERE / "results"
NUM_FRAMES = 8
VIDEO_FRAMES = 300
CLIPS = ("uniform", "dense")


def make_sources(directory: Path) -> dict[str, Path]:
    """The Kinetics-like video as downloaded, and re-encoded with short GOPs."""
    source = make_video(
        directory / "kinetics_like.mp4",
        num_frames=VIDEO_FRAMES,
        size=(340, 256),
        fps=30,
        pattern="texture",
        options={"crf": "23", "preset": "veryfast"},
    )
    gop16 = directory / "kinetics_like_gop16.mp4"
    reencode_video(source, gop16, short_side=256, gop=16)
    gop16_fast = directory / "kinetics_like_gop16_fastdecode.mp4"
    reencode_video(source, gop16_fast, short_side=256, gop=16, fast_decode=True)
    return {
        "as downloaded (GOP 250)": source,
        "re-encoded (GOP 16, no B-frames)": gop16,
        "re-encoded + fastdecode": gop16_fast,
    }


def describe(path: Path) -> dict:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [packet for packet in container.demux(stream) if packet.size]
        return dict(
            bytes=path.stat().st_size,
            frames=len(packets),
            keyframes=sum(packet.is_keyframe for packet in packets),
            width=stream.width,
            height=stream.height,
            codec=stream.codec_context.name,
        )


def stock_processor(indices: np.ndarray):
    """transformers' `BaseVideoProcessor` with TANet's evaluation settings, sampling exactly `indices`."""
    from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, PILImageResampling
    from transformers.video_processing_utils import BaseVideoProcessor

    class StockVideoProcessor(BaseVideoProcessor):
        resample = PILImageResampling.BILINEAR
        image_mean, image_std = list(IMAGENET_DEFAULT_MEAN), list(IMAGENET_DEFAULT_STD)
        size, crop_size, default_to_square = {"shortest_edge": 256}, {"height": 224, "width": 224}, False
        do_resize = do_center_crop = do_rescale = do_normalize = do_convert_rgb = do_sample_frames = True

        def sample_frames(self, metadata, num_frames=None, fps=None, **kwargs):
            return indices

    return StockVideoProcessor()


def pipelines(clip: str, indices: np.ndarray) -> dict[str, Callable[[Path], torch.Tensor]]:
    """name → `path → (T, 3, 224, 224)` float32 for the `clip` sampling whose evaluation indices are `indices`."""
    from transformers.video_utils import load_video

    stock = stock_processor(indices)

    def stock_pyav(path: Path) -> torch.Tensor:
        frames, _ = load_video(str(path), sample_indices_fn=lambda metadata, **kwargs: indices)  # backend="pyav"
        return stock(videos=frames, do_sample_frames=False, return_tensors="pt")["pixel_values_videos"][0]

    def tanet(backend: str) -> Callable[[Path], torch.Tensor]:
        processor = TANetVideoProcessor(num_frames=NUM_FRAMES, sampling=clip, decode_backend=backend)
        return lambda path: processor(str(path))["pixel_values"][0]

    train_processor = TANetVideoProcessor(num_frames=NUM_FRAMES, sampling=clip, decode_backend="pyav")
    augmentation, rng = TrainAugmentation(), np.random.default_rng(0)
    keyframe_augmentation = TrainAugmentation(frame_seek="keyframe")
    keyframe_processor = TANetVideoProcessor(
        num_frames=NUM_FRAMES, sampling=clip, decode_backend="pyav", frame_seek="keyframe"
    )

    found = {}
    if is_torchcodec_usable():
        found["stock"] = lambda path: stock(videos=str(path), return_tensors="pt")["pixel_values_videos"][0]
    found["stock-pyav"] = stock_pyav
    found["tanet-pyav"] = tanet("pyav")
    if is_torchcodec_usable():
        found["tanet-torchcodec"] = tanet("torchcodec")
    found["tanet-train-pyav"] = lambda path: augmentation(str(path), 0, train_processor, rng)[0]
    found["tanet-pyav-keyframe"] = lambda path: keyframe_processor(str(path))["pixel_values"][0]
    found["tanet-train-pyav-keyframe"] = lambda path: keyframe_augmentation(str(path), 0, train_processor, rng)[0]
    return found


def check_agreement(sources: dict[str, Path], methods: dict[str, dict[str, Callable]]) -> float:
    """Largest difference between any two evaluation pipelines' outputs (same frames, same views): float rounding."""
    worst = 0.0
    for path in sources.values():
        for clip_methods in methods.values():
            outputs = [method(path) for name, method in clip_methods.items() if not _approximate_or_random(name)]
            for output in outputs[1:]:
                assert output.shape == outputs[0].shape == (NUM_FRAMES, 3, 224, 224), output.shape
                worst = max(worst, float((output - outputs[0]).abs().max()))
    assert worst < 1e-4, f"the evaluation pipelines disagree by {worst}"
    return worst


def _approximate_or_random(name: str) -> bool:
    """Whether a pipeline's frames differ from the exact evaluation clip (training draws, keyframe mode)."""
    return "train" in name or "keyframe" in name


def sampler(clip: str, mode: str, seed: int = 0) -> Callable[..., np.ndarray]:
    """The `decode_video_frames` sampling function of a pipeline (`mode` `"train"` draws with a seeded generator)."""
    rng = np.random.default_rng(seed)
    return lambda total, keyframes=None: sample_frame_indices(
        total, NUM_FRAMES, clip, mode, rng=rng, keyframes=keyframes
    )


def frames_decoded(path: Path, clip: str, pipeline: str) -> int | None:
    """Frames PyAV decodes for one clip of `pipeline` (training rows: median over 9 seeded draws); `None` for
    pipelines that do not decode with this package's PyAV path."""
    if not pipeline.startswith("tanet-") or "torchcodec" in pipeline:
        return None
    frame_seek = "keyframe" if pipeline.endswith("-keyframe") else "exact"
    if "train" not in pipeline:
        return frames_decoded_by_pyav(path, sampler(clip, "eval"), frame_seek)
    return int(statistics.median(frames_decoded_by_pyav(path, sampler(clip, "train", s), frame_seek) for s in range(9)))


def frames_decoded_by_pyav(path: Path, pick: Callable[..., np.ndarray], frame_seek: str = "exact") -> int:
    count = 0
    original = video_decoding_tanet._iter_frames

    def counting(*args, **kwargs):
        nonlocal count
        for frame in original(*args, **kwargs):
            count += 1
            yield frame

    video_decoding_tanet._iter_frames = counting
    try:
        decode_video_frames(str(path), pick, backend="pyav", frame_seek=frame_seek)
    finally:
        video_decoding_tanet._iter_frames = original
    return count


def run_benchmark(rounds: int, work_dir: Path) -> dict:
    torch.set_num_threads(1)
    sources = make_sources(work_dir)
    clips = {name: sample_frame_indices(VIDEO_FRAMES, NUM_FRAMES, name, "eval")[0] for name in CLIPS}
    methods = {name: pipelines(name, indices) for name, indices in clips.items()}
    for _ in range(2):  # warm-up: imports, file cache, FFmpeg's lazy initialisation
        worst_difference = check_agreement(sources, methods)
    cpu: dict[tuple, list[float]] = {}
    wall: dict[tuple, list[float]] = {}
    for round_index in range(rounds):
        for source, path in sources.items():
            for clip_name, clip_methods in methods.items():
                order = list(clip_methods)
                order = order[round_index % len(order) :] + order[: round_index % len(order)]
                for name in order:
                    wall_start, cpu_start = time.perf_counter(), time.process_time()
                    clip = clip_methods[name](path)
                    cpu.setdefault((source, clip_name, name), []).append(time.process_time() - cpu_start)
                    wall.setdefault((source, clip_name, name), []).append(time.perf_counter() - wall_start)
                    assert clip.shape == (NUM_FRAMES, 3, 224, 224) and clip.dtype == torch.float32, clip.shape

    reference = "stock" if is_torchcodec_usable() else "stock-pyav"
    downloaded = next(iter(sources))

    def median_cpu(source: str, clip_name: str, name: str) -> float:
        return statistics.median(cpu[(source, clip_name, name)])

    rows = []
    for (source, clip_name, name), times in cpu.items():
        path, median = sources[source], statistics.median(times)
        row = dict(
            video=source,
            clip=clip_name,
            pipeline=name,
            cpu_ms_per_clip=round(1000 * median, 2),
            clips_per_s_per_core=round(1 / median, 1),
            speedup_vs_stock_same_file=round(median_cpu(source, clip_name, reference) / median, 2),
            speedup_vs_stock_as_downloaded=round(median_cpu(downloaded, clip_name, reference) / median, 2),
            speedup_vs_stock_pyav_same_file=round(median_cpu(source, clip_name, "stock-pyav") / median, 2),
            wall_ms_per_clip=round(1000 * statistics.median(wall[(source, clip_name, name)]), 2),
        )
        count = int(np.max(clips[clip_name])) + 1 if name == "stock-pyav" else frames_decoded(path, clip_name, name)
        if count is not None:
            row["frames_decoded"] = count
        rows.append(row)
    return dict(
        benchmark="decode",
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        machine=dict(
            platform=platform.platform(),
            processor=platform.processor() or platform.machine(),
            cpu_count=os.cpu_count(),
            load_average=os.getloadavg(),
            python=platform.python_version(),
            torch=torch.__version__,
            av=av.__version__,
            ffmpeg_libavcodec=".".join(map(str, av.library_versions["libavcodec"])),
            torchcodec=_torchcodec_version(),
            torchcodec_ffmpeg=os.environ.get("TANET_BENCH_FFMPEG", "system"),
        ),
        rounds=rounds,
        reference=reference,
        largest_difference_between_eval_pipelines=worst_difference,
        clip_indices={name: clip.tolist() for name, clip in clips.items()},
        keyframe_clip_indices={
            source: {name: keyframe_clip(path, name) for name in CLIPS} for source, path in sources.items()
        },
        videos={name: describe(path) for name, path in sources.items()},
        results=rows,
    )


def keyframe_clip(path: Path, clip: str) -> list[int]:
    """The frames `tanet-pyav-keyframe` decodes for `clip` from `path`."""
    decoded = decode_video_frames(str(path), sampler(clip, "eval"), backend="pyav", frame_seek="keyframe")
    return decoded.indices[0].tolist()


def _torchcodec_version() -> str | None:
    if not is_torchcodec_usable():
        return None
    import torchcodec

    return torchcodec.__version__


def markdown(record: dict) -> str:
    machine = record["machine"]
    reference = record["reference"]
    lines = [
        "## Data loading: clips per second per core, end to end",
        "",
        f"One {NUM_FRAMES}-frame clip of a 10 s, 340×256, 30 fps H.264 video (Kinetics-like; made by "
        "`benchmarks/bench_decode.py`), from the file to the normalised `(8, 3, 224, 224)` float tensor (resize, "
        "centre crop 224, ImageNet normalisation; the training transform in `tanet-train-*`; `*-keyframe`: "
        '`frame_seek="keyframe"`, each clip frame moved to a keyframe of its segment, approximate), on one core. '
        f"Rate = 1 / median CPU time per clip over {record['rounds']} interleaved rounds; speed-up against "
        f"`{reference}` (transformers' video processor with its default decoding) on the same file and on the file "
        "as downloaded, and against `stock-pyav` (the same processor on `load_video`'s default PyAV decoding).",
        "",
        f"Machine: {machine['cpu_count']} cores ({machine['processor']}), load average "
        f"{', '.join(f'{x:.1f}' for x in machine['load_average'])} (shared), PyAV {machine['av']} "
        f"(libavcodec {machine['ffmpeg_libavcodec']}), torchcodec {machine['torchcodec'] or 'not usable'}"
        + (f" with FFmpeg from {machine['torchcodec_ffmpeg']}" if machine["torchcodec"] else "")
        + f", torch {machine['torch']}; {record['date']}. Evaluation outputs of all pipelines agree within "
        f"{record['largest_difference_between_eval_pipelines']:.1e}.",
        "",
        "| video | size | keyframes |",
        "|---|---|---|",
    ]
    for name, info in record["videos"].items():
        lines.append(f"| {name} | {info['bytes'] / 1e6:.2f} MB | {info['keyframes']} in {info['frames']} frames |")
    lines += [
        "",
        f"| video | clip | pipeline | clips/s/core | CPU ms/clip | × `{reference}` (same file) | × `{reference}` "
        "(as downloaded) | × `stock-pyav` (same file) | frames decoded | wall ms/clip |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in record["results"]:
        lines.append(
            f"| {row['video']} | {row['clip']} | `{row['pipeline']}` | {row['clips_per_s_per_core']} | "
            f"{row['cpu_ms_per_clip']} | {row['speedup_vs_stock_same_file']} | "
            f"{row['speedup_vs_stock_as_downloaded']} | {row['speedup_vs_stock_pyav_same_file']} | "
            f"{row.get('frames_decoded', '')} | {row['wall_ms_per_clip']} |"
        )
    lines += [
        "",
        f"Clip frame indices: uniform {record['clip_indices']['uniform']}, dense {record['clip_indices']['dense']}; "
        "in keyframe mode (`tanet-pyav-keyframe`): "
        + "; ".join(
            f"{source}: uniform {clips['uniform']}, dense {clips['dense']}"
            for source, clips in record["keyframe_clip_indices"].items()
        )
        + ".",
        "",
    ]
    return "\n".join(lines)


def _reexec_with_pyav_ffmpeg(argv: list[str]) -> int | None:
    """Run this script again where torchcodec finds the FFmpeg inside PyAV's wheel; `None` if that is impossible."""
    link_dir = link_pyav_ffmpeg_libraries(Path(tempfile.mkdtemp(prefix="pyav_ffmpeg_")))
    if link_dir is None:
        return None
    env = dict(os.environ, TANET_BENCH_FFMPEG="PyAV's wheel (LD_LIBRARY_PATH)")
    env["LD_LIBRARY_PATH"] = f"{link_dir}:{env.get('LD_LIBRARY_PATH', '')}"
    return subprocess.call([sys.executable, __file__, *argv], env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--no-torchcodec",
        action="store_true",
        help="Do not point torchcodec at PyAV's FFmpeg when it finds none (then `stock` and `tanet-torchcodec` are "
        "left out).",
    )
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "decode.json")
    parser.add_argument("--markdown", type=Path, default=HERE / "RESULTS_decode.md")
    args = parser.parse_args(argv)

    if not args.no_torchcodec and not is_torchcodec_usable() and "TANET_BENCH_FFMPEG" not in os.environ:
        code = _reexec_with_pyav_ffmpeg(list(argv if argv is not None else sys.argv[1:]))
        if code is not None:
            return code

    with tempfile.TemporaryDirectory() as work_dir:
        record = run_benchmark(args.rounds, Path(work_dir))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")
    text = markdown(record)
    write_generated_section(args.markdown, text)
    print(text)
    return 0


BEGIN_MARK, END_MARK = "<!-- bench_decode.py: begin -->", "<!-- bench_decode.py: end -->"


def write_generated_section(path: Path, text: str) -> None:
    """Put `text` between the markers in `path` (the notes around them are kept), or write it alone."""
    old = path.read_text() if path.exists() else ""
    if BEGIN_MARK in old and END_MARK in old:
        before, rest = old.split(BEGIN_MARK, 1)
        after = rest.split(END_MARK, 1)[1]
        path.write_text(f"{before}{BEGIN_MARK}\n{text}\n{END_MARK}{after}")
    else:
        path.write_text(f"{BEGIN_MARK}\n{text}\n{END_MARK}\n")


if __name__ == "__main__":
    sys.exit(main())
