"""The expression analyses' suites pass on tables the analyses build from synthetic data, and each planted defect
(a statistics bug's signature) fails exactly its expectation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl
import pytest

from analyses.cohorts import contrast_labels, survival_cohort_members
from analyses.matrix import ExpressionMatrix
from analyses.release_results import enrichment_table, subtype_table, survival_by_gene_table
from quality.runner import validate_table

RELEASE = "45.0"


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(5)
    patients, genes = 80, 60
    case_ids = [f"case-{i:03d}" for i in range(patients)]
    counts = rng.poisson(50, (patients, genes))
    matrix = ExpressionMatrix(
        case_ids,
        [f"ENSG{i:011d}.1" for i in range(genes)],
        ["EGFR", "PDGFRA", "PLAUR", *[f"G{i}" for i in range(genes - 3)]],
        counts,
        np.log2(counts + 1.0),
    )
    clinical = pl.DataFrame(
        {
            "case_id": case_ids,
            "project_id": ["TCGA-GBM", "TCGA-LGG"] * (patients // 2),
            "overall_survival_days": rng.uniform(30, 3000, patients).round(),
            "death_observed": rng.random(patients) < 0.6,
        }
    )
    markers = pl.DataFrame({"case_id": case_ids, "idh_status": ["mutant", "wildtype"] * (patients // 2)})
    differential = pl.DataFrame(
        {
            "release": RELEASE,
            "contrast": "gbm_vs_lgg",
            "numerator_group": "GBM",
            "reference_group": "LGG",
            "population": "all",
            "model_derived": False,
            "n_numerator": 40,
            "n_reference": 40,
            "gene_id": matrix.gene_ids,
            "gene_name": matrix.gene_names,
            "base_mean": 50.0,
            "log2_fold_change": rng.normal(0, 1, genes),
            "log2_fold_change_shrunken": 0.0,
            "log2_fold_change_standard_error": 0.2,
            "wald_statistic": rng.normal(0, 2, genes),
            "p_value": rng.uniform(0, 0.5, genes),
            "gene_filter": "count >= 10",
            "method": "test",
        }
    ).with_columns(adjusted_p_value=pl.min_horizontal(pl.col("p_value") * 2, pl.lit(1.0)))
    assert contrast_labels(clinical, markers.with_columns(codeletion_1p19q=None), None).height
    return {
        "analytics/differential_expression": differential,
        "analytics/enrichment": enrichment_table(differential, RELEASE, permutations=20, threads=1),
        "harmonised/expression_subtypes": subtype_table(matrix, RELEASE, permutations=100),
        "analytics/survival_by_gene": survival_by_gene_table(
            matrix, survival_cohort_members(clinical, markers), RELEASE
        ),
    }


@pytest.mark.parametrize(
    "table_name",
    [
        "analytics/differential_expression",
        "analytics/enrichment",
        "harmonised/expression_subtypes",
        "analytics/survival_by_gene",
    ],
)
def test_the_analyses_own_tables_pass(tables, table_name):
    report = validate_table(table_name, tables[table_name], release=RELEASE)
    assert report.blocking_failures == [] and report.warning_failures == []


DEFECTS: dict[str, tuple[str, Callable[[pl.DataFrame], pl.DataFrame], str]] = {
    "adjusted below raw p": (
        "analytics/differential_expression",
        lambda f: f.with_columns(adjusted_p_value=pl.col("p_value") / 2),
        "expect_column_pair_values_a_to_be_greater_than_b",
    ),
    "a gene twice in a contrast": (
        "analytics/differential_expression",
        lambda f: pl.concat([f, f.head(1)]),
        "expect_compound_columns_to_be_unique",
    ),
    "hazard ratio outside its interval": (
        "analytics/survival_by_gene",
        lambda f: f.with_columns(ci_low=pl.col("hazard_ratio") * 1.5),
        "expect_column_pair_values_a_to_be_greater_than_b",
    ),
    "a searched cut-point not flagged": (
        "analytics/survival_by_gene",
        lambda f: f.with_columns(cut_point_searched=False),
        "expect_column_values_to_be_in_set",
    ),
    "an empirical p of zero": (
        "harmonised/expression_subtypes",
        lambda f: f.with_columns(classical_p_value=0.0),
        "expect_column_values_to_be_between",
    ),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_each_defect_fails_its_expectation(tables, defect):
    table_name, corrupt, expectation = DEFECTS[defect]
    report = validate_table(table_name, corrupt(tables[table_name]), release=RELEASE)
    failed = {row["expectation_type"] for row in report.results if not row["success"]}
    assert failed == {expectation}
    assert not report.success
