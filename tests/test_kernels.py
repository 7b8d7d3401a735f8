"""TAM's fused CPU kernel (`tanet_hf.tam_cpu_kernel`) against the pure-PyTorch formulation it replaces.

Every kernel (aggregation, in-place aggregation, weight-gradient correlation, ReLU fused with the squeeze) is
compared with PyTorch in float32 and float64, in the contiguous and the channels-last layout, over clip lengths
and kernel sizes that exercise the clip boundaries; then whole TAMs and whole networks are compared with the
kernel switched off (`TANET_HF_CPU_KERNEL=0`), in training (values and every gradient) and in inference (where the
kernel writes over the block's intermediate tensors, never over the caller's input). The fallback is tested by
making compilation fail.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from tanet_hf import TANetConfig, TANetForVideoClassification, TANetTemporalAdaptiveModule, tam_cpu_kernel
from tanet_hf.modeling_tanet import _shift_accumulate, _shift_correlate, _transpose_shift_weights

SHAPES = [  # (B, T, C, H, W, K)
    (2, 8, 16, 5, 7, 3),
    (1, 3, 70, 4, 4, 5),  # C not a multiple of the channels-last block (64)
    (2, 1, 3, 2, 2, 3),  # a single frame: only the centre tap
    (1, 2, 5, 3, 3, 7),  # K larger than T
    (2, 4, 8, 1, 1, 1),  # 1×1 frames, K = 1
]


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
def kernel_off(monkeypatch):
    monkeypatch.setenv("TANET_HF_CPU_KERNEL", "0")


def test_kernel_compiles_on_this_machine():
    # CI and the README's machines have a C compiler: the fused path must be the one that runs there.
    assert tam_cpu_kernel.is_available()


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_aggregation_kernels_match_pytorch(shape, dtype, channels_last):
    clips, weights = clips_and_weights(shape, dtype, channels_last)
    expected = _shift_accumulate(clips, weights)

    out = tam_cpu_kernel.aggregate(clips, weights)
    assert out is not None and out.stride() == expected.stride()
    torch.testing.assert_close(out, expected, **tolerance(dtype))

    overwritten = clips.clone()
    assert tam_cpu_kernel.aggregate_(overwritten, weights) is overwritten
    torch.testing.assert_close(overwritten, expected, **tolerance(dtype))

    grad_out, _ = clips_and_weights(shape, dtype, channels_last, seed=1)
    grad_weights = tam_cpu_kernel.correlate(grad_out, clips, shape[-1])
    torch.testing.assert_close(grad_weights, _shift_correlate(grad_out, clips, shape[-1]), **tolerance(dtype))


@pytest.mark.parametrize("shape", SHAPES[:3], ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_relu_with_spatial_sum_matches_pytorch(shape, dtype, channels_last):
    clips, _ = clips_and_weights(shape, dtype, channels_last)
    clips[0, 0, 0, 0, 0] = float("nan")  # NaN survives the ReLU, as in torch.relu (the NaN-loss check relies on it)
    expected = torch.relu(clips)
    sums = tam_cpu_kernel.relu_and_spatial_sum_(clips)
    assert torch.equal(clips.isnan(), expected.isnan()) and clips.isnan().any()
    torch.testing.assert_close(clips, expected, equal_nan=True)
    torch.testing.assert_close(sums, expected.sum(dim=(3, 4)), equal_nan=True, **tolerance(dtype))


def test_kernel_declines_what_it_does_not_handle():
    clips, weights = clips_and_weights((2, 4, 8, 3, 3, 3), torch.float32, False)
    assert tam_cpu_kernel.aggregate(clips.bfloat16(), weights.bfloat16()) is None  # dtype
    assert tam_cpu_kernel.aggregate(clips.transpose(3, 4), weights) is None  # neither layout
    assert tam_cpu_kernel.aggregate(clips, weights.double()) is None  # mixed dtypes
    untouched = clips.transpose(3, 4).contiguous().transpose(3, 4)  # a permuted layout, same values
    assert tam_cpu_kernel.aggregate(untouched, weights) is None


def test_disabled_by_environment(kernel_off):
    clips, weights = clips_and_weights((2, 4, 8, 3, 3, 3), torch.float32, False)
    assert not tam_cpu_kernel.is_available()
    assert tam_cpu_kernel.aggregate(clips, weights) is None


def test_falls_back_when_compilation_fails(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(tam_cpu_kernel, "_library", None)
    monkeypatch.setattr(tam_cpu_kernel, "_load_attempted", False)
    monkeypatch.setenv("TANET_HF_CACHE", str(tmp_path))  # nothing cached: must compile
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setattr(tam_cpu_kernel.shutil, "which", lambda name: None)
    with caplog.at_level("WARNING", logger="tanet_hf.tam_cpu_kernel"):
        assert not tam_cpu_kernel.is_available()
    assert "unavailable" in caplog.text
    tam = TANetTemporalAdaptiveModule(TANetConfig(num_frames=4), 8)
    out = tam(torch.randn(8, 8, 3, 3))
    assert out.shape == (8, 8, 3, 3) and torch.isfinite(out).all()


def test_a_compiled_library_is_reused_from_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TANET_HF_CACHE", str(tmp_path))
    compiler = tam_cpu_kernel._compiler()
    first = tam_cpu_kernel._compile(compiler)
    mtime = first.stat().st_mtime_ns
    assert first.parent == tmp_path / "kernels" and tam_cpu_kernel._compile(compiler) == first
    assert first.stat().st_mtime_ns == mtime  # not rebuilt


def tiny_tam(**overrides) -> TANetTemporalAdaptiveModule:
    torch.manual_seed(0)
    tam = TANetTemporalAdaptiveModule(TANetConfig(num_frames=5, **overrides), 12).double()
    for module in tam.modules():
        if isinstance(module, nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
    return tam


def tam_outputs_and_grads(tam, inputs, monkeypatch, kernel: bool):
    monkeypatch.setenv("TANET_HF_CPU_KERNEL", "1" if kernel else "0")
    tam = copy.deepcopy(tam)
    inputs = inputs.detach().clone().requires_grad_(True)
    out = tam(inputs)
    (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
    grads = {name: p.grad for name, p in tam.named_parameters()}
    return out.detach(), inputs.grad, grads


@pytest.mark.parametrize("order", ["local_first", "global_first"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_tam_with_and_without_kernel_agree_with_gradients(order, channels_last, training, monkeypatch):
    tam = tiny_tam(tam_order=order).train(training)
    inputs = torch.randn(10, 12, 4, 5, dtype=torch.float64)
    if channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    out_k, grad_k, params_k = tam_outputs_and_grads(tam, inputs, monkeypatch, kernel=True)
    out_p, grad_p, params_p = tam_outputs_and_grads(tam, inputs, monkeypatch, kernel=False)
    torch.testing.assert_close(out_k, out_p, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_k, grad_p, rtol=1e-12, atol=1e-12)
    assert params_k.keys() == params_p.keys() and params_k
    for name in params_k:
        torch.testing.assert_close(params_k[name], params_p[name], rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("layer_type, position", [("bottleneck", "b"), ("bottleneck", "a"), ("basic", "b"),
                                                  ("bottleneck", "c"), ("basic", "c")])  # fmt: skip
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_inference_with_kernel_matches_and_leaves_the_input_alone(layer_type, position, channels_last, monkeypatch):
    """In inference the kernel rectifies and aggregates in place inside the blocks (ReLU fused with the squeeze):
    the logits must not change, and neither must the caller's `pixel_values`."""
    torch.manual_seed(0)
    config = TANetConfig(
        layer_type=layer_type, depths=[1, 2, 1, 1], embedding_size=8,
        hidden_sizes=[32, 64, 64, 128] if layer_type == "bottleneck" else [8, 16, 16, 32],
        num_frames=4, num_labels=5, tam_position=position,
    )  # fmt: skip
    model = TANetForVideoClassification(config).eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):  # non-trivial statistics, so that the ReLUs cut something
            module.running_mean.uniform_(-0.3, 0.3)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    pixel_values = torch.randn(2, 4, 3, 32, 32)
    kept = pixel_values.clone()
    logits = {}
    for kernel in (True, False):
        monkeypatch.setenv("TANET_HF_CPU_KERNEL", "1" if kernel else "0")
        with torch.inference_mode():
            logits[kernel] = model(pixel_values, output_hidden_states=True)
    torch.testing.assert_close(logits[True].logits, logits[False].logits, rtol=1e-4, atol=1e-5)
    for with_kernel, without in zip(logits[True].hidden_states, logits[False].hidden_states):
        torch.testing.assert_close(with_kernel, without, rtol=1e-4, atol=1e-5)
    assert torch.equal(pixel_values, kept)


def test_training_step_with_kernel_matches(monkeypatch):
    """One training step of a whole network (BatchNorm in training mode, ReLU not fused: a graph is recorded)."""
    torch.manual_seed(0)
    config = TANetConfig(hidden_sizes=[32, 64, 64, 128], depths=[1, 1, 1, 1], embedding_size=8, num_frames=4,
                         num_labels=3)  # fmt: skip
    base = TANetForVideoClassification(config).double().train()
    pixel_values = torch.randn(2, 4, 3, 32, 32, dtype=torch.float64)
    labels = torch.tensor([0, 2])
    results = {}
    for kernel in (True, False):
        monkeypatch.setenv("TANET_HF_CPU_KERNEL", "1" if kernel else "0")
        model = copy.deepcopy(base)
        torch.manual_seed(1)  # the same dropout masks
        loss = model(pixel_values, labels=labels).loss
        loss.backward()
        results[kernel] = (loss.detach(), {n: p.grad for n, p in model.named_parameters()})
    torch.testing.assert_close(results[True][0], results[False][0], rtol=1e-12, atol=1e-12)
    for name, grad in results[True][1].items():
        torch.testing.assert_close(grad, results[False][1][name], rtol=1e-9, atol=1e-12, msg=name)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"tam_order": "global_first"}, {"tam_branches": "global"}, {"tam_kernel_size": 5, "tam_local_kernel_size": 5}],
    ids=["tanet", "tanet_r", "global_only", "k5"],
)
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_whole_tam_in_one_inference_call_matches_pytorch(overrides, channels_last, monkeypatch):
    """`tam_inference_`: ReLU + squeeze + both branches (eval BatchNorm) + folding + in-place aggregation, in C."""
    tam = tiny_tam(**overrides).eval()
    pre_activation = torch.randn(10, 12, 4, 5, dtype=torch.float64)
    if channels_last:
        pre_activation = pre_activation.contiguous(memory_format=torch.channels_last)
    monkeypatch.setenv("TANET_HF_CPU_KERNEL", "0")
    with torch.no_grad():
        expected = tam(torch.relu(pre_activation))
    monkeypatch.setenv("TANET_HF_CPU_KERNEL", "1")
    calls = []
    real = tam_cpu_kernel.tam_inference_
    monkeypatch.setattr(
        "tanet_hf.modeling_tanet.fused_tam_inference_", lambda *args: calls.append(real(*args)) or calls[-1]
    )
    overwritten = pre_activation.clone()
    with torch.no_grad():
        out = tam(overwritten, inplace=True, rectify_input=True)
    assert calls == [True] and out is overwritten
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_whole_tam_inference_call_declines_batchnorm_in_training_mode():
    tam = tiny_tam().train()  # BatchNorm would use batch statistics: the C path only knows running statistics
    clips = torch.randn(2, 5, 12, 4, 5, dtype=torch.float64)
    kept = clips.clone()
    assert tam_cpu_kernel.tam_inference_(clips, tam.G, tam.L, 3, True) is False
    assert torch.equal(clips, kept)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_transposed_weights_are_read_in_place_of_a_transposed_copy(shape, channels_last):
    grad_out, weights = clips_and_weights(shape, torch.float64, channels_last)
    expected = _shift_accumulate(grad_out, _transpose_shift_weights(weights))
    torch.testing.assert_close(tam_cpu_kernel.aggregate(grad_out, weights, transposed=True), expected)
