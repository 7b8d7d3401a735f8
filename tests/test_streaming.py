"""Streaming training data: `tanet-hf shard` writes every video once with its label; ranks and DataLoader workers
share an epoch without duplicates; a resumed epoch continues with the next unseen sample; 2-process DDP trains over
shards with every sample seen once per epoch."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tanet_hf import TANetVideoProcessor
from tanet_hf.cli import main as cli
from tanet_hf.synthetic import SyntheticMotionConfig, generate_synthetic_motion_dataset
from tanet_hf.training.augmentation import TrainAugmentation
from tanet_hf.training.streaming import (
    ShardIndex,
    StreamingClipDataset,
    load_shard_splits,
    load_streaming_source,
    make_streaming_dataloader,
)

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
CLASSES = ["approaching", "receding"]


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> tuple[Path, Path]:
    """`(dataset folder, shard folder)`: 8 + 2 + 2 videos per class, train in 4 shards of 4."""
    root = tmp_path_factory.mktemp("streaming")
    config = SyntheticMotionConfig(size=32, num_video_frames=8, classes=CLASSES)
    data = generate_synthetic_motion_dataset(root / "data", 8, 2, 2, seed=2, config=config)
    assert cli(["shard", "--dataset", str(data), "--output-dir", str(root / "shards"), "--videos-per-shard", "4",
                "--cache-dir", str(root / "cache")]) == 0  # fmt: skip
    return data, root / "shards"


def _clips(shards: Path, rank: int = 0, world_size: int = 1, batch_size: int = 2, **kwargs) -> StreamingClipDataset:
    processor = TANetVideoProcessor(num_frames=4, short_side_size=32, crop_size=32)
    augmentation = TrainAugmentation(scales=(1.0, 0.875), do_flip=True)
    source = load_streaming_source(shards, "train")
    return StreamingClipDataset(source, processor, batch_size, augmentation, 7, rank, world_size, **kwargs)


def test_shard_command_writes_every_video_once_with_its_label(shards):
    data, folder = shards
    index = ShardIndex.load(folder)
    assert index.label_names == CLASSES and index.splits["train"]["num_samples"] == [4, 4, 4, 4]
    sources = {}
    for name in index.splits["train"]["shards"]:
        with tarfile.open(folder / name) as archive:
            members = {m.name: archive.extractfile(m).read() for m in archive.getmembers()}
        keys = {name.split(".")[0] for name in members}
        assert len(members) == 3 * len(keys) == 12  # <key>.mp4, <key>.cls, <key>.json
        for key in keys:
            meta = json.loads(members[f"{key}.json"])
            assert CLASSES[int(members[f"{key}.cls"])] == meta["label"] == Path(meta["source"]).parent.name
            assert members[f"{key}.mp4"] == Path(meta["source"]).read_bytes()
            sources[key] = meta["source"]
    assert sorted(sources.values()) == sorted(str(p) for p in (data / "train").glob("*/*.mp4"))
    validation = load_shard_splits(folder, ["validation"]).splits["validation"]
    assert len(validation) == 4 and validation.features["label"].names == CLASSES


def test_ranks_and_workers_share_an_epoch_without_duplicates(shards):
    _, folder = shards
    everything = _clips(folder)
    orders = []
    for epoch in (0, 1):
        everything.set_epoch(epoch)
        keys = [row["video"]["path"] for row in everything.rank_stream()]
        assert len(keys) == len(set(keys)) == 16
        orders.append(keys)
        positions = []
        for rank in (0, 1):
            clips = _clips(folder, rank, 2)
            clips.set_epoch(epoch)
            assert [row["video"]["path"] for row in clips.rank_stream()] == keys[rank::2]  # the stream's 1 in 2
            batches = list(make_streaming_dataloader(clips, num_workers=2))
            assert len(batches) == 4 and all(batch["valid"].all() for batch in batches)
            positions += [p for batch in batches for p in batch["index"].tolist()]
        assert sorted(positions) == list(range(16))  # every sample once over 2 ranks × 2 workers
    assert orders[0] != orders[1] and sorted(orders[0]) == sorted(orders[1])  # reshuffled each epoch


def test_resume_continues_with_the_next_unseen_sample(shards):
    _, folder = shards
    straight = _clips(folder, 1, 2)
    straight.set_epoch(1)
    full = list(make_streaming_dataloader(straight, num_workers=2))
    resumed = _clips(folder, 1, 2)  # a new process: same seed, told the epoch and how many batches it had done
    resumed.set_epoch(1)
    resumed.set_start_batch(1)
    rest = list(make_streaming_dataloader(resumed, num_workers=2))
    assert len(rest) == len(full) - 1 == 3
    for expected, batch in zip(full[1:], rest):
        assert batch["index"].tolist() == expected["index"].tolist()
        assert torch.equal(batch["pixel_values"], expected["pixel_values"])  # same clip, same augmentation
        assert batch["labels"].tolist() == expected["labels"].tolist()


def test_an_unreadable_video_in_a_shard_is_skipped_and_counted(shards, tmp_path):
    _, folder = shards
    index = ShardIndex.load(folder)
    broken = tmp_path / "shards"
    broken.mkdir()
    index.save(broken)
    for number, name in enumerate(index.splits["train"]["shards"]):
        with tarfile.open(folder / name) as source, tarfile.open(broken / name, "w") as target:
            for member in source.getmembers():
                payload = source.extractfile(member).read()
                if number == 0 and member.name.endswith(".mp4") and not list(target.getmembers()):
                    payload = payload[:200]  # the first video of the first shard: truncated
                member.size = len(payload)
                target.addfile(member, __import__("io").BytesIO(payload))
    clips = _clips(broken, shuffle_buffer=0)
    batches = list(make_streaming_dataloader(clips, num_workers=0))
    assert sum(len(b["skipped"]) for b in batches) == 1 and sum(int((~b["valid"]).sum()) for b in batches) == 1
    assert sum(len(b["index"]) for b in batches) == 16  # the batch keeps its size: a readable clip stands in
    with pytest.raises(ValueError, match="train00"):
        list(make_streaming_dataloader(_clips(broken, shuffle_buffer=0, strict=True), num_workers=0))


def test_two_process_ddp_trains_over_shards_and_sees_every_sample_once_per_epoch(shards, tmp_path):
    from test_training import _arguments, _cli, _env, _free_port

    _, folder = shards
    run = tmp_path / "run"
    args = _arguments(folder, run, num_train_epochs=2, eval_strategy="epoch", do_final_eval=True,
                      per_device_train_batch_size=2, dataloader_num_workers=2)  # fmt: skip
    command = [
        str(VENV_BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
        str(REPO / "tests" / "streaming_rank_script.py"), str(folder), str(tmp_path), *_cli(*args),
    ]  # fmt: skip
    completed = subprocess.run(
        command, cwd=REPO, env=_env() | {"ACCELERATE_USE_CPU": "true"}, capture_output=True, text=True, timeout=900
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    seen = [json.loads((tmp_path / f"seen_rank{rank}.json").read_text()) for rank in (0, 1)]
    for epoch in ("0", "1"):
        positions = seen[0][epoch]["positions"] + seen[1][epoch]["positions"]
        keys = seen[0][epoch]["keys"] + seen[1][epoch]["keys"]
        assert sorted(positions) == list(range(16)) and len(set(keys)) == 16
    assert "2 processes × 2 × 1 accumulation" in completed.stderr
    rank0, rank1 = (load_file(str(run / "rank_weights" / f"rank{i}.safetensors")) for i in (0, 1))
    assert all(torch.equal(rank0[name], rank1[name]) for name in rank0)
    results = json.loads((run / "train_results.json").read_text())
    assert results["global_step"] == 8 and "validation_single_view" in results["metrics"]  # 16 / (2 × 2) × 2 epochs


def test_a_streaming_run_resumes_exactly_in_the_training_loop(shards, tmp_path):
    from accelerate.state import AcceleratorState, GradientState
    from test_training import _arguments, train

    _, folder = shards
    common = dict(dropout=0.5, num_train_epochs=2, per_device_train_batch_size=4, eval_strategy="no",
                  do_final_eval=False)  # fmt: skip
    straight = train(*_arguments(folder, tmp_path / "straight", dataloader_num_workers=2, **common))
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    # stopped mid-epoch after 3 of the 4 steps of an epoch, continued from "latest" (with another worker count)
    first = train(*_arguments(folder, tmp_path / "resumed", stop_after_steps=3, **common))
    assert first.status == "stopped" and first.global_step == 3
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    second = train(*_arguments(folder, tmp_path / "resumed", resume_from_checkpoint="latest", **common))
    assert second.status == "finished" and second.global_step == straight.global_step == 8
    a, b = straight.model.state_dict(), second.model.state_dict()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    losses = lambda r: [e["train/loss"] for e in r.log_history if "train/loss" in e]  # noqa: E731
    assert losses(second) == losses(straight)


def test_evaluate_reads_a_shard_folder_as_the_folder_it_came_from(shards, tmp_path):
    import numpy as np
    from accelerate.state import AcceleratorState, GradientState
    from tools_helpers import save_tiny_model

    from tanet_hf.tools.evaluate import evaluate_dataset

    data, folder = shards
    model = save_tiny_model(tmp_path / "model", labels=CLASSES[::-1])  # another class order: matched by name
    cache = str(tmp_path / "cache")
    direct = evaluate_dataset(model, {"dataset": str(data), "cache_dir": cache}, "validation", "single", 4)
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    sharded = evaluate_dataset(model, {"dataset": str(folder), "cache_dir": cache}, "validation", "single", 4)
    assert direct.metrics == sharded.metrics and direct.confusion_matrix == sharded.confusion_matrix
    rows = lambda scores: np.sort(scores.scores.round(5), axis=0)  # noqa: E731  (ids differ: paths vs shard keys)
    np.testing.assert_array_equal(rows(direct.scores), rows(sharded.scores))
    assert sorted(direct.scores.targets) == sorted(sharded.scores.targets) and len(sharded.scores.video_ids) == 4


def test_a_datasets_streaming_source_is_read_like_shards(shards, tmp_path):
    from datasets import ClassLabel, Dataset, Features, Video

    data, _ = shards
    videos = sorted((data / "train").glob("*/*.mp4"))
    features = Features({"clip": Video(decode=False), "action": ClassLabel(names=CLASSES)})
    rows = {"clip": [{"path": v.name, "bytes": v.read_bytes()} for v in videos],
            "action": [CLASSES.index(v.parent.name) for v in videos]}  # fmt: skip
    (tmp_path / "hub" / "data").mkdir(parents=True)
    Dataset.from_dict(rows, features=features).to_parquet(tmp_path / "hub" / "data" / "train.parquet")
    with pytest.raises(ValueError, match="its length is not recorded; pass num_samples="):
        load_streaming_source(tmp_path / "hub", "train")
    source = load_streaming_source(tmp_path / "hub", "train", num_samples=16)
    assert source.label_names == CLASSES
    processor = TANetVideoProcessor(num_frames=4, short_side_size=32, crop_size=32)
    positions, labels = [], {}
    for rank in (0, 1):
        clips = StreamingClipDataset(source, processor, 4, seed=3, rank=rank, world_size=2)
        for row in clips.rank_stream():
            labels[row["video"]["path"]] = row["label"]
        positions += [p for batch in make_streaming_dataloader(clips, num_workers=0) for p in batch["index"].tolist()]
    assert sorted(positions) == list(range(16))
    assert labels == {v.name: CLASSES.index(v.parent.name) for v in videos}
