"""Scores: one row per (case, release, model version), readable explanations, artifact round trip."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from _model_cohort import synthetic_cohort

from contracts.features import FEATURE_SETS
from contracts.schemas import GRADING_SCORES_SCHEMA, SURVIVAL_SCORES_SCHEMA
from models.explain import describe_feature_value, explain_top_contributions, global_importance
from models.pipeline import load_model, train_task
from models.registry import read_model_artifacts, write_model_artifacts
from models.scoring import score_grading, score_survival
from transforms.features import build_model_matrix

SCORED_AT = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def trained():
    model_matrix = build_model_matrix(*synthetic_cohort(200, seed=9))
    kwargs = {"release": "45.0", "code_version": "test", "n_splits": 2, "n_repeats": 1}
    return model_matrix, {
        task: train_task(model_matrix, task, survival_baselines=False, **kwargs)
        for task in ("grading_gbm_vs_lgg", "grading_who_grade", "survival_risk")
    }


def test_grading_scores_are_unique_per_case_release_model_and_follow_the_schema(trained):
    model_matrix, models = trained
    gbm, grade = models["grading_gbm_vs_lgg"], models["grading_who_grade"]
    scores = score_grading(
        model_matrix.matrix,
        gbm.model,
        gbm.model_version,
        release="45.0",
        scored_at=SCORED_AT,
        grade_model=grade.model,
        grade_model_version=grade.model_version,
    )
    assert scores.schema == pl.Schema(GRADING_SCORES_SCHEMA)
    assert scores.height == model_matrix.matrix.height
    assert not scores.select(pl.struct("case_id", "release", "model_version").is_duplicated().any()).item()
    assert ((scores["grade_probability_gbm"] >= 0.5) == (scores["predicted_class"] == "GBM")).all()
    grade_sum = scores["grade_probability_2"] + scores["grade_probability_3"] + scores["grade_probability_4"]
    np.testing.assert_allclose(grade_sum.to_numpy(), 1.0, rtol=1e-9)
    assert scores["explanation"].str.contains("GBM probability").all()
    assert scores["grade_explanation"].str.contains("grade").all()
    # scoring history: the same cases under another model version stack without key collisions
    history = pl.concat([scores, scores.with_columns(pl.lit("other-version").alias("model_version"))])
    assert not history.select(pl.struct("case_id", "release", "model_version").is_duplicated().any()).item()


def test_survival_scores_give_risk_group_and_decreasing_survival_probabilities(trained):
    model_matrix, models = trained
    survival = models["survival_risk"]
    scores = score_survival(
        model_matrix.matrix, survival.model, survival.model_version, release="45.0", scored_at=SCORED_AT
    )
    assert scores.schema == pl.Schema(SURVIVAL_SCORES_SCHEMA)
    assert scores["case_id"].n_unique() == scores.height == model_matrix.matrix.height
    assert set(scores["risk_group"]) == {"low", "intermediate", "high"}
    assert (scores["survival_probability_12m"] >= scores["survival_probability_24m"]).all()
    assert (scores["survival_probability_24m"] >= scores["survival_probability_60m"]).all()
    # IDH status drives the synthetic hazard: mutant patients are mostly low risk and say so
    joined = scores.join(model_matrix.matrix.select("case_id", "idh_mutant"), on="case_id")
    mutant = joined.filter(pl.col("idh_mutant") == 1.0)
    assert (mutant["risk_group"] == "low").mean() > 0.5
    # (WHO grade, correlated with IDH, shares the credit; IDH must never be said to raise risk)
    assert mutant["explanation"].str.contains("IDH mutant lowers risk").mean() > 0.5
    assert not joined["explanation"].str.contains("IDH mutant raises risk").any()


def test_scoring_refuses_mixed_releases_and_duplicate_cases(trained):
    model_matrix, models = trained
    survival = models["survival_risk"]
    mixed = pl.concat([model_matrix.matrix, model_matrix.matrix.head(2).with_columns(pl.lit("46.0").alias("release"))])
    with pytest.raises(ValueError, match="46.0"):
        score_survival(mixed, survival.model, survival.model_version, release="45.0", scored_at=SCORED_AT)
    doubled = pl.concat([model_matrix.matrix, model_matrix.matrix.head(1)])
    with pytest.raises(ValueError, match="case-00000"):
        score_survival(doubled, survival.model, survival.model_version, release="45.0", scored_at=SCORED_AT)


def test_models_reloaded_from_artifacts_score_identically(trained, tmp_path):
    model_matrix, models = trained
    for task, trained_model in models.items():
        write_model_artifacts(
            tmp_path,
            trained_model.model_version,
            trained_model.model.booster.model_to_string(),
            trained_model.artifact_metadata(),
        )
        text, metadata = read_model_artifacts(tmp_path, trained_model.model_version)
        reloaded = load_model(task, text, metadata)
        features = model_matrix.matrix.select(FEATURE_SETS[task]).to_numpy()
        if task == "survival_risk":
            np.testing.assert_allclose(
                reloaded.survival_probability(features, [365.0]),
                trained_model.model.survival_probability(features, [365.0]),
            )
            assert reloaded.risk_cut_points == trained_model.model.risk_cut_points
        else:
            np.testing.assert_allclose(reloaded.predict_proba(features), trained_model.model.predict_proba(features))
        assert metadata["cv_metrics"] == trained_model.entry.cv_metrics


def test_registry_entry_carries_cv_metrics_with_spread_and_training_rows(trained):
    model_matrix, models = trained
    entry = models["survival_risk"].entry
    assert entry.model_version.startswith("survival_risk-45.0-")
    assert {"harrell_c", "uno_c", "integrated_brier", "auc_12m"} <= set(entry.cv_metrics)
    assert entry.cv_metrics["harrell_c"]["std"] >= 0 and entry.cv_metrics["harrell_c"]["folds"] == 2
    assert entry.training_rows == model_matrix.matrix.height
    assert entry.feature_set_version == model_matrix.feature_set_version


def test_feature_values_read_as_clinical_phrases():
    assert describe_feature_value("idh_mutant", 1.0) == "IDH mutant"
    assert describe_feature_value("codeletion_1p19q", 0.0) == "1p/19q intact"
    assert describe_feature_value("age_at_diagnosis_years", 67.4) == "age 67"
    assert describe_feature_value("mgmt_stp27_probability", float("nan")) == "MGMT methylation not measured"
    assert describe_feature_value("mutation_egfr", 1.0) == "EGFR mutant"
    for features in FEATURE_SETS.values():
        for feature in features:
            describe_feature_value(feature, 1.0)  # every feature has a phrase
    with pytest.raises(KeyError, match="no phrase"):
        describe_feature_value("project_id", 1.0)


def test_explanations_name_three_contributions_and_global_importance_ranks_the_signal(trained):
    model_matrix, models = trained
    survival = models["survival_risk"]
    features = model_matrix.matrix.select(survival.model.feature_names).to_numpy()
    sentences = explain_top_contributions(
        survival.model.booster, features[:20], survival.model.feature_names, task="survival_risk"
    )
    assert all(1 <= s.count(";") + 1 <= 3 for s in sentences)
    assert all(("raises risk" in part or "lowers risk" in part) for s in sentences for part in s.split("; "))
    importance = global_importance(survival.model.booster, survival.model.feature_names)
    assert set(importance["feature"].head(4)) & {"idh_mutant", "age_at_diagnosis_years", "who_grade"}
    assert importance["gain_share"].sum() == pytest.approx(1.0)
