# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""The TAMs of a TANet alone: time, profile and ablate the fast formulation against the release's.

Every TAM of the network is fed a tensor of exactly the shape it sees in the full model (found by running the
model on the meta device), and a set of variants — the fast formulation, the reference formulation, the fast
formulation with one of its optimisations taken out, optionally the TAM of another version of
`modeling_tanet.py` — run interleaved, round by round, in inference and as forward + backward. Times are this
process's CPU time (steadier than wall time on a shared machine) and wall time; best and median over rounds.

Usage:

    python benchmarks/bench_tam.py --threads 1                              # all variants, both modes
    python benchmarks/bench_tam.py --profile fast:train                     # torch.profiler table of one case
    git show f0f8a2e:src/tanet_hf/modeling_tanet.py > /tmp/modeling_old.py
    python benchmarks/bench_tam.py --baseline-file /tmp/modeling_old.py     # add an older TAM as "baseline"
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from tanet_hf import TANetConfig, TANetModel, TANetTemporalAdaptiveModule
from tanet_hf.modeling_tanet import TANetTemporalAggregation, shift_accumulate


class WithoutCustomBackward(TANetTemporalAdaptiveModule):
    """Fast TAM with autograd through the in-place `addcmul_` accumulation instead of the custom backward."""

    def _fast(self, clips: torch.Tensor, **_ignored) -> torch.Tensor:
        height, width = clips.shape[-2:]
        squeezed = clips.sum(dim=(3, 4)) / (height * width)
        weights = self._position_weights(self._global_kernel(squeezed), self._local_importance(squeezed))
        return shift_accumulate(clips, weights.to(clips.dtype))


class WithMeanSqueeze(TANetTemporalAdaptiveModule):
    """Fast TAM squeezing with `mean` (whose backward materialises a full-size division) instead of `sum / HW`."""

    def _fast(self, clips: torch.Tensor, **_ignored) -> torch.Tensor:
        squeezed = clips.mean(dim=(3, 4))
        weights = self._position_weights(self._global_kernel(squeezed), self._local_importance(squeezed))
        return TANetTemporalAggregation.apply(clips, weights.to(clips.dtype))


class WithConv1dLocalBranch(TANetTemporalAdaptiveModule):
    """Fast TAM calling the local branch's `Conv1d` modules on `(B, C, T)` instead of two matrix products."""

    def _local_importance(self, squeezed: torch.Tensor) -> torch.Tensor:
        return self.L(squeezed.transpose(1, 2)).transpose(1, 2)


class WithModuleGlobalBranch(TANetTemporalAdaptiveModule):
    """Fast TAM calling the global branch's modules on `(B·C, T)` rows instead of left matrix products."""

    def _global_kernel(self, squeezed: torch.Tensor) -> torch.Tensor:
        batch, num_frames, channels = squeezed.shape
        rows = squeezed.transpose(1, 2).reshape(-1, num_frames)
        return self.G(rows).view(batch, channels, self.kernel_size).transpose(1, 2)


VARIANTS: dict[str, tuple[type[TANetTemporalAdaptiveModule], str]] = {  # name → (class, implementation)
    "fast": (TANetTemporalAdaptiveModule, "fast"),
    "reference": (TANetTemporalAdaptiveModule, "reference"),
    "fast-without-custom-backward": (WithoutCustomBackward, "fast"),
    "fast-with-mean-squeeze": (WithMeanSqueeze, "fast"),
    "fast-with-conv1d-local": (WithConv1dLocalBranch, "fast"),
    "fast-with-module-global": (WithModuleGlobalBranch, "fast"),
}


def load_baseline(path: Path) -> type[torch.nn.Module]:
    """`TANetTemporalAdaptiveModule` of another version of `modeling_tanet.py` (its relative imports made absolute)."""
    source = path.read_text().replace("from .", "from tanet_hf.")
    module = types.ModuleType("tam_baseline")
    module.__file__ = str(path)
    sys.modules[module.__name__] = module  # dataclasses look their module up while it executes
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module.TANetTemporalAdaptiveModule


def tam_input_shapes(config: TANetConfig, batch_size: int, image_size: int) -> list[tuple[int, ...]]:
    """Shapes `(B·T, C, H, W)` of the inputs of every TAM of the network, in order (computed on the meta device)."""
    with torch.device("meta"):
        model = TANetModel(config)
    shapes: list[tuple[int, ...]] = []
    for module in model.modules():
        if isinstance(module, TANetTemporalAdaptiveModule):
            module.register_forward_pre_hook(lambda _module, args: shapes.append(tuple(args[0].shape)))
    with torch.no_grad():
        model(torch.empty(batch_size, config.num_frames, config.num_channels, image_size, image_size, device="meta"))
    return shapes


def retain_freed_memory() -> None:
    """glibc: serve every block from a never-trimmed heap, so that timings do not include page-fault storms."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
        for option, value in ((-3, 32 * 2**20), (-1, 2**31 - 1), (-4, 0)):  # MMAP_THRESHOLD, TRIM_THRESHOLD, MMAP_MAX
            mallopt(option, value)
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--baseline-file", type=Path, help="a modeling_tanet.py whose TAM joins as 'baseline'")
    parser.add_argument("--modes", nargs="+", choices=["inference", "train"], default=["inference", "train"])
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--num-frames", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--depths", type=int, nargs="+", default=[3, 4, 6, 3])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--channels-last", action="store_true", help="feed channels-last inputs")
    parser.add_argument("--profile", metavar="VARIANT:MODE", help="also print a torch.profiler table of one case")
    parser.add_argument("--malloc", choices=["retain", "default"], default="retain", help="as in bench_model.py")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.malloc == "retain":
        retain_freed_memory()

    config = TANetConfig(num_frames=args.num_frames, depths=args.depths)
    shapes = tam_input_shapes(config, args.batch_size, args.image_size)
    generator = torch.Generator().manual_seed(0)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    inputs = [
        torch.randn(shape, generator=generator).clamp_min(0).contiguous(memory_format=memory_format) for shape in shapes
    ]
    grads = [torch.randn(shape, generator=generator) for shape in shapes]

    classes = {name: VARIANTS[name] for name in args.variants}
    if args.baseline_file:
        classes["baseline"] = (load_baseline(args.baseline_file), "fast")
    modules: dict[str, list[torch.nn.Module]] = {}
    for name, (cls, implementation) in classes.items():
        torch.manual_seed(0)
        modules[name] = [cls(config, shape[1]) for shape in shapes]
        for module in modules[name]:
            module.implementation = implementation

    def inference(tams: list[torch.nn.Module]) -> None:
        with torch.inference_mode():
            for tam, x in zip(tams, inputs):
                tam.eval()(x)

    def train(tams: list[torch.nn.Module]) -> None:
        for tam, x, grad in zip(tams, inputs, grads):
            tam.train()(x.detach().requires_grad_()).backward(grad)
            tam.zero_grad(set_to_none=True)

    runs: dict[str, Callable[[list[torch.nn.Module]], None]] = {"inference": inference, "train": train}
    print(
        f"{len(shapes)} TAMs, inputs {shapes[0]} … {shapes[-1]}, {torch.get_num_threads()} threads, "
        f"{args.rounds} rounds, {'channels-last' if args.channels_last else 'contiguous'}"
    )
    print("| mode | variant | CPU ms best | CPU ms median | wall ms median |")
    print("|---|---|---:|---:|---:|")
    names = list(modules)
    for mode in args.modes:
        cpu: dict[str, list[float]] = {name: [] for name in names}
        wall: dict[str, list[float]] = {name: [] for name in names}
        for name in names:  # warm-up
            runs[mode](modules[name])
        for round_index in range(args.rounds):
            offset = round_index % len(names)
            for name in names[offset:] + names[:offset]:
                start, start_cpu = time.perf_counter(), time.process_time()
                runs[mode](modules[name])
                cpu[name].append(1e3 * (time.process_time() - start_cpu))
                wall[name].append(1e3 * (time.perf_counter() - start))
        for name in names:
            print(
                f"| {mode} | {name} | {min(cpu[name]):.1f} | {statistics.median(cpu[name]):.1f} "
                f"| {statistics.median(wall[name]):.1f} |"
            )
    if args.profile:
        name, mode = args.profile.split(":")
        runs[mode](modules[name])
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            runs[mode](modules[name])
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
    return 0


if __name__ == "__main__":
    sys.exit(main())
