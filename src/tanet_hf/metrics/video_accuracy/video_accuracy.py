# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Video classification accuracy: top-k accuracy, mean class accuracy and the confusion matrix.

An `evaluate` metric module that works offline: load it by path,

    import evaluate
    metric = evaluate.load("/path/to/tanet_hf/metrics/video_accuracy")   # or tanet_hf.training.load_video_accuracy()
    metric.compute(predictions=logits, references=labels)                # logits (N, C), labels (N,)

The numbers are those video recognition papers report (TSN/TSM/TANet releases, mmaction2): top-1 and top-5 over
clips, and mean class accuracy, the average over the classes present in the references of each class's recall.

Ties and NaN cannot flatter a model: tied scores are ranked in class-index order, the order `argmax` uses, so top-1
always equals the confusion matrix's trace over N; a clip with a NaN score counts as wrong (`num_unscored`).
"""

from __future__ import annotations

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """
Top-k accuracy (default k = 1 and 5) and mean class accuracy of video classification scores, as reported by video
recognition papers. `predictions` are per-class scores (logits or probabilities) of shape (N, C); `references` are
class indices of shape (N,). With `return_confusion_matrix=True` the C × C confusion matrix (rows: true class,
columns: predicted class) is returned as well. Tied scores rank in class-index order (as `argmax` picks); a clip
with any NaN score counts as wrong for every k and is counted in `num_unscored`.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `float`, shape (N, C)): per-class scores for every clip.
    references (`list` of `int`, shape (N,)): the true class of every clip.
    top_k (`tuple` of `int`, *optional*, defaults to `(1, 5)`): the k of each reported top-k accuracy; values
        larger than C are clipped to C.
    return_confusion_matrix (`bool`, *optional*, defaults to `False`): also return `confusion_matrix`.
    return_per_class (`bool`, *optional*, defaults to `False`): also return `per_class_accuracy` (NaN for
        classes absent from the references).

Returns:
    `top1`, `top5`, ... (`float` in [0, 1]); `mean_class_accuracy` (`float`); `num_samples` (`int`);
    `num_unscored` (`int`, clips with a NaN score: counted as wrong, in no confusion-matrix column); optionally
    `confusion_matrix` (`list` of `list` of `int`) and `per_class_accuracy` (`list` of `float`).

Examples:
    >>> metric = evaluate.load("path/to/video_accuracy")
    >>> metric.compute(predictions=[[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]], references=[1, 0, 0], top_k=(1,))
    {'top1': 0.6666666666666666, 'mean_class_accuracy': 0.75, 'num_samples': 3, 'num_unscored': 0}
"""

_CITATION = """
@inproceedings{liu2021tam,
  title     = {TAM: Temporal Adaptive Module for Video Recognition},
  author    = {Liu, Zhaoyang and Wang, Limin and Wu, Wayne and Qian, Chen and Lu, Tong},
  booktitle = {Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)},
  year      = {2021}
}
"""


def video_accuracy(
    scores: np.ndarray,
    labels: np.ndarray,
    top_k: tuple[int, ...] = (1, 5),
    return_confusion_matrix: bool = False,
    return_per_class: bool = False,
) -> dict:
    """The metric on arrays: `scores` `(N, C)`, `labels` `(N,)`. See the module documentation."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if scores.ndim != 2:
        raise ValueError(f"predictions must be per-class scores of shape (N, C), got shape {scores.shape}.")
    if labels.shape != (scores.shape[0],):
        raise ValueError(f"references must have shape ({scores.shape[0]},) to match predictions, got {labels.shape}.")
    num_samples, num_classes = scores.shape
    if num_samples == 0:
        raise ValueError("video_accuracy needs at least one prediction.")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"references must be class indices in [0, {num_classes}), got values in [{labels.min()}, {labels.max()}]."
        )
    ks = sorted({int(k) for k in top_k})
    if not ks or ks[0] < 1:
        raise ValueError(f"top_k must hold positive integers, got {top_k!r}.")
    ranks, predicted, unscored = _rank_true_class(scores, labels)
    result: dict = {f"top{k}": float((ranks < min(k, num_classes)).mean()) for k in ks}

    # rows: true class; columns: predicted class. Clips with a NaN score have no predicted class: they are counted
    # in their true class's total (as errors) but in no column, so trace / num_samples == top1 always.
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels[~unscored], predicted[~unscored]), 1)
    counts = np.bincount(labels, minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(counts > 0, np.diag(confusion) / np.maximum(counts, 1), np.nan)
    result["mean_class_accuracy"] = float(np.nanmean(per_class))
    result["num_samples"] = int(num_samples)
    result["num_unscored"] = int(unscored.sum())
    if return_per_class:
        result["per_class_accuracy"] = per_class.tolist()
    if return_confusion_matrix:
        result["confusion_matrix"] = confusion.tolist()
    return result


def _rank_true_class(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    The rank of each clip's true class, its predicted class and which clips are unscored.

    The ranking is the order of a stable descending sort, the order in which `argmax` / top-k pick: a class ranks
    above the true class when it scores higher, or scores the same and has a lower index. So ties are broken exactly
    as the confusion matrix's `argmax` breaks them, and top-1 is always the confusion matrix's trace / N: a model
    whose logits are all equal predicts class 0 for every clip and is right only on class 0's clips.

    A clip with a NaN score anywhere is *unscored*: it has no ranking, counts as wrong for every k and has no
    predicted class (a diverged model scores 0, never 100%). Infinite scores are ordered as numbers.

    Args:
        scores (`np.ndarray` of shape `(N, C)`): per-class scores.
        labels (`np.ndarray` of shape `(N,)`): true classes.

    Returns:
        `ranks` `(N,)` (0 = ranked first; `C` for unscored clips), `predicted` `(N,)` (argmax; meaningless where
        unscored: NaN is not a class) and `unscored` `(N,)` `bool`.
    """
    num_samples, num_classes = scores.shape
    unscored = np.isnan(scores).any(axis=1)
    true_scores = scores[np.arange(num_samples), labels][:, None]
    lower_index = np.arange(num_classes)[None, :] < labels[:, None]
    ranks = ((scores > true_scores) | ((scores == true_scores) & lower_index)).sum(axis=1)
    ranks[unscored] = num_classes
    predicted = scores.argmax(axis=1)
    return ranks, predicted, unscored


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class VideoAccuracy(evaluate.Metric):
    """Top-k accuracy, mean class accuracy and confusion matrix of video classification scores."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float32")),
                    "references": datasets.Value("int64"),
                }
            ),
            reference_urls=["https://github.com/liu-zhy/temporal-adaptive-module"],
        )

    def _compute(
        self,
        predictions,
        references,
        top_k: tuple[int, ...] = (1, 5),
        return_confusion_matrix: bool = False,
        return_per_class: bool = False,
    ) -> dict:
        return video_accuracy(
            np.asarray(predictions),
            np.asarray(references),
            top_k=tuple(top_k),
            return_confusion_matrix=return_confusion_matrix,
            return_per_class=return_per_class,
        )
