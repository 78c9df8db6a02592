"""Grading models: GBM vs LGG (binary) and WHO grade 2/3/4 (multiclass), LightGBM with calibration.

Calibration is fitted on the inner out-of-fold raw scores of the training rows (never on the rows it
is evaluated on): Platt scaling (logistic regression on the margin) for the binary model — two
parameters, monotone, stable on a few hundred patients where isotonic regression would overfit — and
temperature scaling (one parameter) for the multiclass model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_softmax, softmax
from sklearn.linear_model import LogisticRegression

from contracts.features import GBM_VS_LGG, WHO_GRADE  # noqa: E402,F401 (declared once, in contracts)
from contracts.schemas import GRADE_CLASSES
from models.cv import Fold, repeated_stratified_case_folds, summarise_fold_metrics
from models.metrics import binary_classification_metrics, multiclass_classification_metrics
from models.training import PARAM_GRID, inner_folds, select_and_fit, serialisable_params

BINARY_CLASSES: tuple[str, ...] = ("LGG", "GBM")


@dataclass
class FittedClassifier:
    task: str
    booster: lgb.Booster
    feature_names: list[str]
    class_names: list[str]
    params: dict[str, Any]
    num_rounds: int
    calibration: dict[str, float | str]
    inner_loss: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_binary(self) -> bool:
        return len(self.class_names) == 2

    def raw_score(self, features: NDArray) -> NDArray:
        return self.booster.predict(features, raw_score=True)

    def predict_proba(self, features: NDArray) -> NDArray:
        """Calibrated probabilities: (n,) P(GBM) for the binary model, (n, K) for multiclass."""
        return self.probability_from_raw(self.raw_score(features))

    def probability_from_raw(self, raw_score: NDArray) -> NDArray:
        """`predict_proba` from raw scores already at hand (e.g. `models.explain.Evaluation.raw_score`)."""
        return apply_calibration(raw_score, self.calibration)

    def metadata(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "feature_names": self.feature_names,
            "class_names": self.class_names,
            "params": serialisable_params(self.params),
            "num_rounds": self.num_rounds,
            "calibration": self.calibration,
            "inner_loss": self.inner_loss,
            **self.extra,
        }

    @classmethod
    def from_artifacts(cls, model_text: str, metadata: dict[str, Any]) -> FittedClassifier:
        return cls(
            task=metadata["task"],
            booster=lgb.Booster(model_str=model_text),
            feature_names=list(metadata["feature_names"]),
            class_names=list(metadata["class_names"]),
            params=dict(metadata["params"]),
            num_rounds=int(metadata["num_rounds"]),
            calibration=dict(metadata["calibration"]),
            inner_loss=float(metadata["inner_loss"]),
        )


def fit_platt(raw_score: NDArray, label: NDArray) -> dict[str, float | str]:
    model = LogisticRegression(C=1e4).fit(raw_score.reshape(-1, 1), label)
    return {"method": "platt", "slope": float(model.coef_[0, 0]), "intercept": float(model.intercept_[0])}


def fit_temperature(raw_score: NDArray, label_index: NDArray) -> dict[str, float | str]:
    def nll(temperature: float) -> float:
        return float(-log_softmax(raw_score / temperature, axis=1)[np.arange(label_index.size), label_index].mean())

    result = minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded")
    return {"method": "temperature", "temperature": float(result.x)}


def apply_calibration(raw_score: NDArray, calibration: dict[str, float | str]) -> NDArray:
    if calibration["method"] == "platt":
        return expit(float(calibration["slope"]) * raw_score + float(calibration["intercept"]))
    if calibration["method"] == "temperature":
        return softmax(raw_score / float(calibration["temperature"]), axis=1)
    raise ValueError(f"unknown calibration method {calibration['method']!r}")


def fit_classifier(
    features: NDArray,
    label_index: NDArray,
    feature_names: list[str],
    task: str,
    *,
    seed: int = 20261122,
    grid: Sequence[dict[str, Any]] = PARAM_GRID,
) -> FittedClassifier:
    """Fit one calibrated grading model on training rows (`label_index` 0..K-1); the inner search runs
    over `grid` (default `models.training.PARAM_GRID`)."""
    features = np.asarray(features, dtype=np.float64)
    label_index = np.asarray(label_index, dtype=int)
    binary = task == GBM_VS_LGG
    class_names = list(BINARY_CLASSES) if binary else [str(grade) for grade in GRADE_CLASSES]
    task_params: dict[str, Any] = (
        {"objective": "binary", "metric": "binary_logloss"}
        if binary
        else {"objective": "multiclass", "num_class": len(class_names), "metric": "multi_logloss"}
    )

    def make_dataset(rows: NDArray[np.intp], reference: lgb.Dataset | None) -> lgb.Dataset:
        return lgb.Dataset(
            features[rows],
            label=label_index[rows],
            feature_name=feature_names,
            reference=reference,
            free_raw_data=False,
        )

    selection, booster = select_and_fit(
        make_dataset,
        features,
        task_params,
        task_params["metric"],
        inner_folds(features.shape[0], label_index, seed),
        grid=grid,
    )
    calibration = (
        fit_platt(selection.oof_raw_score, label_index)
        if binary
        else fit_temperature(selection.oof_raw_score, label_index)
    )
    return FittedClassifier(
        task=task,
        booster=booster,
        feature_names=list(feature_names),
        class_names=class_names,
        params=selection.params,
        num_rounds=selection.num_rounds,
        calibration=calibration,
        inner_loss=selection.inner_loss,
    )


@dataclass(frozen=True)
class GradingData:
    case_ids: NDArray
    features: NDArray[np.float64]
    label_index: NDArray[np.intp]
    feature_names: list[str]
    excluded_cases: list[str]  # cases without a label for this task (not trained on, not dropped silently)


def grading_data(matrix: pl.DataFrame, feature_names: list[str] | tuple[str, ...], task: str) -> GradingData:
    """Rows with a label for `task`: `label_gbm` (0/1) or `label_who_grade` (2/3/4 -> 0/1/2)."""
    label_column = "label_gbm" if task == GBM_VS_LGG else "label_who_grade"
    labelled = matrix.filter(pl.col(label_column).is_not_null())
    label = labelled[label_column].to_numpy().astype(int)
    label_index = label if task == GBM_VS_LGG else np.searchsorted(np.asarray(GRADE_CLASSES), label)
    return GradingData(
        case_ids=labelled["case_id"].to_numpy(),
        features=labelled.select(feature_names).cast(pl.Float64).to_numpy(),
        label_index=label_index,
        feature_names=list(feature_names),
        excluded_cases=matrix.filter(pl.col(label_column).is_null())["case_id"].to_list(),
    )


@dataclass(frozen=True)
class GradingCvResult:
    task: str
    fold_metrics: pl.DataFrame  # model, repeat, fold, one column per metric
    summary: pl.DataFrame  # model, metric, mean, std, min, max, folds
    # The same metrics on each repeat's pooled out-of-fold predictions (every case once), mean/std over
    # repeats. ECE on a ~150-patient test fold is biased upwards by bin noise; pooled is the fairer figure.
    pooled_summary: pl.DataFrame
    out_of_fold: pl.DataFrame  # repeat, fold, case_id, label_index, probabilities
    folds: list[Fold]
    chosen: list[dict[str, Any]]  # per outer fold: num_leaves, min_data_in_leaf, num_rounds, calibration


def cross_validate_grading(
    data: GradingData,
    task: str,
    *,
    n_splits: int = 5,
    n_repeats: int = 5,
    seed: int = 20261122,
    grid: Sequence[dict[str, Any]] = PARAM_GRID,
) -> GradingCvResult:
    folds = repeated_stratified_case_folds(
        data.case_ids, data.label_index, n_splits=n_splits, n_repeats=n_repeats, seed=seed
    )
    metric_rows, oof_frames, chosen = [], [], []
    class_names = list(BINARY_CLASSES) if task == GBM_VS_LGG else [str(g) for g in GRADE_CLASSES]
    for fold in folds:
        model = fit_classifier(
            data.features[fold.train_index],
            data.label_index[fold.train_index],
            data.feature_names,
            task,
            seed=seed + 1000 * fold.repeat + fold.fold,
            grid=grid,
        )
        probability = model.predict_proba(data.features[fold.test_index])
        label = data.label_index[fold.test_index]
        if model.is_binary:
            metrics = binary_classification_metrics(label, probability)
            columns = {"probability_gbm": probability}
        else:
            metrics = multiclass_classification_metrics(label, probability, [f"grade_{c}" for c in class_names])
            columns = {f"probability_grade_{c}": probability[:, k] for k, c in enumerate(class_names)}
        metric_rows.append({"model": f"lightgbm_{task}", "repeat": fold.repeat, "fold": fold.fold, **metrics})
        oof_frames.append(
            pl.DataFrame(
                {
                    "repeat": fold.repeat,
                    "fold": fold.fold,
                    "case_id": data.case_ids[fold.test_index],
                    "label_index": label,
                    **columns,
                }
            )
        )
        chosen.append(
            {
                "repeat": fold.repeat,
                "fold": fold.fold,
                # .get: a custom grid (models.challenge.Recipe) need not set both
                "num_leaves": model.params.get("num_leaves"),
                "min_data_in_leaf": model.params.get("min_data_in_leaf"),
                "num_rounds": model.num_rounds,
                "calibration": json.dumps(model.calibration),
            }
        )
    fold_metrics = pl.DataFrame(metric_rows)
    out_of_fold = pl.concat(oof_frames)
    return GradingCvResult(
        task=task,
        fold_metrics=fold_metrics,
        summary=summarise_fold_metrics(fold_metrics),
        pooled_summary=summarise_fold_metrics(pooled_out_of_fold_metrics(out_of_fold, task)),
        out_of_fold=out_of_fold,
        folds=folds,
        chosen=chosen,
    )


def pooled_out_of_fold_metrics(out_of_fold: pl.DataFrame, task: str) -> pl.DataFrame:
    """Metrics of each repeat's pooled out-of-fold predictions (model `<name>_pooled_oof`, fold -1)."""
    rows = []
    for (repeat,), part in out_of_fold.group_by("repeat", maintain_order=True):
        label = part["label_index"].to_numpy()
        if task == GBM_VS_LGG:
            metrics = binary_classification_metrics(label, part["probability_gbm"].to_numpy())
        else:
            probability = part.select([f"probability_grade_{g}" for g in GRADE_CLASSES]).to_numpy()
            metrics = multiclass_classification_metrics(label, probability, [f"grade_{g}" for g in GRADE_CLASSES])
        rows.append({"model": f"lightgbm_{task}_pooled_oof", "repeat": repeat, "fold": -1, **metrics})
    return pl.DataFrame(rows)
