"""The training step the Dagster model assets call: cross-validate a task, fit the final model on all
labelled rows, and describe it for the registry. Pure: the caller writes artifacts and registry rows
(`models.registry.write_model_artifacts`, `register_model`)."""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

import models.cox
import models.cv
import models.grading
import models.survival
import models.training
from contracts.schemas import GRADE_CLASSES
from models.challenge import Recipe
from models.conformal import ConformalCalibrator, binary_probability_matrix, fit_conformal
from models.cv import metrics_json
from models.explain import global_importance
from models.grading import (
    GBM_VS_LGG,
    WHO_GRADE,
    FittedClassifier,
    GradingCvResult,
    cross_validate_grading,
    fit_classifier,
    grading_data,
)
from models.registry import RegistryEntry, model_version_name
from models.survival import (
    SURVIVAL_RISK,
    FittedSurvivalModel,
    SurvivalCvResult,
    cross_validate_survival,
    fit_survival_model,
    survival_data,
)
from models.training import MAX_ROUNDS, PARAM_GRID, serialisable_params
from transforms.features import ModelMatrix

TASKS: tuple[str, ...] = (GBM_VS_LGG, WHO_GRADE, SURVIVAL_RISK)


@dataclass(frozen=True)
class TrainedModel:
    task: str
    model: FittedClassifier | FittedSurvivalModel
    cv: GradingCvResult | SurvivalCvResult
    entry: RegistryEntry  # status/decision are filled in by register_model
    importance: pl.DataFrame
    excluded_cases: list[str]  # rows of the matrix without a label/endpoint for this task
    training_rows: pl.DataFrame  # case_id and the labels the model was fitted on (TRAINING_ROWS_SCHEMA)
    conformal: ConformalCalibrator | None  # grading tasks: split-conformal sets from out-of-fold predictions

    @property
    def model_version(self) -> str:
        return self.entry.model_version

    def artifact_metadata(self) -> dict[str, Any]:
        return {
            **self.model.metadata(),
            "conformal": json.loads(self.conformal.to_json()) if self.conformal is not None else None,
            "training_release": self.entry.training_release,
            "feature_set_version": self.entry.feature_set_version,
            "cv_metrics": self.entry.cv_metrics,
            "training_rows": self.entry.training_rows,
            "code_version": self.entry.code_version,
        }


# Training rows as stored beside a model: the labels it saw (null where the task does not use them).
TRAINING_ROWS_SCHEMA: dict[str, pl.DataType] = {
    "case_id": pl.String(),
    "label_index": pl.Int64(),
    "overall_survival_days": pl.Float64(),
    "death_observed": pl.Boolean(),
}
CONFORMAL_COVERAGE = 0.9
_TRAINING_CODE = (models.training, models.grading, models.survival, models.cox, models.cv)


def training_code_fingerprint() -> str:
    """Hash of the training code itself: a change to how models are fitted is a change of recipe."""
    digest = hashlib.sha256()
    for module in _TRAINING_CODE:
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()[:16]


def training_fingerprint(
    task: str, feature_names: list[str], data_arrays: tuple[np.ndarray, ...], n_splits: int, n_repeats: int, seed: int
) -> str:
    """Content hash of what a model is trained from: the recipe (models.challenge.Recipe: task, features,
    grid), the CV plan, the training code and the training rows (ids, features, labels). Equal fingerprints:
    retraining would give the same model."""
    digest = hashlib.sha256()
    plan = {
        "recipe": Recipe(task=task, feature_names=tuple(feature_names)).fingerprint(),
        "max_rounds": MAX_ROUNDS,
        "cv": [n_splits, n_repeats, seed],
        "code": training_code_fingerprint(),
    }
    digest.update(json.dumps(plan, sort_keys=True).encode())
    for array in data_arrays:
        array = np.ascontiguousarray(array)
        digest.update(str(array.dtype).encode() + str(array.shape).encode())
        digest.update(array.astype(str).tobytes() if array.dtype == object else array.tobytes())
    return digest.hexdigest()


def training_inputs(model_matrix: ModelMatrix, task: str, release: str):
    """The task's training data from the release's matrix, and its fingerprint inputs."""
    matrix = model_matrix.matrix.filter(pl.col("release") == release)
    if matrix.height == 0:
        raise ValueError(f"the model matrix has no rows of release {release}")
    feature_names = list(model_matrix.features(task))
    if task == SURVIVAL_RISK:
        data = survival_data(matrix, feature_names)
        arrays = (data.case_ids, data.features, data.overall_survival_days, data.death_observed)
    elif task in (GBM_VS_LGG, WHO_GRADE):
        data = grading_data(matrix, feature_names, task)
        arrays = (data.case_ids, data.features, data.label_index)
    else:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    return data, feature_names, arrays


def _conformal_from_out_of_fold(cv: GradingCvResult, task: str) -> ConformalCalibrator:
    """Split conformal on the first repeat's out-of-fold predictions: every patient once, each predicted
    by a model that did not see it, as the final model will predict new patients."""
    oof = cv.out_of_fold.filter(pl.col("repeat") == 0).sort("case_id")
    if task == GBM_VS_LGG:
        probability = binary_probability_matrix(oof["probability_gbm"].to_numpy())
        class_names = ["LGG", "GBM"]
    else:
        probability = oof.select([f"probability_grade_{g}" for g in GRADE_CLASSES]).to_numpy()
        class_names = [str(g) for g in GRADE_CLASSES]
    return fit_conformal(probability, oof["label_index"].to_numpy(), CONFORMAL_COVERAGE, class_names=class_names)


def train_task(
    model_matrix: ModelMatrix,
    task: str,
    *,
    release: str,
    code_version: str,
    n_splits: int = 5,
    n_repeats: int = 5,
    seed: int = 20261122,
    survival_baselines: bool = True,
    cv: GradingCvResult | SurvivalCvResult | None = None,
) -> TrainedModel:
    """Cross-validate (unless `cv` is given: the fair comparison already ran it on the same folds) and fit."""
    data, feature_names, arrays = training_inputs(model_matrix, task, release)
    fingerprint_of_training = training_fingerprint(task, feature_names, arrays, n_splits, n_repeats, seed)
    if task == SURVIVAL_RISK:
        if cv is None:
            cv = cross_validate_survival(
                data, n_splits=n_splits, n_repeats=n_repeats, seed=seed, baselines=survival_baselines
            )
        model: FittedClassifier | FittedSurvivalModel = fit_survival_model(
            data.features, data.overall_survival_days, data.death_observed, feature_names, seed=seed
        )
        cv_model_name, n_training, excluded = "lightgbm_cox", len(data.case_ids), data.excluded_cases
        training_rows = pl.DataFrame(
            {
                "case_id": data.case_ids.astype(str),
                "label_index": None,
                "overall_survival_days": data.overall_survival_days,
                "death_observed": data.death_observed,
            },
            schema=TRAINING_ROWS_SCHEMA,
        )
        conformal = None
    else:
        if cv is None:
            cv = cross_validate_grading(data, task, n_splits=n_splits, n_repeats=n_repeats, seed=seed)
        model = fit_classifier(data.features, data.label_index, feature_names, task, seed=seed)
        cv_model_name, n_training, excluded = f"lightgbm_{task}", len(data.case_ids), data.excluded_cases
        training_rows = pl.DataFrame(
            {
                "case_id": data.case_ids.astype(str),
                "label_index": data.label_index.astype(np.int64),
                "overall_survival_days": None,
                "death_observed": None,
            },
            schema=TRAINING_ROWS_SCHEMA,
        )
        conformal = _conformal_from_out_of_fold(cv, task)
    cv_metrics = metrics_json(cv.summary, cv_model_name)
    parameters = {
        "final": serialisable_params(model.params),
        "num_rounds": model.num_rounds,
        "search": {"grid": list(PARAM_GRID), "max_rounds": MAX_ROUNDS, "selection": "inner 3-fold CV on training rows"},
        "cv": {"n_splits": n_splits, "n_repeats": n_repeats, "seed": seed},
    }
    fingerprint = {
        "parameters": parameters,
        "features": feature_names,
        "feature_set_version": model_matrix.feature_set_version,
        "training_fingerprint": fingerprint_of_training,
        "code_version": code_version,
    }
    entry = RegistryEntry(
        model_version=model_version_name(task, release, fingerprint),
        task=task,
        training_release=release,
        feature_set_version=model_matrix.feature_set_version,
        parameters=parameters,
        cv_metrics=cv_metrics,
        training_rows=n_training,
        code_version=code_version,
        training_fingerprint=fingerprint_of_training,
    )
    return TrainedModel(
        task=task,
        model=model,
        cv=cv,
        entry=entry,
        importance=global_importance(model.booster, feature_names),
        excluded_cases=excluded,
        training_rows=training_rows,
        conformal=conformal,
    )


def load_model(task: str, model_text: str, metadata: dict[str, Any]) -> FittedClassifier | FittedSurvivalModel:
    """Rebuild a fitted model from its registry artifacts (`read_model_artifacts`)."""
    if task == SURVIVAL_RISK:
        return FittedSurvivalModel.from_artifacts(model_text, metadata)
    return FittedClassifier.from_artifacts(model_text, metadata)
