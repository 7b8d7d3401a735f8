"""`tanet-hf` command line: one entry point, one sub-command per tool.

Each sub-command lives in its own module, which exposes `add_arguments(parser)` and `run(args) -> int`; the
module is imported only when its sub-command runs, so `tanet-hf --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "convert": (
        "tanet_hf.conversion.convert",
        "Convert an authors' release / mmaction2 checkpoint into a Hub-ready folder.",
    ),
    "push": ("tanet_hf.conversion.hub", "Push a converted or trained folder to the Hugging Face Hub."),
    "model-cards": ("tanet_hf.conversion.model_card", "Regenerate the model cards under model_cards/."),
    "reencode": ("tanet_hf.reencode", "Re-encode videos to short-GOP, short-side-256 files for fast loading."),
    "make-synthetic": ("tanet_hf.synthetic", "Generate the synthetic motion video dataset (task families: --task)."),
    "evaluate": ("tanet_hf.tools.evaluate", "Accuracy of a model on a dataset split (top-k, per class, confusion)."),
    "shard": ("tanet_hf.tools.shard", "Write a video dataset as WebDataset tar shards with its labels (streaming)."),
    "predict": ("tanet_hf.tools.predict", "Labels and scores of video files (batched; unreadable videos skipped)."),
    "fuse": ("tanet_hf.tools.fuse", "Fuse the saved scores of several models and re-score them offline."),
    "extract-features": ("tanet_hf.tools.features", "Clip, frame or sliding-window features of video files."),
    "classify-long": ("tanet_hf.tools.classify_long", "Labels along a long video, one per sliding window."),
    "export": ("tanet_hf.tools.export", "Export a classifier to ONNX (dynamo exporter) or a torch.export program."),
    "gradcam": ("tanet_hf.tools.gradcam", "Grad-CAM maps of a video overlaid on its frames (PNG strip, GIF or MP4)."),
    "visualize-kernels": (
        "tanet_hf.tools.visualize_kernels",
        "Distributions of TAM's kernels Θ and importance maps V per stage (paper Figs. 3, 5, 6) as a PNG.",
    ),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="tanet-hf", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        sub_parser.set_defaults(_module=module_name)
        if argv[:1] == [name]:
            importlib.import_module(module_name).add_arguments(sub_parser)
    args = parser.parse_args(argv)
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
