"""Prospective validation: how the champion models do on the patients of a new release they never saw,
with percentile-bootstrap 95% intervals (pure numpy / polars / scikit-learn / scikit-survival).

A new release brings a few dozen to a few hundred new patients, so a point estimate alone says little:
every metric carries an interval from resampling patients with replacement, and the ECE comes with its
noise floor (the ECE a perfectly calibrated model would show with these patients), because with small n
ECE is large even for a perfect model.

Point estimates use the same definitions as the cross-validated metrics of the registry
(`models.metrics`), so prospective and CV figures are comparable. The bootstrap replicates are
vectorised re-computations (ranks for AUC, batched Newton for the recalibration fits) because a
thousand scikit-learn calls per metric would take tens of seconds; the tests check both against
scikit-learn / scikit-survival on the same rows.

The tasks, each in its own module:
    models.validation_bootstrap        MetricEstimate, resampling, percentile intervals and their notes
    models.classification_validation   grading_validation (GBM vs LGG), who_grade_validation (grades 2/3/4)
    models.survival_validation         survival_validation (Harrell's and Uno's C, time-dependent AUC, IBS)
This module gathers them for callers and stacks the estimates into a table (`validation_table`).

Undefined is not an error: a metric that cannot be computed (too few patients, one class only, a horizon
beyond the follow-up) comes back with value None and a note saying why, so a release never fails its
validation step for being small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields

import polars as pl

from contracts.schemas import ESTIMATE_SCHEMA
from models.classification_validation import GRADING_METRICS, PROBABILITY_CLIP, grading_validation, who_grade_validation
from models.classification_validation import _auc_rows as _auc_rows
from models.classification_validation import _calibration_rows as _calibration_rows
from models.classification_validation import _logit as _logit
from models.survival_validation import PAIR_BLOCK_ENTRIES, TIED_RISK_TOLERANCE, survival_validation
from models.survival_validation import _resample_counts as _resample_counts
from models.survival_validation import _sksurv_point as _sksurv_point
from models.survival_validation import _survival_replicates as _survival_replicates
from models.survival_validation import _SurvivalPlan as _SurvivalPlan
from models.survival_validation import _TestCohort as _TestCohort
from models.validation_bootstrap import MIN_PATIENTS, VALID_RESAMPLE_SHARE, MetricEstimate

# The `_name as _name` imports above keep the vectorised replicates that tests/models/test_prospective_validation.py
# checks against scikit-learn / scikit-survival importable from here, where they were defined.
__all__ = [
    "GRADING_METRICS",
    "MIN_PATIENTS",
    "PAIR_BLOCK_ENTRIES",
    "PROBABILITY_CLIP",
    "TIED_RISK_TOLERANCE",
    "VALID_RESAMPLE_SHARE",
    "MetricEstimate",
    "grading_validation",
    "survival_validation",
    "validation_table",
    "who_grade_validation",
]


def validation_table(estimates: Sequence[MetricEstimate], **context_columns: str | int | float | None) -> pl.DataFrame:
    """One row per estimate, the context (task, model_version, release, cohort, ...) as leading columns
    with the same value on every row, so tables of several tasks and releases stack with pl.concat."""
    clash = set(context_columns) & {f.name for f in fields(MetricEstimate)}
    if clash:
        raise ValueError(f"context columns {sorted(clash)} would overwrite estimate columns")
    frame = pl.DataFrame([asdict(e) for e in estimates], schema=ESTIMATE_SCHEMA)
    frame = frame.with_columns(pl.lit(value).alias(name) for name, value in context_columns.items())
    return frame.select(*context_columns, *ESTIMATE_SCHEMA)
