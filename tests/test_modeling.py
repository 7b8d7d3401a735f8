"""TANet model tests in the spirit of transformers' common model tests, plus the paper's numbers."""

from __future__ import annotations

import copy
import doctest
import math

import pytest
import torch
from conftest import tiny_config_kwargs
from huggingface_hub.errors import StrictDataclassError
from remote_code import run_python_without_tanet_hf
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification

import tanet_hf
from tanet_hf import TANetConfig, TANetForVideoClassification, TANetModel, TANetTemporalAdaptiveModule
from tanet_hf.flops import count_macs
from tanet_hf.kernels import ops


def tiny(**overrides) -> TANetConfig:
    return TANetConfig(**tiny_config_kwargs(**overrides))


def clips(batch=2, frames=4, size=32, views=None, seed=0, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = (batch, frames, 3, size, size) if views is None else (batch, views, frames, 3, size, size)
    return torch.randn(shape, generator=g, dtype=dtype)


def num_parameters(config: TANetConfig) -> int:
    with torch.device("meta"):
        model = TANetForVideoClassification(config)
    return sum(p.numel() for p in model.parameters())


def set_tam_implementation(model: nn.Module, implementation: str) -> None:
    model.config.tam_implementation = implementation
    for module in model.modules():
        if isinstance(module, TANetTemporalAdaptiveModule):
            module.implementation = implementation


# --------------------------------------------------------------------------------------------- the paper's numbers


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (dict(), 25_590_320),
        (dict(temporal_module="none"), 24_327_632),
        (dict(num_labels=174), 25_127_246),
        (dict(num_frames=16), 25_597_744),
        (dict(depths=[3, 4, 23, 3]), 45_702_272),
        (dict(depths=[3, 8, 36, 3]), 62_268_880),
    ],
    ids=["tanet-r50", "c2d-r50", "tanet-r50-174", "tanet-r50-16f", "tanet-r101", "tanet-r152"],
)
def test_parameter_counts_match_release(overrides, expected):
    config = TANetConfig(**{"num_labels": 400, **overrides})
    assert num_parameters(config) == expected


@pytest.mark.slow
def test_macs_match_release_and_formulations_agree():
    pixel_values = torch.randn(1, 8, 3, 224, 224)
    tanet = TANetForVideoClassification(TANetConfig(num_labels=400))
    fast = count_macs(tanet, pixel_values)
    set_tam_implementation(tanet, "reference")
    reference = count_macs(tanet, pixel_values)
    c2d = count_macs(TANetForVideoClassification(TANetConfig(num_labels=400, temporal_module="none")), pixel_values)
    assert fast == reference
    assert abs(fast / 1e9 - 32.76) / 32.76 < 0.01
    assert round(fast / 1e9, 2) == 32.76
    assert round(c2d / 1e9, 2) == 32.70


# ------------------------------------------------------------------------------------------------------ config


@pytest.mark.parametrize(
    "field, value",
    [
        ("temporal_module", "tsm"),
        ("tam_position", "e"),
        ("tam_order", "sideways"),
        ("tam_branches", "neither"),
        ("tam_implementation", "cuda"),
        ("view_fusion", "max"),
        ("layer_type", "bottle"),
        ("tam_kernel_size", 4),
        ("tam_local_kernel_size", 0),
        ("num_frames", 0),
        ("tam_stages", ["stage9"]),
        ("depths", [1, 1, 1]),
        ("classifier_dropout", 1.5),
    ],
)
def test_config_rejects_unknown_choices(field, value):
    with pytest.raises((ValueError, StrictDataclassError), match=field) as raised:
        TANetConfig(**{field: value})
    assert str(value) in str(raised.value)  # the value is named too


def test_config_rejects_position_d_for_basic_blocks():
    with pytest.raises((ValueError, StrictDataclassError), match="tam_position"):
        TANetConfig(layer_type="basic", tam_position="d")


def test_config_checks_run_again_when_a_field_is_assigned():
    config = tiny()
    with pytest.raises(StrictDataclassError, match="tam_order"):
        config.tam_order = "sideways"


def test_config_round_trip(tmp_path):
    config = tiny(tam_position="c", tam_order="global_first", view_fusion="softmax", tam_stages=["stage2", "stage4"])
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, TANetConfig)
    assert {k: v for k, v in loaded.to_dict().items() if k != "_name_or_path"} == {
        k: v for k, v in config.to_dict().items() if k != "_name_or_path"
    }


# ---------------------------------------------------------------------------------------------- TAM equivalence


def make_tam(channels=16, **overrides) -> TANetTemporalAdaptiveModule:
    torch.manual_seed(0)
    tam = TANetTemporalAdaptiveModule(tiny(**overrides), channels).double()
    for module in tam.modules():  # non-trivial BN statistics and affine parameters
        if isinstance(module, nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    return tam


def tam_outputs(tam, x, implementation):
    tam = copy.deepcopy(tam)
    tam.implementation = implementation
    x = x.clone().requires_grad_(True)
    y = tam(x)
    grad_out = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)
    y.backward(grad_out)
    grads = {name: p.grad.clone() for name, p in tam.named_parameters()}
    return y.detach(), x.grad, grads


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize(
    "frames, kernel, overrides",
    [
        (4, 3, {}),
        (8, 3, {}),
        (3, 3, {}),
        (8, 5, {}),
        (8, 1, {}),
        (2, 5, {}),
        (8, 3, {"tam_local_kernel_size": 5, "tam_alpha": 3, "tam_beta": 2}),
        (8, 3, {"tam_order": "global_first"}),
        (8, 3, {"tam_branches": "global"}),
        (8, 3, {"tam_branches": "local"}),
        (5, 5, {"tam_order": "global_first"}),
    ],
)
@pytest.mark.parametrize("batch", [1, 3])
def test_fast_tam_equals_reference_formulation(frames, kernel, overrides, training, batch):
    tam = make_tam(num_frames=frames, tam_kernel_size=kernel, **overrides).train(training)
    x = torch.randn(batch * frames, 16, 5, 7, dtype=torch.float64)
    fast, fast_dx, fast_grads = tam_outputs(tam, x, "fast")
    ref, ref_dx, ref_grads = tam_outputs(tam, x, "reference")
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fast_dx, ref_dx, rtol=1e-10, atol=1e-12)
    assert fast_grads.keys() == ref_grads.keys() and fast_grads
    for name in fast_grads:
        torch.testing.assert_close(fast_grads[name], ref_grads[name], rtol=1e-9, atol=1e-12, msg=name)


def test_tam_matches_the_papers_equation():
    """Y[t] = Σ_k Θ_k · V[t+k-1] · X[t+k-1], written out with explicit loops over a tiny tensor."""
    tam = make_tam(channels=8, num_frames=4).eval()
    x = torch.randn(2 * 4, 8, 3, 2, dtype=torch.float64)
    with torch.no_grad():
        y = tam(x)
        s = x.view(2, 4, 8, 3, 2).mean((3, 4)).transpose(1, 2)  # (B, C, T)
        theta = tam.G(s.reshape(-1, 4)).view(2, 8, 3)
        v = tam.L(s)
        xv = x.view(2, 4, 8, 3, 2)
        expected = torch.zeros_like(xv)
        for b in range(2):
            for c in range(8):
                for t in range(4):
                    for k in range(3):
                        src = t + k - 1
                        if 0 <= src < 4:
                            expected[b, t, c] += theta[b, c, k] * v[b, c, src] * xv[b, src, c]
    torch.testing.assert_close(y, expected.view_as(y))
    assert torch.allclose(theta.sum(-1), torch.ones(2, 8, dtype=torch.float64))


def test_tam_layer_shapes_match_release_checkpoint_keys():
    tam = TANetTemporalAdaptiveModule(TANetConfig(num_frames=8), 64)
    shapes = {name: tuple(p.shape) for name, p in tam.state_dict().items() if p.ndim > 0}
    assert shapes["G.0.weight"] == (16, 8)
    assert shapes["G.3.weight"] == (3, 16)
    assert shapes["G.1.running_mean"] == (16,)
    assert shapes["L.0.weight"] == (16, 64, 3)
    assert shapes["L.3.weight"] == (64, 16, 1)
    assert shapes["L.1.weight"] == (16,)


def test_full_model_fast_equals_reference_in_float64():
    model = TANetForVideoClassification(tiny(classifier_dropout=0.0)).double().train()
    reference = copy.deepcopy(model)
    set_tam_implementation(reference, "reference")
    x = clips(dtype=torch.float64)
    labels = torch.tensor([1, 4])
    out_fast, out_ref = model(x, labels=labels), reference(x, labels=labels)
    torch.testing.assert_close(out_fast.logits, out_ref.logits, rtol=1e-10, atol=1e-12)
    out_fast.loss.backward()
    out_ref.loss.backward()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-8, atol=1e-12, msg=name)


# ------------------------------------------------------------------------------------------- execution variants


def test_channels_last_gives_the_same_result():
    model = TANetForVideoClassification(tiny()).eval()
    x = clips()
    expected = model(x).logits
    model = model.to(memory_format=torch.channels_last)
    frames = x.flatten(0, 1).contiguous(memory_format=torch.channels_last)
    tam = next(m for m in model.modules() if isinstance(m, TANetTemporalAdaptiveModule))
    hidden = torch.randn(8, tam.L[0].in_channels, 6, 6).contiguous(memory_format=torch.channels_last)
    assert tam(hidden).is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(model(frames.view_as(x)).logits, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_keeps_tam_in_low_precision(dtype):
    model = TANetForVideoClassification(tiny()).eval()
    x = clips()
    expected = model(x).logits
    tam = next(m for m in model.modules() if isinstance(m, TANetTemporalAdaptiveModule))
    with torch.autocast("cpu", dtype=dtype):
        hidden = torch.randn(8, tam.L[0].in_channels, 6, 6).to(dtype)
        assert tam(hidden).dtype == dtype
        logits = model(x).logits
    assert torch.isfinite(logits).all()
    assert torch.nn.functional.cosine_similarity(logits.float().flatten(), expected.flatten(), dim=0) > 0.99


def test_torch_compile_matches_eager():
    torch._dynamo.reset()
    tam = make_tam(num_frames=4).float().train()
    x = torch.randn(8, 16, 6, 6, requires_grad=True)
    eager = copy.deepcopy(tam)
    compiled = torch.compile(tam, backend="aot_eager", dynamic=True)
    y_eager, y_compiled = eager(x), compiled(x)
    torch.testing.assert_close(y_compiled, y_eager)
    (g_eager,) = torch.autograd.grad(y_eager.square().sum(), x)
    (g_compiled,) = torch.autograd.grad(y_compiled.square().sum(), x)
    torch.testing.assert_close(g_compiled, g_eager)
    y_batch3 = compiled(torch.randn(12, 16, 6, 6))  # another batch size through the same compiled module
    assert y_batch3.shape == (12, 16, 6, 6)


def test_export_with_dynamic_batch_has_no_baked_in_batch_size():
    model = TANetForVideoClassification(tiny()).eval()
    batch = torch.export.Dim("batch", min=1, max=64)
    exported = torch.export.export(model, (clips(batch=2),), dynamic_shapes=({0: batch},), strict=False)
    for b in (1, 3):
        x = clips(batch=b, seed=b)
        torch.testing.assert_close(exported.module()(x).logits, model(x).logits)


def test_gradient_checkpointing_changes_neither_gradients_nor_batchnorm_buffers():
    torch.manual_seed(0)
    model = TANetForVideoClassification(tiny(classifier_dropout=0.0)).double().train()
    before = copy.deepcopy(model.state_dict())
    checkpointed = copy.deepcopy(model)
    checkpointed.activation_checkpointing_enable()
    assert checkpointed.is_activation_checkpointing
    x, labels = clips(dtype=torch.float64), torch.tensor([0, 2])
    tam_calls = []
    tam = next(m for m in checkpointed.modules() if isinstance(m, TANetTemporalAdaptiveModule))
    tam.register_forward_hook(lambda *args: tam_calls.append(1))
    loss, loss_ckpt = model(x, labels=labels).loss, checkpointed(x, labels=labels).loss
    torch.testing.assert_close(loss_ckpt, loss)
    loss.backward()
    loss_ckpt.backward()
    assert len(tam_calls) == 2  # the block was recomputed during backward
    for (name, p), q in zip(model.named_parameters(), checkpointed.parameters()):
        torch.testing.assert_close(q.grad, p.grad, msg=name)
    plain_buffers, checkpointed_buffers = dict(model.named_buffers()), dict(checkpointed.named_buffers())
    for name, buffer in plain_buffers.items():
        assert torch.equal(checkpointed_buffers[name], buffer), name  # running_mean/var updated once, not twice
        if name.endswith("num_batches_tracked"):
            assert buffer.item() == before[name].item() + 1, name


# ------------------------------------------------------------------------------------------ transformers API


def test_auto_classes_are_registered_on_import():
    config = AutoConfig.for_model("tanet", **{k: v for k, v in tiny().to_dict().items() if k != "model_type"})
    assert isinstance(config, TANetConfig)
    assert type(AutoModel.from_config(config)) is TANetModel
    assert type(AutoModelForVideoClassification.from_config(config)) is TANetForVideoClassification
    assert tanet_hf.TANetForVideoClassification is TANetForVideoClassification


def test_save_and_load_is_bit_exact(tmp_path):
    model = TANetForVideoClassification(tiny()).eval()
    x = clips()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    loaded = AutoModelForVideoClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is TANetForVideoClassification
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name
    assert torch.equal(loaded(x).logits, model(x).logits)
    backbone = AutoModel.from_pretrained(tmp_path).eval()
    assert torch.equal(backbone(x).pooler_output, model.tanet(x).pooler_output)


def test_saved_folder_loads_as_remote_code_without_the_package(tmp_path):
    model = TANetForVideoClassification(tiny()).eval()
    x = clips()
    model.save_pretrained(tmp_path / "model")
    ops.KERNEL_CALLS.clear()
    with torch.no_grad():
        torch.save({"x": x, "logits": model(x).logits}, tmp_path / "io.pt")
    assert ops.KERNEL_CALLS["eval"] > 0  # the library's logits came from the fused CPU operators
    saved = {p.name for p in (tmp_path / "model").iterdir()}
    assert {"configuration_tanet.py", "modeling_tanet.py", "config.json", "model.safetensors"} <= saved
    code = {p.name: p.read_text() for p in (tmp_path / "model").glob("*.py")}
    assert set(code) == {"configuration_tanet.py", "modeling_tanet.py"}
    for name, text in code.items():  # nothing that compiles, loads native code or starts processes
        for word in ("ctypes", "subprocess", "CDLL", "cc ", "-march", "os.system", "torch.utils.cpp_extension"):
            assert word not in text, (name, word)
    result = run_python_without_tanet_hf(
        f"""
        import torch
        from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification
        folder = {str(tmp_path / "model")!r}
        io = torch.load({str(tmp_path / "io.pt")!r}, weights_only=True)
        model = AutoModelForVideoClassification.from_pretrained(folder, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        with torch.no_grad():
            torch.testing.assert_close(model(io["x"]).logits, io["logits"], rtol=1e-5, atol=1e-6)
        backbone = AutoModel.from_pretrained(folder, trust_remote_code=True)
        config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
        print("OK", type(backbone).__name__, type(config).__name__)
        """,
        cwd=tmp_path,
    )
    assert "OK TANetModel TANetConfig" in result.stdout


def test_init_weights_reproduce_the_release():
    torch.manual_seed(0)
    model = TANetForVideoClassification(TANetConfig(num_labels=400))
    head = model.classifier
    assert torch.all(head.bias == 0)
    assert abs(head.weight.std().item() - 0.001) < 5e-5
    conv = model.tanet.encoder.stages[2].layers[0].conv2  # 256 → 256, 3×3: kaiming normal, fan_out
    assert abs(conv.weight.std().item() - math.sqrt(2 / (256 * 9))) < 2e-3
    bn = model.tanet.encoder.stages[0].layers[0].bn1
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
    g0 = model.tanet.encoder.stages[0].layers[0].tam.G[0]  # nn.Linear default init: U(±1/sqrt(fan_in))
    assert g0.weight.abs().max() <= 1 / math.sqrt(8) + 1e-6 and g0.weight.abs().max() > 0.25


def test_docstring_examples_run():
    import tanet_hf.modeling_tanet as modeling

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(modeling) if t.examples]
    assert len(tests) >= 2
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


# ------------------------------------------------------------------------------------------------ behaviour


def test_output_shapes_and_hidden_states():
    model = TANetForVideoClassification(tiny()).eval()
    out = model(clips(size=64), output_hidden_states=True)
    assert out.logits.shape == (2, 5)
    assert out.view_logits is None
    sizes = [tuple(h.shape) for h in out.hidden_states]
    assert sizes == [(2, 4, 8, 16, 16), (2, 4, 16, 16, 16), (2, 4, 32, 8, 8), (2, 4, 64, 4, 4), (2, 4, 128, 2, 2)]
    base = model.tanet(clips(size=64))
    assert base.last_hidden_state.shape == (2, 4, 128, 2, 2)
    assert base.frame_features.shape == (2, 4, 128)
    torch.testing.assert_close(base.pooler_output, base.last_hidden_state.mean((1, 3, 4)))
    as_tuple = model(clips(size=64), return_dict=False)
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], out.logits)


@pytest.mark.parametrize("kernels", [True, False], ids=["fused_cpu", "pytorch"])
def test_every_hidden_state_is_a_tensor_the_network_computed_with(kernels):
    model = TANetForVideoClassification(tiny(classifier_dropout=0.0)).train()
    if not kernels:
        tanet_hf.kernels.uninstall()
    try:
        out = model(clips(), labels=torch.tensor([0, 1]), output_hidden_states=True)
        for hidden in out.hidden_states:
            hidden.retain_grad()
        out.loss.backward()
    finally:
        tanet_hf.kernels.install()
    for index, hidden in enumerate(out.hidden_states):
        assert hidden.grad is not None and hidden.grad.abs().sum() > 0, index


def test_batch_independence_and_determinism_in_eval_mode():
    model = TANetForVideoClassification(tiny()).eval()
    x = clips(batch=3)
    full = model(x).logits
    torch.testing.assert_close(model(x).logits, full, rtol=0, atol=0)
    for i in range(3):
        torch.testing.assert_close(model(x[i : i + 1]).logits, full[i : i + 1], rtol=1e-5, atol=1e-6)


def test_frames_interact_only_through_tam():
    """C2D scores frames independently; TANet's score of frame 0 changes when other frames change."""
    x = clips(batch=1)
    changed = x.clone()
    changed[:, 1:] = torch.randn_like(changed[:, 1:])
    for temporal_module, should_interact in (("none", False), ("tam", True)):
        model = TANetModel(tiny(temporal_module=temporal_module)).eval()
        f0 = model(x).frame_features[:, 0]
        f0_changed = model(changed).frame_features[:, 0]
        assert (not torch.allclose(f0, f0_changed, atol=1e-6)) is should_interact


def test_head_is_release_head_dropout_linear_mean_over_frames():
    model = TANetForVideoClassification(tiny()).eval()
    x = clips()
    frame_features = model.tanet(x).frame_features
    expected = model.classifier(frame_features).mean(dim=1)
    torch.testing.assert_close(model(x).logits, expected)


def test_gradients_reach_every_parameter():
    model = TANetForVideoClassification(tiny(classifier_dropout=0.0)).train()
    model(clips(), labels=torch.tensor([0, 1])).loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing, missing


@pytest.mark.parametrize("fusion", ["logits", "softmax"])
def test_multi_view_scores_every_view_and_fuses(fusion):
    model = TANetForVideoClassification(tiny(view_fusion=fusion)).eval()
    x = clips(views=3)
    out = model(x, labels=torch.tensor([1, 2]))
    assert out.view_logits.shape == (2, 3, 5)
    for v in range(3):
        torch.testing.assert_close(out.view_logits[:, v], model(x[:, v]).logits, rtol=1e-5, atol=1e-6)
    if fusion == "logits":
        expected = out.view_logits.mean(1)
    else:
        expected = out.view_logits.softmax(-1).mean(1).log()
        torch.testing.assert_close(out.logits.exp().sum(-1), torch.ones(2))
    torch.testing.assert_close(out.logits, expected, rtol=1e-5, atol=1e-6)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    pooled = model.tanet(x).pooler_output
    assert pooled.shape == (2, 128)


@pytest.mark.parametrize(
    "problem_type, labels",
    [
        ("single_label_classification", torch.tensor([0, 4])),
        ("multi_label_classification", torch.tensor([[1.0, 0, 0, 1, 0], [0, 1, 1, 0, 0]])),
        ("regression", torch.randn(2, 5)),
    ],
)
def test_loss_follows_problem_type(problem_type, labels):
    model = TANetForVideoClassification(tiny(problem_type=problem_type)).eval()
    out = model(clips(), labels=labels)
    logits = out.logits
    expected = {
        "single_label_classification": lambda: nn.functional.cross_entropy(logits, labels),
        "multi_label_classification": lambda: nn.functional.binary_cross_entropy_with_logits(logits, labels),
        "regression": lambda: nn.functional.mse_loss(logits, labels),
    }[problem_type]()
    torch.testing.assert_close(out.loss, expected)


@pytest.mark.parametrize(
    "overrides",
    [
        dict(tam_position="a"),
        dict(tam_position="c"),
        dict(tam_position="d"),
        dict(tam_order="global_first"),
        dict(tam_branches="global"),
        dict(tam_branches="local"),
        dict(tam_stages=["stage3", "stage4"]),
        dict(layer_type="basic", hidden_sizes=[8, 16, 32, 64]),
        dict(layer_type="basic", hidden_sizes=[8, 16, 32, 64], tam_position="a"),
        dict(layer_type="basic", hidden_sizes=[8, 16, 32, 64], tam_position="c"),
        dict(tam_kernel_size=5, num_frames=6),
    ],
)
def test_variants_build_train_and_match_reference(overrides):
    model = TANetForVideoClassification(tiny(classifier_dropout=0.0, **overrides)).double().eval()
    frames = model.config.num_frames
    x = clips(frames=frames, dtype=torch.float64)
    reference = copy.deepcopy(model)
    set_tam_implementation(reference, "reference")
    torch.testing.assert_close(model(x).logits, reference(x).logits, rtol=1e-10, atol=1e-12)
    tams = [m for m in model.modules() if isinstance(m, TANetTemporalAdaptiveModule)]
    assert len(tams) == (2 if "tam_stages" in overrides else 4)
    model.train()(x, labels=torch.tensor([0, 1])).loss.backward()


def test_tam_positions_have_the_expected_widths():
    widths = {}
    for position in "abcd":
        model = TANetModel(TANetConfig(tam_position=position, depths=[1, 1, 1, 1]))
        widths[position] = model.encoder.stages[0].layers[0].tam.L[0].in_channels
    assert widths == {"a": 64, "b": 64, "c": 64, "d": 256}
    assert (
        TANetModel(TANetConfig(depths=[1, 1, 1, 1], tam_position="a")).encoder.stages[1].layers[0].tam.L[0].in_channels
        == 256
    )


@pytest.mark.parametrize(
    "shape, message",
    [
        ((2, 8, 3, 32, 32), "num_frames=4"),
        ((2, 4, 1, 32, 32), "channels"),
        ((8, 3, 32, 32), "rank 4"),
        ((1, 2, 3, 4, 3, 32, 32), "rank 7"),
    ],
)
def test_bad_inputs_raise_clear_errors(shape, message):
    model = TANetForVideoClassification(tiny()).eval()
    with pytest.raises(ValueError, match=message):
        model(torch.randn(shape))


def test_labels_for_the_wrong_batch_are_rejected():
    model = TANetForVideoClassification(tiny()).eval()
    with pytest.raises(ValueError, match="labels"):
        model(clips(), labels=torch.tensor([0, 1, 2]))
