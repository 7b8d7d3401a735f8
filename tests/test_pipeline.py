"""pipeline("video-classification") on real video files, from a saved folder, with and without tanet_hf."""

from __future__ import annotations

import functools
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from transformers import pipeline

from tanet_hf import TANetConfig, TANetForVideoClassification, TANetVideoProcessor

sys.path.insert(0, str(Path(__file__).parent))
from conftest import tiny_config_kwargs  # noqa: E402
from remote_code import run_python_without_tanet_hf  # noqa: E402
from video_factory import make_video  # noqa: E402

LABELS = ["waving", "clapping", "jumping", "running", "sitting"]


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_tanet")
    config = TANetConfig(
        **tiny_config_kwargs(id2label=dict(enumerate(LABELS)), label2id={name: i for i, name in enumerate(LABELS)})
    )
    torch.manual_seed(0)
    model = TANetForVideoClassification(config).eval()
    with torch.no_grad():  # a classifier with visible preferences, so that top-k orders are meaningful
        model.classifier.weight.normal_(0, 0.5)
        model.classifier.bias.copy_(torch.tensor([0.0, 2.0, -1.0, 1.0, 0.5]))
    model.save_pretrained(folder)
    TANetVideoProcessor(num_frames=4, short_side_size=64, crop_size=56).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> list[Path]:
    directory = tmp_path_factory.mktemp("pipeline_videos")
    return [
        make_video(directory / "a.mp4", num_frames=30, size=(96, 72), pattern="texture"),
        make_video(directory / "b.webm", num_frames=17, size=(80, 60)),
        make_video(directory / "c.avi", num_frames=3, size=(72, 96)),  # shorter than T: looped
    ]


@functools.cache
def _load(folder: Path) -> tuple[TANetVideoProcessor, TANetForVideoClassification]:
    return TANetVideoProcessor.from_pretrained(folder), TANetForVideoClassification.from_pretrained(folder).eval()


def expected_scores(folder: Path, video: Path) -> torch.Tensor:
    """Class probabilities from the processor and the model called directly."""
    processor, model = _load(folder)
    with torch.no_grad():
        return model(**processor(str(video))).logits[0].softmax(-1)


def test_pipeline_classifies_a_file_like_the_model_does(model_folder, videos):
    classifier = pipeline("video-classification", model=str(model_folder))
    assert type(classifier.video_processor) is TANetVideoProcessor
    result = classifier(str(videos[0]))
    assert [entry["label"] for entry in result] and set(result[0]) == {"label", "score"}
    scores = expected_scores(model_folder, videos[0])
    top = scores.topk(5)
    assert [entry["label"] for entry in result] == [LABELS[i] for i in top.indices.tolist()]
    assert [entry["score"] for entry in result] == pytest.approx(top.values.tolist(), abs=1e-5)


def test_pipeline_on_a_list_with_top_k_and_batches(model_folder, videos):
    classifier = pipeline("video-classification", model=str(model_folder))
    paths = [str(video) for video in videos]
    one_by_one = classifier(paths, top_k=2)
    # transformers' pipeline collates batches through a feature extractor / image processor only: TANet has no
    # image processor, so batching takes the video processor as the feature extractor
    with pytest.raises(ValueError, match="cannot do batching"):
        classifier(paths, batch_size=2)
    processor = TANetVideoProcessor.from_pretrained(model_folder)
    batching = pipeline("video-classification", model=str(model_folder), feature_extractor=processor)
    batched = batching(paths, top_k=2, batch_size=2)
    assert len(one_by_one) == 3 and all(len(result) == 2 for result in one_by_one)
    for single, batch in zip(one_by_one, batched):
        assert [entry["label"] for entry in single] == [entry["label"] for entry in batch]
        assert [entry["score"] for entry in single] == pytest.approx([entry["score"] for entry in batch], abs=1e-5)
    for path, result in zip(paths, one_by_one):
        top = expected_scores(model_folder, Path(path)).topk(2)
        assert [entry["label"] for entry in result] == [LABELS[i] for i in top.indices.tolist()]


def test_pipeline_runs_the_multi_view_test_protocol_of_a_processor_saved_with_default_mode_test(
    model_folder, videos, tmp_path
):
    folder = tmp_path / "multi_view"
    shutil.copytree(model_folder, folder)
    processor = TANetVideoProcessor(
        num_frames=4, short_side_size=64, crop_size=56, num_test_clips=2, test_crop="three_crop", default_mode="test"
    )
    processor.save_pretrained(folder)
    classifier = pipeline("video-classification", model=str(folder))
    result = classifier(str(videos[0]), top_k=5)
    model = _load(model_folder)[1]
    with torch.no_grad():
        views = processor(str(videos[0]))["pixel_values"]
        assert views.shape == (1, 6, 4, 3, 64, 64)  # 2 clips × 3 crops, fused by the model
        test_scores = model(pixel_values=views).logits[0].softmax(-1)
    eval_scores = expected_scores(model_folder, videos[0])
    assert not torch.allclose(test_scores, eval_scores, atol=1e-4)  # the two protocols really differ here
    assert [entry["score"] for entry in result] == pytest.approx(test_scores.topk(5).values.tolist(), abs=1e-5)
    assert [entry["label"] for entry in result] == [LABELS[i] for i in test_scores.topk(5).indices.tolist()]


def test_pipeline_reports_broken_files_by_name(model_folder, tmp_path):
    from tanet_hf import VideoDecodeError

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x01not a video" * 100)
    classifier = pipeline("video-classification", model=str(model_folder))
    with pytest.raises(VideoDecodeError, match="broken.mp4"):
        classifier(str(broken))


def test_pipeline_and_auto_classes_from_the_folder_alone(model_folder, videos, tmp_path):
    """`trust_remote_code=True` in a process where tanet_hf cannot be imported, from a copy of the folder."""
    folder = tmp_path / "hub_copy"
    shutil.copytree(model_folder, folder)
    expected = [expected_scores(model_folder, video).topk(3) for video in videos[:2]]
    code = f"""
        import json
        import numpy as np
        from transformers import AutoVideoProcessor, pipeline
        folder = {str(folder)!r}
        video_processor = AutoVideoProcessor.from_pretrained(folder, trust_remote_code=True)
        classifier = pipeline(
            "video-classification", model=folder, trust_remote_code=True, feature_extractor=video_processor
        )
        results = classifier({[str(video) for video in videos[:2]]!r}, top_k=3, batch_size=2)
        frames = list(np.random.default_rng(0).integers(0, 256, size=(4, 70, 90, 3), dtype=np.uint8))
        shape = list(video_processor(frames, do_sample_frames=False, return_tensors="pt")["pixel_values"].shape)
        print(json.dumps(dict(
            results=results,
            classes=[type(classifier.model).__module__, type(video_processor).__module__],
            shape=shape,
        )))
    """
    result = run_python_without_tanet_hf(code, cwd=tmp_path)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for module in report["classes"]:
        assert module.startswith("transformers_modules."), module  # loaded from the folder's code, not tanet_hf
    assert report["shape"] == [1, 4, 3, 56, 56]
    for entries, top in zip(report["results"], expected):
        assert [entry["label"] for entry in entries] == [LABELS[i] for i in top.indices.tolist()]
        assert [entry["score"] for entry in entries] == pytest.approx(top.values.tolist(), abs=1e-5)
