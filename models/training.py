"""Shared LightGBM training step: choose hyperparameters and the number of boosting rounds by an inner
cross-validation on the *training* rows only, and return the inner out-of-fold raw scores (used to fit
probability calibration, so calibration never sees the rows it is evaluated on either).

The search is deliberately small and documented (`PARAM_GRID`): three tree sizes, each with
regularisation suited to a few hundred patients. The number of rounds is the argmin of the inner
folds' mean validation-loss curve (one number for all inner folds, as `lightgbm.cv` does), capped at
`MAX_ROUNDS` (inner folds stop `EARLY_STOPPING_ROUNDS` after their best round); the final model is
refitted on all training rows with that configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import KFold, StratifiedKFold

MAX_ROUNDS = 300
EARLY_STOPPING_ROUNDS = 40
INNER_FOLDS = 3

BASE_PARAMS: dict[str, Any] = {
    "verbosity": -1,
    "num_threads": 1,  # the machine has 2 shared cores; tiny data gains nothing from threads
    "deterministic": True,
    "force_col_wise": True,
    "seed": 20261122,
    "learning_rate": 0.05,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 63,
}

PARAM_GRID: tuple[dict[str, Any], ...] = (
    {"num_leaves": 4, "min_data_in_leaf": 20},
    {"num_leaves": 8, "min_data_in_leaf": 15},
    {"num_leaves": 16, "min_data_in_leaf": 10},
)

DatasetFactory = Callable[[NDArray[np.intp], lgb.Dataset | None], lgb.Dataset]


@dataclass(frozen=True)
class InnerSelection:
    params: dict[str, Any]  # BASE_PARAMS + chosen grid point (+ task objective)
    num_rounds: int
    inner_loss: float  # mean inner validation loss at num_rounds
    oof_raw_score: NDArray[np.float64]  # (n,) or (n, K) inner out-of-fold raw scores at num_rounds


def inner_folds(n_rows: int, strata: NDArray | None, seed: int) -> list[tuple[NDArray[np.intp], NDArray[np.intp]]]:
    index = np.arange(n_rows)
    if strata is not None:
        return list(StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=seed).split(index, strata))
    return list(KFold(INNER_FOLDS, shuffle=True, random_state=seed).split(index))


def select_and_fit(
    make_dataset: DatasetFactory,
    predict_features: NDArray[np.float64],
    task_params: dict[str, Any],
    metric_name: str,
    folds: Sequence[tuple[NDArray[np.intp], NDArray[np.intp]]],
    *,
    feval: Callable | None = None,
    grid: Sequence[dict[str, Any]] = PARAM_GRID,
) -> tuple[InnerSelection, lgb.Booster]:
    """Inner-CV selection over `grid`, then a final fit on all rows of `make_dataset`.

    `make_dataset(rows, reference)` builds a Dataset of those training rows; `predict_features` are the
    same rows' features (for out-of-fold raw scores). `metric_name` is the validation loss to minimise.
    """
    n_rows = predict_features.shape[0]
    best: InnerSelection | None = None
    for grid_point in grid:
        params = {**BASE_PARAMS, **task_params, **grid_point}
        curves, boosters = [], []
        for train_rows, valid_rows in folds:
            train_set = make_dataset(train_rows, None)
            valid_set = make_dataset(valid_rows, train_set)
            history: dict[str, dict[str, list[float]]] = {}
            booster = lgb.train(
                params,
                train_set,
                num_boost_round=MAX_ROUNDS,
                valid_sets=[valid_set],
                valid_names=["inner_valid"],
                feval=feval,
                callbacks=[lgb.record_evaluation(history), lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
            )
            curves.append(history["inner_valid"][metric_name])
            boosters.append(booster)
        # Each inner fold stops EARLY_STOPPING_ROUNDS after its own best round; the mean curve is taken
        # over the rounds all folds reached (its argmin is almost always well inside that range).
        common = min(len(curve) for curve in curves)
        mean_curve = np.mean(np.asarray([curve[:common] for curve in curves]), axis=0)
        num_rounds = int(np.argmin(mean_curve)) + 1
        loss = float(mean_curve[num_rounds - 1])
        if best is None or loss < best.inner_loss:
            first = boosters[0].predict(predict_features[folds[0][1]], raw_score=True, num_iteration=num_rounds)
            oof = np.zeros((n_rows, *first.shape[1:]), dtype=np.float64)
            for booster, (_, valid_rows) in zip(boosters, folds, strict=True):
                oof[valid_rows] = booster.predict(
                    predict_features[valid_rows], raw_score=True, num_iteration=num_rounds
                )
            best = InnerSelection(params=params, num_rounds=num_rounds, inner_loss=loss, oof_raw_score=oof)
    assert best is not None, "empty hyperparameter grid"
    final = lgb.train(best.params, make_dataset(np.arange(n_rows), None), num_boost_round=best.num_rounds)
    return best, final


def serialisable_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as JSON-friendly values (a callable objective is recorded by its qualified name)."""
    return {
        key: (f"{value.__module__}.{value.__qualname__}" if callable(value) else value) for key, value in params.items()
    }
