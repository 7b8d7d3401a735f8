"""TAM's training memory: TANet keeps C2D's activations for backward, with the same gradients."""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_config_kwargs
from torch import nn

from tanet_hf import TANetConfig, TANetForVideoClassification
from tanet_hf import modeling_tanet as modeling
from tanet_hf.kernels import install, ops, uninstall

BENCH_MODEL = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_model.py"


@pytest.fixture(scope="module")
def saved_activation_bytes():
    """The benchmark's own measurement (one home): distinct saved storages, weights excluded."""
    spec = importlib.util.spec_from_file_location("bench_model", BENCH_MODEL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module.saved_activation_bytes
    sys.modules.pop("bench_model", None)


@pytest.fixture(params=["fused", "pytorch"])
def backend(request):
    """Both TAM paths: the fused CPU operators (installed by `import tanet_hf`) and the model file's PyTorch."""
    if request.param == "pytorch":
        uninstall()
    yield request.param
    install()


@pytest.fixture
def rebuilds(monkeypatch):
    """Counts the TAM outputs rebuilt in backward (so a test cannot pass without the recipe path)."""
    counter = {"calls": 0}
    original = modeling.AggregationRecipe.__call__

    def counting(self):
        counter["calls"] += 1
        return original(self)

    monkeypatch.setattr(modeling.AggregationRecipe, "__call__", counting)
    return counter


def build(dtype=torch.float32, **overrides) -> TANetForVideoClassification:
    torch.manual_seed(0)
    config = TANetConfig(**tiny_config_kwargs(**overrides))
    return TANetForVideoClassification(config).to(dtype).train()


def clip(dtype=torch.float32, batch=2, size=32) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(batch, 4, 3, size, size, generator=generator, dtype=dtype), torch.tensor([1, 3][:batch])


def test_tanet_keeps_at_most_two_percent_more_activations_than_c2d(saved_activation_bytes, backend, rebuilds):
    pixel_values, labels = clip(size=64)
    saved = {}
    for name, overrides in {"tanet": {}, "c2d": {"temporal_module": "none"}}.items():
        model = build(hidden_sizes=[64, 128, 256, 512], embedding_size=16, **overrides)
        saved[name], _ = saved_activation_bytes(model, lambda model=model: model(pixel_values, labels=labels).loss)
    assert saved["tanet"] <= 1.02 * saved["c2d"], saved
    assert rebuilds["calls"] == 4  # one TAM per tiny stage, each output rebuilt once in backward
    if backend == "fused":
        assert ops.KERNEL_CALLS["aggregate"] > 0


def test_rebuilding_the_tam_output_leaves_gradients_and_statistics_bitwise_unchanged(backend, rebuilds, monkeypatch):
    """Float64: the step with the recipe equals the step that saves TAM's output, bit for bit, and the release's
    formulation to rounding."""
    pixel_values, labels = clip(torch.float64)
    models = {"recipe": build(torch.float64)}
    models["saved"] = copy.deepcopy(models["recipe"])
    models["reference"] = copy.deepcopy(models["recipe"])
    for module in models["reference"].modules():
        if isinstance(module, modeling.TANetTemporalAdaptiveModule):
            module.implementation = "reference"
    for name, model in models.items():
        with contextlib.ExitStack() as stack:
            if name == "saved":
                stack.enter_context(monkeypatch.context())
                monkeypatch.setattr(modeling, "saved_as_recipe", lambda tensor: contextlib.nullcontext())
            torch.manual_seed(2)  # the same dropout mask
            model(pixel_values, labels=labels).loss.backward()
    assert rebuilds["calls"] == 4
    recipe, saved, reference = (dict(models[n].named_parameters()) for n in ("recipe", "saved", "reference"))
    for name, parameter in recipe.items():
        assert torch.equal(parameter.grad, saved[name].grad), name
        torch.testing.assert_close(parameter.grad, reference[name].grad, rtol=1e-9, atol=1e-12, msg=name)
    buffers = dict(models["saved"].named_buffers())
    for name, buffer in models["recipe"].named_buffers():
        assert torch.equal(buffer, buffers[name]), name


@pytest.mark.parametrize("channels_last", [False, True])
def test_the_convolution_after_tam_keeps_its_recipe_not_its_output(backend, rebuilds, channels_last):
    unit = modeling.TANetRectifiedTAM(TANetConfig(**tiny_config_kwargs()), 16).double().train()
    conv = nn.Conv2d(16, 8, 3, padding=1, bias=False).double()
    source = torch.randn(2 * 4, 16, 10, 10, dtype=torch.float64)
    if channels_last:
        source = source.contiguous(memory_format=torch.channels_last)

    def step(recipe: bool) -> tuple[torch.Tensor, bool]:
        pre_activation = source.clone().requires_grad_()
        out = unit(pre_activation * 1.0)  # a fresh tensor, as a BatchNorm output: the unit may write over it
        kept: set[int] = set()

        def pack(tensor):
            kept.add(tensor.untyped_storage().data_ptr())
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            with modeling.saved_as_recipe(out) if recipe else contextlib.nullcontext():
                result = conv(out)
        assert out.is_contiguous(memory_format=torch.channels_last) == channels_last
        result.square().sum().backward()
        return pre_activation.grad, out.untyped_storage().data_ptr() in kept

    grad_with_recipe, output_kept_with_recipe = step(recipe=True)
    grad_saved, output_kept = step(recipe=False)
    assert output_kept and not output_kept_with_recipe
    assert rebuilds["calls"] == 1
    assert torch.equal(grad_with_recipe, grad_saved)


def test_changing_tam_input_in_place_after_the_forward_is_refused(rebuilds):
    tam = modeling.TANetTemporalAdaptiveModule(TANetConfig(**tiny_config_kwargs()), 16).train()
    leaf = torch.randn(2 * 4, 16, 6, 6, requires_grad=True)
    hidden = leaf * 1.0
    out = tam(hidden)
    with modeling.saved_as_recipe(out):
        result = nn.functional.conv2d(out, torch.randn(4, 16, 1, 1))
    hidden.add_(1.0)
    with pytest.raises(RuntimeError, match="modified in place after the forward"):
        result.sum().backward()
