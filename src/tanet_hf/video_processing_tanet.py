# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Video processor for TANet: frame sampling, crops and normalisation as in the authors' release.

Three modes share one implementation:

- `"train"`: random frame sampling, multi-scale crop (scales 1, .875, .75, .66 of the short side, one of 13 fixed
  offsets) resized to `crop_size`, horizontal flip with probability 0.5 (labels swapped through
  `flip_label_map`);
- `"eval"`: one clip sampled deterministically, short side resized to 256, centre crop 224 (the release's
  validation during training);
- `"test"`: `num_test_clips` clips × `test_crop` crops (`"center"`, `"three_crop"` of 256, `"ten_crop"` of 224),
  the released test protocols; output `(batch, views, T, 3, H, W)`, fused by the model.

Frame indices are 0-based throughout (the release reads 1-based JPEG files and adds 1 at the end).
"""

from __future__ import annotations

import os
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
from transformers.video_processing_utils import BaseVideoProcessor

from .video_decoding_tanet import (
    DECODING_BACKENDS,
    VideoDecodeError,
    decode_video_frames,
    describe_video_source,
    is_encoded_video,
)

SAMPLING_STRATEGIES = ("uniform", "dense")
SAMPLING_MODES = ("train", "eval", "test")
TEST_CROPS = ("center", "three_crop", "ten_crop")
MULTISCALE_SCALES = (1.0, 0.875, 0.75, 0.66)

# Something-Something classes whose meaning a horizontal flip reverses ("... from left to right" ↔ "... from right to
# left"), as listed in the authors' release. The release trains v1 without flipping and v2 with this map.
STHV1_FLIP_LABEL_MAP = {3: 5, 5: 3, 31: 42, 42: 31, 53: 67, 67: 53}
STHV2_FLIP_LABEL_MAP = {86: 87, 87: 86, 93: 94, 94: 93, 166: 167, 167: 166}

# The released test protocols (REFERENCE.md §5) and training augmentation of each dataset.
PRESETS: dict[str, dict[str, Any]] = {
    "kinetics400": dict(sampling="dense", num_test_clips=10, test_crop="three_crop", do_flip=True, flip_label_map=None),
    "sthv1": dict(
        sampling="uniform", num_test_clips=1, test_crop="center", do_flip=False, flip_label_map=STHV1_FLIP_LABEL_MAP
    ),
    "sthv2": dict(
        sampling="uniform", num_test_clips=2, test_crop="three_crop", do_flip=True, flip_label_map=STHV2_FLIP_LABEL_MAP
    ),
}


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
) -> np.ndarray:
    r"""
    Frame indices of `num_clips` clips of `num_frames` frames each, as the authors' release samples them.

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
        mode (`str`): `"train"` (random), `"eval"` or `"test"` (deterministic).
        num_clips (`int`): Clips `K` to sample (multi-clip testing).
        dense_window (`int`): Length of the dense window; 64 in the release.
        rng (`np.random.Generator`, *optional*): Random source for `"train"`; a fresh unseeded one if `None`.

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

    steps = np.arange(t, dtype=np.int64)
    if n < t:
        return np.tile(steps % n, (k, 1))
    if mode == "train" and rng is None:
        rng = np.random.default_rng()

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


# ----------------------------------------------------------------------------------------------------------------
# Spatial transforms on uint8 frames (n, 3, H, W)
# ----------------------------------------------------------------------------------------------------------------


def resize_short_side(
    frames: torch.Tensor, size: int, interpolation: tvF.InterpolationMode = tvF.InterpolationMode.BILINEAR
) -> torch.Tensor:
    """
    Resize `(n, 3, H, W)` frames so that the short side is `size` (the long side becomes `int(size · long / short)`,
    as torchvision's `Resize(size)`), with antialiasing; bilinear as the release (PIL's bilinear) by default.
    """
    height, width = frames.shape[-2:]
    if min(height, width) == size:
        return frames
    return tvF.resize(frames, [size], interpolation=interpolation, antialias=True)


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


def sample_multiscale_crop(
    image_height: int,
    image_width: int,
    output_size: tuple[int, int],
    scales: tuple[float, ...] | list[float],
    rng: np.random.Generator,
    max_distort: int = 1,
) -> tuple[int, int, int, int]:
    """
    The release's multi-scale crop box `(top, left, height, width)`.

    Candidate sides are `int(short_side · s)` for every scale `s`, snapped to the output side when within 3 pixels;
    a `(width, height)` pair is drawn among those whose scale indices differ by at most `max_distort`, then a
    position among the 13 [`fixed_crop_offsets`]. The crop is later resized to `output_size` `(height, width)`.
    """
    out_height, out_width = output_size
    base = min(image_height, image_width)
    sides = [int(base * scale) for scale in scales]
    heights = [out_height if abs(side - out_height) < 3 else side for side in sides]
    widths = [out_width if abs(side - out_width) < 3 else side for side in sides]
    pairs = [
        (min(w, image_width), min(h, image_height))
        for i, h in enumerate(heights)
        for j, w in enumerate(widths)
        if abs(i - j) <= max_distort
    ]
    crop_width, crop_height = pairs[int(rng.integers(len(pairs)))]
    offsets = fixed_crop_offsets(image_width, image_height, crop_width, crop_height, more_offsets=True)
    left, top = offsets[int(rng.integers(len(offsets)))]
    return top, left, crop_height, crop_width


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


def _crop(frames: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    top, left, height, width = box
    return frames[..., top : top + height, left : left + width]


# ----------------------------------------------------------------------------------------------------------------
# The video processor
# ----------------------------------------------------------------------------------------------------------------


class TANetVideoProcessorKwargs(VideosKwargs, total=False):
    """
    Settings of [`TANetVideoProcessor`] beyond the standard video-processor ones.

    Attributes:
        sampling (`str`): `"uniform"` (TSN segments) or `"dense"` (a 64-frame window at stride `64 // T`).
        dense_window (`int`): Length of the dense window (64 in the release).
        num_test_clips (`int`): Clips sampled in `"test"` mode.
        test_crop (`str`): Spatial views in `"test"` mode: `"center"`, `"three_crop"` or `"ten_crop"`.
        test_crop_size (`int`, *optional*): Side of the test crops; default: the short side (256) for
            `"three_crop"` (the release's full-resolution testing), `crop_size` (224) otherwise.
        multiscale_scales (`list[float]`): Crop scales of the training multi-scale crop.
        do_flip (`bool`): Random horizontal flip in training.
        flip_label_map (`dict[int, int]`, *optional*): Labels swapped when a training clip is flipped.
        decode_backend (`str`): `"auto"` (torchcodec when usable, else PyAV), `"torchcodec"` or `"pyav"`.
    """

    sampling: str
    dense_window: int
    num_test_clips: int
    test_crop: str
    test_crop_size: int | None
    multiscale_scales: list[float] | tuple[float, ...]
    do_flip: bool
    flip_label_map: dict[int, int] | dict[str, int] | None
    decode_backend: str


class TANetVideoProcessor(BaseVideoProcessor):
    r"""
    Video processor for TANet: decodes (only the sampled frames), samples frames, crops and normalises as the
    authors' release does. Saved as `video_preprocessor_config.json` (plus a `preprocessor_config.json` for
    [`TANetImageProcessor`], so that `AutoImageProcessor` works on the same folder).

    Args:
        num_frames (`int`, *optional*, defaults to 8): Frames per clip T; must match the model's `num_frames`.
        sampling (`str`, *optional*, defaults to `"uniform"`): `"uniform"` or `"dense"`, see
            [`sample_frame_indices`].
        dense_window (`int`, *optional*, defaults to 64): Window of dense sampling.
        short_side_size (`int`, *optional*): Shortcut for `size={"shortest_edge": short_side_size}` (default 256).
        crop_size (`int` or `dict`, *optional*, defaults to 224): Training and evaluation crop.
        num_test_clips (`int`, *optional*, defaults to 1) / test_crop (`str`, *optional*, defaults to `"center"`) /
        test_crop_size (`int`, *optional*): The `"test"` mode views, see [`TANetVideoProcessorKwargs`].
        multiscale_scales (`list[float]`, *optional*, defaults to `[1, .875, .75, .66]`),
        do_flip (`bool`, *optional*, defaults to `True`),
        flip_label_map (`dict[int, int]`, *optional*): Training augmentation.
        image_mean / image_std (*optional*, default ImageNet): Normalisation of RGB / 255.
        decode_backend (`str`, *optional*, defaults to `"auto"`): Decoder for encoded videos.

    Use [`TANetVideoProcessor.from_preset`] for the released protocols (`"kinetics400"`, `"sthv1"`, `"sthv2"`).
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
    num_test_clips = 1
    test_crop = "center"
    test_crop_size = None
    multiscale_scales = list(MULTISCALE_SCALES)
    do_flip = True
    flip_label_map = None
    decode_backend = "auto"

    def __init__(self, short_side_size: int | None = None, **kwargs: Any) -> None:
        if short_side_size is not None:
            kwargs["size"] = {"shortest_edge": short_side_size}
        super().__init__(**kwargs)
        self.flip_label_map = _int_label_map(self.flip_label_map)
        self.multiscale_scales = [float(scale) for scale in self.multiscale_scales]
        self._check_settings(
            {name: getattr(self, name) for name in TANetVideoProcessorKwargs.__annotations__ if hasattr(self, name)}
        )

    @property
    def short_side_size(self) -> int:
        """Short side the frames are resized to before cropping."""
        return int(self.size.shortest_edge)

    @classmethod
    def from_preset(cls, name: str, num_frames: int = 8, **overrides: Any) -> TANetVideoProcessor:
        """
        The processor for a released protocol: `"kinetics400"` (dense sampling, 10 clips × 3 crops of 256, flip),
        `"sthv1"` (uniform, 1 clip × centre crop 224, no flip), `"sthv2"` (uniform, 2 clips × 3 crops of 256, flip
        swapping the direction classes 86↔87, 93↔94, 166↔167). `overrides` replace any setting.
        """
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; expected one of {sorted(PRESETS)}.")
        settings = {**PRESETS[name], "num_frames": num_frames, **overrides}
        return cls(**settings)

    # --- the entry point -----------------------------------------------------------------------------------------

    def preprocess(
        self,
        videos: Any,
        mode: str = "eval",
        seed: int | None = None,
        labels: Any = None,
        return_tensors: str | None = "pt",
        **kwargs: Any,
    ) -> BatchFeature:
        r"""
        Turn one video or a list of videos into model inputs.

        Args:
            videos: One video or a list. A video is a file path or URL, `bytes`, a binary file object, a numpy array
                `(T, H, W, 3)` (or gray `(T, H, W)`, RGBA), a torch tensor `(T, 3, H, W)`, a list of PIL images, or
                a `datasets` video value (`{"path", "bytes"}` dict, or a torchcodec `VideoDecoder`).
            mode (`str`): `"train"`, `"eval"` or `"test"` (see the module documentation).
            seed (`int`, *optional*): Seeds the random choices of `"train"` mode (same seed, same output); fresh
                randomness when `None`.
            labels (*optional*): One integer label per video; returned under `"labels"`, swapped through
                `flip_label_map` for clips flipped in training.
            return_tensors (`str`, *optional*, defaults to `"pt"`): `"pt"` or `"np"`.
            kwargs: Any setting of the processor, for this call only (e.g. `num_frames`, `sampling`,
                `num_test_clips`, `do_sample_frames=False` to use in-memory frames as they are).

        Returns:
            [`BatchFeature`] with `pixel_values` of shape `(B, T, 3, H, W)` (`"train"`, `"eval"`) or
            `(B, V, T, 3, H, W)` (`"test"`, `V = num_test_clips × crops`, crop-major: every clip of the first
            crop, then of the second, ...), float32 normalised; and `labels` `(B,)` `int64` when given.

        Raises:
            [`VideoDecodeError`] (a `ValueError`) for files that cannot be decoded; `ValueError` for bad settings.
        """
        if mode not in SAMPLING_MODES:
            raise ValueError(f"mode={mode!r} is not supported; expected one of {list(SAMPLING_MODES)}.")
        unknown = sorted(set(kwargs) - set(self.valid_kwargs.__annotations__))
        if unknown:
            raise ValueError(
                f"{type(self).__name__} got unknown arguments {unknown}; valid settings are "
                f"{sorted(self.valid_kwargs.__annotations__)} plus mode, seed, labels, return_tensors."
            )
        settings = {name: kwargs.get(name, getattr(self, name, None)) for name in self.valid_kwargs.__annotations__}
        settings.update(
            self._standardize_kwargs(**{k: settings[k] for k in ("size", "crop_size", "image_mean", "image_std")})
        )
        settings["flip_label_map"] = _int_label_map(settings["flip_label_map"])
        self._check_settings(settings)

        batch = _split_batch(videos)
        label_list = _split_labels(labels, len(batch))
        rng = np.random.default_rng(seed) if mode == "train" else None

        pixel_values, out_labels = [], []
        for position, video in enumerate(batch):
            views, flipped = self._process_video(video, mode, rng, settings)
            pixel_values.append(views)
            if label_list is not None:
                label = label_list[position]
                if flipped and settings["flip_label_map"]:
                    label = settings["flip_label_map"].get(label, label)
                out_labels.append(label)

        shapes = {tuple(views.shape) for views in pixel_values}
        if len(shapes) > 1:
            raise ValueError(f"The videos gave views of different shapes {sorted(shapes)}; batch videos one by one.")
        stacked = torch.stack(pixel_values)  # (B, V, T, 3, H, W)
        if mode != "test":
            stacked = stacked[:, 0]
        data: dict[str, Any] = {"pixel_values": stacked}
        if label_list is not None:
            data["labels"] = torch.tensor(out_labels, dtype=torch.long)
        return BatchFeature(data=data, tensor_type=return_tensors)

    def __call__(self, videos: Any = None, **kwargs: Any) -> BatchFeature:
        return self.preprocess(videos, **kwargs)

    # --- HF hooks ---------------------------------------------------------------------------------------------------

    def sample_frames(self, metadata: Any, num_frames: int | None = None, fps: Any = None, **kwargs: Any) -> np.ndarray:
        """Evaluation frame indices `(T,)` for a video described by transformers' `VideoMetadata`
        (`total_num_frames`), for code that drives the base class's sampling hook."""
        total = int(getattr(metadata, "total_num_frames", None) or metadata["total_num_frames"])
        return sample_frame_indices(
            total, num_frames or self.num_frames, self.sampling, "eval", dense_window=self.dense_window
        ).reshape(-1)

    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **kwargs: Any):
        """Write `video_preprocessor_config.json` and, for `AutoImageProcessor`, `preprocessor_config.json` of the
        equivalent [`TANetImageProcessor`] (and, when registered for auto classes, both code files)."""
        from .image_processing_tanet import TANetImageProcessor

        files = super().save_pretrained(save_directory)
        image_processor = TANetImageProcessor.from_video_processor(self)
        if self._auto_class is not None and TANetImageProcessor._auto_class is None:
            TANetImageProcessor.register_for_auto_class()
        files += image_processor.save_pretrained(save_directory)
        if push_to_hub:
            from huggingface_hub import HfApi

            api = HfApi(token=kwargs.get("token"))
            repo_id = kwargs.get("repo_id") or os.path.basename(os.path.normpath(save_directory))
            repo_id = api.create_repo(repo_id, exist_ok=True, private=kwargs.get("private")).repo_id
            api.upload_folder(
                repo_id=repo_id,
                folder_path=save_directory,
                allow_patterns=["video_preprocessor_config.json", "preprocessor_config.json", "*.py"],
                commit_message=kwargs.get("commit_message") or "Upload TANet video processor",
                revision=kwargs.get("revision"),
                create_pr=kwargs.get("create_pr", False),
            )
        return files

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        if output.get("flip_label_map") is not None:  # JSON keys are strings; __init__ turns them back into ints
            output["flip_label_map"] = {str(k): int(v) for k, v in output["flip_label_map"].items()}
        return output

    # --- internals --------------------------------------------------------------------------------------------------

    def _check_settings(self, settings: dict[str, Any]) -> None:
        choices = {"sampling": SAMPLING_STRATEGIES, "test_crop": TEST_CROPS, "decode_backend": DECODING_BACKENDS}
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
        scales = settings.get("multiscale_scales")
        if scales is not None and (len(scales) == 0 or any(not 0 < float(scale) <= 1 for scale in scales)):
            raise ValueError(
                f"{type(self).__name__}.multiscale_scales must be non-empty values in (0, 1], got {scales!r}."
            )

    def _process_video(
        self, video: Any, mode: str, rng: np.random.Generator | None, settings: dict[str, Any]
    ) -> tuple[torch.Tensor, bool]:
        """One video → `(V, T, 3, H, W)` float32 views, and whether the (training) clip was flipped."""
        num_frames = settings["num_frames"]
        num_clips = settings["num_test_clips"] if mode == "test" else 1
        name = describe_video_source(video)
        if settings["do_sample_frames"]:

            def indices_fn(total: int) -> np.ndarray:
                return sample_frame_indices(
                    total, num_frames, settings["sampling"], mode, num_clips, settings["dense_window"], rng
                )
        else:
            if is_encoded_video(video):
                raise ValueError(f"{name}: do_sample_frames=False needs frames in memory, not an encoded video.")
            num_clips = 1

            def indices_fn(total: int) -> np.ndarray:
                return np.arange(total, dtype=np.int64)[None]

        decoded = decode_video_frames(video, indices_fn, backend=settings["decode_backend"])
        frames = decoded.frames  # (clips * T', 3, H, W) uint8
        clip_length = decoded.indices.shape[-1]
        if settings["device"] is not None:
            frames = frames.to(settings["device"])

        interpolation = _interpolation(settings["resample"])
        if settings["do_resize"]:
            frames = resize_short_side(frames, int(settings["size"].shortest_edge), interpolation)
        height, width = frames.shape[-2:]
        crop: SizeDict = settings["crop_size"]
        flipped = False

        if mode == "train":
            top, left, box_h, box_w = sample_multiscale_crop(
                height, width, (crop.height, crop.width), settings["multiscale_scales"], rng
            )
            frames = tvF.resize(
                _crop(frames, (top, left, box_h, box_w)),
                [crop.height, crop.width],
                interpolation=interpolation,
                antialias=True,
            )
            if settings["do_flip"] and rng.random() < 0.5:
                frames = frames.flip(-1)
                flipped = True
            views = [frames]
        elif mode == "eval" or settings["test_crop"] == "center":
            box_h, box_w = crop.height, crop.width
            if mode == "test" and settings["test_crop_size"]:
                box_h = box_w = settings["test_crop_size"]
            views = (
                [_crop(frames, center_crop_box(height, width, box_h, box_w))]
                if settings["do_center_crop"]
                else [frames]
            )
        elif settings["test_crop"] == "three_crop":
            side = settings["test_crop_size"] or int(settings["size"].shortest_edge)
            views = [_crop(frames, box) for box in three_crop_boxes(height, width, min(side, height, width))]
        else:  # ten_crop
            side = settings["test_crop_size"] or crop.height
            views = []
            for box in ten_crop_boxes(height, width, min(side, height, width)):
                view = _crop(frames, box)
                views += [view, view.flip(-1)]

        # every spatial view holds all clips: (clips * T, 3, h, w) → (clips, T, 3, h, w); views crop-major
        stacked = torch.stack(views).reshape(len(views) * num_clips, clip_length, *views[0].shape[-3:])
        normalised = self.rescale_and_normalize(
            stacked.contiguous(),
            settings["do_rescale"],
            settings["rescale_factor"],
            settings["do_normalize"],
            settings["image_mean"],
            settings["image_std"],
        )
        return normalised.float(), flipped


def _interpolation(resample: Any) -> tvF.InterpolationMode:
    """torchvision's interpolation for a `resample` setting (PIL constant, its int value, or a torchvision mode)."""
    if resample is None:
        return tvF.InterpolationMode.BILINEAR
    if isinstance(resample, tvF.InterpolationMode):
        return resample
    return pil_torch_interpolation_mapping[PILImageResampling(resample)]


def _int_label_map(label_map: Any) -> dict[int, int] | None:
    if label_map is None:
        return None
    if not isinstance(label_map, dict):
        raise ValueError(f"flip_label_map must be a dict of label → label, got {type(label_map).__name__}.")
    try:
        return {int(key): int(value) for key, value in label_map.items()}
    except (TypeError, ValueError) as error:
        raise ValueError(f"flip_label_map must map integer labels to integer labels, got {label_map!r}.") from error


def _is_frame(item: Any) -> bool:
    """A single picture (PIL image, or an (H, W[, C]) array) rather than a video."""
    from PIL import Image

    if isinstance(item, Image.Image):
        return True
    return isinstance(item, (np.ndarray, torch.Tensor)) and item.ndim in (2, 3)


def _split_batch(videos: Any) -> list[Any]:
    """A list of videos from one video or a batch (a list of frames is one video; a 5D array is a batch)."""
    if videos is None:
        raise ValueError("No video given: pass a path, bytes, frames or a list of them.")
    if isinstance(videos, (np.ndarray, torch.Tensor)):
        if videos.ndim == 5:
            return list(videos)
        return [videos]
    if isinstance(videos, (list, tuple)):
        if len(videos) == 0:
            raise ValueError("The list of videos is empty.")
        if _is_frame(videos[0]):
            return [list(videos)]
        return list(videos)
    return [videos]


def _split_labels(labels: Any, batch_size: int) -> list[int] | None:
    if labels is None:
        return None
    if isinstance(labels, torch.Tensor):
        labels = labels.tolist()
    elif isinstance(labels, np.ndarray):
        labels = labels.tolist()
    if isinstance(labels, (int, np.integer)):
        labels = [int(labels)]
    labels = list(labels)
    if len(labels) != batch_size:
        raise ValueError(f"Got {len(labels)} labels for {batch_size} videos; give one label per video.")
    try:
        return [int(label) for label in labels]
    except (TypeError, ValueError) as error:
        raise ValueError(f"labels must be integers, got {labels!r}.") from error


__all__ = [
    "TANetVideoProcessor",
    "TANetVideoProcessorKwargs",
    "VideoDecodeError",
    "sample_frame_indices",
    "resize_short_side",
    "sample_multiscale_crop",
    "fixed_crop_offsets",
    "center_crop_box",
    "three_crop_boxes",
    "ten_crop_boxes",
    "PRESETS",
    "STHV1_FLIP_LABEL_MAP",
    "STHV2_FLIP_LABEL_MAP",
    "SAMPLING_STRATEGIES",
    "SAMPLING_MODES",
    "TEST_CROPS",
]
