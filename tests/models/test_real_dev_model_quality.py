"""Quality floors on the real TCGA dev bundle (honest 5-fold CV of the pipeline's own training).

The floors sit below the measured figures (bench/model_quality.py, 5x5 CV: GBM-vs-LGG AUC ~0.95,
grade micro AUC ~0.90, survival Harrell's C ~0.83, integrated Brier ~0.116) with a safety margin
for fold noise, so a real regression fails CI while a reshuffle does not.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import polars as pl
import pytest

from models.pipeline import train_task

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

_BENCH_HELPER = Path(__file__).resolve().parents[2] / "bench" / "_real_dev.py"


def _load_real_dev_helper():
    # Loaded by path under a unique name: bench/ is not a package, and a bare `_real_dev` could clash.
    spec = importlib.util.spec_from_file_location("glioma_bench_real_dev", _BENCH_HELPER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def real_inputs(real_dev_bundle: Path):
    return _load_real_dev_helper().real_dev_model_matrix(real_dev_bundle)


def _mean(summary: pl.DataFrame, model: str, metric: str) -> float:
    return summary.filter((pl.col("model") == model) & (pl.col("metric") == metric))["mean"].item()


def test_real_dev_matrix_holds_every_harmonised_patient_and_no_grading_label_column(real_inputs):
    matrix = real_inputs.model_matrix.matrix
    assert matrix.height == real_inputs.patients.height >= 770
    assert matrix["case_id"].n_unique() == matrix.height
    assert sorted(real_inputs.model_matrix.markers_without_patient) == sorted(
        real_inputs.patients_quarantine["case_id"].unique().to_list()
    )


def test_gbm_vs_lgg_grading_floor_on_real_data(real_inputs):
    trained = train_task(
        real_inputs.model_matrix,
        "grading_gbm_vs_lgg",
        release=real_inputs.release,
        code_version="test",
        n_splits=5,
        n_repeats=1,
    )
    model = "lightgbm_grading_gbm_vs_lgg"
    assert _mean(trained.cv.summary, model, "roc_auc") >= 0.92
    assert _mean(trained.cv.summary, model, "accuracy") >= 0.85
    assert _mean(trained.cv.pooled_summary, f"{model}_pooled_oof", "ece") <= 0.05


def test_who_grade_floor_on_real_data(real_inputs):
    trained = train_task(
        real_inputs.model_matrix,
        "grading_who_grade",
        release=real_inputs.release,
        code_version="test",
        n_splits=5,
        n_repeats=1,
    )
    assert _mean(trained.cv.summary, "lightgbm_grading_who_grade", "roc_auc_micro") >= 0.87


def test_survival_floor_on_real_data(real_inputs):
    trained = train_task(
        real_inputs.model_matrix,
        "survival_risk",
        release=real_inputs.release,
        code_version="test",
        n_splits=5,
        n_repeats=1,
        survival_baselines=False,
    )
    assert _mean(trained.cv.summary, "lightgbm_cox", "harrell_c") >= 0.78
    assert _mean(trained.cv.summary, "lightgbm_cox", "uno_c") >= 0.76
    assert _mean(trained.cv.summary, "lightgbm_cox", "integrated_brier") <= 0.14
    assert trained.cv.log_rank["p_value"] < 1e-20
