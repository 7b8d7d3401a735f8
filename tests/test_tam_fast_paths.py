"""The fast TAM's own code paths, held to independent definitions.

`tests/test_modeling.py` compares the fast TAM with the release's formulation end to end; here each piece the fast
path adds is tested on its own: the temporal aggregation's hand-written backward (against autograd through a loop
written from the paper's equation, `gradcheck`, `gradgradcheck`, the adjoint identity), the matrix-product branches
(against the `Linear`/`Conv1d` modules whose weights they use, BatchNorm statistics included), what the backward
keeps alive, memory formats, low precision and compilation.
"""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import tiny_config_kwargs
from torch import nn

from tanet_hf import TANetConfig, TANetTemporalAdaptiveModule
from tanet_hf.modeling_tanet import TANetTemporalAggregation, transpose_shift_weights


def aggregation_by_loops(clips: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """`Y[:, t] = Σ_k W[:, t, k] ⊙ X[:, t + k - K//2]`, zeros outside the clip, out of place (autograd-friendly)."""
    num_frames, kernel_size = clips.shape[1], weights.shape[2]
    frames = []
    for t in range(num_frames):
        frame = torch.zeros_like(clips[:, 0])
        for k in range(kernel_size):
            source = t + k - kernel_size // 2
            if 0 <= source < num_frames:
                frame = frame + weights[:, t, k, :, None, None] * clips[:, source]
        frames.append(frame)
    return torch.stack(frames, dim=1)


def random_pair(batch=2, frames=4, kernel=3, channels=3, height=4, width=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    clips = torch.randn(batch, frames, channels, height, width, generator=g, dtype=dtype)
    weights = torch.randn(batch, frames, kernel, channels, generator=g, dtype=dtype)
    return clips, weights


def tiny_tam(channels=16, **overrides) -> TANetTemporalAdaptiveModule:
    torch.manual_seed(0)
    config = TANetConfig(**tiny_config_kwargs(**overrides))
    tam = TANetTemporalAdaptiveModule(config, channels).double()
    for module in tam.modules():  # non-trivial BatchNorm state
        if isinstance(module, nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    return tam


# ------------------------------------------------------------------------------------ the temporal aggregation


@pytest.mark.parametrize("frames, kernel", [(4, 3), (8, 3), (1, 3), (2, 5), (3, 5), (5, 1), (8, 7)])
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_aggregation_and_its_backward_match_autograd_on_the_equation(frames, kernel, channels_last):
    clips, weights = random_pair(frames=frames, kernel=kernel, seed=frames * 10 + kernel)
    if channels_last:  # what a channels-last (B*T, C, H, W) feature looks like once viewed as (B, T, C, H, W)
        flat = clips.flatten(0, 1).contiguous(memory_format=torch.channels_last)
        clips = flat.view_as(clips)
    grad_out = torch.randn_like(clips)

    x1, w1 = clips.clone().requires_grad_(), weights.clone().requires_grad_()
    y1 = TANetTemporalAggregation.apply(x1, w1)
    y1.backward(grad_out)
    x2, w2 = clips.clone().requires_grad_(), weights.clone().requires_grad_()
    y2 = aggregation_by_loops(x2, w2)
    y2.backward(grad_out)

    torch.testing.assert_close(y1, y2, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(w1.grad, w2.grad, rtol=1e-12, atol=1e-12)
    if channels_last:
        assert y1.flatten(0, 1).is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("frames, kernel", [(3, 3), (2, 5), (4, 1)])
def test_aggregation_gradcheck_and_gradgradcheck(frames, kernel):
    clips, weights = random_pair(batch=2, frames=frames, kernel=kernel, channels=2, height=2, width=3)
    inputs = (clips.requires_grad_(), weights.requires_grad_())
    assert torch.autograd.gradcheck(TANetTemporalAggregation.apply, inputs)
    assert torch.autograd.gradgradcheck(TANetTemporalAggregation.apply, inputs)


@pytest.mark.parametrize("frames, kernel", [(4, 3), (6, 5), (2, 5)])
def test_transposed_weights_give_the_adjoint(frames, kernel):
    """⟨A_W x, y⟩ = ⟨x, A_W' y⟩ for the aggregation A_W and the weights W' used by its backward."""
    x, weights = random_pair(frames=frames, kernel=kernel, seed=1)
    y = torch.randn_like(x)
    lhs = (TANetTemporalAggregation.apply(x, weights) * y).sum()
    rhs = (x * TANetTemporalAggregation.apply(y, transpose_shift_weights(weights))).sum()
    torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=1e-12)


def test_broadcast_weights_get_reduced_gradients():
    """The global-only TAM passes Θ expanded over T (a stride-0 view); its gradient must sum over frames."""
    clips, weights = random_pair(frames=5, seed=2)
    kernel = weights[:, :1].clone().requires_grad_()
    TANetTemporalAggregation.apply(clips, kernel.expand_as(weights)).sum().backward()
    expected_kernel = kernel.detach().clone().requires_grad_()
    aggregation_by_loops(clips, expected_kernel.expand_as(weights)).sum().backward()
    torch.testing.assert_close(kernel.grad, expected_kernel.grad, rtol=1e-12, atol=1e-12)


def test_backward_keeps_only_the_input_and_the_small_weights():
    """The fast TAM runs its aggregation through the custom Function and keeps no full-size tensor but its input."""
    tam = tiny_tam(num_frames=4).float().train()
    hidden = torch.randn(2 * 4, 16, 12, 12, requires_grad=True)
    full_size = hidden.numel()
    saved_full_size: list[int] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.numel() >= full_size:
            saved_full_size.append(tensor.untyped_storage().data_ptr())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = tam(hidden)
    assert set(saved_full_size) == {hidden.untyped_storage().data_ptr()}
    assert type(out.grad_fn).__name__ == "ViewBackward0"
    assert type(out.grad_fn.next_functions[0][0]).__name__ == "TANetTemporalAggregationBackward"
    out.sum().backward()
    assert hidden.grad.shape == hidden.shape


# ----------------------------------------------------------------------------------------- the local branch


@pytest.mark.parametrize("local_kernel, beta", [(3, 4), (1, 2), (5, 4)])
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_local_branch_as_matmuls_equals_the_conv1d_modules(local_kernel, beta, training):
    tam = tiny_tam(num_frames=6, tam_local_kernel_size=local_kernel, tam_beta=beta).train(training)
    as_modules = copy.deepcopy(tam)
    squeezed = torch.randn(3, 16, 6, dtype=torch.float64)  # s: (B, C, T)

    s1 = squeezed.clone().requires_grad_()
    v1 = tam._local_importance(s1.transpose(1, 2))  # (B, T, C)
    s2 = squeezed.clone().requires_grad_()
    v2 = as_modules.L(s2).transpose(1, 2)
    torch.testing.assert_close(v1, v2, rtol=1e-12, atol=1e-12)

    grad = torch.randn_like(v1)
    v1.backward(grad)
    v2.backward(grad)
    torch.testing.assert_close(s1.grad, s2.grad, rtol=1e-12, atol=1e-12)
    for (name, p), q in zip(tam.L.named_parameters(), as_modules.L.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-12, msg=name)
    for (name, b), c in zip(tam.L.named_buffers(), as_modules.L.buffers()):
        torch.testing.assert_close(b, c, rtol=1e-12, atol=1e-12, msg=name)  # BatchNorm running statistics


@pytest.mark.parametrize("frames, kernel, alpha", [(8, 3, 2), (4, 5, 3), (3, 1, 2)])
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_global_branch_as_matmuls_equals_the_linear_modules(frames, kernel, alpha, training):
    tam = tiny_tam(num_frames=frames, tam_kernel_size=kernel, tam_alpha=alpha).train(training)
    as_modules = copy.deepcopy(tam)
    squeezed = torch.randn(3, 16, frames, dtype=torch.float64)  # s: (B, C, T)

    s1 = squeezed.clone().requires_grad_()
    theta1 = tam._global_kernel(s1.transpose(1, 2))  # (B, K, C)
    s2 = squeezed.clone().requires_grad_()
    theta2 = as_modules.G(s2.reshape(-1, frames)).view(3, 16, kernel).transpose(1, 2)  # rows (B·C, T) as released
    torch.testing.assert_close(theta1, theta2, rtol=1e-12, atol=1e-12)

    grad = torch.randn_like(theta1)
    theta1.backward(grad)
    theta2.backward(grad)
    torch.testing.assert_close(s1.grad, s2.grad, rtol=1e-12, atol=1e-12)
    for (name, p), q in zip(tam.G.named_parameters(), as_modules.G.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-12, msg=name)
    for (name, b), c in zip(tam.G.named_buffers(), as_modules.G.buffers()):
        torch.testing.assert_close(b, c, rtol=1e-12, atol=1e-12, msg=name)  # BatchNorm running statistics


# ------------------------------------------------------------------------------ defaults, formats, precision


def test_fast_formulation_is_the_default():
    assert TANetConfig().tam_implementation == "fast"
    assert TANetTemporalAdaptiveModule(TANetConfig(), 64).implementation == "fast"


def test_channels_last_gradients_equal_contiguous_ones():
    tam = tiny_tam(num_frames=4).float().train()
    hidden = torch.randn(8, 16, 6, 7)
    results = []
    for memory_format in (torch.contiguous_format, torch.channels_last):
        module = copy.deepcopy(tam)
        x = hidden.clone(memory_format=memory_format).requires_grad_()
        y = module(x)
        assert y.is_contiguous(memory_format=memory_format)
        y.backward(torch.linspace(-1, 1, y.numel()).view_as(y))
        results.append((y, x.grad, [p.grad for p in module.parameters()]))
    (y1, dx1, grads1), (y2, dx2, grads2) = results
    torch.testing.assert_close(y2, y1)
    torch.testing.assert_close(dx2, dx1)
    for g1, g2 in zip(grads1, grads2):
        torch.testing.assert_close(g2, g1)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_forward_and_backward_stay_close_to_float32(dtype):
    tam = tiny_tam(num_frames=4).float().train()
    hidden = torch.randn(8, 16, 6, 6).abs()
    x32 = hidden.clone().requires_grad_()
    y32 = tam(x32)
    y32.square().sum().backward()
    xlow = hidden.to(dtype).requires_grad_()
    with torch.autocast("cpu", dtype=dtype):
        ylow = copy.deepcopy(tam)(xlow)
    assert ylow.dtype == dtype
    ylow.float().square().sum().backward()
    assert xlow.grad.dtype == dtype
    torch.testing.assert_close(ylow.float(), y32.detach(), rtol=3e-2, atol=3e-2)
    cosine = nn.functional.cosine_similarity(xlow.grad.float().flatten(), x32.grad.flatten(), dim=0)
    assert cosine > 0.99


def test_compiles_as_one_graph_with_the_same_gradients():
    torch._dynamo.reset()
    tam = tiny_tam(num_frames=4).float().train()
    compiled = torch.compile(copy.deepcopy(tam), backend="aot_eager", fullgraph=True)
    x1 = torch.randn(8, 16, 5, 5, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    y1, y2 = tam(x1), compiled(x2)
    torch.testing.assert_close(y2, y1)
    y1.square().sum().backward()
    y2.square().sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad)
