"""The classic classifiers of the literature for GBM vs LGG, cross-validated on the registry's own folds (the same
repeated stratified case folds, seed and feature list as LightGBM's CV in models.grading): L2-regularised logistic
regression, an RBF SVM with sigmoid-calibrated probabilities, a random forest and a small multilayer perceptron
(scikit-learn; missing values: training median plus an indicator, as for the typing baselines). They gate nothing:
the leaderboard shows them beside the registry's LightGBM. Pure: no Dagster, no I/O.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from models.cv import repeated_stratified_case_folds
from models.grading import GradingData
from models.metrics import binary_classification_metrics
from models.molecular_typing import (
    LOGISTIC_REGRESSION,
    MLP,
    RANDOM_FOREST,
    SVM,
    TYPING_MODELS,
    summarise_with_intervals,
)

GRADING_BASELINES: tuple[str, ...] = (LOGISTIC_REGRESSION, SVM, RANDOM_FOREST, MLP)
REPORTED_METRICS: tuple[str, ...] = ("roc_auc", "accuracy", "f1", "brier", "ece")


def cross_validate_grading_baselines(
    data: GradingData, *, n_splits: int, n_repeats: int, seed: int, models: tuple[str, ...] = GRADING_BASELINES
) -> pl.DataFrame:
    """model, metric, mean, low, high (Nadeau-Bengio 95 %), folds: every baseline on LightGBM's folds."""
    folds = repeated_stratified_case_folds(
        data.case_ids, data.label_index, n_splits=n_splits, n_repeats=n_repeats, seed=seed
    )
    rows = []
    for fold in folds:
        train_label = data.label_index[fold.train_index]
        test_label = data.label_index[fold.test_index]
        for name in models:
            model = TYPING_MODELS[name](seed + fold.repeat)
            probability = model.fit(data.features[fold.train_index], train_label).predict_proba(
                data.features[fold.test_index]
            )[:, 1]
            metrics = binary_classification_metrics(test_label, probability)
            rows.append(
                {"model": name, "repeat": fold.repeat, "fold": fold.fold, **{m: metrics[m] for m in REPORTED_METRICS}}
            )
    summary = summarise_with_intervals(pl.DataFrame(rows), test_train_ratio=1 / (n_splits - 1))
    return summary.with_columns(pl.lit(int(np.asarray(data.label_index).size)).alias("n_patients"))
