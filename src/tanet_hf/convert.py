# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Convert TANet checkpoints of the authors' release and of mmaction2 into Hub-ready folders; load ImageNet ResNets.

Source layouts (all keys are renamed one to one, nothing is recomputed):

| source | stem | block `layerX.Y` | shortcut | TAM | classifier |
|---|---|---|---|---|---|
| authors' release (`ckpt.best.pth.tar`, keys under `module.base_model.`) | `conv1`, `bn1` | `net.conv{1,2,3}`, `net.bn{1,2,3}` | `net.downsample.{0,1}` | `tam.{G,L}.*` (older files: `self_conv.conv_f` / `self_conv.conv_g`) | `new_fc` |
| mmaction2 (`backbone.` / `cls_head.`) | `conv1.conv`, `conv1.bn` | `block.conv{1,2,3}.{conv,bn}` | `block.downsample.{conv,bn}` | `tam.{G,L}.*` | `cls_head.fc_cls` |
| torchvision / timm ResNet | `conv1`, `bn1` | `conv{1,2,3}`, `bn{1,2,3}` | `downsample.{0,1}` | – | `fc` (ImageNet, dropped) |
| transformers `ResNetModel` (`microsoft/resnet-50`) | `embedder.embedder.{convolution,normalization}` | `layer.{0,1,2}.{convolution,normalization}` | `shortcut.{convolution,normalization}` | – | `classifier.1` (dropped) |

Every source is first renamed to torchvision's names (plus `tam.*`), then to `TANetModel`'s. The frame count T
(`tam.G.0.weight` is `[αT, T]`), the kernel size K (`tam.G.3.weight` is `[K, αT]`), α, β, the depth (blocks per
stage), the widths and the class count are all read off the tensors.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import re
import shlex
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import torch

from .configuration_tanet import TANetConfig
from .modeling_tanet import TANetForVideoClassification, TANetPreTrainedModel

logger = logging.getLogger(__name__)

SOURCES = ("release", "mmaction2")
LABEL_SETS = ("kinetics400", "sthv1", "sthv2")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or converted; the message names the file and what is wrong."""


# --------------------------------------------------------------------------------------------------------------
# Reading checkpoints safely
# --------------------------------------------------------------------------------------------------------------


def _numpy_safe_globals() -> list:
    """Plain-data numpy globals (scalars, dtypes) that metadata such as `best_prec1` may hold; never code."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency of torch here
        return []
    multiarray = getattr(np, "_core", None) or np.core
    allowed = [multiarray.multiarray.scalar, np.dtype]
    allowed += [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith("DType")]
    return allowed


def _load_pickled_checkpoint(path: Path) -> object:
    """`torch.load(path, weights_only=True)`: tensors and plain containers only, never arbitrary objects."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if not zipfile.is_zipfile(path) and magic[:1] != b"\x80":  # neither torch's zip format nor a pickle
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (neither a zip archive nor a pickle).")
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        unsafe = ""
        try:
            names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
            unsafe = f" It references these Python objects: {', '.join(names)}." if names else ""
        except Exception:  # noqa: BLE001 - only an extra hint; legacy (non-zip) files cannot be scanned
            pass
        raise CheckpointError(
            f"{path}: refusing to load a checkpoint that needs arbitrary Python objects to unpickle "
            f"(torch.load(weights_only=True) failed).{unsafe} Only tensors, numbers, strings and containers are "
            "accepted; re-save just the state_dict from a trusted environment if you trust this file."
        ) from error
    except (RuntimeError, OSError, EOFError, ValueError) as error:
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({type(error).__name__}: {error})."
        ) from error


def read_state_dict(checkpoint: str | os.PathLike | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """
    Read a state dict safely from a `.pth` / `.pth.tar` / `.pt` / `.bin` file (`weights_only=True`), a
    `.safetensors` file, a folder holding `model.safetensors` or `pytorch_model.bin`, or a mapping.

    A checkpoint dict (`{'state_dict': ..., 'epoch': ..., 'optimizer': ...}`, `{'meta': ..., 'state_dict': ...}`,
    `{'model': ...}`) is unwrapped to its state dict. Raises [`CheckpointError`] naming the file and the problem.
    """
    name = "the given state dict"
    if isinstance(checkpoint, Mapping):
        loaded: object = checkpoint
    else:
        path = Path(checkpoint)
        name = str(path)
        if path.is_dir():
            candidates = [path / "model.safetensors", path / "pytorch_model.bin"]
            found = next((c for c in candidates if c.is_file()), None)
            if found is None:
                raise CheckpointError(f"{path}: folder holds neither model.safetensors nor pytorch_model.bin.")
            path, name = found, str(found)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such checkpoint file.")
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            try:
                loaded = load_file(path)
            except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
                raise CheckpointError(f"{path}: not a readable safetensors file ({error}).") from error
        else:
            loaded = _load_pickled_checkpoint(path)
    if isinstance(loaded, Mapping):  # training checkpoints wrap the state dict (a state dict holds only tensors)
        for wrapper in ("state_dict", "model", "module"):
            inner = loaded.get(wrapper)
            if isinstance(inner, Mapping) and inner:
                loaded = inner
                break
    if not isinstance(loaded, Mapping) or not loaded:
        raise CheckpointError(f"{name}: expected a (wrapped) state dict of tensors, got {type(loaded).__name__}.")
    not_tensors = [k for k, v in loaded.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(f"{name}: state dict entries that are not tensors: {not_tensors[:10]}.")
    return dict(loaded)


# --------------------------------------------------------------------------------------------------------------
# Renaming: every source → torchvision names (+ `tam.*`) → TANetModel names
# --------------------------------------------------------------------------------------------------------------

_RENAME_RULES: dict[str, list[tuple[re.Pattern, str]]] = {
    # After stripping `module.` (DataParallel). `base_model.fc` is the classifier of a release model trained
    # with dropout 0 (the release replaces fc by Dropout and adds `new_fc` otherwise).
    "release": [
        (re.compile(r"^(.*)self_conv\.conv_f\.(.*)$"), r"\1tam.G.\2"),
        (re.compile(r"^(.*)self_conv\.conv_g\.(.*)$"), r"\1tam.L.\2"),
        (re.compile(r"^base_model\.(layer\d+\.\d+)\.net\.(.*)$"), r"\1.\2"),
        (re.compile(r"^base_model\.(.*)$"), r"\1"),
        (re.compile(r"^new_fc\.(.*)$"), r"fc.\1"),
    ],
    "mmaction2": [
        (re.compile(r"^backbone\.conv1\.conv\.(.*)$"), r"conv1.\1"),
        (re.compile(r"^backbone\.conv1\.bn\.(.*)$"), r"bn1.\1"),
        (re.compile(r"^backbone\.(layer\d+\.\d+)\.(?:block\.)?conv(\d)\.conv\.(.*)$"), r"\1.conv\2.\3"),
        (re.compile(r"^backbone\.(layer\d+\.\d+)\.(?:block\.)?conv(\d)\.bn\.(.*)$"), r"\1.bn\2.\3"),
        (re.compile(r"^backbone\.(layer\d+\.\d+)\.(?:block\.)?downsample\.conv\.(.*)$"), r"\1.downsample.0.\2"),
        (re.compile(r"^backbone\.(layer\d+\.\d+)\.(?:block\.)?downsample\.bn\.(.*)$"), r"\1.downsample.1.\2"),
        (re.compile(r"^backbone\.(layer\d+\.\d+\.tam\..*)$"), r"\1"),
        (re.compile(r"^cls_head\.fc_cls\.(.*)$"), r"fc.\1"),
    ],
    "torchvision": [],  # torchvision and timm ResNets already use these names
    "hf": [
        (re.compile(r"^(?:resnet\.)?embedder\.embedder\.convolution\.(.*)$"), r"conv1.\1"),
        (re.compile(r"^(?:resnet\.)?embedder\.embedder\.normalization\.(.*)$"), r"bn1.\1"),
        (re.compile(r"^(?:resnet\.)?encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d+)\.convolution\.(.*)$"), "conv"),
        (re.compile(r"^(?:resnet\.)?encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d+)\.normalization\.(.*)$"), "bn"),
        (re.compile(r"^(?:resnet\.)?encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.convolution\.(.*)$"), "sc0"),
        (re.compile(r"^(?:resnet\.)?encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.normalization\.(.*)$"), "sc1"),
        (re.compile(r"^classifier\.1\.(.*)$"), r"fc.\1"),
    ],
}
# Sources whose keys never map: mmaction2's (non-persistent, but sometimes saved) normalisation buffers.
_IGNORED_KEYS = re.compile(r"^data_preprocessor\.")
# torchvision names (+ `tam.*`) → TANetModel names.
_TORCHVISION_TO_TANET: list[tuple[re.Pattern, str]] = [
    (re.compile(r"^conv1\.weight$"), "embedder.convolution.weight"),
    (re.compile(r"^bn1\.(.*)$"), "embedder.normalization.{0}"),
    (re.compile(r"^layer(\d+)\.(\d+)\.(conv\d|bn\d)\.(.*)$"), "encoder.stages.{stage}.layers.{1}.{2}.{3}"),
    (
        re.compile(r"^layer(\d+)\.(\d+)\.downsample\.0\.(.*)$"),
        "encoder.stages.{stage}.layers.{1}.shortcut.convolution.{2}",
    ),
    (
        re.compile(r"^layer(\d+)\.(\d+)\.downsample\.1\.(.*)$"),
        "encoder.stages.{stage}.layers.{1}.shortcut.normalization.{2}",
    ),
    (re.compile(r"^layer(\d+)\.(\d+)\.tam\.([GL]\.\d+\..*)$"), "encoder.stages.{stage}.layers.{1}.tam.{2}"),
]


def _hf_to_torchvision(kind: str, match: re.Match) -> str:
    stage, layer = int(match.group(1)) + 1, match.group(2)
    if kind in ("conv", "bn"):
        return f"layer{stage}.{layer}.{kind}{int(match.group(3)) + 1}.{match.group(4)}"
    return f"layer{stage}.{layer}.downsample.{kind[-1]}.{match.group(3)}"


def to_torchvision_names(key: str, source: str) -> str:
    """Rename one key of `source` (`release`, `mmaction2`, `torchvision`, `hf`) to torchvision's ResNet names."""
    if source == "release" and key.startswith("module."):
        key = key[len("module.") :]
    for pattern, replacement in _RENAME_RULES[source]:
        match = pattern.match(key)
        if match is None:
            continue
        if replacement in ("conv", "bn", "sc0", "sc1"):
            return _hf_to_torchvision(replacement, match)
        key = match.expand(replacement)
        if source != "release":  # the release's rules compose (older names, then `net.`, then the prefix)
            return key
    return key


def torchvision_to_tanet_name(key: str) -> str | None:
    """torchvision ResNet name (+ `tam.*`) → `TANetModel` name, `fc.*` → `classifier.*`; `None` if unknown."""
    if key.startswith("fc."):
        return "classifier." + key[len("fc.") :]
    for pattern, template in _TORCHVISION_TO_TANET:
        match = pattern.match(key)
        if match:
            groups = match.groups()
            stage = int(groups[0]) - 1 if template.startswith("encoder") else None
            return template.format(*groups, stage=stage)
    return None


_TANET_TO_TORCHVISION: list[tuple[re.Pattern, str]] = [
    (re.compile(r"^classifier\.(.*)$"), r"fc.\1"),
    (re.compile(r"^(?:tanet\.)?embedder\.convolution\.(.*)$"), r"conv1.\1"),
    (re.compile(r"^(?:tanet\.)?embedder\.normalization\.(.*)$"), r"bn1.\1"),
    (
        re.compile(r"^(?:tanet\.)?encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.convolution\.(.*)$"),
        r"{0}.\2.downsample.0.\3",
    ),
    (
        re.compile(r"^(?:tanet\.)?encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.normalization\.(.*)$"),
        r"{0}.\2.downsample.1.\3",
    ),
    (re.compile(r"^(?:tanet\.)?encoder\.stages\.(\d+)\.layers\.(\d+)\.(.*)$"), r"{0}.\2.\3"),
]
_TORCHVISION_TO_SOURCE: dict[str, list[tuple[re.Pattern, str]]] = {
    "release": [
        (re.compile(r"^fc\.(.*)$"), r"module.new_fc.\1"),
        (re.compile(r"^(layer\d+\.\d+)\.(tam\..*)$"), r"module.base_model.\1.\2"),
        (re.compile(r"^(layer\d+\.\d+)\.(.*)$"), r"module.base_model.\1.net.\2"),
        (re.compile(r"^(.*)$"), r"module.base_model.\1"),
    ],
    "mmaction2": [
        (re.compile(r"^fc\.(.*)$"), r"cls_head.fc_cls.\1"),
        (re.compile(r"^conv1\.(.*)$"), r"backbone.conv1.conv.\1"),
        (re.compile(r"^bn1\.(.*)$"), r"backbone.conv1.bn.\1"),
        (re.compile(r"^(layer\d+\.\d+)\.conv(\d)\.(.*)$"), r"backbone.\1.block.conv\2.conv.\3"),
        (re.compile(r"^(layer\d+\.\d+)\.bn(\d)\.(.*)$"), r"backbone.\1.block.conv\2.bn.\3"),
        (re.compile(r"^(layer\d+\.\d+)\.downsample\.0\.(.*)$"), r"backbone.\1.block.downsample.conv.\2"),
        (re.compile(r"^(layer\d+\.\d+)\.downsample\.1\.(.*)$"), r"backbone.\1.block.downsample.bn.\2"),
        (re.compile(r"^(.*)$"), r"backbone.\1"),
    ],
}


def source_name(name: str, source: str) -> str:
    """The key a `source` checkpoint would use for the TANet tensor `name` (to name missing keys)."""
    for pattern, template in _TANET_TO_TORCHVISION:
        match = pattern.match(name)
        if match:
            layer = f"layer{int(match.group(1)) + 1}" if "{0}" in template else ""
            name = match.expand(template.replace("{0}", layer))
            break
    for pattern, template in _TORCHVISION_TO_SOURCE.get(source, []):
        match = pattern.match(name)
        if match:
            return match.expand(template)
    return name


def detect_source(state_dict: Mapping[str, torch.Tensor]) -> str:
    """`"release"` (keys under `[module.]base_model.` / `new_fc`) or `"mmaction2"` (`backbone.` / `cls_head.`)."""
    keys = [k[len("module.") :] if k.startswith("module.") else k for k in state_dict]
    if any(k.startswith("base_model.") for k in keys):
        return "release"
    if any(k.startswith("backbone.") for k in keys):
        return "mmaction2"
    raise CheckpointError(
        "not a TANet checkpoint of the authors' release (keys `module.base_model.…`) nor of mmaction2 "
        f"(`backbone.…`, `cls_head.…`); first keys: {list(state_dict)[:5]}."
    )


def detect_resnet_layout(state_dict: Mapping[str, torch.Tensor]) -> str:
    """`"hf"` (transformers `ResNetModel`/`ResNetForImageClassification`) or `"torchvision"` (also timm)."""
    if any("embedder.embedder.convolution" in k for k in state_dict):
        return "hf"
    if "conv1.weight" in state_dict and any(k.startswith("layer1.") for k in state_dict):
        return "torchvision"
    raise CheckpointError(
        "not a ResNet state dict of torchvision / timm (`conv1.weight`, `layer1.…`) nor of transformers "
        f"(`embedder.embedder.convolution.weight`, `encoder.stages.…`); first keys: {list(state_dict)[:5]}."
    )


@dataclass
class RenamedStateDict:
    """A state dict in `TANetModel` / `TANetForVideoClassification` names, with where every key came from."""

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    source_names: dict[str, str] = field(default_factory=dict)  # new name → original name
    unmapped: list[str] = field(default_factory=list)  # original keys with no counterpart
    ignored: list[str] = field(default_factory=list)  # original keys deliberately dropped


def rename_state_dict(state_dict: Mapping[str, torch.Tensor], source: str, prefix: str = "") -> RenamedStateDict:
    """Rename every key of a `source` state dict to TANet's names (`prefix` is prepended to backbone keys)."""
    renamed = RenamedStateDict()
    for original, tensor in state_dict.items():
        if _IGNORED_KEYS.match(original):
            renamed.ignored.append(original)
            continue
        name = torchvision_to_tanet_name(to_torchvision_names(original, source))
        if name is None:
            renamed.unmapped.append(original)
            continue
        if not name.startswith("classifier."):
            name = prefix + name
        if name in renamed.tensors:
            raise CheckpointError(f"keys {renamed.source_names[name]!r} and {original!r} both map to {name!r}.")
        renamed.tensors[name] = tensor
        renamed.source_names[name] = original
    return renamed


# --------------------------------------------------------------------------------------------------------------
# Reading the architecture off the tensors
# --------------------------------------------------------------------------------------------------------------

_BLOCK_KEY = re.compile(r"^(?:tanet\.)?encoder\.stages\.(\d+)\.layers\.(\d+)\.(.*)$")


def infer_config_kwargs(tensors: Mapping[str, torch.Tensor], num_frames: int | None = None) -> dict:
    """
    `TANetConfig` arguments read off a state dict in TANet names: widths, depths, block type, T, K, α, β, the
    local kernel size, which stages carry TAM and the class count. `num_frames` is required only when the
    checkpoint has no TAM (a C2D network does not encode T); if given, it must agree with the tensors.
    """

    def get(name: str) -> torch.Tensor:
        tensor = tensors.get("tanet." + name, tensors.get(name))
        if tensor is None:
            raise CheckpointError(f"the checkpoint has no tensor for {name!r} (after renaming).")
        return tensor

    stem = get("embedder.convolution.weight")
    blocks: dict[int, dict[int, set[str]]] = {}
    for key in tensors:
        match = _BLOCK_KEY.match(key)
        if match:
            blocks.setdefault(int(match.group(1)), {}).setdefault(int(match.group(2)), set()).add(match.group(3))
    if not blocks or sorted(blocks) != list(range(len(blocks))):
        raise CheckpointError(
            f"the checkpoint's stages are not numbered 1..N: found layer indices {sorted(i + 1 for i in blocks)}."
        )
    depths = []
    for stage, layers in sorted(blocks.items()):
        if sorted(layers) != list(range(len(layers))):
            raise CheckpointError(f"stage layer{stage + 1} has blocks {sorted(layers)}, not 0..{len(layers) - 1}.")
        depths.append(len(layers))
    bottleneck = "conv3.weight" in blocks[0][0]
    last_conv = "conv3.weight" if bottleneck else "conv2.weight"
    hidden_sizes = [int(get(f"encoder.stages.{s}.layers.0.{last_conv}").shape[0]) for s in range(len(depths))]
    kwargs: dict = {
        "num_channels": int(stem.shape[1]),
        "embedding_size": int(stem.shape[0]),
        "hidden_sizes": hidden_sizes,
        "depths": depths,
        "layer_type": "bottleneck" if bottleneck else "basic",
    }
    classifier = tensors.get("classifier.weight")
    if classifier is not None:
        kwargs["num_labels"] = int(classifier.shape[0])

    tam_stages = []
    for stage, layers in sorted(blocks.items()):
        with_tam = [i for i, names in layers.items() if any(n.startswith("tam.") for n in names)]
        if with_tam and len(with_tam) != len(layers):
            raise CheckpointError(
                f"stage layer{stage + 1} has TAM in blocks {sorted(with_tam)} only; TANet puts it in every block of a stage."
            )
        if with_tam:
            tam_stages.append(stage)
    if not tam_stages:
        kwargs["temporal_module"] = "none"
        kwargs["num_frames"] = num_frames or 8
        return kwargs

    first = f"encoder.stages.{tam_stages[0]}.layers.0."
    names = blocks[tam_stages[0]][0]
    has_global, has_local = "tam.G.0.weight" in names, "tam.L.0.weight" in names
    if not (has_global or has_local):
        raise CheckpointError(f"block {first!r} has TAM tensors but neither tam.G.0.weight nor tam.L.0.weight.")
    kwargs.update(temporal_module="tam", tam_stages=[f"stage{s + 1}" for s in tam_stages])
    kwargs["tam_branches"] = "both" if has_global and has_local else ("global" if has_global else "local")
    if has_global:
        g_in = get(first + "tam.G.0.weight")  # [αT, T]
        g_out = get(first + "tam.G.3.weight")  # [K, αT]
        frames, hidden = int(g_in.shape[1]), int(g_in.shape[0])
        if hidden % frames:
            raise CheckpointError(
                f"{first}tam.G.0.weight has shape {tuple(g_in.shape)}: αT={hidden} is not a multiple of T={frames}."
            )
        if num_frames is not None and num_frames != frames:
            raise CheckpointError(
                f"num_frames={num_frames} was requested but the checkpoint's TAM was trained for T={frames} "
                f"({first}tam.G.0.weight is {tuple(g_in.shape)}); TAM cannot change T."
            )
        kwargs.update(num_frames=frames, tam_alpha=hidden // frames, tam_kernel_size=int(g_out.shape[0]))
    else:
        kwargs["num_frames"] = num_frames or 8
    if has_local:
        l_in = get(first + "tam.L.0.weight")  # [C/β, C, k]
        reduced, channels, local_kernel = (int(s) for s in l_in.shape)
        if channels % reduced:
            raise CheckpointError(
                f"{first}tam.L.0.weight has shape {tuple(l_in.shape)}: C={channels} is not a multiple of C/β={reduced}."
            )
        kwargs.update(tam_beta=channels // reduced, tam_local_kernel_size=local_kernel)
        conv1 = get(first + "conv1.weight")
        if channels == conv1.shape[0]:
            kwargs["tam_position"] = "b"
        elif channels == conv1.shape[1]:
            kwargs["tam_position"] = "a"
        elif bottleneck and channels == get(first + "conv3.weight").shape[0]:
            kwargs["tam_position"] = "d"
        else:
            raise CheckpointError(
                f"{first}tam.L.0.weight expects {channels} channels, which matches no position in the block."
            )
    return kwargs


# --------------------------------------------------------------------------------------------------------------
# Loading with a full report
# --------------------------------------------------------------------------------------------------------------


@dataclass
class LoadReport:
    """What loading a renamed state dict into a model did. Key names are the model's, with sources in `origin`."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)  # "name: checkpoint (…) vs model (…)"
    filled: list[str] = field(default_factory=list)  # BatchNorm `num_batches_tracked` absent from old files
    ignored: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.__dict__.items()}


def _compare(model: torch.nn.Module, renamed: RenamedStateDict) -> tuple[LoadReport, dict[str, torch.Tensor]]:
    expected = model.state_dict()
    report = LoadReport(ignored=list(renamed.ignored))
    to_load = {}
    origin = renamed.source_names
    for name, tensor in renamed.tensors.items():
        if name not in expected:
            report.unexpected.append(f"{origin[name]} (→ {name})")
        elif tuple(tensor.shape) != tuple(expected[name].shape):
            report.mismatched.append(
                f"{origin[name]} (→ {name}): checkpoint {tuple(tensor.shape)} vs model {tuple(expected[name].shape)}"
            )
        else:
            to_load[name] = tensor
            report.loaded.append(name)
    report.unexpected += renamed.unmapped
    for name in expected:
        if name in renamed.tensors:
            continue
        if name.endswith("num_batches_tracked"):
            report.filled.append(name)
        else:
            report.missing.append(name)
    return report, to_load


# --------------------------------------------------------------------------------------------------------------
# Labels and presets
# --------------------------------------------------------------------------------------------------------------


def read_label_set(name: str) -> list[str]:
    """The class names of `kinetics400`, `sthv1` or `sthv2` in their official index order (package data)."""
    if name not in LABEL_SETS:
        raise ValueError(f"unknown label set {name!r}; expected one of {list(LABEL_SETS)}.")
    text = resources.files("tanet_hf").joinpath("labels", f"{name}.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def resolve_labels(labels: str | os.PathLike | list[str] | None, num_labels: int, source: str) -> list[str] | None:
    """
    Class names for `id2label`: a label-set name, a file (`.txt` one name per line, `.json` list or
    `{name: index}` / `{index: name}`), or a list. The authors' release indexes Something-Something V1 by the
    sorted class names (its `gen_label_sthv1.py`), mmaction2 by the official CSV order; both index Kinetics-400
    and Something-Something V2 in the official order, which is alphabetical.
    """
    if labels is None:
        return None
    what = repr(labels) if not isinstance(labels, list) else "the given label list"
    if isinstance(labels, list):
        names = [str(n) for n in labels]
    elif str(labels) in LABEL_SETS:
        names = read_label_set(str(labels))
        if source == "release" and str(labels) == "sthv1":
            names = sorted(names)
    else:
        path = Path(labels)
        if not path.is_file():
            raise ValueError(f"--labels {labels!r} is neither one of {list(LABEL_SETS)} nor an existing file.")
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            data = json.loads(text)
            if isinstance(data, dict):
                items = [(int(v), k) if str(v).lstrip("-").isdigit() else (int(k), v) for k, v in data.items()]
                names = [name for _, name in sorted(items)]
                if [i for i, _ in sorted(items)] != list(range(len(items))):
                    raise ValueError(f"{path}: class indices must be 0..{len(items) - 1}.")
            else:
                names = [str(n) for n in data]
        else:
            names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(names) != num_labels:
        raise ValueError(
            f"labels {what} hold {len(names)} class names but the checkpoint's classifier has {num_labels} classes."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"labels {what} contain duplicate class names.")
    return names


# --------------------------------------------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------------------------------------------


def _replace_folder(staging: Path, output_dir: Path) -> None:
    """Move the finished `staging` folder to `output_dir`, replacing an old one only once the new one is whole."""
    if not output_dir.exists():
        os.replace(staging, output_dir)
        return
    backup = output_dir.with_name(f".{output_dir.name}.old-{os.getpid()}")
    os.replace(output_dir, backup)
    try:
        os.replace(staging, output_dir)
    except BaseException:
        os.replace(backup, output_dir)
        raise
    shutil.rmtree(backup, ignore_errors=True)


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
        preset: the `TANetVideoProcessor` preset (`"kinetics400"`, `"sthv1"`, `"sthv2"`: the test protocol);
            defaults to the label set's, or `kinetics400` for 400 classes.
        num_frames: only for checkpoints without TAM (C2D), which do not encode T; checked against TAM's tensors.
        repo_id: Hub id written into the card's usage snippets (default `tanet-hf/<name>`).
        published: name of a [`PUBLISHED_CHECKPOINTS`] entry; found from source/labels/T/classes when `None`.
        overwrite: replace an existing `output_dir` (atomically, after the new folder is complete).
        command: the command line recorded in the card's provenance.

    Returns:
        The path of the folder: `config.json` (with `auto_map`), `model.safetensors`,
        `video_preprocessor_config.json`, the remote-code `.py` files and a `README.md` model card.

    Raises:
        CheckpointError: unreadable or pickled-code file, unknown layout, or missing / unexpected /
            mis-shaped keys (each listed by name).
    """
    from .hub import check_hub_folder
    from .model_card import (
        DEFAULT_NAMESPACE,
        PUBLISHED_CHECKPOINTS,
        SOURCE_IMAGE_MEAN,
        ConversionInfo,
        build_model_card,
        find_published_checkpoint,
        published_config,
        sha256_of_file,
    )
    from .video_processing_tanet import TANetVideoProcessor

    checkpoint_path = Path(checkpoint)
    output_dir = Path(output_dir).absolute()
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
        raise CheckpointError(
            f"{checkpoint_path}: no classifier ({'new_fc' if source == 'release' else 'cls_head.fc_cls'}.weight) in the checkpoint."
        )
    names = resolve_labels(labels, kwargs["num_labels"], source)
    label_set = str(labels) if isinstance(labels, str) and labels in LABEL_SETS else None

    entry = PUBLISHED_CHECKPOINTS.get(published) if published else None
    if published and entry is None:
        raise ValueError(
            f"published={published!r} is not a known checkpoint; expected one of {list(PUBLISHED_CHECKPOINTS)}."
        )
    dataset = (
        preset or (entry.dataset if entry else label_set) or ("kinetics400" if kwargs["num_labels"] == 400 else None)
    )
    if dataset is None:
        raise ValueError(
            f"cannot tell the test protocol of a {kwargs['num_labels']}-class checkpoint; pass labels= or "
            f"preset= (one of {list(LABEL_SETS)})."
        )
    if entry is None and published is None:
        candidate = find_published_checkpoint(source, dataset, kwargs["num_frames"], kwargs["num_labels"])
        if candidate is not None:  # same source, dataset, T and classes: also the same architecture?
            reference = published_config(candidate)
            entry = candidate if all(getattr(reference, k) == v for k, v in kwargs.items()) else None
    if entry is not None and (entry.num_frames, entry.num_labels) != (kwargs["num_frames"], kwargs["num_labels"]):
        raise CheckpointError(
            f"{checkpoint_path}: published={entry.name!r} has {entry.num_frames} frames and {entry.num_labels} classes, "
            f"the checkpoint {kwargs['num_frames']} and {kwargs['num_labels']}."
        )

    config = TANetConfig(**kwargs, view_fusion="logits" if source == "release" else "softmax")
    if names is not None:
        config.id2label = dict(enumerate(names))
        config.label2id = {name: i for i, name in enumerate(names)}
    model = TANetForVideoClassification(config).eval()
    report, to_load = _compare(model, renamed)
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
            f"{checkpoint_path} does not match the {source} TANet layout it looks like:\n- " + "\n- ".join(problems)
        )
    model.load_state_dict(to_load, strict=False)
    for name in report.filled:
        logger.info("%s: filled absent %s with 0", checkpoint_path, name)

    image_mean = SOURCE_IMAGE_MEAN[source]
    # TODO(registry): the released test protocol of each dataset, until the registry provides the processor.
    test_protocols = {
        "kinetics400": dict(sampling="dense", num_test_clips=10, test_crop="three_crop"),
        "sthv1": dict(sampling="uniform", num_test_clips=1, test_crop="center"),
        "sthv2": dict(sampling="uniform", num_test_clips=2, test_crop="three_crop"),
    }
    processor = TANetVideoProcessor(
        **test_protocols[dataset], num_frames=config.num_frames, image_mean=list(image_mean)
    )
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
    conversion = ConversionInfo(checkpoint_path.name, sha256_of_file(checkpoint_path), layout, command)
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
        _replace_folder(staging, output_dir)
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
        len(report.loaded),
        output_dir,
    )
    return output_dir


# --------------------------------------------------------------------------------------------------------------
# ImageNet initialisation
# --------------------------------------------------------------------------------------------------------------


def load_imagenet_resnet(
    model: TANetPreTrainedModel,
    source: str | os.PathLike | Mapping[str, torch.Tensor],
    strict: bool = True,
) -> dict[str, list[str]]:
    """
    Initialise the ResNet part of a TANet / C2D model from ImageNet ResNet weights (as the paper does).

    Args:
        model: a `TANetModel` or `TANetForVideoClassification` whose widths and depths match the ResNet.
        source: a torchvision / timm state dict (`conv1.weight`, `layer1.0.conv1.weight`, …, e.g.
            `torchvision.models.resnet50(weights="IMAGENET1K_V1").state_dict()`), a transformers `ResNetModel` /
            `ResNetForImageClassification` state dict (`microsoft/resnet-50` layout), or a file / folder holding
            one (`.pth` read with `weights_only=True`, `.safetensors`, or a folder with `model.safetensors`).
        strict: raise if a non-TAM backbone tensor is missing or a key is unexpected (shape mismatches always raise).

    Returns:
        A report: `layout`, `loaded` (model names), `missing` (model tensors left as initialised: TAM and the
        video classifier), `unexpected`, `ignored` (the ImageNet classifier), `filled`, `mismatched`.
    """
    state_dict = {
        (key[len("module.") :] if key.startswith("module.") else key): tensor
        for key, tensor in read_state_dict(source).items()
    }
    layout = detect_resnet_layout(state_dict)
    backbone = model.base_model
    renamed = rename_state_dict(state_dict, layout)
    for name in [n for n in renamed.tensors if n.startswith("classifier.")]:  # the 1000-way ImageNet head
        renamed.ignored.append(renamed.source_names.pop(name))
        renamed.tensors.pop(name)
    report, to_load = _compare(backbone, renamed)
    if report.mismatched:
        raise CheckpointError(
            f"ImageNet {layout} ResNet does not fit this model's backbone; shape mismatches: {'; '.join(report.mismatched)}"
        )
    backbone_missing = [n for n in report.missing if ".tam." not in n]
    if strict and (backbone_missing or report.unexpected):
        raise CheckpointError(
            f"ImageNet {layout} ResNet does not cover this model's backbone: missing {backbone_missing or 'none'}; "
            f"unexpected {report.unexpected or 'none'}. Pass strict=False to load what matches."
        )
    backbone.load_state_dict(to_load, strict=False)
    # Report in the names of `model` (`tanet.…` for the classification model, whose head stays as initialised).
    prefix = "" if backbone is model else f"{model.base_model_prefix}."
    head = [name for name in model.state_dict() if prefix and not name.startswith(prefix)]
    result = {key: [prefix + name for name in names] for key, names in report.as_dict().items() if key != "ignored"}
    result["missing"] += head
    result["ignored"] = report.ignored
    result["layout"] = layout
    return result


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
    parser.add_argument("--preset", choices=LABEL_SETS, help="Video-processor test protocol (default: from --labels).")
    parser.add_argument("--num-frames", type=int, help="Frames per clip, only for checkpoints without TAM (C2D).")
    parser.add_argument("--repo-id", help="Hub id used in the model card (default: tanet-hf/<name>).")
    parser.add_argument(
        "--published", help="Registry name of the published checkpoint (default: matched automatically)."
    )
    parser.add_argument("--overwrite", action="store_true", help="Replace OUTPUT_DIR if it exists.")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    options = [
        (flag, value)
        for flag, value in (("--labels", args.labels), ("--preset", args.preset), ("--num-frames", args.num_frames))
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


__all__ = [
    "CheckpointError",
    "LoadReport",
    "convert_checkpoint",
    "detect_resnet_layout",
    "detect_source",
    "infer_config_kwargs",
    "load_imagenet_resnet",
    "read_label_set",
    "read_state_dict",
    "rename_state_dict",
    "resolve_labels",
]
