"""
The scores file: every video's class scores from one model, written by `tanet-hf predict --output FILE.json` (and
the evaluation tool), read by `tanet-hf fuse`.

A JSON object:

```json
{"format": "tanet-hf-scores", "version": 1, "model": "path or Hub id", "kind": "logits",
 "labels": ["class 0", "class 1", ...],
 "videos": [{"id": "a.mp4", "scores": [..one per label..], "target": 3 (optional), "top_k": [...] (optional)}],
 "errors": [{"id": "broken.mp4", "error": "broken.mp4: truncated: ..."}]}
```

`kind` is `"logits"` (the model's output) or `"probabilities"` (softmax, e.g. after fusing in softmax space).
Files from models with a different label set (names, in order) are refused by name.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT = "tanet-hf-scores"
VERSION = 1
KINDS = ("logits", "probabilities")


@dataclass
class Scores:
    """
    Scores of `N` videos over `C` labels.

    Args:
        model: The model's path or Hub id (or, after fusing, the fused files' models joined by ` + `).
        labels: The `C` class names, in the order of the score columns.
        video_ids: The `N` video names.
        scores (`np.ndarray` of shape `(N, C)`, float32): Logits or probabilities, as `kind` says.
        kind: `"logits"` or `"probabilities"`.
        targets: The true class index of every video, where known (evaluation), else `None`.
        errors: `(video id, message)` of the videos that could not be scored.
    """

    model: str
    labels: list[str]
    video_ids: list[str]
    scores: np.ndarray
    kind: str = "logits"
    targets: list[int] | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(len(self.video_ids), len(self.labels))
        if self.kind not in KINDS:
            raise ValueError(f"Scores.kind={self.kind!r}; expected one of {list(KINDS)}.")
        if self.targets is not None and len(self.targets) != len(self.video_ids):
            raise ValueError(f"{len(self.targets)} targets for {len(self.video_ids)} videos.")

    def probabilities(self) -> np.ndarray:
        """`(N, C)` softmax of the scores (the scores themselves when they are probabilities already)."""
        if self.kind == "probabilities":
            return self.scores
        shifted = np.exp(self.scores - self.scores.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def top_k(self, k: int) -> list[list[tuple[str, float]]]:
        """Per video, the `k` best `(label, probability)` pairs, best first."""
        probabilities = self.probabilities()
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, : min(k, len(self.labels))]
        return [[(self.labels[c], float(row[c])) for c in top] for row, top in zip(probabilities, order)]

    def accuracy(self) -> dict[str, float] | None:
        """Top-1 (and top-5 with more than 5 labels) accuracy in percent, when every video has a target."""
        if self.targets is None or not self.video_ids:
            return None
        targets = np.asarray(self.targets)
        ranked = np.argsort(-self.scores, axis=1, kind="stable")
        result = {"top1": float((ranked[:, 0] == targets).mean() * 100)}
        if len(self.labels) > 5:
            result["top5"] = float((ranked[:, :5] == targets[:, None]).any(axis=1).mean() * 100)
        return result


def save_scores(scores: Scores, path: str | os.PathLike, top_k: int = 0) -> Path:
    """Write `scores` as JSON (with each video's `top_k` labels when `top_k > 0`); returns the path."""
    path = Path(path)
    rankings = scores.top_k(top_k) if top_k > 0 else None
    videos = []
    for position, video_id in enumerate(scores.video_ids):
        entry: dict = {"id": video_id, "scores": [float(v) for v in scores.scores[position]]}
        if scores.targets is not None:
            entry["target"] = int(scores.targets[position])
        if rankings is not None:
            entry["top_k"] = [{"label": label, "probability": p} for label, p in rankings[position]]
        videos.append(entry)
    document = {
        "format": FORMAT,
        "version": VERSION,
        "model": scores.model,
        "kind": scores.kind,
        "labels": list(scores.labels),
        "videos": videos,
        "errors": [{"id": video_id, "error": message} for video_id, message in scores.errors],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n")
    return path


def load_scores(path: str | os.PathLike) -> Scores:
    """Read a scores file; `ValueError` naming the file when it is missing or not one."""
    name = os.fspath(path)
    try:
        document = json.loads(Path(path).read_text())
    except FileNotFoundError as error:
        raise ValueError(f"{name}: scores file not found.") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{name}: not a JSON scores file ({error}).") from error
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"{name}: not a {FORMAT} file (written by `tanet-hf predict --output FILE.json`).")
    if document.get("version") != VERSION:
        raise ValueError(f"{name}: scores format version {document.get('version')!r}; this reader knows {VERSION}.")
    videos = document["videos"]
    has_targets = bool(videos) and all("target" in v for v in videos)
    return Scores(
        model=document["model"],
        labels=list(document["labels"]),
        video_ids=[v["id"] for v in videos],
        scores=np.asarray([v["scores"] for v in videos], dtype=np.float32),
        kind=document["kind"],
        targets=[int(v["target"]) for v in videos] if has_targets else None,
        errors=[(e["id"], e["error"]) for e in document.get("errors", [])],
    )
