"""
`tanet-hf export`: a TANet classifier as an ONNX model (through the dynamo exporter,
`torch.onnx.export(..., dynamo=True)`) or a `torch.export` program (`.pt2`), with a dynamic batch dimension and
the frames T, height and width fixed as the checkpoint needs them (T is tied to TAM's global branch; H and W are
the processor's crop). After exporting, the outputs are compared with PyTorch at batch 1 and 3 (ONNX through
onnxruntime, the optional extra `tanet_hf[onnx]`).

The legacy TorchScript-based ONNX exporter (`dynamo=False`) and `torch.jit.trace` do not work on this model: with
gradients enabled they fail inside PyTorch (`RuntimeError: unordered_map::at`, at the model's custom autograd
functions); under `torch.no_grad()` they trace without error but the traced graph computes wrong outputs (relative
error above 1 on the tiny test model). They are refused up front with a message naming the supported formats.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import kernels
from ..modeling_tanet import TANetForVideoClassification
from .loading import load_classifier

FORMATS = ("onnx", "torch")
UNSUPPORTED_FORMATS = {
    "onnx-legacy": "the legacy TorchScript ONNX exporter (torch.onnx.export(..., dynamo=False))",
    "torchscript": "torch.jit.trace / torch.jit.script",
}
PARITY_BATCHES = (1, 3)
PARITY_TOLERANCE = 1e-4  # max |exported - PyTorch| / max |PyTorch|


class _LogitsOnly(torch.nn.Module):
    """`pixel_values` `(B, T, 3, H, W)` or `(B, V, T, 3, H, W)` → logits `(B, num_labels)`: a plain-tensor
    signature for the exporters."""

    def __init__(self, network: TANetForVideoClassification):
        super().__init__()
        self.network = network

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.network(pixel_values=pixel_values).logits


@dataclass
class ExportResult:
    """The file written, the example input shape (batch dynamic) and the relative error at each parity batch
    (`None` where no runtime was available to check)."""

    path: Path
    input_shape: tuple[int, ...]
    parity: dict[int, float] | None


def input_shape(network: TANetForVideoClassification, crop: tuple[int, int], views: int = 1) -> tuple[int, ...]:
    """`(B, T, 3, H, W)` (or with `V` views) with `B = 2` as the example; T from the config, H, W the crop."""
    frames = (network.config.num_frames, network.config.num_channels, *crop)
    return (2, *frames) if views == 1 else (2, views, *frames)


def export_model(
    network: TANetForVideoClassification,
    output: str | os.PathLike,
    crop: tuple[int, int],
    file_format: str = "onnx",
    views: int = 1,
    check: bool = True,
) -> ExportResult:
    """
    Export `network` to `output` (`.onnx` or `.pt2`) with a dynamic batch; optionally check parity.

    Raises:
        ValueError: an unsupported format (naming the supported ones), or `views < 1`.
        RuntimeError: the exported model differs from PyTorch by more than `PARITY_TOLERANCE` relative.
    """
    if file_format in UNSUPPORTED_FORMATS:
        raise ValueError(
            f"--format {file_format}: {UNSUPPORTED_FORMATS[file_format]} does not work on TANet (with gradients "
            f"it fails with `RuntimeError: unordered_map::at`; under torch.no_grad() the traced graph gives wrong "
            f"outputs). Use --format onnx (torch.onnx.export(..., dynamo=True)) or --format torch (a torch.export "
            f"program, .pt2)."
        )
    if file_format not in FORMATS:
        raise ValueError(f"--format {file_format!r}; expected one of {list(FORMATS)}.")
    if views < 1:
        raise ValueError(f"--views must be >= 1, got {views}.")
    module = _LogitsOnly(network.eval()).eval()
    shape = input_shape(network, crop, views)
    example = (torch.randn(shape),)
    dynamic_shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), kernels.disabled():  # portable programs: ATen operators only, no torch.ops.tanet_hf.*
        if file_format == "onnx":
            program = torch.onnx.export(module, example, dynamo=True, dynamic_shapes=dynamic_shapes, verbose=False)
            program.save(str(output))
        else:
            torch.export.save(torch.export.export(module, example, dynamic_shapes=dynamic_shapes), str(output))
    parity = check_parity(module, output, file_format, shape) if check else None
    return ExportResult(output, shape, parity)


@torch.no_grad()
def check_parity(
    module: torch.nn.Module, path: Path, file_format: str, shape: tuple[int, ...], seed: int = 0
) -> dict[int, float] | None:
    """Relative error `max|exported − PyTorch| / max|PyTorch|` at batch 1 and 3 on random inputs; `None` for ONNX
    when onnxruntime is not installed. Raises `RuntimeError` above `PARITY_TOLERANCE`."""
    run_exported = _runner(path, file_format)
    if run_exported is None:
        return None
    generator = torch.Generator().manual_seed(seed)
    errors = {}
    for batch in PARITY_BATCHES:
        inputs = torch.randn((batch, *shape[1:]), generator=generator)
        reference = module(inputs).numpy()
        exported = run_exported(inputs)
        errors[batch] = float(np.abs(exported - reference).max() / max(np.abs(reference).max(), 1e-12))
        if errors[batch] > PARITY_TOLERANCE:
            raise RuntimeError(
                f"{path}: exported outputs differ from PyTorch at batch {batch} by {errors[batch]:.2e} relative "
                f"(tolerance {PARITY_TOLERANCE:g})."
            )
    return errors


def _runner(path: Path, file_format: str):
    if file_format == "torch":
        program = torch.export.load(str(path)).module()
        return lambda inputs: program(inputs).numpy()
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda inputs: session.run(None, {name: inputs.numpy()})[0]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="Model folder (weights, config, video_preprocessor_config.json) or Hub id.")
    parser.add_argument("output", help="Output file: .onnx for --format onnx, .pt2 for --format torch.")
    parser.add_argument(
        "--format",
        choices=[*FORMATS, *UNSUPPORTED_FORMATS],
        default="onnx",
        dest="file_format",
        help="onnx (dynamo exporter) or torch (torch.export .pt2); onnx-legacy and torchscript are refused.",
    )
    parser.add_argument("--views", type=int, default=1, help="Views per video V; > 1 exports (B, V, T, 3, H, W).")
    parser.add_argument("--no-check", action="store_true", help="Skip the parity check.")


def run(args: argparse.Namespace) -> int:
    if args.file_format in UNSUPPORTED_FORMATS:  # refuse before loading anything
        export_model(None, args.output, (0, 0), args.file_format)
    network, processor = load_classifier(args.model)
    crop = (processor.crop_size.height, processor.crop_size.width)
    result = export_model(network, args.output, crop, args.file_format, args.views, check=not args.no_check)
    shape = ("batch", *result.input_shape[1:])
    print(f"wrote {result.path}: input {shape} float32 → logits (batch, {network.config.num_labels})")
    if result.parity is None and not args.no_check:
        print("parity not checked: onnxruntime is not installed (pip install 'tanet_hf[onnx]')")
    for batch, error in (result.parity or {}).items():
        print(f"parity at batch {batch}: max relative error {error:.2e} (tolerance {PARITY_TOLERANCE:g})")
    return 0
