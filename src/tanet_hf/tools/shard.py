"""`tanet-hf shard`: write a video dataset (any source the training loader reads) as WebDataset tar shards with
the labels, for training that streams (`tanet_hf.training.streaming`).

Each sample of a shard is three tar members sharing a key: `<key>.<ext>` (the video file's bytes, untouched, ext as
the file's: `mp4`, `webm`, ...), `<key>.cls` (the class index) and `<key>.json` (`{"label": name, "source": path}`).
The videos are written in an order shuffled with `--seed`, so that every shard mixes the classes. `shards.json` next
to the shards records the label set and, per split, the shard files and their sample counts:

    {"format": "tanet-hf-shards", "version": 1, "label_names": [...],
     "splits": {"train": {"shards": ["train-00000.tar", ...], "num_samples": [64, ...]}}}

    tanet-hf shard --dataset data/videos --output-dir data/shards --videos-per-shard 256
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tarfile
from pathlib import Path

import numpy as np

from ..training.datasets import VideoClassificationData, load_video_classification_data
from ..training.loading import describe_row
from ..training.streaming import ShardIndex

SHARD_NAME = "{split}-{number:05d}.tar"


def _member(archive: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mtime = 0  # shards are reproducible byte for byte
    archive.addfile(info, io.BytesIO(payload))


def _video_bytes(row: dict) -> tuple[bytes, str]:
    """`(bytes, extension)` of a row's video (`{"path", "bytes"}`); extension without the dot, lower case."""
    video = row["video"]
    name = video.get("path") or ""
    extension = os.path.splitext(name)[1].lstrip(".").lower() or "mp4"
    if video.get("bytes") is not None:
        return video["bytes"], extension
    with open(name, "rb") as handle:
        return handle.read(), extension


def write_shards(
    data: VideoClassificationData,
    output_dir: str | os.PathLike,
    splits: list[str] | None = None,
    videos_per_shard: int = 256,
    seed: int = 0,
) -> ShardIndex:
    """
    Write `splits` of `data` (default: all) into `output_dir` as shards of at most `videos_per_shard` videos, the
    split's videos spread evenly over the fewest shards that hold them; returns the [`ShardIndex`] written.

    Raises:
        ValueError: a split is not in `data`; a split's videos have more than one container format (a WebDataset
            sample's fields must be named alike for the readers' column inference).
    """
    if videos_per_shard < 1:
        raise ValueError(f"videos_per_shard must be >= 1, got {videos_per_shard}.")
    splits = splits or list(data.splits)
    for split in splits:
        if split not in data.splits:
            raise ValueError(f"no {split!r} split to shard; the dataset has {sorted(data.splits)}.")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    index = ShardIndex(label_names=list(data.label_names), splits={})
    for split in splits:
        dataset = data.splits[split]
        order = np.random.default_rng(seed).permutation(len(dataset))
        num_shards = -(-len(dataset) // videos_per_shard)
        extensions: dict[str, str] = {}
        names, counts = [], []
        for number, rows in enumerate(np.array_split(order, num_shards)):
            name = SHARD_NAME.format(split=split, number=number)
            with tarfile.open(output_dir / name, "w") as archive:
                for row_index in rows.tolist():
                    row = dataset[row_index]
                    payload, extension = _video_bytes(row)
                    extensions.setdefault(extension, describe_row(row))
                    if len(extensions) > 1:
                        raise ValueError(
                            f"{split}: videos of several formats ({extensions}); a shard's samples need one video "
                            f"field name. Re-encode them to one container first (tanet-hf reencode)."
                        )
                    key = f"{split}{row_index:08d}"
                    label = int(row["label"])
                    _member(archive, f"{key}.{extension}", payload)
                    _member(archive, f"{key}.cls", str(label).encode())
                    meta = {"label": data.label_names[label], "source": describe_row(row)}
                    _member(archive, f"{key}.json", json.dumps(meta).encode())
            names.append(name)
            counts.append(len(rows))
        index.splits[split] = {"shards": names, "num_samples": counts}
    index.save(output_dir)
    return index


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .evaluate import add_dataset_arguments

    add_dataset_arguments(parser)
    parser.add_argument("--output-dir", required=True, help="Folder for the shards and shards.json.")
    parser.add_argument("--splits", nargs="+", help="Splits to write (default: every split of the dataset).")
    parser.add_argument("--videos-per-shard", type=int, default=256, help="Most videos in one shard (default 256).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the order the videos are written in.")


def run(args: argparse.Namespace) -> int:
    from .evaluate import dataset_arguments

    arguments = dataset_arguments(args)
    annotations = arguments.pop("annotations")
    if annotations is not None:
        split = (args.splits or ["train"])[0]
        arguments[f"{split}_file"] = annotations
    data = load_video_classification_data(**arguments)
    index = write_shards(data, args.output_dir, args.splits, args.videos_per_shard, args.seed)
    for split, entry in index.splits.items():
        print(f"{split}: {sum(entry['num_samples'])} videos in {len(entry['shards'])} shards")
    print(f"wrote {Path(args.output_dir) / 'shards.json'}")
    return 0


__all__ = ["write_shards"]
