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


def test_networks_flag_times_only_the_named_networks_and_needs_tanet_and_c2d(bench, tmp_path, capsys):
    output = tmp_path / "model.json"
    args = [*TINY, "--device", "cpu", "--rounds", "1", "--settings", "fp32", "--networks", "tanet", "c2d"]
    assert bench.main([*args, "--output", str(output)]) == 0
    record = json.loads(output.read_text())
    assert record["fast_vs_reference_max_abs_logit_diff"] is None
    for row in record["results"]:
        assert set(row["networks"]) == {"tanet", "c2d"}
        assert "tanet_over_c2d" in row and "fast_over_reference" not in row
        assert row["goals"]["fast_not_slower_than_reference"] is None
        if row["mode"] == "train":
            assert set(row["saved_activations_over_c2d"]) == {"tanet"}
    assert "| fp32 | train |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench.parse_args(["--networks", "tanet", "tanet-reference"])
    assert "--networks" in capsys.readouterr().err


def test_gpu_check_stops_with_a_message_where_cuda_is_missing(tmp_path):
    import subprocess

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    finished = subprocess.run(
        ["bash", str(BENCHMARKS / "gpu_check.sh"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
        timeout=120,
    )
    assert finished.returncode == 2 and "CUDA is not available" in finished.stderr
    assert not (tmp_path / "out").exists()  # nothing run, nothing written


def test_compile_benchmark_records_a_compiler_failure_and_keeps_the_other_cases(monkeypatch, capsys):
    bench_compile = load_script("bench_compile")
    try:

        def count(model, mode, args):
            if model.config.temporal_module == "none" and mode == "train":
                raise RuntimeError("cannot determine truth value of Relational\nsecond line")
            return {"graphs": 2, "compile_ids": ["0/0", "0/1"], "calls": [], "tanet_operators": []}

        monkeypatch.setattr(bench_compile, "count_compilations", count)
        record = bench_compile.run_benchmark(bench_compile.parse_args([]))
        assert record["results"]["c2d/train"] == {"error": "RuntimeError: cannot determine truth value of Relational"}
        assert record["results"]["tanet/train"]["graphs"] == 2 and record["results"]["c2d/inference"]["graphs"] == 2
        table = bench_compile.format_table(record)
        assert "| c2d/train | failed: RuntimeError" in table and "| tanet/inference | 2 |" in table
    finally:
        sys.modules.pop("bench_compile", None)


@pytest.mark.slow
def test_module_benchmark_trains_each_module_and_writes_its_table(tmp_path, monkeypatch, capsys):
    """A smoke run of the miniature Table 2: two modules, one seed, two steps each (two training subprocesses)."""
    bench_modules = load_script("bench_modules")
    try:
        monkeypatch.setattr(bench_modules, "RESULTS_DIR", tmp_path / "results")
        monkeypatch.setattr(bench_modules, "RESULTS_FILE", tmp_path / "RESULTS_modules.md")
        argv = [
            "--modules", "tam", "none", "--seeds", "0", "--max-steps", "2", "--train-per-class", "2",
            "--test-per-class", "1", "--timing-steps", "1", "--batch-size", "4", "--size", "32",
            "--skip-paper-counts", "--work-dir", str(tmp_path / "work"), "--write",
        ]  # fmt: skip
        assert bench_modules.main(argv) == 0
        (record_path,) = (tmp_path / "results").glob("modules_*.json")
        record = json.loads(record_path.read_text())
        assert record["settings"]["task"] == "size_profile" and record["chance"] == 0.25
        for module in ("tam", "none"):
            row = record["modules"][module]
            assert [run["seed"] for run in row["runs"]] == [0] and 0.0 <= row["top1"]["mean"] <= 1.0
            assert row["seconds_per_step"] > 0 and row["trained_model"]["params"] > 0
        assert (
            record["modules"]["tam"]["trained_model"]["params"] > record["modules"]["none"]["trained_model"]["params"]
        )
        written = (tmp_path / "RESULTS_modules.md").read_text()
        assert "| tam |" in written and "| none |" in written and "bench_modules.py" in written
    finally:
        sys.modules.pop("bench_modules", None)
