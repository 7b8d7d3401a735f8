"""Data loading: every annotation format through `datasets`, label validation, and clips decoded in workers."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import torch
from datasets import ClassLabel, Dataset, Features, Value, Video

from tanet_hf import TANetVideoProcessor, VideoDecodeError
from tanet_hf.synthetic import SyntheticMotionConfig, render_motion_video, write_video
from tanet_hf.training.arguments import DataArguments
from tanet_hf.training.augmentation import TrainAugmentation
from tanet_hf.training.datasets import (
    VideoClassificationData,
    carve_validation_split,
    detect_annotation_format,
    load_video_classification_data,
    prepare_splits,
    random_subset,
    read_label_names,
)
from tanet_hf.training.loading import EpochShuffleSampler, VideoClipDataset, make_video_dataloader, sample_seed


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory):
    """Six small synthetic videos (two classes) and one file that is not a video."""
    root = tmp_path_factory.mktemp("clips")
    config = SyntheticMotionConfig(size=32, num_video_frames=8)
    for index in range(6):
        label = "approaching" if index % 2 == 0 else "receding"
        write_video(
            root / f"clip{index}.mp4", render_motion_video(label, np.random.default_rng(index), config), codec="mpeg4"
        )
    (root / "broken.mp4").write_text("this is not a video\n")
    return root


def _processor(**overrides) -> TANetVideoProcessor:
    settings = dict(num_frames=4, short_side_size=32, crop_size=32, num_test_clips=2, test_crop="center")
    settings.update(overrides)
    return TANetVideoProcessor(**settings)


# ---------------------------------------------------------------------------------------------------------------
# Formats
# ---------------------------------------------------------------------------------------------------------------


def test_videofolder(tmp_path, clips_dir):
    for split, names in {"train": [0, 1, 2, 3], "val": [4, 5]}.items():
        for index in names:
            label = "approaching" if index % 2 == 0 else "receding"
            (tmp_path / "root" / split / label).mkdir(parents=True, exist_ok=True)
            shutil.copy(clips_dir / f"clip{index}.mp4", tmp_path / "root" / split / label / f"clip{index}.mp4")
    data = load_video_classification_data(tmp_path / "root", cache_dir=str(tmp_path / "cache"))
    assert sorted(data.splits) == ["train", "validation"]  # "val" is the validation split
    assert data.label_names == ["approaching", "receding"]
    train = data.splits["train"]
    assert isinstance(train.features["video"], Video) and not train.features["video"].decode
    assert isinstance(train.features["label"], ClassLabel)
    row = train[0]
    assert set(row["video"]) == {"path", "bytes"} and row["video"]["path"].endswith(".mp4")
    assert sorted(train["label"]) == [0, 0, 1, 1]
    # a fixed label set (e.g. a checkpoint's) re-indexes the classes
    flipped = load_video_classification_data(
        tmp_path / "root", label_names=["receding", "approaching"], cache_dir=str(tmp_path / "cache")
    )
    paths = [r["path"] for r in flipped.splits["train"]["video"]]
    assert [("clip0" in p or "clip2" in p) for p in paths] == [lbl == 1 for lbl in flipped.splits["train"]["label"]]


def test_kinetics_csv_finds_videos_anywhere_and_reports_missing(tmp_path, clips_dir):
    videos = tmp_path / "k400" / "videos"
    (videos / "abseiling").mkdir(parents=True)
    shutil.copy(clips_dir / "clip0.mp4", videos / "abseiling" / "abc_000010_000020.mp4")
    shutil.copy(clips_dir / "clip1.mp4", videos / "xyz_000000_000010.mp4")
    csv_file = tmp_path / "k400" / "train.csv"
    csv_file.write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "abseiling,abc,10,20,train\n"
        '"air drumming",xyz,0,10,train\n'
        "abseiling,gone,0,10,train\n"
    )
    assert detect_annotation_format(csv_file) == "kinetics_csv"
    data = load_video_classification_data(train_file=csv_file, video_root=videos)
    assert data.label_names == ["abseiling", "air drumming"]
    assert [r["path"].split("/")[-1] for r in data.splits["train"]["video"]] == [
        "abc_000010_000020.mp4",
        "xyz_000000_000010.mp4",
    ]
    assert data.splits["train"]["label"] == [0, 1]
    assert len(data.missing_videos["train"]) == 1 and "gone_000000_000010" in data.missing_videos["train"][0]
    with pytest.raises(FileNotFoundError, match="do not exist.*strict"):
        load_video_classification_data(train_file=csv_file, video_root=videos, strict=True)
    # the packaged Kinetics-400 label set indexes the classes officially (and validates them)
    official = load_video_classification_data(train_file=csv_file, video_root=videos, label_file="kinetics400")
    assert len(official.label_names) == 400
    assert official.splits["train"]["label"] == [0, official.label_names.index("air drumming")]


def test_something_something_v2_json(tmp_path, clips_dir):
    root = tmp_path / "sth"
    root.mkdir()
    shutil.copy(clips_dir / "clip0.mp4", root / "101.webm")  # the loader finds ids by file name, any extension
    shutil.copy(clips_dir / "clip1.mp4", root / "102.mp4")
    labels = {"Pushing something from left to right": "0", "Pushing something from right to left": "1"}
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    annotations = [
        {"id": "101", "label": "pushing a pen from left to right", "template": "Pushing [something] from left to right", "placeholders": ["a pen"]},
        {"id": "102", "label": "pushing a cup from right to left", "template": "Pushing [something] from right to left", "placeholders": ["a cup"]},
    ]  # fmt: skip
    (tmp_path / "train.json").write_text(json.dumps(annotations))
    assert read_label_names(tmp_path / "labels.json") == list(labels)
    data = load_video_classification_data(
        train_file=tmp_path / "train.json", video_root=root, label_file=tmp_path / "labels.json"
    )
    assert data.splits["train"]["label"] == [0, 1]
    assert data.splits["train"][0]["video"]["path"].endswith("101.webm")

    annotations.append({"id": "103", "label": "x", "template": "Spinning [something]", "placeholders": []})
    (tmp_path / "bad.json").write_text(json.dumps(annotations))
    with pytest.raises(ValueError, match=r"bad.json\[2\].*'Spinning something' is not in the label set"):
        load_video_classification_data(
            train_file=tmp_path / "bad.json", video_root=root, label_file=tmp_path / "labels.json"
        )


def test_plain_lists_with_indices_names_and_release_format(tmp_path, clips_dir):
    (tmp_path / "classes.txt").write_text("approaching\nreceding\n")
    (tmp_path / "train.txt").write_text(f"{clips_dir}/clip0.mp4 0\n# a comment\n\n{clips_dir}/clip1.mp4 1\n")
    (tmp_path / "val.txt").write_text("clip2.mp4 8 approaching\nclip3.mp4 8 receding\n")  # path num_frames label
    data = load_video_classification_data(
        train_file=tmp_path / "train.txt",
        validation_file=tmp_path / "val.txt",
        video_root=clips_dir,
        label_file=tmp_path / "classes.txt",
    )
    assert data.splits["train"]["label"] == [0, 1] and data.splits["validation"]["label"] == [0, 1]
    assert data.splits["validation"][1]["video"]["path"] == str(clips_dir / "clip3.mp4")

    (tmp_path / "out_of_range.txt").write_text(f"{clips_dir}/clip0.mp4 7\n")
    with pytest.raises(ValueError, match=r"out_of_range.txt:1: label index 7 is outside the label set \(0..1\)"):
        load_video_classification_data(train_file=tmp_path / "out_of_range.txt", label_file=tmp_path / "classes.txt")
    with pytest.raises(ValueError, match="give labels as indices; pass label_file"):
        load_video_classification_data(train_file=tmp_path / "train.txt")


def test_hub_code_path_on_a_local_dataset(tmp_path, clips_dir):
    """A `load_dataset(id)` dataset whose video column holds paths and whose labels are strings."""
    folder = tmp_path / "hub_like"
    folder.mkdir()
    rows = "\n".join(f"{clips_dir}/clip{i},{'up' if i % 2 else 'down'}" for i in range(4))
    (folder / "train.csv").write_text("clip_path,action\n" + rows.replace(",", ".mp4,") + "\n")
    data = load_video_classification_data(
        str(folder), data_format="hub", video_column="clip_path", label_column="action", cache_dir=str(tmp_path / "c")
    )
    train = data.splits["train"]
    assert data.label_names == ["down", "up"]
    assert train.column_names == ["video", "label"] and not train.features["video"].decode
    assert train["label"] == [0, 1, 0, 1]


def test_start_up_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="train annotation file .*missing.txt.* does not exist"):
        load_video_classification_data(train_file=tmp_path / "missing.txt")
    with pytest.raises(FileNotFoundError, match="label file 'nope.txt' does not exist"):
        read_label_names("nope.txt")
    (tmp_path / "empty.txt").write_text("# nothing here\n")
    (tmp_path / "classes.txt").write_text("a\nb\n")
    with pytest.raises(ValueError, match="The train split is empty"):
        load_video_classification_data(train_file=tmp_path / "empty.txt", label_file=tmp_path / "classes.txt")
    (tmp_path / "dupes.txt").write_text("a\na\n")
    with pytest.raises(ValueError, match="repeats class names"):
        read_label_names(tmp_path / "dupes.txt")
    with pytest.raises(ValueError, match="No data given"):
        load_video_classification_data()


# ---------------------------------------------------------------------------------------------------------------
# Clips
# ---------------------------------------------------------------------------------------------------------------


def _list_data(tmp_path, clips_dir, names):
    (tmp_path / "classes.txt").write_text("approaching\nreceding\n")
    (tmp_path / "list.txt").write_text("".join(f"{name} {i % 2}\n" for i, name in enumerate(names)))
    return load_video_classification_data(
        train_file=tmp_path / "list.txt", video_root=clips_dir, label_file=tmp_path / "classes.txt"
    ).splits["train"]


def test_clips_are_seeded_by_seed_epoch_and_index(tmp_path, clips_dir):
    dataset = _list_data(tmp_path, clips_dir, [f"clip{i}.mp4" for i in range(4)])
    clips = VideoClipDataset(dataset, _processor(), mode="train", seed=3)
    first = clips[1]
    assert first["pixel_values"].shape == (4, 3, 32, 32) and first["labels"] == 1 and first["valid"]
    torch.testing.assert_close(clips[1]["pixel_values"], first["pixel_values"], rtol=0, atol=0)
    assert sample_seed(3, 0, 1) != sample_seed(3, 1, 1) != sample_seed(4, 0, 1)
    differs = []
    for epoch in range(1, 4):
        clips.set_epoch(epoch)
        differs.append(not torch.equal(clips[1]["pixel_values"], first["pixel_values"]))
    assert any(differs)  # another epoch draws another clip / crop
    test_clips = VideoClipDataset(dataset, _processor(), mode="test")
    assert test_clips[0]["pixel_values"].shape == (2, 4, 3, 32, 32)  # 2 clips × centre crop


def test_training_clips_come_from_the_augmentation_with_the_sample_seed_and_swap_labels(tmp_path, clips_dir):
    dataset = _list_data(tmp_path, clips_dir, [f"clip{i}.mp4" for i in range(4)])
    augmentation = TrainAugmentation(do_flip=True, flip_label_map={0: 1, 1: 0})
    clips = VideoClipDataset(dataset, _processor(), mode="train", seed=5, augmentation=augmentation)
    swapped = []
    for epoch in range(6):
        clips.set_epoch(epoch)
        item = clips[2]  # label 0
        rng = np.random.default_rng(sample_seed(5, epoch, 2))
        pixels, label = augmentation(dataset[2]["video"], 0, _processor(), rng)
        assert torch.equal(item["pixel_values"], pixels) and item["labels"] == label
        swapped.append(label == 1)
    assert any(swapped) and not all(swapped)  # flipped (label swapped) in some epochs only


def test_worker_count_does_not_change_the_batches(tmp_path, clips_dir):
    dataset = _list_data(tmp_path, clips_dir, [f"clip{i}.mp4" for i in range(6)])
    batches = {}
    for workers in (0, 2):
        clips = VideoClipDataset(dataset, _processor(), mode="train", seed=1)
        loader = make_video_dataloader(clips, batch_size=4, shuffle=True, seed=1, num_workers=workers)
        loader.sampler.set_epoch(2)
        clips.set_epoch(2)
        batches[workers] = [(b["pixel_values"], b["labels"]) for b in loader]
    assert len(batches[0]) == 2
    for (pixels_a, labels_a), (pixels_b, labels_b) in zip(batches[0], batches[2]):
        assert torch.equal(labels_a, labels_b) and torch.equal(pixels_a, pixels_b)


def test_unreadable_videos_are_skipped_counted_or_fatal(tmp_path, clips_dir):
    dataset = _list_data(tmp_path, clips_dir, ["clip0.mp4", "broken.mp4", "clip2.mp4", "clip3.mp4"])
    clips = VideoClipDataset(dataset, _processor(), mode="train")
    item = clips[1]
    assert not item["valid"] and len(item["skipped"]) == 1 and "broken.mp4" in item["skipped"][0]
    assert item["labels"] == 0  # clip2 (the next readable video, label 0) stands in
    loader = make_video_dataloader(clips, batch_size=4, shuffle=False, num_workers=0)
    batch = next(iter(loader))
    assert batch["valid"].tolist() == [True, False, True, True] and len(batch["skipped"]) == 1
    strict = VideoClipDataset(dataset, _processor(), mode="train", strict=True)
    with pytest.raises(VideoDecodeError, match="broken.mp4"):
        strict[1]


def test_epoch_shuffle_sampler_is_a_function_of_seed_and_epoch():
    sampler = EpochShuffleSampler(10, seed=5)
    first = list(sampler)
    assert sorted(first) == list(range(10)) and first == list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first
    assert list(EpochShuffleSampler(4, shuffle=False)) == [0, 1, 2, 3]


# ---------------------------------------------------------------------------------------------------------------
# Split preparation: a plain class folder, seeded subsets
# ---------------------------------------------------------------------------------------------------------------


def _class_sorted(num_per_class: int = 10) -> VideoClassificationData:
    """A train split sorted by class, as a `root/<class>/` folder loads: 10 × "a" then 10 × "b"."""
    rows = {
        "video": [f"v{i}.mp4" for i in range(2 * num_per_class)],
        "label": [0] * num_per_class + [1] * num_per_class,
    }
    split = Dataset.from_dict(
        rows, features=Features({"video": Value("string"), "label": ClassLabel(names=["a", "b"])})
    )
    return VideoClassificationData({"train": split}, ["a", "b"])


def test_a_plain_class_folder_gets_a_seeded_validation_split_or_a_loud_warning(tmp_path, clips_dir, caplog):
    for index in range(6):  # root/<class>/<video>: no split folders, so only a train split
        label = "approaching" if index % 2 == 0 else "receding"
        (tmp_path / "root" / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(clips_dir / f"clip{index}.mp4", tmp_path / "root" / label / f"clip{index}.mp4")
    loaded = DataArguments(
        dataset=str(tmp_path / "root"), cache_dir=str(tmp_path / "cache"), validation_split_percentage=34
    )
    data = loaded.load(seed=3)
    assert sorted(data.splits) == ["train", "validation"] and len(data.splits["validation"]) == 3
    assert sorted(list(data.splits["validation"]["label"]) + list(data.splits["train"]["label"])) == [0, 0, 0, 1, 1, 1]
    again = loaded.load(seed=3)
    assert list(again.splits["validation"]["video"]) == list(
        data.splits["validation"]["video"]
    )  # seeded: the same videos
    big = carve_validation_split(_class_sorted(), 20, seed=0)
    assert sorted(list(big.splits["validation"]["label"])) == [0, 0, 1, 1]  # stratified by class
    other_seed = carve_validation_split(_class_sorted(), 20, seed=1).splits["validation"]
    assert list(other_seed["video"]) != list(big.splits["validation"]["video"])
    with caplog.at_level(logging.WARNING):
        none = carve_validation_split(_class_sorted(), 0, seed=0)
    assert list(none.splits) == ["train"] and "NO EVALUATION will run" in caplog.text
    with_validation = VideoClassificationData(
        {**_class_sorted().splits, "validation": _class_sorted().splits["train"]}, ["a", "b"]
    )
    assert carve_validation_split(with_validation, 10, 0) is with_validation  # a dataset with splits is left as is


def test_max_train_samples_draws_a_seeded_random_subset_not_the_first_class():
    data = _class_sorted()
    subset = prepare_splits(data, 0, max_train_samples=6, max_eval_samples=None, seed=0).splits["train"]
    assert len(subset) == 6 and set(list(subset["label"])) == {0, 1}  # the first 6 rows would all be class "a"
    assert list(random_subset(data.splits["train"], 6, seed=0)["video"]) == list(subset["video"])
    assert list(random_subset(data.splits["train"], 6, seed=1)["video"]) != list(subset["video"])
    assert random_subset(data.splits["train"], 50, seed=0) is data.splits["train"]
