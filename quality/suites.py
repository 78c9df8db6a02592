"""Great Expectations (GX 1.x) suites as code: one builder per lake table.

Every expectation carries its severity twice: `meta["severity"]` (`blocking` / `warning`, what the
runner and the Dagster asset checks read) and GX's own `severity` field (`critical` / `warning`, what
Data Docs shows). Blocking = a failure would corrupt what is downstream (keys, ids, the partition,
ranges the models consume, the survival endpoint, vocabularies that drive the WHO class); warning =
worth a look but not worth stopping the run for (descriptive vocabularies drifting, row-count change).
On raw tables, a bad *record* that the harmonising transforms quarantine is a warning (see the comment
above `_QUARANTINED_DOWNSTREAM` in quality.raw_suites); the same rule blocks on the harmonised table.

The row-count-change expectation uses GX suite parameters (`$PARAMETER` `min_row_count` /
`max_row_count`) so one cached suite serves every release; the runner supplies the bounds from the
previous release's count (`row_count_bounds`). A suite built with `with_row_count_change=False` (no
previous release) leaves it out and the runner records why.

Builders are pure (no context, no data): they return a fresh `gx.ExpectationSuite`. They live in
quality.raw_suites and quality.harmonised_suites, built from the patterns, vocabularies and tagged-expectation
helpers of quality.expectations; this module maps each table to its builder and tells which columns and
severities a suite has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache

import great_expectations as gx
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.row_conditions import (
    AndCondition,
    ComparisonCondition,
    Condition,
    NullityCondition,
    OrCondition,
)

from quality.analysis_suites import (
    analytics_differential_expression_suite,
    analytics_enrichment_suite,
    analytics_survival_by_gene_suite,
    harmonised_expression_subtypes_suite,
)
from quality.expression_suites import (
    harmonised_expression_samples_suite,
    raw_expression_file_qc_suite,
    raw_gdc_expression_files_suite,
)
from quality.harmonised_suites import (
    harmonised_molecular_markers_suite,
    harmonised_patients_suite,
    harmonised_quarantine_suite,
    harmonised_who_cns5_class_suite,
)
from quality.raw_suites import (
    raw_gdc_cases_suite,
    raw_gdc_cnv_occurrences_suite,
    raw_gdc_methylation_files_suite,
    raw_gdc_ssm_occurrences_suite,
    raw_mgmt_probe_betas_suite,
)
from quality.tables import (  # re-exported: the suites' vocabulary of tables, severities and parameters
    BLOCKING,
    DEFAULT_ROW_COUNT_RELATIVE_BOUND,
    HARMONISED_TABLES,
    MAX_ROW_COUNT_PARAMETER,
    MIN_ROW_COUNT_PARAMETER,
    QUALITY_TABLES,
    RAW_TABLES,
    RELEASE_PARAMETER,
    ROW_KEY_COLUMNS,
    WARNING,
    Severity,
    UnknownTableError,
    check_table_name,
    row_count_bounds,
    suite_name_for,
)

__all__ = [  # names of quality.tables re-exported here
    "BLOCKING",
    "WARNING",
    "Severity",
    "RAW_TABLES",
    "HARMONISED_TABLES",
    "QUALITY_TABLES",
    "ROW_KEY_COLUMNS",
    "DEFAULT_ROW_COUNT_RELATIVE_BOUND",
    "MIN_ROW_COUNT_PARAMETER",
    "MAX_ROW_COUNT_PARAMETER",
    "RELEASE_PARAMETER",
    "UnknownTableError",
    "row_count_bounds",
    "suite_name_for",
]

SUITE_BUILDERS: dict[str, Callable[[bool], gx.ExpectationSuite]] = {
    "raw/gdc_cases": raw_gdc_cases_suite,
    "raw/gdc_ssm_occurrences": raw_gdc_ssm_occurrences_suite,
    "raw/gdc_cnv_occurrences": raw_gdc_cnv_occurrences_suite,
    "raw/gdc_methylation_files": raw_gdc_methylation_files_suite,
    "raw/mgmt_probe_betas": raw_mgmt_probe_betas_suite,
    "harmonised/patients": harmonised_patients_suite,
    "harmonised/molecular_markers": harmonised_molecular_markers_suite,
    "harmonised/who_cns5_class": harmonised_who_cns5_class_suite,
    "harmonised/quarantine": harmonised_quarantine_suite,
    "raw/gdc_expression_files": raw_gdc_expression_files_suite,
    "raw/expression_file_qc": raw_expression_file_qc_suite,
    "harmonised/expression_samples": harmonised_expression_samples_suite,
    "harmonised/expression_subtypes": harmonised_expression_subtypes_suite,
    "analytics/differential_expression": analytics_differential_expression_suite,
    "analytics/enrichment": analytics_enrichment_suite,
    "analytics/survival_by_gene": analytics_survival_by_gene_suite,
}


def build_suite(table_name: str, *, with_row_count_change: bool = True) -> gx.ExpectationSuite:
    check_table_name(table_name)
    return SUITE_BUILDERS[table_name](with_row_count_change)


def _condition_columns(condition: Condition | None) -> Iterator[str]:
    if isinstance(condition, (ComparisonCondition, NullityCondition)):
        yield condition.column.name
    elif isinstance(condition, (AndCondition, OrCondition)):
        for part in condition.conditions:
            yield from _condition_columns(part)


def expectation_columns(expectation: Expectation) -> list[str]:
    """The columns an expectation reads (its domain plus any row-condition columns)."""
    columns: list[str] = []
    for attribute in ("column", "column_A", "column_B"):
        value = getattr(expectation, attribute, None)
        if isinstance(value, str):
            columns.append(value)
    columns.extend(getattr(expectation, "column_list", None) or [])
    columns.extend(_condition_columns(getattr(expectation, "row_condition", None)))
    return list(dict.fromkeys(columns))


@cache
def _required_columns(table_name: str) -> tuple[str, ...]:
    suite = build_suite(table_name, with_row_count_change=False)
    columns: list[str] = []
    for expectation in suite.expectations:
        columns.extend(expectation_columns(expectation))
    return tuple(dict.fromkeys(columns))


def required_columns(table_name: str) -> list[str]:
    """Every column the table's suite reads, in first-use order."""
    return list(_required_columns(table_name))


def severity_of(expectation: Expectation) -> Severity:
    severity = (expectation.meta or {}).get("severity")
    if severity not in (BLOCKING, WARNING):
        raise ValueError(
            f"expectation {expectation.expectation_type} on {expectation_columns(expectation)} has no severity tag"
        )
    return severity
