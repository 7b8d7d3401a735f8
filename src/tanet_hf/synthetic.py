# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""A synthetic motion dataset: Something-Something in miniature.

Every video shows a textured object over a textured background (on a torus: what leaves one edge comes back at the
opposite edge). Appearance is randomised per video (background, shape, colours, texture, sizes, direction); the
class is how things move. The classes come in families (`--task`), each a test of one thing a temporal module may or
may not capture:

| task | classes | what decides the class |
|---|---|---|
| `size_profile` (default) | `approaching`, `receding`, `approaching_then_receding`, `receding_then_approaching` | the order of the object's sizes |
| `speed` | `slow_pulsing`, `medium_pulsing`, `fast_pulsing` | how fast the object's size cycles (1, 2 or 3 grow-shrink cycles per clip, random phase) |
| `camera` | `still`, `object_moves`, `camera_pans`, `camera_tracks_object` | what moves on screen: nothing, the object, everything, or the background behind a fixed object |
| `order` | `moves_then_pulses`, `pulses_then_moves` | which of two events (a translation, a grow-shrink pulse) comes first |
| `all` | every class above | |

Within a family every class visits the same object sizes and positions equally often, so a single frame, or an
unordered set of frames, carries no label information: a per-frame model that averages frame scores (C2D, TSN) sits at
chance on every family, while a temporal module has to see order (`size_profile`, `order`), temporal frequency
(`speed`) or which pixels move together (`camera`). `approaching` is the time reversal of `receding`, `moves_then_pulses` of `pulses_then_moves`.

In `size_profile` the object drifts slowly while it comes towards the camera and/or moves away from it (its size
follows a temporal profile). Pure left/right translation of a small object would also need temporal order, but is
nearly invisible to TAM's spatially pooled descriptors (its kernels are computed from per-channel spatial means),
which is why that family changes the object's apparent size rather than only its position; `camera` and `order`
are the families where translation matters. The defaults (a large size range over a low-contrast background) make
a small TANet learn `size_profile` reliably in a few hundred steps: with a busy full-contrast background and a
smaller size range the same network sometimes stays at chance for many epochs before it starts learning.

The videos are written as real files (H.264 through PyAV when available, else MPEG-4 Part 2) in the `videofolder`
layout that `datasets.load_dataset("videofolder", data_dir=root)` reads:

    root/{train,validation,test}/<class>/<class>_<index>.mp4
    root/synthetic_motion.json      # classes, counts and generator settings

Command line: `tanet-hf make-synthetic OUTPUT_DIR [--task camera] [--train-per-class 400 ...]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np


def _triangle(phase: np.ndarray) -> np.ndarray:
    """A triangle wave with period 1: 0 at integer phases, 1 half-way between them."""
    return 1.0 - np.abs(2.0 * np.mod(phase, 1.0) - 1.0)


def _size_profile(label: str, progress: np.ndarray) -> np.ndarray:
    """Relative object size in [0, 1] at clip progress `progress` in (0, 1), for a class of the `size_profile` task.
    Every profile takes each value in (0, 1) equally often (uniform marginal), so frame-level statistics are
    class-independent."""
    if label == "approaching":
        return progress
    if label == "receding":
        return 1.0 - progress
    if label == "approaching_then_receding":
        return 1.0 - np.abs(2.0 * progress - 1.0)
    if label == "receding_then_approaching":
        return np.abs(2.0 * progress - 1.0)
    raise ValueError(f"label={label!r} is not a size-profile class; expected one of {list(TASKS['size_profile'])}.")


TASKS: dict[str, tuple[str, ...]] = {
    "size_profile": ("approaching", "approaching_then_receding", "receding", "receding_then_approaching"),
    "speed": ("slow_pulsing", "medium_pulsing", "fast_pulsing"),
    "camera": ("still", "object_moves", "camera_pans", "camera_tracks_object"),
    "order": ("moves_then_pulses", "pulses_then_moves"),
}
CLASSES: tuple[str, ...] = TASKS["size_profile"]  # the default task
ALL_CLASSES: tuple[str, ...] = tuple(label for labels in TASKS.values() for label in labels)
TASKS["all"] = ALL_CLASSES
CLASS_IDS = {name: i for i, name in enumerate(ALL_CLASSES)}  # stable per-class seeds, whatever subset is used
SPLITS = ("train", "validation", "test")
INFO_FILE = "synthetic_motion.json"
_PULSE_CYCLES = {"slow_pulsing": 1, "medium_pulsing": 2, "fast_pulsing": 3}


@dataclass
class SyntheticMotionConfig:
    """
    Settings of the synthetic motion dataset.

    Args:
        size: frame height and width in pixels.
        num_video_frames: frames per video.
        fps: frame rate written into the files.
        min_radius_range: smallest object radius of a video, as a fraction of `size`, drawn uniformly from this range.
        max_radius_range: largest object radius of a video, as a fraction of `size`, drawn uniformly from this range.
        max_drift: largest drift speed of the object in the `size_profile` and `speed` tasks, as a fraction of
            `size` per frame (random direction, class-independent).
        speed_range: speed of what moves in the `camera` and `order` tasks (object, camera or both), as a fraction
            of `size` per frame, drawn uniformly from this range (random direction).
        classes: class names, a subset of `ALL_CLASSES` (at least two); `TASKS[task]` gives a task's classes.
        background_contrast: contrast of the background texture around its mean colour (1: full, 0: flat).
        noise: standard deviation of the per-frame pixel noise (0–255 scale).
        codec: `"h264"` (libx264), `"mpeg4"` or `"auto"` (H.264 when PyAV has it).
    """

    size: int = 64
    num_video_frames: int = 16
    fps: int = 8
    min_radius_range: tuple[float, float] = (0.03, 0.06)
    max_radius_range: tuple[float, float] = (0.32, 0.4)
    max_drift: float = 0.025
    speed_range: tuple[float, float] = (0.025, 0.045)
    classes: list[str] = field(default_factory=lambda: list(CLASSES))
    background_contrast: float = 0.3
    noise: float = 6.0
    codec: str = "auto"

    def __post_init__(self) -> None:
        unknown = [c for c in self.classes if c not in ALL_CLASSES]
        if unknown or len(set(self.classes)) < 2:
            raise ValueError(
                f"SyntheticMotionConfig.classes={self.classes!r}: need at least two of {list(ALL_CLASSES)}."
            )
        if self.size < 16 or self.num_video_frames < 2:
            raise ValueError(
                f"SyntheticMotionConfig needs size >= 16 and num_video_frames >= 2, got size={self.size}, "
                f"num_video_frames={self.num_video_frames}."
            )
        if not 0.0 <= self.background_contrast <= 1.0:
            raise ValueError(f"SyntheticMotionConfig.background_contrast={self.background_contrast} must be in [0, 1].")
        low, high = self.min_radius_range[0], self.max_radius_range[1]
        if not 0 < low <= self.min_radius_range[1] <= self.max_radius_range[0] <= high <= 0.4:
            raise ValueError(
                f"SyntheticMotionConfig radius ranges {self.min_radius_range} / {self.max_radius_range} must be "
                "ordered fractions of the frame size in (0, 0.4]."
            )
        if not 0 <= self.speed_range[0] <= self.speed_range[1]:
            raise ValueError(f"SyntheticMotionConfig.speed_range={self.speed_range} must be 0 <= low <= high.")


def _smooth_texture(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """A `(size, size, 3)` float image in [0, 255]: random colours on a `cells × cells` grid, bilinearly upsampled
    with wrap-around so that the texture tiles the torus seamlessly."""
    grid = rng.uniform(0, 255, size=(cells, cells, 3))
    coords = np.arange(size) * cells / size
    low = np.floor(coords).astype(int)
    frac = (coords - low)[:, None]
    high = (low + 1) % cells
    rows = grid[low] * (1 - frac[..., None]) + grid[high] * frac[..., None]  # (size, cells, 3)
    return rows[:, low] * (1 - frac.T[..., None]) + rows[:, high] * frac.T[..., None]


@dataclass
class _Motion:
    """How a video moves, frame by frame: relative object size `(T,)` in [0, 1], object position on screen
    `(T, 2)` and background shift on screen `(T, 2)`, in pixels (row, column)."""

    size: np.ndarray
    position: np.ndarray
    background_shift: np.ndarray


def _random_velocity(rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    """A velocity `(2,)` in pixels per frame: speed uniform in `[low, high)`, direction uniform."""
    angle = rng.uniform(0, 2 * np.pi)
    return rng.uniform(low, high) * np.array([np.sin(angle), np.cos(angle)])


def _class_motion(label: str, rng: np.random.Generator, config: SyntheticMotionConfig) -> _Motion:
    """The motion of one video of class `label` (random start, direction, speed, phase)."""
    num_frames, size = config.num_video_frames, config.size
    frames = np.arange(num_frames)
    progress = (frames + 0.5) / num_frames
    still = np.zeros((num_frames, 2))
    start = rng.uniform(0, size, size=2)
    if label in TASKS["size_profile"] or label in _PULSE_CYCLES:
        drift = _random_velocity(rng, 0.0, config.max_drift * size)  # class-independent drift
        if label in _PULSE_CYCLES:  # 1, 2 or 3 grow-shrink cycles, random phase: same sizes, different speed
            profile = _triangle(_PULSE_CYCLES[label] * progress + rng.uniform())
        else:
            profile = _size_profile(label, progress)
        return _Motion(profile, start + drift * frames[:, None], still)
    velocity = _random_velocity(rng, *(np.asarray(config.speed_range) * size))
    moving = velocity * frames[:, None]
    if label in TASKS["camera"]:
        profile = np.full(num_frames, rng.uniform(0.25, 0.75))
        object_moves = label in ("object_moves", "camera_pans")  # on screen
        background_moves = label in ("camera_pans", "camera_tracks_object")
        return _Motion(profile, start + (moving if object_moves else still), moving if background_moves else still)
    if label in TASKS["order"]:  # a translation at a base size and a grow-shrink pulse in place, in either order
        half = num_frames // 2
        first_half = frames < half
        if label == "pulses_then_moves":
            first_half = ~first_half
        steps = np.cumsum(first_half) - first_half  # frames of translation before each frame
        pulse_progress = (np.cumsum(~first_half) - 0.5) / max(int((~first_half).sum()), 1)
        profile = np.where(first_half, 0.3, 0.3 + 0.7 * _triangle(pulse_progress))
        return _Motion(profile, start + velocity * steps[:, None], still)
    raise ValueError(f"label={label!r} is not a synthetic motion class; expected one of {list(ALL_CLASSES)}.")


def render_motion_video(
    label: str, rng: np.random.Generator, config: SyntheticMotionConfig | None = None
) -> np.ndarray:
    """
    Render one video of class `label`: a random textured object (disc, square or diamond; checkerboard, stripes
    or rings in two random colours) over a smooth random background, its radius between a random minimum and
    maximum following the class's size profile, its position and the background's following the class's motion.

    Returns:
        `np.ndarray` of shape `(num_video_frames, size, size, 3)`, dtype `uint8`.
    """
    config = config or SyntheticMotionConfig()
    if label not in ALL_CLASSES:
        raise ValueError(f"label={label!r} is not a synthetic motion class; expected one of {list(ALL_CLASSES)}.")
    size, num_frames = config.size, config.num_video_frames
    background = _smooth_texture(rng, size, cells=int(rng.integers(3, 7)))
    mean_colour = background.mean(axis=(0, 1), keepdims=True)
    background = mean_colour + config.background_contrast * (background - mean_colour)
    min_radius = rng.uniform(*config.min_radius_range) * size
    max_radius = rng.uniform(*config.max_radius_range) * size

    half = min(int(np.ceil(config.max_radius_range[1] * size)) + 1, (size - 1) // 2)  # sprite fits the frame
    offsets = np.arange(-half, half + 1)
    yy, xx = np.meshgrid(offsets.astype(np.float64), offsets.astype(np.float64), indexing="ij")
    shape = rng.integers(3)
    if shape == 0:  # disc
        distance = np.hypot(yy, xx)
    elif shape == 1:  # square
        distance = np.maximum(np.abs(yy), np.abs(xx))
    else:  # diamond
        distance = (np.abs(yy) + np.abs(xx)) / 1.3
    colour_a, colour_b = rng.uniform(0, 255, size=(2, 3))
    period = rng.uniform(2.5, 5.0)
    pattern = rng.integers(3)
    if pattern == 0:  # checkerboard
        selector = (np.floor(yy / period) + np.floor(xx / period)) % 2
    elif pattern == 1:  # diagonal stripes
        selector = np.floor((yy + xx) / period) % 2
    else:  # rings
        selector = np.floor(np.hypot(yy, xx) / period) % 2
    texture = colour_a * selector[..., None] + colour_b * (1 - selector[..., None])

    motion = _class_motion(label, rng, config)
    video = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    for t in range(num_frames):
        radius = min_radius + (max_radius - min_radius) * motion.size[t]
        mask = np.clip(radius - distance + 0.5, 0.0, 1.0)[..., None]  # anti-aliased edge
        centre = np.round(motion.position[t]).astype(int)
        rows, cols = (centre[0] + offsets) % size, (centre[1] + offsets) % size  # placement on the torus
        shift = np.round(motion.background_shift[t]).astype(int)
        frame = np.roll(background, tuple(shift), axis=(0, 1))
        frame[np.ix_(rows, cols)] = frame[np.ix_(rows, cols)] * (1 - mask) + texture * mask
        if config.noise > 0:
            frame += rng.normal(0.0, config.noise, size=frame.shape)
        video[t] = np.clip(frame, 0, 255).astype(np.uint8)
    return video


def _resolve_codec(codec: str) -> str:
    if codec == "auto":
        return "libx264" if "libx264" in av.codecs_available else "mpeg4"
    if codec == "h264":
        return "libx264"
    if codec not in ("libx264", "mpeg4"):
        raise ValueError(f"codec={codec!r} is not supported; expected 'auto', 'h264' or 'mpeg4'.")
    return codec


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: int = 8, codec: str = "auto") -> None:
    """Encode `frames` `(T, H, W, 3)` uint8 RGB to `path` with PyAV (near-lossless settings, yuv420p)."""
    codec_name = _resolve_codec(codec)
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream(codec_name, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1  # one encoder thread: the file is a pure function of the frames
        if codec_name == "libx264":
            # one thread: x264 output is then a pure function of the frames (regeneration is bit-identical)
            stream.options = {"crf": "12", "preset": "veryfast", "g": str(fps * 2), "threads": "1"}
        else:
            stream.codec_context.bit_rate = 2_000_000
            stream.codec_context.qmin, stream.codec_context.qmax = 1, 4
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, path)


def generate_synthetic_motion_dataset(
    output_dir: str | os.PathLike,
    train_per_class: int = 400,
    validation_per_class: int = 24,
    test_per_class: int = 24,
    seed: int = 0,
    config: SyntheticMotionConfig | None = None,
    overwrite: bool = False,
) -> Path:
    """
    Write the synthetic motion dataset to `output_dir` (layout in the module docstring).

    Every video is a pure function of `(seed, split, class, index)`: regenerating gives identical frames, and the
    splits never share a video.

    Returns:
        The dataset root, ready for `load_dataset("videofolder", data_dir=root)`.
    """
    config = config or SyntheticMotionConfig()
    root = Path(output_dir)
    if root.exists() and any(root.iterdir()) and not overwrite:
        if (root / INFO_FILE).is_file():
            raise FileExistsError(f"{root} already holds a synthetic dataset; pass overwrite=True (--overwrite).")
        raise FileExistsError(f"output_dir {root} exists and is not empty; choose an empty folder.")
    counts = {"train": train_per_class, "validation": validation_per_class, "test": test_per_class}
    for split, count in counts.items():
        if count < 0:
            raise ValueError(f"{split}_per_class must be >= 0, got {count}.")
    for split in SPLITS:
        if overwrite and (root / split).is_dir():
            shutil.rmtree(root / split)
    for split_index, split in enumerate(SPLITS):
        for label in config.classes if counts[split] else []:
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(counts[split]):
                rng = np.random.default_rng([seed, split_index, CLASS_IDS[label], index])
                write_video(
                    folder / f"{label}_{index:04d}.mp4",
                    render_motion_video(label, rng, config),
                    fps=config.fps,
                    codec=config.codec,
                )
    info = {
        "classes": sorted(config.classes),
        "counts": counts,
        "seed": seed,
        "config": asdict(config),
    }
    (root / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return root


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output_dir", help="Folder to write root/{train,validation,test}/<class>/*.mp4 into.")
    parser.add_argument("--train-per-class", type=int, default=400)
    parser.add_argument("--validation-per-class", type=int, default=24)
    parser.add_argument("--test-per-class", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=SyntheticMotionConfig.size, help="Frame side in pixels.")
    parser.add_argument("--num-video-frames", type=int, default=SyntheticMotionConfig.num_video_frames)
    parser.add_argument("--fps", type=int, default=SyntheticMotionConfig.fps)
    parser.add_argument(
        "--task",
        default="size_profile",
        choices=list(TASKS),
        help="Class family (module docstring): size_profile (default), speed, camera, order, or all of them.",
    )
    parser.add_argument(
        "--classes", nargs="+", choices=list(ALL_CLASSES), help="Classes to include (default: the task's classes)."
    )
    parser.add_argument("--codec", default="auto", choices=["auto", "h264", "mpeg4"])
    parser.add_argument("--overwrite", action="store_true", help="Write into a folder that already holds files.")


def run(args: argparse.Namespace) -> int:
    config = SyntheticMotionConfig(
        size=args.size,
        num_video_frames=args.num_video_frames,
        fps=args.fps,
        classes=list(args.classes or TASKS[args.task]),
        codec=args.codec,
    )
    root = generate_synthetic_motion_dataset(
        args.output_dir,
        train_per_class=args.train_per_class,
        validation_per_class=args.validation_per_class,
        test_per_class=args.test_per_class,
        seed=args.seed,
        config=config,
        overwrite=args.overwrite,
    )
    total = (args.train_per_class + args.validation_per_class + args.test_per_class) * len(config.classes)
    print(f"wrote {total} videos ({len(config.classes)} classes) to {root}")
    return 0


__all__ = [
    "ALL_CLASSES",
    "CLASSES",
    "TASKS",
    "SyntheticMotionConfig",
    "generate_synthetic_motion_dataset",
    "render_motion_video",
    "write_video",
]
