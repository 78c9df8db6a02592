"""Survival-risk model: LightGBM with the Cox partial-likelihood objective (models/cox.py), a Breslow
baseline hazard for S(12/24/60 months), risk groups by tertile cut points of the training risk scores,
and scikit-survival baselines (CoxPH, RandomSurvivalForest, GradientBoostingSurvivalAnalysis) in the
same repeated cross-validation.

The baselines run with fixed, documented settings (no search) and, because they cannot take missing
values, with median imputation plus missing-indicator columns fitted on the training fold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
from numpy.typing import NDArray
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.compare import compare_survival
from sksurv.ensemble import GradientBoostingSurvivalAnalysis, RandomSurvivalForest
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.util import Surv

from contracts.features import SURVIVAL_RISK  # noqa: E402,F401 (declared once, in contracts)
from contracts.schemas import DAYS_PER_MONTH, RISK_GROUPS, SURVIVAL_HORIZONS_MONTHS
from models.cox import (
    BreslowBaseline,
    cox_objective,
    cox_partial_likelihood_metric,
    fit_breslow_baseline,
    survival_dataset,
)
from models.cv import Fold, repeated_stratified_case_folds, summarise_fold_metrics
from models.metrics import survival_metrics
from models.training import PARAM_GRID, inner_folds, select_and_fit, serialisable_params

# Tertiles of the training risk scores: three groups of equal size on the training data.
RISK_GROUP_QUANTILES: tuple[float, float] = (1 / 3, 2 / 3)


@dataclass
class FittedSurvivalModel:
    booster: lgb.Booster
    feature_names: list[str]
    params: dict[str, Any]
    num_rounds: int
    baseline: BreslowBaseline
    risk_cut_points: tuple[float, float]  # fixed on the training rows
    inner_loss: float
    task: str = SURVIVAL_RISK
    extra: dict[str, Any] = field(default_factory=dict)

    def risk_score(self, features: NDArray) -> NDArray:
        """Log relative hazard f(x): higher means a worse prognosis."""
        return self.booster.predict(features, raw_score=True)

    def survival_probability(self, features: NDArray, days: NDArray) -> NDArray:
        return self.baseline.survival_probability(self.risk_score(features), days)

    def risk_group(self, features: NDArray) -> NDArray:
        return assign_risk_groups(self.risk_score(features), self.risk_cut_points)

    def metadata(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "feature_names": self.feature_names,
            "params": serialisable_params(self.params),
            "num_rounds": self.num_rounds,
            "baseline": self.baseline.to_json(),
            "risk_cut_points": list(self.risk_cut_points),
            "inner_loss": self.inner_loss,
            **self.extra,
        }

    @classmethod
    def from_artifacts(cls, model_text: str, metadata: dict[str, Any]) -> FittedSurvivalModel:
        low, high = metadata["risk_cut_points"]
        return cls(
            booster=lgb.Booster(model_str=model_text),
            feature_names=list(metadata["feature_names"]),
            params=dict(metadata["params"]),
            num_rounds=int(metadata["num_rounds"]),
            baseline=BreslowBaseline.from_json(metadata["baseline"]),
            risk_cut_points=(float(low), float(high)),
            inner_loss=float(metadata["inner_loss"]),
        )


def assign_risk_groups(risk_score: NDArray, cut_points: tuple[float, float]) -> NDArray:
    index = np.searchsorted(np.asarray(cut_points), np.asarray(risk_score), side="right")
    return np.asarray(RISK_GROUPS, dtype=object)[index]


def fit_survival_model(
    features: NDArray,
    overall_survival_days: NDArray,
    death_observed: NDArray,
    feature_names: list[str],
    *,
    seed: int = 20261122,
    grid: Sequence[dict[str, Any]] = PARAM_GRID,
) -> FittedSurvivalModel:
    """Fit the LightGBM Cox model on training rows; the inner search runs over `grid` (default
    `models.training.PARAM_GRID`)."""
    features = np.asarray(features, dtype=np.float64)
    days = np.asarray(overall_survival_days, dtype=np.float64)
    death = np.asarray(death_observed, dtype=bool)

    def make_dataset(rows: NDArray[np.intp], reference: lgb.Dataset | None) -> lgb.Dataset:
        return survival_dataset(
            features[rows], days[rows], death[rows], feature_names=feature_names, reference=reference
        )

    selection, booster = select_and_fit(
        make_dataset,
        features,
        {"objective": cox_objective, "metric": "None"},
        "cox_nll",
        inner_folds(features.shape[0], death.astype(int), seed),  # stratified by event, like the outer folds
        feval=cox_partial_likelihood_metric,
        grid=grid,
    )
    training_risk = booster.predict(features, raw_score=True)
    low, high = np.quantile(training_risk, RISK_GROUP_QUANTILES)
    return FittedSurvivalModel(
        booster=booster,
        feature_names=list(feature_names),
        params=selection.params,
        num_rounds=selection.num_rounds,
        baseline=fit_breslow_baseline(training_risk, days, death),
        risk_cut_points=(float(low), float(high)),
        inner_loss=selection.inner_loss,
    )


@dataclass(frozen=True)
class SurvivalData:
    case_ids: NDArray
    features: NDArray[np.float64]
    overall_survival_days: NDArray[np.float64]
    death_observed: NDArray[np.bool_]
    feature_names: list[str]
    excluded_cases: list[str]  # no usable endpoint (null or non-positive time, or null death flag)


def survival_data(matrix: pl.DataFrame, feature_names: list[str] | tuple[str, ...]) -> SurvivalData:
    usable = (
        pl.col("overall_survival_days").is_not_null()
        & (pl.col("overall_survival_days") > 0)
        & pl.col("death_observed").is_not_null()
    )
    rows = matrix.filter(usable)
    return SurvivalData(
        case_ids=rows["case_id"].to_numpy(),
        features=rows.select(feature_names).cast(pl.Float64).to_numpy(),
        overall_survival_days=rows["overall_survival_days"].to_numpy().astype(np.float64),
        death_observed=rows["death_observed"].to_numpy().astype(bool),
        feature_names=list(feature_names),
        excluded_cases=matrix.filter(~usable)["case_id"].to_list(),
    )


# --- scikit-survival baselines -----------------------------------------------------------------------


def _baseline_models(seed: int) -> dict[str, Any]:
    def prepared(estimator: Any, scale: bool) -> Any:
        # keep_empty_features: a feature never observed in a training fold becomes a constant column
        # (no information) instead of disappearing and shifting the columns.
        steps = [SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)]
        if scale:
            steps.append(StandardScaler())
        return make_pipeline(*steps, estimator)

    return {
        # Ridge-penalised Cox: the one-hot / indicator columns are collinear, an unpenalised fit diverges.
        "sksurv_coxph": prepared(CoxPHSurvivalAnalysis(alpha=1.0, ties="breslow"), scale=True),
        "sksurv_rsf": prepared(
            RandomSurvivalForest(
                n_estimators=100, min_samples_leaf=10, max_features="sqrt", n_jobs=1, random_state=seed
            ),
            scale=False,
        ),
        "sksurv_gbsa": prepared(
            GradientBoostingSurvivalAnalysis(
                n_estimators=150, learning_rate=0.05, max_depth=2, subsample=0.8, random_state=seed
            ),
            scale=False,
        ),
    }


def _step_functions_at(step_functions: NDArray, days: NDArray) -> NDArray:
    # A step function is defined up to its model's last training time; beyond it S stays at its last value.
    result = np.empty((len(step_functions), len(days)))
    for row, function in enumerate(step_functions):
        result[row] = function(np.clip(days, function.domain[0], function.domain[1]))
    return result


@dataclass(frozen=True)
class SurvivalCvResult:
    fold_metrics: pl.DataFrame
    summary: pl.DataFrame
    out_of_fold: pl.DataFrame  # LightGBM Cox model: repeat, fold, case_id, risk score, risk group, S(12/24/60m)
    log_rank: dict[str, float]  # risk groups of the first repeat (each patient once): chi2, p-value
    folds: list[Fold]


def cross_validate_survival(
    data: SurvivalData,
    *,
    n_splits: int = 5,
    n_repeats: int = 5,
    seed: int = 20261122,
    baselines: bool = True,
    grid: Sequence[dict[str, Any]] = PARAM_GRID,
) -> SurvivalCvResult:
    folds = repeated_stratified_case_folds(
        data.case_ids, data.death_observed.astype(int), n_splits=n_splits, n_repeats=n_repeats, seed=seed
    )
    horizons_days = np.asarray(SURVIVAL_HORIZONS_MONTHS, dtype=np.float64) * DAYS_PER_MONTH
    metric_rows, oof_frames = [], []
    for fold in folds:
        train, test = fold.train_index, fold.test_index
        args = (
            data.overall_survival_days[train],
            data.death_observed[train],
            data.overall_survival_days[test],
            data.death_observed[test],
        )
        model = fit_survival_model(
            data.features[train],
            data.overall_survival_days[train],
            data.death_observed[train],
            data.feature_names,
            seed=seed + 1000 * fold.repeat + fold.fold,
            grid=grid,
        )
        risk = model.risk_score(data.features[test])
        metrics = survival_metrics(*args, risk, lambda days: model.baseline.survival_probability(risk, days))  # noqa: B023 (called at once)
        metric_rows.append({"model": "lightgbm_cox", "repeat": fold.repeat, "fold": fold.fold, **metrics})
        survival = model.baseline.survival_probability(risk, horizons_days)
        oof_frames.append(
            pl.DataFrame(
                {
                    "repeat": fold.repeat,
                    "fold": fold.fold,
                    "case_id": data.case_ids[test],
                    "survival_risk_score": risk,
                    "risk_group": assign_risk_groups(risk, model.risk_cut_points).astype(str),
                    **{f"survival_probability_{m}m": survival[:, k] for k, m in enumerate(SURVIVAL_HORIZONS_MONTHS)},
                }
            )
        )
        if baselines:
            train_target = Surv.from_arrays(event=data.death_observed[train], time=data.overall_survival_days[train])
            for name, estimator in _baseline_models(seed).items():
                estimator.fit(data.features[train], train_target)
                baseline_risk = estimator.predict(data.features[test])
                functions = estimator.predict_survival_function(data.features[test])
                metrics = survival_metrics(*args, baseline_risk, lambda days, f=functions: _step_functions_at(f, days))
                metric_rows.append({"model": name, "repeat": fold.repeat, "fold": fold.fold, **metrics})
    fold_metrics = pl.DataFrame(metric_rows)
    out_of_fold = pl.concat(oof_frames)
    return SurvivalCvResult(
        fold_metrics=fold_metrics,
        summary=summarise_fold_metrics(fold_metrics),
        out_of_fold=out_of_fold,
        log_rank=risk_group_log_rank(out_of_fold.filter(pl.col("repeat") == 0), data),
        folds=folds,
    )


def risk_group_log_rank(groups: pl.DataFrame, data: SurvivalData) -> dict[str, float]:
    """Log-rank test between risk groups (cut points fixed on each training fold, applied to its test fold)."""
    endpoint = pl.DataFrame(
        {
            "case_id": data.case_ids,
            "overall_survival_days": data.overall_survival_days,
            "death_observed": data.death_observed,
        }
    )
    joined = groups.select("case_id", "risk_group").join(endpoint, on="case_id", how="inner")
    target = Surv.from_arrays(
        event=joined["death_observed"].to_numpy(), time=joined["overall_survival_days"].to_numpy()
    )
    chi2, p_value = compare_survival(target, joined["risk_group"].to_numpy())
    counts = joined["risk_group"].value_counts()
    return {
        "chi2": float(chi2),
        "p_value": float(p_value),
        **{f"n_{row['risk_group']}": int(row["count"]) for row in counts.iter_rows(named=True)},
    }
