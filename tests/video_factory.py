"""Encode test videos with PyAV: several codecs and containers, odd pixel formats and sizes, rotation metadata,
variable frame rate, and broken files. Shared by the test suite and the benchmarks.

Frames drawn with `pattern="counter"` carry their own index, so a test can check which frames were decoded and
that they are the right way up:

- top half: `COUNTER_BITS` vertical stripes, white for a 1 bit, black for a 0 bit, most significant bit on the left;
- bottom half: red on the left, blue on the right.

[`read_counter`] reads the index back from a decoded RGB frame, [`is_upright`] checks the colour layout.
"""

from __future__ import annotations

import fractions
import functools
import os
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np

COUNTER_BITS = 10  # frame indices up to 1023

# Default video codec per container (by file suffix).
DEFAULT_CODECS = {
    ".mp4": "libx264",
    ".mkv": "libx264",
    ".mov": "libx264",
    ".webm": "libvpx-vp9",
    ".avi": "mpeg4",
    ".mpg": "mpeg2video",
}

ALPHA_PIX_FMTS = {"yuva420p", "yuva444p", "yuva444p10le", "yuva444p12le", "rgba", "argb", "bgra", "abgr", "ya8"}

# Near-lossless settings, so that the counter survives compression of tiny frames.
_QUALITY_OPTIONS = {
    "libx264": {"crf": "10", "preset": "ultrafast"},
    "libx265": {"crf": "10", "preset": "ultrafast", "x265-params": "log-level=none"},
    "libvpx-vp9": {"crf": "10", "b": "0", "deadline": "realtime", "cpu-used": "8"},
    "libvpx": {"crf": "10", "b": "2M", "deadline": "realtime", "cpu-used": "8"},
    "libsvtav1": {"crf": "10", "preset": "12", "svtav1-params": "log-level=0"},
    "mpeg4": {"qscale": "2"},
    "mpeg2video": {"qscale": "2"},
    "mjpeg": {"qscale": "2"},
}


def counter_frame(index: int, size: tuple[int, int]) -> np.ndarray:
    """The `"counter"` picture for frame `index`: an `(height, width, 3)` `uint8` RGB array; `size` is `(w, h)`."""
    width, height = size
    if not 0 <= index < 2**COUNTER_BITS:
        raise ValueError(f"index {index} does not fit in {COUNTER_BITS} bits")
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    top = height // 2
    edges = np.linspace(0, width, COUNTER_BITS + 1).round().astype(int)
    for bit in range(COUNTER_BITS):
        if (index >> (COUNTER_BITS - 1 - bit)) & 1:
            frame[:top, edges[bit] : edges[bit + 1]] = 255
    frame[top:, : width // 2] = (255, 0, 0)
    frame[top:, width // 2 :] = (0, 0, 255)
    return frame


def _as_hwc(frame) -> np.ndarray:
    array = np.asarray(frame.numpy() if hasattr(frame, "numpy") else frame)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = array.transpose(1, 2, 0)
    if array.ndim == 2:
        array = array[..., None]
    return array.astype(np.float32)


def read_counter(frame) -> int:
    """The index drawn by [`counter_frame`] in a decoded frame (`(H, W, 3)` or `(3, H, W)`, numpy or torch)."""
    array = _as_hwc(frame)
    height, width = array.shape[:2]
    gray = array[: height // 2].mean(axis=-1)
    edges = np.linspace(0, width, COUNTER_BITS + 1)
    index = 0
    for bit in range(COUNTER_BITS):
        left, right = (
            int(edges[bit] + 0.3 * (edges[bit + 1] - edges[bit])),
            int(edges[bit + 1] - 0.3 * (edges[bit + 1] - edges[bit])),
        )
        stripe = gray[height // 8 : height // 2 - height // 8, left : max(right, left + 1)]
        index = (index << 1) | int(stripe.mean() > 128)
    return index


def is_upright(frame) -> bool:
    """Whether a decoded `"counter"` frame shows red bottom-left and blue bottom-right (not rotated or mirrored)."""
    array = _as_hwc(frame)
    height, width = array.shape[:2]
    bottom_left = array[height * 5 // 8 :, : width * 3 // 8].reshape(-1, 3).mean(0)
    bottom_right = array[height * 5 // 8 :, width * 5 // 8 :].reshape(-1, 3).mean(0)
    return bool(bottom_left[0] > 150 > bottom_left[2] and bottom_right[2] > 150 > bottom_right[0])


def texture_frame(index: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A `"texture"` picture: a smooth random landscape with fine grain, panning right and down and drifting in
    brightness, about as costly to decode as real footage (≈1 MB per 10 s at 340×256, crf 23)."""
    return _texture_canvas(seed, size)[
        index % 256 : index % 256 + size[1], (3 * index) % 512 : (3 * index) % 512 + size[0]
    ]


@functools.lru_cache(maxsize=4)
def _texture_canvas(seed: int, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    width, height = size
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=((height + 256) // 8, (width + 512) // 8, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((width + 512, height + 256), Image.BICUBIC)).astype(np.int16)
    grain = rng.integers(-20, 21, size=smooth.shape, dtype=np.int16)
    return np.clip(smooth + grain, 0, 255).astype(np.uint8)


def make_video(
    path: str | os.PathLike,
    num_frames: int = 16,
    size: tuple[int, int] = (64, 48),
    fps: int = 25,
    codec: str | None = None,
    pix_fmt: str | None = None,
    pattern: str = "counter",
    gop: int | None = None,
    rotation: int = 0,
    frame_times: Sequence[float] | None = None,
    options: dict[str, str] | None = None,
    faststart: bool = False,
) -> Path:
    """
    Encode a video file.

    Args:
        path: Output file; its suffix picks the container (`.mp4`, `.mkv`, `.webm`, `.avi`, `.mov`, `.mpg`).
        num_frames: Frames to encode.
        size: Displayed `(width, height)`; with a `rotation` of ±90 the stored frames are `(height, width)`.
        fps: Frame rate (ignored for the timing when `frame_times` is given).
        codec: Encoder name; default by container (see `DEFAULT_CODECS`).
        pix_fmt: Stored pixel format, e.g. `"gray"`, `"yuva420p"`, `"yuv420p10le"`, `"rgba"`; the encoder's
            default when `None`.
        pattern: `"counter"` (see the module doc), `"texture"` ([`texture_frame`]) or `"gray_ramp"` (frame
            `i` is uniformly gray at level `8 i mod 256`).
        gop: Keyframe interval (`g`; for libx264 also `keyint_min`, no scene cuts).
        rotation: Display rotation metadata in degrees counter-clockwise (multiple of 90). The stored frames are
            the picture turned the other way, so a correct decoder shows the upright picture.
        frame_times: Presentation time of every frame in seconds (variable frame rate), `num_frames` values.
        options: Extra encoder options, merged over the defaults.
        faststart: For `.mp4`/`.mov`, write the index (moov) before the data.

    Returns:
        The path written.
    """
    path = Path(path)
    codec = codec or DEFAULT_CODECS.get(path.suffix.lower(), "libx264")
    width, height = size
    if rotation % 90:
        raise ValueError(f"rotation must be a multiple of 90, got {rotation}")
    quarter_turns = (rotation // 90) % 4
    stored_width, stored_height = (height, width) if quarter_turns % 2 else (width, height)
    if frame_times is not None and len(frame_times) != num_frames:
        raise ValueError(f"frame_times has {len(frame_times)} values for num_frames={num_frames}")

    encoder_options = dict(_QUALITY_OPTIONS.get(codec, {}))
    if gop is not None:
        encoder_options["g"] = str(gop)
        if codec == "libx264":
            encoder_options.update(keyint_min=str(gop), sc_threshold="0")
    encoder_options.update(options or {})
    container_options = {"movflags": "+faststart"} if faststart else {}

    with av.open(str(path), mode="w", options=container_options) as container:
        stream = container.add_stream(codec, rate=fps, options=encoder_options)
        stream.width, stream.height = stored_width, stored_height
        if pix_fmt is not None:
            stream.pix_fmt = pix_fmt
        if frame_times is not None:
            stream.codec_context.time_base = fractions.Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        input_format = "rgba" if pix_fmt in ALPHA_PIX_FMTS else "rgb24"
        for index in range(num_frames):
            picture = _pattern_frame(pattern, index, (width, height))
            picture = np.ascontiguousarray(np.rot90(picture, k=-quarter_turns)) if quarter_turns else picture
            if input_format == "rgba":
                alpha = np.full(picture.shape[:2] + (1,), 128, dtype=np.uint8)
                picture = np.concatenate([picture, alpha], axis=-1)
            frame = av.VideoFrame.from_ndarray(picture, format=input_format)
            if frame_times is not None:
                frame.pts = int(round(frame_times[index] * 1000))
                frame.time_base = fractions.Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _pattern_frame(pattern: str, index: int, size: tuple[int, int]) -> np.ndarray:
    if pattern == "counter":
        return counter_frame(index, size)
    if pattern == "texture":
        return texture_frame(index, size)
    if pattern == "gray_ramp":
        return np.full((size[1], size[0], 3), (8 * index) % 256, dtype=np.uint8)
    raise ValueError(f"unknown pattern {pattern!r}; expected 'counter', 'texture' or 'gray_ramp'")


def make_audio_file(path: str | os.PathLike, seconds: float = 1.0, codec: str | None = None, rate: int = 16000) -> Path:
    """An audio-only file (a sine tone): `.wav` (PCM), `.flac`, `.m4a` (AAC) or `.mp3`-less `.mka`."""
    path = Path(path)
    codec = codec or {".wav": "pcm_s16le", ".flac": "flac", ".m4a": "aac", ".mka": "flac"}.get(path.suffix, "pcm_s16le")
    samples = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate) * 32767).astype(np.int16)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        target_format = (
            stream.codec_context.codec.audio_formats[0].name if stream.codec_context.codec.audio_formats else "s16"
        )
        frame_size = stream.codec_context.frame_size or 1024
        for start in range(0, len(samples), frame_size):
            chunk = samples[start : start + frame_size]
            frame = av.AudioFrame.from_ndarray(chunk[None], format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            if target_format != "s16":
                frame = av.AudioResampler(format=target_format, layout="mono", rate=rate).resample(frame)[0]
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_truncated_copy(source: str | os.PathLike, destination: str | os.PathLike, fraction: float = 0.5) -> Path:
    """The first `fraction` of `source`'s bytes, as a download cut short would leave it."""
    data = Path(source).read_bytes()
    destination = Path(destination)
    destination.write_bytes(data[: int(len(data) * fraction)])
    return destination


def make_random_bytes(path: str | os.PathLike, num_bytes: int = 8192, seed: int = 0) -> Path:
    """A file of random bytes (no container signature)."""
    path = Path(path)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, size=num_bytes, dtype=np.uint8).tobytes())
    return path


def make_text_file(path: str | os.PathLike) -> Path:
    """A plain text file (whatever its suffix)."""
    path = Path(path)
    path.write_text("This is not a video.\n" * 50)
    return path


FFMPEG_LIBRARIES = (
    "libavutil",
    "libavcodec",
    "libavformat",
    "libavdevice",
    "libavfilter",
    "libswscale",
    "libswresample",
)


def link_pyav_ffmpeg_libraries(directory: str | os.PathLike) -> Path | None:
    """
    Make the FFmpeg libraries inside PyAV's wheel loadable under their standard names (`libavcodec.so.62`, …) from
    `directory`, so that torchcodec can run on a machine without a system FFmpeg: start Python with
    `LD_LIBRARY_PATH=<directory>`. Works when torchcodec supports the FFmpeg major version PyAV bundles (PyAV 18 ↔
    FFmpeg 8 ↔ torchcodec ≥ 0.8). Returns the directory, or `None` where PyAV's wheel has no bundled libraries.
    """
    libs = Path(av.__file__).resolve().parent.parent / "av.libs"
    if not libs.is_dir():
        return None
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for library in libs.iterdir():
        link = directory / library.name
        if not link.exists():
            link.symlink_to(library)
        stem, _, version = library.name.partition(".so.")
        base = stem.rsplit("-", 1)[0]
        if base in FFMPEG_LIBRARIES and version:
            standard = directory / f"{base}.so.{version.split('.')[0]}"
            if not standard.exists():
                standard.symlink_to(library)
    return directory
