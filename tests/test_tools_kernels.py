"""TAM's kernels out of the model: Θ / V per stage, shared TConv / I3D kernels, and `tanet-hf visualize-kernels`."""

from __future__ import annotations

import typing

import numpy as np
import pytest
import torch
from conftest import tiny_config_kwargs
from PIL import Image
from tools_helpers import save_tiny_model, write_frames

from tanet_hf import TANetConfig, TANetForVideoClassification
from tanet_hf.tools.visualize_kernels import (
    StageKernels,
    plot_kernels,
    shared_temporal_kernels,
    tam_stages,
    tam_weights,
)

VARIANTS_LANDED = "pool" in typing.get_args(TANetConfig.__annotations__["temporal_module"])
needs_variants = pytest.mark.skipif(
    not VARIANTS_LANDED, reason="needs the temporal-module variants and output_tam_weights (issue 14, model half)"
)


def test_every_tam_is_assigned_to_its_stage():
    config = TANetConfig(**tiny_config_kwargs(depths=[1, 2, 3, 1], tam_stages=["stage2", "stage3"]))
    assert tam_stages(config) == ["stage2", "stage2", "stage3", "stage3", "stage3"]
    assert tam_stages(TANetConfig(**tiny_config_kwargs())) == ["stage1", "stage2", "stage3", "stage4"]


def test_shared_kernels_are_the_time_only_convolutions_outside_tam():
    torch.manual_seed(0)
    tanet = TANetForVideoClassification(TANetConfig(**tiny_config_kwargs()))
    assert shared_temporal_kernels(tanet) == {}  # TAM's local Conv1d(k=3) is not a shared kernel of the block
    c2d = TANetForVideoClassification(TANetConfig(**tiny_config_kwargs(temporal_module="none")))
    inflated = torch.nn.Conv3d(128, 32, kernel_size=(3, 1, 1))
    c2d.tanet.encoder.stages[3].layers[-1].temporal = inflated  # as an I3D block would hold it
    c2d.tanet.encoder.stages[3].layers[-1].spatial = torch.nn.Conv3d(8, 8, kernel_size=(1, 3, 3))  # not temporal
    found = shared_temporal_kernels(c2d)
    assert list(found) == ["stage4"] and found["stage4"].shape == (128 * 32, 3)
    np.testing.assert_array_equal(found["stage4"], inflated.weight.detach().reshape(-1, 3).numpy())


def test_plot_has_one_row_per_stage_and_a_column_for_the_comparison(tmp_path):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 16, 3))
    kernel = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    stages = [StageKernels(s, kernel, rng.uniform(size=(5, 16, 4))) for s in ("stage3", "stage4")]
    plain = Image.open(plot_kernels(stages, tmp_path / "plain.png")).size
    compared = Image.open(plot_kernels(stages, tmp_path / "cmp.png", {"stage4": rng.normal(size=(64, 3))}, "i3d")).size
    one_stage = Image.open(plot_kernels(stages[:1], tmp_path / "one.png")).size
    assert compared[0] > plain[0] and compared[1] == plain[1]  # a third column
    assert one_stage[1] < plain[1]  # one row fewer


def test_a_model_without_tam_returns_no_kernels_and_says_so():
    c2d = TANetForVideoClassification(TANetConfig(**tiny_config_kwargs(temporal_module="none"))).eval()
    with pytest.raises(ValueError, match="returned no TAM weights"):
        tam_weights(c2d, torch.randn(1, 4, 3, 32, 32))


@needs_variants
def test_theta_rows_sum_to_one_and_v_lies_in_the_unit_interval():
    torch.manual_seed(0)
    model = TANetForVideoClassification(TANetConfig(**tiny_config_kwargs())).eval()
    stages = tam_weights(model, torch.randn(3, 4, 3, 32, 32))
    assert [s.stage for s in stages] == ["stage1", "stage2", "stage3", "stage4"]
    for stage, width in zip(stages, [4, 8, 16, 32]):  # TAM sits after conv1: a quarter of the stage's width
        assert stage.kernel.shape == (3, width, 3) and stage.importance.shape == (3, width, 4)
        np.testing.assert_allclose(stage.kernel.sum(-1), 1.0, atol=1e-5)
        assert (stage.importance > 0).all() and (stage.importance < 1).all()


@needs_variants
def test_cli_plots_theta_v_and_the_i3d_kernels(tmp_path):
    from tanet_hf.cli import main

    tanet = save_tiny_model(tmp_path / "tanet")
    i3d = tmp_path / "i3d"
    save_tiny_model(i3d)
    config = TANetConfig.from_pretrained(i3d)
    config.temporal_module = "i3d"
    TANetForVideoClassification(config).save_pretrained(i3d)
    rng = np.random.default_rng(0)
    videos = [str(write_frames(tmp_path / f"v{i}.mp4", rng.integers(0, 255, (8, 48, 64, 3), np.uint8))) for i in (0, 1)]
    out = tmp_path / "kernels.png"
    assert main(["visualize-kernels", str(tanet), *videos, "--output", str(out), "--compare", str(i3d)]) == 0
    assert Image.open(out).size[0] > 0
    with pytest.raises(ValueError, match="no shared temporal kernels"):
        main(["visualize-kernels", str(tanet), *videos, "--output", str(out), "--compare", str(tanet)])


@needs_variants
@pytest.mark.parametrize("module", ["tconv", "tim", "i3d"])
def test_every_shared_kernel_variant_gives_its_kernels(module):
    torch.manual_seed(0)
    model = TANetForVideoClassification(TANetConfig(**tiny_config_kwargs(temporal_module=module)))
    found = shared_temporal_kernels(model)
    assert list(found) == ["stage1", "stage2", "stage3", "stage4"]
    width = 32  # stage4's bottleneck width: 128 / 4
    taps = {"tconv": width * width, "tim": width, "i3d": width * 64}[module]  # i3d: conv1 is 64 → 32, 1×1
    assert found["stage4"].shape == (taps, 3)
