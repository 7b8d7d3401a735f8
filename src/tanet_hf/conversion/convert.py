# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""`tanet-hf convert`: a TANet checkpoint of the authors' release or of mmaction2 → a complete Hub folder.

The source layouts and how their keys are renamed are tabulated in `tanet_hf.conversion.state_dict`.

The folder holds the model, the inference video processor of the dataset's (or the published checkpoint's) test
protocol from `tanet_hf.registry`, the remote-code files and a model card (`tanet_hf.conversion.model_card`).
The card claims the publisher's accuracy only when the file *is* the published one: its sha256 equals the digest
recorded in the registry, or the user names the entry with `--published NAME` (the only way while a digest is
not recorded). The command says which entry matched, and how.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from .. import registry
from ..atomic import recover_folder, replace_folder
from ..configuration_tanet import TANetConfig
from ..labels import LABEL_SETS, read_labels
from ..modeling_tanet import TANetForVideoClassification
from .hub import check_hub_folder
from .model_card import DEFAULT_NAMESPACE, ConversionInfo, build_model_card, sha256_of_file
from .state_dict import (
    CheckpointError,
    compare_state_dict,
    detect_source,
    infer_config_kwargs,
    read_state_dict,
    rename_state_dict,
    source_name,
)

logger = logging.getLogger(__name__)

SOURCES = ("release", "mmaction2")


def resolve_labels(labels: str | os.PathLike | list[str] | None, num_labels: int, source: str) -> list[str] | None:
    """
    Class names for `id2label` ([`tanet_hf.labels.read_labels`]), checked against the classifier's size. The
    release indexes Something-Something V1 by the sorted class names, so `sthv1` is sorted for `source="release"`.
    """
    if labels is None:
        return None
    order = "sorted" if source == "release" and str(labels) == "sthv1" else "official"
    try:
        names = read_labels(labels, order=order)
    except FileNotFoundError as error:
        raise ValueError(f"--labels {labels!r} is neither one of {list(LABEL_SETS)} nor an existing file.") from error
    if len(names) != num_labels:
        what = "the given label list" if isinstance(labels, list) else repr(labels)
        raise ValueError(
            f"labels {what} hold {len(names)} class names but the checkpoint's classifier has {num_labels} classes."
        )
    return names


def find_published(
    published: str | None, sha256: str, kwargs: dict, source: str, path: Path
) -> tuple[registry.PublishedCheckpoint | None, str]:
    """
    The published checkpoint a file is, and how that was established: `--published NAME` (checked against the
    registry's sha256 when it records one) or the file's sha256 equal to a recorded one. `(None, reason)` otherwise.
    """
    if published is not None:
        try:
            entry = registry.checkpoint(published)
        except KeyError as error:
            raise ValueError(error.args[0]) from None
        if entry.sha256 is not None and entry.sha256 != sha256:
            raise CheckpointError(
                f"{path}: --published {published} names a file with sha256 {entry.sha256}; this file's is {sha256}."
            )
        how = "named by --published, " + (
            "sha256 verified" if entry.sha256 else "sha256 not recorded in the registry, so unverified"
        )
    else:
        entry = registry.match_published(sha256)
        if entry is None:
            return None, f"sha256 {sha256} is not a published file: the card claims no published accuracy"
        how = "sha256 matches the published file"
    reference = registry.config(entry.name)
    differing = {k: v for k, v in kwargs.items() if getattr(reference, k) != v}
    if entry.source != source or differing:
        raise CheckpointError(
            f"{path}: published={entry.name!r} is a {entry.source} ResNet-50 with {entry.num_frames} frames and "
            f"{entry.num_labels} classes; this {source} checkpoint differs in {differing or 'its layout'}."
        )
    return entry, how


def _load_model(
    config: TANetConfig, names: list[str] | None, renamed, source: str, path: Path
) -> TANetForVideoClassification:
    """A `TANetForVideoClassification` holding the renamed tensors; raises naming every missing / extra key."""
    if names is not None:
        config.id2label = dict(enumerate(names))
        config.label2id = {name: i for i, name in enumerate(names)}
    model = TANetForVideoClassification(config).eval()
    report, to_load = compare_state_dict(model, renamed)
    problems = []
    if report.missing:
        missing = [f"{source_name(name, source)} (→ {name})" for name in report.missing]
        problems.append(f"missing from the checkpoint ({len(missing)}): {', '.join(missing)}")
    if report.unexpected:
        problems.append(f"unexpected in the checkpoint ({len(report.unexpected)}): {', '.join(report.unexpected)}")
    if report.mismatched:
        problems.append(f"shape mismatches ({len(report.mismatched)}): {'; '.join(report.mismatched)}")
    if problems:
        raise CheckpointError(
            f"{path} does not match the {source} TANet layout it looks like:\n- " + "\n- ".join(problems)
        )
    model.load_state_dict(to_load, strict=False)
    for name in report.filled:
        logger.info("%s: filled absent %s with 0", path, name)
    return model


def convert_checkpoint(
    checkpoint: str | os.PathLike,
    output_dir: str | os.PathLike,
    labels: str | os.PathLike | list[str] | None = None,
    *,
    source: str | None = None,
    preset: str | None = None,
    num_frames: int | None = None,
    repo_id: str | None = None,
    published: str | None = None,
    overwrite: bool = False,
    command: str | None = None,
) -> Path:
    """
    Convert a TANet checkpoint of the authors' release or of mmaction2 into a complete Hub repository folder.

    Args:
        checkpoint: `.pth.tar` / `.pth` file (read with `weights_only=True`), `.safetensors` file or folder.
        output_dir: the folder to create. It appears only when everything succeeded (written beside it first).
        labels: `"kinetics400"`, `"sthv1"`, `"sthv2"`, a label file, or a list; fills `id2label`.
        source: `"release"` or `"mmaction2"`; detected from the keys when `None`.
        preset: the dataset whose test protocol the video processor gets (`"kinetics400"`, `"sthv1"`, `"sthv2"`);
            defaults to the label set's, or `kinetics400` for 400 classes.
        num_frames: only for checkpoints without TAM (C2D), which do not encode T; checked against TAM's tensors.
        repo_id: Hub id written into the card's usage snippets (default `tanet-hf/<name>`).
        published: name of a `tanet_hf.registry.PUBLISHED_CHECKPOINTS` entry this file is; when `None`, an entry
            matches only if the file's sha256 equals the one the registry records for it.
        overwrite: replace an existing `output_dir` (atomically, after the new folder is complete).
        command: the command line recorded in the card's provenance.

    Returns:
        The path of the folder: `config.json` (with `auto_map`), `model.safetensors`,
        `video_preprocessor_config.json`, the remote-code `.py` files and a `README.md` model card.

    Raises:
        CheckpointError: unreadable or pickled-code file, unknown layout, or missing / unexpected /
            mis-shaped keys (each listed by name).
    """
    checkpoint_path = Path(checkpoint)
    output_dir = Path(output_dir).absolute()
    recover_folder(output_dir)  # a replacement killed between its two renames: the previous folder comes back
    if output_dir.exists() and not overwrite:
        raise FileExistsError(f"{output_dir} already exists; pass overwrite=True (--overwrite) to replace it.")
    state_dict = read_state_dict(checkpoint_path)
    detected = detect_source(state_dict)
    source = source or detected
    if source not in SOURCES:
        raise ValueError(f"source={source!r} is not supported; expected one of {list(SOURCES)}.")
    if source != detected:
        raise CheckpointError(f"{checkpoint_path}: keys are in the {detected} layout, but source={source!r} was given.")
    legacy = any("self_conv.conv_" in k for k in state_dict)
    renamed = rename_state_dict(state_dict, source, prefix="tanet.")
    try:
        kwargs = infer_config_kwargs(renamed.tensors, num_frames=num_frames)
    except CheckpointError as error:
        raise CheckpointError(f"{checkpoint_path}: {error}") from error
    if "num_labels" not in kwargs:
        classifier = "new_fc" if source == "release" else "cls_head.fc_cls"
        raise CheckpointError(f"{checkpoint_path}: no classifier ({classifier}.weight) in the checkpoint.")
    names = resolve_labels(labels, kwargs["num_labels"], source)

    sha256 = sha256_of_file(checkpoint_path)
    entry, how = find_published(published, sha256, kwargs, source, checkpoint_path)
    logger.info("published checkpoint: %s (%s)", entry.name if entry else "none", how)
    label_set = str(labels) if isinstance(labels, str) and labels in LABEL_SETS else None
    dataset = (
        preset or (entry.dataset if entry else label_set) or ("kinetics400" if kwargs["num_labels"] == 400 else None)
    )
    if dataset is None:
        raise ValueError(
            f"cannot tell the test protocol of a {kwargs['num_labels']}-class checkpoint; pass labels= or "
            f"preset= (one of {list(registry.DATASETS)})."
        )

    model = _load_model(TANetConfig(**kwargs, view_fusion="logits" if source == "release" else "softmax"), names,
                        renamed, source, checkpoint_path)  # fmt: skip
    config = model.config
    image_mean = registry.SOURCE_IMAGE_MEAN[source]
    if entry is not None:
        processor = registry.video_processor(entry.name)
    else:
        processor = registry.video_processor(dataset, num_frames=config.num_frames, image_mean=list(image_mean))
    repo_id = repo_id or f"{DEFAULT_NAMESPACE}/{entry.name if entry else output_dir.name}"
    layout = (
        "authors' release (`module.base_model.…`, "
        + ("older `self_conv.conv_f/conv_g` TAM names" if legacy else "`tam.G/L` TAM names")
        + ", `new_fc`)"
        if source == "release"
        else "mmaction2 (`backbone.…block.convN.{conv,bn}`, `tam.G/L`, `cls_head.fc_cls`)"
    )
    if command is None:
        command = shlex.join(
            ["tanet-hf", "convert", checkpoint_path.name, output_dir.name]
            + (["--labels", str(labels)] if isinstance(labels, (str, os.PathLike)) else [])
        )
    conversion = ConversionInfo(checkpoint_path.name, sha256, layout, command, published_match=how)
    card = build_model_card(
        config, repo_id, checkpoint=entry, conversion=conversion, dataset=dataset, image_mean=image_mean
    )

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", suffix=".partial", dir=output_dir.parent))
    try:
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
        (staging / "README.md").write_text(str(card), encoding="utf-8")
        check_hub_folder(staging)
        from safetensors.torch import load_file

        saved = load_file(staging / "model.safetensors")
        for name, tensor in model.state_dict().items():
            if name not in saved or not torch.equal(saved[name], tensor):
                raise RuntimeError(f"model.safetensors does not hold {name} as converted.")
        replace_folder(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info(
        "converted %s (%s layout%s, T=%d, %d classes, %d tensors) → %s",
        checkpoint_path,
        source,
        ", older key names" if legacy else "",
        config.num_frames,
        config.num_labels,
        len(model.state_dict()),
        output_dir,
    )
    return output_dir


# --------------------------------------------------------------------------------------------------------------
# Command line: `tanet-hf convert`
# --------------------------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="Release `.pth.tar` or mmaction2 `.pth` (or `.safetensors`) file.")
    parser.add_argument("output_dir", help="Folder to create: a complete Hub repository.")
    parser.add_argument(
        "--labels",
        help=f"Class names for id2label: one of {', '.join(LABEL_SETS)}, or a file (.txt one per line, .json).",
    )
    parser.add_argument("--source", choices=SOURCES, help="Checkpoint layout (default: detected from the keys).")
    parser.add_argument(
        "--preset", choices=list(registry.DATASETS), help="Video-processor test protocol (default: from --labels)."
    )
    parser.add_argument("--num-frames", type=int, help="Frames per clip, only for checkpoints without TAM (C2D).")
    parser.add_argument("--repo-id", help="Hub id used in the model card (default: tanet-hf/<name>).")
    parser.add_argument(
        "--published",
        choices=list(registry.PUBLISHED_CHECKPOINTS),
        help="The published checkpoint this file is (default: matched by the file's sha256 when the registry records it).",
    )
    parser.add_argument("--overwrite", action="store_true", help="Replace OUTPUT_DIR if it exists.")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    options = [
        (flag, value)
        for flag, value in (
            ("--labels", args.labels),
            ("--preset", args.preset),
            ("--num-frames", args.num_frames),
            ("--published", args.published),
        )
        if value is not None
    ]
    words = ["tanet-hf", "convert", Path(args.checkpoint).name, Path(args.output_dir).name]
    command = shlex.join(words + [str(part) for option in options for part in option])
    try:
        folder = convert_checkpoint(
            args.checkpoint,
            args.output_dir,
            labels=args.labels,
            source=args.source,
            preset=args.preset,
            num_frames=args.num_frames,
            repo_id=args.repo_id,
            published=args.published,
            overwrite=args.overwrite,
            command=command,
        )
    except (CheckpointError, ValueError, FileExistsError) as error:
        print(f"tanet-hf convert: error: {error}", file=sys.stderr)
        return 2
    for path in sorted(folder.iterdir()):
        print(path)
    return 0


__all__ = ["SOURCES", "convert_checkpoint", "find_published", "resolve_labels"]
