"""The registry is the one home of datasets, protocols, flip maps, recipes, architectures and published checkpoints:
everything is built from it, and no other source file restates its facts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tanet_hf import TANetConfig, registry
from tanet_hf.labels import LABEL_SETS, read_label_set, read_labels
from tanet_hf.training.arguments import DataArguments, ModelArguments, TrainArguments, recipe_from_arguments
from tanet_hf.training.datasets import read_label_names

SRC = Path(__file__).resolve().parents[1] / "src" / "tanet_hf"
INFERENCE_KEYS = {"sampling", "num_test_clips", "test_crop", "test_crop_size", "num_frames", "short_side_size",
                  "crop_size", "image_mean", "image_std"}  # fmt: skip


@pytest.mark.parametrize("name", list(registry.DATASETS))
def test_every_dataset_builds_its_inference_processor(name):
    dataset = registry.dataset(name)
    settings = registry.processor_settings(name, num_frames=4)
    assert set(settings) <= INFERENCE_KEYS  # no training settings (flip, multi-scale) in an inference processor
    processor = registry.video_processor(name, num_frames=4)
    protocol = dataset.protocol
    assert (processor.sampling, processor.num_test_clips) == (protocol.sampling, protocol.num_clips)
    assert processor.test_crop == {1: "center", 3: "three_crop"}[protocol.num_crops] and processor.num_frames == 4
    assert len(read_label_set(dataset.label_set)) == dataset.num_classes
    for a, b in dataset.flip_pairs:  # flip pairs are symmetric in the derived map
        assert dataset.flip_label_map[a] == b and dataset.flip_label_map[b] == a


@pytest.mark.parametrize("name", list(registry.PUBLISHED_CHECKPOINTS))
def test_every_published_checkpoint_builds_its_config_and_processor(name):
    entry = registry.checkpoint(name)
    config = registry.config(name)
    assert isinstance(config, TANetConfig) and (config.num_frames, config.num_labels) == (
        entry.num_frames,
        entry.num_labels,
    )
    assert config.view_fusion == entry.protocol.fusion
    processor = registry.video_processor(name)
    assert processor.image_mean == pytest.approx(list(entry.image_mean)) and processor.num_frames == entry.num_frames
    assert processor.num_test_clips == entry.protocol.num_clips
    with pytest.raises(ValueError, match=f"tied to num_frames={entry.num_frames}"):
        registry.video_processor(name, num_frames=entry.num_frames + 1)
    assert entry in registry.list_checkpoints(dataset=entry.dataset, source=entry.source)
    assert entry.sha256 is None or re.fullmatch("[0-9a-f]{64}", entry.sha256)


def test_lookups_name_what_is_known():
    with pytest.raises(KeyError, match="expected one of"):
        registry.checkpoint("tanet-r50-kinetics600-8f")
    with pytest.raises(KeyError, match="neither a dataset"):
        registry.video_processor("ucf101")
    assert registry.match_published("0" * 64) is None  # unknown digests never match
    assert len(registry.list_checkpoints()) == 9 and len(registry.list_checkpoints(source="mmaction2")) == 3


@pytest.mark.parametrize("name", list(registry.RECIPES))
def test_every_recipe_is_what_training_resolves_and_what_cards_describe(name):
    recipe = registry.recipe(name)
    resolved = recipe_from_arguments(TrainArguments(output_dir="x", recipe=name), ModelArguments(), DataArguments())
    assert resolved == recipe
    text = recipe.describe()
    assert f"{recipe.num_train_epochs:g} epochs" in text and f"dropout {recipe.dropout:g}" in text
    if recipe.lr_scheduler == "step":
        assert "/".join(str(s) for s in recipe.lr_steps) in text


def test_recipe_prose_is_rendered_from_the_fields():
    sthv2 = registry.recipe("sthv2").describe()
    assert "weight decay 5e-4" in sthv2 and "86↔87, 93↔94, 166↔167" in sthv2 and "uniform (TSN) sampling" in sthv2
    assert ", no flip" in registry.recipe("sthv1").describe()
    mm16 = registry.checkpoint("tanet-r50-sthv1-16f-mmaction2").recipe.describe()
    assert "batch 48, lr 0.0075" in mm16 and "2↔4, 30↔41, 52↔66" in mm16


def _facts() -> dict[str, str]:
    """Literal facts only the registry may state: reported accuracies, download addresses, flip pairs."""
    facts = {}
    for entry in registry.PUBLISHED_CHECKPOINTS.values():
        for result in entry.results:
            for value in (result.top1, result.top5):
                facts[rf"(?<![\d.]){re.escape(repr(value))}(?![\d])"] = f"{entry.name}: {value}"
        facts[re.escape(entry.download_url.rsplit("/", 1)[-1])] = f"{entry.name}: download"
    for dataset in registry.DATASETS.values():
        for a, b in dataset.flip_pairs:
            facts[rf"(?<![\d.]){a}(?:: |↔){b}(?!\d)"] = f"{dataset.key}: flip {a}↔{b}"  # dict entry or prose
    return facts


def test_no_source_file_restates_a_registry_fact():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "registry.py":
            continue
        text = path.read_text(encoding="utf-8")
        for pattern, what in _facts().items():
            if re.search(pattern, text):
                offenders.append(f"{path.relative_to(SRC)} restates {what}")
    assert offenders == []


def test_one_label_parser_for_data_loading_and_conversion(tmp_path):
    assert set(LABEL_SETS) == set(registry.DATASETS)
    (tmp_path / "a.json").write_text(json.dumps({"pull": 1, "push": 0}))
    (tmp_path / "b.txt").write_text('"push"\npull\n\n')
    assert read_labels(tmp_path / "a.json") == read_labels(tmp_path / "b.txt") == ["push", "pull"]
    assert read_label_names(tmp_path / "a.json") == ["push", "pull"]
    assert read_labels("sthv1", order="sorted") == sorted(read_label_set("sthv1"))
    (tmp_path / "c.json").write_text(json.dumps({"0": "a", "2": "b"}))
    with pytest.raises(ValueError, match="exactly 0..1"):
        read_labels(tmp_path / "c.json")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_labels(tmp_path / "missing.txt")
