"""The tables that have quality suites, severities, row-count bounds: everything about the suites that
needs no Great Expectations import (importing GX costs seconds, so `quality.runner` and the Dagster
definitions that import it only pay that when a validation actually runs)."""

from __future__ import annotations

import math
from typing import Literal

Severity = Literal["blocking", "warning"]
BLOCKING: Severity = "blocking"
WARNING: Severity = "warning"

RAW_TABLES: tuple[str, ...] = (
    "raw/gdc_cases",
    "raw/gdc_ssm_occurrences",
    "raw/gdc_cnv_occurrences",
    "raw/gdc_methylation_files",
    "raw/mgmt_probe_betas",
    "raw/gdc_expression_files",
    "raw/expression_file_qc",
)
HARMONISED_TABLES: tuple[str, ...] = (
    "harmonised/patients",
    "harmonised/molecular_markers",
    "harmonised/who_cns5_class",
    "harmonised/expression_samples",
    "harmonised/quarantine",
)

ANALYSIS_TABLES: tuple[str, ...] = (
    "harmonised/expression_subtypes",
    "analytics/differential_expression",
    "analytics/enrichment",
    "analytics/survival_by_gene",
)

DEFAULT_ROW_COUNT_RELATIVE_BOUND = 0.25
MIN_ROW_COUNT_PARAMETER = "min_row_count"
MAX_ROW_COUNT_PARAMETER = "max_row_count"
RELEASE_PARAMETER = "release"


def suite_name_for(table_name: str) -> str:
    """GX suite name of a lake table (`raw/gdc_cases` -> `raw.gdc_cases`; no `/` so Data Docs paths stay flat)."""
    return table_name.replace("/", ".")


def row_count_bounds(
    previous_row_count: int, relative_bound: float = DEFAULT_ROW_COUNT_RELATIVE_BOUND
) -> tuple[int, int]:
    """Allowed row count of this release given the previous release's: previous × (1 ± relative_bound),
    widened outward to whole rows (so 100 rows ±25 % allows 75..125, and 0 previous rows allows only 0)."""
    if previous_row_count < 0:
        raise ValueError(f"previous_row_count must be >= 0, got {previous_row_count}")
    if not 0.0 <= relative_bound:
        raise ValueError(f"relative_bound must be >= 0, got {relative_bound}")
    low = math.floor(previous_row_count * (1.0 - relative_bound))
    high = math.ceil(previous_row_count * (1.0 + relative_bound))
    return max(low, 0), high


QUALITY_TABLES: tuple[str, ...] = RAW_TABLES + HARMONISED_TABLES + ANALYSIS_TABLES

# Columns whose values identify an offending row in a failure report (the first present one is used).
ROW_KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "raw/gdc_cases": ("case_id",),
    "raw/gdc_ssm_occurrences": ("ssm_occurrence_id",),
    "raw/gdc_cnv_occurrences": ("cnv_occurrence_id",),
    "raw/gdc_methylation_files": ("file_id",),
    "raw/mgmt_probe_betas": ("file_id", "probe_id"),
    "harmonised/patients": ("case_id",),
    "harmonised/molecular_markers": ("case_id",),
    "harmonised/who_cns5_class": ("case_id",),
    "raw/gdc_expression_files": ("file_id",),
    "raw/expression_file_qc": ("file_id",),
    "harmonised/expression_samples": ("file_id",),
    "harmonised/quarantine": ("case_id", "field"),
    "harmonised/expression_subtypes": ("case_id",),
    "analytics/differential_expression": ("contrast", "gene_name"),
    "analytics/enrichment": ("contrast", "gene_set"),
    "analytics/survival_by_gene": ("cohort", "method", "gene_name"),
}


class UnknownTableError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


def check_table_name(table_name: str) -> None:
    if table_name not in QUALITY_TABLES:
        raise UnknownTableError(f"no quality suite for table {table_name!r}; known tables: {', '.join(QUALITY_TABLES)}")
