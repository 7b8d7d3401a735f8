"""Training augmentation (tanet_hf.training.augmentation): the release's multi-scale crop, flip with the label swap
and random offsets, applied outside the processor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tanet_hf import TANetVideoProcessor
from tanet_hf.registry import DATASETS
from tanet_hf.training.augmentation import TrainAugmentation, sample_multiscale_crop
from tanet_hf.video_processing_tanet import fixed_crop_offsets, sample_frame_indices

STHV2_FLIP_LABEL_MAP = DATASETS["sthv2"].flip_label_map


def random_video(num_frames: int = 12, height: int = 72, width: int = 96, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(num_frames, height, width, 3), dtype=np.uint8)


def horizontal_ramp(num_frames: int = 6, height: int = 60, width: int = 80) -> np.ndarray:
    """Brightness rising from left to right: any crop keeps the rise, a mirrored crop reverses it."""
    ramp = np.linspace(0, 255, width).astype(np.uint8)
    return np.broadcast_to(ramp[None, None, :, None], (num_frames, height, width, 3)).copy()


def is_mirrored(pixel_values: torch.Tensor) -> bool:
    """Whether a `(T, 3, H, W)` crop of [`horizontal_ramp`] falls from left to right."""
    return bool(pixel_values[..., :4].mean() > pixel_values[..., -4:].mean())


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


def test_a_clip_is_reproducible_per_seed_and_random_across_seeds():
    processor = TANetVideoProcessor(num_frames=4)
    augment = TrainAugmentation()
    video = random_video(40, 64, 80)
    first, label = augment(video, 7, processor, np.random.default_rng(11))
    assert first.shape == (4, 3, 224, 224) and first.dtype == torch.float32 and label == 7
    assert torch.equal(first, augment(video, 7, processor, np.random.default_rng(11))[0])
    others = [augment(video, 7, processor, np.random.default_rng(seed))[0] for seed in range(12, 16)]
    assert not all(torch.equal(first, other) for other in others)


def test_frames_are_drawn_by_the_training_sampler():
    video = np.zeros((40, 16, 16, 3), dtype=np.uint8)
    video[..., 0] = (6 * np.arange(40))[:, None, None]  # red = 6 × frame index
    processor = TANetVideoProcessor(num_frames=4, short_side_size=16, crop_size=16, do_normalize=False)
    pixels, _ = TrainAugmentation(scales=(1.0,), do_flip=False)(video, 0, processor, np.random.default_rng(3))
    frame_ids = (pixels[:, 0, 8, 8] * 255 / 6).round().long().tolist()
    expected = sample_frame_indices(40, 4, "uniform", "train", rng=np.random.default_rng(3))[0].tolist()
    assert frame_ids == expected and frame_ids != sample_frame_indices(40, 4, "uniform", "eval")[0].tolist()


def test_flip_swaps_mapped_labels_and_mirrors_the_frames():
    processor = TANetVideoProcessor(num_frames=2, short_side_size=64, crop_size=48)
    augment = TrainAugmentation(do_flip=True, flip_label_map=STHV2_FLIP_LABEL_MAP)
    outcomes = []
    for seed in range(30):
        pixels, label = augment(horizontal_ramp(), 86, processor, np.random.default_rng(seed))
        flipped = is_mirrored(pixels)
        assert label == (STHV2_FLIP_LABEL_MAP[86] if flipped else 86)
        assert augment(horizontal_ramp(), 5, processor, np.random.default_rng(seed))[1] == 5  # unmapped labels stay
        outcomes.append(flipped)
    assert 5 < sum(outcomes) < 25  # p = 0.5


def test_flip_off_never_mirrors_or_relabels():
    processor = TANetVideoProcessor(num_frames=2, short_side_size=64, crop_size=48)
    augment = TrainAugmentation(do_flip=False, flip_label_map=STHV2_FLIP_LABEL_MAP)
    for seed in range(15):
        pixels, label = augment(horizontal_ramp(), 86, processor, np.random.default_rng(seed))
        assert not is_mirrored(pixels) and label == 86


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="scales"):
        TrainAugmentation(scales=(1.5,))
    with pytest.raises(ValueError, match="flip_label_map"):
        TrainAugmentation(flip_label_map={"left": "right"})


def test_a_2_by_16384_frame_costs_work_bounded_by_the_crop(monkeypatch):
    import tanet_hf.video_processing_tanet as module

    sizes: list[int] = []
    original = module.tvF.resize

    def recording_resize(frames, *args, **kwargs):
        sizes.append(frames.numel())
        return original(frames, *args, **kwargs)

    monkeypatch.setattr(module.tvF, "resize", recording_resize)
    video = np.zeros((2, 2, 16384, 3), dtype=np.uint8)  # resized whole: 256 × 2 097 152 per frame
    pixels, _ = TrainAugmentation()(video, 0, TANetVideoProcessor(num_frames=2), np.random.default_rng(0))
    assert pixels.shape == (2, 3, 224, 224)
    assert sizes and max(sizes) <= 2 * 3 * 2 * 16384  # at most the source frames themselves
