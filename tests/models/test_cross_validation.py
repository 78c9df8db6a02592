"""Repeated stratified k-fold over cases: no case on both sides of a fold, every case tested once per repeat."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from models.cv import repeated_stratified_case_folds, summarise_fold_metrics


def test_no_case_is_in_both_train_and_test_of_any_fold_even_with_several_rows_per_case():
    rng = np.random.default_rng(0)
    cases = np.array([f"case-{i}" for i in range(80)])
    labels = rng.integers(0, 2, cases.size)
    rows_per_case = rng.integers(1, 4, cases.size)  # some cases appear on 2-3 rows
    row_case = np.repeat(cases, rows_per_case)
    row_label = np.repeat(labels, rows_per_case)
    folds = repeated_stratified_case_folds(row_case, row_label, n_splits=5, n_repeats=3, seed=1)
    assert len(folds) == 15
    for fold in folds:
        train_cases, test_cases = set(row_case[fold.train_index]), set(row_case[fold.test_index])
        assert not train_cases & test_cases, (fold.repeat, fold.fold)
        assert len(fold.train_index) + len(fold.test_index) == row_case.size
    for repeat in range(3):
        tested = np.concatenate([f.test_index for f in folds if f.repeat == repeat])
        assert np.array_equal(np.sort(tested), np.arange(row_case.size))  # each row tested exactly once


def test_folds_are_stratified_and_repeats_differ():
    labels = np.array([1] * 40 + [0] * 160)
    cases = np.array([f"c{i}" for i in range(labels.size)])
    folds = repeated_stratified_case_folds(cases, labels, n_splits=5, n_repeats=2, seed=2)
    for fold in folds:
        assert labels[fold.test_index].sum() == 8
    assert not np.array_equal(folds[0].test_index, folds[5].test_index)


def test_a_case_with_conflicting_labels_is_an_error_naming_it():
    with pytest.raises(ValueError, match="case c1"):
        repeated_stratified_case_folds(
            np.array(["c0", "c1", "c1", "c2"] * 5), np.array([0, 1, 0, 1] * 5), n_splits=2, n_repeats=1
        )


def test_summary_gives_mean_and_spread_per_model_and_metric_ignoring_undefined_folds():
    fold_metrics = pl.DataFrame(
        {
            "model": ["m"] * 3,
            "repeat": [0, 0, 0],
            "fold": [0, 1, 2],
            "auc": [0.8, 0.9, 1.0],
            "auc_60m": [0.7, float("nan"), 0.9],
        }
    )
    summary = summarise_fold_metrics(fold_metrics)
    auc = summary.filter(pl.col("metric") == "auc").row(0, named=True)
    assert auc["mean"] == pytest.approx(0.9) and auc["std"] == pytest.approx(0.1) and auc["folds"] == 3
    assert summary.filter(pl.col("metric") == "auc_60m")["folds"].item() == 2
