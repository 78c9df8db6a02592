"""Grading and survival models learn a known signal on a synthetic cohort, with honest CV."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from _model_cohort import synthetic_cohort

from models.grading import (
    GBM_VS_LGG,
    WHO_GRADE,
    cross_validate_grading,
    fit_classifier,
    fit_platt,
    fit_temperature,
    grading_data,
)
from models.metrics import expected_calibration_error
from models.survival import SURVIVAL_RISK, cross_validate_survival, fit_survival_model, survival_data
from models.training import MAX_ROUNDS, PARAM_GRID
from transforms.features import build_model_matrix


@pytest.fixture(scope="module")
def model_matrix():
    return build_model_matrix(*synthetic_cohort(300, seed=7))


def _mean(summary: pl.DataFrame, model: str, metric: str) -> float:
    return summary.filter((pl.col("model") == model) & (pl.col("metric") == metric))["mean"].item()


def test_gbm_vs_lgg_model_learns_the_signal_with_calibrated_probabilities(model_matrix):
    data = grading_data(model_matrix.matrix, model_matrix.features(GBM_VS_LGG), GBM_VS_LGG)
    result = cross_validate_grading(data, GBM_VS_LGG, n_splits=3, n_repeats=1, seed=3)
    model = f"lightgbm_{GBM_VS_LGG}"
    assert _mean(result.summary, model, "roc_auc") > 0.95
    assert _mean(result.summary, model, "ece") < 0.08
    assert {"accuracy", "balanced_accuracy", "f1", "brier"} <= set(result.summary["metric"])
    # out-of-fold: every labelled case predicted exactly once in the repeat, never by a model that saw it
    assert sorted(result.out_of_fold["case_id"].to_list()) == sorted(data.case_ids.tolist())
    for fold in result.folds:
        assert not set(data.case_ids[fold.train_index]) & set(data.case_ids[fold.test_index])
    assert all(c["calibration"].startswith('{"method": "platt"') for c in result.chosen)


def test_who_grade_model_reports_micro_and_per_class_auc(model_matrix):
    data = grading_data(model_matrix.matrix, model_matrix.features(WHO_GRADE), WHO_GRADE)
    result = cross_validate_grading(data, WHO_GRADE, n_splits=3, n_repeats=1, seed=3)
    model = f"lightgbm_{WHO_GRADE}"
    assert _mean(result.summary, model, "roc_auc_micro") > 0.9
    assert _mean(result.summary, model, "roc_auc_grade_4") > 0.95
    probability = result.out_of_fold.select(
        "probability_grade_2", "probability_grade_3", "probability_grade_4"
    ).to_numpy()
    np.testing.assert_allclose(probability.sum(axis=1), 1.0, rtol=1e-9)


def test_platt_and_temperature_calibration_recover_known_miscalibration():
    rng = np.random.default_rng(5)
    margin = rng.normal(0, 3, 4000)
    label = (rng.random(margin.size) < 1 / (1 + np.exp(-(0.5 * margin - 0.3)))).astype(int)
    platt = fit_platt(margin, label)
    assert platt["slope"] == pytest.approx(0.5, abs=0.06) and platt["intercept"] == pytest.approx(-0.3, abs=0.12)
    logits = rng.normal(0, 2, (4000, 3))
    true_probability = np.exp(logits / 2.5) / np.exp(logits / 2.5).sum(axis=1, keepdims=True)
    drawn = (rng.random((4000, 1)) > np.cumsum(true_probability, axis=1)).sum(axis=1)
    assert fit_temperature(logits, drawn)["temperature"] == pytest.approx(2.5, rel=0.12)


def test_final_classifier_uses_a_grid_point_and_round_count_chosen_by_inner_cv(model_matrix):
    data = grading_data(model_matrix.matrix, model_matrix.features(GBM_VS_LGG), GBM_VS_LGG)
    model = fit_classifier(data.features, data.label_index, data.feature_names, GBM_VS_LGG)
    assert {"num_leaves": model.params["num_leaves"], "min_data_in_leaf": model.params["min_data_in_leaf"]} in list(
        PARAM_GRID
    )
    assert 1 <= model.num_rounds <= MAX_ROUNDS and model.booster.num_trees() == model.num_rounds
    assert model.calibration["method"] == "platt"
    assert expected_calibration_error(model.predict_proba(data.features), data.label_index) < 0.1


@pytest.mark.slow
def test_survival_model_and_baselines_learn_the_signal_and_risk_groups_separate(model_matrix):
    data = survival_data(model_matrix.matrix, model_matrix.features(SURVIVAL_RISK))
    result = cross_validate_survival(data, n_splits=3, n_repeats=1, seed=4)
    assert set(result.summary["model"]) == {"lightgbm_cox", "sksurv_coxph", "sksurv_rsf", "sksurv_gbsa"}
    assert _mean(result.summary, "lightgbm_cox", "harrell_c") > 0.72
    assert _mean(result.summary, "lightgbm_cox", "uno_c") > 0.7
    assert _mean(result.summary, "lightgbm_cox", "integrated_brier") < 0.2
    for metric in ("auc_12m", "auc_24m", "auc_60m"):
        assert _mean(result.summary, "lightgbm_cox", metric) > 0.75
    assert result.log_rank["p_value"] < 1e-6
    oof = result.out_of_fold
    assert (oof["survival_probability_12m"] >= oof["survival_probability_24m"]).all()
    assert (oof["survival_probability_24m"] >= oof["survival_probability_60m"]).all()
    mean_risk = oof.group_by("risk_group").agg(pl.col("survival_risk_score").mean()).sort("survival_risk_score")
    assert mean_risk["risk_group"].to_list() == ["low", "intermediate", "high"]


def test_risk_cut_points_are_tertiles_of_the_training_risk_scores(model_matrix):
    data = survival_data(model_matrix.matrix, model_matrix.features(SURVIVAL_RISK))
    model = fit_survival_model(data.features, data.overall_survival_days, data.death_observed, data.feature_names)
    groups = model.risk_group(data.features)
    shares = {g: float(np.mean(groups == g)) for g in ("low", "intermediate", "high")}
    assert all(abs(share - 1 / 3) < 0.02 for share in shares.values()), shares


def test_cases_without_a_label_or_endpoint_are_reported_not_silently_dropped(model_matrix):
    matrix = model_matrix.matrix.with_columns(
        pl.when(pl.col("case_id") == "case-00001")
        .then(None)
        .otherwise(pl.col("label_who_grade"))
        .alias("label_who_grade"),
        pl.when(pl.col("case_id") == "case-00002")
        .then(None)
        .otherwise(pl.col("overall_survival_days"))
        .alias("overall_survival_days"),
    )
    assert grading_data(matrix, model_matrix.features(WHO_GRADE), WHO_GRADE).excluded_cases == ["case-00001"]
    assert survival_data(matrix, model_matrix.features(SURVIVAL_RISK)).excluded_cases == ["case-00002"]
