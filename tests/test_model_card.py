"""Model cards: one generator for `model_cards/` and the converter, valid Hub metadata, measured numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from tanet_hf.cli import main as cli_main
from tanet_hf.conversion.model_card import build_model_card, write_model_cards
from tanet_hf.registry import PUBLISHED_CHECKPOINTS
from tanet_hf.registry import config as published_config

MODEL_CARDS = Path(__file__).resolve().parents[1] / "model_cards"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cards")
    assert cli_main(["model-cards", "--output-dir", str(folder)]) == 0
    return folder


def test_committed_cards_are_the_generated_ones(generated):
    """`model_cards/` holds exactly what `tanet-hf model-cards` writes (one source of truth)."""
    names = sorted(p.name for p in generated.glob("*.md"))
    assert names == sorted(f"{name}.md" for name in PUBLISHED_CHECKPOINTS) and len(names) == 9
    assert sorted(p.name for p in MODEL_CARDS.glob("*.md")) == names
    for name in names:
        assert (MODEL_CARDS / name).read_text() == (generated / name).read_text(), f"model_cards/{name} is stale"


@pytest.mark.parametrize("name", list(PUBLISHED_CHECKPOINTS))
def test_card_metadata_and_results(generated, name):
    checkpoint = PUBLISHED_CHECKPOINTS[name]
    card = ModelCard.load(generated / f"{name}.md")
    data = card.data
    assert data.pipeline_tag == "video-classification" and data.license == "apache-2.0"
    assert data.library_name == "transformers" and data.datasets == [checkpoint.dataset_info.hub_id]
    assert data.model_name == f"tanet-hf/{name}"

    results = data.eval_results  # parsed back from the rendered `model-index`
    assert len(results) == 2 * len(checkpoint.results)
    for reported, (top1, top5) in zip(checkpoint.results, zip(results[::2], results[1::2])):
        assert (top1.metric_type, top1.metric_value) == ("accuracy", reported.top1)
        assert (top5.metric_type, top5.metric_value) == ("top_5_accuracy", reported.top5)
        protocol = reported.protocol.describe(checkpoint.num_frames)
        assert top1.metric_config == protocol and top1.dataset_split == "validation"
        assert f"{checkpoint.num_frames} frames × {reported.protocol.num_clips} clip" in protocol

    text = card.text
    assert f'pipeline("video-classification", model="tanet-hf/{name}", trust_remote_code=True)' in text
    assert f'AutoModelForVideoClassification.from_pretrained("tanet-hf/{name}", trust_remote_code=True)' in text
    assert checkpoint.download_url in text and "@inproceedings{liu2021tam" in text


def test_measured_numbers_match_the_release():
    """Parameters and GMACs in the cards come from the library and agree with the paper (TANet-R50, 8 frames:
    25.59M parameters, its Table 2; 33G at 224², its Table 4)."""
    cards = {name: (MODEL_CARDS / f"{name}.md").read_text() for name in PUBLISHED_CHECKPOINTS}
    k400 = cards["tanet-r50-kinetics400-8f"]
    assert "| parameters (measured) | 25,590,320 |" in k400
    assert "| GMACs per view, 8 × 224² (measured) | 32.76 |" in k400
    assert "| GMACs per view, 8 × 256² (measured) | 42.78 |" in k400
    assert "| 30 | 1283.50 |" in k400  # 10 clips × 3 crops of 256²
    assert "| parameters (measured) | 25,597,744 |" in cards["tanet-r50-kinetics400-16f"]
    assert "| GMACs per view, 16 × 224² (measured) | 65.52 |" in cards["tanet-r50-kinetics400-16f"]
    assert "| parameters (measured) | 25,127,246 |" in cards["tanet-r50-sthv2-8f"]
    assert "mean [0.485, 0.456, 0.405882]" in cards["tanet-r50-sthv1-8f-mmaction2"]  # mmaction2's 103.5 / 255


def test_card_for_an_unpublished_configuration():
    from tanet_hf import TANetConfig

    config = TANetConfig(
        hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], embedding_size=8, num_frames=4, num_labels=7
    )
    card = build_model_card(config, "me/my-tanet", dataset="sthv2")
    assert card.data.eval_results is None and card.data.datasets == ["something-something-v2"]
    assert "ResNet(depths=[1, 1, 1, 1], widths=[16, 32, 64, 128])" in card.text
    assert "## Results" not in card.text  # nothing is claimed for weights nobody reported on
    reference = build_model_card(published_config("tanet-r50-sthv2-8f"), "me/x")
    assert "TANet-R50" in reference.text


def test_write_model_cards_namespace(tmp_path):
    paths = write_model_cards(tmp_path, namespace="someone")
    assert len(paths) == 9
    assert 'model="someone/tanet-r50-sthv2-16f"' in (tmp_path / "tanet-r50-sthv2-16f.md").read_text()


def test_card_of_a_trained_folder_has_measured_model_index_and_recipe_prose():
    """The training loop writes its card with the same writer: measured accuracy in `model-index`, recipe from the registry."""
    from tanet_hf import TANetConfig
    from tanet_hf.registry import RECIPES

    config = TANetConfig(
        hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], embedding_size=8, num_frames=4, num_labels=3
    )
    metrics = {"test": {"top1": 0.5, "top5": 1.0, "mean_class_accuracy": 0.4, "num_samples": 6, "protocol": "2 clips"}}
    card = build_model_card(config, "me/trained", evaluation=metrics, training=RECIPES["synthetic"].describe())
    top1, top5 = card.data.eval_results
    assert (top1.metric_type, top1.metric_value, top1.dataset_split) == ("accuracy", 50.0, "test")
    assert (top5.metric_type, top5.metric_value, top1.metric_config) == ("top_5_accuracy", 100.0, "2 clips")
    assert "| test | 2 clips | 50.00 | 100.00 | 40.00 | 6 |" in card.text
    assert "4 epochs, AdamW" in card.text and "cosine schedule" in card.text
