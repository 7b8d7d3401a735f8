# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Video decoding for TANet's video processor: only the frames a clip needs, from any video input.

Every function here returns frames as `torch.uint8` tensors of shape `(n, 3, H, W)`: RGB, the right way up (the
container's display rotation applied), whatever the source's pixel format (gray, alpha, 10-bit, palette).

Backends (`backend="auto"` picks the first that works):
- torchcodec, when it imports *and* finds FFmpeg's shared libraries (`pip install torchcodec` plus a system FFmpeg);
- PyAV, whose wheels carry their own FFmpeg, so it works on a fresh machine with pip packages only.

Both decode only what the sampled indices need: PyAV reads the packet index once (no decoding), then seeks to the
keyframe before each wanted frame unless decoding on is shorter; torchcodec does the same internally.

Files that cannot be decoded raise [`VideoDecodeError`], a `ValueError` whose message names the file and the
reason. FFmpeg's own log stays silent.

This module is copied next to the model as remote code: it imports only torch, numpy, PIL, av and the standard
library (torchcodec optionally).
"""

from __future__ import annotations

import bisect
import functools
import io
import os
import re
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

DECODING_BACKENDS = ("auto", "torchcodec", "pyav")
# Program streams without an index, where torchcodec 0.17 returns neighbouring frames or fails ("auto" uses PyAV)
_TORCHCODEC_UNRELIABLE_FORMATS = ("mpeg", "mpegts", "mpegvideo")
_TEXT_DEMUXERS = ("tty",)
# FFmpeg decoders that implement skipping non-reference frames exactly (the other frames decode bit-identically)
_NONREF_SKIP_CODECS = ("h264", "hevc")  # FFmpeg opens .txt/.nfo/... files as "ANSI art" videos; they are not videos


class VideoDecodeError(ValueError):
    """
    A video could not be read. `str(error)` is `"<source>: <reason>"`; the parts are also in `error.source` and
    `error.reason`. Raised for missing, empty, truncated, corrupt or non-video (text, audio-only) inputs.
    """

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


@dataclass
class DecodedFrames:
    """
    Frames decoded from one video.

    Args:
        frames (`torch.Tensor` of shape `(n, 3, H, W)`, `uint8`): The frames at `indices`, in that order.
        indices (`np.ndarray` of `int64`): The frame indices as returned by the sampling function (any shape; `n`
            is its size).
        num_video_frames (`int`): Frames in the whole video.
        fps (`float`, *optional*): Average frame rate, when the source has one.
        backend (`str`): What produced the frames: `"torchcodec"`, `"pyav"` or `"array"`.
    """

    frames: torch.Tensor
    indices: np.ndarray
    num_video_frames: int
    fps: float | None
    backend: str


SampleIndicesFn = Callable[[int], np.ndarray]


# ----------------------------------------------------------------------------------------------------------------
# Input kinds
# ----------------------------------------------------------------------------------------------------------------


def describe_video_source(video: Any) -> str:
    """A short name for `video` in error messages: the path, or the kind and size of an in-memory input."""
    if isinstance(video, (str, os.PathLike)):
        return os.fspath(video)
    if isinstance(video, (bytes, bytearray, memoryview)):
        return f"<{len(video)} bytes in memory>"
    if isinstance(video, dict):
        if video.get("path"):
            return str(video["path"])
        if video.get("bytes") is not None:
            return f"<{len(video['bytes'])} bytes in memory>"
    name = getattr(video, "name", None)
    if isinstance(name, str):
        return name
    return f"<{type(video).__name__}>"


def is_encoded_video(video: Any) -> bool:
    """Whether `video` is something to decode (path, URL, bytes, file object, `datasets` video value, decoder),
    as opposed to frames already in memory."""
    if isinstance(video, (str, os.PathLike, bytes, bytearray, memoryview)):
        return True
    if isinstance(video, dict) and ("path" in video or "bytes" in video):
        return True
    if hasattr(video, "read") and hasattr(video, "seek"):
        return True
    return _is_torchcodec_decoder(video)


def _is_torchcodec_decoder(video: Any) -> bool:
    return type(video).__name__ == "VideoDecoder" and hasattr(video, "get_frames_at") and hasattr(video, "metadata")


@functools.lru_cache(maxsize=1)
def is_torchcodec_usable() -> bool:
    """Whether torchcodec imports and found FFmpeg's libraries (checked once, quietly)."""
    try:
        import torchcodec
        from torchcodec.decoders import VideoDecoder  # noqa: F401
    except Exception:
        return False
    return getattr(torchcodec, "ffmpeg_major_version", 0) is not None


def resolve_backend(backend: str = "auto") -> str:
    """`"torchcodec"` or `"pyav"` for a requested `backend` (`"auto"` prefers torchcodec when usable)."""
    if backend not in DECODING_BACKENDS:
        raise ValueError(f"backend={backend!r} is not supported; expected one of {list(DECODING_BACKENDS)}.")
    if backend == "auto":
        return "torchcodec" if is_torchcodec_usable() else "pyav"
    if backend == "torchcodec" and not is_torchcodec_usable():
        raise ImportError(
            "backend='torchcodec' was requested but torchcodec cannot decode video here (not installed, or FFmpeg's "
            "shared libraries are missing); install both, or use backend='pyav'."
        )
    return backend


def _open_source(video: Any, name: str) -> str | bytes:
    """A path, or the bytes, of `video` (path, URL, bytes, binary file object, `datasets` `{"path", "bytes"}` dict)."""
    if isinstance(video, dict):
        if video.get("bytes") is not None:
            video = video["bytes"]
        elif video.get("path"):
            video = video["path"]
        else:
            raise VideoDecodeError(name, "the video value has neither 'bytes' nor 'path'")
    if hasattr(video, "read"):
        video = video.read()
    if isinstance(video, (bytes, bytearray, memoryview)):
        if len(video) == 0:
            raise VideoDecodeError(name, "the input is empty (0 bytes)")
        return bytes(video)
    path = os.fspath(video)
    if path.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(path, timeout=60) as response:
                return _open_source(response.read(), name)
        except OSError as error:
            raise VideoDecodeError(name, f"download failed ({error})") from error
    if not os.path.exists(path):
        raise VideoDecodeError(name, "no such file")
    if os.path.isdir(path):
        raise VideoDecodeError(name, "is a directory, not a video file")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(name, "the file is empty (0 bytes)")
    return path


# ----------------------------------------------------------------------------------------------------------------
# Frames already in memory
# ----------------------------------------------------------------------------------------------------------------


def frames_to_uint8_rgb(video: Any, name: str = "video") -> torch.Tensor:
    """
    Frames in memory as a `(T, 3, H, W)` `uint8` RGB tensor.

    Accepts a numpy array or torch tensor of shape `(T, H, W, C)` or `(T, C, H, W)` (numpy is read channels-last,
    torch channels-first, when both readings are possible) or `(T, H, W)` (gray), with `C` in 1 (gray), 3 (RGB) or
    4 (RGBA, alpha dropped); dtype `uint8`, `uint16` (scaled down by 257) or floating point in `[0, 1]` (NaN and
    infinite values are refused: they would become black or white pixels and get a confident label). Also a list
    of PIL images (any mode) or of `(H, W[, C])` arrays.
    """
    if isinstance(video, (list, tuple)):
        if len(video) == 0:
            raise ValueError(f"{name}: the list of frames is empty.")
        from PIL import Image

        if all(isinstance(frame, Image.Image) for frame in video):
            sizes = {frame.size for frame in video}
            if len(sizes) > 1:
                raise ValueError(
                    f"{name}: frames have different sizes {sorted(sizes)}; all frames of a video must match."
                )
            video = np.stack([np.asarray(frame.convert("RGB")) for frame in video])
        else:
            try:
                video = np.stack(
                    [np.asarray(frame) if not isinstance(frame, torch.Tensor) else frame.numpy() for frame in video]
                )
            except ValueError as error:
                raise ValueError(f"{name}: frames have different shapes; all frames of a video must match.") from error
    if isinstance(video, np.ndarray):
        tensor = torch.from_numpy(np.ascontiguousarray(video))
        channels_last_first = True
    elif isinstance(video, torch.Tensor):
        tensor = video.detach().cpu()
        channels_last_first = False
    else:
        raise TypeError(
            f"{name}: unsupported video type {type(video).__name__}; expected a path, bytes, a numpy array (T, H, W, 3), "
            "a torch tensor (T, 3, H, W), a list of PIL images or a `datasets` video value."
        )

    if tensor.ndim == 3:
        tensor = tensor[:, None]
    elif tensor.ndim == 4:
        last_ok, second_ok = tensor.shape[-1] in (1, 3, 4), tensor.shape[1] in (1, 3, 4)
        if last_ok and (channels_last_first or not second_ok):
            tensor = tensor.permute(0, 3, 1, 2)
        elif not second_ok:
            raise ValueError(
                f"{name}: cannot find the channel axis in shape {tuple(tensor.shape)}; expected (T, H, W, C) or "
                "(T, C, H, W) with C in 1, 3, 4."
            )
    else:
        raise ValueError(
            f"{name}: expected 4 dimensions (T, H, W, C) or (T, C, H, W), got shape {tuple(tensor.shape)}."
        )
    if tensor.shape[0] == 0:
        raise ValueError(f"{name}: the video has no frames (shape {tuple(tensor.shape)}).")

    if tensor.dtype == torch.uint8:
        pass
    elif not tensor.is_floating_point() and tensor.dtype != torch.bool:
        wide = tensor.to(torch.int64)
        if wide.min() < 0 or wide.max() > 65535:
            raise ValueError(f"{name}: integer frames must lie in [0, 65535], got dtype {tensor.dtype}.")
        # 0–255 values are taken as 8-bit; anything larger as 16-bit full range
        tensor = (wide // 257 if wide.max() > 255 else wide).to(torch.uint8)
    elif tensor.is_floating_point():
        finite = torch.isfinite(tensor)
        if not bool(finite.all()):
            bad = (~finite).nonzero()[0].tolist()
            kind = "NaN" if bool(tensor.isnan().any()) else "infinite values"
            raise ValueError(
                f"{name}: floating-point frames contain {kind} ({int((~finite).sum())} non-finite value(s), the first "
                f"at index {tuple(bad)} of shape {tuple(tensor.shape)}); frames must be finite and lie in [0, 1]."
            )
        low, high = float(tensor.min()), float(tensor.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(
                f"{name}: floating-point frames must lie in [0, 1] (got [{low:.3g}, {high:.3g}]); pass uint8 frames "
                "for the 0–255 range."
            )
        tensor = (tensor.float() * 255.0).round().to(torch.uint8)
    else:
        raise ValueError(f"{name}: unsupported frame dtype {tensor.dtype}; expected uint8, uint16 or float in [0, 1].")

    channels = tensor.shape[1]
    if channels == 1:
        tensor = tensor.expand(-1, 3, -1, -1)
    elif channels == 4:
        tensor = tensor[:, :3]
    return tensor.contiguous()


# ----------------------------------------------------------------------------------------------------------------
# Decoding
# ----------------------------------------------------------------------------------------------------------------


def decode_video_frames(
    video: Any,
    sample_indices_fn: SampleIndicesFn,
    backend: str = "auto",
    num_threads: int = 1,
) -> DecodedFrames:
    """
    Decode the frames of `video` chosen by `sample_indices_fn(num_video_frames)`.

    Every file is first opened with PyAV to check it (a container FFmpeg can read, a video stream, not text); the
    frames then come from torchcodec or PyAV. Both count the frames from the packet index (exact for variable frame
    rate) and compare with what the header declares, so a file cut short raises instead of yielding fewer frames.

    Args:
        video: A path, URL, `bytes`, binary file object, `datasets` video value (`{"path", "bytes"}` dict or
            torchcodec `VideoDecoder`), or frames in memory (see [`frames_to_uint8_rgb`]).
        sample_indices_fn (`Callable[[int], np.ndarray]`): Maps the video's frame count to the wanted indices
            (any shape, values in `[0, num_video_frames)`, repeats allowed).
        backend (`str`): `"auto"` (torchcodec when usable, PyAV otherwise or when torchcodec fails on a file that
            PyAV can read), `"torchcodec"` or `"pyav"`.
        num_threads (`int`): FFmpeg decoding threads; 1 suits DataLoader workers (one per core), 0 lets FFmpeg choose.

    Returns:
        [`DecodedFrames`] with `frames` of shape `(indices.size, 3, H, W)`, `uint8`, in the order of `indices`.

    Raises:
        [`VideoDecodeError`]: the input is missing, empty, truncated, corrupt, text, or has no video stream.
    """
    name = describe_video_source(video)
    if not is_encoded_video(video):
        frames = frames_to_uint8_rgb(video, name)
        indices = _checked_indices(sample_indices_fn(frames.shape[0]), frames.shape[0], name)
        return DecodedFrames(frames[torch.from_numpy(indices.reshape(-1))], indices, frames.shape[0], None, "array")
    if _is_torchcodec_decoder(video):
        return _decode_with_torchcodec_decoder(video, name, sample_indices_fn, probe=None)

    source = _open_source(video, name)
    chosen = resolve_backend(backend)
    if chosen == "torchcodec":
        probe = _probe_with_pyav(source, name)
        if backend == "auto" and probe.format_name in _TORCHCODEC_UNRELIABLE_FORMATS:
            return _decode_with_pyav(source, name, sample_indices_fn, num_threads)
        try:
            return _decode_with_torchcodec(source, name, sample_indices_fn, probe, num_threads)
        except VideoDecodeError:
            if backend != "auto":
                raise
            # torchcodec gave up on a file that FFmpeg opens (e.g. MPEG-PS without an index): PyAV decides
    return _decode_with_pyav(source, name, sample_indices_fn, num_threads)


def _checked_indices(indices: Any, num_video_frames: int, name: str) -> np.ndarray:
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size == 0:
        raise ValueError(f"{name}: the sampling function returned no frame indices.")
    if indices.min() < 0 or indices.max() >= num_video_frames:
        raise ValueError(
            f"{name}: sampled frame indices must lie in [0, {num_video_frames}), got [{indices.min()}, {indices.max()}]."
        )
    return indices


# --- checks shared by both backends ---------------------------------------------------------------------------------


@dataclass
class _Probe:
    """What the container's header says about its first video stream."""

    format_name: str
    declared_frames: int | None  # frame count in the header (MP4, MOV, AVI); None when absent (Matroska, MPEG-PS)
    declared_seconds: float | None  # Matroska/WebM track duration; None elsewhere
    fps: float | None


def _as_pyav_input(source: str | bytes) -> str | io.BytesIO:
    return io.BytesIO(source) if isinstance(source, bytes) else source


def _open_container(source: str | bytes, name: str) -> Any:
    import av

    try:
        container = av.open(_as_pyav_input(source), mode="r", metadata_errors="ignore")
    except av.FFmpegError as error:
        raise VideoDecodeError(name, f"not a readable video container ({_pyav_reason(error)})") from error
    except (OSError, ValueError) as error:
        raise VideoDecodeError(name, f"cannot be opened ({error})") from error
    return container


def _inspect(container: Any, name: str) -> tuple[Any, _Probe]:
    """The first video stream and what the header declares; raises for text files and files without video."""
    if container.format.name in _TEXT_DEMUXERS:
        raise VideoDecodeError(name, "is a text file, not a video")
    if not container.streams.video:
        kinds = sorted({stream.type for stream in container.streams})
        found = f"only {', '.join(kinds)} streams" if kinds else "no streams"
        raise VideoDecodeError(name, f"has no video stream ({found})")
    stream = container.streams.video[0]
    declared_seconds = None
    if container.format.name.startswith("matroska"):
        # Matroska/WebM headers carry no frame count but do carry the duration: per track in the `DURATION` tag
        # that FFmpeg and mkvmerge write, else for the whole file (trusted only when there is one stream).
        declared_seconds = _parse_duration_tag(stream.metadata.get("DURATION"))
        if declared_seconds is None and len(container.streams) == 1 and container.duration:
            declared_seconds = container.duration / 1_000_000
    fps = float(stream.average_rate) if stream.average_rate else None
    return stream, _Probe(
        format_name=container.format.name,
        declared_frames=stream.frames or None,
        declared_seconds=declared_seconds,
        fps=fps,
    )


def _probe_with_pyav(source: str | bytes, name: str) -> _Probe:
    with _open_container(source, name) as container:
        return _inspect(container, name)[1]


def _check_complete(probe: _Probe, name: str, num_frames: int, seconds: float | None) -> None:
    """Raise if the frames present (`num_frames`, spanning `seconds`) fall short of what the header declares."""
    if num_frames == 0:
        raise VideoDecodeError(name, "the video stream has no frames (truncated or corrupt)")
    if probe.declared_frames and num_frames < probe.declared_frames:
        raise VideoDecodeError(
            name, f"truncated: the header declares {probe.declared_frames} frames but only {num_frames} are present"
        )
    if probe.declared_seconds and seconds is not None:
        tolerance = 2 * seconds / num_frames + 0.01 * probe.declared_seconds
        if seconds + tolerance < probe.declared_seconds:
            raise VideoDecodeError(
                name,
                f"truncated: the header declares {probe.declared_seconds:.3f} s of video but the frames end at "
                f"{seconds:.3f} s",
            )


def _parse_duration_tag(value: str | None) -> float | None:
    """Seconds in a Matroska `DURATION` tag (`HH:MM:SS.nnnnnnnnn`); `None` if absent or malformed."""
    if not value:
        return None
    try:
        hours, minutes, seconds = value.strip().split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


# --- torchcodec ---------------------------------------------------------------------------------------------------


def _decode_with_torchcodec(
    source: str | bytes,
    name: str,
    sample_indices_fn: SampleIndicesFn,
    probe: _Probe,
    num_threads: int,
) -> DecodedFrames:
    from torchcodec.decoders import VideoDecoder

    try:
        # "exact" scans the packet index like PyAV does (about a millisecond for a 10 s clip): right frame count
        # and timestamps for variable frame rate, and what the truncation check needs
        decoder = VideoDecoder(source, seek_mode="exact", dimension_order="NCHW", num_ffmpeg_threads=num_threads)
    except Exception as error:  # torchcodec raises RuntimeError / ValueError carrying FFmpeg's reason
        raise VideoDecodeError(name, _torchcodec_reason(error)) from error
    return _decode_with_torchcodec_decoder(decoder, name, sample_indices_fn, probe)


def _decode_with_torchcodec_decoder(
    decoder: Any, name: str, sample_indices_fn: SampleIndicesFn, probe: _Probe | None
) -> DecodedFrames:
    metadata = decoder.metadata
    num_video_frames = int(metadata.num_frames or 0)
    if probe is not None:
        begin = getattr(metadata, "begin_stream_seconds_from_content", None)
        end = getattr(metadata, "end_stream_seconds_from_content", None)
        seconds = end - begin if begin is not None and end is not None else None
        _check_complete(probe, name, num_video_frames, seconds)
    elif num_video_frames < 1:
        raise VideoDecodeError(name, "the video stream has no frames (truncated or corrupt)")
    indices = _checked_indices(sample_indices_fn(num_video_frames), num_video_frames, name)
    try:
        batch = decoder.get_frames_at(indices=indices.reshape(-1).tolist())
    except Exception as error:
        raise VideoDecodeError(name, f"decoding failed ({_torchcodec_reason(error)})") from error
    frames = frames_to_uint8_rgb(batch.data, name)  # torchcodec already rotates; this makes gray/alpha output RGB
    fps = getattr(metadata, "average_fps", None)
    return DecodedFrames(frames, indices, num_video_frames, fps, "torchcodec")


def _torchcodec_reason(error: Exception) -> str:
    """FFmpeg's reason from a torchcodec error, without the C++ function, file and line it starts with."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    return re.sub(r"^\w+, \S+:\d+, ", "", text)


# --- PyAV ---------------------------------------------------------------------------------------------------------


@dataclass
class _PacketIndex:
    """Presentation timestamps of every frame of a stream, sorted, and the positions of the keyframes."""

    pts: list[int]
    keyframes: list[int]
    seconds: float | None  # from the first frame's start to the last frame's end


def _decode_with_pyav(
    source: str | bytes, name: str, sample_indices_fn: SampleIndicesFn, num_threads: int
) -> DecodedFrames:
    import av

    with _open_container(source, name) as container:
        stream, probe = _inspect(container, name)
        stream.codec_context.thread_count = num_threads
        if num_threads != 1:
            stream.codec_context.thread_type = "AUTO"
        try:
            index = _scan_packets(container, stream)
            if index is None:  # some packet has no timestamp: count by decoding, then decode from the start
                num_video_frames = sum(1 for _ in _iter_frames(container, stream, rewind=True))
                _check_complete(probe, name, num_video_frames, None)
            else:
                num_video_frames = len(index.pts)
                _check_complete(probe, name, num_video_frames, index.seconds)
            indices = _checked_indices(sample_indices_fn(num_video_frames), num_video_frames, name)
            unique = np.unique(indices)
            frames = _decode_by_seeking(container, stream, index, unique) if index is not None else None
            if frames is None:  # timestamps missing or inconsistent with the packet index: decode in order
                frames = _decode_in_order(container, stream, unique, name)
        except av.FFmpegError as error:
            raise VideoDecodeError(name, f"decoding failed ({_pyav_reason(error)})") from error

    # (n, H, W, 3) → (n, 3, H, W) as a view: channels-last memory, the layout torchvision's uint8 resize is fastest on
    rgb = torch.from_numpy(np.stack([frames[i] for i in indices.reshape(-1).tolist()])).permute(0, 3, 1, 2)
    return DecodedFrames(rgb, indices, num_video_frames, probe.fps, "pyav")


def _pyav_reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def _scan_packets(container: Any, stream: Any) -> _PacketIndex | None:
    """Read every packet of `stream` (no decoding). `None` when some packet lacks a timestamp."""
    pts: list[int] = []
    key_pts: list[int] = []
    end = None
    for packet in container.demux(stream):
        if packet.size == 0:  # the flush packet at the end
            continue
        if packet.pts is None:
            return None
        pts.append(packet.pts)
        end = packet.pts + (packet.duration or 0) if end is None else max(end, packet.pts + (packet.duration or 0))
        if packet.is_keyframe:
            key_pts.append(packet.pts)
    pts.sort()
    position = {value: i for i, value in enumerate(pts)}
    keyframes = sorted(position[value] for value in key_pts) or [0]
    seconds = float((end - pts[0]) * stream.time_base) if pts and stream.time_base else None
    return _PacketIndex(pts=pts, keyframes=keyframes, seconds=seconds)


def _iter_frames(container: Any, stream: Any, rewind: bool = False, keep_pts: set[int] | None = None) -> Iterator[Any]:
    """
    Decoded frames of `stream` from the current position (or from the start with `rewind`). With `keep_pts`, the
    decoder skips non-reference frames (frames no other frame is predicted from, typically half the B-frames) unless
    their timestamp is in `keep_pts`: they need not be decoded to reach the frames that are wanted.
    """
    if rewind:
        container.seek(0, backward=True, any_frame=False, stream=None)
    codec_context = stream.codec_context
    for packet in container.demux(stream):
        if keep_pts is not None:
            codec_context.skip_frame = "DEFAULT" if packet.pts is None or packet.pts in keep_pts else "NONREF"
        yield from packet.decode()


_thread_state = threading.local()


def _forget_reformatter() -> None:
    """Free the forking thread's conversion context before a fork: the context's worker threads would not exist in
    the child (a DataLoader worker), where using or even freeing it hangs."""
    _thread_state.__dict__.pop("reformatter", None)


os.register_at_fork(before=_forget_reformatter)


def _to_rgb(frame: Any) -> np.ndarray:
    """A decoded frame as `(H, W, 3)` `uint8` RGB, rotated as the container says it is displayed."""
    # One reformatter per thread keeps FFmpeg's conversion context between frames and videos (5× faster than
    # `frame.to_ndarray(format="rgb24")`, which builds a new one every time).
    reformatter = getattr(_thread_state, "reformatter", None)
    if reformatter is None:
        from av.video.reformatter import VideoReformatter

        reformatter = _thread_state.reformatter = VideoReformatter()
    array = reformatter.reformat(frame, format="rgb24").to_ndarray()
    quarter_turns = round(frame.rotation / 90.0) % 4 if frame.rotation else 0
    return np.ascontiguousarray(np.rot90(array, k=quarter_turns)) if quarter_turns else array


def _decode_by_seeking(
    container: Any, stream: Any, index: _PacketIndex, wanted: np.ndarray
) -> dict[int, np.ndarray] | None:
    """
    Decode the frames at the sorted positions `wanted`, seeking to the keyframe before a wanted frame whenever a
    keyframe lies between the decoder's position and that frame. `None` when the decoder's timestamps disagree
    with the packet index (the caller then decodes in order).
    """
    position_of = {value: i for i, value in enumerate(index.pts)}
    wanted_set = set(wanted.tolist())
    keep_pts = (
        {index.pts[position] for position in wanted_set} if stream.codec_context.name in _NONREF_SKIP_CODECS else None
    )
    frames: dict[int, np.ndarray] = {}
    current = -1  # position of the last decoded frame; -1 before any
    iterator: Iterator[Any] | None = None
    for target in wanted.tolist():
        if target in frames:
            continue
        keyframe = index.keyframes[max(0, bisect.bisect_right(index.keyframes, target) - 1)]
        if iterator is None or current >= target or keyframe > current:
            container.seek(index.pts[keyframe], backward=True, any_frame=False, stream=stream)
            iterator = _iter_frames(container, stream, keep_pts=keep_pts)
            current = -1
        for frame in iterator:
            position = position_of.get(frame.pts)
            if position is None:
                return None
            if current == -1 and position > target:  # the seek landed after the target (no usable index)
                return None
            current = position
            if position in wanted_set and position not in frames:
                frames[position] = _to_rgb(frame)
            if position >= target:
                break
        if target not in frames:
            return None
    stream.codec_context.skip_frame = "DEFAULT"
    return frames


def _decode_in_order(container: Any, stream: Any, wanted: np.ndarray, name: str) -> dict[int, np.ndarray]:
    """Decode from the start, counting frames, until the last wanted position."""
    wanted_set = set(wanted.tolist())
    last = int(wanted[-1])
    frames: dict[int, np.ndarray] = {}
    for position, frame in enumerate(_iter_frames(container, stream, rewind=True)):
        if position in wanted_set:
            frames[position] = _to_rgb(frame)
        if position >= last:
            break
    missing = sorted(wanted_set - frames.keys())
    if missing:
        raise VideoDecodeError(name, f"truncated or corrupt: frames {missing[:8]} could not be decoded")
    return frames


__all__ = [
    "VideoDecodeError",
    "DecodedFrames",
    "decode_video_frames",
    "frames_to_uint8_rgb",
    "describe_video_source",
    "is_encoded_video",
    "is_torchcodec_usable",
    "resolve_backend",
    "DECODING_BACKENDS",
]
