# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Video decoding for TANet's video processor: only the frames a clip needs, from any video input.

Every function here returns frames as `torch.uint8` tensors of shape `(n, 3, H, W)`: RGB, the right way up (the
container's display rotation applied), whatever the source's pixel format (gray, alpha, 10-bit, palette).

Backends (`backend="auto"` picks the first that works):
- torchcodec, when it imports *and* finds FFmpeg's shared libraries (`pip install torchcodec` plus a system FFmpeg);
- PyAV, whose wheels carry their own FFmpeg, so it works on a fresh machine with pip packages only.

Both decode only what the sampled indices need. The packet index (every frame's timestamp and the keyframes, read
without decoding) is read once per file, by PyAV: PyAV then seeks to the keyframe before each wanted frame unless
decoding on is shorter; torchcodec is handed the wanted frames' timestamps from that index and seeks to them itself
without scanning the file again (`seek_mode="approximate"`, which is exact when asked for a frame's own timestamp).
The frames torchcodec returns are checked against the index (their timestamps); where they disagree, and for MPEG
program/transport streams where torchcodec is known to, PyAV decodes instead, whichever backend was asked for.

[`DecodeLimits`] bounds what one input may cost: frame size and aspect ratio (checked from the header before any
frame is decoded), and for URLs an overall deadline and a size cap. Settings: a `limits=` argument, or the
`TANET_MAX_FRAME_PIXELS`, `TANET_MAX_ASPECT_RATIO`, `TANET_URL_TIMEOUT` and `TANET_URL_MAX_BYTES` environment
variables.

With `frame_seek="keyframe"` (opt-in, approximate) the sampling function also receives the keyframe positions from
that index, so that it can pick frames that decode on their own: one decoded frame per clip frame instead of every
frame from the keyframe before it (as mmaction2's `DecordDecode(mode="efficient")`, which takes the keyframe before
each wanted frame; here the sampler chooses, see `video_processing_tanet.sample_frame_indices`).

Files that cannot be decoded raise [`VideoDecodeError`], a `ValueError` whose message names the file and the
reason. FFmpeg's own log stays silent.

This module is copied next to the model as remote code: it imports only torch, numpy, PIL, av and the standard
library (torchcodec optionally).
"""

from __future__ import annotations

import bisect
import functools
import http.client
import io
import os
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

DECODING_BACKENDS = ("auto", "torchcodec", "pyav")
# "exact": the sampled frames; "keyframe": the sampling function is shown the keyframes and may pick among them
FRAME_SEEK_MODES = ("exact", "keyframe")
# MPEG program/transport streams, where torchcodec 0.17 returns neighbouring frames (MPEG-PS) or none (MPEG-2 in
# MPEG-TS): PyAV decodes them whichever backend was asked for
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


# `fn(num_video_frames)` → indices; with `frame_seek="keyframe"`, `fn(num_video_frames, keyframes)`, where `keyframes`
# is the sorted `int64` positions of the frames that decode on their own, or `None` when they are unknown
SampleIndicesFn = Callable[..., np.ndarray]


@dataclass(frozen=True)
class DecodeLimits:
    """
    What reading one video may cost, so that a small hostile or broken input cannot exhaust the machine.
    [`decode_video_frames`] without `limits` uses `DecodeLimits.from_env()`: each field from the environment
    variable named below when it is set, else the default shown.

    Args:
        max_frame_pixels (`int`, `TANET_MAX_FRAME_PIXELS`, defaults to 7680 × 4320 = 33,177,600, 8K UHD): frames
            with more pixels are refused before anything is decoded (one RGB frame of that size is 100 MB).
        max_aspect_ratio (`float`, `TANET_MAX_ASPECT_RATIO`, defaults to 10): frames whose long side exceeds this
            many times the short side are refused before decoding. Resizing the short side to the model's 256 px
            makes the long side this many times larger: a 2 × 16384 px frame (a few KB encoded) would become
            256 × 2,097,152 px, GBs per frame.
        url_timeout_s (`float`, `TANET_URL_TIMEOUT`, defaults to 300): overall deadline for downloading a URL,
            connection, headers and body together (a server that trickles a byte a second is cut off).
        url_max_bytes (`int`, `TANET_URL_MAX_BYTES`, defaults to 2 GiB): a download larger than this is refused
            (by its `Content-Length` before reading, or once the body passes it).
    """

    max_frame_pixels: int = 7680 * 4320
    max_aspect_ratio: float = 10.0
    url_timeout_s: float = 300.0
    url_max_bytes: int = 2 * 1024**3

    @classmethod
    def from_env(cls) -> DecodeLimits:
        """The limits with each `TANET_*` environment variable that is set in place of the default."""
        values: dict[str, Any] = {}
        for field, variable, kind in (
            ("max_frame_pixels", "TANET_MAX_FRAME_PIXELS", int),
            ("max_aspect_ratio", "TANET_MAX_ASPECT_RATIO", float),
            ("url_timeout_s", "TANET_URL_TIMEOUT", float),
            ("url_max_bytes", "TANET_URL_MAX_BYTES", int),
        ):
            text = os.environ.get(variable)
            if text:
                try:
                    values[field] = kind(text)
                except ValueError as error:
                    raise ValueError(f"{variable}={text!r} is not a valid {kind.__name__}.") from error
                if values[field] <= 0:
                    raise ValueError(f"{variable}={text!r} must be positive.")
        return cls(**values)

    def check_frame_size(self, width: int, height: int, name: str) -> None:
        """Raise [`VideoDecodeError`] naming `name` when a `width` × `height` frame exceeds the limits."""
        if width <= 0 or height <= 0:
            return  # unknown until decoded (rare); the decoder then reports what it finds
        if width * height > self.max_frame_pixels:
            raise VideoDecodeError(
                name,
                f"frames of {width} × {height} = {width * height:,} pixels exceed the limit of "
                f"{self.max_frame_pixels:,} (DecodeLimits.max_frame_pixels / TANET_MAX_FRAME_PIXELS)",
            )
        ratio = max(width, height) / min(width, height)
        if ratio > self.max_aspect_ratio:
            raise VideoDecodeError(
                name,
                f"frames of {width} × {height} have an aspect ratio of {ratio:.4g}:1, beyond the limit of "
                f"{self.max_aspect_ratio:g}:1 (DecodeLimits.max_aspect_ratio / TANET_MAX_ASPECT_RATIO); resizing "
                "them would cost far more memory than the clip is worth",
            )


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


def _open_source(video: Any, name: str, limits: DecodeLimits | None = None) -> str | bytes:
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
        return _open_source(_download(path, name, limits or DecodeLimits.from_env()), name)
    if not os.path.exists(path):
        raise VideoDecodeError(name, "no such file")
    if os.path.isdir(path):
        raise VideoDecodeError(name, "is a directory, not a video file")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(name, "the file is empty (0 bytes)")
    return path


class _SocketRegistry:
    """The sockets one download opened (redirects open more), so that its deadline can shut them all."""

    def __init__(self):
        self.sockets: list[socket.socket] = []
        self.expired = False

    def shut_all(self) -> None:
        self.expired = True
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # unblocks a recv waiting in another thread
            except OSError:
                pass


def _opener_for(registry: _SocketRegistry) -> urllib.request.OpenerDirector:
    """A urllib opener whose HTTP(S) connections record their sockets in `registry`."""

    def recording(base: type[http.client.HTTPConnection]) -> type[http.client.HTTPConnection]:
        class Recording(base):
            def connect(self):
                super().connect()
                registry.sockets.append(self.sock)
                if registry.expired:
                    registry.shut_all()

        return Recording

    http_connection, https_connection = recording(http.client.HTTPConnection), recording(http.client.HTTPSConnection)

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(http_connection, req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(https_connection, req, context=self._context)

    return urllib.request.build_opener(HTTPHandler, HTTPSHandler)


def _download(url: str, name: str, limits: DecodeLimits) -> bytes:
    """
    The body at `url`, within `limits.url_timeout_s` overall (connection, redirects, headers and body: a timer
    shuts the sockets when the deadline passes) and `limits.url_max_bytes`. Raises [`VideoDecodeError`].
    """
    registry = _SocketRegistry()
    timer = threading.Timer(limits.url_timeout_s, registry.shut_all)
    timer.daemon = True
    started = time.monotonic()
    timer.start()
    try:
        with _opener_for(registry).open(url, timeout=limits.url_timeout_s) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limits.url_max_bytes:
                raise VideoDecodeError(name, _too_large(f"declares {int(declared):,} bytes", limits))
            chunks, size = [], 0
            while chunk := response.read1(1 << 20):
                size += len(chunk)
                if size > limits.url_max_bytes:
                    raise VideoDecodeError(name, _too_large(f"sent more than {limits.url_max_bytes:,} bytes", limits))
                chunks.append(chunk)
            if registry.expired:  # the shut socket looked like the end of the body
                raise OSError("the connection was shut at the deadline")
            return b"".join(chunks)
    except (OSError, http.client.HTTPException) as error:
        if registry.expired or time.monotonic() - started >= limits.url_timeout_s:
            raise VideoDecodeError(
                name,
                f"download did not finish within {limits.url_timeout_s:g} s (DecodeLimits.url_timeout_s / "
                "TANET_URL_TIMEOUT)",
            ) from error
        raise VideoDecodeError(name, f"download failed ({error})") from error
    finally:
        timer.cancel()


def _too_large(what: str, limits: DecodeLimits) -> str:
    return (
        f"download refused: the server {what}, over the limit of {limits.url_max_bytes:,} "
        "(DecodeLimits.url_max_bytes / TANET_URL_MAX_BYTES)"
    )


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
    limits: DecodeLimits | None = None,
    frame_seek: str = "exact",
) -> DecodedFrames:
    """
    Decode the frames of `video` chosen by `sample_indices_fn(num_video_frames)` (with `frame_seek="keyframe"`:
    `sample_indices_fn(num_video_frames, keyframes)`).

    Every file is first opened with PyAV to check it (a container FFmpeg can read, a video stream, not text) and to
    read its packet index; the frames then come from torchcodec (which seeks by that index's timestamps) or PyAV.
    The frames are counted from the packet index (exact for variable frame rate) and compared with what the header
    declares, so a file cut short raises instead of yielding fewer frames.

    Args:
        video: A path, URL, `bytes`, binary file object, `datasets` video value (`{"path", "bytes"}` dict or
            torchcodec `VideoDecoder`), or frames in memory (see [`frames_to_uint8_rgb`]).
        sample_indices_fn (`Callable[[int], np.ndarray]`): Maps the video's frame count (and, with
            `frame_seek="keyframe"`, the keyframe positions) to the wanted indices (any shape, values in
            `[0, num_video_frames)`, repeats allowed).
        backend (`str`): `"auto"` (torchcodec when usable, PyAV otherwise or when torchcodec fails on a file that
            PyAV can read), `"torchcodec"` or `"pyav"`. Whichever is asked for, the frames are those at the
            indices: MPEG program/transport streams (where torchcodec returns neighbouring frames or none) and any
            file whose torchcodec frames carry timestamps other than the packet index's go to PyAV
            (`DecodedFrames.backend` says which decoded).
        num_threads (`int`): FFmpeg decoding threads; 1 suits DataLoader workers (one per core), 0 lets FFmpeg choose.
        limits ([`DecodeLimits`], *optional*): frame-size and download bounds; defaults to
            `DecodeLimits.from_env()` (the `TANET_*` environment variables, else the documented defaults).
        frame_seek (`str`, *optional*, defaults to `"exact"`): `"exact"` calls `sample_indices_fn(num_video_frames)`.
            `"keyframe"` calls `sample_indices_fn(num_video_frames, keyframes)`, `keyframes` being the sorted
            `int64` positions of the frames that decode on their own, from the packet index (every frame for frames
            in memory; `None` where they are unknown: a packet without a timestamp, or a torchcodec `VideoDecoder`
            given as input), so that the sampler can choose among them. A wanted keyframe costs one decoded frame
            (the decoders seek to it); any other wanted frame is decoded exactly, as in `"exact"`.

    Returns:
        [`DecodedFrames`] with `frames` of shape `(indices.size, 3, H, W)`, `uint8`, in the order of `indices`.

    Raises:
        [`VideoDecodeError`]: the input is missing, empty, truncated, corrupt, text, or has no video stream; its
            frames are larger or more elongated than `limits` allow (checked from the header, before decoding); a
            download passed the deadline or the size cap.
    """
    name = describe_video_source(video)
    if frame_seek not in FRAME_SEEK_MODES:
        raise ValueError(f"frame_seek={frame_seek!r} is not supported; expected one of {list(FRAME_SEEK_MODES)}.")
    limits = limits or DecodeLimits.from_env()
    choose = functools.partial(_choose_indices, sample_indices_fn, frame_seek, name)
    if not is_encoded_video(video):
        frames = frames_to_uint8_rgb(video, name)
        count = frames.shape[0]
        indices = choose(count, np.arange(count, dtype=np.int64))  # frames in memory all stand alone
        return DecodedFrames(frames[torch.from_numpy(indices.reshape(-1))], indices, count, None, "array")
    if _is_torchcodec_decoder(video):
        limits.check_frame_size(int(video.metadata.width or 0), int(video.metadata.height or 0), name)
        return _decode_with_torchcodec_decoder(video, name, choose, probe=None)

    source = _open_source(video, name, limits)
    if resolve_backend(backend) == "torchcodec":
        probe = _probe_with_pyav(source, name, limits, scan_frames=True)
        # MPEG program/transport streams: torchcodec returns neighbouring frames or none at all, whichever backend
        # was asked for; PyAV decodes them exactly
        if probe.format_name not in _TORCHCODEC_UNRELIABLE_FORMATS:
            try:
                return _decode_with_torchcodec(source, name, choose, probe, num_threads)
            except _WrongFrames:
                pass  # torchcodec returned frames other than those asked for: PyAV decodes them
            except VideoDecodeError:
                if backend != "auto":
                    raise
                # torchcodec gave up on a file that FFmpeg opens: PyAV decides
    return _decode_with_pyav(source, name, choose, num_threads, limits)


# `choose(num_video_frames, keyframes)` → the checked indices: `sample_indices_fn` bound to the call's `frame_seek`
_ChooseIndicesFn = Callable[[int, Any], np.ndarray]


def _choose_indices(
    sample_indices_fn: SampleIndicesFn, frame_seek: str, name: str, num_video_frames: int, keyframes: Any
) -> np.ndarray:
    """The indices `sample_indices_fn` picks for a video of `num_video_frames` frames, shown the `keyframes`
    positions (a sequence, or `None` when unknown) when `frame_seek` is `"keyframe"`; checked to be in range."""
    if frame_seek == "keyframe":
        known = None if keyframes is None else np.asarray(keyframes, dtype=np.int64)
        return _checked_indices(sample_indices_fn(num_video_frames, known), num_video_frames, name)
    return _checked_indices(sample_indices_fn(num_video_frames), num_video_frames, name)


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
    frame_seconds: list[float] | None = None  # every frame's timestamp, in order, when the packet index was read
    keyframes: list[int] | None = None  # positions of the keyframes in that order, from the same index
    index_seconds: float | None = None  # from the first frame's start to the last frame's end, from that index


class _WrongFrames(Exception):
    """A decoder returned frames other than those asked for (their timestamps disagree with the packet index)."""


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


def _inspect(container: Any, name: str, limits: DecodeLimits) -> tuple[Any, _Probe]:
    """The first video stream and what the header declares; raises for text files, files without video and frames
    beyond `limits`."""
    if container.format.name in _TEXT_DEMUXERS:
        raise VideoDecodeError(name, "is a text file, not a video")
    if not container.streams.video:
        kinds = sorted({stream.type for stream in container.streams})
        found = f"only {', '.join(kinds)} streams" if kinds else "no streams"
        raise VideoDecodeError(name, f"has no video stream ({found})")
    stream = container.streams.video[0]
    limits.check_frame_size(stream.codec_context.width, stream.codec_context.height, name)
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


def _probe_with_pyav(source: str | bytes, name: str, limits: DecodeLimits, scan_frames: bool = False) -> _Probe:
    """What the header declares; with `scan_frames`, also every frame's timestamp from the packet index (no
    decoding), against which another decoder's frames can be checked."""
    import av

    with _open_container(source, name) as container:
        stream, probe = _inspect(container, name, limits)
        if scan_frames:
            try:
                index = _scan_packets(container, stream)
            except av.FFmpegError as error:
                raise VideoDecodeError(name, f"not a readable video stream ({_pyav_reason(error)})") from error
            if index is not None and stream.time_base:
                probe.frame_seconds = [float(pts * stream.time_base) for pts in index.pts]
                probe.keyframes = index.keyframes
                probe.index_seconds = index.seconds
        return probe


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
    choose: _ChooseIndicesFn,
    probe: _Probe,
    num_threads: int,
) -> DecodedFrames:
    """
    The sampled frames, decoded by torchcodec. With the packet index PyAV read while probing (`probe.frame_seconds`),
    torchcodec does not scan the file again (`seek_mode="approximate"`): the frames are asked for by their
    timestamps in that index (`get_frames_played_at`), so which frame comes back does not depend on torchcodec's
    frame-rate estimate, and the timestamps it returns are checked against the index. Without one (a packet without a
    timestamp), torchcodec scans the file itself (`seek_mode="exact"`) and counts the frames.
    """
    from torchcodec.decoders import VideoDecoder

    by_timestamp = probe.frame_seconds is not None
    try:
        decoder = VideoDecoder(
            source,
            seek_mode="approximate" if by_timestamp else "exact",
            dimension_order="NCHW",
            num_ffmpeg_threads=num_threads,
        )
    except Exception as error:  # torchcodec raises RuntimeError / ValueError carrying FFmpeg's reason
        raise VideoDecodeError(name, _torchcodec_reason(error)) from error
    if not by_timestamp:
        return _decode_with_torchcodec_decoder(decoder, name, choose, probe)
    num_video_frames = len(probe.frame_seconds)
    _check_complete(probe, name, num_video_frames, probe.index_seconds)
    indices = choose(num_video_frames, probe.keyframes)
    try:
        batch = decoder.get_frames_played_at(seconds=np.asarray(probe.frame_seconds)[indices.reshape(-1)].tolist())
    except Exception as error:  # e.g. a timestamp past the end the header declares: PyAV decides
        raise _WrongFrames(f"torchcodec could not seek by timestamp ({_torchcodec_reason(error)})") from error
    _check_timestamps(batch.pts_seconds, indices.reshape(-1), probe.frame_seconds, num_video_frames)
    frames = frames_to_uint8_rgb(batch.data, name)  # torchcodec already rotates; this makes gray/alpha output RGB
    return DecodedFrames(frames, indices, num_video_frames, probe.fps, "torchcodec")


def _decode_with_torchcodec_decoder(
    decoder: Any, name: str, choose: _ChooseIndicesFn, probe: _Probe | None
) -> DecodedFrames:
    """The sampled frames from a torchcodec `decoder` that counts frames itself (exact mode, or a `datasets` value;
    its keyframes are not known here: torchcodec has no public list of them)."""
    metadata = decoder.metadata
    num_video_frames = int(metadata.num_frames or 0)
    if probe is not None:
        begin = getattr(metadata, "begin_stream_seconds_from_content", None)
        end = getattr(metadata, "end_stream_seconds_from_content", None)
        seconds = end - begin if begin is not None and end is not None else None
        _check_complete(probe, name, num_video_frames, seconds)
    elif num_video_frames < 1:
        raise VideoDecodeError(name, "the video stream has no frames (truncated or corrupt)")
    indices = choose(num_video_frames, None)
    try:
        batch = decoder.get_frames_at(indices=indices.reshape(-1).tolist())
    except Exception as error:
        raise VideoDecodeError(name, f"decoding failed ({_torchcodec_reason(error)})") from error
    frames = frames_to_uint8_rgb(batch.data, name)  # torchcodec already rotates; this makes gray/alpha output RGB
    fps = getattr(metadata, "average_fps", None)
    return DecodedFrames(frames, indices, num_video_frames, fps, "torchcodec")


def _check_timestamps(
    returned_seconds: torch.Tensor, indices: np.ndarray, frame_seconds: list[float], num_video_frames: int
) -> None:
    """Raise `_WrongFrames` unless the frame returned for each index carries that frame's timestamp in the packet
    index (within a tenth of the shortest frame gap) and both decoders count the same frames."""
    if num_video_frames != len(frame_seconds):
        raise _WrongFrames(f"{num_video_frames} frames counted, the packet index has {len(frame_seconds)}")
    expected = np.asarray(frame_seconds)[indices]
    gaps = np.diff(frame_seconds)
    tolerance = 0.1 * float(gaps[gaps > 0].min()) if (gaps > 0).any() else 1e-3
    if not np.allclose(returned_seconds.double().numpy(), expected, rtol=0.0, atol=tolerance):
        raise _WrongFrames("frame timestamps disagree with the packet index")


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
    source: str | bytes, name: str, choose: _ChooseIndicesFn, num_threads: int, limits: DecodeLimits
) -> DecodedFrames:
    import av

    with _open_container(source, name) as container:
        stream, probe = _inspect(container, name, limits)
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
            indices = choose(num_video_frames, None if index is None else index.keyframes)
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
    "DecodeLimits",
    "decode_video_frames",
    "frames_to_uint8_rgb",
    "describe_video_source",
    "is_encoded_video",
    "is_torchcodec_usable",
    "resolve_backend",
    "DECODING_BACKENDS",
    "FRAME_SEEK_MODES",
]
