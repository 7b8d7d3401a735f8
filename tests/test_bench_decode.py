"""`benchmarks/bench_decode.py`: its pipelines compute the same clip, and a rerun keeps the notes around its table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from video_factory import make_video

from tanet_hf.video_processing_tanet import sample_frame_indices

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_decode", BENCHMARKS / "bench_decode.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bench_decode", None)


@pytest.mark.parametrize("clip", ["uniform", "dense"])
def test_stock_and_tanet_pipelines_give_the_same_normalised_clip(bench, tmp_path, clip):
    # longer than the dense window (64), so that the indices are sorted: `read_video_pyav` needs them sorted
    path = make_video(tmp_path / "small.mp4", num_frames=72, size=(96, 72), pattern="texture")
    methods = bench.pipelines(clip, sample_frame_indices(72, bench.NUM_FRAMES, clip, "eval")[0])
    names = {"stock-pyav", "tanet-pyav", "tanet-train-pyav", "tanet-pyav-keyframe", "tanet-train-pyav-keyframe"}
    assert names <= set(methods)
    assert bench.check_agreement({"small": path}, {clip: methods}) < 1e-4
    stock, ours = methods["stock-pyav"](path), methods["tanet-pyav"](path)
    assert stock.shape == (bench.NUM_FRAMES, 3, 224, 224) and torch.allclose(stock, ours, atol=1e-4)
    for name in ("tanet-train-pyav", "tanet-pyav-keyframe", "tanet-train-pyav-keyframe"):
        assert methods[name](path).shape == (bench.NUM_FRAMES, 3, 224, 224)


def test_keyframe_rows_decode_one_frame_per_clip_frame_on_a_short_gop_file(bench, tmp_path):
    path = make_video(tmp_path / "gop16.mp4", num_frames=128, size=(96, 72), gop=16, options={"bf": "0"})
    # uniform: 16-frame segments, each holding one keyframe
    assert bench.frames_decoded(path, "uniform", "tanet-pyav-keyframe") == bench.NUM_FRAMES
    assert bench.frames_decoded(path, "uniform", "tanet-pyav") > 2 * bench.NUM_FRAMES
    assert bench.frames_decoded(path, "uniform", "tanet-train-pyav-keyframe") == bench.NUM_FRAMES
    assert bench.frames_decoded(path, "uniform", "tanet-train-pyav") > 2 * bench.NUM_FRAMES
    assert bench.frames_decoded(path, "uniform", "stock-pyav") is None
    assert bench.keyframe_clip(path, "uniform") == list(range(0, 128, 16))


def test_a_rerun_replaces_only_the_generated_table(bench, tmp_path):
    page = tmp_path / "RESULTS_decode.md"
    bench.write_generated_section(page, "table v1")
    page.write_text("# Title\n\n" + page.read_text() + "\nNotes written by hand.\n")
    bench.write_generated_section(page, "table v2")
    text = page.read_text()
    assert text.startswith("# Title\n") and text.endswith("Notes written by hand.\n")
    assert "table v2" in text and "table v1" not in text
