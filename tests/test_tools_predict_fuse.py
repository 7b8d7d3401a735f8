"""`tanet-hf predict` and `tanet-hf fuse`: batched scores equal the model's, unreadable videos are reported by name
without stopping the run or losing the others, and fusing refuses different label sets."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from tools_helpers import save_tiny_model
from video_factory import make_text_file, make_truncated_copy, make_video

from tanet_hf import TANetForVideoClassification, TANetVideoProcessor
from tanet_hf.cli import main
from tanet_hf.tools import predict as predict_module
from tanet_hf.tools.fuse import fuse_scores
from tanet_hf.tools.scores import Scores, load_scores, save_scores


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny", num_test_clips=2)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    good = [make_video(folder / f"good{i}.mp4", num_frames=12 + 4 * i, pattern="texture") for i in range(3)]
    broken = make_truncated_copy(make_video(folder / "whole.mp4", num_frames=40), folder / "truncated.mp4", 0.3)
    return {
        "good": good,
        "truncated": broken,
        "missing": folder / "missing.mp4",
        "text": make_text_file(folder / "notes.mp4"),
    }


def _expected_logits(model_dir, video_paths, mode="eval"):
    model = TANetForVideoClassification.from_pretrained(model_dir).eval()
    processor = TANetVideoProcessor.from_pretrained(model_dir)
    with torch.no_grad():
        return np.stack([model(processor(str(v), mode=mode)["pixel_values"]).logits[0].numpy() for v in video_paths])


def test_predict_scores_every_readable_video_and_names_the_unreadable_ones(model_dir, videos, tmp_path, capsys):
    g = videos["good"]
    order = [g[0], videos["truncated"], g[1], videos["missing"], videos["text"], g[2]]
    output = tmp_path / "scores.json"
    code = main(
        ["predict", str(model_dir), *map(str, order), "--batch-size", "2", "--top-k", "2", "--output", str(output)]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "predict: 100%" in err  # the tqdm bar ran to the end
    for bad in ("truncated", "missing", "text"):
        assert str(videos[bad]) in err
    scores = load_scores(output)
    assert scores.video_ids == [str(v) for v in g]
    assert [e[0] for e in scores.errors] == [str(videos[k]) for k in ("truncated", "missing", "text")]
    np.testing.assert_allclose(scores.scores, _expected_logits(model_dir, g), rtol=1e-4, atol=1e-5)
    document = json.loads(output.read_text())
    assert [len(v["top_k"]) for v in document["videos"]] == [2, 2, 2]
    assert document["labels"] == [f"class {i}" for i in range(5)]


def test_predict_test_views_and_csv_top_k(model_dir, videos, tmp_path):
    output = tmp_path / "top.csv"
    assert main(["predict", str(model_dir), *map(str, videos["good"]), "--views", "test", "--top-k", "3",
                 "--output", str(output), "--no-progress"]) == 0  # fmt: skip
    rows = list(csv.DictReader(output.open()))
    assert len(rows) == 9 and [r["rank"] for r in rows[:3]] == ["1", "2", "3"]
    expected = _expected_logits(model_dir, videos["good"], mode="test")
    best = [f"class {int(np.argmax(row))}" for row in expected]
    assert [r["label"] for r in rows if r["rank"] == "1"] == best


def test_results_of_finished_batches_are_written_when_the_run_stops(model_dir, videos, tmp_path, monkeypatch):
    calls = []
    real = predict_module.classify

    def classify_then_interrupt(network, pixel_values):
        calls.append(len(pixel_values))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(network, pixel_values)

    monkeypatch.setattr(predict_module, "classify", classify_then_interrupt)
    output = tmp_path / "partial.json"
    with pytest.raises(KeyboardInterrupt):
        main(["predict", str(model_dir), *map(str, videos["good"]), "--batch-size", "2", "--output", str(output)])
    assert load_scores(output).video_ids == [str(v) for v in videos["good"][:2]]


def test_fusing_two_copies_of_one_model_gives_its_own_scores(model_dir, videos, tmp_path):
    first = tmp_path / "a.json"
    main(["predict", str(model_dir), *map(str, videos["good"]), "--output", str(first), "--no-progress"])
    second = shutil.copy(first, tmp_path / "b.json")
    fused_path = tmp_path / "fused.json"
    assert main(["fuse", str(first), str(second), "--weights", "1", "3", "--output", str(fused_path)]) == 0
    own, fused = load_scores(first), load_scores(fused_path)
    assert fused.video_ids == own.video_ids and fused.labels == own.labels
    np.testing.assert_allclose(fused.scores, own.scores, rtol=1e-6, atol=1e-7)
    softmax = fuse_scores([own, load_scores(second)], space="softmax")
    assert softmax.kind == "probabilities"
    np.testing.assert_allclose(softmax.scores, own.probabilities(), rtol=1e-6)


def test_fuse_refuses_a_scores_file_from_a_different_label_set_by_name(model_dir, videos, tmp_path):
    first = tmp_path / "a.json"
    main(["predict", str(model_dir), *map(str, videos["good"]), "--output", str(first), "--no-progress"])
    other = json.loads(first.read_text())
    other["labels"][3] = "something else"
    renamed = tmp_path / "other_labels.json"
    renamed.write_text(json.dumps(other))
    with pytest.raises(ValueError, match=r"other_labels\.json: different label set.*label 3 is 'something else'"):
        main(["fuse", str(first), str(renamed)])
    with pytest.raises(ValueError, match=r"nothing\.json: scores file not found"):
        main(["fuse", str(first), str(tmp_path / "nothing.json")])


def test_a_model_folder_without_a_processor_is_a_clear_error(model_dir, videos, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(model_dir, bare)
    (bare / "video_preprocessor_config.json").unlink()
    with pytest.raises(ValueError, match=r"bare: no video_preprocessor_config\.json"):
        main(["predict", str(bare), str(videos["good"][0])])
    with pytest.raises(ValueError, match=r"absent_model: model folder not found"):
        main(["predict", str(tmp_path / "absent_model"), str(videos["good"][0])])


def test_fuse_rescores_files_with_true_labels_and_refuses_different_videos(tmp_path, capsys):
    labels = ["a", "b", "c"]
    # model 1 is right on videos 0 and 1, model 2 on videos 1 and 2; their mean is right on all three
    one = Scores("m1", labels, ["v0", "v1", "v2"], [[3, 0, 0], [0, 3, 0], [0, 2, 1]], targets=[0, 1, 2])
    two = Scores("m2", labels, ["v2", "v1", "v0"], [[0, 0, 3], [0, 3, 0], [1, 2, 0]], targets=[2, 1, 0])
    paths = [save_scores(one, tmp_path / "one.json"), save_scores(two, tmp_path / "two.json")]
    assert main(["fuse", *map(str, paths)]) == 0
    out = capsys.readouterr().out
    assert "one.json: top1 66.67%" in out and "two.json: top1 66.67%" in out and "fused: top1 100.00%" in out
    fewer = save_scores(Scores("m3", labels, ["v0", "v1"], [[1, 0, 0], [0, 1, 0]]), tmp_path / "fewer.json")
    with pytest.raises(ValueError, match=r"fewer\.json: scores a different set of videos .*'v2'"):
        main(["fuse", str(paths[0]), str(fewer)])
