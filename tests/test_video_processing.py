"""TANetVideoProcessor: the release's crops and protocols, modes, inputs, presets, saving and the Auto classes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tanet_hf import TANetImageProcessor, TANetVideoProcessor
from tanet_hf.video_processing_tanet import (
    PRESETS,
    STHV2_FLIP_LABEL_MAP,
    center_crop_box,
    fixed_crop_offsets,
    sample_frame_indices,
    sample_multiscale_crop,
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


def test_multiscale_crop_draws_the_release_size_pairs_at_fixed_offsets():
    # short side 256: sides int(256 s) = 256, 224, 192, 168; pairs whose scale indices differ by at most one
    expected_sizes = {
        (256, 256), (256, 224), (224, 256), (224, 224), (224, 192),
        (192, 224), (192, 192), (192, 168), (168, 192), (168, 168),
    }  # fmt: skip
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(600):
        top, left, height, width = sample_multiscale_crop(256, 340, (224, 224), (1, 0.875, 0.75, 0.66), rng)
        seen.add((height, width))
        assert (left, top) in fixed_crop_offsets(340, 256, width, height)
    assert seen == expected_sizes


def test_multiscale_crop_snaps_sides_within_three_pixels_of_the_output():
    # short side 226: the full-scale side 226 is within 3 pixels of 224, so the crop is exactly 224
    rng = np.random.default_rng(1)
    sizes = {sample_multiscale_crop(226, 300, (224, 224), (1.0,), rng)[2:] for _ in range(20)}
    assert sizes == {(224, 224)}


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


@pytest.mark.parametrize(
    "preset, views, side",
    [("kinetics400", 30, 256), ("sthv1", 1, 224), ("sthv2", 6, 256)],
)
def test_presets_give_the_released_test_views(preset, views, side):
    processor = TANetVideoProcessor.from_preset(preset, num_frames=2)
    settings = PRESETS[preset]
    assert processor.sampling == settings["sampling"] and processor.do_flip == settings["do_flip"]
    out = processor(random_video(70, 60, 80), mode="test")["pixel_values"]
    assert out.shape == (1, views, 2, 3, side, side)
    assert processor(random_video(70, 60, 80))["pixel_values"].shape == (1, 2, 3, 224, 224)  # eval: one view


def test_presets_reject_unknown_names():
    with pytest.raises(ValueError, match="kinetics400"):
        TANetVideoProcessor.from_preset("kinetics600")


# --- training mode ------------------------------------------------------------------------------------------------


def horizontal_ramp(num_frames: int = 6, height: int = 60, width: int = 80) -> np.ndarray:
    """Brightness rising from left to right: any crop keeps the rise, a mirrored crop reverses it."""
    ramp = np.linspace(0, 255, width).astype(np.uint8)
    return np.broadcast_to(ramp[None, None, :, None], (num_frames, height, width, 3)).copy()


def is_mirrored(pixel_values: torch.Tensor) -> bool:
    """Whether a `(T, 3, H, W)` crop of [`horizontal_ramp`] falls from left to right."""
    return bool(pixel_values[..., :4].mean() > pixel_values[..., -4:].mean())


def test_train_mode_is_reproducible_per_seed_and_random_across_seeds():
    processor = TANetVideoProcessor(num_frames=4)
    video = random_video(40, 64, 80)
    first = processor(video, mode="train", seed=11)["pixel_values"]
    assert first.shape == (1, 4, 3, 224, 224)
    assert torch.equal(first, processor(video, mode="train", seed=11)["pixel_values"])
    others = [processor(video, mode="train", seed=seed)["pixel_values"] for seed in range(12, 16)]
    assert not all(torch.equal(first, other) for other in others)


def test_train_flip_swaps_mapped_labels_and_mirrors_the_frames():
    processor = TANetVideoProcessor.from_preset("sthv2", num_frames=2, short_side_size=64, crop_size=48)
    video = horizontal_ramp()
    outcomes = []
    for seed in range(30):
        out = processor([video, video], mode="train", seed=seed, labels=[86, 5])
        flipped = is_mirrored(out["pixel_values"][0])
        assert out["labels"].tolist()[0] == (STHV2_FLIP_LABEL_MAP[86] if flipped else 86)
        assert out["labels"].tolist()[1] == 5  # unmapped labels stay
        outcomes.append(flipped)
    assert 5 < sum(outcomes) < 25  # p = 0.5


def test_flip_off_never_mirrors_or_relabels():
    processor = TANetVideoProcessor.from_preset("sthv1", num_frames=2, short_side_size=64, crop_size=48)
    assert processor.do_flip is False
    for seed in range(15):
        out = processor(horizontal_ramp(), mode="train", seed=seed, labels=3)
        assert not is_mirrored(out["pixel_values"][0])
        assert out["labels"].tolist() == [3]


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


def test_batches_stack_and_labels_come_back():
    processor = TANetVideoProcessor(num_frames=4)
    videos = [random_video(9, 50, 60, seed=s) for s in range(3)]
    out = processor(videos, labels=[0, 1, 2])
    assert out["pixel_values"].shape == (3, 4, 3, 224, 224)
    assert out["labels"].dtype == torch.long and out["labels"].tolist() == [0, 1, 2]
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
    with pytest.raises(ValueError, match="labels"):
        processor([random_video(), random_video()], labels=[1])
    with pytest.raises(ValueError, match="sampling"):
        TANetVideoProcessor(sampling="random")
    with pytest.raises(ValueError, match="flip_label_map"):
        TANetVideoProcessor(flip_label_map={"left": "right"})
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


def test_save_and_load_round_trip_through_the_auto_classes(tmp_path):
    from transformers import AutoImageProcessor, AutoVideoProcessor

    processor = TANetVideoProcessor.from_preset("sthv2", num_frames=4, short_side_size=128, crop_size=112)
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "video_preprocessor_config.json").read_text())
    assert saved["video_processor_type"] == "TANetVideoProcessor"
    assert saved["auto_map"]["AutoVideoProcessor"] == "video_processing_tanet.TANetVideoProcessor"
    image_config = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert image_config["image_processor_type"] == "TANetImageProcessor"
    assert image_config["auto_map"]["AutoImageProcessor"] == "image_processing_tanet.TANetImageProcessor"
    for name in ("video_processing_tanet.py", "video_decoding_tanet.py", "image_processing_tanet.py"):
        assert (tmp_path / name).is_file(), name

    loaded = AutoVideoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is TANetVideoProcessor
    assert loaded.flip_label_map == STHV2_FLIP_LABEL_MAP  # integer keys again
    assert (loaded.num_frames, loaded.short_side_size, loaded.crop_size.height) == (4, 128, 112)
    assert (loaded.sampling, loaded.num_test_clips, loaded.test_crop) == ("uniform", 2, "three_crop")
    video = random_video(20, 90, 120)
    for mode in ("eval", "test"):
        assert torch.equal(loaded(video, mode=mode)["pixel_values"], processor(video, mode=mode)["pixel_values"])
    assert torch.equal(
        loaded(video, mode="train", seed=4)["pixel_values"], processor(video, mode="train", seed=4)["pixel_values"]
    )

    image_processor = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(image_processor) is TANetImageProcessor
    frames = [Image.fromarray(frame) for frame in video[:4]]
    expected = processor(video[:4], do_sample_frames=False)["pixel_values"]
    assert torch.equal(image_processor(frames, return_tensors="pt")["pixel_values"], expected)
    assert image_processor([frames, frames])["pixel_values"].shape == (2, 4, 3, 112, 112)


def test_multi_view_output_feeds_the_model_which_fuses_the_views():
    from conftest import tiny_config_kwargs

    from tanet_hf import TANetConfig, TANetForVideoClassification

    model = TANetForVideoClassification(TANetConfig(**tiny_config_kwargs())).eval()
    processor = TANetVideoProcessor.from_preset("sthv2", num_frames=4, short_side_size=64, crop_size=56)
    inputs = processor([random_video(30, 50, 70, seed=1), random_video(30, 50, 70, seed=2)], mode="test")
    assert inputs["pixel_values"].shape == (2, 6, 4, 3, 64, 64)
    with torch.no_grad():
        output = model(**inputs)
    assert output.logits.shape == (2, 5)
    assert torch.allclose(output.logits, output.view_logits.mean(1), atol=1e-5)  # the release averages logits
