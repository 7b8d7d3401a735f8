# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Video classification data for TANet through 🤗 `datasets`.

Every source becomes the same thing: a `datasets.Dataset` with a `video` column (`Video(decode=False)`: a
`{"path", "bytes"}` value, never a decoder object, so rows can cross process boundaries) and a `label` column
(`ClassLabel`), plus the ordered class names. Supported sources:

| source | what to pass |
|---|---|
| a folder of class sub-folders | `root/{train,validation,test}/<class>/<video>` (the `videofolder` builder) |
| Kinetics CSV | `label,youtube_id,time_start,time_end,split` files + the video folder (any layout below it) |
| Something-Something v2 JSON | `something-something-v2-{train,validation}.json` + `...-labels.json` + the `.webm` folder |
| plain lists | one `path label` (or the release's `path num_frames label`) per line; labels are indices or names |
| a Hub dataset id | any dataset with a `Video` column and a label column (`load_dataset(id)`) |

The torch side (decoding in DataLoader workers) is `tanet_hf.training.loading`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value, Video, load_dataset

from ..labels import read_labels

logger = logging.getLogger(__name__)

DATA_FORMATS = ("auto", "videofolder", "kinetics_csv", "sthv2_json", "list", "hub")


SPLIT_NAMES = ("train", "validation", "test")


VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".ogv", ".flv", ".gif")


@dataclass
class VideoClassificationData:
    """
    The splits of a video classification dataset and its label set.

    Attributes:
        splits: split name (`"train"`, `"validation"`, `"test"`) → `datasets.Dataset` with columns `video`
            (`Video(decode=False)`) and `label` (`ClassLabel(names=label_names)`).
        label_names: class names in index order.
        missing_videos: per split, annotation entries whose file was not found (dropped from the split).
    """

    splits: dict[str, Dataset]
    label_names: list[str]
    missing_videos: dict[str, list[str]] = field(default_factory=dict)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.label_names)}


def read_label_names(source: str | os.PathLike) -> list[str]:
    """Class names in index order from a label file or a packaged label set ([`tanet_hf.labels.read_labels`])."""
    return read_labels(source)


def _normalise_label(name: str) -> str:
    return " ".join(str(name).strip().strip('"').replace("_", " ").split()).lower()


def _label_index(value: Any, label_names: Sequence[str], lookup: dict[str, int], where: str) -> int:
    """Map a raw annotation label (index or name) onto `label_names`; raise naming `where` when it is not there."""
    text = str(value).strip()
    if text.lstrip("-").isdigit() and text not in lookup and _normalise_label(text) not in lookup:
        index = int(text)
        if not 0 <= index < len(label_names):
            raise ValueError(f"{where}: label index {index} is outside the label set (0..{len(label_names) - 1}).")
        return index
    for key in (text, _normalise_label(text)):
        if key in lookup:
            return lookup[key]
    raise ValueError(
        f"{where}: label {text!r} is not in the label set ({len(label_names)} classes, e.g. {list(label_names[:3])})."
    )


def _label_lookup(label_names: Sequence[str]) -> dict[str, int]:
    lookup = {}
    for index, name in enumerate(label_names):
        lookup.setdefault(_normalise_label(name), index)
    lookup.update({name: index for index, name in enumerate(label_names)})
    return lookup


@dataclass
class _Entries:
    """Raw annotation rows: a path (or a stem to look up) and a raw label per row, with row descriptions."""

    videos: list[str]
    labels: list[Any]
    rows: list[str]
    by_stem: bool = False


def _read_kinetics_csv(path: Path) -> _Entries:
    """Kinetics annotation CSV: `label,youtube_id,time_start,time_end,split[,is_cc]` (a `path` column wins)."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = set(reader.fieldnames or [])
        if "label" not in fields or not ({"youtube_id", "path"} & fields):
            raise ValueError(
                f"{path}: a Kinetics CSV needs a 'label' column and 'youtube_id' (or 'path'); got {sorted(fields)}."
            )
        videos, labels, rows = [], [], []
        for line_number, row in enumerate(reader, start=2):
            if row.get("path"):
                videos.append(row["path"])
            else:
                start, end = int(float(row["time_start"])), int(float(row["time_end"]))
                videos.append(f"{row['youtube_id']}_{start:06d}_{end:06d}")
            labels.append(row["label"])
            rows.append(f"{path}:{line_number}")
    return _Entries(videos, labels, rows, by_stem="path" not in fields)


def _read_sthv2_json(path: Path) -> _Entries:
    """Something-Something v2 annotations: `[{"id", "template", "label", "placeholders"}, ...]`; the class is the
    template without brackets."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: a Something-Something v2 annotation file is a JSON list of objects.")
    videos, labels, rows = [], [], []
    for position, item in enumerate(data):
        if "template" not in item:
            raise ValueError(
                f"{path}: entry {position} (id {item.get('id')!r}) has no 'template' (is this the unlabeled test file?)."
            )
        videos.append(str(item["id"]))
        labels.append(item["template"].replace("[", "").replace("]", ""))
        rows.append(f"{path}[{position}] (id {item['id']})")
    return _Entries(videos, labels, rows, by_stem=True)


def _read_list_file(path: Path) -> _Entries:
    """`path label` per line (also `path num_frames label`, as in the release's lists); `#` starts a comment."""
    videos, labels, rows = [], [], []
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        tokens = line.split()
        if len(tokens) == 3 and tokens[1].isdigit():
            video, label = tokens[0], tokens[2]
        else:
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2:
                raise ValueError(f"{path}:{line_number}: expected 'path label', got {line!r}.")
            video, label = parts
        videos.append(video)
        labels.append(label)
        rows.append(f"{path}:{line_number}")
    return _Entries(videos, labels, rows)


def detect_annotation_format(path: str | os.PathLike) -> str:
    """`"kinetics_csv"`, `"sthv2_json"` or `"list"` from a file's name and first line."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        return "sthv2_json"
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8") as handle:
            header = handle.readline().lower()
        if "label" in header and ("youtube_id" in header or "path" in header):
            return "kinetics_csv"
    return "list"


_READERS: dict[str, Callable[[Path], _Entries]] = {
    "kinetics_csv": _read_kinetics_csv,
    "sthv2_json": _read_sthv2_json,
    "list": _read_list_file,
}


def _index_videos_by_stem(video_root: Path) -> dict[str, str]:
    """Every video file under `video_root`, by file name without extension (the first found wins)."""
    index: dict[str, str] = {}
    for directory, _, files in os.walk(video_root):
        for name in files:
            stem, extension = os.path.splitext(name)
            if extension.lower() in VIDEO_EXTENSIONS:
                index.setdefault(stem, os.path.join(directory, name))
    return index


def _dataset_from_entries(
    entries: _Entries,
    label_names: Sequence[str],
    video_root: Path | None,
    stem_index: dict[str, str] | None,
) -> tuple[Dataset, list[str]]:
    lookup = _label_lookup(label_names)
    paths, label_ids, missing = [], [], []
    for video, label, row in zip(entries.videos, entries.labels, entries.rows):
        label_id = _label_index(label, label_names, lookup, row)
        if entries.by_stem:
            resolved = (stem_index or {}).get(Path(video).stem if Path(video).suffix in VIDEO_EXTENSIONS else video)
        else:
            candidate = Path(video) if video_root is None or Path(video).is_absolute() else video_root / video
            resolved = str(candidate) if candidate.is_file() else None
            if resolved is None and Path(video).suffix == "" and stem_index is not None:
                resolved = stem_index.get(Path(video).name)
        if resolved is None:
            missing.append(f"{row}: {video}")
            continue
        paths.append(resolved)
        label_ids.append(label_id)
    features = Features({"video": Video(decode=False), "label": ClassLabel(names=list(label_names))})
    dataset = Dataset.from_dict(
        {"video": [{"path": p, "bytes": None} for p in paths], "label": label_ids}, features=features
    )
    return dataset, missing


def _standardise_columns(
    dataset: Dataset, video_column: str | None, label_column: str | None, label_names: list[str] | None, where: str
) -> tuple[Dataset, list[str]]:
    """Rename the video / label columns to `video` / `label`, cast `video` to `Video(decode=False)` and make
    `label` a `ClassLabel` (strings become indices in sorted order unless `label_names` is given)."""
    features = dataset.features
    if video_column is None:
        candidates = [name for name, feature in features.items() if isinstance(feature, Video)]
        if not candidates:
            raise ValueError(f"{where} has no Video column (columns: {list(features)}); pass video_column=.")
        video_column = candidates[0]
    if label_column is None:
        candidates = [name for name, feature in features.items() if isinstance(feature, ClassLabel)]
        label_column = candidates[0] if candidates else ("label" if "label" in features else None)
        if label_column is None:
            raise ValueError(
                f"{where} has no ClassLabel or 'label' column (columns: {list(features)}); pass label_column=."
            )
    for name in (video_column, label_column):
        if name not in features:
            raise ValueError(f"{where} has no column {name!r} (columns: {list(features)}).")
    dataset = dataset.select_columns([video_column, label_column])
    if video_column != "video":
        dataset = dataset.rename_column(video_column, "video")
    if label_column != "label":
        dataset = dataset.rename_column(label_column, "label")
    video_feature = dataset.features["video"]
    if isinstance(video_feature, Value) and video_feature.dtype in ("string", "large_string"):
        dataset = dataset.cast_column("video", Value("string"))  # paths: Video casts from string, not large_string
    elif not isinstance(video_feature, Video):
        raise ValueError(f"{where}: column {video_column!r} holds {video_feature}, not videos or video paths.")
    dataset = dataset.cast_column("video", Video(decode=False))

    label_feature = dataset.features["label"]
    if isinstance(label_feature, ClassLabel):
        own = list(label_feature.names)
        if label_names is None or own == list(label_names):
            return dataset, own
        lookup = _label_lookup(label_names)
        mapping = [_label_index(name, label_names, lookup, f"{where} class {name!r}") for name in own]
        dataset = dataset.map(lambda row: {"label": mapping[row["label"]]}, desc="relabel")
    else:
        values = dataset.unique("label")
        names = list(label_names) if label_names is not None else sorted(str(v) for v in values)
        lookup = _label_lookup(names)
        for value in values:
            _label_index(value, names, lookup, f"{where} column 'label'")
        dataset = dataset.map(lambda row: {"label": _label_index(row["label"], names, lookup, where)}, desc="labels")
        label_names = names
    return dataset.cast_column("label", ClassLabel(names=list(label_names))), list(label_names)


def load_video_classification_data(
    dataset: str | os.PathLike | None = None,
    *,
    data_format: str = "auto",
    train_file: str | os.PathLike | None = None,
    validation_file: str | os.PathLike | None = None,
    test_file: str | os.PathLike | None = None,
    video_root: str | os.PathLike | None = None,
    label_file: str | os.PathLike | None = None,
    label_names: Sequence[str] | None = None,
    video_column: str | None = None,
    label_column: str | None = None,
    dataset_config_name: str | None = None,
    cache_dir: str | None = None,
    strict: bool = False,
) -> VideoClassificationData:
    """
    Load a video classification dataset (any of the module's formats) as `datasets.Dataset` splits.

    Args:
        dataset: A folder of class sub-folders (with `train/`, `validation/` (or `val/`, `valid/`), `test/`
            sub-folders), or a Hub dataset id / local dataset script. Not needed with annotation files.
        data_format: `"auto"` (a folder → `videofolder`; annotation files → by extension and header; anything
            else → Hub), or one of `"videofolder"`, `"kinetics_csv"`, `"sthv2_json"`, `"list"`, `"hub"`.
        train_file / validation_file / test_file: Annotation files, one per split.
        video_root: Folder the annotation paths are relative to; Kinetics ids and Something-Something ids are
            looked up by file name anywhere below it (any extension in `VIDEO_EXTENSIONS`).
        label_file: Class names in index order (see [`read_label_names`]); default: the label set of the source
            (`videofolder` sub-folder names, the `ClassLabel` of a Hub dataset, or the sorted names found in the
            training annotations).
        label_names: The class names directly (e.g. those of a checkpoint being fine-tuned); wins over `label_file`.
        video_column / label_column: Column names of a Hub dataset (default: its first `Video` / `ClassLabel`).
        dataset_config_name: Configuration of a Hub dataset.
        cache_dir: `datasets` cache folder.
        strict: Raise when an annotation names a video that does not exist, instead of dropping and reporting it.

    Returns:
        A [`VideoClassificationData`].

    Raises:
        `FileNotFoundError` for a missing folder / annotation / label file; `ValueError` for labels outside the
        label set, empty splits, unreadable annotation files.
    """
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format={data_format!r} is not supported; expected one of {list(DATA_FORMATS)}.")
    if label_names is None and label_file is not None:
        label_names = read_label_names(label_file)
    label_names = list(label_names) if label_names is not None else None
    files = {"train": train_file, "validation": validation_file, "test": test_file}
    files = {split: Path(path) for split, path in files.items() if path is not None}

    if data_format == "auto":
        if files:
            data_format = "annotations"
        elif dataset is not None and Path(dataset).is_dir():
            data_format = "videofolder"
        elif dataset is not None and Path(dataset).exists():
            raise ValueError(
                f"dataset={str(dataset)!r} is a file; pass annotation files as train_file=/validation_file=."
            )
        elif dataset is not None:
            data_format = "hub"
        else:
            raise ValueError("No data given: pass a dataset folder, a Hub dataset id, or annotation files.")

    if data_format in ("kinetics_csv", "sthv2_json", "list", "annotations"):
        result = _from_annotation_files(files, data_format, video_root, label_names)
    elif data_format == "videofolder":
        if dataset is None or not Path(dataset).is_dir():
            raise FileNotFoundError(f"videofolder dataset {str(dataset)!r} is not a folder.")
        loaded = load_dataset("videofolder", data_dir=str(dataset), cache_dir=cache_dir)
        result = _from_dataset_dict(loaded, label_names, None, None, f"videofolder {dataset}")
    else:  # hub
        if dataset is None:
            raise ValueError("data_format='hub' needs a dataset id.")
        loaded = load_dataset(str(dataset), dataset_config_name, cache_dir=cache_dir)
        if isinstance(loaded, Dataset):
            loaded = DatasetDict({"train": loaded})
        result = _from_dataset_dict(loaded, label_names, video_column, label_column, f"dataset {dataset}")

    for split, dataset_split in result.splits.items():
        if len(dataset_split) == 0:
            raise ValueError(f"The {split} split is empty (no readable entries).")
    for split, entries_missing in result.missing_videos.items():
        message = (
            f"{len(entries_missing)} {split} annotation entries name videos that do not exist, e.g. "
            f"{entries_missing[:3]}"
        )
        if strict:
            raise FileNotFoundError(message + " (strict: stopping).")
        logger.warning(message + "; they are skipped.")
    return result


def _from_annotation_files(
    files: dict[str, Path], data_format: str, video_root: str | os.PathLike | None, label_names: list[str] | None
) -> VideoClassificationData:
    """The splits of annotation files (`data_format` one reader's name, or `"annotations"`: each file's own)."""
    if not files:
        raise ValueError(f"data_format={data_format!r} needs annotation files (train_file=, validation_file=, ...).")
    for split, path in files.items():
        if not path.is_file():
            raise FileNotFoundError(f"{split} annotation file {str(path)!r} does not exist.")
    entries = {}
    for split, path in files.items():
        kind = detect_annotation_format(path) if data_format == "annotations" else data_format
        entries[split] = _READERS[kind](path)
    root = Path(video_root) if video_root is not None else None
    if root is not None and not root.is_dir():
        raise FileNotFoundError(f"video_root {str(root)!r} is not a folder.")
    if root is None and any(e.by_stem for e in entries.values()):
        raise ValueError("Kinetics CSV / Something-Something JSON annotations name videos by id: pass video_root=.")
    if label_names is None:
        source = entries.get("train") or next(iter(entries.values()))
        label_names = sorted({str(label).strip() for label in source.labels}, key=str)
        if all(name.lstrip("-").isdigit() for name in label_names):
            raise ValueError(
                "The annotations give labels as indices; pass label_file= with the class names in index order."
            )
    needs_index = root is not None and any(
        e.by_stem or any(Path(v).suffix == "" for v in e.videos[:100]) for e in entries.values()
    )
    stem_index = _index_videos_by_stem(root) if needs_index else None
    splits, missing = {}, {}
    for split, split_entries in entries.items():
        splits[split], missing[split] = _dataset_from_entries(split_entries, label_names, root, stem_index)
    return VideoClassificationData(splits, list(label_names), {k: v for k, v in missing.items() if v})


def _from_dataset_dict(
    loaded: DatasetDict,
    label_names: list[str] | None,
    video_column: str | None,
    label_column: str | None,
    where: str,
) -> VideoClassificationData:
    aliases = {"val": "validation", "valid": "validation", "eval": "validation", "dev": "validation"}
    splits: dict[str, Dataset] = {}
    for name, split in loaded.items():
        standard = aliases.get(name, name)
        split, names = _standardise_columns(split, video_column, label_column, label_names, f"{where} [{name}]")
        if label_names is None:
            label_names = names
        elif names != label_names:
            raise ValueError(
                f"{where}: split {name!r} has classes {names[:5]}... but the label set is {label_names[:5]}..."
            )
        splits[standard] = split
    return VideoClassificationData(splits, list(label_names or []))


__all__ = [
    "DATA_FORMATS",
    "SPLIT_NAMES",
    "VIDEO_EXTENSIONS",
    "VideoClassificationData",
    "carve_validation_split",
    "prepare_splits",
    "random_subset",
    "detect_annotation_format",
    "load_video_classification_data",
    "read_label_names",
]


def random_subset(dataset: Dataset, limit: int | None, seed: int) -> Dataset:
    """`limit` rows drawn at random with `seed` (in their original order), or `dataset` itself when `limit` is None
    or not smaller. A random draw, not the first rows: folder datasets are sorted by class."""
    if limit is None or limit >= len(dataset):
        return dataset
    rows = np.random.default_rng(seed).choice(len(dataset), size=limit, replace=False)
    return dataset.select(np.sort(rows))


def carve_validation_split(data: VideoClassificationData, percentage: int, seed: int) -> VideoClassificationData:
    """
    When `data` has a train split but neither a validation nor a test split (a plain `root/<class>/` folder), hold
    out `percentage` % of the training videos as `"validation"`, stratified by class where possible and drawn with
    `seed`; with `percentage` 0, say loudly that no evaluation will run. Other datasets are returned unchanged.
    """
    if "train" not in data.splits or {"validation", "test"} & set(data.splits):
        return data
    if not percentage:
        logger.warning(
            "The dataset has only a train split and validation_split_percentage=0: NO EVALUATION will run "
            "(no accuracy, no eval_results.json, no metrics in the model card)."
        )
        return data
    if not 0 < percentage < 100:
        raise ValueError(f"validation_split_percentage={percentage} is not a percentage in (0, 100).")
    train = data.splits["train"]
    try:
        parts = train.train_test_split(test_size=percentage / 100, seed=seed, stratify_by_column="label")
    except ValueError:  # fewer held-out videos than classes: an unstratified draw
        parts = train.train_test_split(test_size=percentage / 100, seed=seed)
    logger.warning(
        "The dataset has only a train split: %d of its %d videos (validation_split_percentage=%d, seed %d) are held "
        "out as the validation split.",
        len(parts["test"]), len(train), percentage, seed,
    )  # fmt: skip
    splits = {**data.splits, "train": parts["train"], "validation": parts["test"]}
    return dataclasses.replace(data, splits=splits)


def prepare_splits(
    data: VideoClassificationData,
    validation_split_percentage: int,
    max_train_samples: int | None,
    max_eval_samples: int | None,
    seed: int,
) -> VideoClassificationData:
    """[`carve_validation_split`], then the `max_*_samples` [`random_subset`]s (every split but train is an
    evaluation split), all drawn with `seed`."""
    data = carve_validation_split(data, validation_split_percentage, seed)
    splits = {
        name: random_subset(split, max_train_samples if name == "train" else max_eval_samples, seed)
        for name, split in data.splits.items()
    }
    return dataclasses.replace(data, splits=splits)
