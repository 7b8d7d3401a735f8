"""`tanet-hf extract-features` and `tanet-hf classify-long`: features equal TANetModel's on the same frames, with
the frames and windows written down; long-video labels switch at the join of two classes' clips; windows are
streamed with memory flat in the video's length; a window shorter than T frames is refused by name."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from tools_helpers import flat_frames, save_brightness_model, save_tiny_model, write_frames
from video_factory import make_video

from tanet_hf import TANetForVideoClassification, TANetVideoProcessor
from tanet_hf.cli import main
from tanet_hf.tools.windows import stream_windows
from tanet_hf.video_decoding_tanet import VideoDecodeError, decode_video_frames


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("videos") / "walk.mp4", num_frames=50, fps=10, pattern="texture")


def _backbone(model_dir):
    model = TANetForVideoClassification.from_pretrained(model_dir).eval()
    return model.tanet, TANetVideoProcessor.from_pretrained(model_dir)


def test_clip_and_frame_features_equal_the_model_outputs(model_dir, video, tmp_path):
    out = tmp_path / "features"
    assert main(["extract-features", str(model_dir), str(video), "--output-dir", str(out), "--no-progress"]) == 0
    assert main(["extract-features", str(model_dir), str(video), "--output-dir", str(out / "frames"),
                 "--level", "frame", "--format", "safetensors", "--no-progress"]) == 0  # fmt: skip
    backbone, processor = _backbone(model_dir)
    with torch.no_grad():
        outputs = backbone(processor(str(video))["pixel_values"])
    np.testing.assert_allclose(np.load(out / "walk.npy"), outputs.pooler_output[0].numpy(), rtol=1e-4, atol=1e-5)
    frames = load_file(str(out / "frames" / "walk.safetensors"))["features"]
    np.testing.assert_allclose(frames, outputs.frame_features[0].numpy(), rtol=1e-4, atol=1e-5)
    metadata = json.loads((out / "walk.json").read_text())
    assert metadata["frame_indices"] == [6, 18, 31, 43]  # int(12.5 / 2 + 12.5 i): the processor's eval sampling
    assert metadata["fps"] == 10 and metadata["num_video_frames"] == 50 and metadata["model"] == str(model_dir)
    assert metadata["shape"] == [128] and "pooler_output" in metadata["layer"]


def test_window_features_record_their_frames_and_equal_the_model_on_them(model_dir, video, tmp_path):
    out = tmp_path / "windows"
    argv = ["extract-features", str(model_dir), str(video), str(tmp_path / "gone.mp4"), "--output-dir", str(out),
            "--level", "window", "--window-seconds", "1.6", "--stride-seconds", "0.8", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    features = np.load(out / "walk.npy")
    metadata = json.loads((out / "walk.json").read_text())
    assert (metadata["window_frames"], metadata["stride_frames"], metadata["fps"]) == (16, 8, 10)
    assert metadata["window_seconds"] == 1.6 and metadata["stride_seconds"] == 0.8
    # windows start every 8 frames and need 16 of the 50: starts 0, 8, 16, 24, 32
    assert features.shape == (5, 128) and len(metadata["frame_indices"]) == 5
    assert metadata["frame_indices"][1] == [10, 14, 18, 22]  # 8 + floor((i + 0.5) * 16 / 4)
    assert metadata["window_seconds_span"][1] == [0.8, 2.4]
    backbone, processor = _backbone(model_dir)
    for window in (0, 4):
        indices = np.asarray(metadata["frame_indices"][window])
        frames = decode_video_frames(str(video), lambda n, i=indices: i).frames
        with torch.no_grad():
            expected = backbone(processor(frames, do_sample_frames=False)["pixel_values"]).pooler_output[0]
        np.testing.assert_allclose(features[window], expected.numpy(), rtol=1e-4, atol=1e-5)
    assert not (out / "gone.json").exists()


def test_classify_long_switches_label_within_one_stride_of_the_join(tmp_path):
    model_dir = save_brightness_model(tmp_path / "brightness")
    joined = write_frames(
        tmp_path / "dark_then_bright.mp4", np.concatenate([flat_frames(40, 40), flat_frames(215, 40)])
    )
    output = tmp_path / "long.json"
    argv = ["classify-long", str(model_dir), str(joined), "--window-seconds", "1", "--stride-seconds", "0.5",
            "--top-k", "2", "--output", str(output)]  # fmt: skip
    assert main(argv) == 0
    windows = json.loads(output.read_text())["windows"]
    assert len(windows) == 15  # starts 0, 0.5, ..., 7.0 s; each 1 s long
    labels = [w["top_k"][0]["label"] for w in windows]
    switch = labels.index("bright")
    assert set(labels[:switch]) == {"dark"} and set(labels[switch:]) == {"bright"}
    join, stride = 4.0, 0.5
    centre = (windows[switch]["start_seconds"] + windows[switch]["end_seconds"]) / 2
    assert abs(centre - join) <= stride
    assert all(len(w["top_k"]) == 2 for w in windows) and windows[3]["start_seconds"] == 1.5


def test_windows_are_streamed_with_memory_flat_in_the_video_length(tmp_path):
    short = make_video(tmp_path / "short.mp4", num_frames=150, size=(128, 96), fps=30, pattern="texture")
    long = make_video(tmp_path / "long.mp4", num_frames=900, size=(128, 96), fps=30, pattern="texture")

    def peak_bytes(path):
        tracemalloc.start()
        _, windows = stream_windows(path, num_frames=4, window_seconds=1.0, stride_seconds=0.5)
        count = sum(1 for _ in windows)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return count, peak

    frame_bytes = 128 * 96 * 3
    short_count, short_peak = peak_bytes(short)
    long_count, long_peak = peak_bytes(long)
    assert (short_count, long_count) == (9, 59)
    assert long_peak < 40 * frame_bytes  # all 900 frames would be 900 × frame_bytes
    assert long_peak < 1.5 * short_peak + 4 * frame_bytes


def test_a_window_shorter_than_t_frames_and_a_short_video_are_refused_by_name(model_dir, video, tmp_path):
    with pytest.raises(ValueError, match=r"walk\.mp4: a window of 0\.3 s at 10 fps holds 3 frames, fewer than .*T=4"):
        main(["classify-long", str(model_dir), str(video), "--window-seconds", "0.3"])
    with pytest.raises(VideoDecodeError, match=r"walk\.mp4: 50 frames \(5\.00 s\) is shorter than one window"):
        main(["classify-long", str(model_dir), str(video), "--window-seconds", "8"])
    with pytest.raises(VideoDecodeError, match=r"absent\.mp4: no such file"):
        main(["classify-long", str(model_dir), str(tmp_path / "absent.mp4")])
