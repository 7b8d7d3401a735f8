# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Video processor for TANet: frame sampling, crops and normalisation as in the authors' release.

Frame indices are 0-based throughout (the release reads 1-based JPEG files and adds 1 at the end).
"""

from __future__ import annotations

import numpy as np

SAMPLING_STRATEGIES = ("uniform", "dense")
SAMPLING_MODES = ("train", "eval", "test")


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


__all__ = ["sample_frame_indices", "SAMPLING_STRATEGIES", "SAMPLING_MODES"]
