"""Prospective validation of a champion on a release: which patients count, and the table of metrics.

Two cohorts, never mixed with the patients the model was fitted on:
- `arrived_after_training`: patients of this release that were not among the champion's training rows
  (new cases; also old cases that had no label then and have one now);
- `outcome_changed`: training patients whose label is different now (follow-up extended, a death
  recorded, a grade revised) — scored against the new outcome, a test of what the model learned from
  the old one.

Each metric row carries n, a bootstrap 95% interval (models.validation) and the champion's own CV
interval (mean ± 1.96 sd over folds), so a reader (and the decay check) sees whether the champion
holds up on patients it never saw.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from contracts.features import MOLECULAR_TYPE
from contracts.schemas import (
    DAYS_PER_MONTH,
    GRADE_CLASSES,
    MOLECULAR_TYPE_CLASSES,
    PROSPECTIVE_VALIDATION_SCHEMA,
    SURVIVAL_HORIZONS_MONTHS,
)
from models.classification_validation import molecular_type_validation
from models.conformal import empirical_coverage
from models.grading import GBM_VS_LGG, WHO_GRADE
from models.survival import SURVIVAL_RISK
from models.validation import (
    MIN_PATIENTS,
    MetricEstimate,
    grading_validation,
    survival_validation,
    validation_table,
    who_grade_validation,
)

ARRIVED = "arrived_after_training"
OUTCOME_CHANGED = "outcome_changed"
COHORTS = (ARRIVED, OUTCOME_CHANGED)

# Metrics whose fall below the champion's CV interval means performance decay (higher is better).
DECAY_METRICS: frozenset[str] = frozenset({"roc_auc", "roc_auc_micro", "roc_auc_macro", "harrell_c", "uno_c"})


def _labels(matrix: pl.DataFrame, task: str) -> pl.DataFrame:
    """The release's labels in the training-rows layout (case_id, label_index, survival). For the molecular type,
    `matrix` is the typing frame (models.molecular_typing.typing_frame: the type from the markers)."""
    if task == MOLECULAR_TYPE:
        index = pl.col("molecular_type").replace_strict(
            {name: k for k, name in enumerate(MOLECULAR_TYPE_CLASSES)}, default=None, return_dtype=pl.Int64
        )
        return matrix.filter(pl.col("molecular_type").is_not_null()).select("case_id", index.alias("label_index"))
    if task == SURVIVAL_RISK:
        usable = (pl.col("overall_survival_days") > 0) & pl.col("death_observed").is_not_null()
        return matrix.filter(usable).select(
            "case_id", pl.col("overall_survival_days"), pl.col("death_observed").cast(pl.Boolean)
        )
    column = "label_gbm" if task == GBM_VS_LGG else "label_who_grade"
    labelled = matrix.filter(pl.col(column).is_not_null())
    if task == GBM_VS_LGG:
        index = pl.col(column).cast(pl.Int64)
    else:
        index = pl.col(column).cast(pl.Int64).replace_strict({g: k for k, g in enumerate(GRADE_CLASSES)}, default=None)
    return labelled.select("case_id", index.alias("label_index"))


def prospective_cohorts(matrix: pl.DataFrame, training_rows: pl.DataFrame, task: str) -> dict[str, pl.DataFrame]:
    """case_id + current labels of each cohort."""
    current = _labels(matrix, task)
    trained = training_rows.select("case_id")
    arrived = current.join(trained, on="case_id", how="anti")
    if task == SURVIVAL_RISK:
        then = training_rows.select(
            "case_id", pl.col("overall_survival_days").alias("_days"), pl.col("death_observed").alias("_death")
        )
        changed = (
            current.join(then, on="case_id")
            .filter(
                ((pl.col("overall_survival_days") - pl.col("_days")).abs() > 0.5)
                | (pl.col("death_observed") != pl.col("_death"))
            )
            .drop("_days", "_death")
        )
    else:
        then = training_rows.select("case_id", pl.col("label_index").alias("_label"))
        changed = current.join(then, on="case_id").filter(pl.col("label_index") != pl.col("_label")).drop("_label")
    return {ARRIVED: arrived, OUTCOME_CHANGED: changed}


def _cv_interval(cv_metrics: dict[str, Any], metric: str) -> tuple[float | None, float | None, float | None]:
    summary = cv_metrics.get(metric)
    if not isinstance(summary, dict) or summary.get("mean") is None:
        return None, None, None
    mean, sd = float(summary["mean"]), float(summary.get("std") or 0.0)
    return mean, mean - 1.96 * sd, mean + 1.96 * sd


def _coverage_estimate(sets: list[str], truth: list[str], n_bootstrap: int, seed: int) -> MetricEstimate:
    n = len(truth)
    if n < MIN_PATIENTS:
        return MetricEstimate(
            "conformal_coverage", None, None, None, n, None, f"undefined: {n} < {MIN_PATIENTS} patients"
        )
    covered = np.asarray([label in s.split("|") for s, label in zip(sets, truth, strict=True)], dtype=float)
    rng = np.random.default_rng(seed)
    draws = covered[rng.integers(0, n, size=(n_bootstrap, n))].mean(axis=1)
    value = empirical_coverage([s.split("|") for s in sets], truth)
    return MetricEstimate(
        "conformal_coverage",
        value,
        float(np.percentile(draws, 2.5)),
        float(np.percentile(draws, 97.5)),
        n,
        None,
        "share of patients whose true class is in the set",
    )


def grading_estimates(
    task: str, scores: pl.DataFrame, cohort: pl.DataFrame, *, n_bootstrap: int, seed: int
) -> list[MetricEstimate]:
    # Sorted: a join's row order is not fixed, and the seeded bootstrap must see the same rows in the same order.
    rows = cohort.join(scores, on="case_id", how="inner").sort("case_id")
    label = rows["label_index"].to_numpy().astype(int)
    if task == GBM_VS_LGG:
        estimates = grading_validation(
            label, rows["grade_probability_gbm"].to_numpy(), n_bootstrap=n_bootstrap, seed=seed
        )
        set_column, names = "prediction_set", ["LGG", "GBM"]
    elif task == MOLECULAR_TYPE:
        probability = rows.select([f"probability_{name}" for name in MOLECULAR_TYPE_CLASSES]).to_numpy()
        estimates = molecular_type_validation(
            label, probability, MOLECULAR_TYPE_CLASSES, n_bootstrap=n_bootstrap, seed=seed
        )
        set_column, names = "prediction_set", list(MOLECULAR_TYPE_CLASSES)
    else:
        probability = rows.select([f"grade_probability_{g}" for g in GRADE_CLASSES]).to_numpy()
        estimates = who_grade_validation(label, probability, n_bootstrap=n_bootstrap, seed=seed)
        set_column, names = "grade_prediction_set", [str(g) for g in GRADE_CLASSES]
    if set_column in rows.columns and rows[set_column].null_count() < rows.height:
        known = rows.filter(pl.col(set_column).is_not_null())
        estimates.append(
            _coverage_estimate(
                known[set_column].to_list(), [names[k] for k in known["label_index"].to_list()], n_bootstrap, seed
            )
        )
    return estimates


def survival_estimates(
    scores: pl.DataFrame, cohort: pl.DataFrame, training_rows: pl.DataFrame, *, n_bootstrap: int, seed: int
) -> list[MetricEstimate]:
    # Sorted: a join's row order is not fixed, and the seeded bootstrap must see the same rows in the same order.
    rows = cohort.join(scores, on="case_id", how="inner").sort("case_id")
    train = training_rows.filter(pl.col("overall_survival_days").is_not_null())
    horizons = [f"survival_probability_{m}m" for m in SURVIVAL_HORIZONS_MONTHS]
    return survival_validation(
        train["overall_survival_days"].to_numpy(),
        train["death_observed"].to_numpy().astype(bool),
        rows["overall_survival_days"].to_numpy(),
        rows["death_observed"].to_numpy().astype(bool),
        rows["survival_risk_score"].to_numpy(),
        rows.select(horizons).to_numpy(),
        SURVIVAL_HORIZONS_MONTHS,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )


def prospective_validation(
    task: str,
    *,
    release: str,
    model_version: str,
    training_release: str,
    scores: pl.DataFrame,
    matrix: pl.DataFrame,
    training_rows: pl.DataFrame,
    cv_metrics: dict[str, Any],
    n_bootstrap: int = 1000,
    seed: int = 20261201,
) -> pl.DataFrame:
    """One row per (cohort, metric) for the champion `model_version` of `task` on `release`.
    `scores`: that model's scores of the release (one row per case)."""
    frames = []
    for cohort_name, cohort in prospective_cohorts(matrix, training_rows, task).items():
        if task == SURVIVAL_RISK:
            estimates = survival_estimates(scores, cohort, training_rows, n_bootstrap=n_bootstrap, seed=seed)
        else:
            estimates = grading_estimates(task, scores, cohort, n_bootstrap=n_bootstrap, seed=seed)
        if not estimates:
            continue
        frame = validation_table(
            estimates,
            release=release,
            task=task,
            model_version=model_version,
            training_release=training_release,
            cohort=cohort_name,
        )
        cv = [_cv_interval(cv_metrics, metric) for metric in frame["metric"]]
        frame = frame.with_columns(
            pl.Series("cv_mean", [c[0] for c in cv], dtype=pl.Float64),
            pl.Series("cv_low", [c[1] for c in cv], dtype=pl.Float64),
            pl.Series("cv_high", [c[2] for c in cv], dtype=pl.Float64),
        ).with_columns(
            (
                pl.col("metric").is_in(list(DECAY_METRICS))
                & pl.col("value").is_not_null()
                & pl.col("cv_low").is_not_null()
                & (pl.col("value") < pl.col("cv_low"))
            ).alias("below_cv_interval")
        )
        frames.append(frame)
    if not frames:
        return pl.DataFrame(schema=PROSPECTIVE_VALIDATION_SCHEMA)
    out = pl.concat(frames, how="diagonal_relaxed")
    return out.select([pl.col(name).cast(dtype) for name, dtype in PROSPECTIVE_VALIDATION_SCHEMA.items()])


__all__ = [
    "ARRIVED",
    "COHORTS",
    "DAYS_PER_MONTH",
    "OUTCOME_CHANGED",
    "PROSPECTIVE_VALIDATION_SCHEMA",
    "prospective_cohorts",
    "prospective_validation",
    "WHO_GRADE",
]
