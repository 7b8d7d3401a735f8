# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Video processor for TANet: frame sampling, the evaluation / test views and normalisation, as in the authors'
release. Inference only: training augmentation (random offsets, multi-scale crop, flip with the label swap) lives in
`tanet_hf.training.augmentation` and is applied by the training dataset, so nothing of it is saved with a model.

Two modes share one implementation:

- `"eval"`: one clip sampled deterministically, short side resized to 256, centre crop 224 (the release's
  validation during training); output `(batch, T, 3, H, W)`;
- `"test"`: `num_test_clips` clips × `test_crop` crops (`"center"`, `"three_crop"` of 256, `"ten_crop"` of 224),
  the released test protocols; output `(batch, views, T, 3, H, W)`, fused by the model.

`default_mode` (saved with the processor) is the mode of a call that names none, so `pipeline("video-classification")`
runs the multi-view protocol of a processor saved with `default_mode="test"`.

Every view is cut from the decoded frames in source coordinates and only then resized (see [`crop_resized`]): the
work is bounded by the output size, so a tiny file with a 2 × 16384 frame costs no more than a normal one.

Frame indices are 0-based throughout (the release reads 1-based JPEG files and adds 1 at the end).

`frame_seek="keyframe"` (opt-in, saved with the processor; default `"exact"`) trades exactness for decoding speed:
each sampled frame is replaced by the keyframe nearest it inside its TSN segment (dense sampling: inside its
stride), when the segment holds one, so that each clip frame costs one decoded frame. The frames then differ from
the release's by up to a segment's length; scores are not those of exact sampling.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torchvision.transforms.v2.functional as tvF
from transformers import BatchFeature
from transformers.image_utils import (
    IMAGENET_DEFAULT_MEAN,
    IMAGENET_DEFAULT_STD,
    PILImageResampling,
    SizeDict,
    pil_torch_interpolation_mapping,
)
from transformers.processing_utils import VideosKwargs
from transformers.utils import logging
from transformers.video_processing_utils import BaseVideoProcessor

from .video_decoding_tanet import (
    DECODING_BACKENDS,
    FRAME_SEEK_MODES,
    VideoDecodeError,
    decode_video_frames,
    describe_video_source,
    is_encoded_video,
)

logger = logging.get_logger(__name__)

SAMPLING_STRATEGIES = ("uniform", "dense")
SAMPLING_MODES = ("train", "eval", "test")  # of `sample_frame_indices`; "train" serves the training augmentation
PROCESSOR_MODES = ("eval", "test")
TEST_CROPS = ("center", "three_crop", "ten_crop")


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def sample_frame_indices(
    num_video_frames: int,
    num_frames: int,
    sampling: str = "uniform",
    mode: str = "eval",
    num_clips: int = 1,
    dense_window: int = 64,
    rng: np.random.Generator | None = None,
    keyframes: np.ndarray | None = None,
) -> np.ndarray:
    r"""
    Frame indices of `num_clips` clips of `num_frames` frames each, as the authors' release samples them (with
    `keyframes`, moved onto keyframes near them: see [`snap_to_keyframes`]).

    With `N = num_video_frames` and `T = num_frames`:

    | sampling / mode | indices of clip `k` (`i = 0 … T-1`) |
    |---|---|
    | uniform, train | `avg = N // T`; `i·avg + randint(avg)` (one TSN segment of `avg` frames per output frame) |
    | uniform, eval, 1 clip | `tick = N / T`; `int(tick/2 + tick·i)` (the middle of every segment) |
    | uniform, eval, K clips | `start_k = linspace(0, tick-1, K)` truncated to int; `int(start_k + tick·i) % N` |
    | dense, train | `stride = dense_window // T`; `pos = max(1, 1 + N - stride·T)`; `start = 0` if `pos == 1` else `randint(0, pos-1)` (upper bound excluded); `(i·stride + start) % N` |
    | dense, eval, 1 clip | as train with `start = pos // 2` |
    | dense, eval, K clips | `start_k = linspace(0, pos-1, K)` truncated to int |

    `mode="test"` samples exactly like `"eval"`; `"train"` draws `num_clips` independent random clips.

    A video with fewer frames than `T` is looped in order, `i % N`, in every mode, so the result always has `T`
    frames and never raises. (Here the release differs and is degenerate: uniform training/validation return
    frame 0 `T` times, uniform testing repeats frames, dense sampling visits the frames out of order.)

    Args:
        num_video_frames (`int`): Frames in the video, `N ≥ 1`.
        num_frames (`int`): Frames per clip, `T`.
        sampling (`str`): `"uniform"` (TSN segments; Something-Something) or `"dense"` (a window of `dense_window`
            frames at stride `dense_window // T`; Kinetics).
        mode (`str`): `"train"` (random; used by `tanet_hf.training.augmentation`), `"eval"` or `"test"`
            (deterministic; the processor).
        num_clips (`int`): Clips `K` to sample (multi-clip testing).
        dense_window (`int`): Length of the dense window; 64 in the release.
        rng (`np.random.Generator`, *optional*): Random source for `"train"`; a fresh unseeded one if `None`.
        keyframes (`np.ndarray`, *optional*): Positions of the frames that decode on their own (from the decoder's
            packet index, `frame_seek="keyframe"`). When given, every sampled frame is replaced by a keyframe of its
            segment ([`frame_segments`]) when the segment holds one: in `"train"` one drawn at random among them
            (after the exact offsets are drawn, so the exact mode's draws are unchanged), otherwise the nearest
            (the earlier on a tie); a segment without a keyframe keeps the exact frame. Approximate: a frame moves
            by at most its segment's length, and a clip decodes one frame per keyframe instead of every frame
            from the keyframe before it.

    Returns:
        `np.ndarray` of dtype `int64` and shape `(num_clips, num_frames)`, values in `[0, num_video_frames)`.
    """
    n = _check_positive_int("num_video_frames", num_video_frames)
    t = _check_positive_int("num_frames", num_frames)
    k = _check_positive_int("num_clips", num_clips)
    window = _check_positive_int("dense_window", dense_window)
    if sampling not in SAMPLING_STRATEGIES:
        raise ValueError(f"sampling={sampling!r} is not supported; expected one of {list(SAMPLING_STRATEGIES)}.")
    if mode not in SAMPLING_MODES:
        raise ValueError(f"mode={mode!r} is not supported; expected one of {list(SAMPLING_MODES)}.")
    if sampling == "dense" and window < t:
        raise ValueError(
            f"dense_window={window} must be at least num_frames={t} (the stride is dense_window // num_frames)."
        )

    if mode == "train" and rng is None:
        rng = np.random.default_rng()
    indices = _exact_frame_indices(n, t, sampling, mode, k, window, rng)
    if keyframes is None:
        return indices
    lows, highs = frame_segments(indices, n, t, sampling, mode, window)
    return snap_to_keyframes(indices, lows, highs, keyframes, rng if mode == "train" else None)


def _exact_frame_indices(
    n: int, t: int, sampling: str, mode: str, k: int, window: int, rng: np.random.Generator | None
) -> np.ndarray:
    """The `(k, t)` indices of [`sample_frame_indices`] without keyframes (arguments checked there)."""
    steps = np.arange(t, dtype=np.int64)
    if n < t:
        return np.tile(steps % n, (k, 1))

    if sampling == "uniform":
        if mode == "train":
            segment = n // t
            clips = [steps * segment + rng.integers(segment, size=t) for _ in range(k)]
            return np.stack(clips).astype(np.int64)
        tick = n / float(t)
        if k == 1:
            return (tick / 2.0 + tick * steps).astype(np.int64)[None]
        starts = np.linspace(0, tick - 1, num=k, dtype=int)
        return np.stack([(start + tick * steps).astype(np.int64) % n for start in starts.tolist()])

    stride = window // t
    positions = max(1, 1 + n - stride * t)
    if mode == "train":
        starts = [0 if positions == 1 else int(rng.integers(0, positions - 1)) for _ in range(k)]
    elif k == 1:
        starts = [positions // 2]
    else:
        starts = np.linspace(0, positions - 1, num=k, dtype=int).tolist()
    return np.stack([(steps * stride + start) % n for start in starts]).astype(np.int64)


def frame_segments(
    indices: np.ndarray,
    num_video_frames: int,
    num_frames: int,
    sampling: str = "uniform",
    mode: str = "eval",
    dense_window: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """
    The stretch of video `[low, high)` each sampled frame stands for, for `indices` `(K, T)` sampled by
    [`sample_frame_indices`] with these settings: `(lows, highs)`, each of `indices`' shape, every index inside its
    own stretch. With `N = num_video_frames` and `T = num_frames`:

    - uniform, train: TSN segment `i` as the random offset is drawn, `[i · avg, (i + 1) · avg)`, `avg = N // T`;
    - uniform, eval / test: TSN segment `i`, `[int(i · N / T), int((i + 1) · N / T))`;
    - dense: the stride that starts at the frame, `[index, min(index + dense_window // T, N))`, so that a clip
      stays inside its window;
    - videos shorter than `T` frames (looped in order): the frame alone.
    """
    n, t = num_video_frames, num_frames
    indices = np.asarray(indices, dtype=np.int64)
    if n < t:
        return indices, indices + 1
    if sampling == "dense":
        return indices, np.minimum(indices + dense_window // t, n)
    steps = np.arange(t + 1, dtype=np.int64)
    bounds = steps * (n // t) if mode == "train" else (steps * (n / float(t))).astype(np.int64)
    lows, highs = np.broadcast_to(bounds[:-1], indices.shape), np.broadcast_to(bounds[1:], indices.shape)
    # float rounding of `start + tick · i` may put an index one frame past a bound: the stretch always holds it
    return np.minimum(lows, indices), np.maximum(highs, indices + 1)


def snap_to_keyframes(
    indices: np.ndarray,
    lows: np.ndarray,
    highs: np.ndarray,
    keyframes: np.ndarray,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """
    `indices` with every index replaced by a keyframe in its stretch `[low, high)` ([`frame_segments`]) where the
    stretch holds one: drawn uniformly among them with `rng`, else the one nearest the index (the earlier on a
    tie). Indices whose stretch holds no keyframe are kept. All arrays share `indices`' shape except `keyframes`,
    the sorted or unsorted positions of the frames that decode on their own.
    """
    indices = np.asarray(indices, dtype=np.int64)
    keyframes = np.unique(np.asarray(keyframes, dtype=np.int64))
    if keyframes.size == 0:
        return indices
    first = np.searchsorted(keyframes, lows, side="left")  # keyframes[first:last] lie in [low, high)
    last = np.searchsorted(keyframes, highs, side="left")
    held = last > first
    if rng is not None:
        choice = first + (rng.random(indices.shape) * (last - first)).astype(np.int64)
    else:
        after = np.clip(np.searchsorted(keyframes, indices, side="left"), first, np.maximum(last - 1, first))
        before = np.maximum(after - 1, first)
        after_distance = np.abs(keyframes[np.minimum(after, keyframes.size - 1)] - indices)
        before_distance = np.abs(keyframes[np.minimum(before, keyframes.size - 1)] - indices)
        choice = np.where(before_distance <= after_distance, before, after)
    snapped = keyframes[np.clip(choice, 0, keyframes.size - 1)]
    return np.where(held, snapped, indices).astype(np.int64)


# ----------------------------------------------------------------------------------------------------------------
# Spatial views on uint8 frames (n, 3, H, W), cut in source coordinates
# ----------------------------------------------------------------------------------------------------------------


def resized_shape(height: int, width: int, short_side: int) -> tuple[int, int]:
    """`(height, width)` after resizing the short side to `short_side`; the long side becomes
    `int(short_side · long / short)`, as torchvision's `Resize(size)` (and the release) compute it."""
    if height <= width:
        return short_side, int(short_side * width / height)
    return int(short_side * height / width), short_side


# A frame is resized whole (the release's order: resize, then crop) when the resized frame holds at most this many times
# the pixels of the views cut from it; beyond that (aspect ratios past ~3.5 : 1 for a centre crop), every view is cut
# in source coordinates first, so that the work stays bounded by the output.
RESIZE_WHOLE_FRAME_MAX_RATIO = 8


def resize_within_budget(
    frames: torch.Tensor,
    resized_size: tuple[int, int],
    output_pixels: int,
    interpolation: tvF.InterpolationMode = tvF.InterpolationMode.BILINEAR,
) -> tuple[torch.Tensor, tuple[int, int]]:
    """
    `frames` `(n, 3, H, W)` resized to `resized_size` when that frame holds at most `RESIZE_WHOLE_FRAME_MAX_RATIO ×
    output_pixels` pixels (`output_pixels`: the pixels of the views to cut, per frame), else unchanged; and the size
    to pass to [`crop_resized`] as `resized_size`. Ordinary frames are thus resized whole, exactly as the release
    does (bilinear with antialiasing, as PIL), and a 2 × 4000 frame is never turned into 256 × 512 000.
    """
    if tuple(frames.shape[-2:]) == tuple(resized_size):
        return frames, tuple(resized_size)
    if resized_size[0] * resized_size[1] > RESIZE_WHOLE_FRAME_MAX_RATIO * output_pixels:
        return frames, tuple(resized_size)
    resized = tvF.resize(frames, list(resized_size), interpolation=interpolation, antialias=True)
    return resized, tuple(resized_size)


def crop_resized(
    frames: torch.Tensor,
    box: tuple[int, int, int, int],
    resized_size: tuple[int, int],
    output_size: tuple[int, int] | None = None,
    interpolation: tvF.InterpolationMode = tvF.InterpolationMode.BILINEAR,
) -> torch.Tensor:
    """
    The region `box = (top, left, height, width)` of `frames` `(n, 3, H, W)` as if the frames were first resized to
    `resized_size` `(H', W')`, returned at `output_size` (default: the box's size), `(n, 3, h_out, w_out)`.

    The box is mapped back to source pixels (`top · H / H'`, ... rounded to the nearest pixel) and only that region
    is resized, with antialiasing (bilinear as the release's PIL resize by default). The work is proportional to the
    output, never to the resized frame: a 2 × 4000 frame "resized" to a short side of 256 would be 256 × 512 000
    pixels, of which a centre crop keeps 224 × 224. Frames already at `resized_size` (see [`resize_within_budget`],
    which resizes ordinary frames whole, as the release) are plainly cropped: the rounding of the box to source
    pixels shifts a view by up to half a source pixel, so it is kept for frames too large to resize whole.
    """
    height, width = frames.shape[-2:]
    top, left, box_height, box_width = box
    out_height, out_width = output_size or (box_height, box_width)
    scale_y, scale_x = height / resized_size[0], width / resized_size[1]
    src_top = min(int(round(top * scale_y)), height - 1)
    src_left = min(int(round(left * scale_x)), width - 1)
    src_bottom = min(max(int(round((top + box_height) * scale_y)), src_top + 1), height)
    src_right = min(max(int(round((left + box_width) * scale_x)), src_left + 1), width)
    region = frames[..., src_top:src_bottom, src_left:src_right]
    if tuple(region.shape[-2:]) == (out_height, out_width):
        return region
    return tvF.resize(region, [out_height, out_width], interpolation=interpolation, antialias=True)


def fixed_crop_offsets(
    image_width: int, image_height: int, crop_width: int, crop_height: int, more_offsets: bool = True
) -> list[tuple[int, int]]:
    """
    The release's fixed crop positions `(left, top)`, on a grid of quarter steps `((W - w) // 4, (H - h) // 4)`:
    the 4 corners and the centre; with `more_offsets`, also the 4 mid-edges and the 4 quarter points (13 in all).
    """
    w_step, h_step = (image_width - crop_width) // 4, (image_height - crop_height) // 4
    grid = [(0, 0), (4, 0), (0, 4), (4, 4), (2, 2)]
    if more_offsets:
        grid += [(0, 2), (4, 2), (2, 4), (2, 0), (1, 1), (3, 1), (1, 3), (3, 3)]
    return [(i * w_step, j * h_step) for i, j in grid]


def center_crop_box(
    image_height: int, image_width: int, crop_height: int, crop_width: int
) -> tuple[int, int, int, int]:
    """`(top, left, height, width)` of the centre crop, rounded as torchvision's `CenterCrop` (used by the release)."""
    crop_height, crop_width = min(crop_height, image_height), min(crop_width, image_width)
    return (
        int(round((image_height - crop_height) / 2.0)),
        int(round((image_width - crop_width) / 2.0)),
        crop_height,
        crop_width,
    )


def three_crop_boxes(image_height: int, image_width: int, crop_size: int) -> list[tuple[int, int, int, int]]:
    """
    Three `(top, left, height, width)` squares along the long side, in the release's order: start (left / top),
    end (right / bottom), centre; positions on the release's quarter-step grid (`4 · ((W - c) // 4)` for the end).
    For landscape frames this is exactly the release; for portrait frames the crops move down the long side (the
    release would return the same crop three times).
    """
    w_step, h_step = (image_width - crop_size) // 4, (image_height - crop_size) // 4
    if image_width >= image_height:
        return [(2 * h_step, i * w_step, crop_size, crop_size) for i in (0, 4, 2)]
    return [(i * h_step, 2 * w_step, crop_size, crop_size) for i in (0, 4, 2)]


def ten_crop_boxes(image_height: int, image_width: int, crop_size: int) -> list[tuple[int, int, int, int]]:
    """Five `(top, left, height, width)` squares: the 4 corners and the centre on the quarter-step grid (each is
    used as is and mirrored for ten crops)."""
    offsets = fixed_crop_offsets(image_width, image_height, crop_size, crop_size, more_offsets=False)
    return [(top, left, crop_size, crop_size) for left, top in offsets]


# ----------------------------------------------------------------------------------------------------------------
# What a call's `videos` argument is
# ----------------------------------------------------------------------------------------------------------------

INPUT_RULES = """\
How `videos` is read (by type and number of dimensions only, so no input has two readings):
- one video: a path or URL, `bytes`, a binary file object, a `datasets` video value (`{"path", "bytes"}` or a
  torchcodec `VideoDecoder`); a 4-D array (numpy `(T, H, W, C)`, torch `(T, C, H, W)`, C in 1, 3, 4); or a list of
  frames: PIL images, gray `(H, W)` arrays, or numpy `(H, W, C)` / torch `(C, H, W)` frames with C in 1, 3, 4;
- a batch: a 5-D array `(B, ...)`, or a list of videos as above.
Refused as ambiguous: 2-D and 3-D arrays given alone (a `(H, W, 3)` image and a gray `(T, H, W)` video have the
same rank: pass a gray video as `(T, H, W, 1)`, an image as a one-frame video `(1, H, W, 3)`), 3-D list items without
that channel axis (a list of gray `(T, H, W)` videos), and lists that mix frames with videos."""


def _is_frame(item: Any, position: int) -> bool:
    """Whether a list item is one frame (True) or one video (False); raises for items that could be either."""
    from PIL import Image

    if isinstance(item, Image.Image):
        return True
    if isinstance(item, (np.ndarray, torch.Tensor)):
        if item.ndim == 2:
            return True
        if item.ndim == 4:
            return False
        channels = item.shape[-1] if isinstance(item, np.ndarray) else item.shape[0]
        if item.ndim == 3 and channels in (1, 3, 4):
            return True
        layout = "(H, W, C)" if isinstance(item, np.ndarray) else "(C, H, W)"
        raise ValueError(
            f"videos[{position}] is an array of shape {tuple(item.shape)}, which is neither a frame {layout} with "
            f"C in 1, 3, 4 nor a 4-D video.\n{INPUT_RULES}"
        )
    return False


def split_videos(videos: Any) -> list[Any]:
    """The videos of a call, one list item per video, read by the rules of `INPUT_RULES`."""
    if videos is None:
        raise ValueError("No video given: pass a path, bytes, frames or a list of them.")
    if isinstance(videos, (np.ndarray, torch.Tensor)):
        if videos.ndim == 5:
            return list(videos)
        if videos.ndim == 4:
            return [videos]
        raise ValueError(f"videos is an array of shape {tuple(videos.shape)}, which is ambiguous.\n{INPUT_RULES}")
    if not isinstance(videos, (list, tuple)):
        return [videos]
    if len(videos) == 0:
        raise ValueError("The list of videos is empty.")
    kinds = [_is_frame(item, position) for position, item in enumerate(videos)]
    if all(kinds):
        return [list(videos)]
    if any(kinds):
        first_frame, first_video = kinds.index(True), kinds.index(False)
        raise ValueError(
            f"videos mixes frames (item {first_frame}) and videos (item {first_video}); give one video's frames or a "
            f"list of videos.\n{INPUT_RULES}"
        )
    for position, item in enumerate(videos):
        if isinstance(item, (list, tuple)) and not all(_is_frame(frame, position) for frame in item):
            raise ValueError(f"videos[{position}] is a list whose items are not all frames.\n{INPUT_RULES}")
    return list(videos)


# ----------------------------------------------------------------------------------------------------------------
# The video processor
# ----------------------------------------------------------------------------------------------------------------

# Settings of transformers' `VideosKwargs` that this processor cannot honour, with the value it runs with and why.
_UNSUPPORTED_SETTINGS: dict[str, tuple[tuple[Any, ...], str]] = {
    "fps": ((None,), "TANet samples a fixed number of frames per clip (num_frames), spread over the whole video"),
    "video_metadata": ((None,), "the frame count is read from the video itself; pass decoded frames or the file"),
    "return_metadata": ((None, False), "no metadata is returned"),
    "do_pad": ((None, False), "every view is cut to a fixed size, nothing is padded"),
    "do_convert_rgb": ((None, True), "frames are always converted to RGB"),
    "input_data_format": ((None,), "the channel axis is read by the rules in INPUT_RULES"),
    "data_format": ((None, "channels_first"), "pixel_values are always (..., 3, H, W)"),
}


# Settings of earlier versions that belonged to training; dropped (with a warning) from configs that still carry them.
_TRAINING_SETTINGS = ("do_flip", "flip_label_map", "multiscale_scales")


class TANetVideoProcessorKwargs(VideosKwargs, total=False):
    """
    Settings of [`TANetVideoProcessor`] beyond the standard video-processor ones.

    Attributes:
        sampling (`str`): `"uniform"` (TSN segments) or `"dense"` (a 64-frame window at stride `64 // T`).
        dense_window (`int`): Length of the dense window (64 in the release).
        default_mode (`str`): Mode of a call that names none: `"eval"` or `"test"` (what the pipeline runs).
        num_test_clips (`int`): Clips sampled in `"test"` mode.
        test_crop (`str`): Spatial views in `"test"` mode: `"center"`, `"three_crop"` or `"ten_crop"`.
        test_crop_size (`int`, *optional*): Side of the test crops; default: the short side (256) for
            `"three_crop"` (the release's full-resolution testing), `crop_size` (224) otherwise.
        decode_backend (`str`): `"auto"` (torchcodec when usable, else PyAV), `"torchcodec"` or `"pyav"`.
        frame_seek (`str`): `"exact"` (the sampled frames) or `"keyframe"` (approximate: each sampled frame moved
            to the nearest keyframe of its segment when there is one; one decoded frame per clip frame).
    """

    sampling: str
    dense_window: int
    default_mode: str
    num_test_clips: int
    test_crop: str
    test_crop_size: int | None
    decode_backend: str
    frame_seek: str


class TANetVideoProcessor(BaseVideoProcessor):
    r"""
    Video processor for TANet: decodes (only the sampled frames), samples frames, crops and normalises as the
    authors' release evaluates and tests. Saved as `video_preprocessor_config.json`.

    Args:
        num_frames (`int`, *optional*, defaults to 8): Frames per clip T; must match the model's `num_frames`.
        sampling (`str`, *optional*, defaults to `"uniform"`): `"uniform"` or `"dense"`, see
            [`sample_frame_indices`].
        dense_window (`int`, *optional*, defaults to 64): Window of dense sampling.
        short_side_size (`int`, *optional*): Shortcut for `size={"shortest_edge": short_side_size}` (default 256).
        crop_size (`int` or `dict`, *optional*, defaults to 224): Evaluation crop (and training crop of the
            augmentation, which reads it from here).
        default_mode (`str`, *optional*, defaults to `"eval"`): Mode of calls that name none.
        num_test_clips (`int`, *optional*, defaults to 1) / test_crop (`str`, *optional*, defaults to `"center"`) /
        test_crop_size (`int`, *optional*): The `"test"` mode views, see [`TANetVideoProcessorKwargs`].
        image_mean / image_std (*optional*, default ImageNet): Normalisation of RGB / 255.
        decode_backend (`str`, *optional*, defaults to `"auto"`): Decoder for encoded videos.
        frame_seek (`str`, *optional*, defaults to `"exact"`): `"keyframe"` samples keyframes near the sampled
            frames (approximate, faster to decode; see the module documentation).
    """

    valid_kwargs = TANetVideoProcessorKwargs
    model_input_names = ["pixel_values"]

    resample = PILImageResampling.BILINEAR
    image_mean = list(IMAGENET_DEFAULT_MEAN)
    image_std = list(IMAGENET_DEFAULT_STD)
    size = {"shortest_edge": 256}
    crop_size = {"height": 224, "width": 224}
    default_to_square = False
    do_resize = True
    do_center_crop = True
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    do_convert_rgb = True
    do_sample_frames = True
    num_frames = 8
    sampling = "uniform"
    dense_window = 64
    default_mode = "eval"
    num_test_clips = 1
    test_crop = "center"
    test_crop_size = None
    decode_backend = "auto"
    frame_seek = "exact"

    def __init__(self, short_side_size: int | None = None, **kwargs: Any) -> None:
        legacy = sorted(name for name in _TRAINING_SETTINGS if kwargs.pop(name, None) is not None)
        if legacy:  # configs saved before augmentation left the processor
            logger.warning(
                "TANetVideoProcessor: ignoring the training settings %s (training augmentation is "
                "tanet_hf.training.augmentation.TrainAugmentation, not a processor setting).",
                legacy,
            )
        if short_side_size is not None:
            kwargs["size"] = {"shortest_edge": short_side_size}
        super().__init__(**kwargs)
        self._check_settings(
            {name: getattr(self, name) for name in TANetVideoProcessorKwargs.__annotations__ if hasattr(self, name)}
        )

    @property
    def short_side_size(self) -> int:
        """Short side the frames are resized to before cropping."""
        return int(self.size.shortest_edge)

    # --- the entry point -----------------------------------------------------------------------------------------

    def preprocess(
        self,
        videos: Any,
        mode: str | None = None,
        frame_sampling_rate: int | None = None,
        return_tensors: str | None = "pt",
        **kwargs: Any,
    ) -> BatchFeature:
        r"""
        Turn one video or a list of videos into model inputs.

        Decoding goes through this package's decoder (only the sampled frames of a file are decoded; bytes, file
        objects and `datasets` values are read as well), so this method replaces the base class's; frame sampling
        and the views are its hooks, [`sample_frames`] and [`_preprocess`].

        Args:
            videos: One video or a batch; how arrays and lists are read is fixed by `INPUT_RULES` (module level):
                numpy `(T, H, W, C)`, torch `(T, C, H, W)`, a list of frames, a path, bytes, ...; 5-D arrays and
                lists of videos are batches; 2-D / 3-D arrays alone are refused as ambiguous.
            mode (`str`, *optional*): `"eval"` or `"test"` (see the module documentation); default `default_mode`.
            frame_sampling_rate (`int`, *optional*): The stride between sampled frames; honoured by dense sampling
                (the window becomes `frame_sampling_rate × num_frames`), refused by uniform sampling, whose stride
                follows from the video's length.
            return_tensors (`str`, *optional*, defaults to `"pt"`): `"pt"` or `"np"`.
            kwargs: Any setting of the processor, for this call only (e.g. `num_frames`, `sampling`,
                `num_test_clips`, `do_sample_frames=False` to use in-memory frames as they are). `fps`,
                `video_metadata`, `return_metadata`, `do_pad`, `input_data_format` and `data_format` are refused
                unless left at the value this processor runs with.

        Returns:
            [`BatchFeature`] with `pixel_values` of shape `(B, T, 3, H, W)` (`"eval"`) or `(B, V, T, 3, H, W)`
            (`"test"`, `V = num_test_clips × crops`, crop-major: every clip of the first crop, then of the
            second, ...), float32 normalised.

        Raises:
            [`VideoDecodeError`] (a `ValueError`) for files that cannot be decoded; `ValueError` for bad settings
            and ambiguous inputs.
        """
        settings = self._call_settings(kwargs, frame_sampling_rate)
        mode = settings["default_mode"] if mode is None else mode
        if mode == "train":
            raise ValueError(
                "mode='train' is no longer a processor mode: training augmentation (random offsets, multi-scale crop, "
                "flip with the label swap) is tanet_hf.training.augmentation.TrainAugmentation, applied by "
                "tanet_hf.training.loading.VideoClipDataset(..., mode='train')."
            )
        if mode not in PROCESSOR_MODES:
            raise ValueError(f"mode={mode!r} is not supported; expected one of {list(PROCESSOR_MODES)}.")
        clips = [self._decode(video, mode, settings) for video in split_videos(videos)]
        return self._preprocess(clips, mode=mode, return_tensors=return_tensors, **settings)

    def __call__(self, videos: Any = None, **kwargs: Any) -> BatchFeature:
        return self.preprocess(videos, **kwargs)

    # --- HF hooks ---------------------------------------------------------------------------------------------------

    def sample_frames(
        self,
        metadata: Any,
        num_frames: int | None = None,
        fps: Any = None,
        mode: str = "eval",
        sampling: str | None = None,
        dense_window: int | None = None,
        num_test_clips: int | None = None,
        keyframes: np.ndarray | None = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """
        Frame indices `(K · T,)` of the `K` clips of `mode` (`K = num_test_clips` in `"test"`, 1 in `"eval"`),
        clip after clip, for a video of `metadata.total_num_frames` frames (transformers' `VideoMetadata`, a dict
        with that key, or the count itself); settings default to the processor's. With `keyframes` (positions of
        the frames that decode on their own), each index moves to the nearest keyframe of its segment. See
        [`sample_frame_indices`].
        """
        if fps is not None:
            raise ValueError(f"fps={fps!r} is not supported: {_UNSUPPORTED_SETTINGS['fps'][1]}.")
        if isinstance(metadata, (int, np.integer)):
            total = int(metadata)
        elif isinstance(metadata, dict):
            total = metadata["total_num_frames"]
        else:
            total = metadata.total_num_frames
        if total is None:
            raise ValueError("sample_frames needs the video's total_num_frames in its metadata.")
        clips = (num_test_clips or self.num_test_clips) if mode == "test" else 1
        return sample_frame_indices(
            int(total),
            num_frames or self.num_frames,
            sampling or self.sampling,
            mode,
            clips,
            dense_window or self.dense_window,
            keyframes=keyframes,
        ).reshape(-1)

    def _preprocess(
        self,
        videos: list[torch.Tensor],
        mode: str = "eval",
        return_tensors: str | None = "pt",
        **settings: Any,
    ) -> BatchFeature:
        """
        `videos`: one `(K · T, 3, H, W)` uint8 tensor per video (the K sampled clips, clip after clip; without
        frame sampling K = 1 and T = all given frames) → `pixel_values` `(B, T, 3, h, w)` (`"eval"`) or
        `(B, V, T, 3, h, w)` (`"test"`).
        """
        per_video = [self._views(frames, mode, settings) for frames in videos]
        shapes = {tuple(views.shape) for views in per_video}
        if len(shapes) > 1:
            raise ValueError(f"The videos gave views of different shapes {sorted(shapes)}; batch videos one by one.")
        stacked = torch.stack(per_video)  # (B, V, T, 3, h, w)
        if mode != "test":
            stacked = stacked[:, 0]
        return BatchFeature(data={"pixel_values": stacked}, tensor_type=return_tensors)

    def normalize_frames(self, frames: torch.Tensor, settings: dict[str, Any] | None = None) -> torch.Tensor:
        """uint8 RGB `(..., 3, H, W)` → float32 `(frames / 255 − mean) / std` with the processor's (or the call's)
        settings. Also used by the training augmentation, so that training and inference normalise alike."""
        settings = settings or self._call_settings({}, None)
        return self.rescale_and_normalize(
            frames.contiguous(),
            settings["do_rescale"],
            settings["rescale_factor"],
            settings["do_normalize"],
            settings["image_mean"],
            settings["image_std"],
        ).float()

    # --- internals --------------------------------------------------------------------------------------------------

    def _call_settings(self, kwargs: dict[str, Any], frame_sampling_rate: int | None) -> dict[str, Any]:
        """The processor's settings with the call's `kwargs` applied, standardised and checked."""
        names = self.valid_kwargs.__annotations__
        unknown = sorted(set(kwargs) - set(names))
        if unknown:
            raise ValueError(
                f"{type(self).__name__} got unknown arguments {unknown}; valid settings are {sorted(names)} plus "
                "mode, frame_sampling_rate, return_tensors."
            )
        for name, (allowed, reason) in _UNSUPPORTED_SETTINGS.items():
            if name in kwargs and kwargs[name] not in allowed:
                raise ValueError(f"{name}={kwargs[name]!r} is not supported by {type(self).__name__}: {reason}.")
        settings = {name: kwargs.get(name, getattr(self, name, None)) for name in names if name != "return_tensors"}
        settings.update(
            self._standardize_kwargs(**{k: settings[k] for k in ("size", "crop_size", "image_mean", "image_std")})
        )
        if frame_sampling_rate is not None:
            rate = _check_positive_int("frame_sampling_rate", frame_sampling_rate)
            if settings["sampling"] != "dense":
                raise ValueError(
                    f"frame_sampling_rate={frame_sampling_rate!r} needs sampling='dense' (frames at a fixed stride); "
                    f"this call samples {settings['sampling']!r}, one frame per segment of the whole video."
                )
            settings["dense_window"] = rate * _check_positive_int("num_frames", settings["num_frames"])
        self._check_settings(settings)
        return settings

    def _check_settings(self, settings: dict[str, Any]) -> None:
        choices = {
            "sampling": SAMPLING_STRATEGIES,
            "test_crop": TEST_CROPS,
            "decode_backend": DECODING_BACKENDS,
            "frame_seek": FRAME_SEEK_MODES,
            "default_mode": PROCESSOR_MODES,
        }
        for name, allowed in choices.items():
            if name in settings and settings[name] not in allowed:
                raise ValueError(
                    f"{type(self).__name__}.{name}={settings[name]!r} is not supported; expected one of {list(allowed)}."
                )
        for name in ("num_frames", "num_test_clips", "dense_window"):
            if name in settings:
                _check_positive_int(f"{type(self).__name__}.{name}", settings[name])
        if settings.get("test_crop_size") is not None:
            _check_positive_int(f"{type(self).__name__}.test_crop_size", settings["test_crop_size"])
        size = settings.get("size")
        if size is not None and getattr(size, "shortest_edge", None) is None:
            raise ValueError(f"{type(self).__name__}.size must be {{'shortest_edge': n}}, got {size!r}.")

    def _decode(self, video: Any, mode: str, settings: dict[str, Any]) -> torch.Tensor:
        """One video → its sampled frames `(K · T, 3, H, W)` uint8 (on `settings["device"]` when set)."""
        if settings["do_sample_frames"]:

            def indices_fn(total: int, keyframes: np.ndarray | None = None) -> np.ndarray:
                return self.sample_frames(
                    total,
                    num_frames=settings["num_frames"],
                    mode=mode,
                    sampling=settings["sampling"],
                    dense_window=settings["dense_window"],
                    num_test_clips=settings["num_test_clips"],
                    keyframes=keyframes,
                )
        else:
            if is_encoded_video(video):
                name = describe_video_source(video)
                raise ValueError(f"{name}: do_sample_frames=False needs frames in memory, not an encoded video.")

            def indices_fn(total: int, keyframes: np.ndarray | None = None) -> np.ndarray:
                return np.arange(total, dtype=np.int64)

        decoded = decode_video_frames(
            video, indices_fn, backend=settings["decode_backend"], frame_seek=settings["frame_seek"]
        )
        frames = decoded.frames
        return frames if settings["device"] is None else frames.to(settings["device"])

    def _views(self, frames: torch.Tensor, mode: str, settings: dict[str, Any]) -> torch.Tensor:
        """`(K · T, 3, H, W)` uint8 → `(V, T, 3, h, w)` float32 normalised views, crop-major over the K clips."""
        clips = settings["num_test_clips"] if mode == "test" and settings["do_sample_frames"] else 1
        height, width = frames.shape[-2:]
        resized = (height, width)
        if settings["do_resize"]:
            resized = resized_shape(height, width, int(settings["size"].shortest_edge))
        interpolation = interpolation_mode(settings["resample"])
        boxes = self._view_boxes(mode, resized, settings)
        distinct = {box for box, _ in boxes}
        frames, resized = resize_within_budget(frames, resized, sum(h * w for _, _, h, w in distinct), interpolation)
        views = [
            crop_resized(frames, box, resized, interpolation=interpolation).flip(-1)
            if mirrored
            else crop_resized(frames, box, resized, interpolation=interpolation)
            for box, mirrored in boxes
        ]
        # every spatial view holds all clips: (K * T, 3, h, w) → (K, T, 3, h, w); views crop-major
        stacked = torch.stack(views).reshape(len(views) * clips, frames.shape[0] // clips, *views[0].shape[-3:])
        return self.normalize_frames(stacked, settings)

    @staticmethod
    def _view_boxes(
        mode: str, resized: tuple[int, int], settings: dict[str, Any]
    ) -> list[tuple[tuple[int, int, int, int], bool]]:
        """The `((top, left, height, width), mirrored)` views of `mode`, in the coordinates of the resized frame."""
        height, width = resized
        crop: SizeDict = settings["crop_size"]
        if mode == "eval" or settings["test_crop"] == "center":
            if not settings["do_center_crop"]:
                return [((0, 0, height, width), False)]
            side_h, side_w = crop.height, crop.width
            if mode == "test" and settings["test_crop_size"]:
                side_h = side_w = settings["test_crop_size"]
            return [(center_crop_box(height, width, side_h, side_w), False)]
        if settings["test_crop"] == "three_crop":
            side = settings["test_crop_size"] or int(settings["size"].shortest_edge)
            return [(box, False) for box in three_crop_boxes(height, width, min(side, height, width))]
        side = settings["test_crop_size"] or crop.height  # ten_crop: five crops, each followed by its mirror
        return [
            (box, mirrored) for box in ten_crop_boxes(height, width, min(side, height, width)) for mirrored in (0, 1)
        ]


def interpolation_mode(resample: Any) -> tvF.InterpolationMode:
    """torchvision's interpolation for a `resample` setting (PIL constant, its int value, or a torchvision mode)."""
    if resample is None:
        return tvF.InterpolationMode.BILINEAR
    if isinstance(resample, tvF.InterpolationMode):
        return resample
    return pil_torch_interpolation_mapping[PILImageResampling(resample)]


__all__ = [
    "TANetVideoProcessor",
    "TANetVideoProcessorKwargs",
    "VideoDecodeError",
    "INPUT_RULES",
    "sample_frame_indices",
    "frame_segments",
    "snap_to_keyframes",
    "split_videos",
    "resized_shape",
    "crop_resized",
    "resize_within_budget",
    "RESIZE_WHOLE_FRAME_MAX_RATIO",
    "interpolation_mode",
    "fixed_crop_offsets",
    "center_crop_box",
    "three_crop_boxes",
    "ten_crop_boxes",
    "SAMPLING_STRATEGIES",
    "SAMPLING_MODES",
    "FRAME_SEEK_MODES",
    "PROCESSOR_MODES",
    "TEST_CROPS",
]
