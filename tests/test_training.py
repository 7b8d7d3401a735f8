"""Training: recipes and the flag vocabulary, parameter groups, metric, builders that read a checkpoint, the
Accelerate loop (loss falls, exact resume, NaN / Ctrl-C handling, 2-process DDP, launch check), evaluation on a
test split alone, the Trainer example, the fine-tuning guide, and the synthetic task that separates TANet from C2D."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import typing
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tanet_hf import TANetConfig, TANetForVideoClassification
from tanet_hf.registry import RECIPES
from tanet_hf.synthetic import generate_synthetic_motion_dataset
from tanet_hf.training.arguments import DataArguments, ModelArguments, TrainArguments, recipe_from_arguments
from tanet_hf.training.builders import release_parameter_groups
from tanet_hf.training.checkpointing import list_checkpoints
from tanet_hf.training.evaluation import METRIC_DIR, load_video_accuracy
from tanet_hf.training.recipes import lr_factor, scaled_learning_rate, warmup_steps_of

REPO = Path(__file__).resolve().parents[1]


def _load_example(name: str):
    """`examples/<name>.py` as a module (the examples are scripts, not part of the package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", REPO / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve string annotations through sys.modules
    spec.loader.exec_module(module)
    return module


train = _load_example("train").train
ARCHITECTURES_TINY = dict(layer_type="basic", hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], embedding_size=16)
VENV_BIN = Path(sys.executable).parent


pytestmark = pytest.mark.usefixtures("fresh_accelerate_state")


def _arguments(data_dir: Path, output_dir: Path, **overrides):
    """Tiny-TANet arguments for the tiny dataset; `overrides` go to whichever dataclass has the field."""
    model_args = ModelArguments(arch="tiny", num_frames=4)
    data_args = DataArguments(
        dataset=str(data_dir), short_side_size=32, crop_size=32, cache_dir=str(output_dir / "hf_cache")
    )
    train_args = TrainArguments(
        output_dir=str(output_dir),
        recipe="synthetic",
        per_device_train_batch_size=4,
        num_train_epochs=2,
        report_to="none",
        logging_steps=1,
        dataloader_num_workers=0,
    )
    for name, value in overrides.items():
        for args in (model_args, data_args, train_args):
            if name in {f.name for f in dataclasses.fields(args)}:
                setattr(args, name, value)
                break
        else:
            raise KeyError(name)
    return model_args, data_args, train_args


def _cli(model_args, data_args, train_args) -> list[str]:
    flags = []
    for args in (model_args, data_args, train_args):
        for f in dataclasses.fields(args):
            value = getattr(args, f.name)
            if value is None or value == f.default:
                continue
            flags += [f"--{f.name}", *(map(str, value) if isinstance(value, list) else [str(value)])]
    return flags


# ---------------------------------------------------------------------------------------------------------------
# Recipe, parameter groups, schedule, metric
# ---------------------------------------------------------------------------------------------------------------


def test_recipes_follow_the_paper_and_are_overridable():
    model_args, data_args = ModelArguments(), DataArguments()
    k400 = recipe_from_arguments(TrainArguments(recipe="kinetics400"), model_args, data_args)
    assert (k400.optimizer, k400.learning_rate, k400.momentum, k400.max_grad_norm) == ("sgd", 0.01, 0.9, 20.0)
    assert (k400.num_train_epochs, k400.lr_steps, k400.weight_decay, k400.dropout) == (100, (50, 75, 90), 1e-4, 0.5)
    assert k400.processor_preset == "kinetics400" and (k400.linear_lr_mult, k400.linear_bias_lr_mult) == (5.0, 10.0)
    sthv1 = recipe_from_arguments(TrainArguments(recipe="sthv1"), model_args, data_args)
    assert (sthv1.num_train_epochs, sthv1.lr_steps, sthv1.weight_decay, sthv1.dropout) == (50, (30, 40, 45), 1e-3, 0.6)
    sthv2 = recipe_from_arguments(TrainArguments(recipe="sthv2"), model_args, data_args)
    assert (sthv2.weight_decay, sthv2.processor_preset) == (5e-4, "sthv2")
    custom = recipe_from_arguments(
        TrainArguments(
            recipe="sthv2", learning_rate=0.02, lr_steps=[10], optim="adamw_torch", lr_scheduler_type="cosine"
        ),
        ModelArguments(dropout=0.1),
        data_args,
    )
    assert (custom.learning_rate, custom.lr_steps, custom.optimizer, custom.dropout) == (0.02, (10,), "adamw", 0.1)
    assert custom.lr_scheduler == "cosine" and custom.weight_decay == 5e-4  # unset fields keep the recipe's
    assert scaled_learning_rate(k400, 8 * 8) == pytest.approx(0.01)
    assert scaled_learning_rate(k400, 16) == pytest.approx(0.0025) and scaled_learning_rate(k400, 16, False) == 0.01
    with pytest.raises(ValueError, match="recipe='imagenet' is not known"):
        recipe_from_arguments(TrainArguments(recipe="imagenet"), model_args, data_args)
    with pytest.raises(ValueError, match="optim='lamb'"):
        recipe_from_arguments(TrainArguments(optim="lamb"), model_args, data_args)
    with pytest.raises(ValueError, match="lr_scheduler_type='linear'"):
        recipe_from_arguments(TrainArguments(lr_scheduler_type="linear"), model_args, data_args)


def test_flags_use_training_arguments_names_and_no_flags_have_their_own_help():
    from transformers import TrainingArguments

    from tanet_hf.training.arguments import RecipeArguments, make_parser

    ours = {f.name for f in dataclasses.fields(TrainArguments)} - {f.name for f in dataclasses.fields(RecipeArguments)}
    theirs = {f.name for f in dataclasses.fields(TrainingArguments)}
    assert ours - theirs == {"stop_after_steps", "do_final_eval", "confusion_matrix_max_labels"}, ours - theirs
    model_and_data = {
        f.name for cls in (ModelArguments, DataArguments, RecipeArguments) for f in dataclasses.fields(cls)
    }
    assert not model_and_data & theirs  # the Trainer example parses them next to TrainingArguments
    parser = make_parser((ModelArguments, DataArguments, TrainArguments))
    helps = {option: action.help for action in parser._actions for option in action.option_strings}
    assert helps["--no_scale_lr"] == "Turn off --scale_lr (on by default)." != helps["--scale_lr"]
    assert helps["--no_do_final_eval"].startswith("Turn off --do_final_eval")
    _, _, train_args = parser.parse_args_into_dataclasses(
        args=["--bf16", "--save_strategy", "steps", "--save_steps", "7", "--dataloader_num_workers", "3"]
    )
    assert (train_args.mixed_precision, train_args.save_steps, train_args.dataloader_num_workers) == ("bf16", 7, 3)
    with pytest.raises(ValueError, match="eval_strategy='steps' needs --eval_steps"):
        TrainArguments(eval_strategy="steps")


def test_release_parameter_groups():
    model = TANetForVideoClassification(
        TANetConfig(hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], embedding_size=8, num_frames=4, num_labels=5)
    )
    groups = {g["name"]: g for g in release_parameter_groups(model, learning_rate=0.1, weight_decay=1e-4)}
    assert sorted(groups) == ["conv_weight", "linear_bias", "linear_weight", "norm"]  # no conv biases in TANet
    ids = {name: {id(p) for p in g["params"]} for name, g in groups.items()}
    assert sum(len(v) for v in ids.values()) == len(list(model.parameters()))  # every parameter exactly once
    assert ids["linear_bias"] == {id(model.classifier.bias)}
    tam_global = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not model.classifier]
    assert tam_global and all(
        id(m.weight) in ids["linear_weight"] for m in tam_global
    )  # TAM's G is lr × 5, as released
    tam_local = model.tanet.encoder.stages[0].layers[0].tam.L[0]
    assert isinstance(tam_local, torch.nn.Conv1d) and id(tam_local.weight) in ids["conv_weight"]
    expected = {"conv_weight": (0.1, 1e-4), "linear_weight": (0.5, 1e-4), "linear_bias": (1.0, 0.0), "norm": (0.1, 0.0)}
    for name, (lr, decay) in expected.items():
        assert groups[name]["lr"] == pytest.approx(lr) and groups[name]["weight_decay"] == pytest.approx(decay)
    with pytest.raises(ValueError, match="Embedding.*no learning-rate policy"):
        release_parameter_groups(torch.nn.Sequential(torch.nn.Embedding(3, 4)), 0.1, 0.0)


@pytest.mark.parametrize("module", typing.get_args(TANetConfig.__annotations__["temporal_module"]))
def test_every_temporal_module_has_a_learning_rate_policy(module):
    from conftest import tiny_config_kwargs

    model = TANetForVideoClassification(TANetConfig(**tiny_config_kwargs(temporal_module=module)))
    groups = release_parameter_groups(model, learning_rate=0.1, weight_decay=1e-4)
    grouped = [id(p) for g in groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())  # every parameter exactly once


def test_step_and_cosine_schedules():
    k400 = RECIPES["kinetics400"]
    factors = {epoch: lr_factor(epoch * 10, 10, 1000, k400) for epoch in (0, 49, 50, 74, 75, 90, 99)}
    assert factors == pytest.approx({0: 1, 49: 1, 50: 0.1, 74: 0.1, 75: 0.01, 90: 0.001, 99: 0.001})
    assert lr_factor(509, 10, 1000, k400) == pytest.approx(0.1)  # changes at epoch boundaries, as the release
    cosine = dataclasses.replace(RECIPES["synthetic"], warmup_epochs=1.0)
    warmup = warmup_steps_of(cosine, 10)
    assert warmup == 10 and warmup_steps_of(cosine, 10, warmup_steps=3) == 3  # --warmup_steps wins
    assert lr_factor(0, 10, 100, cosine, warmup) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100, cosine, warmup) == pytest.approx(1.0)
    assert lr_factor(55, 10, 100, cosine, warmup) == pytest.approx(0.5)
    assert lr_factor(100, 10, 100, cosine, warmup) == pytest.approx(0.0)


def test_video_accuracy_metric_loads_offline_by_path():
    import evaluate

    metric = evaluate.load(str(METRIC_DIR))
    scores = np.array([[0.1, 0.5, 0.4], [0.9, 0.05, 0.05], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    results = metric.compute(predictions=scores, references=[2, 0, 2, 1], top_k=(1, 2, 5), return_confusion_matrix=True)
    assert results["top1"] == pytest.approx(0.5)  # rows 1 and 2 right
    assert results["top2"] == pytest.approx(1.0)  # row 0's 2 is second; row 3's 1 is second
    assert results["top5"] == pytest.approx(1.0)  # k beyond the class count: every class counts
    assert results["mean_class_accuracy"] == pytest.approx((1.0 + 0.0 + 0.5) / 3)
    assert results["confusion_matrix"] == [[1, 0, 0], [1, 0, 0], [0, 1, 1]]
    with pytest.raises(ValueError, match=r"references must be class indices in \[0, 3\)"):
        load_video_accuracy().compute(predictions=scores, references=[0, 1, 2, 3])


def test_initialisation_from_imagenet_weights_and_from_a_tanet_checkpoint(tmp_path):
    import torchvision

    from tanet_hf import TANetVideoProcessor
    from tanet_hf.registry import DATASETS
    from tanet_hf.training.builders import build_augmentation, build_model, build_processor

    STHV2_FLIP_LABEL_MAP = DATASETS["sthv2"].flip_label_map

    resnet18 = torchvision.models.resnet18(num_classes=1000)  # random weights stand in for the ImageNet file
    torch.save(resnet18.state_dict(), tmp_path / "resnet18.pth")
    model = build_model(ModelArguments(arch="r18", init_from_imagenet=str(tmp_path / "resnet18.pth")), ["a", "b"], 0.5)
    assert torch.equal(model.tanet.embedder.convolution.weight, resnet18.conv1.weight)
    assert torch.equal(model.tanet.encoder.stages[3].layers[1].conv2.weight, resnet18.layer4[1].conv2.weight)
    assert model.classifier.out_features == 2 and model.config.classifier_dropout == 0.5

    source = TANetForVideoClassification(
        TANetConfig(**ARCHITECTURES_TINY, num_frames=4, num_labels=3, id2label={0: "x", 1: "y", 2: "z"})
    )
    source.save_pretrained(tmp_path / "checkpoint")
    TANetVideoProcessor(num_frames=4, crop_size=32, short_side_size=32).save_pretrained(tmp_path / "checkpoint")
    args = ModelArguments(init_from=str(tmp_path / "checkpoint"))  # T and the network come from the checkpoint
    same = build_model(args, ["x", "y", "z"], 0.2)
    assert torch.equal(same.classifier.weight, source.classifier.weight)  # same labels: the head is kept
    new = build_model(args, ["cat", "dog"], 0.2)
    assert new.classifier.out_features == 2 and new.config.id2label == {0: "cat", 1: "dog"}
    assert torch.equal(new.tanet.embedder.convolution.weight, source.tanet.embedder.convolution.weight)
    assert float(new.classifier.weight.detach().std()) < 0.01  # a fresh N(0, 0.001) head
    data_args = DataArguments()
    assert same.config.num_frames == 4 and same.config.hidden_sizes == ARCHITECTURES_TINY["hidden_sizes"]
    kept = build_processor(data_args, RECIPES["synthetic"], 4, str(tmp_path / "checkpoint"))
    assert kept.crop_size.height == 32 and kept.num_frames == 4
    sthv2 = dataclasses.replace(RECIPES["synthetic"], processor_preset="sthv2")
    assert build_augmentation(data_args, sthv2, ["x", "y", "z"], False).flip_label_map == STHV2_FLIP_LABEL_MAP
    assert build_augmentation(data_args, sthv2, ["cat", "dog"], True).flip_label_map is None  # it named old classes
    pairs = build_augmentation(DataArguments(flip_label_pairs="cat:dog"), sthv2, ["cat", "dog"], True)
    assert pairs.flip_label_map == {0: 1, 1: 0} and pairs.do_flip
    with pytest.raises(ValueError, match="--num_frames 8 with init_from .*num_frames=4"):
        build_model(ModelArguments(init_from=str(tmp_path / "checkpoint"), num_frames=8), ["x"], 0.2)
    with pytest.raises(ValueError, match="--arch r50 with init_from"):
        build_model(ModelArguments(init_from=str(tmp_path / "checkpoint"), arch="r50"), ["x"], 0.2)


def test_config_overrides_that_change_the_network_are_refused_on_a_checkpoint(tmp_path):
    from tanet_hf.training.builders import build_model

    source = TANetForVideoClassification(TANetConfig(**ARCHITECTURES_TINY, num_frames=4, num_labels=2))
    source.save_pretrained(tmp_path / "checkpoint")
    loaded = ModelArguments(init_from=str(tmp_path / "checkpoint"), config_overrides='tam_position="c"')
    with pytest.raises(ValueError, match=r"config_overrides sets \['tam_position'\] on the checkpoint"):
        build_model(loaded, ["LABEL_0", "LABEL_1"], 0.5)
    neutral = ModelArguments(init_from=str(tmp_path / "checkpoint"), config_overrides='tam_implementation="reference"')
    model = build_model(neutral, ["LABEL_0", "LABEL_1"], 0.5)
    assert model.config.tam_implementation == "reference"
    pixel_values = torch.randn(1, 4, 3, 32, 32)
    source.eval(), model.eval()
    assert torch.allclose(source(pixel_values).logits, model(pixel_values).logits, atol=1e-5)  # the same network
    # a new model takes any override, and its modules follow it: the saved folder reloads as that network
    fresh = build_model(ModelArguments(arch="tiny", num_frames=4, config_overrides='tam_position="c"'), ["a", "b"], 0.5)
    fresh.save_pretrained(tmp_path / "fresh")
    reloaded = TANetForVideoClassification.from_pretrained(tmp_path / "fresh")
    assert reloaded.config.tam_position == "c" and reloaded.state_dict().keys() == fresh.state_dict().keys()
    as_b = TANetForVideoClassification(TANetConfig(**{**fresh.config.to_dict(), "tam_position": "b"}))
    as_b.load_state_dict(fresh.state_dict())
    reloaded.eval(), as_b.eval()
    with torch.no_grad():  # same weights, TAM at another place: another function, which the reloaded folder keeps
        assert not torch.allclose(reloaded(pixel_values).logits, as_b(pixel_values).logits, atol=1e-6)
        assert torch.equal(reloaded(pixel_values).logits, fresh.eval()(pixel_values).logits)


# ---------------------------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------------------------


def test_a_few_steps_loss_falls_and_the_folder_serves_the_pipeline(tiny_dataset, tmp_path):
    from huggingface_hub import ModelCard
    from transformers import AutoModelForVideoClassification, pipeline

    from tanet_hf.conversion.hub import check_hub_folder

    args = _arguments(
        tiny_dataset, tmp_path / "run", dropout=0.0, num_train_epochs=16, learning_rate=0.04, warmup_steps=0,
        multiscale_scales=[1.0], do_flip=False, channels_last=True, gradient_accumulation_steps=2,
        per_device_train_batch_size=2, eval_strategy="steps", eval_steps=16,
    )  # fmt: skip
    result = train(*args)
    losses = [entry["train/loss"] for entry in result.log_history if "train/loss" in entry]
    assert result.status == "finished" and result.global_step == 16 * 4 and len(losses) == 64
    assert np.mean(losses[-8:]) < np.mean(losses[:8]) - 0.2, losses  # it learns (memorises the 16 videos)
    evaluations = [e for e in result.log_history if "eval/top1" in e]
    assert [e["epoch"] for e in evaluations] == [4, 8, 12, 16]
    assert (
        2e-3 < result.log_history[0]["train/lr"] <= 0.04 * 4 / 64
    )  # lr scaled by the global batch (2 × 2 accumulation)

    out = tmp_path / "run"
    assert result.model_dir == str(out / "model") and not list(out.glob("**/.tmp-*"))
    evaluated = json.loads((out / "eval_results.json").read_text())
    assert {"validation_single_view", "test_multi_view"} <= set(evaluated)
    assert "top1" in evaluated["test_multi_view"] and "top5" not in evaluated["test_multi_view"]  # 2 classes
    assert (out / "confusion_matrix.png").stat().st_size > 1000
    assert (out / "model" / "labels.txt").read_text().split() == ["approaching", "receding"]
    assert "README.md" in check_hub_folder(out / "model")  # what `tanet-hf push` uploads as is
    card = ModelCard.load(out / "model" / "README.md")  # the one card writer: measured accuracy in `model-index`
    measured = json.loads((out / "eval_results.json").read_text())["test_multi_view"]
    top1 = next(
        r for r in card.data.eval_results if r.metric_type == "accuracy" and r.dataset_split == "test_multi_view"
    )
    assert top1.metric_value == round(100 * measured["top1"], 2) and "recipe `synthetic`" in card.text
    model = AutoModelForVideoClassification.from_pretrained(out / "model")
    assert model.config.id2label == {0: "approaching", 1: "receding"} and model.config.num_frames == 4
    classifier = pipeline("video-classification", model=str(out / "model"))
    video = next((tiny_dataset / "test" / "receding").glob("*.mp4"))
    predictions = classifier(str(video), top_k=2)
    assert {p["label"] for p in predictions} == {"approaching", "receding"}


def test_resume_is_exact(tiny_dataset, tmp_path):
    common = dict(dropout=0.5, num_train_epochs=2, gradient_accumulation_steps=2, per_device_train_batch_size=2, eval_strategy="no", do_final_eval=False)  # fmt: skip
    straight = train(*_arguments(tiny_dataset, tmp_path / "straight", dataloader_num_workers=2, **common))
    # the same run, stopped mid-epoch after 3 optimizer steps (of 4 per epoch) and continued from "latest"
    first = train(*_arguments(tiny_dataset, tmp_path / "resumed", stop_after_steps=3, **common))
    assert first.status == "stopped" and first.global_step == 3
    state = json.loads((Path(first.checkpoint) / "trainer_state.json").read_text())
    assert (state["epoch"], state["batch_in_epoch"]) == (0, 6)  # 3 steps × 2 accumulated batches
    second = train(*_arguments(tiny_dataset, tmp_path / "resumed", resume_from_checkpoint="latest", **common))
    assert second.status == "finished" and second.global_step == straight.global_step == 8
    a, b = straight.model.state_dict(), second.model.state_dict()
    for name in a:
        assert torch.equal(a[name], b[name]), name  # bit-identical weights, BatchNorm statistics included
    losses = lambda r: [e["train/loss"] for e in r.log_history if "train/loss" in e]  # noqa: E731
    assert losses(second) == losses(straight)  # the resumed history continues the first part's
    assert [c.name for c in list_checkpoints(tmp_path / "resumed")] == ["checkpoint-3", "checkpoint-4", "checkpoint-8"]


def test_nan_loss_stops_with_the_step_and_a_saved_state(tiny_dataset, tmp_path, monkeypatch):
    original = TANetForVideoClassification.forward
    calls = {"n": 0}

    def forward_with_nan(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3 and out.loss is not None:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(TANetForVideoClassification, "forward", forward_with_nan)
    with pytest.raises(
        FloatingPointError, match=r"Non-finite loss .* at step 3 \(epoch 0, batch 2\).*nan-checkpoint-2"
    ):
        train(*_arguments(tiny_dataset, tmp_path / "nan", eval_strategy="no"))
    saved = tmp_path / "nan" / "checkpoints" / "nan-checkpoint-2"
    assert (saved / "model.safetensors").is_file() and json.loads((saved / "trainer_state.json").read_text())[
        "global_step"
    ] == 2
    assert list_checkpoints(tmp_path / "nan") == []  # "latest" never picks the NaN dump


def test_unreadable_training_videos_are_counted_or_fatal(tiny_dataset, tmp_path):
    import shutil

    from tanet_hf import VideoDecodeError

    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    (data / "train" / "approaching" / "approaching_0000.mp4").write_bytes(b"not a video at all")
    result = train(*_arguments(data, tmp_path / "skip", num_train_epochs=1, eval_strategy="no", do_final_eval=False))
    assert result.status == "finished" and result.skipped_videos == 1
    assert json.loads((tmp_path / "skip" / "train_results.json").read_text())["skipped_videos"] == 1
    with pytest.raises(VideoDecodeError, match="approaching_0000.mp4"):
        train(*_arguments(data, tmp_path / "strict", num_train_epochs=1, strict_videos=True, eval_strategy="no"))


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "RANK", "WORLD_SIZE", "LOCAL_RANK"))}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    return env


def test_ctrl_c_saves_a_resumable_state(tiny_dataset, tmp_path):
    out = tmp_path / "interrupted"
    args = _arguments(
        tiny_dataset,
        out,
        num_train_epochs=300,
        eval_strategy="no",
        save_strategy="steps",
        save_steps=5,
        dataloader_num_workers=1,
    )
    process = subprocess.Popen(
        [sys.executable, str(REPO / "examples" / "train.py"), *_cli(*args)],
        cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 240
    while not list_checkpoints(out) and time.time() < deadline and process.poll() is None:
        time.sleep(0.5)
    assert list_checkpoints(out), process.communicate()[0][-3000:]
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group, workers included
    output, _ = process.communicate(timeout=180)
    assert process.returncode == 0, output[-3000:]
    summary = json.loads((out / "train_results.json").read_text())
    assert summary["status"] == "stopped" and 5 <= summary["global_step"] < 600
    assert "continue with --resume_from_checkpoint latest" in output
    stopped_at = summary["global_step"]
    assert list_checkpoints(out)[-1].name == f"checkpoint-{stopped_at}"
    resumed = train(
        *_arguments(
            tiny_dataset,
            out,
            num_train_epochs=300,
            eval_strategy="no",
            resume_from_checkpoint="latest",
            stop_after_steps=2,
        )
    )
    assert resumed.global_step == stopped_at + 2


def test_top5_is_reported_only_with_more_than_five_classes():
    from tanet_hf.training.evaluation import describe, reported_top_k

    assert reported_top_k(2) == reported_top_k(5) == (1,) and reported_top_k(6) == (1, 5)
    assert "top-5" not in describe({"top1": 1.0, "mean_class_accuracy": 1.0})


def test_several_processes_without_a_distributed_setup_are_stopped_with_how_to_launch(tiny_dataset, tmp_path):
    from tanet_hf.training.arguments import LaunchError, check_distributed_launch

    with pytest.raises(LaunchError, match="WORLD_SIZE=2 .*accelerate launch --num_processes 2"):
        check_distributed_launch(1, {"WORLD_SIZE": "2"})
    check_distributed_launch(2, {"WORLD_SIZE": "2"})  # a real 2-process group
    check_distributed_launch(1, {})
    out = tmp_path / "raced"
    completed = subprocess.run(
        [sys.executable, str(REPO / "examples" / "train.py"), *_cli(*_arguments(tiny_dataset, out))],
        cwd=REPO, env=_env() | {"WORLD_SIZE": "2", "RANK": "1"}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 1 and "accelerate launch --num_processes 2" in completed.stderr, completed.stderr
    assert not out.exists()  # stopped before writing anything


def test_evaluation_only_on_a_test_split_alone(tiny_dataset, tmp_path):
    import shutil

    from tanet_hf import TANetVideoProcessor
    from tanet_hf.training.datasets import load_video_classification_data
    from tanet_hf.training.evaluation import evaluate_split

    shutil.copytree(tiny_dataset / "test", tmp_path / "only_test" / "test")
    data = load_video_classification_data(tmp_path / "only_test", cache_dir=str(tmp_path / "cache"))
    assert list(data.splits) == ["test"]
    labels = {0: "approaching", 1: "receding"}
    model = TANetForVideoClassification(TANetConfig(**ARCHITECTURES_TINY, num_frames=4, id2label=labels))
    model.save_pretrained(tmp_path / "model")
    TANetVideoProcessor(num_frames=4, short_side_size=32, crop_size=32, num_test_clips=2).save_pretrained(
        tmp_path / "model"
    )
    results = evaluate_split(tmp_path / "model", data.splits["test"], batch_size=2)
    assert results["num_samples"] == 4 and 0.0 <= results["top1"] <= 1.0 and "top5" not in results
    assert results["protocol"] == "2 clips × center" and sum(map(sum, results["confusion_matrix"])) == 4


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_ddp_on_cpu_keeps_ranks_identical(tiny_dataset, tmp_path):
    out = tmp_path / "ddp"
    args = _arguments(tiny_dataset, out, num_train_epochs=2, eval_strategy="epoch", do_final_eval=True)
    command = [
        str(VENV_BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
        str(REPO / "tests" / "training_rank_script.py"), *_cli(*args),
    ]  # fmt: skip
    env = _env() | {"ACCELERATE_USE_CPU": "true"}
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    assert "2 processes × 4 × 1 accumulation" in completed.stderr
    rank0, rank1 = (load_file(str(out / "rank_weights" / f"rank{i}.safetensors")) for i in (0, 1))
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    state = json.loads((list_checkpoints(out)[-1] / "trainer_state.json").read_text())
    assert state["num_processes"] == 2 and state["global_batch"] == 8 and state["global_step"] == 4  # 16 videos / 8
    assert (out / "model" / "model.safetensors").is_file()


def test_trainer_example_trains_the_recipe_and_writes_a_pushable_folder(tiny_dataset, tmp_path):
    from huggingface_hub import ModelCard

    from tanet_hf.conversion.hub import check_hub_folder

    finetune_trainer = _load_example("finetune_trainer")
    out = tmp_path / "trainer"
    trainer, metrics = finetune_trainer.run(
        [
            "--dataset", str(tiny_dataset), "--arch", "tiny", "--num_frames", "4", "--recipe", "synthetic",
            "--short_side_size", "32", "--crop_size", "32", "--cache_dir", str(tmp_path / "cache"),
            "--output_dir", str(out), "--max_steps", "4", "--per_device_train_batch_size", "4",
            "--per_device_eval_batch_size", "4", "--learning_rate", "0.016", "--eval_strategy", "steps",
            "--eval_steps", "4", "--save_strategy", "no", "--report_to", "none", "--use_cpu", "true",
            "--dataloader_num_workers", "1", "--logging_steps", "1",
        ]
    )  # fmt: skip
    # the recipe's optimizer over the release's parameter groups, lr scaled by global batch 4 / 64
    optimizer = trainer.optimizer.optimizer if hasattr(trainer.optimizer, "optimizer") else trainer.optimizer
    assert RECIPES["synthetic"].optimizer == "adamw" and type(optimizer) is torch.optim.AdamW
    groups = {g["name"]: g for g in optimizer.param_groups}
    assert set(groups) == {"conv_weight", "linear_weight", "linear_bias", "norm"}
    assert groups["linear_weight"]["initial_lr"] == pytest.approx(5 * 0.016 * 4 / 64)
    assert trainer.args.dataloader_num_workers == 1 and trainer.get_train_dataloader().num_workers == 1
    assert trainer.args.weight_decay == RECIPES["synthetic"].weight_decay  # unset: the recipe's
    assert {"train_loss", "validation_single_view_top1", "test_multi_view_mean_class_accuracy"} <= set(metrics)
    assert not any("top5" in key for key in metrics)  # two classes: top-5 would always be 1.0
    assert 0.0 <= metrics["test_multi_view_top1"] <= 1.0
    assert "README.md" in check_hub_folder(out / "model")  # what `tanet-hf push` uploads as is
    card = ModelCard.load(out / "model" / "README.md")
    assert (
        any(r.dataset_split == "test_multi_view" for r in card.data.eval_results) and "recipe `synthetic`" in card.text
    )


@pytest.mark.slow
def test_synthetic_task_separates_tanet_from_c2d(tmp_path):
    """The paper's claim in miniature: the same network with and without TAM, same data, same recipe (the demo's
    dataset and settings; about 2 minutes on 2 cores)."""
    data = generate_synthetic_motion_dataset(tmp_path / "synthetic", 400, 0, 24, seed=0)  # 1600 + 96 videos
    accuracy = {}
    for temporal_module in ("tam", "none"):
        result = train(
            ModelArguments(arch="tiny", num_frames=8, temporal_module=temporal_module),
            DataArguments(dataset=str(data), cache_dir=str(tmp_path / "cache")),
            TrainArguments(
                output_dir=str(tmp_path / temporal_module), recipe="synthetic", per_device_train_batch_size=16,
                report_to="none", logging_steps=50, eval_strategy="no", save_strategy="no", dataloader_num_workers=1,
            ),
        )  # fmt: skip
        accuracy[temporal_module] = result.metrics["test_multi_view"]["top1"]
    assert accuracy["tam"] >= 0.8 and accuracy["none"] <= 0.4, accuracy  # chance is 0.25


def _reset_accelerate() -> None:
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def test_the_finetuning_guide_runs(tiny_dataset, tmp_path):
    """Every block of docs/finetuning.md, on the tiny dataset and a tiny checkpoint, a couple of steps each."""
    import re
    import shlex

    from tanet_hf import TANetVideoProcessor
    from tanet_hf.conversion.hub import check_hub_folder

    checkpoint = tmp_path / "checkpoint"
    TANetForVideoClassification(TANetConfig(**ARCHITECTURES_TINY, num_frames=4, num_labels=3)).save_pretrained(
        checkpoint
    )
    TANetVideoProcessor(num_frames=4, short_side_size=32, crop_size=32, num_test_clips=2).save_pretrained(checkpoint)
    guide = (REPO / "docs" / "finetuning.md").read_text()
    paths = {"path/to/tanet-checkpoint": str(checkpoint), "my_videos": str(tiny_dataset), "outputs/": f"{tmp_path}/"}

    def localise(text: str) -> str:
        for old, new in paths.items():
            text = text.replace(old, new)
        return text

    (python_block,) = re.findall(r"```python\n(.*?)```", guide, re.S)
    code = localise(python_block).replace("num_train_epochs=5", "max_steps=2").replace("batch_size=8", "batch_size=4")
    code = code.replace("dataloader_num_workers=2", "dataloader_num_workers=0")
    namespace: dict = {}
    exec(compile(code, "docs/finetuning.md", "exec"), namespace)
    assert namespace["trainer"].state.global_step == 2
    assert (tmp_path / "guide" / "model.safetensors").is_file()
    assert (tmp_path / "guide" / "video_preprocessor_config.json").is_file()
    assert TANetForVideoClassification.from_pretrained(tmp_path / "guide").config.id2label == {
        0: "approaching",
        1: "receding",
    }
    commands = [
        shlex.split(localise(block).replace("\\\n", " ")) for block in re.findall(r"```bash\n(.*?)```", guide, re.S)
    ]
    scripts = [
        c for c in commands if c[:2] in (["python", "examples/finetune_trainer.py"], ["python", "examples/train.py"])
    ]
    assert len(scripts) == 2
    tiny = ["--max_steps", "2", "--per_device_train_batch_size", "4", "--dataloader_num_workers", "0"]
    for command in scripts:
        _reset_accelerate()
        name = Path(command[1]).stem
        module = _load_example(name)
        (module.run if name == "finetune_trainer" else module.main)(
            command[2:] + tiny + ["--cache_dir", str(tmp_path / "cache")]
        )
        output = Path(command[command.index("--output_dir") + 1])
        assert "README.md" in check_hub_folder(output / "model")  # the folder `tanet-hf push` (next block) takes
        card = (output / "model" / "README.md").read_text()
        assert "recipe `kinetics400`" in card and "test_multi_view" in card
    (push,) = [c for c in commands if c[:2] == ["tanet-hf", "push"]]
    assert Path(push[2]).parent == Path(scripts[1][scripts[1].index("--output_dir") + 1])
