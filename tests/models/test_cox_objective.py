"""The Cox partial-likelihood objective: derivatives, metric, Breslow baseline, and LightGBM learning."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from sksurv.metrics import concordance_index_censored
from sksurv.nonparametric import nelson_aalen_estimator

from models.cox import (
    cox_gradient_hessian,
    cox_negative_log_partial_likelihood,
    cox_objective,
    cox_partial_likelihood_metric,
    fit_breslow_baseline,
    survival_dataset,
)


def _cohort_with_ties(n: int = 60, seed: int = 3):
    rng = np.random.default_rng(seed)
    days = rng.integers(1, 15, n).astype(float)  # few distinct times: many ties
    death = rng.random(n) < 0.6
    log_hazard = rng.normal(0, 1.5, n)
    return log_hazard, days, death


def _total_loss(log_hazard, days, death) -> float:
    return cox_negative_log_partial_likelihood(log_hazard, days, death) * death.sum()


def test_cox_gradient_matches_finite_differences_of_breslow_partial_likelihood_with_ties():
    log_hazard, days, death = _cohort_with_ties()
    gradient, _ = cox_gradient_hessian(log_hazard, days, death)
    step = 1e-6
    identity = np.eye(log_hazard.size)
    numeric = np.array(
        [
            (_total_loss(log_hazard + step * e, days, death) - _total_loss(log_hazard - step * e, days, death))
            / (2 * step)
            for e in identity
        ]
    )
    np.testing.assert_allclose(gradient, numeric, atol=1e-6)


def test_cox_hessian_diagonal_matches_finite_differences_of_the_gradient():
    log_hazard, days, death = _cohort_with_ties()
    _, hessian = cox_gradient_hessian(log_hazard, days, death)
    step = 1e-6
    numeric = np.array(
        [
            (
                cox_gradient_hessian(log_hazard + step * e, days, death)[0][k]
                - cox_gradient_hessian(log_hazard - step * e, days, death)[0][k]
            )
            / (2 * step)
            for k, e in enumerate(np.eye(log_hazard.size))
        ]
    )
    np.testing.assert_allclose(hessian, numeric, atol=1e-6)
    assert (hessian >= 0).all()


def test_partial_likelihood_equals_direct_breslow_formula():
    log_hazard, days, death = _cohort_with_ties(n=25)
    direct = 0.0
    for i in np.flatnonzero(death):
        at_risk = days >= days[i]
        direct -= log_hazard[i] - np.log(np.exp(log_hazard[at_risk]).sum())
    assert cox_negative_log_partial_likelihood(log_hazard, days, death) == pytest.approx(
        direct / death.sum(), rel=1e-12
    )


def test_partial_likelihood_is_invariant_to_a_constant_shift_and_to_row_order():
    log_hazard, days, death = _cohort_with_ties()
    base = cox_negative_log_partial_likelihood(log_hazard, days, death)
    assert cox_negative_log_partial_likelihood(log_hazard + 500.0, days, death) == pytest.approx(base, rel=1e-10)
    order = np.random.default_rng(1).permutation(days.size)
    assert cox_negative_log_partial_likelihood(log_hazard[order], days[order], death[order]) == pytest.approx(
        base, rel=1e-12
    )


def test_breslow_baseline_with_zero_log_hazard_is_the_nelson_aalen_estimator():
    _, days, death = _cohort_with_ties()
    baseline = fit_breslow_baseline(np.zeros(days.size), days, death)
    times, cumulative_hazard = nelson_aalen_estimator(death, days)
    np.testing.assert_allclose(baseline.cumulative_hazard_at(times), cumulative_hazard, rtol=1e-12)
    assert baseline.cumulative_hazard_at(np.array([0.5]))[0] == 0.0  # before the first event
    survival = baseline.survival_probability(np.array([-1.0, 0.0, 1.0]), np.array([3.0, 8.0, 14.0]))
    assert (np.diff(survival, axis=1) <= 0).all()  # S decreases in time
    assert (np.diff(survival, axis=0) <= 0).all()  # and in risk


def test_lightgbm_with_cox_objective_recovers_a_known_hazard_signal():
    rng = np.random.default_rng(11)
    n = 600
    features = rng.normal(size=(n, 4))
    true_log_hazard = 1.0 * features[:, 0] - 0.7 * features[:, 1]  # columns 2 and 3 are noise
    event_days = rng.exponential(1000 * np.exp(-true_log_hazard))
    censor_days = rng.uniform(200, 3000, n)
    days = np.minimum(event_days, censor_days)
    death = event_days <= censor_days
    train, test = np.arange(400), np.arange(400, n)
    train_set = survival_dataset(features[train], days[train], death[train])
    test_set = survival_dataset(features[test], days[test], death[test], reference=train_set)
    history: dict = {}
    booster = lgb.train(
        {
            "objective": cox_objective,
            "metric": "None",
            "verbosity": -1,
            "num_threads": 1,
            "learning_rate": 0.05,
            "num_leaves": 4,
        },
        train_set,
        num_boost_round=150,
        valid_sets=[test_set],
        feval=cox_partial_likelihood_metric,
        callbacks=[lgb.record_evaluation(history)],
    )
    predicted = booster.predict(features[test], raw_score=True)
    c_model = concordance_index_censored(death[test], days[test], predicted)[0]
    c_truth = concordance_index_censored(death[test], days[test], true_log_hazard[test])[0]
    assert c_model > 0.70 and c_model > c_truth - 0.04
    curve = history["valid_0"]["cox_nll"]
    assert curve[-1] < curve[0]  # held-out partial likelihood improved
    gain = booster.feature_importance("gain")
    assert gain[:2].min() > gain[2:].max()  # the signal columns carry the gain


def test_cox_objective_refuses_a_dataset_without_death_flags():
    dataset = lgb.Dataset(np.zeros((5, 1)), label=np.arange(1.0, 6.0))
    with pytest.raises(ValueError, match="death flags"):
        cox_objective(np.zeros(5), dataset)
