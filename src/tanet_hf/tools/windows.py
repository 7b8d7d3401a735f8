"""
Sliding windows of `T` sampled frames along a video, decoded in one pass with PyAV.

Window `k` covers frames `[k·S, k·S + L)` with `L = round(window_seconds · fps)` and `S = round(stride_seconds ·
fps)` (the stream's average frame rate); it samples the middle frame of each of `T` equal segments,
`k·S + floor((i + ½)·L / T)` for `i = 0 … T-1` (the processor's uniform evaluation sampling, applied to the window).
Only the sampled frames of windows still open are held, at most `ceil(L / S)·T` frames: memory stays flat however
long the video is. Frames after the last complete window (less than one stride) are not scored.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ..video_decoding_tanet import VideoDecodeError


@dataclass(frozen=True)
class WindowPlan:
    """Window length `window_frames` (L) and stride `stride_frames` (S) in frames at `fps`, `num_frames` (T) each."""

    fps: float
    window_frames: int
    stride_frames: int
    num_frames: int

    @classmethod
    def from_seconds(
        cls, name: str, fps: float, window_seconds: float, stride_seconds: float, num_frames: int
    ) -> WindowPlan:
        """The plan for a video at `fps`; `ValueError` naming the video when the window holds fewer than T frames."""
        window_frames = round(window_seconds * fps)
        stride_frames = round(stride_seconds * fps)
        if window_frames < num_frames:
            raise ValueError(
                f"{name}: a window of {window_seconds:g} s at {fps:g} fps holds {window_frames} frames, fewer than "
                f"the model's T={num_frames}; TAM needs T distinct frames per window "
                f"(use --window-seconds >= {num_frames / fps:.3f})."
            )
        if stride_frames < 1:
            raise ValueError(f"{name}: a stride of {stride_seconds:g} s at {fps:g} fps is less than one frame.")
        return cls(float(fps), window_frames, stride_frames, num_frames)

    def sample(self, window: int) -> np.ndarray:
        """Frame indices `(T,)` of window `window`: the middle frame of each of T segments."""
        start = window * self.stride_frames
        return start + np.floor((np.arange(self.num_frames) + 0.5) * self.window_frames / self.num_frames).astype(
            np.int64
        )

    @property
    def max_open_windows(self) -> int:
        return math.ceil(self.window_frames / self.stride_frames)


@dataclass
class Window:
    """One window: `frames` `(T, 3, H, W)` `uint8` at `frame_indices` `(T,)`, covering `[start, end)` seconds."""

    index: int
    frame_indices: np.ndarray
    start_seconds: float
    end_seconds: float
    frames: torch.Tensor


def iter_rgb_frames(video: str | os.PathLike) -> tuple[float, Iterator[np.ndarray]]:
    """`(fps, frames)`: the average frame rate and an iterator over every frame as `(H, W, 3)` `uint8` RGB,
    display rotation applied. `VideoDecodeError` naming the file when it cannot be opened or has no video."""
    import av

    name = os.fspath(video)
    if not os.path.isfile(name):
        raise VideoDecodeError(name, "no such file")
    try:
        container = av.open(name, metadata_errors="ignore")
    except av.FFmpegError as error:
        raise VideoDecodeError(name, f"not a readable video container ({error})") from error
    if not container.streams.video or not container.streams.video[0].average_rate:
        container.close()
        raise VideoDecodeError(name, "has no video stream with a frame rate")
    stream = container.streams.video[0]

    def frames() -> Iterator[np.ndarray]:
        with container:
            try:
                for frame in container.decode(stream):
                    array = frame.to_ndarray(format="rgb24")
                    turns = round(frame.rotation / 90.0) % 4 if frame.rotation else 0
                    yield np.ascontiguousarray(np.rot90(array, k=turns)) if turns else array
            except av.FFmpegError as error:
                raise VideoDecodeError(name, f"decoding failed ({error})") from error

    return float(stream.average_rate), frames()


def stream_windows(
    video: str | os.PathLike, num_frames: int, window_seconds: float, stride_seconds: float
) -> tuple[WindowPlan, Iterator[Window]]:
    """
    `(plan, windows)`: the window plan at the video's frame rate and the windows in order, each yielded as soon as
    its last sampled frame is decoded.

    Raises:
        ValueError: the window holds fewer than `num_frames` frames (see [`WindowPlan.from_seconds`]).
        VideoDecodeError: the file cannot be read, or is shorter than one window (while iterating).
    """
    name = os.fspath(video)
    fps, frames = iter_rgb_frames(video)
    plan = WindowPlan.from_seconds(name, fps, window_seconds, stride_seconds, num_frames)
    return plan, _windows(name, plan, frames)


def _windows(name: str, plan: WindowPlan, frames: Iterator[np.ndarray]) -> Iterator[Window]:
    open_windows: dict[int, list[np.ndarray | None]] = {}
    wanted: dict[int, list[tuple[int, int]]] = {}  # frame index -> [(window, slot)]
    next_window = emitted = count = 0
    for count, frame in enumerate(frames, start=1):
        index = count - 1
        while next_window * plan.stride_frames <= index:  # open every window that starts here
            open_windows[next_window] = [None] * plan.num_frames
            for slot, wanted_index in enumerate(plan.sample(next_window)):
                wanted.setdefault(int(wanted_index), []).append((next_window, slot))
            next_window += 1
        for window, slot in wanted.pop(index, ()):
            open_windows[window][slot] = frame
        while emitted in open_windows and open_windows[emitted][-1] is not None:
            held = open_windows.pop(emitted)
            start = emitted * plan.stride_frames
            yield Window(
                index=emitted,
                frame_indices=plan.sample(emitted),
                start_seconds=start / plan.fps,
                end_seconds=(start + plan.window_frames) / plan.fps,
                frames=torch.from_numpy(np.stack(held)).permute(0, 3, 1, 2),
            )
            emitted += 1
    if emitted == 0:
        raise VideoDecodeError(
            name,
            f"{count} frames ({count / plan.fps:.2f} s) is shorter than one window of {plan.window_frames} frames "
            f"({plan.window_frames / plan.fps:.2f} s); use a shorter --window-seconds",
        )
