# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""How often `torch.compile(model, dynamic=True)` with Inductor compiles TANet and C2D over batch sizes 2–6.

A user who compiles the model for training or serving feeds it batches of varying size (the last batch of an epoch,
a serving queue). Every new Dynamo graph is a full Inductor compilation (tens of seconds for a ResNet-50), so the
count matters more than any kernel's speed. For each network (`tanet`: the default TAM; `c2d`:
`temporal_module="none"`) and mode (`train`: forward with labels + backward; `inference`: eval mode under
`torch.no_grad`) the script compiles once, calls the compiled model on batches 2, 3, 4, 5, 6 (in that order) and
reports the number of compilations (distinct Dynamo compile ids; a restarted attempt within one id is not a second
compilation), at which batch sizes, the seconds of each first call, and the
`tanet_hf` operators the graphs call (the fused CPU kernels, when they are installed and the device is the CPU).
`config.problem_type` is set before the first call: transformers' loss sets it on the first call, which would
otherwise recompile once more for any model.

Usage:

    python benchmarks/bench_compile.py                                  # CPU Inductor, `--arch tiny` at 32²
    python benchmarks/bench_compile.py --device cuda --arch r50 --image-size 224
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

# Cold compilations: a fresh Inductor cache per run (a warm cache from an earlier run would hide the compile time).
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="bench_compile_inductor_"))

import torch  # noqa: E402

from tanet_hf import TANetConfig, TANetForVideoClassification  # noqa: E402
from tanet_hf.registry import ARCHITECTURES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_model import describe_machine  # noqa: E402  (one description of the machine for every benchmark)

NETWORKS = {"tanet": {}, "c2d": {"temporal_module": "none"}}
BATCH_SIZES = (2, 3, 4, 5, 6)


class CountingInductor:
    """
    A `torch.compile` backend that hands every Dynamo graph to Inductor and records it with its compile id.
    Compilations are the distinct compile ids (`frame/recompile`, e.g. `0/0`, `0/1`): Dynamo may call the backend twice
    for one id when Inductor's first attempt specialises a symbolic size and Dynamo restarts the analysis to install
    the guard (the second attempt hits Inductor's cache); `attempts` counts those calls.
    """

    def __init__(self):
        self.graphs: list[torch.fx.GraphModule] = []
        self.compile_ids: list[str] = []

    def __call__(self, graph_module: torch.fx.GraphModule, example_inputs):
        from torch._guards import CompileContext
        from torch._inductor.compile_fx import compile_fx

        self.graphs.append(graph_module)
        self.compile_ids.append(str(CompileContext.current_compile_id()))
        return compile_fx(graph_module, example_inputs)

    @property
    def compilations(self) -> int:
        return len(set(self.compile_ids))

    def tanet_operators(self) -> list[str]:
        targets = {str(node.target) for graph in self.graphs for node in graph.graph.nodes}
        return sorted(t.removesuffix(".default") for t in targets if t.startswith("tanet_hf."))


def count_compilations(model: TANetForVideoClassification, mode: str, args: argparse.Namespace) -> dict:
    """Compile `model` once and call it on every batch size; return the graph count and per-batch seconds."""
    torch._dynamo.reset()
    backend = CountingInductor()
    model.config.problem_type = "single_label_classification"
    dynamic = {"true": True, "batch": None, "auto": None}[args.dynamic]
    compiled = torch.compile(model.train(mode == "train"), backend=backend, dynamic=dynamic)
    device = torch.device(args.device)
    calls = []
    for batch in BATCH_SIZES:
        pixel_values = torch.randn(batch, args.num_frames, 3, args.image_size, args.image_size, device=device)
        labels = torch.arange(batch, device=device) % model.config.num_labels
        if args.dynamic == "batch":  # the batch dimension symbolic from the first call on (guards may still narrow it)
            torch._dynamo.maybe_mark_dynamic(pixel_values, 0)
            torch._dynamo.maybe_mark_dynamic(labels, 0)
        before = backend.compilations
        start = time.perf_counter()
        if mode == "train":
            compiled(pixel_values, labels=labels).loss.backward()
        else:
            with torch.no_grad():
                compiled(pixel_values)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        calls.append(
            {"batch": batch, "seconds": time.perf_counter() - start, "new_graphs": backend.compilations - before}
        )
        model.zero_grad(set_to_none=True)
    torch._dynamo.reset()
    return {
        "graphs": backend.compilations,
        "compile_ids": backend.compile_ids,
        "calls": calls,
        "tanet_operators": backend.tanet_operators(),
    }


def run_benchmark(args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {}
    for name in args.networks:
        overrides = NETWORKS[name]
        config = TANetConfig(**{**ARCHITECTURES[args.arch], **overrides}, num_frames=args.num_frames, num_labels=5)
        for mode in args.modes:
            model = TANetForVideoClassification(config).to(device)
            try:
                results[f"{name}/{mode}"] = count_compilations(model, mode, args)
            except Exception as error:  # a compiler failure is a result to report, and must not lose the others
                torch._dynamo.reset()
                message = str(error).strip().splitlines()
                results[f"{name}/{mode}"] = {"error": f"{type(error).__name__}: {message[0] if message else ''}"}
            print(f"{name}/{mode}: {results[f'{name}/{mode}']}", file=sys.stderr, flush=True)
    return {
        "benchmark": "bench_compile",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": args.command,
        "machine": describe_machine(device),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "command"},
        "batch_sizes": list(BATCH_SIZES),
        "results": results,
    }


def format_table(record: dict) -> str:
    lines = [
        "| network / mode | compilations over batch 2–6 | new one at batch | backend calls (ids) "
        "| first-call seconds per batch | tanet_hf ops |",
        "|---|---|---|---|---|---|",
    ]
    for key, result in record["results"].items():
        if "error" in result:
            lines.append(f"| {key} | failed: {result['error'][:160]} | | | | |")
            continue
        new_at = ", ".join(str(c["batch"]) for c in result["calls"] if c["new_graphs"]) or "—"
        seconds = " / ".join(f"{c['seconds']:.1f}" for c in result["calls"])
        ops = ", ".join(result["tanet_operators"]) or "—"
        ids = f"{len(result['compile_ids'])} ({' '.join(result['compile_ids'])})"
        lines.append(f"| {key} | {result['graphs']} | {new_at} | {ids} | {seconds} | {ops} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--arch", default="tiny", choices=list(ARCHITECTURES))
    parser.add_argument("--num-frames", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--modes", nargs="+", choices=["train", "inference"], default=["train", "inference"])
    parser.add_argument("--networks", nargs="+", choices=list(NETWORKS), default=list(NETWORKS))
    parser.add_argument(
        "--dynamic",
        choices=["true", "batch", "auto"],
        default="true",
        help="true: torch.compile(dynamic=True), every dimension symbolic; batch: torch._dynamo.maybe_mark_dynamic "
        "on the batch dimension of every input (only it symbolic); auto: Dynamo's default (static first, then automatic "
        "dynamic shapes on the dimensions that changed)",
    )
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--output", type=Path, help="JSON path (default: benchmarks/results/compile_<device>.json)")
    args = parser.parse_args(argv)
    args.command = " ".join([Path(__file__).name, *(sys.argv[1:] if argv is None else argv)])  # what made the record
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device!r}: CUDA is not available on this machine")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    record = run_benchmark(args)
    table = format_table(record)
    machine = record["machine"]
    print(f"{machine.get('gpu') or machine['cpu']} · torch {machine['torch']} · {record['date']} · {record['command']}")
    print(table)
    output = args.output or ROOT / "benchmarks" / "results" / f"compile_{torch.device(args.device).type}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({**record, "table": table}, indent=2) + "\n")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
