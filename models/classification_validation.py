"""Classification tasks of the prospective validation (models.validation): GBM vs LGG grading (AUC,
accuracy, Brier, calibration slope and intercept, ECE and its noise floor) and WHO grade 2/3/4 (micro AUC).

Point estimates use the CV definitions (`models.metrics`). The bootstrap replicates are vectorised
re-computations, one row per resample — ranks for AUC, batched damped Newton for the recalibration fits —
because a thousand scikit-learn calls per metric would take tens of seconds; the tests check both against
scikit-learn on the same rows.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit
from scipy.stats import rankdata
from sklearn.metrics import accuracy_score

from models.metrics import binary_classification_metrics, expected_calibration_error, multiclass_classification_metrics
from models.validation_bootstrap import (
    MIN_PATIENTS,
    MetricEstimate,
    check_n_bootstrap,
    estimate,
    resample_indices,
    undefined,
)

PROBABILITY_CLIP = 1e-7
"""Probabilities are clipped to [1e-7, 1 - 1e-7] before logit(p), so p = 0 or 1 gives |logit| <= 16.1."""

GRADING_METRICS: tuple[str, ...] = (
    "roc_auc",
    "accuracy",
    "brier",
    "calibration_slope",
    "calibration_intercept",
    "ece",
    "ece_noise_floor",
)


# --------------------------------------------------------------------------------------------------
# Vectorised metric replicates (one row per resample)


def _auc_rows(score: NDArray, positive: NDArray) -> NDArray:
    """ROC AUC per row by the rank-sum (Mann-Whitney) identity, ties at half credit; NaN for one class."""
    ranks = rankdata(score, axis=1)  # average ranks, i.e. ties count one half
    n_positive = positive.sum(axis=1).astype(np.float64)
    n_negative = positive.shape[1] - n_positive
    rank_sum = np.where(positive, ranks, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (rank_sum - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative)
    auc[(n_positive == 0) | (n_negative == 0)] = np.nan
    return auc


def _log1p_exp(eta: NDArray) -> NDArray:
    """log(1 + e^eta) without overflow."""
    return np.maximum(eta, 0.0) + np.log1p(np.exp(-np.abs(eta)))


def _fit_logistic_rows(
    columns: Sequence[NDArray],
    outcome: NDArray,
    offset: NDArray,
    start: Sequence[float],
    max_iterations: int = 50,
    tolerance: float = 1e-9,
) -> NDArray:
    """Unpenalised logistic regression of `outcome` on 1 or 2 covariate `columns` (each shaped like
    `outcome`: rows x patients), one fit per row; returns (rows, coefficients).

    Damped Newton (step halving until the log-likelihood does not fall), batched over the rows so a
    thousand bootstrap fits cost a few array passes. Rows that do not converge — perfect separation,
    one class — come back NaN, which the bootstrap treats as an undefined resample.
    """
    n_rows, n_columns = outcome.shape[0], len(columns)
    if n_columns not in (1, 2):
        raise ValueError("only 1 or 2 coefficients are supported")
    beta = np.tile(np.asarray(start, dtype=np.float64), (n_rows, 1))

    def linear_predictor(coefficients: NDArray) -> NDArray:
        eta = offset.copy()
        for c, column in enumerate(columns):
            eta += coefficients[:, c, None] * column
        return eta

    def log_likelihood(eta: NDArray) -> NDArray:
        return (outcome * eta - _log1p_exp(eta)).sum(axis=1)

    eta = linear_predictor(beta)
    current = log_likelihood(eta)
    converged = np.zeros(n_rows, dtype=bool)
    failed = np.zeros(n_rows, dtype=bool)
    for _ in range(max_iterations):
        active = ~(converged | failed)
        if not active.any():
            break
        mu = expit(eta)
        weight, residual = mu * (1 - mu), outcome - mu
        gradient = np.stack([(residual * column).sum(axis=1) for column in columns], axis=1)
        if n_columns == 1:
            curvature = (weight * columns[0] ** 2).sum(axis=1)
            singular = curvature <= 1e-12
            with np.errstate(divide="ignore", invalid="ignore"):
                step = (gradient[:, 0] / curvature)[:, None]
        else:
            h00 = (weight * columns[0] ** 2).sum(axis=1)
            h01 = (weight * columns[0] * columns[1]).sum(axis=1)
            h11 = (weight * columns[1] ** 2).sum(axis=1)
            determinant = h00 * h11 - h01**2
            singular = determinant <= 1e-12 * np.maximum(h00 * h11, 1e-300)
            with np.errstate(divide="ignore", invalid="ignore"):
                step = (
                    np.stack(
                        [h11 * gradient[:, 0] - h01 * gradient[:, 1], h00 * gradient[:, 1] - h01 * gradient[:, 0]],
                        axis=1,
                    )
                    / determinant[:, None]
                )
        failed |= active & (singular | ~np.isfinite(step).all(axis=1))
        active &= ~failed
        step[~active] = 0.0
        # Step halving: take the first fraction of the Newton step that does not lower the likelihood.
        fraction = np.ones(n_rows)
        accepted = ~active
        previous = beta.copy()
        for _halving in range(30):
            trial = previous + fraction[:, None] * step
            trial_eta = linear_predictor(trial)
            trial_ll = log_likelihood(trial_eta)
            ok = ~accepted & (trial_ll >= current - 1e-10 * np.abs(current))
            beta[ok], eta[ok], current[ok] = trial[ok], trial_eta[ok], trial_ll[ok]
            accepted |= ok
            if accepted.all():
                break
            fraction = np.where(accepted, fraction, fraction / 2)
        failed |= ~accepted
        moved = np.abs(beta - previous).max(axis=1)
        converged |= active & ~failed & (moved < tolerance * (1 + np.abs(beta).max(axis=1)))
    beta[~converged | (np.abs(beta).max(axis=1) > 1e6)] = np.nan
    return beta


def _logit(probability: NDArray) -> NDArray:
    clipped = np.clip(probability, PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    return np.log(clipped) - np.log1p(-clipped)


def _calibration_rows(logit_probability: NDArray, label: NDArray) -> tuple[NDArray, NDArray]:
    """Per row: calibration slope (coefficient of logit p in y ~ a + b logit p) and calibration-in-the-
    large (a in y ~ a + offset(logit p)). A well-calibrated model has slope 1 and intercept 0; slope < 1
    means the predictions are too extreme (overconfident), intercept > 0 means risk is underestimated."""
    outcome = label.astype(np.float64)
    slope = _fit_logistic_rows(
        [np.ones_like(logit_probability), logit_probability], outcome, np.zeros_like(logit_probability), (0.0, 1.0)
    )[:, 1]
    intercept = _fit_logistic_rows([np.ones_like(logit_probability)], outcome, logit_probability, (0.0,))[:, 0]
    return slope, intercept


def _ece_rows(probability: NDArray, outcome: NDArray) -> NDArray:
    return np.array([expected_calibration_error(p, y) for p, y in zip(probability, outcome, strict=True)])


# --------------------------------------------------------------------------------------------------
# Grading: GBM vs LGG


def _as_probability(values: NDArray, name: str) -> NDArray:
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)) or array.min(initial=0.0) < 0 or array.max(initial=0.0) > 1:
        raise ValueError(f"{name} must be finite probabilities in [0, 1]")
    return array


def grading_validation(
    label: NDArray,
    probability_gbm: NDArray,
    *,
    n_bootstrap: int = 1000,
    n_noise_simulations: int = 1000,
    seed: int = 0,
) -> list[MetricEstimate]:
    """GBM-vs-LGG validation on new patients: roc_auc, accuracy (threshold 0.5), brier,
    calibration_slope, calibration_intercept, ece and ece_noise_floor, in that order.

    `label` is 1 for GBM, 0 for LGG; `probability_gbm` the champion's calibrated P(GBM).

    `ece_noise_floor` is the mean ECE of a perfectly calibrated model with these predicted probabilities
    (outcomes drawn ~ Bernoulli(p), `n_noise_simulations` times); its interval is the central 95% of
    those simulated ECEs — a null range, not a bootstrap interval: an ECE inside it is what calibration
    noise at this n alone would give.

    With one class only, AUC and the two recalibration fits are undefined (None with a note); accuracy,
    Brier and ECE remain defined. With fewer than MIN_PATIENTS patients every metric is None.
    """
    check_n_bootstrap(n_bootstrap)
    if n_noise_simulations < 1:
        raise ValueError(f"n_noise_simulations must be >= 1, got {n_noise_simulations}")
    label = np.asarray(label)
    probability = _as_probability(probability_gbm, "probability_gbm")
    if label.shape != probability.shape or label.ndim != 1:
        raise ValueError(f"label {label.shape} and probability_gbm {probability.shape} must be 1-D of one length")
    if not np.isin(label, (0, 1)).all():
        raise ValueError("label must be 0 (LGG) or 1 (GBM)")
    label = label.astype(np.int64)
    n = label.size
    if n < MIN_PATIENTS:
        return undefined(GRADING_METRICS, n, f"only {n} patients (fewer than {MIN_PATIENTS}): not estimated")

    seed_sequence = np.random.SeedSequence(seed)
    bootstrap_rng, noise_rng = (np.random.default_rng(s) for s in seed_sequence.spawn(2))
    both_classes = 0 < label.sum() < n
    one_class_note = f"undefined: all {n} patients are {'GBM' if label.sum() == n else 'LGG'}"

    # Point estimates: the CV definitions (models.metrics), so prospective and CV figures compare.
    if both_classes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # f1 / balanced accuracy warnings; those metrics are not used
            point = binary_classification_metrics(label, probability)
    else:
        point = {
            "accuracy": float(accuracy_score(label, (probability >= 0.5).astype(int))),
            "brier": float(np.mean((probability - label) ** 2)),
            "ece": expected_calibration_error(probability, label),
        }
    logit_probability = _logit(probability)
    slope, intercept = (float(v[0]) for v in _calibration_rows(logit_probability[None, :], label[None, :]))

    rows = resample_indices(bootstrap_rng, n, n_bootstrap)
    sampled_label, sampled_probability = label[rows], probability[rows]
    correct = ((probability >= 0.5).astype(np.int64) == label).astype(np.float64)
    squared_error = (probability - label) ** 2
    auc_rows = _auc_rows(sampled_probability, sampled_label == 1)
    slope_rows, intercept_rows = _calibration_rows(logit_probability[rows], sampled_label)
    one_class = "the resample held one class only"

    estimates = [
        estimate("roc_auc", point["roc_auc"], auc_rows, n=n, undefined_resample_reason=one_class)
        if both_classes
        else MetricEstimate("roc_auc", None, None, None, n, None, one_class_note),
        estimate("accuracy", point["accuracy"], correct[rows].mean(axis=1), n=n),
        estimate("brier", point["brier"], squared_error[rows].mean(axis=1), n=n),
    ]
    for metric, value, replicates in (
        ("calibration_slope", slope, slope_rows),
        ("calibration_intercept", intercept, intercept_rows),
    ):
        if not both_classes:
            estimates.append(MetricEstimate(metric, None, None, None, n, None, one_class_note))
        elif not math.isfinite(value):
            separated = (
                "undefined: the logistic recalibration fit did not converge (the predictions separate GBM from LGG)"
            )
            estimates.append(MetricEstimate(metric, None, None, None, n, None, separated))
        else:
            undefined_fit = "the fit was undefined (one class or perfect separation)"
            estimates.append(estimate(metric, value, replicates, n=n, undefined_resample_reason=undefined_fit))
    estimates.append(
        estimate(
            "ece",
            point["ece"],
            _ece_rows(sampled_probability, sampled_label),
            n=n,
            outside_interval_hint=" (bootstrap ECE is biased upward; compare the ECE with ece_noise_floor)",
        )
    )

    simulated_outcome = noise_rng.random((n_noise_simulations, n)) < probability
    null_ece = _ece_rows(np.broadcast_to(probability, simulated_outcome.shape), simulated_outcome)
    null_low, null_high = (float(v) for v in np.percentile(null_ece, [2.5, 97.5]))
    null_note = (
        f"mean ECE of a perfectly calibrated model with these {n} predictions ({n_noise_simulations} simulated "
        "outcome sets); interval = central 95% of those ECEs, not a bootstrap interval"
    )
    estimates.append(MetricEstimate("ece_noise_floor", float(null_ece.mean()), null_low, null_high, n, None, null_note))
    return estimates


# --------------------------------------------------------------------------------------------------
# WHO grade 2 / 3 / 4


def who_grade_validation(
    label_index: NDArray,
    probability_matrix: NDArray,
    *,
    class_names: Sequence[str] = ("2", "3", "4"),
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> list[MetricEstimate]:
    """WHO grade validation: `roc_auc_micro` (one-vs-rest, pooled over the grades, as in the CV metrics).

    `label_index` 0..K-1 indexes the columns of `probability_matrix` (n x K; grades 2/3/4 by default).
    A resample keeps each patient's K pooled rows together, so the interval reflects n patients, not K*n.
    """
    check_n_bootstrap(n_bootstrap)
    label_index = np.asarray(label_index)
    probability = _as_probability(probability_matrix, "probability_matrix")
    if probability.ndim != 2 or probability.shape[1] < 2 or label_index.shape != (probability.shape[0],):
        raise ValueError(
            f"probability_matrix must be (n, K>=2) and label_index (n,), got {probability.shape} and {label_index.shape}"
        )
    n, n_classes = probability.shape
    if len(class_names) != n_classes:
        raise ValueError(f"{len(class_names)} class names for {n_classes} probability columns")
    if label_index.size and not (
        np.issubdtype(label_index.dtype, np.integer) and 0 <= label_index.min() and label_index.max() < n_classes
    ):
        raise ValueError(f"label_index must be integers in 0..{n_classes - 1}")
    if n < MIN_PATIENTS:
        return undefined(["roc_auc_micro"], n, f"only {n} patients (fewer than {MIN_PATIENTS}): not estimated")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # f1 / balanced accuracy warnings for absent grades; not used here
        point = multiclass_classification_metrics(label_index, probability, list(class_names))["roc_auc_micro"]
    one_hot = np.eye(n_classes, dtype=bool)[label_index]
    rows = resample_indices(np.random.default_rng(seed), n, n_bootstrap)
    pooled = (n_bootstrap, n * n_classes)  # each resample's patients' K one-vs-rest rows, pooled
    replicates = _auc_rows(probability[rows].reshape(pooled), one_hot[rows].reshape(pooled))
    present = np.unique(label_index).size
    note = f"only {present} of {n_classes} grades present among the patients" if present < n_classes else None
    return [estimate("roc_auc_micro", point, replicates, n=n, note=note)]


# --------------------------------------------------------------------------------------------------
# Molecular type (3 classes)


def molecular_type_validation(
    label_index: NDArray,
    probability_matrix: NDArray,
    class_names: Sequence[str],
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> list[MetricEstimate]:
    """Molecular typing validation: one-vs-rest AUC per class, their mean (`roc_auc_macro`, as in the CV metrics),
    accuracy and macro F1 of the most probable class, each with a percentile bootstrap interval over patients."""
    check_n_bootstrap(n_bootstrap)
    label_index = np.asarray(label_index, dtype=np.int64)
    probability = _as_probability(probability_matrix, "probability_matrix")
    n, n_classes = probability.shape
    if len(class_names) != n_classes or label_index.shape != (n,):
        raise ValueError(f"{len(class_names)} class names and {label_index.shape} labels for {probability.shape}")
    metrics = [*(f"roc_auc_{name}" for name in class_names), "roc_auc_macro", "accuracy", "f1_macro"]
    if n < MIN_PATIENTS:
        return undefined(metrics, n, f"only {n} patients (fewer than {MIN_PATIENTS}): not estimated")
    rows = resample_indices(np.random.default_rng(seed), n, n_bootstrap)
    samples = np.vstack([np.arange(n)[None, :], rows])  # row 0: the patients as they are (the point estimate)
    label = label_index[samples]
    predicted = probability.argmax(axis=1)[samples]
    per_class = np.column_stack([_auc_rows(probability[samples, k], label == k) for k in range(n_classes)])
    with np.errstate(invalid="ignore"):
        macro = per_class.mean(axis=1)  # NaN when a class is absent from the resample, as in the CV definition
        f1 = []
        for k in range(n_classes):
            true_positive = ((predicted == k) & (label == k)).sum(axis=1)
            denominator = (predicted == k).sum(axis=1) + (label == k).sum(axis=1)
            f1.append(np.where(denominator > 0, 2 * true_positive / np.maximum(denominator, 1), np.nan))
        f1_macro = np.nanmean(np.column_stack(f1), axis=1)
    accuracy = (predicted == label).mean(axis=1)
    values = {
        **{f"roc_auc_{name}": per_class[:, k] for k, name in enumerate(class_names)},
        "roc_auc_macro": macro,
        "accuracy": accuracy,
        "f1_macro": f1_macro,
    }
    present = np.unique(label_index).size
    note = f"only {present} of {n_classes} types present among the patients" if present < n_classes else None
    return [
        estimate(
            metric,
            None if not np.isfinite(series[0]) else float(series[0]),
            series[1:],
            n=n,
            note=note,
        )
        for metric, series in values.items()
    ]
