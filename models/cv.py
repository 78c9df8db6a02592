"""Repeated stratified k-fold splits over *cases*, and summaries of per-fold metrics.

Splits are drawn on the distinct case ids (stratified by each case's label) and mapped back to rows,
so a case with several rows can never sit in both the training and the test part of a fold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.typing import NDArray
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold


@dataclass(frozen=True)
class Fold:
    repeat: int
    fold: int
    train_index: NDArray[np.intp]  # row positions
    test_index: NDArray[np.intp]


def repeated_stratified_case_folds(
    case_ids: NDArray, strata: NDArray, *, n_splits: int = 5, n_repeats: int = 5, seed: int = 20261122
) -> list[Fold]:
    case_ids = np.asarray(case_ids)
    strata = np.asarray(strata)
    distinct_cases, row_case = np.unique(case_ids, return_inverse=True)
    # One stratum per case: the first row's. Rows of one case must agree (a label is per case).
    case_stratum = np.empty(distinct_cases.size, dtype=strata.dtype)
    case_stratum[row_case[::-1]] = strata[::-1]
    disagree = case_stratum[row_case] != strata
    if disagree.any():
        bad = case_ids[np.argmax(disagree)]
        raise ValueError(f"case {bad} has rows with different stratification labels; a label must be per case")
    if n_repeats == 1:
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        splits = splitter.split(distinct_cases, case_stratum)
    else:
        splits = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed).split(
            distinct_cases, case_stratum
        )
    folds = []
    for number, (_train_cases, test_cases) in enumerate(splits):
        in_test = np.zeros(distinct_cases.size, dtype=bool)
        in_test[test_cases] = True
        row_in_test = in_test[row_case]
        folds.append(
            Fold(
                repeat=number // n_splits,
                fold=number % n_splits,
                train_index=np.flatnonzero(~row_in_test),
                test_index=np.flatnonzero(row_in_test),
            )
        )
    return folds


def summarise_fold_metrics(fold_metrics: pl.DataFrame) -> pl.DataFrame:
    """Per (model, metric): mean, std (across folds), min, max and fold count."""
    long = fold_metrics.unpivot(index=["model", "repeat", "fold"], variable_name="metric", value_name="value").filter(
        pl.col("value").is_not_nan() & pl.col("value").is_not_null()
    )
    return long.group_by("model", "metric", maintain_order=True).agg(
        pl.col("value").mean().alias("mean"),
        pl.col("value").std().alias("std"),
        pl.col("value").min().alias("min"),
        pl.col("value").max().alias("max"),
        pl.len().alias("folds"),
    )


def metrics_json(summary: pl.DataFrame, model: str) -> dict[str, dict[str, float]]:
    """{metric: {"mean": .., "std": ..}} of one model, for the registry."""
    return {
        row["metric"]: {"mean": row["mean"], "std": row["std"], "folds": row["folds"]}
        for row in summary.filter(pl.col("model") == model).iter_rows(named=True)
    }
