"""Decoding: codecs, containers, pixel formats, rotation, variable frame rate, seeking, broken files, backends."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tanet_hf import video_decoding_tanet
from tanet_hf.video_decoding_tanet import VideoDecodeError, decode_video_frames, frames_to_uint8_rgb
from tanet_hf.video_processing_tanet import TANetVideoProcessor, sample_frame_indices

sys.path.insert(0, str(Path(__file__).parent))
from video_factory import (  # noqa: E402
    counter_frame,
    is_upright,
    link_pyav_ffmpeg_libraries,
    make_audio_file,
    make_random_bytes,
    make_text_file,
    make_truncated_copy,
    make_video,
    read_counter,
)

ALL = lambda n: np.arange(n)  # noqa: E731

# (file name, make_video arguments, displayed (width, height))
GOOD_VIDEOS = [
    ("h264.mp4", {}, (64, 48)),
    ("h264.mkv", {}, (64, 48)),
    ("vp9.webm", {}, (64, 48)),
    ("vp8.webm", dict(codec="libvpx"), (64, 48)),
    ("mpeg4.avi", {}, (64, 48)),
    ("mjpeg.avi", dict(codec="mjpeg", pix_fmt="yuvj420p"), (64, 48)),
    ("mpeg2.mpg", {}, (64, 48)),
    ("av1.mkv", dict(codec="libsvtav1", size=(64, 64)), (64, 64)),
    ("hevc_10bit.mp4", dict(codec="libx265", pix_fmt="yuv420p10le"), (64, 48)),
    ("prores_alpha_12bit.mov", dict(codec="prores", pix_fmt="yuva444p10le"), (64, 48)),
    ("ffv1_alpha_odd.mkv", dict(codec="ffv1", pix_fmt="yuva420p", size=(63, 47)), (63, 47)),
    ("png_rgba_odd.mov", dict(codec="png", pix_fmt="rgba", size=(63, 47)), (63, 47)),
    ("h264_444_odd.mp4", dict(pix_fmt="yuv444p", size=(65, 49)), (65, 49)),
    ("portrait.mp4", dict(size=(48, 64)), (48, 64)),
    ("faststart.mp4", dict(faststart=True), (64, 48)),
]


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.mark.parametrize("name, kwargs, display_size", GOOD_VIDEOS, ids=[case[0] for case in GOOD_VIDEOS])
def test_every_frame_decodes_upright_in_order(video_dir, name, kwargs, display_size):
    path = make_video(video_dir / name, num_frames=12, **{"size": (64, 48), **kwargs})
    decoded = decode_video_frames(path, ALL, backend="pyav")
    width, height = display_size
    assert decoded.num_video_frames == 12
    assert decoded.frames.dtype == torch.uint8 and tuple(decoded.frames.shape) == (12, 3, height, width)
    assert [read_counter(frame) for frame in decoded.frames] == list(range(12))
    assert all(is_upright(frame) for frame in decoded.frames)


def test_gray_video_becomes_three_equal_channels(video_dir):
    path = make_video(video_dir / "gray.mkv", num_frames=6, codec="ffv1", pix_fmt="gray")
    frames = decode_video_frames(path, ALL, backend="pyav").frames
    assert frames.shape == (6, 3, 48, 64)
    assert torch.equal(frames[:, 0], frames[:, 1]) and torch.equal(frames[:, 1], frames[:, 2])
    assert [read_counter(frame) for frame in frames] == list(range(6))


@pytest.mark.parametrize("rotation", [90, -90, 180])
@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_rotation_metadata_is_applied(video_dir, rotation, suffix):
    # the stored frames are the picture turned by -rotation; displayed upright at 64×48 only if the decoder rotates
    path = make_video(video_dir / f"rot{rotation}{suffix}", num_frames=5, size=(64, 48), rotation=rotation)
    decoded = decode_video_frames(path, ALL, backend="pyav")
    assert tuple(decoded.frames.shape[-2:]) == (48, 64)
    assert all(is_upright(frame) for frame in decoded.frames)
    assert [read_counter(frame) for frame in decoded.frames] == list(range(5))


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_frame_rate_counts_frames_not_time(video_dir, suffix):
    gaps = [0.01, 0.2, 0.04, 0.5, 0.02, 0.04, 0.3, 0.01, 0.04]
    times = np.concatenate([[0.0], np.cumsum(gaps)]).tolist()
    path = make_video(video_dir / f"vfr{suffix}", num_frames=10, frame_times=times)
    decoded = decode_video_frames(path, lambda n: sample_frame_indices(n, 4, "uniform", "eval"), backend="pyav")
    assert decoded.num_video_frames == 10
    # uniform eval over 10 frames: int(1.25 + 2.5 i) = [1, 3, 6, 8], whatever the timestamps
    assert [read_counter(frame) for frame in decoded.frames] == [1, 3, 6, 8]


def test_seeking_returns_exactly_the_requested_frames_in_request_order(video_dir):
    path = make_video(video_dir / "gop4.mp4", num_frames=60, gop=4)
    wanted = np.array([[59, 0, 31, 31], [5, 6, 58, 2]])
    decoded = decode_video_frames(path, lambda n: wanted, backend="pyav")
    assert decoded.indices.tolist() == wanted.tolist()
    assert [read_counter(frame) for frame in decoded.frames] == wanted.reshape(-1).tolist()


def test_only_the_needed_stretch_of_the_file_is_decoded(video_dir, monkeypatch):
    path = make_video(video_dir / "long_gop10.mp4", num_frames=300, size=(32, 32), gop=10, pattern="gray_ramp")
    decoded_frames = []
    original = video_decoding_tanet._iter_frames

    def counting(*args, **kwargs):
        for frame in original(*args, **kwargs):
            decoded_frames.append(frame.pts)
            yield frame

    monkeypatch.setattr(video_decoding_tanet, "_iter_frames", counting)
    decoded = decode_video_frames(path, lambda n: np.array([250, 280, 295]), backend="pyav")
    assert decoded.frames.shape[0] == 3
    # three keyframe-to-target stretches of at most 10 frames (plus decoder delay) instead of 296 frames from the start
    assert len(decoded_frames) < 45, len(decoded_frames)


def test_every_input_kind_gives_the_same_frames(video_dir):
    path = make_video(video_dir / "kinds.mp4", num_frames=8)
    data = path.read_bytes()
    pick = lambda n: np.array([1, 4, 6])  # noqa: E731
    reference = decode_video_frames(path, pick, backend="pyav").frames
    for video in (
        str(path),
        path,
        data,
        bytearray(data),
        io.BytesIO(data),
        {"path": str(path)},
        {"bytes": data, "path": None},
    ):
        assert torch.equal(decode_video_frames(video, pick, backend="pyav").frames, reference)
    assert [read_counter(frame) for frame in reference] == [1, 4, 6]


def test_frames_in_memory_of_every_layout_become_uint8_rgb():
    rgb = np.stack([counter_frame(i, (40, 30)) for i in range(3)])  # (T, H, W, 3)
    expected = torch.from_numpy(rgb).permute(0, 3, 1, 2)
    rgba = np.concatenate([rgb, np.full(rgb.shape[:3] + (1,), 7, np.uint8)], axis=-1)
    variants = {
        "numpy THWC": rgb,
        "torch TCHW": expected.clone(),
        "torch THWC": torch.from_numpy(rgb),
        "numpy RGBA": rgba,
        "PIL RGB": [Image.fromarray(frame) for frame in rgb],
        "PIL RGBA": [Image.fromarray(frame) for frame in rgba],
        "float [0, 1]": rgb.astype(np.float32) / 255.0,
        "uint16": rgb.astype(np.uint16) * 257,
        "list of arrays": list(rgb),
    }
    for name, video in variants.items():
        assert torch.equal(frames_to_uint8_rgb(video, name), expected), name
    gray = rgb[..., 0]
    assert torch.equal(frames_to_uint8_rgb(gray)[:, 1], torch.from_numpy(gray))
    assert frames_to_uint8_rgb([Image.fromarray(g) for g in gray]).shape == (3, 3, 30, 40)


@pytest.mark.parametrize(
    "video, message",
    [
        (np.zeros((0, 8, 8, 3), np.uint8), "no frames"),
        (np.zeros((2, 8, 8, 5), np.uint8), "channel"),
        (np.full((2, 8, 8, 3), 2.0, np.float32), r"\[0, 1\]"),
        (np.zeros((8, 8), np.uint8), "4 dimensions"),
        ([], "empty"),
        ([Image.new("RGB", (8, 8)), Image.new("RGB", (9, 8))], "different sizes"),
    ],
)
def test_bad_frames_in_memory_raise_value_error(video, message):
    with pytest.raises(ValueError, match=message):
        frames_to_uint8_rgb(video, "clip")


# --- broken inputs ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def broken_files(video_dir) -> dict[str, tuple[Path, str]]:
    """name → (path, a phrase the error must contain)."""
    long_mp4 = make_video(video_dir / "long.mp4", num_frames=40)
    long_faststart = make_video(video_dir / "long_faststart.mp4", num_frames=40, faststart=True)
    long_mkv = make_video(video_dir / "long.mkv", num_frames=40)
    long_webm = make_video(video_dir / "long.webm", num_frames=40)
    long_avi = make_video(video_dir / "long.avi", num_frames=40)
    (video_dir / "empty.mp4").write_bytes(b"")
    (video_dir / "a_directory.mp4").mkdir(exist_ok=True)
    files = {
        "empty": (video_dir / "empty.mp4", "empty"),
        "missing": (video_dir / "missing.mp4", "no such file"),
        "directory": (video_dir / "a_directory.mp4", "directory"),
        "truncated mp4 (index at the end)": (
            make_truncated_copy(long_mp4, video_dir / "cut.mp4", 0.6),
            "not a readable",
        ),
        "truncated mp4 (index first)": (
            make_truncated_copy(long_faststart, video_dir / "cut_fs.mp4", 0.6),
            "truncated",
        ),
        "truncated mkv": (make_truncated_copy(long_mkv, video_dir / "cut.mkv", 0.6), "truncated"),
        "truncated webm": (make_truncated_copy(long_webm, video_dir / "cut.webm", 0.9), "truncated"),
        "truncated avi": (make_truncated_copy(long_avi, video_dir / "cut.avi", 0.8), "truncated"),
        "random bytes": (make_random_bytes(video_dir / "random.mp4"), "not a readable"),
        "text as .mp4": (make_text_file(video_dir / "text.mp4"), "not a readable"),
        "text as .txt": (make_text_file(video_dir / "notes.txt"), "text file"),
        "audio wav": (make_audio_file(video_dir / "tone.wav"), "no video stream"),
        "audio m4a": (make_audio_file(video_dir / "tone.m4a"), "no video stream"),
        "audio flac": (make_audio_file(video_dir / "tone.flac"), "no video stream"),
    }
    return files


BROKEN = [
    "empty",
    "missing",
    "directory",
    "truncated mp4 (index at the end)",
    "truncated mp4 (index first)",
    "truncated mkv",
    "truncated webm",
    "truncated avi",
    "random bytes",
    "text as .mp4",
    "text as .txt",
    "audio wav",
    "audio m4a",
    "audio flac",
]


@pytest.mark.parametrize("case", BROKEN)
def test_broken_inputs_raise_video_decode_error_naming_file_and_reason(broken_files, case):
    path, reason = broken_files[case]
    with pytest.raises(VideoDecodeError) as info:
        decode_video_frames(path, ALL)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(f"{path}: ") and info.value.source == str(path)
    assert reason in info.value.reason


def test_processor_raises_video_decode_error_too(broken_files):
    path, _ = broken_files["truncated mkv"]
    with pytest.raises(VideoDecodeError, match="cut.mkv"):
        TANetVideoProcessor(num_frames=4)(str(path))
    with pytest.raises(VideoDecodeError, match="empty"):
        TANetVideoProcessor(num_frames=4)(b"")


_QUIET_SCRIPT = """
import sys
from tanet_hf.video_decoding_tanet import VideoDecodeError, decode_video_frames
failures = 0
for path in sys.argv[2:]:
    try:
        decode_video_frames(path, lambda n: list(range(n)), backend=sys.argv[1])
    except VideoDecodeError:
        failures += 1
print(failures)
"""


def test_broken_files_fail_without_printing_to_stderr(broken_files, tmp_path):
    paths = [str(path) for path, _ in broken_files.values()]
    result = subprocess.run(
        [sys.executable, "-c", _QUIET_SCRIPT, "auto", *paths], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(len(paths))
    assert result.stderr == ""


# --- torchcodec ---------------------------------------------------------------------------------------------------


def _torchcodec_environment(tmp_path: Path) -> dict[str, str] | None:
    """Environment in which torchcodec can load FFmpeg: as is when it already can; otherwise pointed at the FFmpeg
    libraries inside PyAV's wheel (same FFmpeg major version) under their standard names. None if neither works."""
    env = dict(os.environ)
    if video_decoding_tanet.is_torchcodec_usable():
        return env
    link_dir = link_pyav_ffmpeg_libraries(tmp_path / "ffmpeg_libs")
    if link_dir is None:
        return None
    env["LD_LIBRARY_PATH"] = f"{link_dir}:{env.get('LD_LIBRARY_PATH', '')}"
    check = "from tanet_hf.video_decoding_tanet import is_torchcodec_usable as u; print(u())"
    result = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=120)
    return env if result.stdout.strip() == "True" else None


_COMPARE_SCRIPT = """
import sys, json
import numpy as np, torch
from tanet_hf.video_decoding_tanet import VideoDecodeError, decode_video_frames
good, broken = json.loads(sys.argv[1])
report = {"same": [], "errors": []}
for path in good:
    pick = lambda n: np.array([[n - 1, 0, n // 2], [n // 2, 1, n - 2]])
    a = decode_video_frames(path, pick, backend="torchcodec")
    b = decode_video_frames(path, pick, backend="pyav")
    auto = decode_video_frames(path, pick, backend="auto")
    same = a.frames.shape == b.frames.shape and (a.frames.int() - b.frames.int()).abs().float().mean().item() < 3
    report["same"].append([path, bool(same), a.backend, auto.backend, a.num_video_frames == b.num_video_frames])
import datasets
from tanet_hf import TANetVideoProcessor
rows = datasets.Dataset.from_dict({"video": good[:1]}).cast_column("video", datasets.Video())
decoder = rows[0]["video"]  # a torchcodec VideoDecoder, decoded in this process
report["datasets_decoder"] = [
    type(decoder).__name__,
    torch.equal(
        TANetVideoProcessor(num_frames=4)(decoder)["pixel_values"],
        TANetVideoProcessor(num_frames=4, decode_backend="pyav")(good[0])["pixel_values"],
    ),
]
for path in broken:
    try:
        decode_video_frames(path, lambda n: np.arange(n), backend="torchcodec")
        report["errors"].append([path, None])
    except VideoDecodeError as error:
        report["errors"].append([path, error.reason])
print(json.dumps(report))
"""


def test_torchcodec_backend_agrees_with_pyav(video_dir, broken_files, tmp_path):
    env = _torchcodec_environment(tmp_path)
    if env is None:
        pytest.skip("torchcodec cannot load FFmpeg here")
    good = [
        str(make_video(video_dir / name, num_frames=12, **{"size": (64, 48), **kwargs}))
        for name, kwargs, _ in GOOD_VIDEOS
        if name != "mpeg2.mpg"
    ]
    good.append(str(make_video(video_dir / "tc_rot90.mp4", num_frames=6, rotation=90)))
    good.append(str(make_video(video_dir / "tc_vfr.mkv", num_frames=6, frame_times=[0, 0.1, 0.15, 0.5, 0.52, 0.9])))
    broken = [str(broken_files[case][0]) for case in BROKEN if case not in ("missing", "directory", "empty")]
    result = subprocess.run(
        [sys.executable, "-c", _COMPARE_SCRIPT, json.dumps([good, broken])],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
    report = json.loads(result.stdout)
    for path, same, backend, auto_backend, same_count in report["same"]:
        assert same and same_count and backend == "torchcodec" and auto_backend == "torchcodec", path
    for path, reason in report["errors"]:
        assert reason, f"{path} decoded with torchcodec instead of raising"
    assert report["datasets_decoder"] == ["VideoDecoder", True]


def test_requesting_torchcodec_without_ffmpeg_says_so(monkeypatch, video_dir):
    monkeypatch.setattr(video_decoding_tanet, "is_torchcodec_usable", lambda: False)
    path = make_video(video_dir / "plain.mp4", num_frames=4)
    with pytest.raises(ImportError, match="torchcodec"):
        decode_video_frames(path, ALL, backend="torchcodec")
    assert decode_video_frames(path, ALL, backend="auto").backend == "pyav"
    with pytest.raises(ValueError, match="backend"):
        decode_video_frames(path, ALL, backend="opencv")


def test_datasets_video_values_decode(video_dir):
    datasets = pytest.importorskip("datasets")
    path = make_video(video_dir / "ds.mp4", num_frames=10)
    rows = datasets.Dataset.from_dict({"video": [str(path)]}).cast_column("video", datasets.Video(decode=False))
    value = rows[0]["video"]
    decoded = decode_video_frames(value, lambda n: np.array([2, 7]))
    assert [read_counter(frame) for frame in decoded.frames] == [2, 7]
    if video_decoding_tanet.is_torchcodec_usable():
        decoder = datasets.Dataset.from_dict({"video": [str(path)]}).cast_column("video", datasets.Video())[0]["video"]
        assert [read_counter(f) for f in decode_video_frames(decoder, lambda n: np.array([2, 7])).frames] == [2, 7]


def test_seeking_with_skipped_b_frames_is_bit_identical_to_decoding_everything(video_dir):
    # x264 "medium" with B-frames (some non-reference, which the seeking decoder skips) and a keyframe every 12
    path = make_video(
        video_dir / "bframes.mp4",
        num_frames=90,
        size=(96, 64),
        pattern="texture",
        gop=12,
        options={"crf": "23", "preset": "medium", "bf": "3"},
    )
    everything = decode_video_frames(path, ALL, backend="pyav").frames
    wanted = np.array([3, 4, 40, 41, 13, 89, 60, 62, 25])
    picked = decode_video_frames(path, lambda n: wanted, backend="pyav").frames
    assert torch.equal(picked, everything[torch.from_numpy(wanted)])


# --- re-encoding --------------------------------------------------------------------------------------------------


def test_reencode_keeps_frames_and_timing_and_stores_upright_short_gop_256(tmp_path):
    import av

    from tanet_hf.cli import main as cli_main

    source_dir = tmp_path / "in"
    (source_dir / "sub").mkdir(parents=True)
    make_video(source_dir / "wide.mkv", num_frames=40, size=(96, 64))
    make_video(source_dir / "sub" / "rotated.mp4", num_frames=12, size=(48, 80), rotation=90)
    times = [0, 0.1, 0.15, 0.5, 0.52, 0.9, 1.0, 1.01]
    make_video(source_dir / "sub" / "vfr.mp4", num_frames=8, frame_times=times)
    make_text_file(source_dir / "sub" / "notes.webm")
    output_dir = tmp_path / "out"

    code = cli_main(["reencode", str(source_dir), "--output-dir", str(output_dir), "--workers", "1", "--gop", "8"])
    assert code == 1  # the text file fails, the others are written
    log = [json.loads(line) for line in (output_dir / "reencode_log.jsonl").read_text().splitlines()]
    assert sorted(Path(entry["source"]).name for entry in log if entry["error"]) == ["notes.webm"]

    expected = {"wide.mp4": (40, 256, 384), "sub/rotated.mp4": (12, 426, 256), "sub/vfr.mp4": (8, 256, 342)}
    for relative, (num_frames, height, width) in expected.items():
        path = output_dir / relative
        decoded = decode_video_frames(path, ALL, backend="pyav")
        assert tuple(decoded.frames.shape) == (num_frames, 3, height, width), relative
        assert [read_counter(frame) for frame in decoded.frames] == list(range(num_frames)), relative
        assert all(is_upright(frame) for frame in decoded.frames), relative
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            packets = sorted((p for p in container.demux(stream) if p.size), key=lambda p: p.pts)
            assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
            keyframes = [i for i, packet in enumerate(packets) if packet.is_keyframe]
            assert keyframes == list(range(0, num_frames, 8)), relative
            if relative == "sub/vfr.mp4":
                assert [float(p.pts * p.time_base) for p in packets] == pytest.approx(times, abs=1e-3)

    # a second run skips what exists
    code = cli_main(["reencode", str(source_dir / "wide.mkv"), "--output-dir", str(output_dir), "--workers", "1"])
    assert code == 0


def test_reencode_output_size_keeps_aspect_with_even_sides():
    from tanet_hf.reencode import output_size

    assert output_size(340, 256, 256) == (340, 256)
    assert output_size(1920, 1080, 256) == (456, 256)
    assert output_size(1080, 1920, 256) == (256, 456)
    assert output_size(63, 47, 256) == (344, 256)


# --- every backend returns the frames asked for ---------------------------------------------------------------------

# one video per container the tests make; MPEG-TS with the two codecs it usually carries
CONTAINER_VIDEOS = [
    ("c.mp4", {}),
    ("c.mov", {}),
    ("c.mkv", {}),
    ("c.webm", {}),
    ("c.avi", {}),
    ("c.mpg", {}),
    ("c_h264.ts", dict(codec="libx264")),
    ("c_mpeg2.ts", dict(codec="mpeg2video")),
]

_EVERY_BACKEND_SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from video_factory import read_counter
from tanet_hf import video_decoding_tanet
from tanet_hf.video_decoding_tanet import decode_video_frames
import torchcodec.decoders
paths, unreliable = json.loads(sys.argv[2])
video_decoding_tanet._TORCHCODEC_UNRELIABLE_FORMATS = tuple(unreliable)
seek_modes = []
class RecordingDecoder(torchcodec.decoders.VideoDecoder):
    def __init__(self, *args, **kwargs):
        seek_modes.append(kwargs.get("seek_mode"))
        super().__init__(*args, **kwargs)
torchcodec.decoders.VideoDecoder = RecordingDecoder
report = []
for path in paths:
    for backend in ("torchcodec", "pyav", "auto"):
        seek_modes.clear()
        decoded = decode_video_frames(path, lambda n: np.array([1, 3, 6, 8, 11]), backend=backend)
        counters = [read_counter(frame) for frame in decoded.frames]
        report.append([path, backend, decoded.backend, counters, list(seek_modes)])
print(json.dumps(report))
"""


@pytest.mark.parametrize("format_rule", ["as shipped", "timestamp check alone"])
def test_every_backend_returns_the_requested_frames_from_every_container(video_dir, tmp_path, format_rule):
    env = _torchcodec_environment(tmp_path)
    if env is None:
        pytest.skip("torchcodec cannot load FFmpeg here")
    videos = CONTAINER_VIDEOS
    unreliable = list(video_decoding_tanet._TORCHCODEC_UNRELIABLE_FORMATS)
    if format_rule == "timestamp check alone":
        # no container is known to be unreliable, so only the check of torchcodec's frame timestamps against the
        # packet index stands between MPEG-PS and frames 0, 2, 5, 7, 10 (on MPEG-2 in MPEG-TS torchcodec raises
        # instead of returning wrong frames: only the format rule sends that one to PyAV)
        videos, unreliable = [video for video in videos if video[0] != "c_mpeg2.ts"], []
    paths = [str(make_video(video_dir / name, num_frames=12, size=(64, 48), **kwargs)) for name, kwargs in videos]
    result = subprocess.run(
        [sys.executable, "-c", _EVERY_BACKEND_SCRIPT, str(Path(__file__).parent), json.dumps([paths, unreliable])],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert len(report) == 3 * len(paths)
    for path, backend, used, counters, _ in report:
        assert counters == [1, 3, 6, 8, 11], (path, backend, used)
    used = {(Path(path).name, backend): decoded_by for path, backend, decoded_by, _, _ in report}
    assert used[("c.mp4", "torchcodec")] == "torchcodec"  # the check does not push good files to PyAV
    assert used[("c.mkv", "auto")] == "torchcodec"
    # torchcodec does not scan the file again: it seeks by the timestamps of PyAV's packet index
    seek_modes = {(Path(path).name, backend): modes for path, backend, _, _, modes in report}
    assert seek_modes[("c.mp4", "torchcodec")] == seek_modes[("c.webm", "auto")] == ["approximate"]
    assert seek_modes[("c.mp4", "pyav")] == []
