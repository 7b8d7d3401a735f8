# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""State dicts: read safely, rename to TANet's names, read the architecture off the tensors, ImageNet initialisation.

This is the role timm's `checkpoint_filter_fn` plays: everything that turns foreign tensors into a TANet state dict.
Assembling a Hub folder from the result is `tanet_hf.conversion.convert`.

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

import logging
import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..modeling_tanet import TANetPreTrainedModel

logger = logging.getLogger(__name__)


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


def compare_state_dict(model: torch.nn.Module, renamed: RenamedStateDict) -> tuple[LoadReport, dict[str, torch.Tensor]]:
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
    report, to_load = compare_state_dict(backbone, renamed)
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


__all__ = [
    "CheckpointError",
    "LoadReport",
    "RenamedStateDict",
    "detect_resnet_layout",
    "detect_source",
    "infer_config_kwargs",
    "load_imagenet_resnet",
    "read_state_dict",
    "rename_state_dict",
    "compare_state_dict",
    "source_name",
]
