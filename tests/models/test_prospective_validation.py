"""Prospective validation metrics (models/validation.py): point estimates equal scikit-learn /
scikit-survival on the same rows, bootstrap replicates equal them on resampled rows, the intervals
behave (contain the estimate, shrink with n), recalibration and the ECE noise floor mean what they
say, and undefined cases come back as None with a reason instead of an exception."""

from __future__ import annotations

import time

import numpy as np
import polars as pl
import pytest
from scipy.optimize import brentq
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, brier_score_loss, roc_auc_score
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from sksurv.nonparametric import CensoringDistributionEstimator
from sksurv.util import Surv

from contracts.schemas import DAYS_PER_MONTH
from models.validation import (
    GRADING_METRICS,
    MetricEstimate,
    _auc_rows,
    _calibration_rows,
    _logit,
    _resample_counts,
    _sksurv_point,
    _survival_replicates,
    _SurvivalPlan,
    _TestCohort,
    grading_validation,
    survival_validation,
    validation_table,
    who_grade_validation,
)

HORIZON_DAYS = np.array([12, 24, 60]) * DAYS_PER_MONTH


def calibrated_grading(n: int, seed: int, logit_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from the predicted probability itself (perfect calibration) when logit_scale = 1;
    the reported probability is expit(logit_scale * true logit), so > 1 is overconfident."""
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(-0.3, 1.5, n)
    label = (rng.random(n) < expit(true_logit)).astype(int)
    return label, expit(logit_scale * true_logit)


def by_metric(estimates: list[MetricEstimate]) -> dict[str, MetricEstimate]:
    return {e.metric: e for e in estimates}


def hand_ece(probability: np.ndarray, outcome: np.ndarray, n_bins: int = 10) -> float:
    total = 0.0
    for b in range(n_bins):
        upper_edge = (probability < (b + 1) / n_bins) if b < n_bins - 1 else np.ones_like(probability, bool)
        in_bin = (probability >= b / n_bins) & upper_edge
        if in_bin.any():
            total += in_bin.mean() * abs(outcome[in_bin].mean() - probability[in_bin].mean())
    return total


def sklearn_calibration_slope(label: np.ndarray, probability: np.ndarray) -> float:
    model = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(_logit(probability)[:, None], label)
    return float(model.coef_[0, 0])


def calibration_in_the_large(label: np.ndarray, probability: np.ndarray) -> float:
    """Root of the score equation sum(y - expit(a + logit p)) = 0 (intercept with logit p as offset)."""
    offset = _logit(probability)
    return float(brentq(lambda a: np.sum(label - expit(a + offset)), -20, 20, xtol=1e-14))


# ---------------------------------------------------------------------------------------------------
# GBM vs LGG


def test_grading_point_estimates_equal_sklearn_on_the_same_rows():
    label, probability = calibrated_grading(400, seed=1, logit_scale=1.4)
    estimates = by_metric(grading_validation(label, probability, n_bootstrap=200, seed=3))
    assert list(estimates) == list(GRADING_METRICS)
    assert estimates["roc_auc"].value == pytest.approx(roc_auc_score(label, probability), abs=1e-12)
    assert estimates["accuracy"].value == pytest.approx(accuracy_score(label, probability >= 0.5), abs=1e-12)
    assert estimates["brier"].value == pytest.approx(brier_score_loss(label, probability), abs=1e-12)
    assert estimates["ece"].value == pytest.approx(hand_ece(probability, label), abs=1e-12)
    assert estimates["calibration_slope"].value == pytest.approx(
        sklearn_calibration_slope(label, probability), abs=1e-6
    )
    assert estimates["calibration_intercept"].value == pytest.approx(
        calibration_in_the_large(label, probability), abs=1e-8
    )
    assert all(e.n == 400 and e.n_events is None for e in estimates.values())


def test_grading_bootstrap_replicates_equal_sklearn_on_the_resampled_rows():
    """The interval is of the right statistic: the vectorised replicates (rank AUC, batched Newton)
    equal scikit-learn fitted on the resampled patients, ties and repeated patients included."""
    label, probability = calibrated_grading(150, seed=2, logit_scale=0.7)
    probability = np.round(probability, 2)  # ties in the scores
    rows = np.random.default_rng(0).integers(0, label.size, size=(15, label.size))
    auc = _auc_rows(probability[rows], label[rows] == 1)
    slope, intercept = _calibration_rows(_logit(probability)[rows], label[rows])
    for b, r in enumerate(rows):
        assert auc[b] == pytest.approx(roc_auc_score(label[r], probability[r]), abs=1e-12)
        assert slope[b] == pytest.approx(sklearn_calibration_slope(label[r], probability[r]), abs=1e-6)
        assert intercept[b] == pytest.approx(calibration_in_the_large(label[r], probability[r]), abs=1e-8)


def test_intervals_contain_the_estimate_and_shrink_with_more_patients():
    widths: dict[int, dict[str, float]] = {}
    for n in (120, 2000):
        label, probability = calibrated_grading(n, seed=4)
        widths[n] = {}
        for e in grading_validation(label, probability, n_bootstrap=500, n_noise_simulations=200, seed=5):
            assert e.ci_low is not None and e.ci_high is not None, e
            assert e.ci_low <= e.value <= e.ci_high, e
            widths[n][e.metric] = e.ci_high - e.ci_low
    for metric in GRADING_METRICS:
        assert widths[2000][metric] < widths[120][metric], metric


def test_every_interval_but_the_ece_contains_its_estimate_and_an_ece_outside_says_why():
    """Bootstrap ECE is biased upward (resampling adds noise to every bin gap), so for a well-
    calibrated model the ECE falls below its percentile interval in ~10% of cohorts; the note says so."""
    ece_outside = 0
    for seed in range(30):
        label, probability = calibrated_grading(200, seed=200 + seed)
        for e in grading_validation(label, probability, n_bootstrap=200, n_noise_simulations=10, seed=seed):
            if e.metric == "ece" and not e.ci_low <= e.value <= e.ci_high:
                ece_outside += 1
                assert "below its bootstrap percentile interval" in e.note and "ece_noise_floor" in e.note
            elif e.metric != "ece":
                assert e.ci_low <= e.value <= e.ci_high, e
    assert ece_outside < 10


def test_calibration_slope_is_one_and_intercept_zero_for_calibrated_predictions_and_slope_below_one_when_overconfident():
    label, probability = calibrated_grading(5000, seed=6)
    calibrated = by_metric(grading_validation(label, probability, n_bootstrap=200, n_noise_simulations=10, seed=7))
    slope, intercept = calibrated["calibration_slope"], calibrated["calibration_intercept"]
    assert slope.value == pytest.approx(1.0, abs=0.08) and slope.ci_low < 1.0 < slope.ci_high
    assert intercept.value == pytest.approx(0.0, abs=0.08) and intercept.ci_low < 0.0 < intercept.ci_high

    label, overconfident = calibrated_grading(5000, seed=6, logit_scale=2.0)
    slope = by_metric(grading_validation(label, overconfident, n_bootstrap=200, n_noise_simulations=10, seed=7))[
        "calibration_slope"
    ]
    assert slope.value == pytest.approx(0.5, abs=0.05) and slope.ci_high < 1.0

    # Predicted risk too low everywhere (logit shifted by -1): calibration-in-the-large is about +1.
    underestimated = expit(logit(probability) - 1.0)
    intercept = by_metric(grading_validation(label, underestimated, n_bootstrap=200, n_noise_simulations=10, seed=7))[
        "calibration_intercept"
    ]
    assert intercept.value == pytest.approx(1.0, abs=0.1) and intercept.ci_low > 0.0


def test_ece_noise_floor_falls_with_n_and_bounds_the_ece_of_a_calibrated_model():
    floors = []
    for n in (50, 500, 5000):
        label, probability = calibrated_grading(n, seed=8)
        floors.append(by_metric(grading_validation(label, probability, n_bootstrap=0, seed=9))["ece_noise_floor"])
    assert floors[0].value > floors[1].value > floors[2].value
    # A perfectly calibrated model's ECE is about sqrt(1/n)-sized noise: well above 0 at n = 50.
    assert floors[0].value > 0.05 and floors[2].value < 0.02
    assert all(f.ci_low < f.value < f.ci_high and "not a bootstrap interval" in f.note for f in floors)

    inside = 0
    for seed in range(40):
        label, probability = calibrated_grading(200, seed=100 + seed)
        estimates = by_metric(grading_validation(label, probability, n_bootstrap=0, n_noise_simulations=400, seed=seed))
        inside += estimates["ece"].value <= estimates["ece_noise_floor"].ci_high
    assert inside >= 34  # ~97.5% expected; 34/40 leaves room for Monte-Carlo error


def test_fewer_than_ten_patients_give_none_with_a_note():
    estimates = grading_validation(np.array([0, 1, 1, 0, 1]), np.array([0.2, 0.8, 0.6, 0.4, 0.9]))
    assert [e.metric for e in estimates] == list(GRADING_METRICS)
    assert all(e.value is None and e.ci_low is None and "only 5 patients" in e.note for e in estimates)


def test_one_class_leaves_auc_and_recalibration_undefined_but_accuracy_brier_ece_defined():
    rng = np.random.default_rng(10)
    probability = rng.uniform(0.05, 0.6, 40)
    estimates = by_metric(grading_validation(np.zeros(40, dtype=int), probability, n_bootstrap=100))
    for metric in ("roc_auc", "calibration_slope", "calibration_intercept"):
        assert estimates[metric].value is None and "all 40 patients are LGG" in estimates[metric].note
    assert estimates["accuracy"].value == pytest.approx(accuracy_score(np.zeros(40), probability >= 0.5))
    assert estimates["brier"].value == pytest.approx(brier_score_loss(np.zeros(40), probability, labels=[0, 1]))
    assert estimates["ece"].value is not None and estimates["ece_noise_floor"].value is not None


def test_resamples_with_one_class_are_skipped_and_counted_in_the_note():
    label = np.zeros(30, dtype=int)
    label[:2] = 1  # P(a resample has no GBM) = (28/30)^30 ~ 13%
    probability = np.linspace(0.05, 0.95, 30)[::-1]
    auc = by_metric(grading_validation(label, probability, n_bootstrap=1000, seed=11))["roc_auc"]
    assert auc.value == pytest.approx(roc_auc_score(label, probability))
    assert "of 1000 bootstrap resamples" in auc.note and "one class only" in auc.note


def test_perfect_separation_gives_no_recalibration_slope_instead_of_a_huge_number():
    label = np.array([0] * 20 + [1] * 20)
    probability = np.r_[np.linspace(0.01, 0.4, 20), np.linspace(0.6, 0.99, 20)]
    estimates = by_metric(grading_validation(label, probability, n_bootstrap=50))
    assert estimates["roc_auc"].value == 1.0
    assert estimates["calibration_slope"].value is None and "separate" in estimates["calibration_slope"].note


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="probabilities"):
        grading_validation(np.zeros(20, int), np.full(20, 1.2))
    with pytest.raises(ValueError, match="0 \\(LGG\\) or 1 \\(GBM\\)"):
        grading_validation(np.full(20, 2), np.full(20, 0.5))
    with pytest.raises(ValueError, match="one length"):
        grading_validation(np.zeros(20, int), np.full(19, 0.5))


def test_all_grading_metrics_with_1000_resamples_on_500_patients_take_under_three_seconds():
    label, probability = calibrated_grading(500, seed=12)
    grading_validation(label, probability, n_bootstrap=50)  # warm-up (imports, caches)
    start = time.perf_counter()
    grading_validation(label, probability, n_bootstrap=1000, seed=13)
    assert time.perf_counter() - start < 3.0


# ---------------------------------------------------------------------------------------------------
# WHO grade


def test_who_grade_micro_auc_equals_pooled_one_vs_rest_auc_and_resamples_keep_patients_whole():
    rng = np.random.default_rng(14)
    n = 300
    logits = rng.normal(size=(n, 3)) * 1.5
    probability = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    label_index = np.array([rng.choice(3, p=row) for row in probability])
    one_hot = np.eye(3)[label_index]
    (estimate,) = who_grade_validation(label_index, probability, n_bootstrap=400, seed=15)
    assert estimate.metric == "roc_auc_micro" and estimate.n == n
    assert estimate.value == pytest.approx(roc_auc_score(one_hot.ravel(), probability.ravel()), abs=1e-12)
    assert estimate.value == pytest.approx(roc_auc_score(one_hot, probability, average="micro"), abs=1e-12)
    assert estimate.ci_low < estimate.value < estimate.ci_high

    rows = np.random.default_rng(1).integers(0, n, size=(10, n))
    replicates = _auc_rows(probability[rows].reshape(10, -1), one_hot[rows].reshape(10, -1) == 1)
    for b, r in enumerate(rows):
        assert replicates[b] == pytest.approx(roc_auc_score(one_hot[r].ravel(), probability[r].ravel()), abs=1e-12)


def test_who_grade_with_a_missing_grade_or_few_patients_is_noted_not_raised():
    probability = np.tile([0.2, 0.3, 0.5], (20, 1)) + np.linspace(0, 0.1, 20)[:, None] * [1, -1, 0]
    (estimate,) = who_grade_validation(np.array([0, 2] * 10), probability, n_bootstrap=50)
    assert estimate.value is not None and "only 2 of 3 grades" in estimate.note
    (tiny,) = who_grade_validation(np.array([0, 1, 2]), probability[:3])
    assert tiny.value is None and "only 3 patients" in tiny.note


# ---------------------------------------------------------------------------------------------------
# Survival


def exponential_cohort(n: int, seed: int, censor_max_days: float) -> tuple[np.ndarray, ...]:
    """Days, deaths, risk score (log hazard) and the true S at 12/24/60 months."""
    rng = np.random.default_rng(seed)
    log_hazard = 0.8 * rng.normal(size=n)
    hazard_per_day = np.exp(log_hazard) / 900
    death_day = rng.exponential(1 / hazard_per_day)
    censor_day = rng.uniform(100, censor_max_days, n)
    days = np.minimum(death_day, censor_day).round() + 1
    survival = np.exp(-hazard_per_day[:, None] * HORIZON_DAYS[None, :])
    return days, death_day <= censor_day, np.round(log_hazard, 2), survival


def test_survival_point_estimates_equal_sksurv_on_the_same_rows():
    train_days, train_death, _, _ = exponential_cohort(800, seed=20, censor_max_days=4000)
    days, death, risk, survival = exponential_cohort(300, seed=21, censor_max_days=3000)
    assert days.max() < train_days.max() - 1  # no administrative censoring: sksurv sees the same rows
    estimates = by_metric(survival_validation(train_days, train_death, days, death, risk, survival, n_bootstrap=200))
    train, test = Surv.from_arrays(train_death, train_days), Surv.from_arrays(death, days)

    assert list(estimates) == ["harrell_c", "uno_c", "td_auc_12m", "td_auc_24m", "td_auc_60m", "ibs"]
    assert estimates["harrell_c"].value == pytest.approx(concordance_index_censored(death, days, risk)[0], abs=1e-12)
    assert estimates["uno_c"].value == pytest.approx(
        concordance_index_ipcw(train, test, risk, tau=60 * DAYS_PER_MONTH)[0], abs=1e-12
    )
    for months, days_at in zip((12, 24, 60), HORIZON_DAYS, strict=True):
        expected = cumulative_dynamic_auc(train, test, risk, [days_at])[0][0]
        assert estimates[f"td_auc_{months}m"].value == pytest.approx(expected, abs=1e-12)
        assert estimates[f"td_auc_{months}m"].n_events == int((death & (days <= days_at)).sum())
    assert estimates["ibs"].value == pytest.approx(
        integrated_brier_score(train, test, survival, HORIZON_DAYS), abs=1e-12
    )
    assert "12-60 months" in estimates["ibs"].note
    for e in estimates.values():
        assert e.n == 300 and e.ci_low <= e.value <= e.ci_high, e
    assert estimates["harrell_c"].n_events == int(death.sum())


def test_survival_bootstrap_replicates_equal_sksurv_on_the_resampled_rows():
    """The vectorised pair sums over resample counts are the sksurv estimators on the resampled
    patients, with repeated patients and tied times and risks."""
    train_days, train_death, _, _ = exponential_cohort(600, seed=22, censor_max_days=4000)
    days, death, risk, survival = exponential_cohort(200, seed=23, censor_max_days=3000)
    train = Surv.from_arrays(train_death, train_days)
    censoring = CensoringDistributionEstimator().fit(train)
    plan = _SurvivalPlan(tau_days=60 * DAYS_PER_MONTH, inside=(0, 1, 2))
    full = _TestCohort(days, death, days, death, censoring.predict_proba(days), risk, survival)
    rows = np.random.default_rng(2).integers(0, days.size, size=(15, days.size))
    replicates = _survival_replicates(
        _resample_counts(rows, days.size), full, censoring.predict_proba(HORIZON_DAYS), HORIZON_DAYS, plan
    )
    compared = 0
    for b, r in enumerate(rows):
        if days[r].max() <= HORIZON_DAYS[-1]:
            continue  # sksurv refuses a horizon past the resample's follow-up
        resampled = _TestCohort(
            days[r], death[r], days[r], death[r], censoring.predict_proba(days[r]), risk[r], survival[r]
        )
        for key, value in _sksurv_point(train, resampled, HORIZON_DAYS, plan).items():
            assert replicates[key][b] == pytest.approx(value, abs=1e-12), key
        compared += 1
    assert compared >= 10


def test_survival_intervals_shrink_with_more_patients():
    train_days, train_death, _, _ = exponential_cohort(1000, seed=24, censor_max_days=4000)
    widths = []
    for n, seed in ((80, 25), (1000, 26)):
        days, death, risk, survival = exponential_cohort(n, seed=seed, censor_max_days=3000)
        estimates = survival_validation(train_days, train_death, days, death, risk, survival, n_bootstrap=300)
        widths.append({e.metric: e.ci_high - e.ci_low for e in estimates})
    assert all(widths[1][m] < widths[0][m] for m in widths[0])


def test_horizons_beyond_the_follow_up_are_skipped_with_a_reason():
    train_days, train_death, _, _ = exponential_cohort(600, seed=27, censor_max_days=4000)
    days, death, risk, survival = exponential_cohort(120, seed=28, censor_max_days=4000)
    short = days > 900  # a release with 900 days of follow-up: everyone still alive then is censored
    days, death = np.where(short, 900.0, days), death & ~short
    estimates = by_metric(survival_validation(train_days, train_death, days, death, risk, survival, n_bootstrap=100))
    assert estimates["td_auc_60m"].value is None
    assert "60 months (1826 days) is beyond the follow-up (longest usable: 900 days)" in estimates["td_auc_60m"].note
    assert estimates["td_auc_24m"].value is not None
    assert estimates["ibs"].value is not None and "12-24 months" in estimates["ibs"].note
    assert "60m outside the follow-up" in estimates["ibs"].note
    assert estimates["uno_c"].note == "truncated at 899 days"

    only_12 = by_metric(
        survival_validation(
            train_days, train_death, np.minimum(days, 500.0), death & (days <= 500), risk, survival, n_bootstrap=50
        )
    )
    assert only_12["ibs"].value is None and "needs two horizons" in only_12["ibs"].note


def test_test_follow_up_longer_than_the_training_cohort_is_censored_at_its_end_not_an_error():
    train_days, train_death, _, _ = exponential_cohort(600, seed=29, censor_max_days=1200)
    days, death, risk, survival = exponential_cohort(200, seed=30, censor_max_days=4000)
    estimates = by_metric(survival_validation(train_days, train_death, days, death, risk, survival, n_bootstrap=100))
    assert estimates["harrell_c"].value == pytest.approx(concordance_index_censored(death, days, risk)[0])
    assert estimates["uno_c"].value is not None and estimates["td_auc_12m"].value is not None
    assert estimates["td_auc_60m"].value is None and "training cohort's follow-up" in estimates["td_auc_60m"].note


def test_survival_without_deaths_or_with_few_patients_gives_none_with_a_note():
    train_days, train_death, _, _ = exponential_cohort(400, seed=31, censor_max_days=4000)
    days, _, risk, survival = exponential_cohort(50, seed=32, censor_max_days=3000)
    estimates = by_metric(
        survival_validation(train_days, train_death, days, np.zeros(50, bool), risk, survival, n_bootstrap=50)
    )
    assert estimates["harrell_c"].value is None and "no comparable pair" in estimates["harrell_c"].note
    assert estimates["uno_c"].value is None
    assert estimates["td_auc_12m"].value is None and "no death" in estimates["td_auc_12m"].note
    assert estimates["harrell_c"].n_events == 0

    tiny = survival_validation(train_days, train_death, days[:6], np.ones(6, bool), risk[:6], survival[:6])
    assert all(e.value is None and "only 6 patients" in e.note for e in tiny)


def test_survival_with_1000_resamples_on_500_patients_is_fast():
    train_days, train_death, _, _ = exponential_cohort(1000, seed=33, censor_max_days=4000)
    days, death, risk, survival = exponential_cohort(500, seed=34, censor_max_days=3000)
    start = time.perf_counter()
    survival_validation(train_days, train_death, days, death, risk, survival, n_bootstrap=1000)
    assert time.perf_counter() - start < 3.0


# ---------------------------------------------------------------------------------------------------
# Table


def test_validation_table_has_one_row_per_metric_with_the_context_columns():
    label, probability = calibrated_grading(200, seed=35)
    context = {"task": "gbm_vs_lgg", "model_version": "grading-abc123", "release": "45.0", "cohort": "new_patients"}
    table = validation_table(grading_validation(label, probability, n_bootstrap=100), **context)
    assert table.columns == [*context, "metric", "value", "ci_low", "ci_high", "n", "n_events", "note"]
    assert table["metric"].to_list() == list(GRADING_METRICS)
    assert table.schema["value"] == pl.Float64 and table.schema["n_events"] == pl.Int64
    assert table.filter(pl.col("release") != "45.0").is_empty()

    survival_rows = validation_table(
        [MetricEstimate("harrell_c", None, None, None, 4, 1, "too few")], **{**context, "task": "survival"}
    )
    stacked = pl.concat([table, survival_rows])
    assert stacked.height == len(GRADING_METRICS) + 1 and stacked["value"].null_count() == 1
    assert validation_table([], task="x").columns[0] == "task"
    with pytest.raises(ValueError, match="overwrite"):
        validation_table([], metric="x")
