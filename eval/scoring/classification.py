"""Classification scorer (JMTEB v1.3.3 ``ClassificationEvaluator``): kNN and logistic regression fit on train,
chosen on validation by macro-F1, reported on test."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from . import metrics
from ._common import check_mode, finish_details
from .types import LabelledSplit, Mode, TaskScore

_AVERAGES = ("micro", "macro", "samples", "weighted", "binary")


def parse_average(average: str, mode: Mode) -> list[str]:
    """The F1 averages to report; the first is the main metric (``<average>_f1``).

    Official quirk (v1.3.3 ``src/jmteb/evaluators/classification/evaluator.py``, ``__init__``: ``for average_name in
    average``): the string is iterated character by character, no single character is an average name, so the list
    is always ``["macro"]``. ``mode="corrected"`` splits the string on commas.
    """
    parts = list(average) if mode == "official" else average.split(",")
    names = [p.strip().lower() for p in parts if p.strip().lower() in _AVERAGES]
    return names or ["macro"]


def default_classifiers(n_jobs: int | None = None) -> dict[str, Callable[[], Any]]:
    """JMTEB's default classifiers, in order (the first wins ties): ``knn_cosine_k_2`` =
    ``KNeighborsClassifier(n_neighbors=2, metric="cosine")`` (JMTEB passes ``n_jobs=-1``; the job count does not
    change predictions) and ``logreg`` = ``LogisticRegression()`` (scikit-learn defaults: lbfgs, C=1, max_iter=100)."""
    return {
        "knn_cosine_k_2": lambda: KNeighborsClassifier(n_neighbors=2, metric="cosine", n_jobs=n_jobs),
        "logreg": lambda: LogisticRegression(),
    }


def _compute_metrics(y_true: list, y_pred: np.ndarray, averages: list[str]) -> dict[str, float]:
    out = {"accuracy": metrics.accuracy(y_true, y_pred)}
    for avg in averages:
        out[f"{avg}_f1"] = metrics.f1(y_true, y_pred, average=avg)
    return out


def score_classification(
    train: LabelledSplit,
    val: LabelledSplit,
    test: LabelledSplit,
    mode: Mode = "official",
    *,
    average: str = "macro",
    n_jobs: int | None = None,
) -> TaskScore:
    """Fit every classifier on ``train``, pick the best validation ``macro_f1``, report that classifier on test.

    Embeddings go to scikit-learn unnormalised and in their dtype. Metrics per classifier: ``accuracy`` and
    ``<average>_f1`` (``macro_f1`` by default). Classifiers are deterministic (lbfgs; brute-force kNN), so no seed
    is needed; exact distance ties among neighbours are broken by scikit-learn.

    Details: ``optimal_classifier_name``, ``val_scores`` {name: {accuracy, macro_f1}}, ``test_scores`` {best: ...}
    (+ ``mode`` for corrected runs). ``average`` only matters in corrected mode (see :func:`parse_average`).
    """
    check_mode(mode)
    averages = parse_average(average, mode)
    main_metric = f"{averages[0]}_f1"
    x_train = np.asarray(train.emb)
    y_train = np.asarray(train.labels).tolist()
    y_val = np.asarray(val.labels).tolist()
    y_test = np.asarray(test.labels).tolist()

    fitted: dict[str, Any] = {}
    val_results: dict[str, dict[str, float]] = {}
    for name, make in default_classifiers(n_jobs).items():
        clf = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x_train, y_train)
        fitted[name] = clf
        val_results[name] = _compute_metrics(y_val, clf.predict(np.asarray(val.emb)), averages)

    best = sorted(val_results.items(), key=lambda item: item[1][main_metric], reverse=True)[0][0]
    test_results = {best: _compute_metrics(y_test, fitted[best].predict(np.asarray(test.emb)), averages)}
    details = finish_details(
        {"optimal_classifier_name": best, "val_scores": val_results, "test_scores": test_results}, mode
    )
    return TaskScore(metric_name=main_metric, metric_value=test_results[best][main_metric], details=details)
