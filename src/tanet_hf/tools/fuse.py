"""`tanet-hf fuse`: fuse the saved scores of several models (e.g. an 8-frame and a 16-frame TANet, the paper's
ensembles) and re-score them offline."""

from __future__ import annotations

import argparse
import os

import numpy as np

from .scores import Scores, load_scores, save_scores

FUSION_SPACES = ("logits", "softmax")


def fuse_scores(
    runs: list[Scores], weights: list[float] | None = None, space: str = "logits", names: list[str] | None = None
) -> Scores:
    """
    Weighted mean of several models' scores of the same videos.

    `space="logits"`: `sum_m w_m s_m / sum_m w_m` over the logits (the files must hold logits); `"softmax"`: the
    same over each model's softmax probabilities, written as probabilities. Videos are matched by id; fusing two
    copies of one model gives back its own scores.

    Raises:
        ValueError: fewer than one run, a weight count that differs from the run count, runs whose label sets
            (names, in order) or video sets differ, or logits fusion of a probabilities file — naming the file.
    """
    names = names or [run.model for run in runs]
    if not runs:
        raise ValueError("fuse needs at least one scores file.")
    if space not in FUSION_SPACES:
        raise ValueError(f"space={space!r}; expected one of {list(FUSION_SPACES)}.")
    weights = [1.0] * len(runs) if weights is None else [float(w) for w in weights]
    if len(weights) != len(runs) or sum(weights) <= 0:
        raise ValueError(f"{len(weights)} weights {weights} for {len(runs)} scores files; give one per file, sum > 0.")
    reference, reference_name = runs[0], names[0]
    columns = []
    for run, name in zip(runs, names):
        if run.labels != reference.labels:
            raise ValueError(_label_mismatch(name, run.labels, reference_name, reference.labels))
        if set(run.video_ids) != set(reference.video_ids):
            missing = sorted(set(reference.video_ids) ^ set(run.video_ids))[:5]
            raise ValueError(f"{name}: scores a different set of videos than {reference_name} (e.g. {missing}).")
        if space == "logits" and run.kind != "logits":
            raise ValueError(f"{name}: holds {run.kind}; fuse it with --space softmax.")
        order = [run.video_ids.index(v) for v in reference.video_ids] if run.video_ids != reference.video_ids else None
        values = run.probabilities() if space == "softmax" else run.scores
        columns.append(values if order is None else values[order])
    fused = sum(w * c for w, c in zip(weights, columns)) / sum(weights)
    return Scores(
        model=" + ".join(f"{w:g}×{run.model}" for w, run in zip(weights, runs)),
        labels=list(reference.labels),
        video_ids=list(reference.video_ids),
        scores=fused.astype(np.float32),
        kind="logits" if space == "logits" else "probabilities",
        targets=reference.targets,
    )


def _label_mismatch(name: str, labels: list[str], reference_name: str, reference: list[str]) -> str:
    if len(labels) != len(reference):
        detail = f"{len(labels)} labels against {len(reference)}"
    else:
        first = next(i for i, (a, b) in enumerate(zip(labels, reference)) if a != b)
        detail = f"label {first} is {labels[first]!r} there but {reference[first]!r} in {reference_name}"
    return f"{name}: different label set from {reference_name} ({detail}); scores of different classes cannot be fused."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scores", nargs="+", help="Scores files (JSON) from `tanet-hf predict --output`.")
    parser.add_argument("--weights", type=float, nargs="+", help="One weight per file (default: equal).")
    parser.add_argument(
        "--space", choices=FUSION_SPACES, default="logits", help="Average logits (default) or softmax probabilities."
    )
    parser.add_argument("--output", help="Write the fused scores here (same JSON format).")
    parser.add_argument("--top-k", type=int, default=5, help="Labels per video in --output (default 5).")


def run(args: argparse.Namespace) -> int:
    runs = [load_scores(path) for path in args.scores]
    fused = fuse_scores(runs, args.weights, args.space, names=[os.fspath(p) for p in args.scores])
    print(f"fused {len(runs)} files: {len(fused.video_ids)} videos, {len(fused.labels)} labels")
    for path, single in zip(args.scores, runs):
        accuracy = single.accuracy()
        if accuracy:
            print(f"  {path}: " + ", ".join(f"{k} {v:.2f}%" for k, v in accuracy.items()))
    accuracy = fused.accuracy()
    if accuracy:
        print("  fused: " + ", ".join(f"{k} {v:.2f}%" for k, v in accuracy.items()))
    if args.output:
        print(f"wrote {save_scores(fused, args.output, top_k=args.top_k)}")
    return 0
