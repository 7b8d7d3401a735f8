# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""The one home of every fact the library knows about TANet's datasets, recipes, architectures and checkpoints.

In the spirit of torchvision's weight enums and timm's pretrained configs, each fact is defined once here and
everything else derives from it: the inference video processor of a dataset or checkpoint ([`video_processor`]),
the model configuration of a checkpoint ([`config`]), the training recipes read by the training loop, the model
cards written by `tanet-hf model-cards` / `tanet-hf convert` (including the prose that describes a recipe, rendered
by [`Recipe.describe`]), and the converter's match of a file against a published checkpoint ([`match_published`]).

User lookups:

>>> from tanet_hf import registry
>>> [c.name for c in registry.list_checkpoints(dataset="sthv2")]
['tanet-r50-sthv2-8f', 'tanet-r50-sthv2-16f']
>>> registry.checkpoint("tanet-r50-sthv2-8f").protocol.describe(8)
'8 frames × 2 clips × 3 crops of 256², uniform sampling, logits averaged'
>>> processor = registry.video_processor("sthv2", num_frames=8)  # the published test views (inference only)

`from_pretrained` stays the canonical way to load a converted checkpoint; the registry says what it should be.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RELEASE_REPOSITORY = "https://github.com/liu-zhy/temporal-adaptive-module"
MMACTION2_ZOO = "https://github.com/open-mmlab/mmaction2/tree/main/configs/recognition/tanet"
PAPER_URL = "https://arxiv.org/abs/2005.06803"

# Normalisation of each source, RGB on the 0–1 scale. mmaction2's data preprocessor uses [123.675, 116.28, 103.5]
# / 255 (its blue mean is 103.5, not ImageNet's 103.53); the std is ImageNet's in both.
SOURCE_IMAGE_MEAN: dict[str, tuple[float, float, float]] = {
    "release": (0.485, 0.456, 0.406),
    "mmaction2": (123.675 / 255, 116.28 / 255, 103.5 / 255),
}
IMAGE_STD = (0.229, 0.224, 0.225)
SHORT_SIDE_SIZE = 256  # every protocol resizes the short side to 256 before cropping
TRAIN_CROP_SIZE = 224  # multi-scale crop resized to 224 in training; the single-view eval crop


# --------------------------------------------------------------------------------------------------------------
# Test protocols
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestProtocol:
    """How a checkpoint is tested: `num_clips` temporal clips × `num_crops` spatial crops of `crop_size`²."""

    __test__ = False  # not a pytest class

    sampling: str  # "dense" (T frames from a 64-frame window) or "uniform" (TSN segments)
    num_clips: int
    num_crops: int  # 1 (centre crop) or 3 (left/centre/right along the long side)
    crop_size: int  # after resizing the short side to SHORT_SIDE_SIZE
    fusion: str  # "logits" (the release) or "softmax" (mmaction2)
    clip_starts: str = "linspace"  # "linspace" (the release), "twice" (mmaction2's twice_sample)

    @property
    def num_views(self) -> int:
        return self.num_clips * self.num_crops

    def describe(self, num_frames: int) -> str:
        """E.g. `8 frames × 10 clips × 3 crops of 256², dense sampling, logits averaged`."""
        crops = "centre crop" if self.num_crops == 1 else f"{self.num_crops} crops"
        clips = f"{self.num_clips} clip{'s' if self.num_clips > 1 else ''}"
        fused = "" if self.num_views == 1 else f", {'logits' if self.fusion == 'logits' else 'softmax scores'} averaged"
        starts = " (mmaction2 `twice_sample`)" if self.clip_starts == "twice" and self.num_clips > 1 else ""
        return f"{num_frames} frames × {clips}{starts} × {crops} of {self.crop_size}², {self.sampling} sampling{fused}"

    def processor_settings(self) -> dict[str, Any]:
        """`TANetVideoProcessor` settings that reproduce this protocol's test views (inference settings only)."""
        test_crop = {1: "center", 3: "three_crop", 10: "ten_crop"}[self.num_crops]
        settings = {"sampling": self.sampling, "num_test_clips": self.num_clips, "test_crop": test_crop}
        # The processor's default test crop is the short side for three_crop, the eval crop otherwise; only a
        # protocol that differs sets it, so a processor with a smaller short side / crop keeps working.
        if self.crop_size != (SHORT_SIDE_SIZE if test_crop == "three_crop" else TRAIN_CROP_SIZE):
            settings["test_crop_size"] = self.crop_size
        return settings


# --------------------------------------------------------------------------------------------------------------
# Training recipes
# --------------------------------------------------------------------------------------------------------------


def _number(value: float) -> str:
    """`0.0001` → `1e-4`, `0.0075` → `0.0075`, `0.01` → `0.01`, `20.0` → `20`."""
    short = f"{value:.0e}"
    if 0 < value < 0.01 and float(short) == value:
        return short.replace("e-0", "e-")
    return f"{value:g}"


@dataclass(frozen=True)
class Recipe:
    """
    A training recipe: optimiser, schedule, regularisation and the data protocol. `learning_rate` is for a global
    batch of `batch_size` and is scaled linearly with the actual global batch by the training loop.
    """

    name: str
    optimizer: str  # "sgd" or "adamw"
    learning_rate: float
    num_train_epochs: float
    lr_scheduler: str  # "step", "cosine" or "constant"
    lr_steps: tuple[int, ...]
    weight_decay: float
    dropout: float
    momentum: float = 0.9
    warmup_epochs: float = 0.0
    max_grad_norm: float = 20.0
    linear_lr_mult: float = 5.0  # every nn.Linear weight (the classifier and TAM's global branch), as the release
    linear_bias_lr_mult: float = 10.0  # the classifier bias, no weight decay
    batch_size: int = 64
    processor_preset: str | None = None  # the dataset whose processor (sampling, test views) the recipe trains with
    processor_overrides: dict[str, Any] = field(default_factory=dict)
    do_flip: bool = False  # horizontal flip in training (with the dataset's label swap)
    flip_pairs: tuple[tuple[int, int], ...] | None = None  # overrides the dataset's pairs (another label order)
    imagenet_init: bool = True  # backbone initialised from torchvision's ImageNet ResNet-50
    source_config: str = ""  # the publisher's config name, when the recipe is a publisher's

    def as_dict(self) -> dict[str, Any]:
        """The hyper-parameters as the training loop reads them (`lr_steps` a list, the processor settings)."""
        fields = (
            "optimizer", "learning_rate", "momentum", "lr_scheduler", "warmup_epochs", "max_grad_norm",
            "linear_lr_mult", "linear_bias_lr_mult", "num_train_epochs", "weight_decay", "dropout",
            "processor_preset",
        )  # fmt: skip
        return {
            **{name: getattr(self, name) for name in fields},
            "lr_steps": list(self.lr_steps),
            "processor_overrides": dict(self.processor_overrides),
        }

    def describe(self) -> str:
        """One sentence for model cards, rendered from the fields (never written by hand)."""
        optimizer = "SGD" if self.optimizer == "sgd" else "AdamW"
        steps = "/".join(str(s) for s in self.lr_steps)
        schedule = f" ÷10 at epochs {steps}" if self.lr_scheduler == "step" else f", {self.lr_scheduler} schedule"
        parts = [
            f"momentum {_number(self.momentum)}",
            f"batch {self.batch_size}",
            f"lr {_number(self.learning_rate)}{schedule}",
            f"weight decay {_number(self.weight_decay)}",
            f"gradient-norm clip {_number(self.max_grad_norm)}",
            f"linear-layer lr ×{_number(self.linear_lr_mult)}",
        ]
        text = f"{_number(self.num_train_epochs)} epochs, {optimizer} ({', '.join(parts)}), dropout {_number(self.dropout)}"
        if self.processor_preset is not None:
            data = DATASETS[self.processor_preset]
            sampling = data.protocol.sampling
            text += (
                ", dense sampling (T frames from a 64-frame window)"
                if sampling == "dense"
                else ", uniform (TSN) sampling"
            )
            text += f", multi-scale crop {TRAIN_CROP_SIZE}"
            pairs = self.flip_pairs if self.flip_pairs is not None else data.flip_pairs
            if self.do_flip and pairs:
                swapped = ", ".join(f"{a}↔{b}" for a, b in pairs)
                text += f" + flip that swaps the left/right classes ({swapped})"
            elif self.do_flip:
                text += " + flip"
            else:
                text += ", no flip"
        if self.imagenet_init:
            text += ", initialised from torchvision's ImageNet ResNet-50"
        prefix = f"{self.source_config}: " if self.source_config else ""
        return prefix + text + "."


# --------------------------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """A video dataset: names, label set (`tanet_hf.labels`), the release's test protocol, flip pairs, recipe."""

    key: str
    display_name: str
    hub_id: str
    num_classes: int
    protocol: TestProtocol  # the authors' release protocol
    # Classes whose meaning a horizontal flip reverses ("... from left to right" ↔ "... from right to left"), in
    # the release's class order; `flip_label_map` swaps them when a training clip is flipped.
    flip_pairs: tuple[tuple[int, int], ...] = ()

    @property
    def label_set(self) -> str:
        return self.key

    @property
    def flip_label_map(self) -> dict[int, int] | None:
        if not self.flip_pairs:
            return None
        return {**{a: b for a, b in self.flip_pairs}, **{b: a for a, b in self.flip_pairs}}

    @property
    def recipe(self) -> Recipe:
        return RECIPES[self.key]


DATASETS: dict[str, Dataset] = {
    d.key: d
    for d in (
        Dataset("kinetics400", "Kinetics-400", "kinetics-400", 400, TestProtocol("dense", 10, 3, 256, "logits")),
        Dataset(
            "sthv1",
            "Something-Something V1",
            "something-something-v1",
            174,
            TestProtocol("uniform", 1, 1, 224, "logits"),
            flip_pairs=((3, 5), (31, 42), (53, 67)),
        ),
        Dataset(
            "sthv2",
            "Something-Something V2",
            "something-something-v2",
            174,
            TestProtocol("uniform", 2, 3, 256, "logits"),
            flip_pairs=((86, 87), (93, 94), (166, 167)),
        ),
    )
}

_RELEASE_STEP = dict(optimizer="sgd", learning_rate=0.01, lr_scheduler="step")

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "kinetics400", num_train_epochs=100, lr_steps=(50, 75, 90), weight_decay=1e-4, dropout=0.5,
            processor_preset="kinetics400", do_flip=True, **_RELEASE_STEP,
        ),
        Recipe(
            "sthv1", num_train_epochs=50, lr_steps=(30, 40, 45), weight_decay=1e-3, dropout=0.6,
            processor_preset="sthv1", do_flip=False, **_RELEASE_STEP,
        ),
        Recipe(
            "sthv2", num_train_epochs=50, lr_steps=(30, 40, 45), weight_decay=5e-4, dropout=0.5,
            processor_preset="sthv2", do_flip=True, **_RELEASE_STEP,
        ),
        # The synthetic motion dataset from scratch (no ImageNet weights): AdamW, warm-up and cosine decay, 64 px.
        Recipe(
            "synthetic", optimizer="adamw", learning_rate=8e-3, lr_scheduler="cosine", warmup_epochs=0.5,
            num_train_epochs=4, lr_steps=(), weight_decay=1e-4, dropout=0.3, imagenet_init=False,
            processor_overrides=dict(
                sampling="uniform", short_side_size=64, crop_size=64, num_test_clips=2, test_crop="center"
            ),
        ),
    )
}  # fmt: skip

# TANetConfig arguments of each backbone the training loop can build (ResNet-50 is the config's default).
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "r50": {},
    "r101": dict(depths=[3, 4, 23, 3]),
    "r152": dict(depths=[3, 8, 36, 3]),
    "r18": dict(layer_type="basic", hidden_sizes=[64, 128, 256, 512], depths=[2, 2, 2, 2]),
    "r34": dict(layer_type="basic", hidden_sizes=[64, 128, 256, 512], depths=[3, 4, 6, 3]),
    # a narrow ResNet-10 with basic blocks: the synthetic demo's model (~0.33M parameters)
    "tiny": dict(layer_type="basic", hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], embedding_size=16),
}


# --------------------------------------------------------------------------------------------------------------
# Published checkpoints
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportedResult:
    """Accuracy a publisher reports for a checkpoint under one protocol (not re-measured by this library)."""

    top1: float
    top5: float
    protocol: TestProtocol
    source_name: str
    source_url: str
    note: str = ""


@dataclass(frozen=True)
class PublishedCheckpoint:
    """
    One published TANet checkpoint, its origin, and the results reported for it.

    `sha256` is the digest of the released file. A converted file is credited with the reported accuracy only when
    its digest equals this one ([`match_published`]); while the digest is unknown (`None`: the files sit behind
    Google Drive / OpenMMLab downloads this library cannot fetch) only an explicit `--published NAME` claims it.
    """

    name: str  # Hub repository name
    source: str  # "release" or "mmaction2"
    dataset: str  # key of DATASETS
    num_frames: int
    results: tuple[ReportedResult, ...]
    download_url: str
    file_name: str
    recipe: Recipe
    sha256: str | None = None

    @property
    def image_mean(self) -> tuple[float, float, float]:
        return SOURCE_IMAGE_MEAN[self.source]

    @property
    def dataset_info(self) -> Dataset:
        return DATASETS[self.dataset]

    @property
    def num_labels(self) -> int:
        return self.dataset_info.num_classes

    @property
    def view_fusion(self) -> str:
        return "logits" if self.source == "release" else "softmax"

    @property
    def protocol(self) -> TestProtocol:
        """The protocol of the first (headline) result: the one the converted video processor is set up for."""
        return self.results[0].protocol

    @property
    def title(self) -> str:
        origin = "authors' release" if self.source == "release" else "mmaction2"
        return f"TANet-R50 · {self.dataset_info.display_name} · {self.num_frames} frames ({origin})"


_RELEASE_RESULTS = "authors' repository (liu-zhy/temporal-adaptive-module, README model zoo)"
_MMACTION2_RESULTS = "mmaction2 model zoo (configs/recognition/tanet)"
_MMA = "https://download.openmmlab.com/mmaction/v1.0/recognition/tanet"
_DRIVE = "https://drive.google.com/drive/folders/"


def _release(dataset: str, frames: int, top1: float, top5: float, folder: str) -> PublishedCheckpoint:
    result = ReportedResult(top1, top5, DATASETS[dataset].protocol, _RELEASE_RESULTS, RELEASE_REPOSITORY)
    return PublishedCheckpoint(
        f"tanet-r50-{dataset}-{frames}f", "release", dataset, frames, (result,), _DRIVE + folder,
        "ckpt.best.pth.tar", RECIPES[dataset],
    )  # fmt: skip


def _mmaction2(dataset, frames, results, config, stamp, recipe) -> PublishedCheckpoint:
    file_name = f"{config}_{stamp}.pth"
    return PublishedCheckpoint(
        f"tanet-r50-{dataset}-{frames}f-mmaction2", "mmaction2", dataset, frames, results,
        f"{_MMA}/{config}/{file_name}", file_name, recipe,
    )  # fmt: skip


_K400_MMACTION2 = TestProtocol("dense", 10, 3, 256, "softmax")
_STHV1_MMACTION2_EFFICIENT = TestProtocol("uniform", 1, 1, 224, "softmax")
_STHV1_MMACTION2_ACCURATE = TestProtocol("uniform", 2, 3, 256, "softmax", clip_starts="twice")
# mmaction2 indexes Something-Something V1 in the official CSV order, so its flip pairs differ from the release's.
_MMACTION2_STHV1_FLIP = ((2, 4), (30, 41), (52, 66))


def _mmaction2_result(top1: float, top5: float, protocol: TestProtocol, note: str = "") -> ReportedResult:
    return ReportedResult(top1, top5, protocol, _MMACTION2_RESULTS, MMACTION2_ZOO, note)


def _mmaction2_sthv1(config: str, batch: int, lr: float) -> Recipe:
    return Recipe(
        "sthv1-mmaction2", optimizer="sgd", learning_rate=lr, lr_scheduler="step", num_train_epochs=50,
        lr_steps=(30, 40, 45), weight_decay=1e-3, dropout=0.6, batch_size=batch, processor_preset="sthv1",
        do_flip=True, flip_pairs=_MMACTION2_STHV1_FLIP, source_config=f"mmaction2 config `{config}`",
    )  # fmt: skip


_K400_CONFIG = "tanet_imagenet-pretrained-r50_8xb8-dense-1x1x8-100e_kinetics400-rgb"
_STHV1_8_CONFIG = "tanet_imagenet-pretrained-r50_8xb8-1x1x8-50e_sthv1-rgb"
_STHV1_16_CONFIG = "tanet_imagenet-pretrained-r50_8xb6-1x1x16-50e_sthv1-rgb"

PUBLISHED_CHECKPOINTS: dict[str, PublishedCheckpoint] = {
    c.name: c
    for c in (
        _release("kinetics400", 8, 76.1, 92.3, "1sFfmP3yrfc7IzRshEELOby7-aEoymIFL"),
        _release("kinetics400", 16, 76.9, 92.9, "1nCefjTSPm0Q67e2oSHAhYQgofcim9jOe"),
        _release("sthv1", 8, 46.5, 75.8, "1XX5CNDvckaV7d9EH24SXmQsMT7s_a3Zm"),
        _release("sthv1", 16, 47.6, 77.7, "1wPbID2bVETG91SxpDURI_GeAOn8sqCda"),
        _release("sthv2", 8, 62.7, 88.0, "1dNxo2F4yiREfq4FdFAaSzPZbtYz8qrq7"),
        _release("sthv2", 16, 64.6, 89.5, "1dr5MEJKVEL_xVFrrHDzPOmdV_xZHX2Py"),
        _mmaction2(
            "kinetics400", 8, (_mmaction2_result(76.25, 92.41, _K400_MMACTION2),), _K400_CONFIG, "20220919-a34346bc",
            Recipe(
                "kinetics400-mmaction2", num_train_epochs=100, lr_steps=(50, 75, 90), weight_decay=1e-4,
                dropout=0.5, processor_preset="kinetics400", do_flip=True,
                source_config=f"mmaction2 config `{_K400_CONFIG}`", **_RELEASE_STEP,
            ),
        ),
        _mmaction2(
            "sthv1", 8,
            (
                _mmaction2_result(46.98, 75.75, _STHV1_MMACTION2_EFFICIENT, "efficient"),
                _mmaction2_result(49.71, 77.43, _STHV1_MMACTION2_ACCURATE, "accurate"),
            ),
            _STHV1_8_CONFIG, "20220906-de50e4ef", _mmaction2_sthv1(_STHV1_8_CONFIG, 64, 0.01),
        ),
        _mmaction2(
            "sthv1", 16,
            (
                _mmaction2_result(48.24, 78.16, _STHV1_MMACTION2_EFFICIENT, "efficient"),
                _mmaction2_result(50.95, 79.28, _STHV1_MMACTION2_ACCURATE, "accurate"),
            ),
            _STHV1_16_CONFIG, "20220919-cc37e9b8", _mmaction2_sthv1(_STHV1_16_CONFIG, 48, 0.0075),
        ),
    )
}  # fmt: skip


# --------------------------------------------------------------------------------------------------------------
# Lookups
# --------------------------------------------------------------------------------------------------------------


def list_checkpoints(dataset: str | None = None, source: str | None = None) -> list[PublishedCheckpoint]:
    """The published checkpoints (optionally of one dataset / source), each with its protocol and reported numbers."""
    return [
        c
        for c in PUBLISHED_CHECKPOINTS.values()
        if (dataset is None or c.dataset == dataset) and (source is None or c.source == source)
    ]


def checkpoint(name: str) -> PublishedCheckpoint:
    """The published checkpoint called `name` (e.g. `"tanet-r50-kinetics400-8f"`)."""
    if name not in PUBLISHED_CHECKPOINTS:
        raise KeyError(f"{name!r} is not a published checkpoint; expected one of {list(PUBLISHED_CHECKPOINTS)}.")
    return PUBLISHED_CHECKPOINTS[name]


def dataset(name: str) -> Dataset:
    """The dataset called `name` (`"kinetics400"`, `"sthv1"`, `"sthv2"`)."""
    if name not in DATASETS:
        raise KeyError(f"{name!r} is not a known dataset; expected one of {list(DATASETS)}.")
    return DATASETS[name]


def recipe(name: str) -> Recipe:
    """The training recipe called `name` (`"kinetics400"`, `"sthv1"`, `"sthv2"`, `"synthetic"`)."""
    if name not in RECIPES:
        raise KeyError(f"recipe {name!r} is not known; expected one of {list(RECIPES)}.")
    return RECIPES[name]


def config(name: str, **overrides: Any):
    """The `TANetConfig` of a published checkpoint: ResNet-50, its frames, classes and view fusion."""
    from .configuration_tanet import TANetConfig

    entry = checkpoint(name)
    settings = dict(num_frames=entry.num_frames, num_labels=entry.num_labels, view_fusion=entry.view_fusion)
    return TANetConfig(**{**settings, **overrides})


def processor_settings(dataset_or_tag: str, num_frames: int | None = None) -> dict[str, Any]:
    """
    The inference settings of `TANetVideoProcessor` for a dataset or a published checkpoint: sampling, the
    headline protocol's test views, short side 256, crop 224, the source's mean/std and T. No training settings.
    """
    if dataset_or_tag in PUBLISHED_CHECKPOINTS:
        entry = PUBLISHED_CHECKPOINTS[dataset_or_tag]
        protocol, mean, frames = entry.protocol, entry.image_mean, entry.num_frames
        if num_frames is not None and num_frames != frames:
            raise ValueError(f"{dataset_or_tag} is tied to num_frames={frames}, got num_frames={num_frames}.")
    elif dataset_or_tag in DATASETS:
        protocol, mean, frames = DATASETS[dataset_or_tag].protocol, SOURCE_IMAGE_MEAN["release"], num_frames or 8
    else:
        raise KeyError(
            f"{dataset_or_tag!r} is neither a dataset {list(DATASETS)} nor a published checkpoint "
            f"{list(PUBLISHED_CHECKPOINTS)}."
        )
    return {
        **protocol.processor_settings(),
        "num_frames": frames,
        "short_side_size": SHORT_SIDE_SIZE,
        "crop_size": TRAIN_CROP_SIZE,
        "image_mean": list(mean),
        "image_std": list(IMAGE_STD),
    }


def video_processor(dataset_or_tag: str, num_frames: int | None = None, **overrides: Any):
    """A `TANetVideoProcessor` with the inference settings of [`processor_settings`]; `overrides` replace any."""
    from .video_processing_tanet import TANetVideoProcessor

    return TANetVideoProcessor(**{**processor_settings(dataset_or_tag, num_frames), **overrides})


def match_published(sha256: str) -> PublishedCheckpoint | None:
    """The published checkpoint whose released file has this sha256, or `None` (unknown digests never match)."""
    matches = [c for c in PUBLISHED_CHECKPOINTS.values() if c.sha256 is not None and c.sha256 == sha256.lower()]
    return matches[0] if matches else None


__all__ = [
    "ARCHITECTURES",
    "DATASETS",
    "IMAGE_STD",
    "PUBLISHED_CHECKPOINTS",
    "RECIPES",
    "SOURCE_IMAGE_MEAN",
    "Dataset",
    "PublishedCheckpoint",
    "Recipe",
    "ReportedResult",
    "TestProtocol",
    "checkpoint",
    "config",
    "dataset",
    "list_checkpoints",
    "match_published",
    "processor_settings",
    "recipe",
    "video_processor",
]
