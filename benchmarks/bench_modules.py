# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""The paper's Table 2 in miniature: every temporal module in the same backbone, trained on the same synthetic
motion data with one recipe and the same seeds, side by side.

For each `temporal_module` the config accepts (TAM, C2D and, where the model has them, pooling, TConv, TIM, I3D, TSM,
non-local, global branch + SE) the script reports

- parameters and GMACs of the trained model (`--arch`, `--num-frames` × `--size`², the task's classes) and of the
  paper's setting (ResNet-50, one 8 × 256² view, 400 classes: Table 2's columns), counted with `tanet_hf.flops.count_macs`;
- CPU time per training step (forward with labels, backward, AdamW step) of the trained model on a random batch of
  `--batch-size` clips, the median over `--timing-steps` steps, all modules timed round-robin so that background
  load hits them alike;
- held-out accuracy: top-1 on the test split with the recipe's multi-view protocol, mean ± sample standard deviation
  over the seeds (and every seed's value in the JSON).

Training runs `examples/train.py` as a subprocess, one run per (module, seed), on one dataset generated once
(`tanet-hf make-synthetic --task ...`); the only place that knows the training script's flags is `train_module`.
Every run writes a JSON record under `benchmarks/results/` (a new file each time); `--write` also writes the table
to `benchmarks/RESULTS_modules.md`.

Usage:

    python benchmarks/bench_modules.py --timing-steps 5 --write   # the full run (about 30 min on 2 cores)
    python benchmarks/bench_modules.py --modules tam none --seeds 0 --max-steps 20 --train-per-class 8 \\
        --test-per-class 4 --timing-steps 3 --skip-paper-counts   # smoke run (~2 min)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import typing
from pathlib import Path

import torch

from tanet_hf import TANetConfig, TANetForVideoClassification
from tanet_hf.flops import count_macs
from tanet_hf.registry import ARCHITECTURES
from tanet_hf.synthetic import TASKS, SyntheticMotionConfig, generate_synthetic_motion_dataset

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
RESULTS_FILE = ROOT / "benchmarks" / "RESULTS_modules.md"
PAPER_SIZE = 256  # Table 2 counts one 8 × 256² view
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_model import describe_machine  # noqa: E402  (one description of the machine for every benchmark)


def temporal_modules() -> list[str]:
    """Every `temporal_module` value `TANetConfig` accepts, in its declared order."""
    return list(typing.get_args(TANetConfig.__annotations__["temporal_module"]))


def train_module(module: str, seed: int, data: Path, output_dir: Path, args: argparse.Namespace) -> dict:
    """
    Train one model with the training script and return its `eval_results.json` (single- and multi-view metrics).
    The one function coupled to `examples/train.py`'s command line: adapt it here when the flags change.
    """
    command = [
        sys.executable, str(ROOT / "examples" / "train.py"),
        "--dataset", str(data), "--recipe", "synthetic", "--arch", args.arch, "--num_frames", str(args.num_frames),
        "--temporal_module", module, "--seed", str(seed), "--output_dir", str(output_dir),
        "--per_device_train_batch_size", str(args.batch_size), "--max_steps", str(args.max_steps),
        "--dataloader_num_workers", str(args.num_workers), "--cache_dir", str(output_dir.parent / "hf_cache"),
        "--short_side_size", str(args.size), "--crop_size", str(args.size),
        "--eval_strategy", "no", "--save_strategy", "no", "--report_to", "none",
        "--logging_steps", str(max(args.max_steps // 4, 1)), "--run_name", f"{module}-{seed}",
    ]  # fmt: skip
    log = output_dir.with_suffix(".log")
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    with log.open("w") as handle:
        finished = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    if finished.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-20:])
        raise RuntimeError(f"training {module} (seed {seed}) failed with exit code {finished.returncode}:\n{tail}")
    return json.loads((output_dir / "eval_results.json").read_text())


def build(module: str, arch: dict, num_frames: int, num_labels: int) -> TANetForVideoClassification:
    return TANetForVideoClassification(
        TANetConfig(**arch, temporal_module=module, num_frames=num_frames, num_labels=num_labels)
    )


def count(model: TANetForVideoClassification, size: int) -> dict:
    """Parameters and GMACs of one clip `(1, T, 3, size, size)`."""
    clip = torch.zeros(1, model.config.num_frames, 3, size, size)
    return {"params": model.num_parameters(), "gmacs": count_macs(model, clip) / 1e9}


def time_training_steps(models: dict[str, TANetForVideoClassification], args: argparse.Namespace) -> dict[str, float]:
    """Median seconds of one training step per module, the modules interleaved step by step."""
    torch.manual_seed(0)
    pixel_values = torch.randn(args.batch_size, args.num_frames, 3, args.size, args.size)
    labels = torch.randint(0, next(iter(models.values())).config.num_labels, (args.batch_size,))
    optimizers = {name: torch.optim.AdamW(model.parameters(), lr=1e-3) for name, model in models.items()}

    def step(name: str) -> float:
        start = time.perf_counter()
        loss = models[name](pixel_values, labels=labels).loss
        loss.backward()
        optimizers[name].step()
        optimizers[name].zero_grad(set_to_none=True)
        return time.perf_counter() - start

    for name in models:  # warm-up
        models[name].train()
        step(name)
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.timing_steps):
        for name in models:
            times[name].append(step(name))
    return {name: statistics.median(values) for name, values in times.items()}


def summarise(values: list[float]) -> dict:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "values": values,
    }


def run_benchmark(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    classes = list(TASKS[args.task])
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="bench_modules_"))
    data = work / "data"
    if not (data / "synthetic_motion.json").is_file():
        config = SyntheticMotionConfig(size=args.size, classes=classes)
        generate_synthetic_motion_dataset(data, args.train_per_class, 0, args.test_per_class, seed=0, config=config)
    arch = ARCHITECTURES[args.arch]
    models = {m: build(m, arch, args.num_frames, len(classes)) for m in args.modules}
    rows = {m: {"trained_model": count(model, args.size)} for m, model in models.items()}
    if not args.skip_paper_counts:
        for module in args.modules:
            rows[module]["paper_setting"] = count(build(module, {}, 8, 400).eval(), PAPER_SIZE)
    for module, seconds in time_training_steps(models, args).items():
        rows[module]["seconds_per_step"] = seconds
    for module in args.modules:
        results = []
        for seed in args.seeds:
            start = time.perf_counter()
            try:
                metrics = train_module(module, seed, data, work / "runs" / f"{module}-seed{seed}", args)
            except RuntimeError as error:  # one module that does not train must not lose the others' results
                print(error, file=sys.stderr, flush=True)
                results.append({"seed": seed, "error": str(error).splitlines()[-1]})
                continue
            multi = next(v for k, v in metrics.items() if k.endswith("_multi_view"))
            results.append({"seed": seed, "top1": multi["top1"], "protocol": multi["protocol"],
                            "wall_seconds": time.perf_counter() - start})  # fmt: skip
            print(f"{module} seed {seed}: top-1 {multi['top1']:.3f} ({results[-1]['wall_seconds']:.0f} s)", flush=True)
        rows[module]["runs"] = results
        finished = [r["top1"] for r in results if "top1" in r]
        rows[module]["top1"] = summarise(finished) if finished else None
    return {
        "benchmark": "bench_modules",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": args.command,
        "machine": describe_machine(torch.device("cpu")),
        "settings": {k: v for k, v in vars(args).items() if k not in ("write", "work_dir", "command")},
        "classes": classes,
        "chance": 1 / len(classes),
        "modules": rows,
    }


def format_table(record: dict) -> str:
    settings = record["settings"]
    paper = "paper_setting" in next(iter(record["modules"].values()))
    header = "| module | params | GMACs | "
    header += "R50 params | R50 GMACs | " if paper else ""
    header += f"CPU s/step | top-1 (mean ± std, {len(settings['seeds'])} seeds) | per seed |"
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for module, row in record["modules"].items():
        cells = [module, f"{row['trained_model']['params']:,}", f"{row['trained_model']['gmacs']:.3f}"]
        if paper:
            cells += [f"{row['paper_setting']['params'] / 1e6:.2f} M", f"{row['paper_setting']['gmacs']:.2f}"]
        top1 = row["top1"]
        failed = sum("error" in run for run in row["runs"])
        accuracy = f"{top1['mean']:.3f} ± {top1['std']:.3f}" if top1 else "—"
        per_seed = " ".join(f"{run['top1']:.2f}" if "top1" in run else "failed" for run in row["runs"])
        cells += [f"{row['seconds_per_step']:.3f}", accuracy + (f" ({failed} failed)" if failed else ""), per_seed]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", nargs="+", default=temporal_modules(), choices=temporal_modules())
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--task",
        default="size_profile",
        choices=list(TASKS),
        help="Synthetic class family (default size_profile: 4 order-only classes; `all`, 13 classes, stays at chance "
        "for every module within a CPU-sized budget of steps).",
    )
    parser.add_argument("--train-per-class", type=int, default=40)
    parser.add_argument("--test-per-class", type=int, default=12)
    parser.add_argument("--size", type=int, default=48, help="Frame side of the videos and the crop.")
    parser.add_argument("--num-frames", type=int, default=8, help="Frames per clip T.")
    parser.add_argument("--arch", default="tiny", choices=list(ARCHITECTURES))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-steps", type=int, default=100, help="Optimizer steps per training run.")
    parser.add_argument("--num-workers", type=int, default=1, help="DataLoader workers of each training run.")
    parser.add_argument("--timing-steps", type=int, default=10, help="Timed training steps per module.")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="torch threads for timing.")
    parser.add_argument("--skip-paper-counts", action="store_true", help="Skip the ResNet-50 counts (~1 min).")
    parser.add_argument("--work-dir", help="Folder for the dataset and runs (default: a new temporary folder).")
    parser.add_argument("--write", action="store_true", help=f"Write the table to {RESULTS_FILE.name}.")
    args = parser.parse_args(argv)
    args.command = " ".join([Path(__file__).name, *(sys.argv[1:] if argv is None else argv)])  # what made the record
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    record = run_benchmark(args)
    table = format_table(record)
    print(table)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = record["date"].replace(":", "").replace("+0000", "Z")
    path = RESULTS_DIR / f"modules_{stamp}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")
    if args.write:
        RESULTS_FILE.write_text(results_markdown(record, table))
        print(f"wrote {RESULTS_FILE}")
    return 0


def results_markdown(record: dict, table: str) -> str:
    machine, settings = record["machine"], record["settings"]
    return f"""# Temporal modules side by side (a miniature Table 2)

Made by `python benchmarks/{record["command"]}` on {record["date"][:10]}, {machine["cpu"]}, \
{machine["torch_threads"]} torch threads, load average at start {machine["load_average_at_start"]}, \
commit {machine["git_commit"]}.

Task `{settings["task"]}` of the synthetic motion dataset ({len(record["classes"])} classes, chance \
{record["chance"]:.3f}; {settings["train_per_class"]} training and {settings["test_per_class"]} test videos per \
class, {settings["size"]} px), `--arch {settings["arch"]}`, T = {settings["num_frames"]}, the `synthetic` recipe, \
{settings["max_steps"]} steps of batch {settings["batch_size"]}, seeds {settings["seeds"]}. Accuracy: top-1 on the \
test split with the recipe's multi-view protocol (failed runs: the error is in the JSON). GMACs and params: the trained \
model on one clip; R50: ResNet-50, one 8 × {PAPER_SIZE}² view, 400 classes (the paper's Table 2 setting; NL counts the \
attention's products too, see the README). CPU s/step: median training \
step (forward, backward, AdamW) on a batch of {settings["batch_size"]} clips.

{table}

Raw numbers: `benchmarks/results/modules_*.json`.
"""


if __name__ == "__main__":
    sys.exit(main())
