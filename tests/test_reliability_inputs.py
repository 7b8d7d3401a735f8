"""Numbers that cannot lie and inputs that cannot exhaust the machine: the accuracy metric on ties and NaN, frames
with NaN/inf, URL deadlines and size caps, and the decoder's frame-size guard."""

from __future__ import annotations

import socketserver
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tanet_hf.training.evaluation import METRIC_DIR, load_video_accuracy
from tanet_hf.video_decoding_tanet import VideoDecodeError, decode_video_frames, frames_to_uint8_rgb

sys.path.insert(0, str(Path(__file__).parent))
from video_factory import make_video, read_counter  # noqa: E402

sys.path.insert(0, str(METRIC_DIR))
from video_accuracy import video_accuracy  # noqa: E402

# --- the accuracy metric --------------------------------------------------------------------------------------------


def _agrees_with_confusion_matrix(results: dict) -> bool:
    confusion = np.asarray(results["confusion_matrix"])
    return results["top1"] == pytest.approx(np.trace(confusion) / results["num_samples"])


def test_all_equal_logits_score_what_argmax_predicts_not_100_percent():
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7, 1, 2])
    results = video_accuracy(np.zeros((10, 8)), labels, top_k=(1, 5), return_confusion_matrix=True)
    # argmax of equal scores is class 0: right only on the one clip of class 0; top-5 holds classes 0–4
    assert results["top1"] == pytest.approx(0.1)
    assert results["top5"] == pytest.approx(7 / 10)
    assert _agrees_with_confusion_matrix(results)
    assert np.asarray(results["confusion_matrix"])[:, 0].sum() == 10


def test_all_nan_logits_score_zero_and_are_counted_as_unscored():
    labels = np.array([0, 1, 2, 3])
    results = video_accuracy(np.full((4, 6), np.nan), labels, top_k=(1, 5), return_confusion_matrix=True)
    assert results["top1"] == 0.0 and results["top5"] == 0.0 and results["mean_class_accuracy"] == 0.0
    assert results["num_unscored"] == 4
    assert np.asarray(results["confusion_matrix"]).sum() == 0
    assert _agrees_with_confusion_matrix(results)


def test_a_clip_with_some_nan_scores_is_wrong_and_the_others_count_normally():
    scores = np.array([[0.9, 0.1, 0.0], [np.nan, 0.8, 0.1], [0.1, 0.2, 0.7], [0.3, np.nan, np.nan]])
    results = video_accuracy(scores, np.array([0, 1, 2, 0]), top_k=(1, 3), return_confusion_matrix=True)
    assert results["top1"] == pytest.approx(0.5) and results["top3"] == pytest.approx(0.5)
    assert results["num_unscored"] == 2
    assert results["mean_class_accuracy"] == pytest.approx((0.5 + 0.0 + 1.0) / 3)
    assert _agrees_with_confusion_matrix(results)


def test_ties_between_the_true_class_and_others_break_like_argmax():
    # true class 2 ties with class 1 (lower index: ranks first) and class 3 (higher index: ranks after)
    scores = np.array([[0.0, 0.5, 0.5, 0.5], [0.0, 0.2, 0.9, 0.9]])
    results = video_accuracy(scores, np.array([2, 2]), top_k=(1, 2), return_confusion_matrix=True)
    assert results["top1"] == pytest.approx(0.5) and results["top2"] == pytest.approx(1.0)
    assert _agrees_with_confusion_matrix(results)


def test_top1_and_confusion_matrix_agree_through_evaluate_on_random_ties_and_nan():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 3, size=(200, 7)).astype(np.float32)  # many ties
    scores[rng.random(scores.shape) < 0.02] = np.nan
    labels = rng.integers(0, 7, size=200)
    results = load_video_accuracy().compute(
        predictions=scores, references=labels, top_k=(1, 5), return_confusion_matrix=True
    )
    assert _agrees_with_confusion_matrix(results)
    assert results["num_unscored"] == int(np.isnan(scores).any(axis=1).sum()) > 0


# --- frames in memory -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_float_frames_with_nan_or_inf_are_refused_by_name(bad, kind):
    frames = np.full((2, 8, 8, 3), 0.5, np.float32)
    frames[1, 3, 4, 0] = bad
    video = frames if kind == "numpy" else torch.from_numpy(frames).permute(0, 3, 1, 2)
    with pytest.raises(ValueError, match=r"clip: .*(NaN|infinite)"):
        frames_to_uint8_rgb(video, "clip")
    with pytest.raises(ValueError, match=r"<(ndarray|Tensor)>: .*(NaN|infinite)"):
        decode_video_frames(video, lambda n: np.arange(n))


# --- the decoder's frame-size guard ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """4 KB of H.264: two 16384 × 2 px frames (short side resized to 256 would make 256 × 2,097,152 px frames)."""
    return make_video(tmp_path_factory.mktemp("bomb") / "bomb.mp4", num_frames=2, size=(16384, 2), pattern="gray_ramp")


@pytest.mark.parametrize("backend", ["pyav", "auto"])
def test_an_absurd_aspect_ratio_is_refused_by_name_before_any_frame_is_decoded(bomb, backend, monkeypatch):
    from tanet_hf import video_decoding_tanet

    def no_decoding(*args, **kwargs):
        raise AssertionError("a frame was decoded")

    monkeypatch.setattr(video_decoding_tanet, "_iter_frames", no_decoding)
    monkeypatch.setattr(video_decoding_tanet, "_decode_with_torchcodec", no_decoding)
    with pytest.raises(VideoDecodeError, match=r"16384 × 2 .*aspect ratio of 8192:1") as info:
        decode_video_frames(bomb, lambda n: np.arange(n), backend=backend)
    assert info.value.source == str(bomb)
    assert bomb.stat().st_size < 10_000


def test_frame_size_limits_are_settings(tmp_path, monkeypatch):
    from tanet_hf.video_decoding_tanet import DecodeLimits

    path = make_video(tmp_path / "small.mp4", num_frames=3, size=(64, 48))
    with pytest.raises(VideoDecodeError, match=r"64 × 48 = 3,072 pixels exceed the limit of 3,000"):
        decode_video_frames(path, lambda n: np.arange(n), backend="pyav", limits=DecodeLimits(max_frame_pixels=3000))
    monkeypatch.setenv("TANET_MAX_FRAME_PIXELS", "3000")
    with pytest.raises(VideoDecodeError, match="TANET_MAX_FRAME_PIXELS"):
        decode_video_frames(path, lambda n: np.arange(n), backend="pyav")
    monkeypatch.setenv("TANET_MAX_FRAME_PIXELS", "3072")
    monkeypatch.setenv("TANET_MAX_ASPECT_RATIO", "1.2")
    with pytest.raises(VideoDecodeError, match=r"64 × 48 have an aspect ratio of 1.333:1, beyond the limit of 1.2:1"):
        decode_video_frames(path, lambda n: np.arange(n), backend="pyav")
    monkeypatch.setenv("TANET_MAX_ASPECT_RATIO", "1.5")
    assert [read_counter(f) for f in decode_video_frames(path, lambda n: np.arange(n), backend="pyav").frames] == [
        0,
        1,
        2,
    ]
    monkeypatch.setenv("TANET_MAX_ASPECT_RATIO", "wide")
    with pytest.raises(ValueError, match="TANET_MAX_ASPECT_RATIO='wide'"):
        DecodeLimits.from_env()


def test_a_training_loader_skips_the_bomb_as_an_unreadable_video(bomb, tmp_path):
    datasets = pytest.importorskip("datasets")
    from tanet_hf import TANetVideoProcessor
    from tanet_hf.training.loading import VideoClipDataset

    good = make_video(tmp_path / "good.mp4", num_frames=8, size=(64, 48))
    rows = datasets.Dataset.from_dict({"video": [str(bomb), str(good)], "label": [0, 1]})
    rows = rows.cast_column("video", datasets.Video(decode=False))
    processor = TANetVideoProcessor(num_frames=2, decode_backend="pyav")
    item = VideoClipDataset(rows, processor, mode="train")[0]
    assert item["valid"] is False and item["labels"] == 1
    assert len(item["skipped"]) == 1 and "bomb.mp4" in item["skipped"][0] and "aspect ratio" in item["skipped"][0]
    assert item["pixel_values"].shape[0] == 2


# --- URLs: an overall deadline and a size cap -----------------------------------------------------------------------


class _HostileHandler(socketserver.BaseRequestHandler):
    """Raw HTTP on 127.0.0.1: `/video` serves a real file, `/redirect` points there, `/trickle-body` and
    `/trickle-headers` send a byte every 0.1 s, `/endless` streams 64 MiB of zeros without a length, `/huge`
    declares a terabyte. Trickles give up after 20 s so that no test can hang on the server."""

    def handle(self):
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            request += chunk
        path = request.split(b" ")[1].decode()
        send, stop_at = self.request.sendall, time.monotonic() + 20
        try:
            if path == "/video":
                body = self.server.video_bytes
                send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
            elif path == "/redirect":
                send(b"HTTP/1.1 302 Found\r\nLocation: /video\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            elif path == "/huge":
                send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\nConnection: close\r\n\r\n")
            elif path == "/endless":
                send(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                for _ in range(1024):  # 64 MiB at most: "endless" next to the 1 MiB cap, bounded for the machine
                    send(bytes(1 << 16))
            elif path.startswith("/trickle"):
                # a body that never completes, or a header line that never ends
                body = path == "/trickle-body"
                send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" if body else b"HTTP/1.1 200 OK\r\nX-Slow: ")
                while time.monotonic() < stop_at:
                    send(b"x")
                    time.sleep(0.1)
        except OSError:
            pass  # the client hung up, as it should


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _HostileHandler)
    server.daemon_threads = True
    server.video_bytes = make_video(tmp_path_factory.mktemp("served") / "served.mp4", num_frames=6).read_bytes()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_url_video_decodes_through_a_redirect(hostile_server):
    decoded = decode_video_frames(f"{hostile_server}/redirect", lambda n: np.array([1, 4]), backend="pyav")
    assert [read_counter(frame) for frame in decoded.frames] == [1, 4]


@pytest.mark.parametrize("path", ["/trickle-body", "/trickle-headers"])
def test_a_trickling_server_is_cut_off_at_the_overall_deadline(hostile_server, path):
    from tanet_hf.video_decoding_tanet import DecodeLimits

    started = time.monotonic()
    with pytest.raises(VideoDecodeError, match=r"did not finish within 1.5 s .*TANET_URL_TIMEOUT") as info:
        decode_video_frames(f"{hostile_server}{path}", lambda n: np.arange(n), limits=DecodeLimits(url_timeout_s=1.5))
    assert info.value.source == f"{hostile_server}{path}"
    assert time.monotonic() - started < 6


def test_an_endless_or_huge_body_ends_in_a_clear_error_not_memory_error(hostile_server, monkeypatch):
    from tanet_hf import TANetVideoProcessor
    from tanet_hf.video_decoding_tanet import DecodeLimits

    with pytest.raises(VideoDecodeError, match=r"sent more than 1,048,576 bytes.*TANET_URL_MAX_BYTES"):
        decode_video_frames(f"{hostile_server}/endless", lambda n: n, limits=DecodeLimits(url_max_bytes=1 << 20))
    with pytest.raises(VideoDecodeError, match=r"declares 1,000,000,000,000 bytes, over the limit of 2,147,483,648"):
        decode_video_frames(f"{hostile_server}/huge", lambda n: n)
    # the environment reaches the processor, which passes no limits of its own
    monkeypatch.setenv("TANET_URL_MAX_BYTES", str(1 << 20))
    with pytest.raises(VideoDecodeError, match="sent more than 1,048,576 bytes"):
        TANetVideoProcessor(num_frames=2, decode_backend="pyav")(f"{hostile_server}/endless")
