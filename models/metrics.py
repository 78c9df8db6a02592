"""Evaluation metrics for the grading and survival models (pure numpy / scikit-learn / scikit-survival)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from sksurv.util import Surv

from contracts.schemas import DAYS_PER_MONTH, SURVIVAL_HORIZONS_MONTHS


def expected_calibration_error(probability: NDArray, outcome: NDArray, n_bins: int = 10) -> float:
    """ECE with equal-width bins: sum over bins of (bin share) * |mean outcome - mean probability|.

    For a binary model `probability` is P(positive) and `outcome` 0/1; for a multiclass model pass the
    top-label probability and whether the top label was right (top-label ECE).
    """
    probability = np.asarray(probability, dtype=np.float64)
    outcome = np.asarray(outcome, dtype=np.float64)
    bins = np.clip((probability * n_bins).astype(int), 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    probability_sums = np.bincount(bins, weights=probability, minlength=n_bins)
    outcome_sums = np.bincount(bins, weights=outcome, minlength=n_bins)
    filled = counts > 0
    gap = np.abs(outcome_sums[filled] - probability_sums[filled]) / counts[filled]
    return float((counts[filled] / probability.size * gap).sum())


def binary_classification_metrics(label: NDArray, probability: NDArray, threshold: float = 0.5) -> dict[str, float]:
    label = np.asarray(label, dtype=int)
    probability = np.asarray(probability, dtype=np.float64)
    predicted = (probability >= threshold).astype(int)
    return {
        "roc_auc": float(roc_auc_score(label, probability)),
        "accuracy": float(accuracy_score(label, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(label, predicted)),
        "f1": float(f1_score(label, predicted)),
        "brier": float(np.mean((probability - label) ** 2)),
        "ece": expected_calibration_error(probability, label),
    }


def multiclass_classification_metrics(
    label_index: NDArray, probability: NDArray, class_names: list[str]
) -> dict[str, float]:
    """`label_index` 0..K-1, `probability` (n, K). AUC micro (one-vs-rest pooled) and per class."""
    label_index = np.asarray(label_index, dtype=int)
    probability = np.asarray(probability, dtype=np.float64)
    n_classes = probability.shape[1]
    one_hot = np.eye(n_classes)[label_index]
    predicted = probability.argmax(axis=1)
    metrics = {
        "roc_auc_micro": float(roc_auc_score(one_hot.ravel(), probability.ravel())),
        "accuracy": float(accuracy_score(label_index, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(label_index, predicted)),
        "f1_macro": float(f1_score(label_index, predicted, average="macro")),
        "brier": float(np.mean(((probability - one_hot) ** 2).sum(axis=1))),
        "ece": expected_calibration_error(probability.max(axis=1), predicted == label_index),
    }
    for k, name in enumerate(class_names):
        if 0 < one_hot[:, k].sum() < label_index.size:
            metrics[f"roc_auc_{name}"] = float(roc_auc_score(one_hot[:, k], probability[:, k]))
    return metrics


def survival_metrics(
    train_days: NDArray,
    train_death: NDArray,
    test_days: NDArray,
    test_death: NDArray,
    risk_score: NDArray,
    survival_at: Callable[[NDArray], NDArray],
) -> dict[str, float]:
    """Harrell's C, Uno's C (IPCW, truncated at 60 months), time-dependent AUC at 12/24/60 months and
    the integrated Brier score over 3..60 months (each clipped to the test fold's follow-up range).

    `survival_at(days)` returns S(t | x) for the test patients, shape (n_test, len(days)).
    """
    train_days = np.asarray(train_days, dtype=np.float64)
    test_days = np.asarray(test_days, dtype=np.float64)
    test_death = np.asarray(test_death, dtype=bool)
    train = Surv.from_arrays(event=np.asarray(train_death, bool), time=train_days)
    risk_score = np.asarray(risk_score, dtype=np.float64)
    metrics: dict[str, float] = {
        "harrell_c": float(concordance_index_censored(test_death, test_days, risk_score)[0]),
    }
    # The IPCW metrics weigh test patients by the censoring distribution estimated on the training
    # fold, which is undefined past the last training time. Test follow-up beyond it is censored
    # administratively there; every evaluation time below lies before that bound, so no metric moves.
    horizon = float(np.max(train_days)) - 1.0
    beyond = test_days > horizon
    test = Surv.from_arrays(event=test_death & ~beyond, time=np.where(beyond, horizon, test_days))
    upper = min(horizon, float(np.max(test_days)))
    tau = min(60 * DAYS_PER_MONTH, upper - 1.0)
    metrics["uno_c"] = float(concordance_index_ipcw(train, test, risk_score, tau=tau)[0])
    lower = float(np.min(test_days))
    for months in SURVIVAL_HORIZONS_MONTHS:
        days = months * DAYS_PER_MONTH
        if lower < days < upper:
            auc, _ = cumulative_dynamic_auc(train, test, risk_score, [days])
            metrics[f"auc_{months}m"] = float(auc[0])
        else:
            metrics[f"auc_{months}m"] = float("nan")
    grid = np.linspace(max(3 * DAYS_PER_MONTH, lower + 1.0), min(60 * DAYS_PER_MONTH, upper - 1.0), 40)
    metrics["integrated_brier"] = float(integrated_brier_score(train, test, survival_at(grid), grid))
    return metrics
