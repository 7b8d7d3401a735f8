"""`tanet-hf convert`: checkpoints in both published layouts become folders that reproduce the source's logits.

The source networks (tests/source_networks.py) are independent re-statements of the release's and mmaction2's
TANet, with their module structure and hence their exact key names; their TAM is computed frame by frame from
the paper. Weights and BatchNorm statistics are random, so every renamed tensor matters.
"""

from __future__ import annotations

import dataclasses
import json
import pickle

import pytest
import torch
from source_networks import RESNET50, TINY, MMRecognizer, ReleaseTSN, randomize_

from tanet_hf import TANetForVideoClassification, registry
from tanet_hf.cli import main as cli_main
from tanet_hf.conversion.convert import convert_checkpoint, resolve_labels
from tanet_hf.conversion.model_card import sha256_of_file
from tanet_hf.conversion.state_dict import CheckpointError
from tanet_hf.labels import read_label_set

REMOTE_CODE = (
    "configuration_tanet.py",
    "modeling_tanet.py",
    "video_processing_tanet.py",
    "video_decoding_tanet.py",
)
CONFIGS = ("config.json", "video_preprocessor_config.json")
HUB_FILES = CONFIGS + ("model.safetensors", "README.md") + REMOTE_CODE


def _source_network(source: str, frames: int, classes: int, size: dict, seed: int):
    network_class = ReleaseTSN if source == "release" else MMRecognizer
    return randomize_(network_class(frames, classes, **size), seed=seed)


def _save_checkpoint(tmp_path, network, legacy: bool = False):
    if isinstance(network, ReleaseTSN):
        path = tmp_path / "ckpt.best.pth.tar"
        torch.save(network.checkpoint(legacy=legacy), path)
    else:
        path = tmp_path / "tanet_mmaction2.pth"
        torch.save(network.checkpoint(), path)
    return path


def _no_leftovers(tmp_path, name: str = "converted") -> bool:
    return not (tmp_path / name).exists() and not list(tmp_path.glob(f".{name}.*"))


@torch.no_grad()
def _assert_reproduces(
    model: TANetForVideoClassification, network, frames: int, size: int = 32, views: bool = True
) -> None:
    generator = torch.Generator().manual_seed(frames)
    clips = torch.randn(2, frames, 3, size, size, generator=generator)
    torch.testing.assert_close(model(clips).logits, network(clips), rtol=1e-5, atol=1e-5)
    if not views:
        return
    # Multi-view input: the release averages logits over views, mmaction2 averages softmax scores.
    views = torch.randn(1, 3, frames, 3, size, size, generator=generator)
    per_view = torch.stack([network(views[:, v]) for v in range(views.shape[1])], dim=1)
    fused = model(views).logits
    if model.config.view_fusion == "logits":
        torch.testing.assert_close(fused, per_view.mean(dim=1), rtol=1e-5, atol=1e-5)
    else:
        torch.testing.assert_close(fused.exp(), per_view.softmax(dim=-1).mean(dim=1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "source, legacy, frames, classes, labels",
    [
        pytest.param("release", False, 8, 400, "kinetics400", id="release-8f-400"),
        pytest.param("release", True, 16, 174, "sthv2", id="release-self_conv-names-16f-174"),
        pytest.param("release", True, 8, 174, "sthv1", id="release-self_conv-names-8f-sthv1"),
        pytest.param("mmaction2", False, 8, 174, "sthv1", id="mmaction2-8f-174"),
        pytest.param("mmaction2", False, 16, 400, "kinetics400", id="mmaction2-16f-400"),
    ],
)
def test_converted_folder_reproduces_source_logits(tmp_path, source, legacy, frames, classes, labels):
    network = _source_network(source, frames, classes, TINY, seed=frames + classes)
    path = _save_checkpoint(tmp_path, network, legacy)
    folder = convert_checkpoint(path, tmp_path / "converted", labels=labels)

    assert sorted(p.name for p in folder.iterdir()) == sorted(HUB_FILES)
    config = json.loads((folder / "config.json").read_text())
    assert set(config["auto_map"]) == {"AutoConfig", "AutoModel", "AutoModelForVideoClassification"}
    assert (config["num_frames"], len(config["id2label"]), config["depths"]) == (frames, classes, list(TINY["depths"]))
    assert config["view_fusion"] == ("logits" if source == "release" else "softmax")
    names = read_label_set(labels)
    expected_names = sorted(names) if (source, labels) == ("release", "sthv1") else names
    assert [config["id2label"][str(i)] for i in range(classes)] == expected_names

    processor = json.loads((folder / "video_preprocessor_config.json").read_text())
    assert processor["num_frames"] == frames
    assert processor["sampling"] == ("dense" if labels == "kinetics400" else "uniform")
    assert "AutoVideoProcessor" in processor["auto_map"]
    mean = [0.485, 0.456, 0.406] if source == "release" else [123.675 / 255, 116.28 / 255, 103.5 / 255]
    assert processor["image_mean"] == pytest.approx(mean)

    model = TANetForVideoClassification.from_pretrained(folder).eval()
    _assert_reproduces(model, network, frames)
    card = (folder / "README.md").read_text()
    assert "pipeline_tag: video-classification" in card and path.name in card


@pytest.mark.slow
@pytest.mark.parametrize(
    "source, frames, classes, labels, published, parameters",
    [
        ("release", 8, 400, "kinetics400", "tanet-r50-kinetics400-8f", "25,590,320"),
        ("mmaction2", 16, 174, "sthv1", "tanet-r50-sthv1-16f-mmaction2", "25,134,670"),
    ],
)
def test_resnet50_checkpoints_claim_published_accuracy_only_when_they_are_the_published_file(
    tmp_path, monkeypatch, source, frames, classes, labels, published, parameters
):
    """Real ResNet-50 shapes convert to the default architecture; the publisher's results are claimed only for the
    published file: named with `published=` (or matched by the sha256 the registry records), never for look-alikes."""
    network = _source_network(source, frames, classes, RESNET50, seed=7)
    path = _save_checkpoint(tmp_path, network)
    folder = convert_checkpoint(path, tmp_path / "random", labels=labels)

    model = TANetForVideoClassification.from_pretrained(folder).eval()
    assert model.config.hidden_sizes == [256, 512, 1024, 2048] and model.config.depths == [3, 4, 6, 3]
    assert f"{model.num_parameters():,}" == parameters
    _assert_reproduces(model, network, frames, views=False)  # view fusion is covered by the tiny networks
    entry = registry.checkpoint(published)
    card = (folder / "README.md").read_text()
    assert parameters in card and "model-index" not in card and "## Results" not in card
    assert f"{entry.results[0].top1:.2f}" not in card and "Published checkpoint: none" in card

    named = (convert_checkpoint(path, tmp_path / "named", labels=labels, published=published) / "README.md").read_text()
    assert f"tanet-hf/{published}" in named and "model-index" in named and f"{entry.results[0].top1:.2f}" in named
    assert (
        f"Published checkpoint: {published} (named by --published, sha256 not recorded in the registry, so unverified)"
        in named
    )

    digest = sha256_of_file(path)
    monkeypatch.setitem(registry.PUBLISHED_CHECKPOINTS, published, dataclasses.replace(entry, sha256=digest))
    matched = (convert_checkpoint(path, tmp_path / "matched", labels=labels) / "README.md").read_text()
    assert f"Published checkpoint: {published} (sha256 matches the published file)" in matched
    assert "model-index" in matched

    monkeypatch.setitem(registry.PUBLISHED_CHECKPOINTS, published, dataclasses.replace(entry, sha256="0" * 64))
    with pytest.raises(CheckpointError, match=f"sha256 {'0' * 64}; this file's is {digest}"):
        convert_checkpoint(path, tmp_path / "wrong", labels=labels, published=published)
    assert not (tmp_path / "wrong").exists()


def test_random_weights_get_a_card_without_published_accuracy_and_the_cli_says_so(tmp_path, capsys, caplog):
    """A look-alike of a published checkpoint (here: tiny random weights) claims nothing; `--published` on a file
    that does not fit the entry is refused by name."""
    network = _source_network("release", 8, 400, TINY, seed=3)
    path = _save_checkpoint(tmp_path, network)
    with caplog.at_level("INFO", logger="tanet_hf.conversion.convert"):
        assert cli_main(["convert", str(path), str(tmp_path / "out"), "--labels", "kinetics400"]) == 0
    assert "published checkpoint: none (sha256 " in caplog.text and "claims no published accuracy" in caplog.text
    card = (tmp_path / "out" / "README.md").read_text()
    assert "model-index" not in card and "## Results" not in card and "76.10" not in card
    code = cli_main(["convert", str(path), str(tmp_path / "x"), "--published", "tanet-r50-kinetics400-8f"])
    assert code == 2 and "published='tanet-r50-kinetics400-8f' is a release ResNet-50" in capsys.readouterr().err


def test_release_classifier_named_fc_and_files_without_num_batches_tracked(tmp_path):
    """The release puts the classifier at `base_model.fc` (no `new_fc`) when trained with dropout 0; files written
    by PyTorch < 0.4.1 have no BatchNorm `num_batches_tracked` (unused in evaluation, filled with 0)."""
    network = _source_network("release", 8, 400, TINY, seed=3)
    checkpoint = network.checkpoint()
    state = checkpoint["state_dict"]
    state["module.base_model.fc.weight"] = state.pop("module.new_fc.weight")
    state["module.base_model.fc.bias"] = state.pop("module.new_fc.bias")
    for key in [k for k in state if k.endswith("num_batches_tracked")]:
        del state[key]
    path = tmp_path / "ckpt.pth.tar"
    torch.save(checkpoint, path)
    model = TANetForVideoClassification.from_pretrained(convert_checkpoint(path, tmp_path / "converted")).eval()
    _assert_reproduces(model, network, 8)


# ------------------------------------------------------------------------------------------------ bad input


@pytest.fixture
def release_checkpoint():
    return _source_network("release", 8, 400, TINY, seed=11).checkpoint()


def test_missing_key_is_named_and_nothing_is_written(tmp_path, release_checkpoint):
    del release_checkpoint["state_dict"]["module.base_model.layer2.1.tam.L.1.running_var"]
    path = tmp_path / "ckpt.pth.tar"
    torch.save(release_checkpoint, path)
    with pytest.raises(CheckpointError) as error:
        convert_checkpoint(path, tmp_path / "converted")
    assert (
        "missing from the checkpoint (1): module.base_model.layer2.1.tam.L.1.running_var "
        "(→ tanet.encoder.stages.1.layers.1.tam.L.1.running_var)"
    ) in str(error.value)
    assert _no_leftovers(tmp_path)


def test_unexpected_and_misshaped_keys_are_named(tmp_path, release_checkpoint):
    state = release_checkpoint["state_dict"]
    state["module.base_model.layer1.0.net.se.fc.weight"] = torch.zeros(4, 4)
    state["module.new_fc.bias"] = torch.zeros(401)
    state["module.base_model.layer3.0.tam.L.3.weight"] = torch.zeros(16, 4, 3)
    path = tmp_path / "ckpt.pth.tar"
    torch.save(release_checkpoint, path)
    with pytest.raises(CheckpointError) as error:
        convert_checkpoint(path, tmp_path / "converted")
    message = str(error.value)
    assert "unexpected in the checkpoint (1): module.base_model.layer1.0.net.se.fc.weight" in message
    assert "module.new_fc.bias (→ classifier.bias): checkpoint (401,) vs model (400,)" in message
    assert "module.base_model.layer3.0.tam.L.3.weight (→ tanet.encoder.stages.2.layers.0.tam.L.3.weight)" in message
    assert _no_leftovers(tmp_path)


class _Payload:
    """Unpickling this would call `open(marker, "w")`: the converter must refuse before anything runs."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_code_is_refused(tmp_path, release_checkpoint):
    marker = tmp_path / "code-ran"
    release_checkpoint["hook"] = _Payload(marker)
    path = tmp_path / "ckpt.pth.tar"
    torch.save(release_checkpoint, path, pickle_module=pickle)
    with pytest.raises(CheckpointError, match=r"refusing to load .* It references these Python objects: io\.open"):
        convert_checkpoint(path, tmp_path / "converted")
    assert not marker.exists()
    assert _no_leftovers(tmp_path)


def test_not_a_tanet_checkpoint(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"state_dict": {"encoder.weight": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointError, match="not a TANet checkpoint"):
        convert_checkpoint(path, tmp_path / "converted")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        convert_checkpoint(tmp_path / "garbage.pth", tmp_path / "converted")


def test_failure_while_writing_leaves_no_folder_and_keeps_the_old_one(tmp_path, release_checkpoint, monkeypatch):
    path = tmp_path / "ckpt.pth.tar"
    torch.save(release_checkpoint, path)
    from tanet_hf.video_processing_tanet import TANetVideoProcessor

    def fail(self, *args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(TANetVideoProcessor, "save_pretrained", fail)
        with pytest.raises(OSError, match="disk full"):
            convert_checkpoint(path, tmp_path / "converted")
    assert _no_leftovers(tmp_path)

    folder = convert_checkpoint(path, tmp_path / "converted")
    with pytest.raises(FileExistsError):
        convert_checkpoint(path, folder)
    with monkeypatch.context() as patch:
        patch.setattr(TANetVideoProcessor, "save_pretrained", fail)
        with pytest.raises(OSError):
            convert_checkpoint(path, folder, overwrite=True)
    assert (folder / "model.safetensors").is_file() and not list(tmp_path.glob(".converted.*"))


def test_bad_labels_and_frames(tmp_path, release_checkpoint):
    path = tmp_path / "ckpt.pth.tar"
    torch.save(release_checkpoint, path)
    with pytest.raises(ValueError, match="hold 174 class names but the checkpoint's classifier has 400"):
        convert_checkpoint(path, tmp_path / "converted", labels="sthv2")
    with pytest.raises(ValueError, match="neither one of"):
        convert_checkpoint(path, tmp_path / "converted", labels="kinetics-700")
    with pytest.raises(CheckpointError, match="trained for T=8"):
        convert_checkpoint(path, tmp_path / "converted", num_frames=16)
    assert _no_leftovers(tmp_path)


# ------------------------------------------------------------------------------------------------ labels, CLI


def test_label_sets_and_files(tmp_path):
    kinetics, sthv1, sthv2 = (read_label_set(n) for n in ("kinetics400", "sthv1", "sthv2"))
    assert (len(kinetics), len(sthv1), len(sthv2)) == (400, 174, 174)
    assert kinetics[0] == "abseiling" and kinetics[-1] == "zumba"
    # Sth-Sth V2's official order is alphabetical; the release's flip swaps 86↔87, 93↔94, 166↔167.
    assert sthv2 == sorted(sthv2)
    assert sthv2[86:88] == ["Pulling something from left to right", "Pulling something from right to left"]
    assert sthv2[166:168] == [
        "Turning the camera left while filming something",
        "Turning the camera right while filming something",
    ]
    # Sth-Sth V1: mmaction2 keeps the official CSV order, the release sorts the names.
    assert resolve_labels("sthv1", 174, "mmaction2")[:2] == ["Holding something", "Turning something upside down"]
    assert resolve_labels("sthv1", 174, "release") == sorted(sthv1)

    (tmp_path / "labels.txt").write_text("cat\ndog\n\n")
    (tmp_path / "labels.json").write_text(json.dumps({"dog": 1, "cat": 0}))
    assert resolve_labels(tmp_path / "labels.txt", 2, "release") == ["cat", "dog"]
    assert resolve_labels(str(tmp_path / "labels.json"), 2, "mmaction2") == ["cat", "dog"]
    with pytest.raises(ValueError, match="repeats class names"):
        resolve_labels(["a", "a"], 2, "release")


def test_command_line(tmp_path, capsys):
    network = _source_network("mmaction2", 8, 174, TINY, seed=5)
    checkpoint = network.checkpoint()
    checkpoint["state_dict"]["data_preprocessor.mean"] = torch.tensor([123.675, 116.28, 103.5]).view(3, 1, 1)
    path = tmp_path / "tanet_mmaction2.pth"
    torch.save(checkpoint, path)  # mmaction2 files may hold the data preprocessor's buffers: ignored
    out = tmp_path / "converted"
    assert cli_main(["convert", str(path), str(out), "--labels", "sthv1"]) == 0
    assert str(out / "model.safetensors") in capsys.readouterr().out
    card = (out / "README.md").read_text()
    assert "tanet-hf convert tanet_mmaction2.pth converted --labels sthv1" in card
    assert cli_main(["convert", str(path), str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
