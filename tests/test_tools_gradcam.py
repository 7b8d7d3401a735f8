"""Grad-CAM for video: per-frame maps that follow the moving object, and `tanet-hf gradcam` writing PNG/GIF/MP4."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_config_kwargs
from PIL import Image
from tools_helpers import CROP, save_tiny_model, write_frames

from tanet_hf import TANetConfig, TANetForVideoClassification
from tanet_hf.tools.gradcam import grad_cam

SIZE, BOX, FRAMES, STEP = 64, 16, 4, 3


def object_clip(rng: np.random.Generator, with_object: bool) -> tuple[torch.Tensor, np.ndarray]:
    """A normalised clip `(T, 3, 64, 64)` of a flat noisy background, with (or without) a checkered 16-pixel square
    moving diagonally by 3 pixels a frame; and the square's box in every frame `(T, 64, 64)` bool."""
    frames = np.full((FRAMES, SIZE, SIZE, 3), rng.uniform(60, 180)) + rng.normal(0, 8, (FRAMES, SIZE, SIZE, 3))
    top, left = rng.integers(0, SIZE - BOX - STEP * FRAMES, 2)
    colours = rng.uniform(0, 255, (2, 3))
    yy, xx = np.mgrid[:BOX, :BOX]
    square = np.where(((yy // 4 + xx // 4) % 2)[..., None] == 0, colours[0], colours[1])
    box = np.zeros((FRAMES, SIZE, SIZE), bool)
    for t in range(FRAMES):
        rows, cols = slice(top + STEP * t, top + STEP * t + BOX), slice(left + STEP * t, left + STEP * t + BOX)
        box[t, rows, cols] = True
        if with_object:
            frames[t, rows, cols] = square
    pixels = (frames.clip(0, 255) / 255 - 0.45) / 0.225
    return torch.from_numpy(pixels).float().permute(0, 3, 1, 2), box


@pytest.fixture(scope="module")
def object_detector() -> TANetForVideoClassification:
    """A tiny TANet trained for 12 steps to tell clips with a moving square (class 1) from clips without (~10 s)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = TANetForVideoClassification(TANetConfig(**tiny_config_kwargs(num_labels=2))).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    labels = torch.arange(8) % 2
    for _ in range(12):
        pixel_values = torch.stack([object_clip(rng, bool(label))[0] for label in labels])
        loss = model(pixel_values, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_maps_concentrate_on_the_moving_object(object_detector):
    pixel_values, box = object_clip(np.random.default_rng(99), with_object=True)
    result = grad_cam(object_detector, pixel_values[None], target=1)
    maps = result.maps[0].numpy()
    assert maps.shape == (FRAMES, SIZE, SIZE) and maps.min() >= 0 and maps.max() == pytest.approx(1.0)
    inside, outside = maps[box].mean(), maps[~box].mean()
    assert inside > 1.3 * outside, (inside, outside)  # a uniform map has inside == outside
    # and it explains the class: the "no object" class's map does not single out the square the same way
    background = grad_cam(object_detector, pixel_values[None], target=0).maps[0].numpy()
    assert background[box].mean() / max(background[~box].mean(), 1e-6) < inside / outside


def test_target_layer_and_model_state(object_detector):
    pixel_values = torch.stack([object_clip(np.random.default_rng(s), True)[0] for s in (1, 2)])
    object_detector.train()
    result = grad_cam(object_detector, pixel_values, layer="stage3")
    assert object_detector.training  # mode restored
    assert result.maps.shape == (2, FRAMES, SIZE, SIZE)
    assert torch.equal(result.target, result.logits.argmax(dim=1))
    other = grad_cam(object_detector.eval(), pixel_values, target=torch.tensor([0, 1]))
    assert other.target.tolist() == [0, 1] and not torch.allclose(other.maps[0], result.maps[0])
    with pytest.raises(ValueError, match="layer='stage9'"):
        grad_cam(object_detector, pixel_values, layer="stage9")
    with pytest.raises(ValueError, match="outside"):
        grad_cam(object_detector, pixel_values, target=2)


def test_parameters_receive_no_gradient(object_detector):
    object_detector.zero_grad(set_to_none=True)
    grad_cam(object_detector, object_clip(np.random.default_rng(3), True)[0][None])
    assert all(p.grad is None for p in object_detector.parameters())


@pytest.mark.parametrize("suffix", [".png", ".gif", ".mp4"])
def test_cli_writes_the_overlay(tmp_path, suffix):
    from tanet_hf.cli import main

    model = save_tiny_model(tmp_path / "model")
    rng = np.random.default_rng(0)
    video = write_frames(tmp_path / "clip.mp4", rng.integers(0, 255, (8, 48, 64, 3), dtype=np.uint8))
    out = tmp_path / f"cam{suffix}"
    assert main(["gradcam", str(model), str(video), "--output", str(out), "--label", "class 3"]) == 0
    if suffix == ".png":  # frame strip: the 4 frames above their overlays
        assert Image.open(out).size == (4 * CROP, 2 * CROP)
    elif suffix == ".gif":
        assert Image.open(out).n_frames == 4
    else:
        import av

        with av.open(str(out)) as container:
            assert sum(1 for _ in container.decode(video=0)) == 4
    with pytest.raises(ValueError, match="--label 'nope'"):
        main(["gradcam", str(model), str(video), "--output", str(out), "--label", "nope"])
