"""TANetVideoProcessor: the release's crops and protocols, modes, inputs, transformers' settings, bounded work,
saving and the Auto classes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tanet_hf import TANetVideoProcessor
from tanet_hf.video_processing_tanet import (
    center_crop_box,
    fixed_crop_offsets,
    sample_frame_indices,
    ten_crop_boxes,
    three_crop_boxes,
)

sys.path.insert(0, str(Path(__file__).parent))
from video_factory import make_video  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def denormalise(pixel_values: torch.Tensor) -> np.ndarray:
    """`(..., 3, H, W)` normalised → `(..., H, W, 3)` on the 0–255 scale."""
    array = pixel_values.movedim(-3, -1).numpy()
    return (array * STD + MEAN) * 255.0


def random_video(num_frames: int = 12, height: int = 72, width: int = 96, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(num_frames, height, width, 3), dtype=np.uint8)


def frame_id_video(num_frames: int, height: int, width: int) -> np.ndarray:
    """Red channel = 10 × frame index; green = column (mod 256); blue = row: crops and frames are identifiable."""
    video = np.zeros((num_frames, height, width, 3), dtype=np.uint8)
    video[..., 0] = (10 * np.arange(num_frames) % 256)[:, None, None]
    video[..., 1] = (np.arange(width) % 256)[None, None, :]
    video[..., 2] = (np.arange(height) % 256)[None, :, None]
    return video


RAW = dict(do_resize=False, do_rescale=False, do_normalize=False)  # output = the uint8 crops as float


# --- crop geometry (hand-computed) --------------------------------------------------------------------------------


def test_thirteen_fixed_offsets_on_the_quarter_grid():
    # 340×256 frame, 224 crop: steps (116 // 4, 32 // 4) = (29, 8)
    assert fixed_crop_offsets(340, 256, 224, 224) == [
        (0, 0), (116, 0), (0, 32), (116, 32), (58, 16),
        (0, 16), (116, 16), (58, 32), (58, 0),
        (29, 8), (87, 8), (29, 24), (87, 24),
    ]  # fmt: skip
    assert fixed_crop_offsets(340, 256, 224, 224, more_offsets=False) == [
        (0, 0),
        (116, 0),
        (0, 32),
        (116, 32),
        (58, 16),
    ]


def test_centre_three_and_ten_crop_boxes():
    assert center_crop_box(256, 340, 224, 224) == (16, 58, 224, 224)
    assert center_crop_box(256, 341, 224, 224) == (16, 58, 224, 224)  # round(58.5) = 58, as torchvision
    # three crops of 256 along the long side, release order left, right, centre: step (340 - 256) // 4 = 21
    assert three_crop_boxes(256, 340, 256) == [(0, 0, 256, 256), (0, 84, 256, 256), (0, 42, 256, 256)]
    assert three_crop_boxes(340, 256, 256) == [(0, 0, 256, 256), (84, 0, 256, 256), (42, 0, 256, 256)]
    assert ten_crop_boxes(256, 340, 224) == [
        (0, 0, 224, 224), (0, 116, 224, 224), (32, 0, 224, 224), (32, 116, 224, 224), (16, 58, 224, 224),
    ]  # fmt: skip


# --- pixels -------------------------------------------------------------------------------------------------------


def release_style_eval(frames: np.ndarray, short_side: int = 256, crop: int = 224) -> np.ndarray:
    """An independent re-statement of the release's evaluation transform with PIL: Resize(256) → CenterCrop(224)
    → /255 → normalise. Returns `(T, H, W, 3)` normalised."""
    out = []
    for frame in frames:
        image = Image.fromarray(frame)
        width, height = image.size
        if width < height:
            new_size = (short_side, int(short_side * height / width))
        else:
            new_size = (int(short_side * width / height), short_side)
        image = image.resize(new_size, Image.BILINEAR)
        left, top = int(round((new_size[0] - crop) / 2.0)), int(round((new_size[1] - crop) / 2.0))
        image = image.crop((left, top, left + crop, top + crop))
        out.append((np.asarray(image, dtype=np.float64) / 255.0 - MEAN) / STD)
    return np.stack(out)


def smooth_video(num_frames: int, height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    frames = [
        np.stack([(x * 255 / width + 20 * t) % 256, y * 255 / height, (x + y + 5 * t) % 256], axis=-1)
        for t in range(num_frames)
    ]
    return np.stack(frames).astype(np.uint8)


@pytest.mark.parametrize("height, width", [(120, 160), (160, 120), (300, 400)])
def test_eval_matches_the_release_transform_on_pixels(height, width):
    video = smooth_video(8, height, width)
    out = TANetVideoProcessor(num_frames=8)(video)["pixel_values"]
    assert out.shape == (1, 8, 3, 224, 224) and out.dtype == torch.float32
    expected = release_style_eval(video)
    ours = out[0].permute(0, 2, 3, 1).numpy()
    # torchvision's antialiased bilinear resize follows PIL's to within rounding
    assert np.abs(ours - expected).mean() < 0.01
    assert np.abs(ours - expected).max() < 0.1


def test_eval_samples_the_frames_sample_frame_indices_gives():
    video = frame_id_video(20, 40, 50)
    for sampling in ("uniform", "dense"):
        out = TANetVideoProcessor(num_frames=4, sampling=sampling, **RAW)(video)["pixel_values"]
        frame_ids = (out[0, :, 0, 0, 0] / 10).round().long().tolist()
        assert frame_ids == sample_frame_indices(20, 4, sampling, "eval")[0].tolist()


def test_test_mode_views_are_crop_major_over_clips():
    # 2 clips × three crops on a 30 × 50 frame (crop 30): views [left c0, left c1, right c0, right c1, centre c0, centre c1]
    video = frame_id_video(16, 30, 50)
    processor = TANetVideoProcessor(num_frames=4, num_test_clips=2, test_crop="three_crop", test_crop_size=30, **RAW)
    out = processor(video, mode="test")["pixel_values"]
    assert out.shape == (1, 6, 4, 3, 30, 30)
    clips = sample_frame_indices(16, 4, "uniform", "test", num_clips=2)
    lefts = [0, 0, 20, 20, 10, 10]  # step (50 - 30) // 4 = 5: left 0, right 20, centre 10
    for view in range(6):
        assert (out[0, view, :, 0, 0, 0] / 10).round().long().tolist() == clips[view % 2].tolist()
        assert int(out[0, view, 0, 1, 0, 0]) == lefts[view]


def test_ten_crop_is_five_crops_each_followed_by_its_mirror():
    video = frame_id_video(4, 40, 60)
    out = TANetVideoProcessor(num_frames=4, test_crop="ten_crop", test_crop_size=32, **RAW)(video, mode="test")
    views = out["pixel_values"][0]
    assert views.shape == (10, 4, 3, 32, 32)
    for corner in range(5):
        assert torch.equal(views[2 * corner + 1], views[2 * corner].flip(-1))
    assert [int(views[2 * c, 0, 1, 0, 0]) for c in range(5)] == [0, 28, 0, 28, 14]  # lefts: step (60 - 32) // 4 = 7


# The released test protocols (dataset: sampling, clips × crops of side): what a saved processor reproduces.
PROTOCOLS = {
    "kinetics400": (dict(sampling="dense", num_test_clips=10, test_crop="three_crop"), 30, 256),
    "sthv1": (dict(sampling="uniform", num_test_clips=1, test_crop="center"), 1, 224),
    "sthv2": (dict(sampling="uniform", num_test_clips=2, test_crop="three_crop"), 6, 256),
}


@pytest.mark.parametrize("dataset", sorted(PROTOCOLS))
def test_released_test_protocols_give_their_views(dataset):
    settings, views, side = PROTOCOLS[dataset]
    processor = TANetVideoProcessor(num_frames=2, **settings)
    out = processor(random_video(70, 60, 80), mode="test")["pixel_values"]
    assert out.shape == (1, views, 2, 3, side, side)
    assert processor(random_video(70, 60, 80))["pixel_values"].shape == (1, 2, 3, 224, 224)  # eval: one view


def test_default_mode_test_makes_a_plain_call_run_the_multi_view_protocol():
    processor = TANetVideoProcessor(num_frames=2, default_mode="test", **PROTOCOLS["sthv2"][0])
    video = random_video(30, 60, 80)
    assert torch.equal(processor(video)["pixel_values"], processor(video, mode="test")["pixel_values"])
    assert processor(video, mode="eval")["pixel_values"].shape == (1, 2, 3, 224, 224)
    with pytest.raises(ValueError, match="default_mode"):
        TANetVideoProcessor(default_mode="train")


def test_train_mode_is_refused_and_points_to_the_augmentation_module():
    with pytest.raises(ValueError, match=r"tanet_hf\.training\.augmentation"):
        TANetVideoProcessor(num_frames=2)(random_video(), mode="train")


# --- inputs, batches, arguments -----------------------------------------------------------------------------------


def test_every_input_kind_gives_the_same_pixels(tmp_path):
    video = random_video(10, 50, 70)
    processor = TANetVideoProcessor(num_frames=4)
    reference = processor(video)["pixel_values"]
    same = [
        torch.from_numpy(video).permute(0, 3, 1, 2),
        [Image.fromarray(frame) for frame in video],
        list(video),
        video.astype(np.float32) / 255.0,
    ]
    for variant in same:
        assert torch.equal(processor(variant)["pixel_values"], reference)
    path = make_video(tmp_path / "clip.mkv", num_frames=10, codec="ffv1", size=(70, 50))
    from_file = processor(str(path))["pixel_values"]
    assert torch.equal(from_file, processor(path.read_bytes())["pixel_values"])
    assert torch.equal(from_file, processor({"path": str(path), "bytes": None})["pixel_values"])


def test_batches_stack():
    processor = TANetVideoProcessor(num_frames=4)
    videos = [random_video(9, 50, 60, seed=s) for s in range(3)]
    out = processor(videos)
    assert out["pixel_values"].shape == (3, 4, 3, 224, 224) and set(out) == {"pixel_values"}
    assert torch.equal(out["pixel_values"][1], processor(videos[1])["pixel_values"][0])
    assert processor(np.stack(videos))["pixel_values"].shape == (3, 4, 3, 224, 224)  # a 5D array is a batch
    assert isinstance(processor(videos[0], return_tensors="np")["pixel_values"], np.ndarray)


def test_do_sample_frames_false_uses_the_given_frames():
    video = frame_id_video(5, 30, 40)
    out = TANetVideoProcessor(num_frames=8, do_sample_frames=False, **RAW)(video)["pixel_values"]
    assert (out[0, :, 0, 0, 0] / 10).round().long().tolist() == [0, 1, 2, 3, 4]


def test_call_time_settings_override_and_bad_arguments_raise():
    processor = TANetVideoProcessor(num_frames=4)
    assert processor(random_video(), num_frames=2)["pixel_values"].shape[1] == 2
    with pytest.raises(ValueError, match="unknown arguments"):
        processor(random_video(), frame_rate=3)
    with pytest.raises(ValueError, match="mode"):
        processor(random_video(), mode="validation")
    with pytest.raises(ValueError, match="test_crop"):
        processor(random_video(), test_crop="five_crop")
    with pytest.raises(ValueError, match="unknown arguments"):
        processor([random_video(), random_video()], labels=[1])  # labels do not travel through the processor
    with pytest.raises(ValueError, match="sampling"):
        TANetVideoProcessor(sampling="random")
    with pytest.raises(ValueError, match="No video"):
        processor(None)


def test_pipeline_style_call_and_sample_frames_hook():
    processor = TANetVideoProcessor(num_frames=4, sampling="dense")
    out = processor(random_video(70), num_frames=4, do_sample_frames=True, return_tensors="pt")
    assert out["pixel_values"].shape == (1, 4, 3, 224, 224)
    from transformers.video_utils import VideoMetadata

    indices = processor.sample_frames(VideoMetadata(total_num_frames=300, fps=30.0))
    assert indices.tolist() == sample_frame_indices(300, 4, "dense", "eval")[0].tolist()


# --- saving, loading, Auto classes ---------------------------------------------------------------------------------


def test_save_and_load_round_trip_through_the_auto_class_with_no_training_keys(tmp_path):
    from transformers import AutoVideoProcessor

    processor = TANetVideoProcessor(
        num_frames=4, short_side_size=128, crop_size=112, default_mode="test", **PROTOCOLS["sthv2"][0]
    )
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "video_preprocessor_config.json").read_text())
    assert saved["video_processor_type"] == "TANetVideoProcessor"
    assert saved["auto_map"]["AutoVideoProcessor"] == "video_processing_tanet.TANetVideoProcessor"
    assert saved["default_mode"] == "test"
    training_keys = {key for key in saved if "flip" in key or "multiscale" in key or "scales" in key}
    assert training_keys == set() and "seed" not in saved and "labels" not in saved
    assert not (tmp_path / "preprocessor_config.json").exists()  # no image processor
    assert sorted(path.name for path in tmp_path.glob("*.py")) == [
        "video_decoding_tanet.py",
        "video_processing_tanet.py",
    ]

    loaded = AutoVideoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is TANetVideoProcessor
    assert (loaded.num_frames, loaded.short_side_size, loaded.crop_size.height) == (4, 128, 112)
    assert (loaded.sampling, loaded.num_test_clips, loaded.test_crop, loaded.default_mode) == (
        "uniform", 2, "three_crop", "test"
    )  # fmt: skip
    video = random_video(20, 90, 120)
    for mode in ("eval", "test"):
        assert torch.equal(loaded(video, mode=mode)["pixel_values"], processor(video, mode=mode)["pixel_values"])


def test_training_keys_of_older_configs_are_dropped_not_saved_again(tmp_path):
    old = TANetVideoProcessor(num_frames=4, do_flip=True, flip_label_map={"86": 87}, multiscale_scales=[1.0])
    old.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "video_preprocessor_config.json").read_text())
    assert not {"do_flip", "flip_label_map", "multiscale_scales"} & set(saved)


def test_multi_view_output_feeds_the_model_which_fuses_the_views():
    from conftest import tiny_config_kwargs

    from tanet_hf import TANetConfig, TANetForVideoClassification

    model = TANetForVideoClassification(TANetConfig(**tiny_config_kwargs())).eval()
    processor = TANetVideoProcessor(num_frames=4, short_side_size=64, crop_size=56, **PROTOCOLS["sthv2"][0])
    inputs = processor([random_video(30, 50, 70, seed=1), random_video(30, 50, 70, seed=2)], mode="test")
    assert inputs["pixel_values"].shape == (2, 6, 4, 3, 64, 64)
    with torch.no_grad():
        output = model(**inputs)
    assert output.logits.shape == (2, 5)
    assert torch.allclose(output.logits, output.view_logits.mean(1), atol=1e-5)  # the release averages logits


# --- transformers' settings: honoured or refused --------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting",
    [dict(fps=2), dict(video_metadata={"total_num_frames": 12, "fps": 25.0}), dict(return_metadata=True),
     dict(do_pad=True), dict(input_data_format="channels_last"), dict(data_format="channels_last")],
)  # fmt: skip
def test_transformers_settings_this_processor_cannot_honour_are_refused_by_name(setting):
    (name,) = setting
    with pytest.raises(ValueError, match=f"{name}="):
        TANetVideoProcessor(num_frames=2)(random_video(), **setting)


def test_fps_is_refused_by_the_sample_frames_hook_too():
    with pytest.raises(ValueError, match="fps"):
        TANetVideoProcessor(num_frames=2).sample_frames({"total_num_frames": 100}, fps=1)


def test_frame_sampling_rate_sets_the_dense_stride_and_is_refused_for_uniform_sampling():
    video = frame_id_video(40, 16, 16)
    processor = TANetVideoProcessor(num_frames=4, sampling="dense", **RAW)
    out = processor(video, frame_sampling_rate=3)["pixel_values"]
    frame_ids = (out[0, :, 0, 0, 0] / 10).round().long().tolist()
    assert frame_ids == sample_frame_indices(40, 4, "dense", "eval", dense_window=12)[0].tolist()
    assert [b - a for a, b in zip(frame_ids, frame_ids[1:])] == [3, 3, 3]
    with pytest.raises(ValueError, match="frame_sampling_rate=3 needs sampling='dense'"):
        TANetVideoProcessor(num_frames=4)(video, frame_sampling_rate=3)


def test_sample_frames_gives_every_test_clip_in_order():
    processor = TANetVideoProcessor(num_frames=4, sampling="dense", num_test_clips=3)
    indices = processor.sample_frames({"total_num_frames": 200}, mode="test")
    assert indices.tolist() == sample_frame_indices(200, 4, "dense", "test", num_clips=3).reshape(-1).tolist()


# --- how arrays and lists are read ----------------------------------------------------------------------------------


def test_a_single_image_or_a_gray_video_without_a_channel_axis_is_refused_as_ambiguous():
    processor = TANetVideoProcessor(num_frames=2)
    image = random_video(1, 40, 50)[0]  # (H, W, 3): once read as a 40-frame gray video
    for array in (image, image[..., 0], torch.from_numpy(image)):
        with pytest.raises(ValueError, match="ambiguous"):
            processor(array)
    gray = random_video(6, 40, 50)[..., :1]  # (T, H, W, 1): the unambiguous gray video
    assert processor(gray)["pixel_values"].shape == (1, 2, 3, 224, 224)
    assert processor(image[None])["pixel_values"].shape == (1, 2, 3, 224, 224)  # an image as a one-frame video


def test_a_list_of_gray_videos_is_refused_not_read_as_one_video():
    processor = TANetVideoProcessor(num_frames=2)
    grays = [random_video(6, 40, 50, seed=s)[..., 0] for s in range(2)]  # (T, H, W) each
    with pytest.raises(ValueError, match=r"videos\[0\] is an array of shape \(6, 40, 50\)"):
        processor(grays)
    batch = processor([gray[..., None] for gray in grays])["pixel_values"]  # (T, H, W, 1) each: a batch of two
    assert batch.shape == (2, 2, 3, 224, 224)


def test_a_list_of_frames_is_one_video_and_a_list_of_videos_is_a_batch():
    processor = TANetVideoProcessor(num_frames=2)
    video = random_video(6, 40, 50)
    assert processor(list(video))["pixel_values"].shape == (1, 2, 3, 224, 224)  # (H, W, 3) frames
    assert processor(list(torch.from_numpy(video).permute(0, 3, 1, 2)))["pixel_values"].shape[0] == 1  # (3, H, W)
    assert processor([list(video), list(video)])["pixel_values"].shape[0] == 2
    with pytest.raises(ValueError, match="mixes frames"):
        processor([video[0], video])


# --- bounded work ---------------------------------------------------------------------------------------------------


@pytest.fixture
def resize_sizes(monkeypatch):
    """The element counts of every resize's input and output during the test."""
    import tanet_hf.video_processing_tanet as module

    sizes: list[int] = []
    original = module.tvF.resize

    def recording_resize(frames, *args, **kwargs):
        out = original(frames, *args, **kwargs)
        sizes.extend([frames.numel(), out.numel()])
        return out

    monkeypatch.setattr(module.tvF, "resize", recording_resize)
    return sizes


@pytest.mark.parametrize("height, width", [(2, 4000), (4000, 2), (2, 16384)])
def test_extreme_aspect_ratios_cost_work_bounded_by_the_output(tmp_path, monkeypatch, resize_sizes, height, width):
    # Resizing the whole frame first would make a 2 × 4000 frame 256 × 512 000 (393 M values per 3 frames).
    # The decoder refuses such frames by default (DecodeLimits); lift its guard so the processor's own bound is tested.
    monkeypatch.setenv("TANET_MAX_ASPECT_RATIO", "100000")
    path = make_video(tmp_path / "bomb.mkv", num_frames=2, codec="libx264", size=(width, height))
    assert path.stat().st_size < 5_000  # a few KB
    processor = TANetVideoProcessor(num_frames=2, **PROTOCOLS["kinetics400"][0])
    assert processor(str(path))["pixel_values"].shape == (1, 2, 3, 224, 224)
    test_views = processor(str(path), mode="test")["pixel_values"]
    assert test_views.shape == (1, 30, 2, 3, 256, 256)
    one_view = 10 * 2 * 3 * 256 * 256  # the resize of one crop position holds all clips' frames
    assert resize_sizes and max(resize_sizes) <= one_view
