# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Where TANet's time goes next to C2D's: `torch.profiler` over a few iterations of each network.

For each network (`tanet`, `c2d`), mode (`inference`, `train`) and setting (`eager` fp32; `compiled`:
bf16 autocast + channels_last + `torch.compile`) it reports, per iteration: wall time, the summed device time of the
kernels (CUDA) or of the top-level operators (CPU), the number of kernels launched, and the operators with the most
device time. Wall time well above the kernels' time means the iteration waits on the host (Python and launch
overhead); kernels' time above C2D's means the GPU work itself costs more. Writes the tables and a JSON record.

    python benchmarks/profile_model.py --device cuda --output profile.json     # ~2-3 min on one GPU (2 compilations)
    python benchmarks/profile_model.py --device cpu --depths 1 1 1 1 --hidden-sizes 16 32 64 128 --image-size 32
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from tanet_hf import TANetConfig, TANetForVideoClassification

NETWORKS = {"tanet": {}, "c2d": {"temporal_module": "none"}}


def iteration(model, pixel_values, labels, mode: str, autocast: bool):
    """One inference forward or one training forward + backward, optionally under bf16 autocast."""
    device_type = pixel_values.device.type
    context = torch.autocast(device_type, dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    if mode == "inference":
        with torch.inference_mode(), context:
            model(pixel_values)
    else:
        with context:
            loss = model(pixel_values, labels=labels).loss
        loss.backward()


def profile_one(model, forward, pixel_values, labels, mode: str, args, autocast: bool) -> dict:
    device = pixel_values.device
    model.train(mode == "train")
    for _ in range(args.warmup):
        iteration(forward, pixel_values, labels, mode, autocast)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        for _ in range(args.iterations):
            iteration(forward, pixel_values, labels, mode, autocast)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    wall = (time.perf_counter() - start) / args.iterations
    events = prof.key_averages()
    if device.type == "cuda":
        kernels = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
        device_us = sum(e.self_device_time_total for e in kernels) / args.iterations
        launches = sum(e.count for e in kernels) / args.iterations
        top = sorted(kernels, key=lambda e: e.self_device_time_total, reverse=True)[: args.top]
        rows = [(e.key[:90], e.self_device_time_total / args.iterations, e.count / args.iterations) for e in top]
    else:
        ops = [e for e in events if e.device_type == torch.autograd.DeviceType.CPU]
        device_us = sum(e.self_cpu_time_total for e in ops) / args.iterations
        launches = sum(e.count for e in ops) / args.iterations
        top = sorted(ops, key=lambda e: e.self_cpu_time_total, reverse=True)[: args.top]
        rows = [(e.key[:90], e.self_cpu_time_total / args.iterations, e.count / args.iterations) for e in top]
    return {"wall_ms": wall * 1e3, "device_ms": device_us / 1e3, "launches": launches, "top": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-frames", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--depths", type=int, nargs="+", default=[3, 4, 6, 3])
    parser.add_argument("--hidden-sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--settings", nargs="+", choices=["eager", "compiled"], default=["eager", "compiled"])
    parser.add_argument("--modes", nargs="+", choices=["inference", "train"], default=["inference", "train"])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)
    size = args.image_size
    pixel_values = torch.randn(args.batch_size, args.num_frames, 3, size, size, device=device)
    labels = torch.randint(400, (args.batch_size,), device=device)
    record = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "results": {}}
    for setting in args.settings:
        for name, overrides in NETWORKS.items():
            config = TANetConfig(
                **overrides,
                num_frames=args.num_frames,
                depths=args.depths,
                hidden_sizes=args.hidden_sizes,
                num_labels=400,
            )
            config.problem_type = "single_label_classification"
            model = TANetForVideoClassification(config).to(device)
            inputs = pixel_values
            if setting == "compiled":
                model = model.to(memory_format=torch.channels_last)
                frames = pixel_values.flatten(0, 1).contiguous(memory_format=torch.channels_last)
                inputs = frames.view_as(pixel_values)
            forward = torch.compile(model) if setting == "compiled" else model
            for mode in args.modes:
                result = profile_one(model, forward, inputs, labels, mode, args, autocast=setting == "compiled")
                key = f"{setting}/{mode}/{name}"
                record["results"][key] = result
                print(
                    f"\n## {key}: wall {result['wall_ms']:.2f} ms/it, kernels {result['device_ms']:.2f} ms/it, "
                    f"{result['launches']:.0f} launches/it",
                    flush=True,
                )
                for op, us, count in result["top"]:
                    print(f"  {us / 1e3:8.3f} ms  ×{count:6.1f}  {op}")
    if args.output:
        args.output.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
