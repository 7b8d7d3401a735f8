"""The synthetic motion dataset: classes that only temporal order separates, written as real video files."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from tanet_hf.synthetic import (
    ALL_CLASSES,
    CLASSES,
    INFO_FILE,
    TASKS,
    SyntheticMotionConfig,
    _class_motion,
    _size_profile,
    generate_synthetic_motion_dataset,
    render_motion_video,
)


def _decode_all(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def test_render_shape_dtype_and_determinism():
    config = SyntheticMotionConfig(size=48, num_video_frames=12)
    first = render_motion_video("approaching", np.random.default_rng(7), config)
    again = render_motion_video("approaching", np.random.default_rng(7), config)
    other = render_motion_video("approaching", np.random.default_rng(8), config)
    assert first.shape == (12, 48, 48, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)
    assert np.abs(first.astype(int) - other).mean() > 10  # another seed: another appearance


def test_classes_are_time_reversals_with_the_same_size_statistics():
    progress = (np.arange(16) + 0.5) / 16
    profiles = {label: _size_profile(label, progress) for label in CLASSES}
    # each class is the time reversal of another one: an unordered set of frames cannot tell them apart
    np.testing.assert_allclose(profiles["approaching"][::-1], profiles["receding"])
    np.testing.assert_allclose(
        np.sort(profiles["approaching_then_receding"]), np.sort(profiles["receding_then_approaching"])
    )
    # and all four visit the object sizes with the same mean and spread
    for label in CLASSES:
        assert profiles[label].mean() == pytest.approx(0.5, abs=1e-9)
        assert profiles[label].std() == pytest.approx(profiles["approaching"].std(), abs=0.01)
    # the order is what differs
    assert np.all(np.diff(profiles["approaching"]) > 0) and np.all(np.diff(profiles["receding"]) < 0)


def test_object_size_follows_the_profile():
    config = SyntheticMotionConfig(size=64, num_video_frames=16, noise=0.0, max_drift=0.0)
    frames = {label: render_motion_video(label, np.random.default_rng(3), config) for label in CLASSES}
    # same seed → same background and object; the frames differ from the first frame where the object is
    background_diff = {
        label: (np.abs(video.astype(int) - video[0]).sum(axis=-1) > 0).sum(axis=(1, 2))
        for label, video in frames.items()
    }
    # approaching: the object covers more and more of what it covered at t=0 → changed area grows
    assert background_diff["approaching"][-1] > background_diff["approaching"][4] > 0
    assert background_diff["receding"][-1] > background_diff["receding"][4] > 0
    # the object is largest in the middle of "approaching_then_receding": the middle frame differs most from frame 0
    assert np.argmax(background_diff["approaching_then_receding"]) in range(5, 11)


def test_every_task_has_distinct_classes_and_the_default_task_is_unchanged():
    assert TASKS["size_profile"] == CLASSES and SyntheticMotionConfig().classes == list(CLASSES)
    families = [TASKS[task] for task in ("size_profile", "speed", "camera", "order")]
    assert sum(len(f) for f in families) == len(set(ALL_CLASSES)) == len(TASKS["all"])
    assert ALL_CLASSES[: len(CLASSES)] == CLASSES  # the size-profile classes keep their per-class seeds


def test_speed_classes_visit_the_same_sizes_at_different_speeds():
    config = SyntheticMotionConfig(num_video_frames=48)
    motions = {label: _class_motion(label, np.random.default_rng(2), config) for label in TASKS["speed"]}
    for motion in motions.values():  # a triangle wave over whole cycles: uniform sizes in [0, 1]
        assert motion.size.mean() == pytest.approx(0.5, abs=0.03) and motion.size.min() < 0.1 < 0.9 < motion.size.max()
    speeds = [np.abs(np.diff(motions[label].size)).mean() for label in TASKS["speed"]]
    assert speeds[0] < speeds[1] < speeds[2] and speeds[2] == pytest.approx(3 * speeds[0], rel=0.15)


def test_camera_classes_move_the_object_the_background_or_both():
    config = SyntheticMotionConfig(noise=0.0)
    moved = {}
    for label in TASKS["camera"]:
        motion = _class_motion(label, np.random.default_rng(4), config)
        moved[label] = (np.ptp(motion.position, axis=0).max() > 10, np.ptp(motion.background_shift, axis=0).max() > 10)
        assert np.ptp(motion.size) == 0  # constant size: only what moves differs
    assert moved == {
        "still": (False, False),
        "object_moves": (True, False),
        "camera_pans": (True, True),
        "camera_tracks_object": (False, True),
    }
    still = render_motion_video("still", np.random.default_rng(5), config)
    pan = render_motion_video("camera_pans", np.random.default_rng(5), config)
    assert np.array_equal(still[0], still[-1])
    assert (np.abs(pan[0].astype(int) - pan[-1]).sum(axis=-1) > 0).mean() > 0.5  # most pixels change in a pan


def test_order_classes_are_time_reversals_of_each_other_in_size_and_speed():
    config = SyntheticMotionConfig()
    first = _class_motion("moves_then_pulses", np.random.default_rng(6), config)
    second = _class_motion("pulses_then_moves", np.random.default_rng(6), config)
    np.testing.assert_allclose(np.sort(first.size), np.sort(second.size))  # same sizes, other order
    np.testing.assert_allclose(first.size[:8], 0.3)
    np.testing.assert_allclose(second.size[8:], 0.3)
    assert second.size[:8].max() > 0.9 and first.size[8:].max() > 0.9
    step = np.linalg.norm(np.diff(first.position, axis=0), axis=1)
    assert np.all(step[:7] > 0) and np.all(step[8:] == 0)  # moves, then stays in place while it pulses


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="classes"):
        SyntheticMotionConfig(classes=["approaching"])
    with pytest.raises(ValueError, match="classes"):
        SyntheticMotionConfig(classes=["approaching", "moving_left"])
    with pytest.raises(ValueError, match="radius"):
        SyntheticMotionConfig(min_radius_range=(0.3, 0.4), max_radius_range=(0.1, 0.2))
    with pytest.raises(ValueError, match="not a synthetic motion class"):
        render_motion_video("spinning", np.random.default_rng(0))


def test_dataset_layout_files_and_regeneration(tmp_path):
    config = SyntheticMotionConfig(size=32, num_video_frames=8, classes=["approaching", "receding"])
    root = generate_synthetic_motion_dataset(tmp_path / "syn", 2, 1, 1, seed=5, config=config)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.mp4"))
    assert files == [
        "test/approaching/approaching_0000.mp4",
        "test/receding/receding_0000.mp4",
        "train/approaching/approaching_0000.mp4",
        "train/approaching/approaching_0001.mp4",
        "train/receding/receding_0000.mp4",
        "train/receding/receding_0001.mp4",
        "validation/approaching/approaching_0000.mp4",
        "validation/receding/receding_0000.mp4",
    ]
    info = json.loads((root / INFO_FILE).read_text())
    assert info["classes"] == ["approaching", "receding"] and info["counts"]["train"] == 2

    video = root / "train/approaching/approaching_0001.mp4"
    decoded = _decode_all(video)
    assert decoded.shape == (8, 32, 32, 3)
    expected = render_motion_video(
        "approaching", np.random.default_rng([5, 0, CLASSES.index("approaching"), 1]), config
    )
    assert np.abs(decoded.astype(int) - expected).mean() < 12  # near-lossless encode of the rendered frames
    # the splits hold different videos
    assert (
        np.abs(
            _decode_all(root / "test/approaching/approaching_0000.mp4").astype(int)
            - _decode_all(root / "train/approaching/approaching_0000.mp4")
        ).mean()
        > 10
    )

    with pytest.raises(FileExistsError, match="already holds a synthetic dataset"):
        generate_synthetic_motion_dataset(root, 1, 1, 1, config=config)
    generate_synthetic_motion_dataset(root, 1, 0, 0, seed=5, config=config, overwrite=True)
    assert not (root / "train/approaching/approaching_0001.mp4").exists()  # old files are gone
    # same seed ⇒ same rendered video; the encoder may round differently when the machine is loaded, so compare
    # decoded pixels with a tolerance far below the distance between two different videos (> 10, checked above)
    regenerated = _decode_all_again(root, config).astype(int)
    assert np.abs(_decode_all(root / "train/approaching/approaching_0000.mp4").astype(int) - regenerated).mean() < 3


def _decode_all_again(root, config):
    """Regenerate the dataset with the same seed in another folder and decode the same video."""
    other = generate_synthetic_motion_dataset(root.parent / "again", 1, 0, 0, seed=5, config=config)
    return _decode_all(other / "train/approaching/approaching_0000.mp4")


def test_cli_and_videofolder_loading(tmp_path):
    from datasets import load_dataset

    from tanet_hf.cli import main

    out = tmp_path / "cli"
    code = main(
        ["make-synthetic", str(out), "--train-per-class", "1", "--validation-per-class", "1", "--test-per-class", "0",
         "--size", "32", "--num-video-frames", "6"]
    )  # fmt: skip
    assert code == 0
    camera = tmp_path / "camera"
    assert main(["make-synthetic", str(camera), "--task", "camera", "--train-per-class", "1", "--validation-per-class",
                 "0", "--test-per-class", "0", "--size", "32", "--num-video-frames", "4"]) == 0  # fmt: skip
    assert json.loads((camera / INFO_FILE).read_text())["classes"] == sorted(TASKS["camera"])
    loaded = load_dataset("videofolder", data_dir=str(out), cache_dir=str(tmp_path / "cache"))
    assert sorted(loaded) == ["train", "validation"]
    assert loaded["train"].features["label"].names == sorted(CLASSES)
    assert len(loaded["train"]) == len(CLASSES)
