"""`tanet-hf export`: ONNX (dynamo exporter) and torch.export programs with a dynamic batch match PyTorch at batch 1
and 3; the legacy exporter and TorchScript are refused with a message naming the supported formats."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from tools_helpers import CROP, save_tiny_model

from tanet_hf import TANetForVideoClassification
from tanet_hf.cli import main


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


def _reference(model_dir, inputs):
    model = TANetForVideoClassification.from_pretrained(model_dir).eval()
    with torch.no_grad():
        return model(pixel_values=inputs).logits.numpy()


def _parity_lines(text):
    return {int(b): float(e) for b, e in re.findall(r"parity at batch (\d+): max relative error (\S+)", text)}


def test_onnx_export_has_a_dynamic_batch_and_matches_pytorch(model_dir, tmp_path, capsys):
    onnxruntime = pytest.importorskip("onnxruntime")
    path = tmp_path / "tiny.onnx"
    assert main(["export", str(model_dir), str(path)]) == 0
    parity = _parity_lines(capsys.readouterr().out)
    assert set(parity) == {1, 3} and max(parity.values()) <= 1e-4
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = torch.randn(5, 4, 3, CROP, CROP)
    (logits,) = session.run(None, {session.get_inputs()[0].name: inputs.numpy()})
    reference = _reference(model_dir, inputs)
    assert np.abs(logits - reference).max() <= 1e-4 * np.abs(reference).max()


def test_torch_export_program_with_views_matches_pytorch(model_dir, tmp_path, capsys):
    path = tmp_path / "tiny.pt2"
    assert main(["export", str(model_dir), str(path), "--format", "torch", "--views", "2"]) == 0
    parity = _parity_lines(capsys.readouterr().out)
    assert set(parity) == {1, 3} and max(parity.values()) <= 1e-4
    loaded = torch.export.load(str(path))
    targets = {str(node.target) for node in loaded.graph.nodes if node.op == "call_function"}
    assert not [t for t in targets if "tanet_hf" in t]  # portable: the fused CPU operators are not recorded
    program = loaded.module()
    inputs = torch.randn(4, 2, 4, 3, CROP, CROP)
    with torch.no_grad():
        exported = program(inputs).numpy()
    np.testing.assert_allclose(exported, _reference(model_dir, inputs), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("fmt", ["onnx-legacy", "torchscript"])
def test_legacy_exporters_are_refused_with_the_supported_path(model_dir, tmp_path, fmt):
    with pytest.raises(
        ValueError, match=r"unordered_map::at.*--format onnx \(torch\.onnx\.export\(\.\.\., dynamo=True\)\)"
    ):
        main(["export", str(model_dir), str(tmp_path / "x.onnx"), "--format", fmt])
    assert not (tmp_path / "x.onnx").exists()
