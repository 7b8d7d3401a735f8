# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""The torch side of the training data: [`VideoClipDataset`] decodes, samples and augments a
`tanet_hf.training.datasets` split inside DataLoader workers (training clips through
[`TrainAugmentation`], evaluation and test clips through the [`TANetVideoProcessor`]); training draws from a
per-sample seed derived from `(seed, epoch, index)`, so the clip drawn for a sample does not depend on worker count,
batch order or resumption. Unreadable videos are skipped (replaced by the next readable sample), counted and
reported, or raise with `strict=True`. [`make_video_dataloader`] adds the epoch-seeded sampler and the collate.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from datasets import Dataset, Video

from ..video_decoding_tanet import VideoDecodeError
from ..video_processing_tanet import TANetVideoProcessor
from .augmentation import TrainAugmentation


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of sample `index` in `epoch`: a 32-bit hash of `(seed, epoch, index)`."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


class VideoClipDataset(torch.utils.data.Dataset):
    """
    Clips from a [`load_video_classification_data`] split, decoded and transformed where `__getitem__` runs (in
    DataLoader workers).

    Args:
        dataset: rows with `video` (`{"path", "bytes"}`) and `label`.
        processor: the [`TANetVideoProcessor`] the model is saved with: its sampling, sizes, normalisation and
            decoder serve every mode; its `"eval"` / `"test"` views serve those modes.
        mode: `"train"` (`augmentation`, seeded per sample), `"eval"` (one centred clip) or `"test"` (the
            processor's multi-view protocol).
        augmentation: the training transform of `"train"` mode (random offsets, multi-scale crop, flip with the
            label swap); default `TrainAugmentation()`, the release's crop scales and flip without a label map.
        seed: base seed of the per-sample augmentation seeds, see [`sample_seed`].
        strict: raise [`VideoDecodeError`] on an unreadable video instead of skipping it.
        max_replacements: how many following samples to try in place of an unreadable one.

    Each item is a dict: `pixel_values` `(T, 3, H, W)` (or `(V, T, 3, H, W)` in `"test"` mode), `labels` (int),
    `index` (the row asked for, so that gathered results can be told apart), `valid` (False when the video was
    unreadable and another sample stands in for it) and `skipped` (the `"<path>: <reason>"` of unreadable videos
    met on the way).
    """

    def __init__(
        self,
        dataset: Dataset,
        processor: TANetVideoProcessor,
        mode: str = "train",
        seed: int = 0,
        strict: bool = False,
        max_replacements: int = 16,
        augmentation: TrainAugmentation | None = None,
    ):
        if mode not in ("train", "eval", "test"):
            raise ValueError(f"mode={mode!r} is not supported; expected 'train', 'eval' or 'test'.")
        if len(dataset) == 0:
            raise ValueError("VideoClipDataset got an empty dataset.")
        if isinstance(dataset.features.get("video"), Video) and dataset.features["video"].decode:
            dataset = dataset.cast_column("video", Video(decode=False))  # never hand decoders to workers
        self.dataset = dataset
        self.processor = processor
        self.mode = mode
        self.augmentation = augmentation if augmentation is not None else TrainAugmentation()
        self.seed = seed
        self.strict = strict
        self.max_replacements = max_replacements
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose augmentation seeds `__getitem__` uses."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def _load(self, index: int) -> tuple[torch.Tensor, int]:
        row = self.dataset[index]
        if self.mode == "train":
            rng = np.random.default_rng(sample_seed(self.seed, self.epoch, index))
            return self.augmentation(row["video"], int(row["label"]), self.processor, rng)
        out = self.processor(row["video"], mode=self.mode, return_tensors="pt")
        return out["pixel_values"][0], int(row["label"])

    def __getitem__(self, index: int) -> dict[str, Any]:
        skipped: list[str] = []
        for attempt in range(self.max_replacements + 1):
            candidate = (index + attempt) % len(self.dataset)
            try:
                pixel_values, label = self._load(candidate)
            except VideoDecodeError as error:
                if self.strict:
                    raise
                skipped.append(str(error))
                continue
            return {
                "pixel_values": pixel_values,
                "labels": label,
                "index": index,
                "valid": attempt == 0,
                "skipped": skipped,
            }
        raise VideoDecodeError(
            describe_row(self.dataset[index]),
            f"it and the {self.max_replacements} following videos are all unreadable: {skipped[:3]}",
        )


def describe_row(row: dict[str, Any]) -> str:
    video = row.get("video")
    if isinstance(video, dict) and video.get("path"):
        return str(video["path"])
    return "<video in memory>"


def collate_video_clips(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """
    Stack [`VideoClipDataset`] items: `pixel_values` `(B, T, 3, H, W)` (or `(B, V, T, 3, H, W)`), `labels`
    `(B,)` int64, `index` `(B,)` int64 (the rows), `valid` `(B,)` bool, and `skipped` (a flat list of the unreadable
    videos' messages).
    """
    return {
        "pixel_values": torch.stack([s["pixel_values"] for s in samples]),
        "labels": torch.tensor([s["labels"] for s in samples], dtype=torch.long),
        "index": torch.tensor([s["index"] for s in samples], dtype=torch.long),
        "valid": torch.tensor([s["valid"] for s in samples], dtype=torch.bool),
        "skipped": [message for s in samples for message in s["skipped"]],
    }


class EpochShuffleSampler(torch.utils.data.Sampler[int]):
    """
    Indices `0 … n-1`, shuffled with a generator seeded by `seed + epoch` (or in order when `shuffle=False`).
    The order of an epoch is a pure function of `(seed, epoch)`, which is what exact resumption needs.
    """

    def __init__(self, num_samples: int, seed: int = 0, shuffle: bool = True):
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.num_samples))
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.num_samples, generator=generator).tolist())


def _init_worker(worker_id: int) -> None:
    """
    DataLoader workers use one intra-op thread each (the processes already run in parallel) and leave the job's
    process group: Ctrl-C and a scheduler's SIGTERM go to the whole group, and the training loop decides (it saves a
    resumable checkpoint, then ends the workers itself). A process group of their own rather than ignoring SIGTERM:
    the DataLoader and Python's exit still end workers with SIGTERM, and a worker that ignored it would hang the exit.
    (A worker whose main process died exits by itself: PyTorch's workers watch their parent.)
    """
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "setpgid"):
        os.setpgid(0, 0)


class DataLoaderWorkerError(RuntimeError):
    """A DataLoader worker died (the out-of-memory killer, a signal, a crash in native code); training stopped."""


def is_worker_failure(error: BaseException) -> bool:
    """
    Whether `error` reports a dead DataLoader worker: PyTorch's `RuntimeError("DataLoader worker (pid(s) …) exited
    unexpectedly")` from the loader, or `"DataLoader worker (pid …) is killed by signal: …"` raised by its SIGCHLD
    handler wherever the main process happens to be; or a connection error (`ConnectionResetError`, `EOFError`)
    raised inside `torch.utils.data` while receiving a batch whose shared memory belonged to the dead worker.
    """
    if isinstance(error, RuntimeError) and str(error).startswith("DataLoader worker (pid"):
        return True
    if isinstance(error, (ConnectionError, EOFError)):
        files = (frame.f_code.co_filename.replace(os.sep, "/") for frame, _ in traceback.walk_tb(error.__traceback__))
        return any("/torch/utils/data/" in name for name in files)
    return False


@contextlib.contextmanager
def on_worker_failure(handle: Callable[[Exception], BaseException]) -> Iterator[None]:
    """Around a training loop: a dead DataLoader worker ([`is_worker_failure`]) raises what `handle(error)` returns
    (after saving what can be saved), chained to PyTorch's error; other errors pass unchanged."""
    try:
        yield
    except (RuntimeError, ConnectionError, EOFError) as error:
        with worker_exits_ignored():  # first: PyTorch's SIGCHLD handler would raise again inside this block
            if not is_worker_failure(error):
                raise
            replacement = handle(error)
        raise replacement from error


@contextlib.contextmanager
def worker_exits_ignored() -> Iterator[None]:
    """
    While stepping the optimizer or handling a worker failure: SIGCHLD takes its default action (discarded), so that
    PyTorch's handler cannot raise a worker's death in the middle of it; the loader still finds a dead worker itself
    (it checks its workers while waiting for a batch). Only in the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGCHLD, previous)


def make_video_dataloader(
    clips: VideoClipDataset,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    num_workers: int = 2,
    drop_last: bool = False,
    pin_memory: bool = False,
) -> torch.utils.data.DataLoader:
    """
    A DataLoader over [`VideoClipDataset`] with an [`EpochShuffleSampler`] and its own generator (so that
    iterating never consumes the global torch RNG), single-threaded workers outside the job's process group, and [`collate_video_clips`].
    """
    return torch.utils.data.DataLoader(
        clips,
        batch_size=batch_size,
        sampler=EpochShuffleSampler(len(clips), seed=seed, shuffle=shuffle),
        num_workers=num_workers,
        collate_fn=collate_video_clips,
        drop_last=drop_last,
        pin_memory=pin_memory,
        worker_init_fn=_init_worker if num_workers > 0 else None,
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=False,
    )


__all__ = [
    "DataLoaderWorkerError",
    "EpochShuffleSampler",
    "VideoClipDataset",
    "collate_video_clips",
    "is_worker_failure",
    "make_video_dataloader",
    "on_worker_failure",
    "sample_seed",
    "worker_exits_ignored",
]
