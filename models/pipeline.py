"""The training step the Dagster model assets call: cross-validate a task, fit the final model on all
labelled rows, and describe it for the registry. Pure: the caller writes artifacts and registry rows
(`models.registry.write_model_artifacts`, `register_model`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

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
from models.survival import SURVIVAL_RISK, FittedSurvivalModel, SurvivalCvResult, cross_validate_survival, fit_survival_model, survival_data
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

    @property
    def model_version(self) -> str:
        return self.entry.model_version

    def artifact_metadata(self) -> dict[str, Any]:
        return {
            **self.model.metadata(),
            "training_release": self.entry.training_release,
            "feature_set_version": self.entry.feature_set_version,
            "cv_metrics": self.entry.cv_metrics,
            "training_rows": self.entry.training_rows,
            "code_version": self.entry.code_version,
        }


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
) -> TrainedModel:
    matrix = model_matrix.matrix.filter(pl.col("release") == release)
    if matrix.height == 0:
        raise ValueError(f"the model matrix has no rows of release {release}")
    feature_names = list(model_matrix.features(task))
    if task == SURVIVAL_RISK:
        data = survival_data(matrix, feature_names)
        cv = cross_validate_survival(data, n_splits=n_splits, n_repeats=n_repeats, seed=seed, baselines=survival_baselines)
        model: FittedClassifier | FittedSurvivalModel = fit_survival_model(
            data.features, data.overall_survival_days, data.death_observed, feature_names, seed=seed
        )
        cv_model_name, training_rows, excluded = "lightgbm_cox", len(data.case_ids), data.excluded_cases
        data_fingerprint = (data.case_ids.tolist(), data.overall_survival_days.tolist(), data.death_observed.tolist())
    elif task in (GBM_VS_LGG, WHO_GRADE):
        data = grading_data(matrix, feature_names, task)
        cv = cross_validate_grading(data, task, n_splits=n_splits, n_repeats=n_repeats, seed=seed)
        model = fit_classifier(data.features, data.label_index, feature_names, task, seed=seed)
        cv_model_name, training_rows, excluded = f"lightgbm_{task}", len(data.case_ids), data.excluded_cases
        data_fingerprint = (data.case_ids.tolist(), data.label_index.tolist())
    else:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
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
        "data": data_fingerprint,
        "code_version": code_version,
    }
    entry = RegistryEntry(
        model_version=model_version_name(task, release, fingerprint),
        task=task,
        training_release=release,
        feature_set_version=model_matrix.feature_set_version,
        parameters=parameters,
        cv_metrics=cv_metrics,
        training_rows=training_rows,
        code_version=code_version,
    )
    return TrainedModel(
        task=task,
        model=model,
        cv=cv,
        entry=entry,
        importance=global_importance(model.booster, feature_names),
        excluded_cases=excluded,
    )


def load_model(task: str, model_text: str, metadata: dict[str, Any]) -> FittedClassifier | FittedSurvivalModel:
    """Rebuild a fitted model from its registry artifacts (`read_model_artifacts`)."""
    if task == SURVIVAL_RISK:
        return FittedSurvivalModel.from_artifacts(model_text, metadata)
    return FittedClassifier.from_artifacts(model_text, metadata)
