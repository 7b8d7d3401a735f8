"""Frame sampling: the release's index formulas on hand-computed cases (REFERENCE.md §4)."""

import numpy as np
import pytest

from tanet_hf.video_processing_tanet import sample_frame_indices


def test_uniform_eval_one_clip_takes_segment_middles():
    # N=100, T=8: tick = 12.5, int(6.25 + 12.5 i)
    indices = sample_frame_indices(100, 8, "uniform", "eval")
    assert indices.dtype == np.int64 and indices.shape == (1, 8)
    assert indices[0].tolist() == [6, 18, 31, 43, 56, 68, 81, 93]


def test_uniform_eval_equal_length_is_identity():
    assert sample_frame_indices(8, 8, "uniform", "eval")[0].tolist() == list(range(8))


def test_uniform_two_clips_start_at_linspace_of_tick():
    # N=100, T=8, K=2: starts = int(linspace(0, 11.5, 2)) = [0, 11]
    indices = sample_frame_indices(100, 8, "uniform", "test", num_clips=2)
    assert indices.shape == (2, 8)
    assert indices[0].tolist() == [0, 12, 25, 37, 50, 62, 75, 87]
    assert indices[1].tolist() == [11, 23, 36, 48, 61, 73, 86, 98]


def test_uniform_two_clips_short_segments():
    # N=30, T=8, K=2: tick = 3.75, starts = int(linspace(0, 2.75, 2)) = [0, 2]
    indices = sample_frame_indices(30, 8, "uniform", "eval", num_clips=2)
    assert indices[0].tolist() == [0, 3, 7, 11, 15, 18, 22, 26]
    assert indices[1].tolist() == [2, 5, 9, 13, 17, 20, 24, 28]


def test_uniform_train_draws_one_frame_per_segment():
    # N=100, T=8: avg = 12, frame i lies in [12 i, 12 i + 11]; frames 96..99 are never used (as in the release)
    rng = np.random.default_rng(0)
    draws = np.concatenate([sample_frame_indices(100, 8, "uniform", "train", rng=rng) for _ in range(400)])
    assert draws.shape == (400, 8)
    offsets = draws - np.arange(8) * 12
    assert offsets.min() == 0 and offsets.max() == 11
    assert set(np.unique(offsets).tolist()) == set(range(12))
    assert draws.max() <= 95


def test_train_is_reproducible_with_a_seeded_generator():
    a = sample_frame_indices(300, 8, "dense", "train", num_clips=3, rng=np.random.default_rng(7))
    b = sample_frame_indices(300, 8, "dense", "train", num_clips=3, rng=np.random.default_rng(7))
    assert a.shape == (3, 8)
    np.testing.assert_array_equal(a, b)


def test_dense_eval_one_clip_is_centred_in_the_valid_starts():
    # N=300, T=8: stride 8, pos = 1 + 300 - 64 = 237, start = 118
    indices = sample_frame_indices(300, 8, "dense", "eval")
    assert indices[0].tolist() == list(range(118, 118 + 64, 8))


def test_dense_sixteen_frames_uses_stride_four():
    # N=100, T=16: stride 4, pos = 37, start = 18
    assert sample_frame_indices(100, 16, "dense", "eval")[0].tolist() == list(range(18, 18 + 64, 4))


def test_dense_ten_clips_start_at_linspace_of_positions():
    # N=300, T=8, K=10: starts = int(linspace(0, 236, 10))
    indices = sample_frame_indices(300, 8, "dense", "test", num_clips=10)
    assert indices.shape == (10, 8)
    assert indices[:, 0].tolist() == [0, 26, 52, 78, 104, 131, 157, 183, 209, 236]
    np.testing.assert_array_equal(np.diff(indices, axis=1), 8)


def test_dense_window_wraps_around_videos_shorter_than_the_window():
    # N=40 < 64: pos = 1, start = 0, indices (8 i) % 40
    assert sample_frame_indices(40, 8, "dense", "eval")[0].tolist() == [0, 8, 16, 24, 32, 0, 8, 16]
    assert sample_frame_indices(40, 8, "dense", "train", rng=np.random.default_rng(0))[0].tolist() == [
        0,
        8,
        16,
        24,
        32,
        0,
        8,
        16,
    ]


def test_dense_train_start_excludes_the_last_position():
    # N=70, T=8: pos = 7, start = randint(0, 6) ∈ {0, …, 5}
    rng = np.random.default_rng(1)
    starts = {int(sample_frame_indices(70, 8, "dense", "train", rng=rng)[0, 0]) for _ in range(300)}
    assert starts == set(range(6))


@pytest.mark.parametrize("sampling", ["uniform", "dense"])
@pytest.mark.parametrize("mode", ["train", "eval", "test"])
def test_short_videos_loop_in_order(sampling, mode):
    indices = sample_frame_indices(3, 8, sampling, mode, num_clips=2, rng=np.random.default_rng(0))
    assert indices.tolist() == [[0, 1, 2, 0, 1, 2, 0, 1]] * 2
    assert sample_frame_indices(1, 8, sampling, mode).tolist() == [[0] * 8]


@pytest.mark.parametrize("n", [8, 9, 15, 64, 65, 300, 1001])
@pytest.mark.parametrize("sampling", ["uniform", "dense"])
def test_indices_are_in_range_for_every_mode(n, sampling):
    for mode in ("train", "eval"):
        for k in (1, 2, 10):
            indices = sample_frame_indices(n, 8, sampling, mode, num_clips=k, rng=np.random.default_rng(n))
            assert indices.shape == (k, 8)
            assert indices.min() >= 0 and indices.max() < n


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_video_frames=0, num_frames=8), "num_video_frames"),
        (dict(num_video_frames=10, num_frames=0), "num_frames"),
        (dict(num_video_frames=10, num_frames=8, num_clips=0), "num_clips"),
        (dict(num_video_frames=10, num_frames=8, sampling="random"), "sampling"),
        (dict(num_video_frames=10, num_frames=8, mode="val"), "mode"),
        (dict(num_video_frames=10, num_frames=128, sampling="dense"), "dense_window"),
        (dict(num_video_frames=10.0, num_frames=8), "num_video_frames"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sample_frame_indices(**kwargs)
