"""`tanet-hf evaluate`: the training script's numbers on the same split, every annotation format, two processes
without duplicates, the scores file `tanet-hf fuse` reads, and bad input named."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tanet_hf.cli import main as cli
from tanet_hf.synthetic import SyntheticMotionConfig, generate_synthetic_motion_dataset
from tanet_hf.tools.evaluate import evaluate_dataset
from tanet_hf.tools.scores import load_scores

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
CLASSES = ["approaching", "receding"]


pytestmark = pytest.mark.usefixtures("fresh_accelerate_state")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, dict]:
    """`(dataset, run folder, eval_results.json)` of a tiny TANet trained for a few steps by examples/train.py
    (2 classes, 8 + 2 + 2 videos per class; 5 test views so that the multi-view protocol differs)."""
    from test_training import _arguments, train

    root = tmp_path_factory.mktemp("evaluate")
    config = SyntheticMotionConfig(size=32, num_video_frames=8, classes=CLASSES)
    data = generate_synthetic_motion_dataset(root / "data", 8, 2, 2, seed=3, config=config)
    args = _arguments(
        data, root / "run", num_train_epochs=2, learning_rate=0.04, eval_strategy="no", num_test_clips=3,
        do_final_eval=True,
    )  # fmt: skip
    result = train(*args)
    assert result.status == "finished"
    return data, root / "run", json.loads((root / "run" / "eval_results.json").read_text())


def _data(dataset: Path, tmp_path: Path, **extra) -> dict:
    return {"dataset": str(dataset), "cache_dir": str(tmp_path / "cache"), **extra}


def _same_numbers(measured: dict, reference: dict) -> None:
    for key in ("top1", "mean_class_accuracy", "num_samples"):
        assert measured[key] == pytest.approx(reference[key], abs=1e-9), key


def test_evaluate_agrees_with_the_training_scripts_evaluation(trained, tmp_path):
    data, run, reference = trained
    model = run / "model"
    multi = evaluate_dataset(model, _data(data, tmp_path), split="test", views="test", batch_size=3)
    _same_numbers(multi.metrics, reference["test_multi_view"])
    assert multi.protocol == reference["test_multi_view"]["protocol"] == "3 clips × center"
    assert multi.confusion_matrix == reference["confusion_matrix"]
    single = evaluate_dataset(model, _data(data, tmp_path), split="validation", views="single", batch_size=3)
    _same_numbers(single.metrics, reference["validation_single_view"])
    assert "top5" not in multi.metrics  # 2 classes: top-5 means nothing


def test_command_writes_results_png_and_a_scores_file_fuse_reads(trained, tmp_path, capsys):
    data, run, reference = trained
    scores_file, out = tmp_path / "scores.json", tmp_path / "eval"
    cli(["evaluate", str(run / "model"), "--dataset", str(data), "--output-dir", str(out),
         "--save-scores", str(scores_file), "--num-workers", "0", "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    printed = capsys.readouterr().out
    assert "on test (3 clips × center, 4 videos): top-1" in printed and "approaching" in printed
    written = json.loads((out / "eval_results.json").read_text())
    assert written["top1"] == pytest.approx(reference["test_multi_view"]["top1"])
    per_class = written["per_class_accuracy"]
    assert set(per_class) == set(CLASSES)
    assert sum(per_class.values()) / 2 == pytest.approx(written["mean_class_accuracy"])
    assert (out / "confusion_matrix.png").stat().st_size > 1000
    scores = load_scores(scores_file)
    videos = sorted(str(p) for p in (data / "test").glob("*/*.mp4"))
    assert sorted(scores.video_ids) == videos and scores.labels == CLASSES
    assert scores.accuracy()["top1"] == pytest.approx(100 * written["top1"])
    fused = tmp_path / "fused.json"  # the file is what `tanet-hf fuse` takes
    assert cli(["fuse", str(scores_file), str(scores_file), "--output", str(fused)]) == 0
    assert load_scores(fused).video_ids == scores.video_ids


def test_every_annotation_format_gives_the_folders_numbers(trained, tmp_path):
    data, run, _ = trained
    model = run / "model"
    reference = evaluate_dataset(model, _data(data, tmp_path), views="single", batch_size=4).metrics
    videos = sorted((data / "test").glob("*/*.mp4"))
    flat = tmp_path / "videos"
    flat.mkdir()
    for number, video in enumerate(videos):
        shutil.copy(video, flat / f"clip{number:02d}_000000_000010.mp4")
    listing = tmp_path / "test.txt"
    listing.write_text("".join(f"{v.relative_to(data)} {CLASSES.index(v.parent.name)}\n" for v in videos))
    kinetics = tmp_path / "test.csv"
    with kinetics.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
        writer.writerows([v.parent.name, f"clip{n:02d}", 0, 10, "test"] for n, v in enumerate(videos))
    sthv2 = tmp_path / "test.json"
    sthv2.write_text(json.dumps([{"id": f"clip{n:02d}_000000_000010", "template": v.parent.name, "label": "",
                                  "placeholders": []} for n, v in enumerate(videos)]))  # fmt: skip
    for annotation_file, root in ((listing, data), (kinetics, flat), (sthv2, flat)):
        measured = evaluate_dataset(
            model, {"annotations": str(annotation_file), "video_root": str(root)}, views="single", batch_size=4
        )
        _same_numbers(measured.metrics, reference)


def test_bad_input_is_named(trained, tmp_path):
    data, run, _ = trained
    model = run / "model"
    with pytest.raises(ValueError, match=r"no 'valid' split; the dataset has \['test', 'train', 'validation'\]"):
        evaluate_dataset(model, _data(data, tmp_path), split="valid", views="single")
    bare = tmp_path / "bare"
    shutil.copytree(model, bare)
    (bare / "video_preprocessor_config.json").unlink()
    with pytest.raises(ValueError, match="bare: no video_preprocessor_config.json"):
        evaluate_dataset(bare, _data(data, tmp_path), views="single")
    videos = sorted((data / "test").glob("*/*.mp4"))
    listing = tmp_path / "test.txt"
    listing.write_text("".join(f"{v} {v.parent.name}\n" for v in videos) + f"{data}/gone.mp4 receding\n")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(videos[0].read_bytes()[:300])
    with listing.open("a") as handle:
        handle.write(f"{broken} approaching\n")
    measured = evaluate_dataset(model, {"annotations": str(listing)}, views="single", batch_size=2)
    errors = dict(measured.scores.errors)
    assert measured.metrics["num_samples"] == 4 and len(measured.scores.video_ids) == 4
    assert any("gone.mp4" in name for name in errors) and str(broken) in errors
    assert errors[str(broken)].startswith(f"{broken}: ")  # the decoder's reason
    listing.write_text(f"{data}/gone.mp4 receding\n")
    with pytest.raises(ValueError, match="test split is empty"):
        evaluate_dataset(model, {"annotations": str(listing)}, views="single")


def test_two_processes_give_the_same_numbers_and_no_duplicates(trained, tmp_path):
    from test_training import _env, _free_port

    data, run, reference = trained
    scores_file = tmp_path / "scores.json"
    command = [
        str(VENV_BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
        "-m", "tanet_hf.cli", "evaluate", str(run / "model"), "--dataset", str(data), "--batch-size", "3",
        "--num-workers", "0", "--save-scores", str(scores_file), "--output-dir", str(tmp_path / "eval"),
        "--cache-dir", str(tmp_path / "cache"),
    ]  # fmt: skip
    env = _env() | {"ACCELERATE_USE_CPU": "true", "PYTHONPATH": str(REPO / "src") + os.pathsep + str(REPO / "tests")}
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    assert completed.stdout.count("on test (3 clips × center, 4 videos)") == 1  # printed by the main process only
    # 4 videos over 2 processes × 3 per batch: the last batch is padded with repeats, which must not be counted
    scores = load_scores(scores_file)
    assert sorted(scores.video_ids) == sorted(str(p) for p in (data / "test").glob("*/*.mp4"))
    written = json.loads((tmp_path / "eval" / "eval_results.json").read_text())
    _same_numbers(written, reference["test_multi_view"])
    assert written["confusion_matrix"] == reference["confusion_matrix"]
