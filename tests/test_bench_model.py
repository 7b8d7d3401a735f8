"""`benchmarks/bench_model.py` and `benchmarks/bench_tam.py` run end to end on tiny inputs and report what they say."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
MODELING = Path(__file__).resolve().parents[1] / "src" / "tanet_hf" / "modeling_tanet.py"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    yield load_script("bench_model")
    sys.modules.pop("bench_model", None)


TINY = [
    "--depths", "1", "1", "1", "1", "--hidden-sizes", "16", "32", "64", "128", "--embedding-size", "8",
    "--num-frames", "4", "--image-size", "32", "--num-labels", "5", "--batch-size", "1", "--warmup", "0", "--malloc", "default",
]  # fmt: skip


def test_benchmark_writes_a_complete_record(bench, tmp_path, capsys):
    output = tmp_path / "model.json"
    settings = ["--settings", "fp32", "fp32-cl", "bf16"]
    assert bench.main([*TINY, "--device", "cpu", "--rounds", "2", *settings, "--output", str(output)]) == 0
    record = json.loads(output.read_text())

    assert record["machine"]["device"] == "cpu" and record["machine"]["torch"] == torch.__version__
    assert record["machine"]["torch_threads"] == torch.get_num_threads()
    assert record["machine"]["malloc"] in ("retain", "default")
    assert record["workload"]["batch_size"] == 1 and record["workload"]["rounds"] == 2
    assert record["fast_vs_reference_max_abs_logit_diff"] < 1e-4
    cases = {(row["setting"], row["mode"]) for row in record["results"]}
    assert cases == {(setting, mode) for setting in ("fp32", "fp32-cl", "bf16") for mode in ("inference", "train")}
    for row in record["results"]:
        assert set(row["networks"]) == {"tanet", "c2d", "tanet-reference"}
        for network in row["networks"].values():
            assert len(network["seconds_per_iteration"]) == 2 and min(network["seconds_per_iteration"]) > 0
            assert len(network["cpu_seconds_per_iteration"]) == 2 and min(network["cpu_seconds_per_iteration"]) > 0
            assert len(network["page_faults_per_iteration"]) == 2 and min(network["page_faults_per_iteration"]) >= 0
            assert network["clips_per_s"] == pytest.approx(1 / network["median_s"])
            assert network["peak_memory_mib"] >= 0
        tanet, c2d = row["networks"]["tanet"], row["networks"]["c2d"]
        assert row["tanet_over_c2d"]["of_medians"] == pytest.approx(tanet["median_s"] / c2d["median_s"])
        assert row["tanet_over_c2d"]["of_minimums"] == pytest.approx(
            min(tanet["seconds_per_iteration"]) / min(c2d["seconds_per_iteration"])
        )
        assert row["tanet_over_c2d"]["cpu_time_paired_median"] > 0
        assert row["goals"]["tanet_over_c2d_max"] == {"inference": 1.03, "train": 1.05}[row["mode"]]

    printed = capsys.readouterr().out
    assert "| fp32-cl | train |" in printed and str(output) in printed


def test_paired_ratio_is_the_median_of_per_round_ratios(bench):
    ratios = bench.time_ratios([2.0, 3.0, 10.0], [1.0, 3.0, 4.0])
    assert ratios["paired_median"] == pytest.approx(2.0)  # ratios 2, 1, 2.5
    assert ratios["of_medians"] == pytest.approx(1.0)
    assert ratios["of_minimums"] == pytest.approx(2.0)


def test_cpu_peak_memory_sees_a_large_allocation(bench):
    with bench.PeakMemory(torch.device("cpu")) as peak:
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        del block
    assert peak.peak_bytes >= 48 * 2**20


def test_machine_slug_is_a_short_file_name(bench):
    slug = bench.machine_slug({"device": "cpu", "cpu": "AMD EPYC 9R14 96-Core Processor", "torch_threads": 2})
    assert slug == "cpu-amd-epyc-9r14-2t"
    assert bench.machine_slug({"device": "cuda", "gpu": "NVIDIA H200"}) == "cuda-nvidia-h200"


def test_bad_arguments_are_rejected_with_the_flag_named(bench, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(["--depths", "1", "1", "--hidden-sizes", "8", "16", "32"])
    assert "--depths" in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            bench.parse_args(["--device", "cuda"])
        assert "CUDA is not available" in capsys.readouterr().err


def test_tam_benchmark_times_every_variant_and_a_baseline_file(capsys):
    bench_tam = load_script("bench_tam")
    try:
        argv = ["--depths", "1", "1", "1", "1", "--image-size", "32", "--num-frames", "4", "--rounds", "1"]
        assert bench_tam.main([*argv, "--malloc", "default", "--baseline-file", str(MODELING)]) == 0
    finally:
        sys.modules.pop("bench_tam", None)
        sys.modules.pop("tam_baseline", None)
    printed = capsys.readouterr().out
    assert printed.startswith("4 TAMs, inputs (8, 64, 8, 8)")  # batch 2 × 4 frames
    for mode in ("inference", "train"):
        for variant in [*bench_tam.VARIANTS, "baseline"]:
            assert f"| {mode} | {variant} |" in printed


def test_tam_ablation_variants_compute_the_same_function():
    """Each ablation removes an optimisation, not the math: all variants give the fast TAM's output and gradient."""
    bench_tam = load_script("bench_tam")
    sys.modules.pop("bench_tam", None)
    from tanet_hf import TANetConfig

    config = TANetConfig(num_frames=4)
    x = torch.randn(8, 16, 5, 5, dtype=torch.float64).abs()
    results = {}
    for name, (cls, implementation) in bench_tam.VARIANTS.items():
        torch.manual_seed(0)
        tam = cls(config, 16).double().train()
        tam.implementation = implementation
        xi = x.clone().requires_grad_()
        y = tam(xi)
        y.square().sum().backward()
        results[name] = (y.detach(), xi.grad)
    for name, (y, dx) in results.items():
        torch.testing.assert_close(y, results["fast"][0], msg=name)
        torch.testing.assert_close(dx, results["fast"][1], msg=name)
