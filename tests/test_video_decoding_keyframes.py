"""Keyframe-aligned decoding (`frame_seek="keyframe"`): every clip frame moved onto a keyframe of its segment where
there is one, so that each costs one decoded frame; exact mode unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from tanet_hf import TANetVideoProcessor, video_decoding_tanet
from tanet_hf.training import augmentation as augmentation_module
from tanet_hf.training.arguments import DataArguments
from tanet_hf.training.augmentation import TrainAugmentation
from tanet_hf.video_decoding_tanet import decode_video_frames
from tanet_hf.video_processing_tanet import frame_segments, sample_frame_indices, snap_to_keyframes

sys.path.insert(0, str(Path(__file__).parent))
from test_video_decoding import _torchcodec_environment  # noqa: E402
from video_factory import make_video, read_counter  # noqa: E402

NO_B_FRAMES = {"bf": "0"}


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("keyframe_videos")


@pytest.fixture(scope="module")
def gop8(video_dir) -> Path:
    """96 frames, a keyframe every 8, no B-frames (as `tanet-hf reencode` writes, shorter)."""
    return make_video(video_dir / "gop8.mp4", num_frames=96, gop=8, options=NO_B_FRAMES)


def keyframes_in_file(path: Path) -> list[int]:
    """Positions (in presentation order) of the packets flagged as keyframes, read with PyAV directly."""
    with av.open(str(path)) as container:
        packets = [packet for packet in container.demux(container.streams.video[0]) if packet.size]
    order = sorted(packet.pts for packet in packets)
    return sorted(order.index(packet.pts) for packet in packets if packet.is_keyframe)


@pytest.fixture
def decoded_frame_count(monkeypatch) -> list[int]:
    """`[n]`: frames PyAV has decoded since the test started (every frame passes through `_iter_frames`)."""
    count = [0]
    original = video_decoding_tanet._iter_frames

    def counting(*args, **kwargs):
        for frame in original(*args, **kwargs):
            count[0] += 1
            yield frame

    monkeypatch.setattr(video_decoding_tanet, "_iter_frames", counting)
    return count


# --- sampling ---------------------------------------------------------------------------------------------------


SAMPLINGS = [("uniform", "eval", 1), ("uniform", "test", 3), ("uniform", "train", 1), ("dense", "eval", 1),
             ("dense", "test", 2), ("dense", "train", 1)]  # fmt: skip


@pytest.mark.parametrize("sampling, mode, clips", SAMPLINGS)
@pytest.mark.parametrize("num_video_frames", [3, 8, 13, 60, 97, 300])
def test_every_snapped_index_is_a_keyframe_of_its_segment_or_the_exact_frame(sampling, mode, clips, num_video_frames):
    for gop in (1, 5, 16, 40, 1000):
        keyframes = np.arange(0, num_video_frames, gop)
        exact = sample_frame_indices(num_video_frames, 8, sampling, mode, clips, 32, np.random.default_rng(7))
        snapped = sample_frame_indices(
            num_video_frames, 8, sampling, mode, clips, 32, np.random.default_rng(7), keyframes=keyframes
        )
        assert snapped.shape == exact.shape == (clips, 8)  # T frames always
        lows, highs = frame_segments(exact, num_video_frames, 8, sampling, mode, 32)
        assert ((lows <= exact) & (exact < highs)).all()
        assert ((lows <= snapped) & (snapped < highs)).all(), (gop, exact, snapped, lows, highs)
        for index, original, low, high in zip(snapped.flat, exact.flat, lows.flat, highs.flat):
            inside = keyframes[(keyframes >= low) & (keyframes < high)]
            if inside.size == 0:
                assert index == original  # no keyframe in the segment: the exact frame
            else:
                assert index in inside
                if mode != "train":  # the nearest one
                    assert abs(index - original) == np.abs(inside - original).min()


def test_uniform_segments_are_the_tsn_segments():
    lows, highs = frame_segments(sample_frame_indices(100, 8, "uniform", "eval"), 100, 8, "uniform", "eval")
    assert lows.tolist() == [[0, 12, 25, 37, 50, 62, 75, 87]]
    assert highs.tolist() == [[12, 25, 37, 50, 62, 75, 87, 100]]
    rng = np.random.default_rng(0)
    lows, highs = frame_segments(sample_frame_indices(100, 8, "uniform", "train", rng=rng), 100, 8, "uniform", "train")
    assert lows.tolist() == [[0, 12, 24, 36, 48, 60, 72, 84]] and highs[0, -1] == 96  # avg = 100 // 8 = 12


def test_nearest_keyframe_prefers_the_earlier_on_a_tie():
    snapped = snap_to_keyframes(np.array([5, 5, 9]), np.array([0, 3, 8]), np.array([10, 10, 16]), np.array([3, 7, 12]))
    assert snapped.tolist() == [3, 3, 12]  # 3 and 7 are both 2 from 5; 9 is nearer 7, but 7 is outside [8, 16)


def test_training_draws_at_random_among_the_keyframes_of_each_segment():
    keyframes = np.arange(0, 320, 8)  # segments of 40 frames: 5 keyframes each
    draws = np.stack(
        [sample_frame_indices(320, 8, "uniform", "train", rng=np.random.default_rng(seed), keyframes=keyframes)[0]
         for seed in range(200)]
    )  # fmt: skip
    assert np.isin(draws, keyframes).all()
    for segment in range(8):
        # every keyframe of the segment is drawn, each about a fifth of the time
        values, counts = np.unique(draws[:, segment], return_counts=True)
        assert values.tolist() == list(range(40 * segment, 40 * segment + 40, 8))
        assert counts.min() > 20, counts


def test_training_without_keyframes_in_a_segment_keeps_the_exact_draw():
    # keyframes only in the first half: the second half's frames are the exact mode's draws for the same seed
    exact = sample_frame_indices(160, 8, "uniform", "train", rng=np.random.default_rng(3))
    snapped = sample_frame_indices(160, 8, "uniform", "train", rng=np.random.default_rng(3), keyframes=[0, 20, 40, 60])
    assert snapped[0, 4:].tolist() == exact[0, 4:].tolist()
    assert snapped[0, :4].tolist() == [0, 20, 40, 60]


# --- decoding -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sampling, mode, clips", [s for s in SAMPLINGS if s[1] != "train"])
def test_keyframe_mode_returns_only_keyframes_of_the_packet_index(gop8, sampling, mode, clips):
    keyframes = keyframes_in_file(gop8)
    assert keyframes == list(range(0, 96, 8))
    processor = TANetVideoProcessor(num_frames=8, sampling=sampling, num_test_clips=clips, dense_window=32)

    def pick(total: int, keyframes: np.ndarray | None = None) -> np.ndarray:
        return processor.sample_frames(total, mode=mode, keyframes=keyframes)

    decoded = decode_video_frames(gop8, pick, backend="pyav", frame_seek="keyframe")
    assert decoded.indices.shape == (clips * 8,)
    exact = pick(96)
    lows, highs = frame_segments(exact.reshape(clips, 8), 96, 8, sampling, mode, 32)
    for index, low, high in zip(decoded.indices.tolist(), lows.flat, highs.flat):
        in_segment = [k for k in keyframes if low <= k < high]
        assert index in in_segment if in_segment else index in exact
    assert [read_counter(frame) for frame in decoded.frames] == decoded.indices.tolist()


def test_keyframe_mode_decodes_one_frame_per_clip_frame(gop8, decoded_frame_count):
    processor = TANetVideoProcessor(num_frames=8, decode_backend="pyav")
    exact = processor(str(gop8))["pixel_values"]
    exact_decodes, decoded_frame_count[0] = decoded_frame_count[0], 0
    keyframe = processor(str(gop8), frame_seek="keyframe")["pixel_values"]
    assert decoded_frame_count[0] == 8  # uniform, 12 frames a segment: a keyframe in each
    assert exact_decodes > 8 * 2, exact_decodes  # from the keyframe before each wanted frame
    assert keyframe.shape == exact.shape == (1, 8, 3, 224, 224) and not torch.equal(keyframe, exact)


def test_a_file_with_one_keyframe_falls_back_to_the_exact_frames(video_dir):
    path = make_video(video_dir / "one_keyframe.mp4", num_frames=60, gop=600)
    assert keyframes_in_file(path) == [0]

    def pick(total: int, keyframes: np.ndarray | None = None) -> np.ndarray:
        return sample_frame_indices(total, 8, "uniform", "eval", keyframes=keyframes)

    exact = decode_video_frames(path, pick, backend="pyav")
    keyframe = decode_video_frames(path, pick, backend="pyav", frame_seek="keyframe")
    # only the first segment [0, 7) holds a keyframe (frame 0); every other frame is the exact one
    assert keyframe.indices.tolist() == [[0, *exact.indices[0, 1:].tolist()]]
    assert [read_counter(frame) for frame in keyframe.frames] == keyframe.indices[0].tolist()


@pytest.mark.parametrize("num_video_frames", [3, 8, 20])
def test_t_frames_come_back_however_short_the_video(video_dir, num_video_frames):
    path = make_video(video_dir / f"short{num_video_frames}.mp4", num_frames=num_video_frames, gop=4)
    for sampling in ("uniform", "dense"):
        processor = TANetVideoProcessor(num_frames=8, sampling=sampling, decode_backend="pyav", frame_seek="keyframe")
        assert processor(str(path))["pixel_values"].shape == (1, 8, 3, 224, 224)


def test_frames_in_memory_all_stand_alone_so_evaluation_keeps_the_exact_frames():
    video = np.random.default_rng(0).integers(0, 256, size=(40, 48, 64, 3), dtype=np.uint8)
    for mode in ("eval", "test"):
        keyframe = TANetVideoProcessor(num_frames=8, frame_seek="keyframe", num_test_clips=2)(video, mode=mode)
        exact = TANetVideoProcessor(num_frames=8, num_test_clips=2)(video, mode=mode)
        assert torch.equal(keyframe["pixel_values"], exact["pixel_values"])


def test_bad_frame_seek_values_are_named(gop8):
    with pytest.raises(ValueError, match=r"frame_seek='nearest' is not supported; expected one of \['exact', 'keyf"):
        decode_video_frames(gop8, lambda n: np.arange(n), frame_seek="nearest")
    with pytest.raises(ValueError, match=r"TANetVideoProcessor.frame_seek='fast' is not supported"):
        TANetVideoProcessor(frame_seek="fast")
    with pytest.raises(ValueError, match=r"TrainAugmentation.frame_seek='approximate' is not supported"):
        TrainAugmentation(frame_seek="approximate")


def test_the_processor_saves_and_reloads_its_frame_seek(tmp_path):
    TANetVideoProcessor(frame_seek="keyframe").save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "video_preprocessor_config.json").read_text())
    assert saved["frame_seek"] == "keyframe"
    assert TANetVideoProcessor.from_pretrained(tmp_path).frame_seek == "keyframe"
    assert TANetVideoProcessor().frame_seek == "exact"


# --- training -----------------------------------------------------------------------------------------------------


def training_indices(monkeypatch, path: Path, augmentation: TrainAugmentation, seed: int) -> list[int]:
    """The frame indices one training clip of `path` decoded."""
    seen = []
    original = augmentation_module.decode_video_frames

    def recording(*args, **kwargs):
        decoded = original(*args, **kwargs)
        seen.append(decoded.indices.reshape(-1).tolist())
        return decoded

    monkeypatch.setattr(augmentation_module, "decode_video_frames", recording)
    processor = TANetVideoProcessor(num_frames=4, decode_backend="pyav")
    pixel_values, _ = augmentation(str(path), 0, processor, np.random.default_rng(seed))
    assert pixel_values.shape == (4, 3, 224, 224)
    return seen[0]


def test_training_clips_draw_keyframes_at_random_and_cost_one_decode_each(gop8, monkeypatch, decoded_frame_count):
    keyframe_mode = TrainAugmentation(frame_seek="keyframe")
    draws = [training_indices(monkeypatch, gop8, keyframe_mode, seed) for seed in range(6)]
    assert decoded_frame_count[0] == 6 * 4  # one decoded frame per clip frame
    keyframes = set(keyframes_in_file(gop8))
    assert all(set(indices) <= keyframes for indices in draws)
    assert len({tuple(indices) for indices in draws}) > 1  # segments of 24 frames hold 3 keyframes: seeds differ
    for indices in draws:
        assert [index // 24 for index in indices] == [0, 1, 2, 3]  # each inside its own segment


def test_the_frame_seek_flag_reaches_the_training_augmentation():
    from transformers import HfArgumentParser

    from tanet_hf.registry import RECIPES
    from tanet_hf.training.builders import build_augmentation

    (data_args,) = HfArgumentParser(DataArguments).parse_args_into_dataclasses(["--frame_seek", "keyframe"])
    recipe = next(iter(RECIPES.values()))
    assert build_augmentation(data_args, recipe, ["a", "b"], False).frame_seek == "keyframe"
    assert build_augmentation(DataArguments(), recipe, ["a", "b"], False).frame_seek == "exact"


# --- torchcodec ---------------------------------------------------------------------------------------------------

_TORCHCODEC_SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from video_factory import read_counter
from tanet_hf.video_decoding_tanet import decode_video_frames
from tanet_hf.video_processing_tanet import sample_frame_indices
pick = lambda n, keyframes=None: sample_frame_indices(n, 8, "uniform", "eval", keyframes=keyframes)
report = {}
for backend in ("torchcodec", "pyav"):
    decoded = decode_video_frames(sys.argv[2], pick, backend=backend, frame_seek="keyframe")
    report[backend] = [decoded.backend, decoded.indices.tolist(), [read_counter(frame) for frame in decoded.frames]]
print(json.dumps(report))
"""


def test_torchcodec_decodes_the_same_keyframes_as_pyav(gop8, tmp_path):
    env = _torchcodec_environment(tmp_path)
    if env is None:
        pytest.skip("torchcodec cannot load FFmpeg here")
    result = subprocess.run(
        [sys.executable, "-c", _TORCHCODEC_SCRIPT, str(Path(__file__).parent), str(gop8)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["torchcodec"][0] == "torchcodec" and report["pyav"][0] == "pyav"
    assert report["torchcodec"][1:] == report["pyav"][1:]
    # exact [6, 18, 30, ..., 90] (segment middles); keyframes every 8: the nearest in each 12-frame segment
    assert report["pyav"][1] == [[8, 16, 32, 40, 56, 64, 80, 88]]
