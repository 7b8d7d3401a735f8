# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Speed of TANet's TAM: TANet (fast TAM) vs C2D (no TAM) vs TANet with the release's TAM formulation.

One run times, interleaved round by round, three networks that differ only in their temporal module:

- `tanet`: `TANetConfig()` (the fast TAM, the default);
- `c2d`: `TANetConfig(temporal_module="none")`, the same ResNet without TAM;
- `tanet-reference`: `TANetConfig(tam_implementation="reference")`, the release's permute + grouped-`conv2d` TAM,

in inference (`torch.inference_mode`, eval mode) and as a training step (forward with labels, backward, SGD with
momentum, `zero_grad`). It reports clips/s, peak memory, and the time ratios TANet/C2D (what TAM costs) and
fast/reference (what the fast formulation wins), prints a markdown table and writes a JSON record with the machine
and, per iteration, wall time, the process's CPU time and its minor page faults.

Every round runs every (setting, mode, network) once, the networks in a rotating order, so background load hits
all of them alike; ratios are the median over rounds of the per-round ratio (paired), and the JSON also keeps the
ratio of the medians. Activation memory: the distinct tensors one training forward saves for backward (counted
per storage through `torch.autograd.graph.saved_tensors_hooks`, weights excluded), and TANet/C2D of it. Peak
memory is measured in an extra, untimed iteration: on CUDA `torch.cuda.max_memory_allocated` above what was
allocated before the iteration; on CPU the process's resident set size (RSS, via psutil, sampled
every millisecond by a thread, after `malloc_trim`) above its value before the iteration: an upper bound of the
tensors' peak that also counts allocator slack.

Usage:

    python benchmarks/bench_model.py                          # CPU fp32, batch 2 × 8 × 224², ~3 min on 2 cores
    python benchmarks/bench_model.py --device cuda            # GPU: fp32, bf16 + channels_last, + torch.compile
    python benchmarks/bench_model.py --settings fp32 --modes inference --rounds 3   # quick look
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import dataclasses
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil

try:
    import resource
except ImportError:  # not on Windows: page faults are then reported as 0
    resource = None
import torch

from tanet_hf import TANetConfig, TANetForVideoClassification

RESULTS_DIR = Path(__file__).resolve().parent / "results"
NETWORKS: dict[str, dict] = {
    "tanet": {"tam_implementation": "fast"},
    "c2d": {"temporal_module": "none"},
    "tanet-reference": {"tam_implementation": "reference"},
}
MODES = ("inference", "train")
RATIOS = (  # (key, numerator, denominator) of the time ratios reported
    ("tanet_over_c2d", "tanet", "c2d"),
    ("fast_over_reference", "tanet", "tanet-reference"),
    ("reference_over_c2d", "tanet-reference", "c2d"),
)
# Goals of the performance issue: (device type, mode) → largest allowed TANet/C2D time ratio.
GOALS = {("cpu", "inference"): 1.03, ("cpu", "train"): 1.05, ("cuda", "inference"): 1.05, ("cuda", "train"): 1.05}
# Goal of the memory issue: TANet's saved-for-backward activations at most this multiple of C2D's.
SAVED_ACTIVATIONS_GOAL = 1.02


@dataclasses.dataclass(frozen=True)
class Setting:
    """How the networks run: precision, memory format, compilation."""

    name: str
    autocast_dtype: torch.dtype | None = None  # None: plain fp32
    channels_last: bool = False
    compile: bool = False


SETTINGS: dict[str, Setting] = {
    "fp32": Setting("fp32"),
    "fp32-cl": Setting("fp32-cl", channels_last=True),
    "bf16-cl": Setting("bf16-cl", torch.bfloat16, channels_last=True),
    "bf16-cl-compile": Setting("bf16-cl-compile", torch.bfloat16, channels_last=True, compile=True),
    "bf16": Setting("bf16", torch.bfloat16),
    "fp32-compile": Setting("fp32-compile", compile=True),
}
DEFAULT_SETTINGS = {"cpu": ["fp32"], "cuda": ["fp32", "bf16-cl", "bf16-cl-compile"]}
DEFAULT_BATCH = {"cpu": 2, "cuda": 8}


# ----------------------------------------------------------------------------------------------------------------
# Machine description and memory measurement
# ----------------------------------------------------------------------------------------------------------------


def cpu_name() -> str:
    """The CPU's model name (`/proc/cpuinfo`), or `platform.processor()` elsewhere."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def describe_machine(device: torch.device) -> dict:
    """Everything needed to compare runs: CPU, GPU, library versions, threads, commit."""
    commit = None
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    info = {
        "device": device.type,
        "cpu": cpu_name(),
        "cpu_cores_logical": psutil.cpu_count(logical=True),
        "cpu_cores_physical": psutil.cpu_count(logical=False),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "git_commit": commit,
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
        )
    return info


def machine_slug(machine: dict) -> str:
    """Short file-name-safe machine id, e.g. `cpu-amd-epyc-2t` or `cuda-nvidia-h200`."""
    if machine["device"] == "cuda":
        name = f"cuda-{machine['gpu']}"
    else:
        name = f"cpu-{machine['cpu']}-{machine['torch_threads']}t"
    name = re.sub(r"\((r|tm)\)|cpu @.*|processor|\d+-core", "", name.lower())
    return re.sub(r"[^a-z0-9]+", "-", name).strip("-")


def retain_freed_memory() -> bool:
    """
    Ask glibc's malloc to keep freed memory for reuse: every block comes from the heap instead of a fresh `mmap`,
    and the heap is never trimmed. With glibc's defaults a ResNet-50 forward on 2 × 8 frames takes ~330k page
    faults (a third of its CPU time goes to the kernel zeroing pages), more or fewer depending on what ran before;
    retaining memory removes that noise from every network alike. Returns False where not applicable.
    """
    m_trim_threshold, m_mmap_threshold, m_mmap_max = -1, -3, -4  # <malloc.h>
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
        return all(
            mallopt(option, value)
            for option, value in ((m_mmap_threshold, 32 * 2**20), (m_trim_threshold, 2**31 - 1), (m_mmap_max, 0))
        )
    except (OSError, AttributeError):
        return False


def _malloc_trim() -> None:
    """Give glibc's free heap pages back to the OS so that an RSS baseline does not hide reused memory."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class PeakMemory:
    """
    Peak memory of the code inside the `with` block, in bytes above what was in use when it started.

    CUDA: `torch.cuda.max_memory_allocated` (tensors only). CPU: the process's RSS sampled every `interval`
    seconds by a thread (torch releases the GIL inside its kernels), after `malloc_trim`.
    """

    def __init__(self, device: torch.device, interval: float = 0.001):
        self.device, self.interval = device, interval
        self.peak_bytes = 0
        self.method = (
            "torch.cuda.max_memory_allocated above the allocation before the iteration"
            if device.type == "cuda"
            else "peak process RSS (psutil, sampled every 1 ms) above the RSS before the iteration"
        )

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        _malloc_trim()
        self._process = psutil.Process()
        self._base = self._peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, self._process.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device) - self._base
            return
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._process.memory_info().rss)
        self.peak_bytes = self._peak - self._base


def saved_activation_bytes(model: torch.nn.Module, step: Callable[[], torch.Tensor]) -> tuple[int, int]:
    """
    Bytes and count of the distinct tensors autograd keeps for backward while `step()` builds a loss (then
    released by `backward`): every tensor the graph saves passes through `torch.autograd.graph.saved_tensors_hooks`,
    counted once per storage (the ReLU's output and the next convolution's input are one tensor), the model's
    parameters and buffers left out. Activation memory, what a larger batch multiplies.
    """
    weights = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            storages[storage.data_ptr()] = storage.nbytes()  # the graph holds it: no address is reused meanwhile
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = step()
    loss.backward()
    model.zero_grad(set_to_none=True)
    return sum(storages.values()), len(storages)


# ----------------------------------------------------------------------------------------------------------------
# The workloads
# ----------------------------------------------------------------------------------------------------------------


def build_networks(args: argparse.Namespace, device: torch.device) -> dict[str, TANetForVideoClassification]:
    """The networks of `--networks` (default all three), built from one seed; the two TANets share every weight."""
    base = dict(
        num_frames=args.num_frames,
        depths=args.depths,
        hidden_sizes=args.hidden_sizes,
        embedding_size=args.embedding_size,
        num_labels=args.num_labels,
    )
    networks = {}
    for name in args.networks:
        torch.manual_seed(0)
        networks[name] = TANetForVideoClassification(TANetConfig(**base, **NETWORKS[name])).to(device)
    if "tanet-reference" in networks and "tanet" in networks:
        networks["tanet-reference"].load_state_dict(networks["tanet"].state_dict())
    return networks


def make_inputs(
    args: argparse.Namespace, device: torch.device, channels_last: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random `pixel_values` `(B, T, 3, S, S)` (frames stored channels-last if asked) and labels `(B,)`."""
    generator = torch.Generator().manual_seed(1)
    size = args.image_size
    frames = torch.randn(args.batch_size * args.num_frames, 3, size, size, generator=generator)
    if channels_last:
        frames = frames.contiguous(memory_format=torch.channels_last)
    pixel_values = frames.view(args.batch_size, args.num_frames, 3, size, size).to(device)
    labels = torch.randint(args.num_labels, (args.batch_size,), generator=generator).to(device)
    return pixel_values, labels


def check_fast_matches_reference(networks: dict, pixel_values: torch.Tensor) -> float:
    """Largest |logit difference| between the fast and the reference TAM (fp32, eval): they must agree."""
    with torch.inference_mode():
        fast = networks["tanet"].eval()(pixel_values).logits.float()
        reference = networks["tanet-reference"].eval()(pixel_values).logits.float()
    return (fast - reference).abs().max().item()


class Workload:
    """One network under one setting: a callable per mode that runs one iteration."""

    def __init__(self, model: TANetForVideoClassification, setting: Setting, args: argparse.Namespace, device):
        self.device, self.setting = device, setting
        model = copy.deepcopy(model)  # every setting has its own weights, memory format and optimizer state
        if setting.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.forward = torch.compile(model) if setting.compile else model
        self.optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
        self.pixel_values, self.labels = make_inputs(args, device, setting.channels_last)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.setting.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.setting.autocast_dtype)

    def inference(self) -> None:
        self.model.eval()
        with torch.inference_mode(), self.autocast():
            self.forward(self.pixel_values)

    def train(self) -> None:
        self.model.train()
        with self.autocast():
            loss = self.forward(self.pixel_values, labels=self.labels).loss
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def saved_activations(self) -> tuple[int, int]:
        """Saved-for-backward bytes and tensor count of one training forward ([`saved_activation_bytes`])."""
        self.model.train()

        def loss() -> torch.Tensor:
            with self.autocast():
                return self.forward(self.pixel_values, labels=self.labels).loss

        return saved_activation_bytes(self.model, loss)

    def step(self, mode: str) -> Callable[[], None]:
        return self.inference if mode == "inference" else self.train


def time_ratios(numerator: list[float], denominator: list[float]) -> dict[str, float]:
    """
    Ratios of two interleaved series of timings: `paired_median`, the median of the per-round ratios (the headline:
    both sides of a pair ran back to back under the same background load); `of_medians`; and `of_minimums`, the
    ratio of the best times (least disturbed by other processes on a shared machine).
    """
    return {
        "paired_median": statistics.median(a / b for a, b in zip(numerator, denominator)),
        "of_medians": statistics.median(numerator) / statistics.median(denominator),
        "of_minimums": min(numerator) / min(denominator),
    }


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclasses.dataclass
class Timing:
    """Per-iteration cost: wall-clock seconds, this process's CPU seconds (all threads) and minor page faults."""

    wall_s: float
    cpu_s: float
    page_faults: float


def _minor_page_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt if resource is not None else 0


def time_iterations(run: Callable[[], None], iterations: int, device: torch.device) -> Timing:
    """
    Average cost of one of `iterations` back-to-back calls. CPU time does not count the time other processes held
    the cores, so it is the steadier measure on a shared machine; page faults show allocator traffic.
    """
    synchronize(device)
    start, start_cpu, start_faults = time.perf_counter(), time.process_time(), _minor_page_faults()
    for _ in range(iterations):
        run()
    synchronize(device)
    return Timing(
        wall_s=(time.perf_counter() - start) / iterations,
        cpu_s=(time.process_time() - start_cpu) / iterations,
        page_faults=(_minor_page_faults() - start_faults) / iterations,
    )


def rotated(names: list[str], offset: int) -> Iterator[str]:
    offset %= len(names)
    yield from names[offset:] + names[:offset]


# ----------------------------------------------------------------------------------------------------------------
# The benchmark
# ----------------------------------------------------------------------------------------------------------------


def run_benchmark(args: argparse.Namespace) -> dict:
    """Run every (setting, mode, network) interleaved; return the JSON-able record."""
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    malloc = "retain" if args.malloc == "retain" and retain_freed_memory() else "default"
    machine = describe_machine(device)
    machine["malloc"] = malloc
    networks = build_networks(args, device)
    probe, _ = make_inputs(args, device, channels_last=False)
    max_abs_diff = (
        check_fast_matches_reference(networks, probe) if {"tanet", "tanet-reference"} <= set(networks) else None
    )
    del probe

    workloads = {(s, n): Workload(networks[n], SETTINGS[s], args, device) for s in args.settings for n in networks}
    names = list(networks)
    cases = [(s, m) for s in args.settings for m in args.modes]
    for setting, mode in cases:  # warm-up: one-off allocations, oneDNN primitive caches, compilation, cuDNN autotune
        for name in names:
            for _ in range(args.warmup):
                workloads[setting, name].step(mode)()
    synchronize(device)

    timings: dict[tuple[str, str, str], list[Timing]] = {(s, m, n): [] for s, m in cases for n in names}
    for round_index in range(args.rounds):
        for setting, mode in cases:
            for name in rotated(names, round_index):
                run = workloads[setting, name].step(mode)
                timings[setting, mode, name].append(time_iterations(run, args.iterations, device))
        if args.verbose:
            print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    memory: dict[tuple[str, str, str], int] = {}
    method = PeakMemory(device).method
    for setting, mode in cases:
        for name in names:
            run = workloads[setting, name].step(mode)
            with PeakMemory(device) as peak:
                run()
            memory[setting, mode, name] = peak.peak_bytes
    saved = {(s, n): workloads[s, n].saved_activations() for s in args.settings for n in names if "train" in args.modes}

    rows = []
    for setting, mode in cases:
        row = {"setting": setting, "mode": mode, "networks": {}}
        wall = {name: [t.wall_s for t in timings[setting, mode, name]] for name in names}
        cpu = {name: [t.cpu_s for t in timings[setting, mode, name]] for name in names}
        for name in names:
            median = statistics.median(wall[name])
            row["networks"][name] = {
                "seconds_per_iteration": wall[name],
                "cpu_seconds_per_iteration": cpu[name],
                "page_faults_per_iteration": [t.page_faults for t in timings[setting, mode, name]],
                "median_s": median,
                "clips_per_s": args.batch_size / median,
                "peak_memory_mib": memory[setting, mode, name] / 2**20,
            }
            if mode == "train":
                saved_bytes, saved_count = saved[setting, name]
                row["networks"][name]["saved_activations_mib"] = saved_bytes / 2**20
                row["networks"][name]["saved_activation_tensors"] = saved_count
        for key, numerator, denominator in RATIOS:
            if numerator not in names or denominator not in names:
                continue
            row[key] = time_ratios(wall[numerator], wall[denominator])
            row[key]["cpu_time_paired_median"] = time_ratios(cpu[numerator], cpu[denominator])["paired_median"]
        if mode == "train":
            row["saved_activations_over_c2d"] = {
                n: row["networks"][n]["saved_activations_mib"] / row["networks"]["c2d"]["saved_activations_mib"]
                for n in names
                if n != "c2d"
            }
        goal = GOALS.get((device.type, mode))
        row["goals"] = {
            "tanet_over_c2d_max": goal,
            "tanet_over_c2d_met": None if goal is None else row["tanet_over_c2d"]["paired_median"] <= goal,
            "fast_not_slower_than_reference": (
                row["fast_over_reference"]["paired_median"] <= 1.0 if "fast_over_reference" in row else None
            ),
        }
        if mode == "train":
            row["goals"]["saved_activations_over_c2d_max"] = SAVED_ACTIVATIONS_GOAL
            row["goals"]["saved_activations_met"] = row["saved_activations_over_c2d"]["tanet"] <= SAVED_ACTIVATIONS_GOAL
        rows.append(row)

    if hasattr(os, "getloadavg"):
        machine["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    return {
        "benchmark": "bench_model",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine,
        "workload": {
            "batch_size": args.batch_size,
            "num_frames": args.num_frames,
            "image_size": args.image_size,
            "depths": args.depths,
            "hidden_sizes": args.hidden_sizes,
            "embedding_size": args.embedding_size,
            "num_labels": args.num_labels,
            "rounds": args.rounds,
            "iterations_per_round": args.iterations,
            "warmup": args.warmup,
            "optimizer": "SGD(lr=1e-3, momentum=0.9, weight_decay=1e-4)",
        },
        "memory_method": method,
        "saved_activations_method": "distinct storages packed by torch.autograd.graph.saved_tensors_hooks in one "
        "training forward, parameters and buffers excluded",
        "fast_vs_reference_max_abs_logit_diff": max_abs_diff,
        "results": rows,
    }


def format_table(record: dict) -> str:
    """
    Markdown table of a record, one row per setting and mode: clips/s (from the median wall time), wall-time ratios
    as the median of per-round ratios with the ratio of the best times in brackets, TANet/C2D in CPU time too (CPU
    runs only), and peak memory.
    """
    lines = [
        "| setting | mode | TANet clips/s | C2D clips/s | TANet-ref clips/s | TANet/C2D wall (best) | TANet/C2D CPU "
        "| ref/C2D | fast/ref | peak MiB TANet / C2D / ref | saved MiB TANet / C2D / ref (TANet/C2D) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    on_cpu = record["machine"]["device"] == "cpu"
    for row in record["results"]:
        nets = row["networks"]
        goal = row["goals"]["tanet_over_c2d_max"]
        mark = "" if goal is None else (" ✓" if row["goals"]["tanet_over_c2d_met"] else f" ✗ goal ≤ {goal}")
        ratios = {
            key: f"{row[key]['paired_median']:.3f} ({row[key]['of_minimums']:.3f})" if key in row else "–"
            for key, _, _ in RATIOS
        }
        cpu_ratio = f"{row['tanet_over_c2d']['cpu_time_paired_median']:.3f}" if on_cpu else "–"
        clips_per_s = " | ".join(f"{nets[n]['clips_per_s']:.2f}" if n in nets else "–" for n in NETWORKS)
        memory = " / ".join(f"{nets[n]['peak_memory_mib']:.0f}" if n in nets else "–" for n in NETWORKS)
        saved = "–"
        if "saved_activations_over_c2d" in row:
            met = " ✓" if row["goals"]["saved_activations_met"] else f" ✗ goal ≤ {SAVED_ACTIVATIONS_GOAL}"
            saved = " / ".join(f"{nets[n]['saved_activations_mib']:.1f}" if n in nets else "–" for n in NETWORKS)
            saved += f" ({row['saved_activations_over_c2d']['tanet']:.4f}{met})"
        lines.append(
            f"| {row['setting']} | {row['mode']} | {clips_per_s} | {ratios['tanet_over_c2d']}{mark} | {cpu_ratio} "
            f"| {ratios['reference_over_c2d']} | {ratios['fast_over_reference']} | {memory} | {saved} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda[:i]")
    parser.add_argument(
        "--settings",
        nargs="+",
        choices=list(SETTINGS),
        help="default: fp32 on CPU; fp32, bf16-cl, bf16-cl-compile on CUDA (cl = channels_last, bf16 = autocast)",
    )
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument(
        "--networks",
        nargs="+",
        choices=list(NETWORKS),
        default=list(NETWORKS),
        help="networks to time (default all three; tanet and c2d are needed for the TANet/C2D ratio)",
    )
    parser.add_argument("--batch-size", type=int, help="clips per batch (default: 2 on CPU, 8 on CUDA)")
    parser.add_argument("--num-frames", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--depths", type=int, nargs="+", default=[3, 4, 6, 3], help="blocks per stage (ResNet-50)")
    parser.add_argument("--hidden-sizes", type=int, nargs="+", default=[256, 512, 1024, 2048], help="stage widths")
    parser.add_argument("--embedding-size", type=int, default=64, help="width of the stem")
    parser.add_argument("--num-labels", type=int, default=400)
    parser.add_argument("--rounds", type=int, help="interleaved timing rounds (default: 7 on CPU, 20 on CUDA)")
    parser.add_argument("--iterations", type=int, help="iterations per network per round (default: 1 CPU, 5 CUDA)")
    parser.add_argument("--warmup", type=int, help="untimed iterations per network first (default: 1 CPU, 3 CUDA)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument(
        "--malloc",
        choices=["retain", "default"],
        default="retain",
        help="retain: tell glibc to keep freed memory (no page-fault storms; the default); default: glibc as is",
    )
    parser.add_argument("--output", type=Path, help="JSON path (default: benchmarks/results/model_<machine>.json)")
    parser.add_argument("--verbose", action="store_true", help="report progress on stderr")
    args = parser.parse_args(argv)
    kind = torch.device(args.device).type
    if kind not in ("cpu", "cuda"):
        parser.error(f"--device {args.device!r}: only cpu and cuda are supported")
    if kind == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device!r}: CUDA is not available on this machine")
    if not {"tanet", "c2d"} <= set(args.networks):
        parser.error(f"--networks {args.networks}: tanet and c2d are both needed (the TANet/C2D ratio)")
    args.settings = args.settings or DEFAULT_SETTINGS[kind]
    args.batch_size = args.batch_size or DEFAULT_BATCH[kind]
    args.rounds = args.rounds or (7 if kind == "cpu" else 20)
    args.iterations = args.iterations or (1 if kind == "cpu" else 5)
    args.warmup = args.warmup if args.warmup is not None else (1 if kind == "cpu" else 3)
    for name in ("batch_size", "num_frames", "image_size", "num_labels", "rounds", "iterations"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    if min(args.depths) < 1 or len(args.depths) != len(args.hidden_sizes):
        parser.error(
            f"--depths {args.depths} and --hidden-sizes {args.hidden_sizes} need one positive entry per stage each"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    record = run_benchmark(args)
    output = args.output or RESULTS_DIR / f"model_{machine_slug(record['machine'])}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(record, indent=2) + "\n")
    machine = record["machine"]
    where = machine.get("gpu") or f"{machine['cpu']}, {machine['torch_threads']} threads"
    w = record["workload"]
    print(
        f"{where} · torch {machine['torch']} · batch {w['batch_size']} × {w['num_frames']} × {w['image_size']}² · "
        f"{w['rounds']} rounds × {w['iterations_per_round']} it · malloc {machine['malloc']} · "
        f"load {machine.get('load_average_at_start')} → {machine.get('load_average_at_end')} · {record['date']}"
    )
    print(format_table(record))
    print(
        "ratios: time / time; wall: median of the per-round ratios (ratio of the best times in brackets); "
        "CPU: the same median on this process's CPU time"
    )
    if record["fast_vs_reference_max_abs_logit_diff"] is not None:
        print(f"fast vs reference: max |Δlogit| = {record['fast_vs_reference_max_abs_logit_diff']:.2e}")
    print(f"memory: {record['memory_method']}; saved: {record['saved_activations_method']}")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
