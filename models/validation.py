"""Prospective validation: how the champion models do on the patients of a new release they never saw,
with percentile-bootstrap 95% intervals (pure numpy / polars / scikit-learn / scikit-survival).

A new release brings a few dozen to a few hundred new patients, so a point estimate alone says little:
every metric carries an interval from resampling patients with replacement, and the ECE comes with its
noise floor (the ECE a perfectly calibrated model would show with these patients), because with small n
ECE is large even for a perfect model.

Point estimates use the same definitions as the cross-validated metrics of the registry
(`models.metrics`), so prospective and CV figures are comparable. The bootstrap replicates are
vectorised re-computations (ranks for AUC, batched Newton for the recalibration fits) because a
thousand scikit-learn calls per metric would take tens of seconds; the tests check both against
scikit-learn / scikit-survival on the same rows.

Undefined is not an error: a metric that cannot be computed (too few patients, one class only, a horizon
beyond the follow-up) comes back with value None and a note saying why, so a release never fails its
validation step for being small.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy.special import expit
from scipy.stats import rankdata
from sklearn.metrics import accuracy_score
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from sksurv.nonparametric import CensoringDistributionEstimator
from sksurv.util import Surv

from contracts.schemas import DAYS_PER_MONTH, ESTIMATE_SCHEMA, SURVIVAL_HORIZONS_MONTHS
from models.metrics import binary_classification_metrics, expected_calibration_error, multiclass_classification_metrics

MIN_PATIENTS = 10
"""Below this many patients no metric is estimated: an interval from 9 patients would mislead."""

VALID_RESAMPLE_SHARE = 0.95
"""If fewer resamples than this share gave a defined metric, the note says how many did."""

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


@dataclass(frozen=True)
class MetricEstimate:
    """One validation metric: point estimate, percentile-bootstrap 95% interval, and why if undefined.

    `n` counts patients; `n_events` counts deaths for the survival metrics (deaths by the horizon for
    a time-dependent AUC) and is None for the grading metrics.
    """

    metric: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    n_events: int | None = None
    note: str | None = None


# --------------------------------------------------------------------------------------------------
# Bootstrap plumbing


def _resample_indices(rng: np.random.Generator, n: int, n_bootstrap: int) -> NDArray[np.intp]:
    """(n_bootstrap, n) patient indices drawn with replacement."""
    return rng.integers(0, n, size=(n_bootstrap, n))


def _estimate(
    metric: str,
    value: float | None,
    replicates: NDArray | None,
    *,
    n: int,
    n_events: int | None = None,
    undefined_resample_reason: str = "the metric was undefined",
    note: str | None = None,
    outside_interval_hint: str = "",
) -> MetricEstimate:
    """Point estimate plus the percentile interval of the finite replicates (NaN = undefined resample).

    A percentile interval need not contain the estimate when the metric's bootstrap distribution is
    shifted (ECE of a well-calibrated model: resampling adds noise to every bin gap, so replicates
    sit above the estimate); the note then says so rather than the interval being silently odd.
    """
    notes = [note] if note else []
    ci_low = ci_high = None
    if value is not None and replicates is not None and replicates.size:
        valid = replicates[np.isfinite(replicates)]
        if valid.size >= 2:
            ci_low, ci_high = (float(v) for v in np.percentile(valid, [2.5, 97.5]))
            if not ci_low <= value <= ci_high:
                side = "below" if value < ci_low else "above"
                notes.append(f"point estimate {side} its bootstrap percentile interval{outside_interval_hint}")
        if valid.size < VALID_RESAMPLE_SHARE * replicates.size:
            notes.append(
                f"interval from {valid.size} of {replicates.size} bootstrap resamples; "
                f"in the others {undefined_resample_reason}"
            )
    return MetricEstimate(metric, value, ci_low, ci_high, n, n_events, "; ".join(notes) or None)


def _undefined(metrics: Sequence[str], n: int, reason: str, n_events: int | None = None) -> list[MetricEstimate]:
    return [MetricEstimate(m, None, None, None, n, n_events, reason) for m in metrics]


def _check_n_bootstrap(n_bootstrap: int) -> None:
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")


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
    _check_n_bootstrap(n_bootstrap)
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
        return _undefined(GRADING_METRICS, n, f"only {n} patients (fewer than {MIN_PATIENTS}): not estimated")

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

    rows = _resample_indices(bootstrap_rng, n, n_bootstrap)
    sampled_label, sampled_probability = label[rows], probability[rows]
    correct = ((probability >= 0.5).astype(np.int64) == label).astype(np.float64)
    squared_error = (probability - label) ** 2
    auc_rows = _auc_rows(sampled_probability, sampled_label == 1)
    slope_rows, intercept_rows = _calibration_rows(logit_probability[rows], sampled_label)
    one_class = "the resample held one class only"

    estimates = [
        _estimate("roc_auc", point["roc_auc"], auc_rows, n=n, undefined_resample_reason=one_class)
        if both_classes
        else MetricEstimate("roc_auc", None, None, None, n, None, one_class_note),
        _estimate("accuracy", point["accuracy"], correct[rows].mean(axis=1), n=n),
        _estimate("brier", point["brier"], squared_error[rows].mean(axis=1), n=n),
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
            estimates.append(_estimate(metric, value, replicates, n=n, undefined_resample_reason=undefined_fit))
    estimates.append(
        _estimate(
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
    _check_n_bootstrap(n_bootstrap)
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
        return _undefined(["roc_auc_micro"], n, f"only {n} patients (fewer than {MIN_PATIENTS}): not estimated")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # f1 / balanced accuracy warnings for absent grades; not used here
        point = multiclass_classification_metrics(label_index, probability, list(class_names))["roc_auc_micro"]
    one_hot = np.eye(n_classes, dtype=bool)[label_index]
    rows = _resample_indices(np.random.default_rng(seed), n, n_bootstrap)
    pooled = (n_bootstrap, n * n_classes)  # each resample's patients' K one-vs-rest rows, pooled
    replicates = _auc_rows(probability[rows].reshape(pooled), one_hot[rows].reshape(pooled))
    present = np.unique(label_index).size
    note = f"only {present} of {n_classes} grades present among the patients" if present < n_classes else None
    return [_estimate("roc_auc_micro", point, replicates, n=n, note=note)]


# --------------------------------------------------------------------------------------------------
# Survival risk

TIED_RISK_TOLERANCE = 1e-8
"""Risk scores closer than this count as tied (half credit), as in scikit-survival."""

PAIR_BLOCK_ENTRIES = 2_000_000
"""Pair matrices are built in row blocks of at most this many entries: bounded memory, not O(n^2).
Time is still O(resamples * n^2): ~0.25 s for 1000 resamples of 500 patients."""


@dataclass(frozen=True)
class _SurvivalPlan:
    """What is evaluated where, fixed on the full test set so every resample measures the same thing."""

    tau_days: float
    inside: tuple[int, ...]  # indices of the horizons inside the usable follow-up


@dataclass(frozen=True)
class _TestCohort:
    """The test patients, as raw follow-up (Harrell) and as administratively censored at the training
    cohort's follow-up (IPCW metrics), with the training cohort's censoring survival G at their times."""

    time: NDArray
    event: NDArray
    ipcw_time: NDArray
    ipcw_event: NDArray
    censoring_at_time: NDArray  # G(ipcw_time_i)
    risk: NDArray
    survival: NDArray  # (n, horizons)


def _sksurv_point(train: NDArray, cohort: _TestCohort, horizon_days: NDArray, plan: _SurvivalPlan) -> dict[str, float]:
    """The point estimates, by scikit-survival itself (the CV metrics' definitions); NaN where undefined."""

    def attempt(compute: Callable[[], float]) -> float:
        try:
            return float(compute())
        except (ValueError, ZeroDivisionError, FloatingPointError):
            return float("nan")

    test = Surv.from_arrays(event=cohort.ipcw_event, time=cohort.ipcw_time)
    values = {
        "harrell_c": attempt(lambda: concordance_index_censored(cohort.event, cohort.time, cohort.risk)[0]),
        "uno_c": attempt(lambda: concordance_index_ipcw(train, test, cohort.risk, tau=plan.tau_days)[0]),
    }
    for j in plan.inside:
        values[f"td_auc@{j}"] = attempt(
            lambda j=j: cumulative_dynamic_auc(train, test, cohort.risk, [horizon_days[j]])[0][0]
        )
    if len(plan.inside) >= 2:
        columns = list(plan.inside)
        values["ibs"] = attempt(
            lambda: integrated_brier_score(train, test, cohort.survival[:, columns], horizon_days[columns])
        )
    return values


def _resample_counts(rows: NDArray[np.intp], n: int) -> NDArray:
    """(resamples, n) multiplicity of each patient in each resample."""
    n_resamples = rows.shape[0]
    flat = (rows + n * np.arange(n_resamples)[:, None]).ravel()
    return np.bincount(flat, minlength=n_resamples * n).reshape(n_resamples, n).astype(np.float64)


def _quadratic_forms(counts: NDArray, pair_blocks: Callable[[slice], list[NDArray]], n_forms: int) -> NDArray:
    """c_b' M_f c_b for every resample b and pair matrix f, with M_f built block of rows by block.

    A resample that repeats a patient is the original cohort with integer weights, so a pair statistic
    (sum over pairs i, j of the resampled cohort) is a quadratic form in the patient counts; a patient
    paired with its own copy is never comparable, so M_f has a zero diagonal and copies need no care.
    """
    n_resamples, n = counts.shape
    block = max(1, PAIR_BLOCK_ENTRIES // max(n * n_forms, 1))
    totals = np.zeros((n_forms, n_resamples))
    for start in range(0, n, block):
        rows = slice(start, min(n, start + block))
        matrices = pair_blocks(rows)  # each (block, n)
        products = counts @ np.concatenate(matrices, axis=0).T  # (resamples, n_forms * block)
        width = rows.stop - rows.start
        for f in range(n_forms):
            totals[f] += (products[:, f * width : (f + 1) * width] * counts[:, rows]).sum(axis=1)
    return totals


def _half_credit(higher: NDArray, lower: NDArray) -> NDArray:
    """1 where the first risk is higher, 1/2 where tied, 0 otherwise (broadcast over pairs)."""
    difference = higher - lower
    return np.where(np.abs(difference) <= TIED_RISK_TOLERANCE, 0.5, (difference > 0).astype(np.float64))


def _survival_replicates(
    counts: NDArray, cohort: _TestCohort, censoring_at_horizon: NDArray, horizon_days: NDArray, plan: _SurvivalPlan
) -> dict[str, NDArray]:
    """Every survival metric for every resample, vectorised; NaN where a resample leaves it undefined.

    Same estimators as scikit-survival (the tests check it on resampled rows): Harrell's and Uno's C
    over the comparable pairs (i died first; or same time, j censored), Uno weighting i by G(t_i)^-2
    below tau; cumulative/dynamic AUC with cases (died by t) weighted 1/G(t_i); IPCW Brier scores at
    the horizons, integrated by the trapezoid.
    """
    time, event, risk = cohort.time, cohort.event, cohort.risk
    ipcw_time, ipcw_event = cohort.ipcw_time, cohort.ipcw_event
    with np.errstate(divide="ignore"):
        inverse_censoring = np.where(cohort.censoring_at_time > 0, 1.0 / cohort.censoring_at_time, 0.0)
    uno_weight = np.where(ipcw_event & (ipcw_time < plan.tau_days), inverse_censoring, 0.0) ** 2

    def comparable(t: NDArray, e: NDArray, rows: slice) -> NDArray:
        ti, tj = t[rows, None], t[None, :]
        return e[rows, None] & ((tj > ti) | ((tj == ti) & ~e[None, :]))

    def concordance_blocks(rows: slice) -> list[NDArray]:
        credit = _half_credit(risk[rows, None], risk[None, :])
        harrell_pairs = comparable(time, event, rows)
        uno_pairs = comparable(ipcw_time, ipcw_event, rows) * uno_weight[rows, None]
        return [harrell_pairs * credit, harrell_pairs.astype(np.float64), uno_pairs * credit, uno_pairs]

    harrell_num, harrell_den, uno_num, uno_den = _quadratic_forms(counts, concordance_blocks, 4)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = {"harrell_c": harrell_num / harrell_den, "uno_c": uno_num / uno_den}
    for j in plan.inside:
        days = horizon_days[j]
        case_weight = np.where(ipcw_event & (ipcw_time <= days), inverse_censoring, 0.0)
        control = (ipcw_time > days).astype(np.float64)

        def auc_block(rows: slice, case_weight: NDArray = case_weight, control: NDArray = control) -> list[NDArray]:
            return [case_weight[rows, None] * control[None, :] * _half_credit(risk[rows, None], risk[None, :])]

        (numerator,) = _quadratic_forms(counts, auc_block, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            values[f"td_auc@{j}"] = numerator / ((counts @ case_weight) * (counts @ control))
    if len(plan.inside) >= 2:
        columns = list(plan.inside)
        with np.errstate(divide="ignore"):
            inverse_at_horizon = np.where(censoring_at_horizon > 0, 1.0 / censoring_at_horizon, 0.0)
        brier = np.empty((counts.shape[0], len(columns)))
        for k, j in enumerate(columns):
            days, predicted = horizon_days[j], cohort.survival[:, j]
            died = ipcw_event & (ipcw_time <= days)
            loss = (
                predicted**2 * died * inverse_censoring
                + (1 - predicted) ** 2 * (ipcw_time > days) * inverse_at_horizon[j]
            )
            brier[:, k] = counts @ loss / counts.shape[1]
        times = horizon_days[columns]
        values["ibs"] = np.trapezoid(brier, times, axis=1) / (times[-1] - times[0])
    return values


def survival_validation(
    train_time: NDArray,
    train_event: NDArray,
    test_time: NDArray,
    test_event: NDArray,
    risk_score: NDArray,
    survival_probability_at_horizons: NDArray,
    horizons_months: Sequence[int] = SURVIVAL_HORIZONS_MONTHS,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> list[MetricEstimate]:
    """Survival-risk validation on new patients: harrell_c, uno_c, td_auc_<h>m per horizon, ibs.

    Times are in days (`overall_survival_days`), events are deaths; `risk_score` is higher for higher
    risk; `survival_probability_at_horizons[:, j]` is S(horizons_months[j] | x). The training cohort
    gives the censoring distribution of the IPCW metrics (Uno's C, time-dependent AUC, IBS), as in the
    CV metrics: test follow-up past the training cohort's last time is censored there administratively.

    Uno's C is truncated at the last horizon (or just inside the follow-up, if shorter). The IBS is the
    trapezoid over the horizons inside the follow-up (the only times S is given at), divided by their
    span; its note says which horizons it spans. A horizon outside the follow-up gives td_auc None with
    the reason. Resamples redraw test patients only; the censoring distribution stays the training
    cohort's, since it is a nuisance estimate, not part of the model being validated.
    """
    _check_n_bootstrap(n_bootstrap)
    train_time = np.asarray(train_time, dtype=np.float64)
    train_event = np.asarray(train_event, dtype=bool)
    test_time = np.asarray(test_time, dtype=np.float64)
    test_event = np.asarray(test_event, dtype=bool)
    risk = np.asarray(risk_score, dtype=np.float64)
    survival = np.asarray(survival_probability_at_horizons, dtype=np.float64)
    horizons = tuple(int(h) for h in horizons_months)
    if not horizons:
        raise ValueError("at least one horizon is needed")
    if survival.ndim == 1 and len(horizons) == 1:
        survival = survival[:, None]
    if train_time.shape != train_event.shape or train_time.ndim != 1 or train_time.size < 2:
        raise ValueError(
            "train_time and train_event (the censoring distribution's cohort) must be 1-D, one length, >= 2"
        )
    n = test_time.size
    if not (test_time.shape == test_event.shape == risk.shape == (n,)) or survival.shape != (n, len(horizons)):
        raise ValueError(
            f"test_time, test_event, risk_score must be (n,) and survival_probability_at_horizons (n, {len(horizons)}); "
            f"got {test_time.shape}, {test_event.shape}, {risk.shape}, {survival.shape}"
        )
    for name, values in (
        ("train_time", train_time),
        ("test_time", test_time),
        ("risk_score", risk),
        ("survival_probability_at_horizons", survival),
    ):
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} has missing or infinite values")
    metric_names = ["harrell_c", "uno_c", *(f"td_auc_{h}m" for h in horizons), "ibs"]
    n_deaths = int(test_event.sum())
    if n < MIN_PATIENTS:
        return _undefined(metric_names, n, f"only {n} patients (fewer than {MIN_PATIENTS}): not estimated", n_deaths)

    # The censoring distribution is estimated on the training cohort and undefined past its last time.
    censoring_bound = float(train_time.max()) - 1.0
    beyond = test_time > censoring_bound
    ipcw_time = np.where(beyond, censoring_bound, test_time)
    ipcw_event = test_event & ~beyond
    lower, upper = float(test_time.min()), min(censoring_bound, float(ipcw_time.max()))
    horizon_days = np.asarray(horizons, dtype=np.float64) * DAYS_PER_MONTH
    plan = _SurvivalPlan(
        tau_days=min(float(horizon_days.max()), upper - 1.0),
        inside=tuple(j for j, days in enumerate(horizon_days) if lower < days < upper),
    )
    train = Surv.from_arrays(event=train_event, time=train_time)
    censoring = CensoringDistributionEstimator().fit(train)
    cohort = _TestCohort(
        test_time, test_event, ipcw_time, ipcw_event, censoring.predict_proba(ipcw_time), risk, survival
    )
    point = _sksurv_point(train, cohort, horizon_days, plan)
    counts = _resample_counts(_resample_indices(np.random.default_rng(seed), n, n_bootstrap), n)
    censoring_at_horizon = np.full(horizon_days.size, np.nan)  # G is only defined inside the follow-up
    if plan.inside:
        censoring_at_horizon[list(plan.inside)] = censoring.predict_proba(horizon_days[list(plan.inside)])
    replicates = _survival_replicates(counts, cohort, censoring_at_horizon, horizon_days, plan)

    def finite_or_none(value: float | None) -> float | None:
        return value if value is not None and math.isfinite(value) else None

    estimates = []
    no_pairs = "undefined: no comparable pair of patients (no death before another patient's longer follow-up)"
    for metric in ("harrell_c", "uno_c"):
        value = finite_or_none(point[metric])
        if value is None:
            estimates.append(MetricEstimate(metric, None, None, None, n, n_deaths, no_pairs))
            continue
        note = f"truncated at {plan.tau_days:.0f} days" if metric == "uno_c" else None
        estimates.append(
            _estimate(
                metric,
                value,
                replicates[metric],
                n=n,
                n_events=n_deaths,
                undefined_resample_reason="no pair was comparable",
                note=note,
            )
        )
    for j, months in enumerate(horizons):
        days = horizon_days[j]
        metric, deaths_by_horizon = f"td_auc_{months}m", int((test_event & (test_time <= days)).sum())
        if j not in plan.inside:
            if days <= lower:
                where = f"before the first test follow-up time ({lower:.0f} days)"
            else:
                bounded = (
                    ", bounded by the training cohort's follow-up" if censoring_bound < float(test_time.max()) else ""
                )
                where = f"beyond the follow-up (longest usable: {upper:.0f} days{bounded})"
            estimates.append(
                MetricEstimate(
                    metric,
                    None,
                    None,
                    None,
                    n,
                    deaths_by_horizon,
                    f"undefined: {months} months ({days:.0f} days) is {where}",
                )
            )
            continue
        value = finite_or_none(point[f"td_auc@{j}"])
        estimates.append(
            _estimate(
                metric,
                value,
                replicates[f"td_auc@{j}"],
                n=n,
                n_events=deaths_by_horizon,
                undefined_resample_reason="no death by the horizon or no patient followed past it",
            )
            if value is not None
            else MetricEstimate(
                metric,
                None,
                None,
                None,
                n,
                deaths_by_horizon,
                f"undefined at {months} months: no death by then or no patient followed past it",
            )
        )
    if len(plan.inside) < 2:
        estimates.append(
            MetricEstimate(
                "ibs",
                None,
                None,
                None,
                n,
                n_deaths,
                f"undefined: needs two horizons inside the follow-up, {len(plan.inside)} of {len(horizons)} are",
            )
        )
    else:
        first, last = horizons[plan.inside[0]], horizons[plan.inside[-1]]
        span = f"integrated over {first}-{last} months ({len(plan.inside)} horizons, trapezoid)"
        skipped = [f"{h}m" for j, h in enumerate(horizons) if j not in plan.inside]
        if skipped:
            span += f"; {', '.join(skipped)} outside the follow-up, so not comparable with a full-span IBS"
        value = finite_or_none(point["ibs"])
        estimates.append(
            _estimate("ibs", value, replicates["ibs"], n=n, n_events=n_deaths, note=span)
            if value is not None
            else MetricEstimate("ibs", None, None, None, n, n_deaths, f"undefined: {span}")
        )
    return estimates


# --------------------------------------------------------------------------------------------------
# Table


def validation_table(estimates: Sequence[MetricEstimate], **context_columns: str | int | float | None) -> pl.DataFrame:
    """One row per estimate, the context (task, model_version, release, cohort, ...) as leading columns
    with the same value on every row, so tables of several tasks and releases stack with pl.concat."""
    clash = set(context_columns) & {f.name for f in fields(MetricEstimate)}
    if clash:
        raise ValueError(f"context columns {sorted(clash)} would overwrite estimate columns")
    frame = pl.DataFrame([asdict(e) for e in estimates], schema=ESTIMATE_SCHEMA)
    frame = frame.with_columns(pl.lit(value).alias(name) for name, value in context_columns.items())
    return frame.select(*context_columns, *ESTIMATE_SCHEMA)
