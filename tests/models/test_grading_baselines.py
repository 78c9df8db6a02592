"""The grading baselines (models.grading_baselines) run on LightGBM's own folds and report every metric the issue
names with an interval; on a cohort where the markers carry the grade they all separate GBM from LGG."""

from __future__ import annotations

import polars as pl

from contracts.features import GBM_VS_LGG, GRADING_FEATURES
from models.cv import repeated_stratified_case_folds
from models.grading import grading_data
from models.grading_baselines import GRADING_BASELINES, REPORTED_METRICS, cross_validate_grading_baselines
from tests.models._model_cohort import synthetic_cohort
from transforms.features import build_model_matrix


def test_every_baseline_reports_auc_accuracy_f1_brier_with_intervals_on_the_registry_folds():
    matrix = build_model_matrix(*synthetic_cohort(260, seed=12)).matrix
    data = grading_data(matrix, GRADING_FEATURES, GBM_VS_LGG)
    board = cross_validate_grading_baselines(data, n_splits=3, n_repeats=2, seed=5)
    assert set(board["model"]) == set(GRADING_BASELINES)
    assert set(board["metric"]) == set(REPORTED_METRICS)
    folds = repeated_stratified_case_folds(data.case_ids, data.label_index, n_splits=3, n_repeats=2, seed=5)
    assert (board["folds"] == len(folds)).all() and (board["n_patients"] == data.case_ids.size).all()
    auc = board.filter(pl.col("metric") == "roc_auc")
    assert (auc["mean"] > 0.75).all(), auc
    assert (auc["low"] <= auc["mean"]).all() and (auc["mean"] <= auc["high"]).all()
