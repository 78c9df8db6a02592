"""Rescoring copies the model outputs of patients whose features and model did not change, and gives exactly
what scoring from scratch gives (release, scored_at, in_training_set and conformal sets recomputed)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from _model_cohort import synthetic_cohort

from models.conformal import ConformalCalibrator
from models.pipeline import train_task
from models.scoring import (
    GBM_OUTPUTS,
    GRADE_OUTPUTS,
    SCORED_FROM_KEY,
    SURVIVAL_OUTPUTS,
    EarlierScores,
    ScoringInputs,
    rescore_grading,
    rescore_survival,
    rows_scored_from,
    score_grading,
    score_group,
    score_survival,
    scoring_code_version,
    scoring_record,
    scoring_record_from_metadata,
    scoring_record_metadata,
)
from transforms.features import build_model_matrix

FIRST_AT = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
LATER_AT = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def trained():
    model_matrix = build_model_matrix(*synthetic_cohort(240, seed=4))
    kwargs = {"release": "45.0", "code_version": "test", "n_splits": 2, "n_repeats": 1}
    return model_matrix.matrix, {
        task: train_task(model_matrix, task, survival_baselines=False, **kwargs)
        for task in ("grading_gbm_vs_lgg", "grading_who_grade", "survival_risk")
    }


def _next_release(matrix: pl.DataFrame) -> tuple[pl.DataFrame, set[str]]:
    """46.0: 10 patients with changed features (one to missing), 10 with only a changed outcome, 5 removed,
    5 new (feature values copied from existing patients). Returns it and the cases whose rows must be reused."""
    ids = matrix["case_id"].to_list()
    changed, outcome_only, removed = ids[:10], ids[10:20], ids[20:25]
    rows = matrix.filter(~pl.col("case_id").is_in(removed)).with_columns(
        pl.lit("46.0").alias("release"),
        pl.when(pl.col("case_id").is_in(changed[:9]))
        .then(pl.col("age_at_diagnosis_years") + 1.0)
        .otherwise(pl.col("age_at_diagnosis_years"))
        .alias("age_at_diagnosis_years"),
        pl.when(pl.col("case_id") == changed[9]).then(None).otherwise(pl.col("idh_mutant")).alias("idh_mutant"),
        pl.when(pl.col("case_id").is_in(outcome_only))
        .then(pl.col("overall_survival_days") + 30)
        .otherwise(pl.col("overall_survival_days"))
        .alias("overall_survival_days"),
    )
    new = matrix.slice(100, 5).with_columns(
        pl.lit("46.0").alias("release"),
        pl.Series("case_id", [f"case-new-{i}" for i in range(5)]),
    )
    unchanged = set(ids) - set(changed) - set(removed)
    return pl.concat([rows, new.select(rows.columns)]), unchanged


def _assert_identical(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert actual.schema == expected.schema
    assert actual.equals(expected, null_equal=True)
    for name, dtype in expected.schema.items():
        if dtype == pl.Float64:  # bit for bit, not just ==
            assert np.array_equal(actual[name].to_numpy().view(np.uint64), expected[name].to_numpy().view(np.uint64))


def _grading(models, matrix, release, scored_at, *, earlier=(), conformal=None, training=None, grade_version=None):
    gbm, grade = models["grading_gbm_vs_lgg"], models["grading_who_grade"]
    return rescore_grading(
        matrix,
        gbm.model,
        gbm.model_version,
        release=release,
        scored_at=scored_at,
        grade_model=grade.model,
        grade_model_version=grade_version or grade.model_version,
        training_case_ids=training,
        grade_training_case_ids=training,
        conformal=conformal,
        grade_conformal=conformal
        and ConformalCalibrator(coverage=0.8, threshold=0.6, n_calibration=50, class_names=["2", "3", "4"]),
        earlier=earlier,
    )


def test_grading_rescore_of_the_next_release_reuses_unchanged_patients_and_equals_a_full_scoring(trained):
    matrix, models = trained
    first = _grading(models, matrix, "45.0", FIRST_AT).scores
    following, unchanged = _next_release(matrix)
    # The next scoring has calibrators and training rows the first did not: those columns are recomputed.
    conformal = ConformalCalibrator(coverage=0.9, threshold=0.55, n_calibration=100, class_names=["LGG", "GBM"])
    training = matrix["case_id"].head(150).to_list()
    rescored = _grading(
        models,
        following,
        "46.0",
        LATER_AT,
        earlier=[EarlierScores(first, matrix)],
        conformal=conformal,
        training=training,
    )
    fresh = _grading(models, following, "46.0", LATER_AT, conformal=conformal, training=training)
    _assert_identical(rescored.scores, fresh.scores)
    assert rescored.reused == {"model_version": len(unchanged), "grade_model_version": len(unchanged)}
    assert rescored.computed == {
        "model_version": following.height - len(unchanged),
        "grade_model_version": following.height - len(unchanged),
    }
    assert fresh.reused == {"model_version": 0, "grade_model_version": 0}
    assert rescored.scores["release"].unique().to_list() == ["46.0"]
    assert rescored.scores["scored_at"].unique().to_list() == [LATER_AT]
    assert rescored.scores["prediction_set"].null_count() == 0 and first["prediction_set"].null_count() == first.height


def test_only_unchanged_patients_are_copied(trained):
    matrix, models = trained
    first = _grading(models, matrix, "45.0", FIRST_AT).scores
    marked = first.with_columns(pl.lit("copied").alias("explanation"), pl.lit("copied").alias("grade_explanation"))
    following, unchanged = _next_release(matrix)
    rescored = _grading(models, following, "46.0", LATER_AT, earlier=[EarlierScores(marked, matrix)]).scores
    copied = set(rescored.filter(pl.col("explanation") == "copied")["case_id"])
    assert copied == unchanged == set(rescored.filter(pl.col("grade_explanation") == "copied")["case_id"])
    # a new patient whose features equal an existing patient's is still scored (reuse is per patient)
    assert not rescored.filter(pl.col("case_id").str.starts_with("case-new"))["explanation"].eq("copied").any()


def test_a_rerun_of_the_same_release_reuses_every_row(trained):
    matrix, models = trained
    first = _grading(models, matrix, "45.0", FIRST_AT).scores
    again = _grading(models, matrix, "45.0", LATER_AT, earlier=[EarlierScores(first, matrix)])
    assert again.computed == {"model_version": 0, "grade_model_version": 0}
    restamped = first.with_columns(pl.lit(LATER_AT).cast(first["scored_at"].dtype).alias("scored_at"))
    _assert_identical(again.scores, restamped)


def test_outputs_of_another_model_version_are_not_reused(trained):
    matrix, models = trained
    first = _grading(models, matrix, "45.0", FIRST_AT).scores
    # A promoted WHO grade model: the GBM-vs-LGG outputs are still this model's, the grade outputs are not.
    earlier = [EarlierScores(first.with_columns(pl.lit("grade-old").alias("grade_model_version")), matrix)]
    rescored = _grading(models, matrix, "45.0", LATER_AT, earlier=earlier)
    assert rescored.reused == {"model_version": matrix.height, "grade_model_version": 0}
    _assert_identical(rescored.scores, _grading(models, matrix, "45.0", LATER_AT).scores)
    other = [EarlierScores(first.with_columns(pl.lit("gbm-old").alias("model_version")), matrix)]
    assert _grading(models, matrix, "45.0", LATER_AT, earlier=other).reused["model_version"] == 0


def test_the_first_source_with_a_patient_wins_and_later_ones_fill_in(trained):
    matrix, models = trained
    first = _grading(models, matrix, "45.0", FIRST_AT).scores
    half = first.head(100).with_columns(pl.lit("from-this-release").alias("explanation"))
    rest = first.with_columns(pl.lit("from-previous").alias("explanation"))
    rescored = _grading(
        models, matrix, "45.0", LATER_AT, earlier=[EarlierScores(half, matrix), EarlierScores(rest, matrix)]
    ).scores
    counts = dict(rescored.group_by("explanation").len().iter_rows())
    assert counts == {"from-this-release": 100, "from-previous": matrix.height - 100}


def test_survival_rescore_equals_a_full_scoring(trained):
    matrix, models = trained
    survival = models["survival_risk"]
    first = score_survival(matrix, survival.model, survival.model_version, release="45.0", scored_at=FIRST_AT)
    following, unchanged = _next_release(matrix)
    training = matrix["case_id"].tail(100).to_list()
    rescored = rescore_survival(
        following,
        survival.model,
        survival.model_version,
        release="46.0",
        scored_at=LATER_AT,
        training_case_ids=training,
        earlier=[EarlierScores(first, matrix)],
    )
    fresh = score_survival(
        following,
        survival.model,
        survival.model_version,
        release="46.0",
        scored_at=LATER_AT,
        training_case_ids=training,
    )
    _assert_identical(rescored.scores, fresh)
    assert rescored.reused == {"model_version": len(unchanged)}
    assert set(SURVIVAL_OUTPUTS) <= set(fresh.columns)


def test_score_grading_is_rescore_without_earlier_rows(trained):
    matrix, models = trained
    gbm, grade = models["grading_gbm_vs_lgg"], models["grading_who_grade"]
    plain = score_grading(
        matrix,
        gbm.model,
        gbm.model_version,
        release="45.0",
        scored_at=FIRST_AT,
        grade_model=grade.model,
        grade_model_version=grade.model_version,
    )
    _assert_identical(plain, _grading(models, matrix, "45.0", FIRST_AT).scores)
    assert set(GBM_OUTPUTS) | set(GRADE_OUTPUTS) <= set(plain.columns)


def test_records_say_which_rows_came_from_which_matrix_and_code(trained):
    matrix, models = trained
    first = _grading(models, matrix, "45.0", FIRST_AT).scores
    older = first.with_columns(
        pl.lit("gbm-old").alias("model_version"), pl.lit(None, pl.String).alias("grade_model_version")
    )
    now = ScoringInputs("matrix-now", scoring_code_version())
    before = ScoringInputs("matrix-before", now.scoring_code)
    history = pl.concat([older, first])
    # history kept from the earlier partition keeps its record; the rows just scored get the current inputs
    record = scoring_record(history, first, now, earlier_record={"gbm-old|": before.to_json(), "gone|": {}})
    group = f"{models['grading_gbm_vs_lgg'].model_version}|{models['grading_who_grade'].model_version}"
    assert record == {"gbm-old|": before.to_json(), group: now.to_json()}
    assert set(score_group(history).unique()) == {"gbm-old|", group}
    assert rows_scored_from(history, record, now).equals(first)
    assert rows_scored_from(history, record, before).equals(older)
    assert rows_scored_from(history, record, ScoringInputs("matrix-now", "other code")).is_empty()
    assert rows_scored_from(history, None, now).is_empty()
    assert scoring_record(history, first, now) == {group: now.to_json()}  # unknown history: no record
    assert score_group(
        score_survival(matrix, models["survival_risk"].model, "surv-1", release="45.0", scored_at=FIRST_AT)
    ).unique().to_list() == ["surv-1"]


def test_a_record_survives_the_footer_and_an_unreadable_one_means_no_record():
    record = {"gbm-1|grade-1": ScoringInputs("matrix", "code").to_json(), "gbm-0|": ScoringInputs("m0", "c").to_json()}
    metadata = scoring_record_metadata(record)
    assert set(metadata) == {SCORED_FROM_KEY}
    assert scoring_record_from_metadata({**metadata, "glioma.content_hash": "abc"}) == record
    assert scoring_record_from_metadata(scoring_record_metadata({})) is None  # an empty record reuses nothing
    for stored in ("", "not json", "[1, 2]", '{"g": "flat"}', '{"g": {"scoring_code": 1}}'):
        assert scoring_record_from_metadata({SCORED_FROM_KEY: stored}) is None
    assert scoring_record_from_metadata({}) is None


@pytest.mark.parametrize("threshold", [0.05, 0.5, 0.8, float("inf")])
def test_conformal_set_strings_equal_joining_each_patients_prediction_set(threshold):
    from models.scoring import _joined_sets

    rng = np.random.default_rng(3)
    probability = rng.dirichlet([1.0, 1.0, 1.0], size=2000)
    calibrator = ConformalCalibrator(coverage=0.9, threshold=threshold, n_calibration=99, class_names=("2", "3", "4"))
    expected = ["|".join(classes) for classes in calibrator.prediction_sets(probability)]
    assert _joined_sets(calibrator, probability).tolist() == expected
    assert "" in expected or threshold > 0.05  # the empty set is written as ""
