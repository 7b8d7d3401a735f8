# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Class names: the packaged label sets and the one parser for label files, used by data loading and the converter.

The packaged sets (`kinetics400.txt`, `sthv1.txt`, `sthv2.txt` in this folder) hold one class name per line in
the official index order. The authors' release indexes Something-Something V1 by the sorted class names (its
`gen_label_sthv1.py`), mmaction2 by the official CSV order; both index Kinetics-400 and Something-Something V2 in
the official order, which is alphabetical — [`read_labels`] with `order="sorted"` gives the release's V1 order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

LABEL_SETS = ("kinetics400", "sthv1", "sthv2")


def read_label_set(name: str) -> list[str]:
    """The class names of `kinetics400`, `sthv1` or `sthv2` in their official index order (package data)."""
    if name not in LABEL_SETS:
        raise ValueError(f"unknown label set {name!r}; expected one of {list(LABEL_SETS)}.")
    text = resources.files(__name__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def _parse_json(path: Path, data: object) -> list[str]:
    if isinstance(data, list):
        return [str(name) for name in data]
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON list of names or an object name → index, got {type(data).__name__}.")
    try:
        items = [
            (int(v), str(k)) if str(v).strip().lstrip("-").isdigit() else (int(k), str(v)) for k, v in data.items()
        ]
    except ValueError as error:
        raise ValueError(f"{path}: a label JSON object must map names to indices (or indices to names).") from error
    items.sort()
    if [index for index, _ in items] != list(range(len(items))):
        raise ValueError(f"{path}: class indices must be exactly 0..{len(items) - 1}.")
    return [name for _, name in items]


def read_labels(source: str | os.PathLike | Sequence[str], order: str = "official") -> list[str]:
    """
    Class names in index order from a packaged label set, a label file, or a list of names.

    `source` is `"kinetics400"`, `"sthv1"`, `"sthv2"`, a list, or a file: `.json` holding a list of names,
    `{name: index}` (Something-Something V2's `labels.json`) or `{index: name}`; any other file holds one name per
    line (Kinetics label maps, Something-Something V1's `labels.csv`; surrounding quotes are dropped).
    `order="sorted"` sorts a packaged set's names (the release's Something-Something V1 indexing).

    Raises `FileNotFoundError` for a missing file, `ValueError` for an empty set, duplicates or bad indices.
    """
    if order not in ("official", "sorted"):
        raise ValueError(f"order={order!r}; expected 'official' or 'sorted'.")
    where = "the given label list"
    if isinstance(source, (list, tuple)):
        names = [str(name) for name in source]
    elif str(source) in LABEL_SETS:
        where = f"label set {source}"
        names = read_label_set(str(source))
        names = sorted(names) if order == "sorted" else names
    else:
        path = Path(source)
        where = f"label file {path}"
        if not path.is_file():
            raise FileNotFoundError(f"label file {str(source)!r} does not exist (nor is it one of {list(LABEL_SETS)}).")
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json":
            names = _parse_json(path, json.loads(text))
        else:
            names = [line.strip().strip('"') for line in text.splitlines() if line.strip()]
    if not names:
        raise ValueError(f"{where} holds no class names.")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"{where} repeats class names {duplicates[:5]}.")
    return names


__all__ = ["LABEL_SETS", "read_label_set", "read_labels"]
