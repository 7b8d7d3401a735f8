"""TAM's fused CPU operators (`tanet_hf.kernels`) against the pure-PyTorch formulation of the model files.

Every registered operator is compared with its PyTorch definition in float32 and float64, contiguous and
channels-last, over clip lengths and kernel sizes that exercise the clip boundaries; whole units and networks are
compared with the kernels uninstalled, in training (values, every gradient) and inference. Each comparison asserts
that the C kernels actually ran (`KERNEL_CALLS`). Then what the tracing tools see (torch.compile without graph
breaks, torch.export, fake tensors, the FLOP count) and what the cache survives (no compiler, a truncated or
foreign library, an unwritable folder, a hanging compiler): one warning, the same numbers.
"""

from __future__ import annotations

import copy
import logging

import pytest
import torch
from conftest import tiny_config_kwargs
from torch import nn

from tanet_hf import TANetConfig, TANetForVideoClassification, TANetRectifiedTAM
from tanet_hf.kernels import install, ops, tam_cpu, uninstall
from tanet_hf.modeling_tanet import shift_accumulate, shift_correlate, transpose_shift_weights

SHAPES = [  # (B, T, C, H, W, K)
    (2, 8, 16, 5, 7, 3),
    (1, 3, 70, 4, 4, 5),  # C not a multiple of the channels-last block (64)
    (2, 1, 3, 2, 2, 3),  # a single frame: only the centre tap
    (1, 2, 5, 3, 3, 7),  # K larger than T
    (2, 4, 8, 1, 1, 1),  # 1×1 frames, K = 1
]
LAYOUTS = pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])


def clips_and_weights(shape, dtype, channels_last, seed=0):
    batch, frames, channels, height, width, kernel = shape
    g = torch.Generator().manual_seed(seed)
    flat = torch.randn(batch * frames, channels, height, width, generator=g, dtype=dtype)
    if channels_last:
        flat = flat.contiguous(memory_format=torch.channels_last)
    weights = torch.randn(batch, frames, kernel, channels, generator=g, dtype=dtype)
    return flat.view(batch, frames, channels, height, width), weights


def tolerance(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)


@pytest.fixture
def calls():
    ops.KERNEL_CALLS.clear()
    return ops.KERNEL_CALLS


@pytest.fixture
def fresh_library(monkeypatch, tmp_path):
    """A process state where the library has not been loaded yet, with an empty cache of its own."""
    monkeypatch.setenv("TANET_HF_CACHE", str(tmp_path))
    monkeypatch.setattr(tam_cpu, "_library", None)
    monkeypatch.setattr(tam_cpu, "_load_attempted", False)
    return tmp_path


def test_kernel_library_builds_on_this_machine():
    assert tam_cpu.is_available()


# ------------------------------------------------------------------------------------------------ each operator


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@LAYOUTS
def test_aggregate_and_its_backward_match_pytorch(shape, dtype, channels_last, calls):
    clips, weights = clips_and_weights(shape, dtype, channels_last)
    out = torch.ops.tanet_hf.aggregate(clips, weights)
    torch.testing.assert_close(out, shift_accumulate(clips, weights), **tolerance(dtype))
    assert out.stride() == clips.stride()
    grad_out, _ = clips_and_weights(shape, dtype, channels_last, seed=1)
    grad_clips, grad_weights = torch.ops.tanet_hf.aggregate_backward(grad_out, clips, weights)
    expected_clips = shift_accumulate(grad_out, transpose_shift_weights(weights))
    torch.testing.assert_close(grad_clips, expected_clips, **tolerance(dtype))
    torch.testing.assert_close(grad_weights, shift_correlate(grad_out, clips, shape[-1]), **tolerance(dtype))
    assert calls["aggregate"] == 2 and calls["correlate"] == 1


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@LAYOUTS
def test_relu_spatial_sum_and_its_backward_match_pytorch(shape, channels_last, calls):
    clips, _ = clips_and_weights(shape, torch.float64, channels_last)
    clips = clips.detach().requires_grad_()
    rectified, sums = torch.ops.tanet_hf.relu_spatial_sum(clips)
    reference = clips.detach().clone().requires_grad_()
    expected = reference.relu()
    torch.testing.assert_close(rectified, expected)
    torch.testing.assert_close(sums, expected.sum(dim=(3, 4)))
    upstream = torch.randn_like(expected)
    (rectified * upstream).sum().add(sums.square().sum()).backward()
    (expected * upstream).sum().add(expected.sum(dim=(3, 4)).square().sum()).backward()
    torch.testing.assert_close(clips.grad, reference.grad)
    assert calls["relu_sum"] == 1 and calls["aggregate"] == 1  # the backward: one masked pass


def test_operators_fall_back_to_pytorch_for_unsupported_tensors(calls):
    clips, weights = clips_and_weights(SHAPES[0], torch.float32, False)
    for c, w in [(clips.bfloat16(), weights.bfloat16()), (clips.transpose(3, 4), weights)]:
        torch.testing.assert_close(torch.ops.tanet_hf.aggregate(c, w), shift_accumulate(c, w))
    assert calls["aggregate"] == 0


# ------------------------------------------------------------------------------------ whole units and networks


def tiny_model(**overrides) -> TANetForVideoClassification:
    torch.manual_seed(0)
    model = TANetForVideoClassification(TANetConfig(**tiny_config_kwargs(classifier_dropout=0.0, **overrides)))
    for module in model.modules():  # non-trivial BatchNorm state
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
    return model.double()


def step(model, pixel_values):
    """One forward and backward; the logits, the input's and every parameter's gradient, and the buffers."""
    model.zero_grad()
    pixel_values = pixel_values.detach().clone().requires_grad_()
    out = model(pixel_values, labels=torch.tensor([0, 3]))
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return out.logits.detach(), pixel_values.grad, grads, copy.deepcopy(model.state_dict())


@pytest.mark.parametrize(
    "overrides",
    [{}, {"tam_order": "global_first"}, {"layer_type": "basic"}, {"tam_position": "c"}, {"tam_local_kernel_size": 5}],
    ids=["tanet", "tanet_r", "basic", "position_c", "local_kernel_5"],
)
@LAYOUTS
def test_training_step_with_the_fused_operators_matches_pytorch(overrides, channels_last, calls):
    model = tiny_model(**overrides).train()
    pixel_values = torch.randn(2, 4, 3, 32, 32, dtype=torch.float64)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    plain_model = copy.deepcopy(model)
    fused = step(model, pixel_values)
    assert calls["relu_sum"] == 4 and calls["correlate"] == 4  # one relu → TAM unit per stage
    uninstall()
    try:
        plain = step(plain_model, pixel_values)
    finally:
        install()
    for got, want in zip(fused[:2], plain[:2]):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    for name in plain[2]:
        torch.testing.assert_close(fused[2][name], plain[2][name], rtol=1e-9, atol=1e-12, msg=name)
    for name in plain[3]:
        torch.testing.assert_close(fused[3][name], plain[3][name], rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("overrides", [{}, {"tam_order": "global_first"}, {"tam_branches": "global"}])
@LAYOUTS
def test_inference_in_one_call_per_unit_matches_pytorch_and_keeps_the_input(overrides, channels_last, calls):
    model = tiny_model(**overrides).eval()
    pixel_values = torch.randn(2, 4, 3, 32, 32, dtype=torch.float64)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    kept = pixel_values.clone()
    with torch.no_grad():
        fused = model(pixel_values, output_hidden_states=True)
        assert calls["eval"] == 4
        uninstall()
        try:
            plain = model(pixel_values, output_hidden_states=True)
        finally:
            install()
    assert torch.equal(pixel_values, kept)
    torch.testing.assert_close(fused.logits, plain.logits, rtol=1e-10, atol=1e-12)
    for got, want in zip(fused.hidden_states, plain.hidden_states):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_gpu_and_reference_units_are_left_to_pytorch(calls):
    unit = tiny_model(tam_implementation="reference").tanet.encoder.stages[0].layers[0].tam
    assert isinstance(unit, TANetRectifiedTAM)
    assert ops.rectified_tam_forward(unit, torch.randn(8, 4, 8, 8, dtype=torch.float64)) is None
    assert sum(calls.values()) == 0


# ------------------------------------------------------------------------------------ what tracing tools see


class CountingBackend:
    """A torch.compile backend that records the graphs it is given (one per graph break + 1)."""

    def __init__(self):
        self.graphs = []

    def __call__(self, graph_module, example_inputs):
        self.graphs.append(graph_module)
        return graph_module.forward


def test_compiled_training_step_and_inference_have_no_graph_breaks_and_use_the_operators(calls):
    torch._dynamo.reset()
    model = tiny_model().float().train()
    pixel_values = torch.randn(2, 4, 3, 32, 32)
    labels = torch.tensor([0, 3])

    def training_loss(pixel_values):  # the backward of the compiled forward is traced by AOTAutograd
        return model(pixel_values, labels=labels).loss

    explanation = torch._dynamo.explain(training_loss)(pixel_values)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    backend = CountingBackend()
    compiled = torch.compile(model, backend=backend)
    compiled(pixel_values, labels=labels).loss.backward()
    assert len(backend.graphs) == 1
    graph_ops = {str(n.target).removesuffix(".default") for g in backend.graphs for n in g.graph.nodes}
    assert {"tanet_hf.relu_spatial_sum", "tanet_hf.aggregate"} <= graph_ops, graph_ops
    model.eval()
    torch._dynamo.reset()
    with torch.no_grad():
        explanation = torch._dynamo.explain(model)(pixel_values)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    calls.clear()
    with torch.no_grad():
        eager = model(pixel_values).logits
        compiled_logits = torch.compile(model, backend="aot_eager")(pixel_values).logits
    torch.testing.assert_close(compiled_logits, eager, rtol=1e-4, atol=1e-5)
    assert calls["aggregate"] > 0  # the compiled graph ran the C kernels


def test_export_and_fake_tensors_see_the_operators():
    model = tiny_model().float().eval()
    pixel_values = torch.randn(1, 4, 3, 32, 32)
    exported = torch.export.export(model, (pixel_values,))
    targets = {str(n.target) for n in exported.graph.nodes if n.op == "call_function"}
    assert {"tanet_hf.aggregate.default", "tanet_hf.rectified_tam_inference_.default"} & targets, targets
    torch.testing.assert_close(exported.module()(pixel_values).logits, model(pixel_values).logits)
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode(allow_non_fake_inputs=True):
        clips, weights = torch.empty(2, 4, 8, 5, 5), torch.empty(2, 4, 3, 8)
        assert torch.ops.tanet_hf.aggregate(clips, weights).shape == clips.shape


def test_flop_count_of_tanet_r50_is_the_papers_with_the_fused_operators(calls):
    from tanet_hf.flops import count_macs

    model = TANetForVideoClassification(TANetConfig(num_labels=400))
    assert count_macs(model, torch.randn(1, 8, 3, 224, 224)) / 1e9 == pytest.approx(32.76, abs=0.005)
    assert calls["eval"] == 16  # the count ran through the fused inference operator


# ------------------------------------------------------------------------------------ the cache and the compiler


def assert_one_warning_and_pytorch_numbers(caplog, calls):
    model = tiny_model().eval()
    pixel_values = torch.randn(2, 4, 3, 32, 32, dtype=torch.float64)
    with caplog.at_level(logging.WARNING, logger=tam_cpu.__name__), torch.no_grad():
        first, second = model(pixel_values).logits, model(pixel_values).logits
    warnings = [r for r in caplog.records if r.name == tam_cpu.__name__]
    assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()
    assert sum(calls.values()) == 0
    uninstall()
    try:
        with torch.no_grad():
            torch.testing.assert_close(first, model(pixel_values).logits)
    finally:
        install()
    assert torch.equal(first, second)


def test_no_compiler_gives_one_warning_and_the_same_numbers(fresh_library, monkeypatch, caplog, calls):
    monkeypatch.setattr(tam_cpu.shutil, "which", lambda name: None)
    assert_one_warning_and_pytorch_numbers(caplog, calls)


def test_unwritable_cache_gives_one_warning_and_the_same_numbers(fresh_library, monkeypatch, caplog, calls):
    blocker = fresh_library / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TANET_HF_CACHE", str(blocker))
    assert_one_warning_and_pytorch_numbers(caplog, calls)


def test_hanging_compiler_is_stopped_by_the_timeout(fresh_library, monkeypatch, caplog, calls):
    hanging = fresh_library / "slowcc"
    hanging.write_text("#!/bin/sh\nsleep 30\n")
    hanging.chmod(0o755)
    monkeypatch.setenv("CC", str(hanging))
    monkeypatch.setenv("TANET_HF_CPU_KERNEL_BUILD_TIMEOUT", "1")
    assert_one_warning_and_pytorch_numbers(caplog, calls)


@pytest.mark.parametrize("damage", ["truncated", "foreign"])
def test_damaged_cached_library_is_rebuilt_not_loaded(fresh_library, damage, calls):
    path, _ = tam_cpu._compile(tam_cpu._compiler())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3] if damage == "truncated" else b"\x7fELF" + bytes(4096))
    assert not tam_cpu._is_intact(path)
    assert tam_cpu.is_available()  # rebuilt, checked, loaded
    assert path.read_bytes() == data and tam_cpu._is_intact(path)
    clips, weights = clips_and_weights(SHAPES[0], torch.float64, False)
    torch.testing.assert_close(torch.ops.tanet_hf.aggregate(clips, weights), shift_accumulate(clips, weights))
    assert calls["aggregate"] == 1


def test_library_from_other_source_is_refused(fresh_library, monkeypatch, caplog):
    real_compile = tam_cpu._compile
    monkeypatch.setattr(tam_cpu, "_compile", lambda compiler: (real_compile(compiler)[0], 12345))
    with caplog.at_level(logging.WARNING, logger=tam_cpu.__name__):
        assert not tam_cpu.is_available()
    assert "other source" in caplog.text


def test_concurrent_builds_leave_one_intact_library(fresh_library):
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: tam_cpu._compile(tam_cpu._compiler())[0], range(4)))
    assert len(set(paths)) == 1 and tam_cpu._is_intact(paths[0])
    assert sorted(p.name for p in paths[0].parent.iterdir()) == sorted([paths[0].name, paths[0].stem + ".sha256"])
