"""Who is compared with whom: the contrasts of differential expression and the cohorts of survival by gene,
declared once, with their group labels computed from the lake's own harmonised tables (patients, molecular
markers, WHO CNS5 class) and, for the model-derived contrast, the champion survival model's risk groups."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from analyses.differential_expression import Contrast

GBM_PROJECT, LGG_PROJECT = "TCGA-GBM", "TCGA-LGG"

CONTRASTS: tuple[Contrast, ...] = (
    Contrast("gbm_vs_lgg", "GBM", "LGG", "every patient with expression (TCGA-GBM vs TCGA-LGG project)"),
    Contrast("idh_mutant_vs_wildtype", "IDH-mutant", "IDH-wildtype", "patients with an IDH call"),
    Contrast(
        "codeleted_vs_non_codeleted",
        "1p/19q-codeleted",
        "1p/19q-non-codeleted",
        "IDH-mutant patients with a 1p/19q call",
    ),
    Contrast(
        "high_vs_low_risk",
        "high risk",
        "low risk",
        "patients in the champion survival model's high or low risk group (model-derived groups)",
        model_derived=True,
    ),
)


def contrast_labels(patients: pl.DataFrame, markers: pl.DataFrame, risk: pl.DataFrame | None) -> pl.DataFrame:
    """One row per (contrast, case_id) with `in_numerator` (True = numerator group); patients outside a contrast's
    population have no row. `risk`: case_id, risk_group of the champion survival model (None: no model yet)."""
    frame = patients.select("case_id", "project_id").join(
        markers.select("case_id", "idh_status", "codeletion_1p19q"), on="case_id", how="left"
    )
    parts = [
        frame.filter(pl.col("project_id").is_in([GBM_PROJECT, LGG_PROJECT])).select(
            "case_id", in_numerator=pl.col("project_id") == GBM_PROJECT, contrast=pl.lit("gbm_vs_lgg")
        ),
        frame.filter(pl.col("idh_status").is_in(["mutant", "wildtype"])).select(
            "case_id", in_numerator=pl.col("idh_status") == "mutant", contrast=pl.lit("idh_mutant_vs_wildtype")
        ),
        frame.filter((pl.col("idh_status") == "mutant") & pl.col("codeletion_1p19q").is_not_null()).select(
            "case_id", in_numerator=pl.col("codeletion_1p19q"), contrast=pl.lit("codeleted_vs_non_codeleted")
        ),
    ]
    if risk is not None:
        parts.append(
            risk.filter(pl.col("risk_group").is_in(["high", "low"])).select(
                "case_id", in_numerator=pl.col("risk_group") == "high", contrast=pl.lit("high_vs_low_risk")
            )
        )
    return pl.concat(parts).select("contrast", "case_id", "in_numerator").sort("contrast", "case_id")


@dataclass(frozen=True)
class SurvivalCohort:
    name: str
    description: str
    stratified_by_idh: bool = False
    note: str = ""


SURVIVAL_COHORTS: tuple[SurvivalCohort, ...] = (
    SurvivalCohort("gbm", "TCGA-GBM patients"),
    SurvivalCohort("lgg", "TCGA-LGG patients"),
    SurvivalCohort(
        "pooled",
        "TCGA-GBM and TCGA-LGG patients together",
        note="pooled glioma: IDH status dominates survival, so a gene that tracks IDH looks prognostic here "
        "(read the IDH-stratified row)",
    ),
    SurvivalCohort(
        "pooled_idh_stratified",
        "patients with an IDH call, Cox model stratified by IDH status (a baseline hazard per IDH class)",
        stratified_by_idh=True,
    ),
)


def survival_cohort_members(patients: pl.DataFrame, markers: pl.DataFrame) -> pl.DataFrame:
    """One row per (cohort, case_id) with overall_survival_days, death_observed and idh_status: patients with
    a survival endpoint only."""
    frame = (
        patients.filter(pl.col("overall_survival_days").is_not_null() & pl.col("death_observed").is_not_null())
        .select("case_id", "project_id", "overall_survival_days", "death_observed")
        .join(markers.select("case_id", "idh_status"), on="case_id", how="left")
    )
    return pl.concat(
        [
            frame.filter(pl.col("project_id") == GBM_PROJECT).with_columns(cohort=pl.lit("gbm")),
            frame.filter(pl.col("project_id") == LGG_PROJECT).with_columns(cohort=pl.lit("lgg")),
            frame.with_columns(cohort=pl.lit("pooled")),
            frame.filter(pl.col("idh_status").is_in(["mutant", "wildtype"])).with_columns(
                cohort=pl.lit("pooled_idh_stratified")
            ),
        ]
    ).select("cohort", "case_id", "overall_survival_days", "death_observed", "idh_status")
