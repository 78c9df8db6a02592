"""Prospective validation of a champion: which patients count (never the ones it trained on), and the
metrics equal an independent scikit-learn / scikit-survival computation on the same rows."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score
from sksurv.metrics import concordance_index_censored

from models.grading import GBM_VS_LGG
from models.prospective import ARRIVED, OUTCOME_CHANGED, prospective_cohorts, prospective_validation
from models.survival import SURVIVAL_RISK


def _matrix(n: int, seed: int = 5) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n).astype(float)
    days = rng.exponential(600, n) + 1
    return pl.DataFrame(
        {
            "release": "46.0",
            "case_id": [f"c{i:04d}" for i in range(n)],
            "label_gbm": label,
            "label_who_grade": np.where(label == 1, 4.0, rng.choice([2.0, 3.0], n)),
            "overall_survival_days": days,
            "death_observed": (rng.random(n) < 0.6).astype(float),
        }
    )


def _training_rows(matrix: pl.DataFrame, cases: int, task: str) -> pl.DataFrame:
    trained = matrix.head(cases)
    if task == SURVIVAL_RISK:
        return trained.select(
            "case_id",
            pl.lit(None, pl.Int64).alias("label_index"),
            "overall_survival_days",
            pl.col("death_observed").cast(pl.Boolean),
        )
    return trained.select(
        "case_id",
        pl.col("label_gbm").cast(pl.Int64).alias("label_index"),
        pl.lit(None, pl.Float64).alias("overall_survival_days"),
        pl.lit(None, pl.Boolean).alias("death_observed"),
    )


def test_cohorts_exclude_training_patients_and_find_changed_outcomes():
    matrix = _matrix(200)
    training = _training_rows(matrix, 140, SURVIVAL_RISK)
    # Five training patients have longer follow-up now; one died since.
    changed_ids = training["case_id"].head(5).to_list()
    matrix = matrix.with_columns(
        pl.when(pl.col("case_id").is_in(changed_ids))
        .then(pl.col("overall_survival_days") + 90)
        .otherwise(pl.col("overall_survival_days"))
        .alias("overall_survival_days")
    )
    cohorts = prospective_cohorts(matrix, training, SURVIVAL_RISK)
    assert set(cohorts[ARRIVED]["case_id"]) == set(matrix["case_id"][140:])
    assert not set(cohorts[ARRIVED]["case_id"]) & set(training["case_id"])
    assert sorted(cohorts[OUTCOME_CHANGED]["case_id"]) == sorted(changed_ids)


def test_grading_metrics_on_new_patients_equal_scikit_learn_on_the_same_rows():
    matrix = _matrix(400)
    rng = np.random.default_rng(1)
    probability = np.clip(matrix["label_gbm"].to_numpy() * 0.3 + rng.random(400) * 0.7, 0.01, 0.99)
    scores = pl.DataFrame(
        {
            "case_id": matrix["case_id"],
            "grade_probability_gbm": probability,
            "prediction_set": np.where(probability > 0.5, "GBM", "LGG|GBM"),
        }
    )
    table = prospective_validation(
        GBM_VS_LGG,
        release="46.0",
        model_version="m1",
        training_release="45.0",
        scores=scores,
        matrix=matrix,
        training_rows=_training_rows(matrix, 250, GBM_VS_LGG),
        cv_metrics={"roc_auc": {"mean": 0.99, "std": 0.001}},
        n_bootstrap=200,
    )
    new = table.filter(pl.col("cohort") == ARRIVED)
    auc = new.filter(pl.col("metric") == "roc_auc").row(0, named=True)
    expected = roc_auc_score(matrix["label_gbm"][250:].to_numpy(), probability[250:])
    assert auc["value"] == pytest.approx(expected, abs=1e-12)
    assert auc["n"] == 150 and auc["ci_low"] <= auc["value"] <= auc["ci_high"]
    # The CV interval is 0.99 ± 0.002: a prospective AUC far below is flagged as decay.
    assert auc["below_cv_interval"] is True
    coverage = new.filter(pl.col("metric") == "conformal_coverage").row(0, named=True)
    truth = np.where(matrix["label_gbm"][250:].to_numpy() == 1, "GBM", "LGG")
    sets = scores["prediction_set"][250:].to_list()
    assert coverage["value"] == pytest.approx(np.mean([t in s.split("|") for t, s in zip(truth, sets, strict=True)]))
    # No training patient's label changed, so the outcome_changed cohort has no estimable metric.
    assert table.filter((pl.col("cohort") == OUTCOME_CHANGED) & pl.col("value").is_not_null()).is_empty()


def test_survival_harrell_c_on_new_patients_equals_scikit_survival():
    matrix = _matrix(300)
    risk = -np.log(matrix["overall_survival_days"].to_numpy()) + np.random.default_rng(2).normal(0, 0.5, 300)
    horizon = {f"survival_probability_{m}m": np.exp(-np.exp(risk) * m / 20) for m in (12, 24, 60)}
    scores = pl.DataFrame({"case_id": matrix["case_id"], "survival_risk_score": risk, **horizon})
    table = prospective_validation(
        SURVIVAL_RISK,
        release="46.0",
        model_version="s1",
        training_release="45.0",
        scores=scores,
        matrix=matrix,
        training_rows=_training_rows(matrix, 200, SURVIVAL_RISK),
        cv_metrics={"harrell_c": {"mean": 0.7, "std": 0.02}},
        n_bootstrap=100,
    )
    c = table.filter((pl.col("cohort") == ARRIVED) & (pl.col("metric") == "harrell_c")).row(0, named=True)
    new = matrix[200:]
    expected = concordance_index_censored(
        new["death_observed"].to_numpy().astype(bool), new["overall_survival_days"].to_numpy(), risk[200:]
    )[0]
    assert c["value"] == pytest.approx(expected, abs=1e-9)
    assert c["n"] == 100 and c["n_events"] == int(new["death_observed"].sum())


@pytest.mark.parametrize("task", [GBM_VS_LGG, SURVIVAL_RISK])
def test_intervals_are_the_same_whatever_order_the_rows_arrive_in(task):
    """Two clean runs of one release give one table: the seeded bootstrap sees the rows in case order, not in the
    order a join or a Parquet read happened to give them."""
    matrix = _matrix(300, seed=9)
    rng = np.random.default_rng(4)
    scores = pl.DataFrame(
        {
            "case_id": matrix["case_id"],
            "grade_probability_gbm": np.clip(matrix["label_gbm"].to_numpy() * 0.4 + rng.random(300) * 0.6, 0.01, 0.99),
            "prediction_set": "LGG|GBM",
            "survival_risk_score": rng.normal(size=300),
            **{f"survival_probability_{m}m": rng.random(300) for m in (12, 24, 60)},
        }
    )

    def validate(matrix: pl.DataFrame, scores: pl.DataFrame) -> pl.DataFrame:
        return prospective_validation(
            task,
            release="46.0",
            model_version="m1",
            training_release="45.0",
            scores=scores,
            matrix=matrix,
            training_rows=_training_rows(matrix.sort("case_id"), 150, task),
            cv_metrics={},
            n_bootstrap=100,
        )

    first = validate(matrix, scores)
    shuffled = validate(
        matrix.sample(fraction=1.0, shuffle=True, seed=1), scores.sample(fraction=1.0, shuffle=True, seed=2)
    )
    assert first.filter(pl.col("ci_low").is_not_null()).height > 0
    assert shuffled.equals(first)
