"""Scoring: one row per case of a release with the model's outputs and a readable explanation.

`scores/grading` and `scores/survival_risk` keep history: (case_id, release, model_version) is the key,
so a frame returned here is unique on it (checked).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import numpy as np
import polars as pl

from models.conformal import ConformalCalibrator, binary_probability_matrix
from models.explain import explain_top_contributions
from models.grading import GRADE_CLASSES, FittedClassifier
from models.metrics import DAYS_PER_MONTH, SURVIVAL_HORIZONS_MONTHS
from models.survival import FittedSurvivalModel

GRADING_SCORES_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "case_id": pl.String(),
    "model_version": pl.String(),  # the GBM-vs-LGG model
    "grade_model_version": pl.String(),  # the WHO grade model (null when none was given)
    "grade_probability_gbm": pl.Float64(),
    "predicted_class": pl.String(),  # GBM / LGG
    **{f"grade_probability_{grade}": pl.Float64() for grade in GRADE_CLASSES},
    "predicted_who_grade": pl.Int8(),
    "explanation": pl.String(),  # why GBM / LGG
    "grade_explanation": pl.String(),  # why the predicted WHO grade
    "prediction_set": pl.String(),  # conformal set of classes, e.g. "GBM" or "GBM|LGG" ("" = empty set)
    "grade_prediction_set": pl.String(),  # conformal set of WHO grades, e.g. "3|4"
    "conformal_coverage": pl.Float64(),  # the coverage the sets are calibrated for (e.g. 0.9)
    "in_training_set": pl.Boolean(),  # the GBM-vs-LGG model was trained on this patient
    "grade_in_training_set": pl.Boolean(),  # the WHO grade model was trained on this patient
    "scored_at": pl.Datetime("us", "UTC"),
}

SURVIVAL_SCORES_SCHEMA: dict[str, pl.DataType] = {
    "release": pl.String(),
    "case_id": pl.String(),
    "model_version": pl.String(),
    "survival_risk_score": pl.Float64(),
    "risk_group": pl.String(),
    **{f"survival_probability_{months}m": pl.Float64() for months in SURVIVAL_HORIZONS_MONTHS},
    "explanation": pl.String(),
    "in_training_set": pl.Boolean(),  # the model was trained on this patient (its score is in-sample)
    "scored_at": pl.Datetime("us", "UTC"),
}

SCORE_KEY: tuple[str, ...] = ("case_id", "release", "model_version")


def _release_rows(matrix: pl.DataFrame, release: str) -> pl.DataFrame:
    other = matrix.filter(pl.col("release") != release)
    if other.height:
        raise ValueError(
            f"scoring release {release}: the matrix holds {other.height} row(s) of release {other['release'][0]} "
            f"(e.g. case {other['case_id'][0]}); score one release at a time"
        )
    duplicated = matrix.filter(pl.col("case_id").is_duplicated())
    if duplicated.height:
        raise ValueError(f"scoring release {release}: case {duplicated['case_id'][0]} has more than one matrix row")
    return matrix


def _features(matrix: pl.DataFrame, feature_names: list[str]) -> np.ndarray:
    missing = [name for name in feature_names if name not in matrix.columns]
    if missing:
        raise ValueError(f"the model needs feature(s) {missing} that the matrix lacks (feature-set mismatch)")
    return matrix.select(feature_names).cast(pl.Float64).to_numpy()


def score_grading(
    matrix: pl.DataFrame,
    gbm_model: FittedClassifier,
    model_version: str,
    *,
    release: str,
    scored_at: datetime,
    grade_model: FittedClassifier | None = None,
    grade_model_version: str | None = None,
    training_case_ids: Collection[str] | None = None,
    grade_training_case_ids: Collection[str] | None = None,
    conformal: ConformalCalibrator | None = None,
    grade_conformal: ConformalCalibrator | None = None,
) -> pl.DataFrame:
    """Grading scores of one release. `training_case_ids`: the patients each model was fitted on, so every
    row says whether its score is in-sample; `conformal`: prediction sets at the calibrated coverage."""
    rows = _release_rows(matrix, release)
    features = _features(rows, gbm_model.feature_names)
    probability_gbm = gbm_model.predict_proba(features)
    predicted_gbm = (probability_gbm >= 0.5).astype(int)
    columns: dict[str, object] = {
        "release": release,
        "case_id": rows["case_id"],
        "model_version": model_version,
        "grade_model_version": grade_model_version,
        "grade_probability_gbm": probability_gbm,
        "predicted_class": np.asarray(gbm_model.class_names, dtype=object)[predicted_gbm],
        "explanation": explain_top_contributions(gbm_model.booster, features, gbm_model.feature_names, task=gbm_model.task),
        "in_training_set": _in_training(rows, training_case_ids),
        "scored_at": scored_at,
    }
    if conformal is not None:
        columns["prediction_set"] = _joined_sets(conformal, binary_probability_matrix(probability_gbm))
        columns["conformal_coverage"] = conformal.coverage
    if grade_model is not None:
        grade_features = _features(rows, grade_model.feature_names)
        grade_probability = grade_model.predict_proba(grade_features)
        predicted_index = grade_probability.argmax(axis=1)
        for k, grade in enumerate(GRADE_CLASSES):
            columns[f"grade_probability_{grade}"] = grade_probability[:, k]
        columns["predicted_who_grade"] = np.asarray(GRADE_CLASSES, dtype=np.int8)[predicted_index]
        columns["grade_explanation"] = explain_top_contributions(
            grade_model.booster,
            grade_features,
            grade_model.feature_names,
            task=grade_model.task,
            predicted_class=predicted_index,
            class_names=grade_model.class_names,
        )
        columns["grade_in_training_set"] = _in_training(rows, grade_training_case_ids)
        if grade_conformal is not None:
            columns["grade_prediction_set"] = _joined_sets(grade_conformal, grade_probability)
    frame = pl.DataFrame(columns).with_columns(
        [pl.lit(None, dtype=dtype).alias(name) for name, dtype in GRADING_SCORES_SCHEMA.items() if name not in columns]
    )
    return _conform(frame, GRADING_SCORES_SCHEMA)


def _in_training(rows: pl.DataFrame, case_ids: Collection[str] | None) -> pl.Series | None:
    if case_ids is None:
        return None  # unknown (a model stored before training rows were recorded)
    return rows["case_id"].is_in(pl.Series(list(case_ids), dtype=pl.String).implode())


def _joined_sets(calibrator: ConformalCalibrator, probability: np.ndarray) -> list[str]:
    return ["|".join(classes) for classes in calibrator.prediction_sets(probability)]


def score_survival(
    matrix: pl.DataFrame, model: FittedSurvivalModel, model_version: str, *, release: str, scored_at: datetime,
    training_case_ids: Collection[str] | None = None,
) -> pl.DataFrame:
    rows = _release_rows(matrix, release)
    features = _features(rows, model.feature_names)
    risk = model.risk_score(features)
    survival = model.baseline.survival_probability(risk, np.asarray(SURVIVAL_HORIZONS_MONTHS) * DAYS_PER_MONTH)
    frame = pl.DataFrame(
        {
            "release": release,
            "case_id": rows["case_id"],
            "model_version": model_version,
            "survival_risk_score": risk,
            "risk_group": model.risk_group(features).astype(str),
            **{f"survival_probability_{m}m": survival[:, k] for k, m in enumerate(SURVIVAL_HORIZONS_MONTHS)},
            "explanation": explain_top_contributions(model.booster, features, model.feature_names, task=model.task),
            "in_training_set": _in_training(rows, training_case_ids),
            "scored_at": scored_at,
        }
    )
    return _conform(frame, SURVIVAL_SCORES_SCHEMA)


def _conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    frame = frame.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])
    if frame.select(pl.struct(*SCORE_KEY).is_duplicated().any()).item():
        raise ValueError("scores are not unique on (case_id, release, model_version)")
    return frame
