"""The temporal modules of the paper's Table 2 as `TANetConfig.temporal_module` choices, and TAM's Θ / V output.

Each module is checked against its own definition (an independent `Conv3d` / pooling / slicing statement), on every
position it supports, for gradients, saving and ImageNet initialisation; the real ResNet-50 is built once per variant
for Table 2's parameter and FLOP columns.
"""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_config_kwargs
from remote_code import run_python_without_tanet_hf
from source_networks import randomize_

from tanet_hf import TANetConfig, TANetForVideoClassification, TANetModel
from tanet_hf.conversion.state_dict import load_imagenet_resnet
from tanet_hf.flops import count_macs
from tanet_hf.kernels import ops
from tanet_hf.modeling_tanet import (
    TANetChannelwiseTemporalConv,
    TANetInflatedTaps,
    TANetNonLocal,
    TANetTemporalAdaptiveModule,
    TANetTemporalPooling,
    TANetTemporalShift,
)

VARIANTS = ["tam", "none", "pool", "tconv", "tim", "tsm", "i3d", "global_se", "nonlocal"]
POSITIONAL = ["tam", "pool", "tconv", "tim", "tsm", "global_se"]  # the ones that follow `tam_position`


def tiny(**overrides) -> TANetConfig:
    return TANetConfig(**tiny_config_kwargs(classifier_dropout=0.0, **overrides))


def clips(batch=2, frames=4, size=32, dtype=torch.float32, seed=0):
    return torch.randn(batch, frames, 3, size, size, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@torch.no_grad()
def randomize_temporal_parts_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random values in every temporal module's parameters (I3D's taps and NL's scale start at zero)."""
    g = torch.Generator().manual_seed(seed)
    for name, parameter in model.named_parameters():
        if ".tam." in name:
            parameter.copy_(0.3 * torch.randn(parameter.shape, generator=g, dtype=parameter.dtype))
    return model


# ------------------------------------------------------------------------------------------- Table 2, ResNet-50

# Table 2 (8 frames, 256², 400 classes): GFLOPs of a single view, parameters in millions.
TABLE_2 = {
    "none": (42.95, 24.33),
    "pool": (42.95, 24.33),
    "tconv": (53.02, 28.10),
    "tim": (43.06, 24.37),
    "i3d": (62.55, 32.99),
    "tsm": (42.95, 24.33),
    "nonlocal": (64.49, 31.69),
    "global_se": (43.02, 24.65),
    "tam": (43.02, 25.59),
}
PARAMETERS = {  # exact counts of this implementation
    "none": 24_327_632,
    "pool": 24_327_632,
    "tconv": 28_100_048,
    "tim": 24_338_960,
    "i3d": 32_986_576,
    "tsm": 24_327_632,
    "nonlocal": 31_686_096,
    "global_se": 24_649_576,
    "tam": 25_590_320,
}


def nonlocal_attention_macs(model: TANetForVideoClassification, frames: int, size: int) -> int:
    """MACs of the non-local blocks' two `(N × N)` products, `θφᵀ` and `A g`, that Table 2's count leaves out."""
    total = 0
    for stage_index, stage in enumerate(model.tanet.encoder.stages):
        side = size // 2 ** (stage_index + 2)  # the stage's output resolution, where its NL blocks sit
        for layer in stage.layers:
            if isinstance(layer.tam, TANetNonLocal):
                positions = frames * side * side
                total += 2 * positions * positions * layer.tam.theta.out_channels
    return total


@functools.cache
def resnet50_counts(variant: str) -> tuple[int, int, int]:
    """(parameters, MACs at 1×8×3×256², attention MACs) of the ResNet-50 `variant`, built once per module."""
    model = TANetForVideoClassification(TANetConfig(num_labels=400, temporal_module=variant))
    macs = count_macs(model, torch.randn(1, 8, 3, 256, 256))
    return model.num_parameters(), macs, nonlocal_attention_macs(model, 8, 256)


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(TABLE_2))
def test_resnet50_parameters_and_macs_are_within_one_percent_of_table_2(variant):
    parameters, macs, attention = resnet50_counts(variant)
    paper_gflops, paper_millions = TABLE_2[variant]
    assert parameters == PARAMETERS[variant]
    assert abs(parameters / 1e6 - paper_millions) / paper_millions < 0.01
    # Table 2's count leaves out the non-local attention's N × N products (see the README's table of variants).
    assert abs((macs - attention) / 1e9 - paper_gflops) / paper_gflops < 0.01
    assert (attention > 0) == (variant == "nonlocal")
    if variant in ("pool", "tsm"):  # neither pooling nor a shift is a multiply-add
        assert macs == resnet50_counts("none")[1]
    if variant == "tim":  # K = 3 multiply-adds per element of every TIM input
        assert macs > resnet50_counts("none")[1]


# ------------------------------------------------------------------------------------------ every variant, tiny


def test_macs_of_every_variant_are_counted_alike_on_the_meta_device():
    """The model card counts on the meta device (no weights, no compute); every module must run there."""
    x = clips()
    counts = {}
    for variant in VARIANTS:
        config = tiny(temporal_module=variant, depths=[1, 2, 2, 1])
        real = count_macs(TANetForVideoClassification(config), x)
        with torch.device("meta"):
            meta = count_macs(TANetForVideoClassification(config), torch.empty(x.shape))
        assert meta == real, variant
        counts[variant] = real
    assert counts["pool"] == counts["tsm"] == counts["none"]
    assert min(counts[v] for v in ("tconv", "tim", "i3d", "nonlocal", "global_se", "tam")) > counts["none"]


def positions_of(variant: str) -> list[str]:
    return list("abcd") if variant in POSITIONAL else ["b"]


@pytest.mark.parametrize("variant, position", [(v, p) for v in VARIANTS for p in positions_of(v)], ids=lambda x: str(x))
def test_every_variant_and_position_runs_forward_and_backward_and_mixes_frames(variant, position):
    depths = [1, 2, 2, 1] if variant == "nonlocal" else [1, 1, 1, 1]  # NL blocks follow every other block
    torch.manual_seed(0)
    config = tiny(temporal_module=variant, tam_position=position, depths=depths)
    model = randomize_temporal_parts_(TANetForVideoClassification(config))
    x = clips()
    out = model.train()(x, labels=torch.tensor([0, 1]))
    out.loss.backward()
    temporal = [(n, p) for n, p in model.named_parameters() if ".tam." in n]
    assert all(p.grad is not None for n, p in temporal), [n for n, p in temporal if p.grad is None]
    # Every temporal module gets a gradient (single parameters may get none: a 1-unit SE hidden layer can be dead).
    modules = {n.split(".tam.")[0] for n, p in temporal}
    assert all(sum(p.grad.abs().sum() for n, p in temporal if n.startswith(m + ".tam.")) > 0 for m in modules)
    assert (len(temporal) == 0) == (variant in ("none", "pool", "tsm"))
    # Frames interact before the head exactly when there is a temporal module.
    model.eval()
    with torch.no_grad():
        changed = x.clone()
        changed[:, 0] += 1.0
        before = model.tanet(x).frame_features[:, 1]
        after = model.tanet(changed).frame_features[:, 1]
    assert torch.equal(before, after) == (variant == "none")


def test_tam_position_does_not_move_i3d_or_nonlocal():
    for variant in ("i3d", "nonlocal"):
        keys = {
            position: list(TANetModel(tiny(temporal_module=variant, tam_position=position)).state_dict())
            for position in "abcd"
        }
        assert all(k == keys["b"] for k in keys.values()), variant


def test_pooling_is_the_mean_over_the_frames_that_exist():
    frames, kernel = 5, 3
    module = TANetTemporalPooling(tiny(num_frames=frames, tam_kernel_size=kernel), channels=6)
    x = torch.randn(2 * frames, 6, 3, 3, dtype=torch.float64)
    volume = x.view(2, frames, 6, 3, 3).transpose(1, 2)  # (B, C, T, H, W)
    expected = F.avg_pool3d(volume, (kernel, 1, 1), stride=1, padding=(1, 0, 0), count_include_pad=False)
    torch.testing.assert_close(module(x), expected.transpose(1, 2).reshape_as(x))


def test_tsm_shifts_an_eighth_of_the_channels_each_way_with_zeros_at_the_ends():
    module = TANetTemporalShift(tiny(), channels=16)
    x = torch.randn(2 * 4, 16, 3, 3)
    clip, out = x.view(2, 4, 16, 3, 3), module(x).view(2, 4, 16, 3, 3)
    torch.testing.assert_close(out[:, :-1, :2], clip[:, 1:, :2])  # channels 0-1 take frame t + 1
    torch.testing.assert_close(out[:, 1:, 2:4], clip[:, :-1, 2:4])  # channels 2-3 take frame t - 1
    assert out[:, -1, :2].abs().sum() == 0 and out[:, 0, 2:4].abs().sum() == 0
    torch.testing.assert_close(out[:, :, 4:], clip[:, :, 4:])


def test_tim_is_a_channelwise_conv3d_initialised_as_tsm():
    config = tiny()
    model = TANetModel(tiny(temporal_module="tim"))
    tim = model.encoder.stages[1].layers[0].tam
    assert isinstance(tim, TANetChannelwiseTemporalConv)
    x = torch.randn(2 * 4, tim.weight.shape[0], 5, 5, dtype=torch.float64)
    # Initialised as TSM: the same output as the shift.
    torch.testing.assert_close(tim.double()(x), TANetTemporalShift(config, tim.weight.shape[0])(x))
    with torch.no_grad():
        tim.weight.normal_()
    volume = x.view(2, 4, *x.shape[1:]).transpose(1, 2)
    conv = F.conv3d(volume, tim.weight[:, None, :, None, None], padding=(1, 0, 0), groups=tim.weight.shape[0])
    torch.testing.assert_close(tim(x), conv.transpose(1, 2).reshape_as(x))


def test_tconv_is_a_full_conv3d_and_randomly_initialised():
    model = TANetModel(tiny(temporal_module="tconv"))
    weights = [layer.tam.conv.weight for stage in model.encoder.stages for layer in stage.layers]
    assert all(w.shape[2:] == (3, 1, 1) and w.shape[0] == w.shape[1] for w in weights)
    assert all(w.std() > 0 for w in weights)


@pytest.mark.parametrize("layer_type", ["bottleneck", "basic"])
def test_i3d_is_conv1_inflated_to_three_taps_and_starts_as_c2d(layer_type):
    sizes = dict(hidden_sizes=[8, 16, 32, 64]) if layer_type == "basic" else {}
    i3d = TANetModel(tiny(temporal_module="i3d", layer_type=layer_type, **sizes)).double().eval()
    c2d = TANetModel(tiny(temporal_module="none", layer_type=layer_type, **sizes)).double().eval()
    report = c2d.load_state_dict(i3d.state_dict(), strict=False)
    assert all(".tam." in key for key in report.unexpected_keys) and not report.missing_keys
    x = clips(dtype=torch.float64)
    torch.testing.assert_close(i3d(x).last_hidden_state, c2d(x).last_hidden_state)  # zero outer taps: C2D
    randomize_temporal_parts_(i3d)
    block = i3d.encoder.stages[1].layers[0]
    assert isinstance(block.tam, TANetInflatedTaps)
    frames = torch.randn(2 * 4, block.conv1.in_channels, 8, 8, dtype=torch.float64)
    inflated = torch.stack([block.tam.weight[:, :, 0], block.conv1.weight, block.tam.weight[:, :, 1]], dim=2)
    volume = frames.view(2, 4, *frames.shape[1:]).transpose(1, 2)
    expected = F.conv3d(volume, inflated, stride=(1, *block.conv1.stride), padding=(1, *block.conv1.padding))
    torch.testing.assert_close(block._first_conv(frames), expected.transpose(1, 2).flatten(0, 1))


def test_nonlocal_is_attention_over_the_whole_clip_and_starts_as_identity():
    model = TANetModel(tiny(temporal_module="nonlocal", depths=[1, 2, 2, 1])).double().eval()
    blocks = [layer.tam for stage in model.encoder.stages for layer in stage.layers if layer.tam is not None]
    assert len(blocks) == 2  # the second block of stage2 and of stage3
    block = blocks[0]
    x = torch.randn(2 * 4, block.theta.in_channels, 3, 5, dtype=torch.float64)
    torch.testing.assert_close(block(x), x)  # zero-scaled BatchNorm
    randomize_temporal_parts_(block)
    with torch.no_grad():
        block.norm.running_var.fill_(1.0)
        block.norm.running_mean.zero_()

    def positions(layer):  # (B, C', T·H·W)
        return layer(x).view(2, 4, -1, 15).transpose(1, 2).flatten(2)

    theta, phi, g = positions(block.theta), positions(block.phi), positions(block.g)
    attention = torch.einsum("bci,bcj->bij", theta, phi).softmax(dim=-1)
    y = torch.einsum("bij,bcj->bci", attention, g).view(2, -1, 4, 3, 5).transpose(1, 2).flatten(0, 1)
    torch.testing.assert_close(block(x), x + block.norm(block.out(y)))


# ------------------------------------------------------------------------------------------- initialisation, saving


@torch.no_grad()
def test_imagenet_resnet_loads_into_every_variant_and_new_parts_keep_their_init():
    from torchvision.models import resnet18

    source = randomize_(resnet18(weights=None), seed=3).state_dict()
    frames = torch.randn(1, 2, 3, 64, 64)
    c2d = None
    for variant in VARIANTS:
        sizes = dict(layer_type="basic", hidden_sizes=[64, 128, 256, 512], depths=[2, 2, 2, 2])
        model = TANetModel(TANetConfig(temporal_module=variant, num_frames=2, **sizes)).eval()
        report = load_imagenet_resnet(model, source)  # strict: every ResNet tensor lands
        assert all(".tam." in name for name in report["missing"]), (variant, report["missing"])
        assert report["loaded"] and not report["unexpected"]
        for module in model.modules():
            if isinstance(module, TANetChannelwiseTemporalConv):
                assert torch.equal(module.weight, module.shift_initialisation(*module.weight.shape))
            if isinstance(module, TANetInflatedTaps):
                assert module.weight.abs().sum() == 0
            if isinstance(module, TANetNonLocal):
                assert module.norm.weight.abs().sum() == 0
        features = model(frames).frame_features
        if variant == "none":
            c2d = features
        if variant in ("i3d", "nonlocal"):  # both start as the ImageNet network
            torch.testing.assert_close(features, c2d)


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "tam"])
def test_every_variant_saves_and_loads_bit_exactly(variant, tmp_path):
    config = tiny(temporal_module=variant, depths=[1, 2, 2, 1])
    model = randomize_temporal_parts_(TANetForVideoClassification(config)).eval()
    model.save_pretrained(tmp_path)
    loaded = TANetForVideoClassification.from_pretrained(tmp_path).eval()
    assert loaded.config.temporal_module == variant
    x = clips()
    with torch.no_grad():
        assert torch.equal(model(x).logits, loaded(x).logits)


def test_new_variants_load_as_remote_code_without_the_package(tmp_path):
    expected = {}
    x = clips()
    for variant in ("tim", "i3d", "nonlocal", "global_se"):
        config = tiny(temporal_module=variant, depths=[1, 2, 2, 1])
        model = randomize_temporal_parts_(TANetForVideoClassification(config)).eval()
        model.save_pretrained(tmp_path / variant)
        with torch.no_grad():
            expected[variant] = model(x).logits
    torch.save({"x": x, **expected}, tmp_path / "io.pt")
    result = run_python_without_tanet_hf(
        f"""
        import torch
        from transformers import AutoModelForVideoClassification
        io = torch.load({str(tmp_path / "io.pt")!r}, weights_only=True)
        for variant in ("tim", "i3d", "nonlocal", "global_se"):
            folder = {str(tmp_path)!r} + "/" + variant
            model = AutoModelForVideoClassification.from_pretrained(folder, trust_remote_code=True).eval()
            assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
            with torch.no_grad():
                torch.testing.assert_close(model(io["x"]).logits, io[variant], rtol=1e-5, atol=1e-6)
            print("OK", variant)
        """,
        cwd=tmp_path,
    )
    assert result.stdout.count("OK") == 4


# -------------------------------------------------------------------------------------------- Θ and V out


def tam_count(model):
    return sum(isinstance(m, TANetTemporalAdaptiveModule) for m in model.modules())


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        dict(tam_implementation="reference"),
        dict(tam_order="global_first"),
        dict(tam_branches="global"),
        dict(tam_branches="local"),
        dict(tam_position="a"),
        dict(tam_position="d", tam_implementation="reference"),
        dict(temporal_module="global_se"),
        dict(temporal_module="global_se", tam_implementation="reference"),
    ],
    ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()) or "default",
)
def test_tam_weights_are_softmax_kernels_and_sigmoid_maps_the_forward_used(overrides):
    config = tiny(**overrides)
    model = TANetForVideoClassification(config).train()
    x = clips()
    out = model(x, output_tam_weights=True)
    assert len(out.tam_weights) == tam_count(model) == 4
    tams = [m for m in model.modules() if isinstance(m, TANetTemporalAdaptiveModule)]
    channels = [m.L[0].in_channels if m.L is not None else None for m in tams]
    has_global, has_local = config.tam_branches != "local", config.tam_branches != "global"
    for weights, width in zip(out.tam_weights, channels):
        assert (weights.kernel is not None) == has_global and (weights.importance is not None) == has_local
        if has_global:
            assert weights.kernel.shape[::2] == (2, 3)
            torch.testing.assert_close(weights.kernel.sum(dim=-1), torch.ones(weights.kernel.shape[:2]))
        if has_local:
            assert weights.importance.shape == (2, width, 4)
            assert weights.importance.min() > 0 and weights.importance.max() < 1
    # The tensors the forward used: the logits depend on every one of them.
    used = [t for w in out.tam_weights for t in (w.kernel, w.importance) if t is not None]
    gradients = torch.autograd.grad(out.logits.sum(), used)
    assert all(g.abs().sum() > 0 for g in gradients)
    assert all(m.recorded_weights is None and not m.record_weights for m in tams)


@torch.no_grad()
def test_tam_weights_agree_across_implementations_and_with_the_config_flag():
    fast = TANetModel(tiny(output_tam_weights=True)).double().eval()
    reference = TANetModel(tiny(tam_implementation="reference")).double().eval()
    reference.load_state_dict(fast.state_dict())
    x = clips(dtype=torch.float64)
    from_config, asked = fast(x).tam_weights, reference(x, output_tam_weights=True).tam_weights
    for a, b in zip(from_config, asked, strict=True):
        torch.testing.assert_close(a.kernel, b.kernel)
        torch.testing.assert_close(a.importance, b.importance)
    assert reference(x).tam_weights is None
    assert fast(x, output_tam_weights=False).tam_weights is None


@torch.no_grad()
def test_tam_weights_with_the_fused_cpu_kernels_fall_back_to_pytorch_with_the_same_logits():
    model = TANetForVideoClassification(tiny()).eval()
    x = clips()
    ops.KERNEL_CALLS.clear()
    fused = model(x).logits
    assert sum(ops.KERNEL_CALLS.values()) > 0  # the default path ran the fused operators
    ops.KERNEL_CALLS.clear()
    out = model(x, output_tam_weights=True)
    assert sum(ops.KERNEL_CALLS.values()) == 0  # recording runs the PyTorch forward
    torch.testing.assert_close(out.logits, fused, rtol=1e-5, atol=1e-6)
    assert len(out.tam_weights) == 4 and all(w.kernel is not None for w in out.tam_weights)


def test_models_without_tams_return_no_tam_weights():
    out = TANetModel(tiny(temporal_module="tim"))(clips(), output_tam_weights=True)
    assert out.tam_weights == ()
