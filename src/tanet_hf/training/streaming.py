# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Training data that streams: WebDataset tar shards (written by `tanet-hf shard`) or a 🤗 `datasets` streaming
source (a Hub dataset with a `Video` and a label column), read as a `datasets.IterableDataset` and decoded in
DataLoader workers.

How an epoch is shared out, with no sample seen twice and none lost (beyond the `num_samples % world_size` left
over when the count does not divide):

- order: the source shuffled with `IterableDataset.shuffle(seed, buffer_size)` and `set_epoch(epoch)` (shard order
  and a buffer of examples), the same on every rank and a pure function of `(seed, epoch)`;
- ranks: `datasets.distributed.split_dataset_by_node(..., strategy="examples")`: rank `r` keeps examples
  `r, r + world_size, ...`, and stops after `num_samples // world_size`, so every rank takes the same number of
  steps (DDP needs it);
- DataLoader workers: worker `w` of `W` decodes the rank's batches `w, w + W, ...`, which the DataLoader hands out
  in exactly that round-robin order, so the batches of a rank do not depend on the worker count;
- exact resume: a run stopped after `b` batches of an epoch restarts with [`StreamingClipDataset.set_start_batch`]
  `(b)`: the stream is replayed and the first `b` batches' samples dropped before decoding (their bytes are read,
  not decoded), so the next batch is the next unseen one.

The cost of that exactness: each rank and each worker reads the bytes of the whole stream and keeps its part, so
the bytes read grow with `world_size × workers` (the decoding, which dominates for video, does not).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import ClassLabel, IterableDataset, Video, load_dataset
from datasets.distributed import split_dataset_by_node

from ..video_decoding_tanet import VideoDecodeError
from ..video_processing_tanet import TANetVideoProcessor
from .augmentation import TrainAugmentation
from .datasets import VideoClassificationData, _standardise_columns
from .loading import _init_worker, collate_video_clips, sample_seed

INDEX_FILE = "shards.json"
FORMAT = "tanet-hf-shards"
VERSION = 1
SHUFFLE_BUFFER = 256


@dataclass
class ShardIndex:
    """`shards.json`: the label set and, per split, the shard files (relative to the folder) and sample counts."""

    label_names: list[str]
    splits: dict[str, dict[str, list]] = field(default_factory=dict)

    def save(self, folder: str | os.PathLike) -> Path:
        path = Path(folder) / INDEX_FILE
        document = {"format": FORMAT, "version": VERSION, "label_names": self.label_names, "splits": self.splits}
        path.write_text(json.dumps(document, indent=1) + "\n")
        return path

    @classmethod
    def load(cls, folder: str | os.PathLike) -> ShardIndex:
        path = Path(folder) / INDEX_FILE
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError as error:
            raise FileNotFoundError(f"{folder}: no {INDEX_FILE} (write shards with `tanet-hf shard`).") from error
        if document.get("format") != FORMAT or document.get("version") != VERSION:
            raise ValueError(f"{path}: not a {FORMAT} version {VERSION} index.")
        return cls(list(document["label_names"]), dict(document["splits"]))

    def files(self, folder: str | os.PathLike, split: str) -> list[str]:
        if split not in self.splits:
            raise ValueError(f"{folder}: no {split!r} shards; the index has {sorted(self.splits)}.")
        return [os.path.join(os.fspath(folder), name) for name in self.splits[split]["shards"]]

    def num_samples(self, split: str) -> int:
        return int(sum(self.splits[split]["num_samples"]))


def is_shard_folder(path: str | os.PathLike | None) -> bool:
    """Whether `path` is a folder written by `tanet-hf shard` (it holds `shards.json`)."""
    return path is not None and (Path(path) / INDEX_FILE).is_file()


@dataclass
class StreamingSource:
    """A split that streams: `dataset` yields rows `{"video": {"path", "bytes"}, "label": int}`; `num_samples` is
    its length (known from the shard index or the dataset's info)."""

    dataset: IterableDataset
    label_names: list[str]
    num_samples: int


def _webdataset_columns(dataset, where: str):
    """A `tanet-hf shard` WebDataset split (`<ext>` video, `cls`, `json`, `__key__`, `__url__`; a `Dataset` or an
    `IterableDataset`) as columns `video` (`Video(decode=False)`) / `label`."""
    videos = [name for name, feature in dataset.features.items() if isinstance(feature, Video)]
    if len(videos) != 1 or "cls" not in dataset.features:
        raise ValueError(
            f"{where}: expected one video field and a 'cls' field per sample, got {list(dataset.features)}."
        )
    dataset = dataset.select_columns([videos[0], "cls"]).rename_columns({videos[0]: "video", "cls": "label"})
    return dataset.cast_column("video", Video(decode=False))


def load_streaming_source(
    source: str | os.PathLike,
    split: str = "train",
    *,
    video_column: str | None = None,
    label_column: str | None = None,
    dataset_config_name: str | None = None,
    num_samples: int | None = None,
) -> StreamingSource:
    """
    Open `split` of a shard folder (`tanet-hf shard`) or of a Hub dataset as a stream.

    Raises:
        ValueError: the split is not there; a Hub dataset whose length is not in its info and no `num_samples`.
    """
    if is_shard_folder(source):
        index = ShardIndex.load(source)
        files = index.files(source, split)
        stream = load_dataset("webdataset", data_files={split: files}, split=split, streaming=True).decode(False)
        return StreamingSource(_webdataset_columns(stream, f"{source} [{split}]"), index.label_names,
                               index.num_samples(split))  # fmt: skip
    stream = load_dataset(os.fspath(source), dataset_config_name, split=split, streaming=True).decode(False)
    features = stream.features
    video_column = video_column or next((k for k, f in features.items() if isinstance(f, Video)), None)
    label_column = label_column or next((k for k, f in features.items() if isinstance(f, ClassLabel)), None)
    if video_column is None or label_column is None or not isinstance(features.get(label_column), ClassLabel):
        raise ValueError(
            f"dataset {source} [{split}]: streaming needs a Video column and a ClassLabel column "
            f"(columns: {dict(features)}); pass video_column= / label_column=."
        )
    label_names = list(features[label_column].names)
    stream = stream.select_columns([video_column, label_column]).rename_columns(
        {video_column: "video", label_column: "label"}
    )
    stream = stream.cast_column("video", Video(decode=False))
    info = stream.info.splits.get(split) if stream.info.splits else None
    num_samples = num_samples or (info.num_examples if info is not None else None)
    if not num_samples:
        raise ValueError(f"dataset {source} [{split}]: its length is not recorded; pass num_samples=.")
    return StreamingSource(stream, label_names, int(num_samples))


def load_shard_splits(
    folder: str | os.PathLike,
    splits: list[str],
    cache_dir: str | None = None,
    label_names: list[str] | None = None,
) -> VideoClassificationData:
    """The evaluation splits of a shard folder as (map-style) `datasets.Dataset`s, columns `video` / `label`,
    labelled in the order of `label_names` (default: the shards' own; classes are matched by name)."""
    index = ShardIndex.load(folder)
    loaded = {}
    for split in splits:
        dataset = load_dataset("webdataset", data_files={split: index.files(folder, split)}, split=split,
                               cache_dir=cache_dir)  # fmt: skip
        where = f"{folder} [{split}]"
        loaded[split], _ = _standardise_columns(
            _webdataset_columns(dataset, where).cast_column("label", ClassLabel(names=index.label_names)),
            "video", "label", label_names or index.label_names, where,
        )  # fmt: skip
    return VideoClassificationData(loaded, list(label_names or index.label_names))


def load_streaming_data(
    dataset: str | os.PathLike,
    *,
    video_column: str | None = None,
    label_column: str | None = None,
    dataset_config_name: str | None = None,
    cache_dir: str | None = None,
) -> tuple[StreamingSource, VideoClassificationData]:
    """
    The train split of a shard folder or Hub dataset as a stream, and its other splits (evaluation) as
    `datasets.Dataset`s labelled alike.
    """
    train = load_streaming_source(
        dataset, "train", video_column=video_column, label_column=label_column, dataset_config_name=dataset_config_name
    )
    if is_shard_folder(dataset):
        others = [split for split in ShardIndex.load(dataset).splits if split != "train"]
        return train, load_shard_splits(dataset, others, cache_dir)
    from datasets import get_dataset_split_names

    splits = {}
    for split in get_dataset_split_names(os.fspath(dataset), dataset_config_name):
        if split != "train":
            loaded = load_dataset(os.fspath(dataset), dataset_config_name, split=split, cache_dir=cache_dir)
            splits[split], _ = _standardise_columns(
                loaded, video_column, label_column, train.label_names, f"dataset {dataset} [{split}]"
            )
    return train, VideoClassificationData(splits, train.label_names)


class StreamingClipDataset(torch.utils.data.IterableDataset):
    """
    Training clips from a [`StreamingSource`], shared out over ranks and DataLoader workers as the module says;
    items as [`VideoClipDataset`]'s (`pixel_values` `(T, 3, H, W)`, `labels`, `index` = the sample's position in
    the epoch's shuffled stream, `valid`, `skipped`), batched by [`make_streaming_dataloader`].

    Args:
        source: the stream.
        processor / augmentation / seed: as [`VideoClipDataset`] in `"train"` mode; the augmentation seed of a
            sample is [`sample_seed`]`(seed, epoch, position)`.
        batch_size: videos per batch and rank (workers are given whole batches).
        rank / world_size: this process and the process count (`accelerator.process_index`, `num_processes`).
        shuffle_buffer: examples of `IterableDataset.shuffle`'s buffer (0: the source's order, shards unshuffled).
        strict: raise on an unreadable video instead of standing in the worker's last readable clip for it.

    `len()` is the samples of an epoch over all ranks (`num_samples` rounded down to a multiple of `world_size`),
    as a map-style split's length is.
    """

    def __init__(
        self,
        source: StreamingSource,
        processor: TANetVideoProcessor,
        batch_size: int,
        augmentation: TrainAugmentation | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shuffle_buffer: int = SHUFFLE_BUFFER,
        strict: bool = False,
    ):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank={rank} is not in [0, world_size={world_size}).")
        if source.num_samples < world_size:
            raise ValueError(f"{source.num_samples} samples cannot be shared out over {world_size} processes.")
        self.source = source
        self.processor = processor
        self.batch_size = int(batch_size)
        self.augmentation = augmentation if augmentation is not None else TrainAugmentation()
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self.shuffle_buffer = int(shuffle_buffer)
        self.strict = strict
        self.epoch = 0
        self.start_batch = 0

    def __len__(self) -> int:
        return self.samples_per_rank * self.world_size

    @property
    def samples_per_rank(self) -> int:
        return self.source.num_samples // self.world_size

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (its order and augmentation seeds); starts it at its first batch."""
        self.epoch = int(epoch)
        self.start_batch = 0

    def set_start_batch(self, batch: int) -> None:
        """Resume the current epoch after its first `batch` batches (this rank's), see the module documentation."""
        self.start_batch = int(batch)

    def rank_stream(self) -> Iterator[dict[str, Any]]:
        """This rank's rows of the epoch, in order: `samples_per_rank` rows `{"video", "label"}`."""
        # split first: split_dataset_by_node keeps the examples but not a shuffle's configuration; the shuffle of a
        # split dataset shuffles the whole stream (same seed on every rank), then takes the rank's 1 in world_size
        stream = split_dataset_by_node(self.source.dataset, self.rank, self.world_size, strategy="examples")
        if self.shuffle_buffer:
            stream = stream.shuffle(seed=self.seed, buffer_size=self.shuffle_buffer)
        stream.set_epoch(self.epoch)
        count = 0
        # `.iter` rather than `iter()`: in a DataLoader worker, iter() would split the shards between the workers
        for rows in stream.iter(batch_size=1):
            if count == self.samples_per_rank:
                return
            yield {"video": rows["video"][0], "label": int(rows["label"][0])}
            count += 1

    def _clip(self, row: dict[str, Any], position: int) -> tuple[torch.Tensor, int]:
        """`(pixel_values, label)`; the label changes where a flip swaps the class (see `TrainAugmentation`)."""
        rng = np.random.default_rng(sample_seed(self.seed, self.epoch, position))
        return self.augmentation(row["video"], row["label"], self.processor, rng)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        last_good: dict[str, Any] | None = None
        pending: list[str] = []  # unreadable videos waiting for a stand-in
        for count, row in enumerate(self.rank_stream()):
            batch = count // self.batch_size
            if batch < self.start_batch or (batch - self.start_batch) % workers != worker:
                continue
            position = count * self.world_size + self.rank
            try:
                pixel_values, label = self._clip(row, position)
                item = {"pixel_values": pixel_values, "labels": label, "index": position}
            except VideoDecodeError as error:
                if self.strict:
                    raise
                if last_good is None:
                    pending.append(str(error))
                    continue
                yield {**last_good, "valid": False, "skipped": [str(error)]}
                continue
            last_good = item
            for message in pending:  # unreadable videos before the first readable one: it stands in for them
                yield {**item, "valid": False, "skipped": [message]}
            pending = []
            yield {**item, "valid": True, "skipped": []}
        if pending:
            raise VideoDecodeError(pending[0].split(": ", 1)[0], f"no readable video in this worker's share: {pending}")


def make_streaming_dataloader(
    clips: StreamingClipDataset, num_workers: int = 2, pin_memory: bool = False
) -> torch.utils.data.DataLoader:
    """A DataLoader over [`StreamingClipDataset`] (batches of `clips.batch_size`, single-threaded workers that ignore
    Ctrl-C, [`collate_video_clips`]) with its own generator, so that starting an epoch never draws from the global
    torch RNG (a resumed run would otherwise draw once more than the uninterrupted one and change the dropout masks).
    Already split by rank: hand it to the loop as is, not to `accelerator.prepare`, which would split it again."""
    return torch.utils.data.DataLoader(
        clips,
        batch_size=clips.batch_size,
        num_workers=num_workers,
        collate_fn=collate_video_clips,
        pin_memory=pin_memory,
        worker_init_fn=_init_worker if num_workers > 0 else None,
        generator=torch.Generator().manual_seed(clips.seed),
    )


__all__ = [
    "INDEX_FILE",
    "ShardIndex",
    "StreamingClipDataset",
    "StreamingSource",
    "is_shard_folder",
    "load_shard_splits",
    "load_streaming_data",
    "load_streaming_source",
    "make_streaming_dataloader",
]
