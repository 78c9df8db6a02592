"""Great Expectations (GX 1.x) suites as code: one builder per lake table.

Every expectation carries its severity twice: `meta["severity"]` (`blocking` / `warning`, what the
runner and the Dagster asset checks read) and GX's own `severity` field (`critical` / `warning`, what
Data Docs shows). Blocking = a failure would corrupt what is downstream (keys, ids, the partition,
ranges the models consume, the survival endpoint, vocabularies that drive the WHO class); warning =
worth a look but not worth stopping the run for (descriptive vocabularies drifting, row-count change).
On raw tables, a bad *record* that the harmonising transforms quarantine is a warning (see the comment
above `_QUARANTINED_DOWNSTREAM`); the same rule blocks on the harmonised table.

The row-count-change expectation uses GX suite parameters (`$PARAMETER` `min_row_count` /
`max_row_count`) so one cached suite serves every release; the runner supplies the bounds from the
previous release's count (`row_count_bounds`). A suite built with `with_row_count_change=False` (no
previous release) leaves it out and the runner records why.

Builders are pure (no context, no data): they return a fresh `gx.ExpectationSuite`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.metadata_types import FailureSeverity
from great_expectations.expectations.row_conditions import (
    AndCondition,
    Column,
    ComparisonCondition,
    Condition,
    NullityCondition,
    OrCondition,
)

from contracts.panels import GLIOMA_PROJECTS, MGMT_STP27_PROBES, SSM_PANEL_GENES
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

# --- patterns (non-capturing groups: pandas warns on capture groups) and vocabularies
# (harmonised vocabularies follow docs/contracts.md) ---------------------------------------------------------
TCGA_PATIENT_BARCODE = r"^TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}$"
TCGA_SAMPLE_BARCODE = r"^TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}-[0-9]{2}[A-Z]$"
MD5_HEX = r"^[0-9a-f]{32}$"
# GDC cnv chromosome names carry no "chr" prefix (GDC_BUNDLE.md).
GDC_CNV_CHROMOSOME = r"^(?:[1-9]|1[0-9]|2[0-2]|X|Y)$"
# ISO-8601 as GDC writes it, e.g. 2025-11-20T10:11:12.123456-06:00.
ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?$"

PROJECT_IDS: tuple[str, ...] = GLIOMA_PROJECTS
SEX_VALUES: tuple[str, ...] = ("female", "male")
# Mapped race / ethnicity: the GDC vocabulary with sentinels (not reported, Unknown, ...) mapped to null.
RACE_VALUES: tuple[str, ...] = (
    "white",
    "black or african american",
    "asian",
    "american indian or alaska native",
    "native hawaiian or other pacific islander",
    "other",
)
ETHNICITY_VALUES: tuple[str, ...] = ("hispanic or latino", "not hispanic or latino")
VITAL_STATUS_VALUES: tuple[str, ...] = ("Alive", "Dead")
HISTOLOGY_FAMILIES: tuple[str, ...] = (
    "glioblastoma",
    "astrocytoma",
    "oligodendroglioma",
    "oligoastrocytoma",
    "other",
)
WHO_GRADES: tuple[int, ...] = (2, 3, 4)
WHO_GRADE_SOURCES: tuple[str, ...] = ("tumor_grade", "project_gbm")
MUTATION_STATUS_VALUES: tuple[str, ...] = ("mutant", "wildtype")
MGMT_SOURCES: tuple[str, ...] = ("methylation_stp27", "clinical_molecular_test")
WHO_CNS5_CLASSES: tuple[str, ...] = (
    "glioblastoma, IDH-wildtype",
    "astrocytoma, IDH-mutant",
    "oligodendroglioma, IDH-mutant and 1p/19q-codeleted",
    "not classifiable",
)
NOT_CLASSIFIABLE = "not classifiable"
GLIOBLASTOMA_IDH_WILDTYPE = "glioblastoma, IDH-wildtype"
OLIGODENDROGLIOMA = "oligodendroglioma, IDH-mutant and 1p/19q-codeleted"
CNV_CHANGES: tuple[str, ...] = ("Gain", "Loss")
CNV_CHANGE_5_CATEGORIES: tuple[str, ...] = (
    "Amplification",
    "Gain",
    "Heterozygous Deletion",
    "Homozygous Deletion",
    "Loss",
)
METHYLATION_PLATFORMS: tuple[str, ...] = ("Illumina Human Methylation 450", "Illumina Human Methylation 27")
TUMOUR_SAMPLE_TYPES: tuple[str, ...] = ("Primary Tumor", "Recurrent Tumor")

# --- helpers that build tagged expectations ------------------------------------------------------------

_GX_SEVERITY = {BLOCKING: FailureSeverity.CRITICAL, WARNING: FailureSeverity.WARNING}


def _tag(expectation: Expectation, severity: Severity, why: str) -> Expectation:
    expectation.meta = {"severity": severity, "why": why}
    expectation.severity = _GX_SEVERITY[severity]
    expectation.notes = f"[{severity}] {why}"
    return expectation


def _release_is_partition(why: str = "every row belongs to the release partition being validated") -> Expectation:
    # The release is a suite parameter: one cached suite validates every partition.
    return _tag(
        gxe.ExpectColumnValuesToBeInSet(column="release", value_set={"$PARAMETER": RELEASE_PARAMETER}),
        BLOCKING,
        why,
    )


def _not_null(column: str, severity: Severity = BLOCKING, why: str | None = None) -> Expectation:
    return _tag(
        gxe.ExpectColumnValuesToNotBeNull(column=column), severity, why or f"{column} is an id or required field"
    )


def _unique(column: str, why: str, severity: Severity = BLOCKING) -> Expectation:
    return _tag(gxe.ExpectColumnValuesToBeUnique(column=column), severity, why)


def _in_set(column: str, values: tuple[Any, ...], severity: Severity, why: str) -> Expectation:
    return _tag(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(values)), severity, why)


def _regex(column: str, regex: str, severity: Severity, why: str) -> Expectation:
    return _tag(gxe.ExpectColumnValuesToMatchRegex(column=column, regex=regex), severity, why)


def _between(
    column: str,
    min_value: float | None,
    max_value: float | None,
    severity: Severity,
    why: str,
    *,
    strict_min: bool = False,
) -> Expectation:
    return _tag(
        gxe.ExpectColumnValuesToBeBetween(
            column=column, min_value=min_value, max_value=max_value, strict_min=strict_min
        ),
        severity,
        why,
    )


def _barcode(severity: Severity = BLOCKING, why: str = "") -> list[Expectation]:
    return [
        _not_null("submitter_id", severity, f"the TCGA barcode identifies the patient{why}"),
        _regex("submitter_id", TCGA_PATIENT_BARCODE, severity, f"12-character TCGA patient barcode{why}"),
    ]


# Raw tables keep what GDC sent. A bad *record* there (no case id, a malformed barcode, a duplicated or
# unparseable case document, a beta outside [0, 1], a conflicting probe beta) is what the harmonising
# transforms quarantine, reason by reason; blocking on it in raw would stop the very step that
# quarantines it, and the whole release for one record. So those rules are warnings on raw tables and
# blocking on the harmonised tables, where quarantine must have removed them. Raw rules stay blocking
# where nothing downstream can repair the table: wrong partition, out-of-scope project (a broken fetch
# filter), duplicate occurrence / file ids (a paging bug), a lost document, md5 / size integrity.
_QUARANTINED_DOWNSTREAM = "; quarantined by the harmonising transforms, blocking on the harmonised table"
_NOT_THE_JOIN_KEY = "; the marker calls join on case_id (the case's own barcode is checked on raw/gdc_cases)"


def _project() -> Expectation:
    return _in_set("project_id", PROJECT_IDS, BLOCKING, "only the glioma projects TCGA-GBM and TCGA-LGG are in scope")


def _case_keys(barcode_severity: Severity = BLOCKING, barcode_why: str = "") -> list[Expectation]:
    return [
        _release_is_partition(),
        _not_null("case_id", why="case_id is the join key of every layer"),
        _unique("case_id", "one row per case and release"),
        *_barcode(barcode_severity, barcode_why),
        _project(),
    ]


def _row_count_change() -> Expectation:
    return _tag(
        gxe.ExpectTableRowCountToBeBetween(
            min_value={"$PARAMETER": MIN_ROW_COUNT_PARAMETER}, max_value={"$PARAMETER": MAX_ROW_COUNT_PARAMETER}
        ),
        WARNING,
        "row count within the configured relative bound of the previous release's count",
    )


def _suite(table_name: str, expectations: list[Expectation], with_row_count_change: bool) -> gx.ExpectationSuite:
    if with_row_count_change:
        expectations = [*expectations, _row_count_change()]
    return gx.ExpectationSuite(
        name=suite_name_for(table_name),
        expectations=expectations,
        meta={"table": table_name, "row_count_change_checked": with_row_count_change},
    )


# --- raw tables -------------------------------------------------------------------------------------------


def raw_gdc_cases_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return _suite(
        "raw/gdc_cases",
        [
            _release_is_partition(),
            _not_null("case_id", WARNING, "case_id is the join key of every layer" + _QUARANTINED_DOWNSTREAM),
            _unique(
                "case_id",
                "one document per case (duplicates: paging bug or GDC duplicate)" + _QUARANTINED_DOWNSTREAM,
                WARNING,
            ),
            *_barcode(WARNING, _QUARANTINED_DOWNSTREAM),
            _project(),
            _not_null("document", why="the raw layer keeps every GDC document losslessly"),
            _tag(
                gxe.ExpectColumnValuesToBeJsonParseable(column="document"),
                WARNING,
                "document is the hit as JSON text" + _QUARANTINED_DOWNSTREAM,
            ),
            _regex("updated_datetime", ISO_DATETIME, WARNING, "GDC timestamps are ISO-8601 (null when omitted)"),
        ],
        with_row_count_change,
    )


def raw_gdc_ssm_occurrences_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return _suite(
        "raw/gdc_ssm_occurrences",
        [
            _release_is_partition(),
            _not_null("ssm_occurrence_id", why="the occurrence id is the raw key"),
            _unique("ssm_occurrence_id", "one row per ssm occurrence"),
            _not_null(
                "case_id", WARNING, "an occurrence without a case cannot be attributed" + _QUARANTINED_DOWNSTREAM
            ),
            *_barcode(WARNING, _NOT_THE_JOIN_KEY),
            _project(),
            _not_null("ssm_id"),
            _not_null("document", why="the raw layer keeps every GDC document losslessly"),
        ],
        with_row_count_change,
    )


def raw_gdc_cnv_occurrences_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return _suite(
        "raw/gdc_cnv_occurrences",
        [
            _release_is_partition(),
            _not_null("cnv_occurrence_id", why="the occurrence id is the raw key"),
            _unique("cnv_occurrence_id", "one row per cnv occurrence"),
            _not_null(
                "case_id", WARNING, "an occurrence without a case cannot be attributed" + _QUARANTINED_DOWNSTREAM
            ),
            *_barcode(WARNING, _NOT_THE_JOIN_KEY),
            _project(),
            _not_null("cnv_id"),
            _not_null("cnv_change", why="1p/19q, 7+/10-, EGFR and CDKN2A calls read the change"),
            _in_set("cnv_change", CNV_CHANGES, WARNING, "GDC vocabulary: Gain / Loss"),
            _in_set("cnv_change_5_category", CNV_CHANGE_5_CATEGORIES, WARNING, "GDC five-category vocabulary"),
            _regex("chromosome", GDC_CNV_CHROMOSOME, WARNING, "GDC cnv chromosome names carry no chr prefix"),
            _not_null("document", why="the raw layer keeps every GDC document losslessly"),
        ],
        with_row_count_change,
    )


def raw_gdc_methylation_files_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return _suite(
        "raw/gdc_methylation_files",
        [
            _release_is_partition(),
            _not_null("file_id", why="downloads are keyed by file id"),
            _unique("file_id", "one row per file"),
            _not_null("md5sum", why="every download is verified against its md5"),
            _regex("md5sum", MD5_HEX, BLOCKING, "md5 is 32 lowercase hex digits"),
            _not_null("file_size", why="file_size is checked against the downloaded bytes"),
            _between("file_size", 0, None, BLOCKING, "an empty methylation file holds no betas", strict_min=True),
            _not_null("file_name"),
            _not_null("case_id", WARNING, "a file without a case cannot be attributed" + _QUARANTINED_DOWNSTREAM),
            *_barcode(WARNING, _NOT_THE_JOIN_KEY),
            _project(),
            _in_set("platform", METHYLATION_PLATFORMS, WARNING, "MGMT-STP27 is defined for the 450k/27k arrays"),
            _regex("sample_submitter_id", TCGA_SAMPLE_BARCODE, WARNING, "TCGA sample barcode, e.g. TCGA-06-0125-01A"),
            _in_set("sample_type", TUMOUR_SAMPLE_TYPES, WARNING, "MGMT status is read on tumour samples"),
            _not_null("document", why="the raw layer keeps every GDC document losslessly"),
        ],
        with_row_count_change,
    )


def raw_mgmt_probe_betas_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return _suite(
        "raw/mgmt_probe_betas",
        [
            _release_is_partition(),
            _not_null("file_id", why="betas are keyed by file and probe"),
            _not_null("probe_id", why="betas are keyed by file and probe"),
            _tag(
                gxe.ExpectCompoundColumnsToBeUnique(column_list=["file_id", "probe_id"]),
                WARNING,
                "one beta per file and probe" + _QUARANTINED_DOWNSTREAM,
            ),
            _in_set("probe_id", MGMT_STP27_PROBES, BLOCKING, "only the MGMT-STP27 probes are extracted"),
            _between(
                "beta",
                0.0,
                1.0,
                WARNING,
                "a beta is a methylated fraction in [0, 1] (null for NA)" + _QUARANTINED_DOWNSTREAM,
            ),
            _regex("md5sum", MD5_HEX, BLOCKING, "md5 of the file the beta came from"),
            _not_null("case_id", WARNING, "a beta without a case cannot be attributed" + _QUARANTINED_DOWNSTREAM),
            *_barcode(WARNING, _NOT_THE_JOIN_KEY),
            _in_set("platform", METHYLATION_PLATFORMS, WARNING, "MGMT-STP27 is defined for the 450k/27k arrays"),
        ],
        with_row_count_change,
    )


# --- harmonised tables ---------------------------------------------------------------------------------


def harmonised_patients_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return _suite(
        "harmonised/patients",
        [
            *_case_keys(),
            _in_set("sex", SEX_VALUES, WARNING, "mapped sex vocabulary (null for sentinels)"),
            _in_set("race", RACE_VALUES, WARNING, "mapped race vocabulary (null for sentinels)"),
            _in_set("ethnicity", ETHNICITY_VALUES, WARNING, "mapped ethnicity vocabulary (null for sentinels)"),
            _in_set(
                "vital_status", VITAL_STATUS_VALUES, WARNING, "mapped vital status (Unknown / Not Reported -> null)"
            ),
            _in_set("histology_family", HISTOLOGY_FAMILIES, BLOCKING, "histology family is a model feature"),
            _between(
                "age_at_diagnosis_years", 0, 120, BLOCKING, "age in years; days not divided by 365.25 would exceed it"
            ),
            _between(
                "overall_survival_days", 0, None, BLOCKING, "a negative survival time corrupts the survival models"
            ),
            _between("karnofsky_score", 0, 100, BLOCKING, "Karnofsky performance status is 0-100"),
            _in_set("who_grade", WHO_GRADES, BLOCKING, "WHO grade of diffuse glioma is 2, 3 or 4 (grading target)"),
            _in_set("who_grade_source", WHO_GRADE_SOURCES, WARNING, "where the grade came from"),
            _tag(
                gxe.ExpectColumnValuesToNotBeNull(
                    column="who_grade_missing_reason", row_condition=Column("who_grade").is_null()
                ),
                WARNING,
                "a missing grade states why it is missing",
            ),
            _tag(
                gxe.ExpectColumnValuesToNotBeNull(
                    column="death_observed", row_condition=Column("overall_survival_days").is_not_null()
                ),
                BLOCKING,
                "a survival time needs its event flag",
            ),
            _tag(
                gxe.ExpectColumnValuesToNotBeNull(
                    column="overall_survival_days", row_condition=Column("death_observed").is_not_null()
                ),
                BLOCKING,
                "an event flag needs its survival time",
            ),
            _tag(
                gxe.ExpectColumnValuesToBeInSet(
                    column="vital_status",
                    value_set=["Dead"],
                    row_condition=Column("death_observed") == True,  # noqa: E712
                ),
                BLOCKING,
                "an observed death means vital_status Dead",
            ),
            _not_null(
                "survival_rule",
                BLOCKING,
                "every endpoint records which branch of the survival rule produced it",
            ),
        ],
        with_row_count_change,
    )


MUTATION_COLUMNS: tuple[str, ...] = tuple(f"mutation_{gene.lower()}" for gene in SSM_PANEL_GENES)


def harmonised_molecular_markers_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return _suite(
        "harmonised/molecular_markers",
        [
            # The marker table keeps every raw case with an id, also one harmonised/patients quarantined for
            # a bad barcode (a case key, not a model input); blocking here would stop the release for a case
            # already quarantined. The barcode rules block on harmonised/patients and who_cns5_class.
            *_case_keys(WARNING, "; blocking on harmonised/patients, which quarantines bad barcodes"),
            _not_null("ssm_profiled", why="profiling flags decide wild type vs unknown"),
            _not_null("cnv_profiled", why="profiling flags decide wild type vs unknown"),
            _in_set("idh_status", MUTATION_STATUS_VALUES, BLOCKING, "IDH status drives the WHO CNS5 class"),
            *[
                _in_set(column, MUTATION_STATUS_VALUES, WARNING, "mutation status vocabulary")
                for column in (*MUTATION_COLUMNS, "atrx_status", "tp53_status", "tert_status")
            ],
            _between("mgmt_stp27_probability", 0.0, 1.0, BLOCKING, "MGMT-STP27 output is a probability"),
            _in_set("mgmt_source", MGMT_SOURCES, WARNING, "where the MGMT call came from"),
            _tag(
                gxe.ExpectColumnValuesToNotBeNull(
                    column="mgmt_source", row_condition=Column("mgmt_promoter_methylated").is_not_null()
                ),
                WARNING,
                "an MGMT call records its source",
            ),
        ],
        with_row_count_change,
    )


def harmonised_who_cns5_class_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return _suite(
        "harmonised/who_cns5_class",
        [
            *_case_keys(),
            _not_null("who_cns5_class", why="every case gets a class or 'not classifiable'"),
            _in_set("who_cns5_class", WHO_CNS5_CLASSES, BLOCKING, "WHO CNS5 2021 adult diffuse glioma classes"),
            _in_set("who_cns5_grade", WHO_GRADES, BLOCKING, "WHO CNS5 grades 2-4"),
            _tag(
                gxe.ExpectColumnValuesToNotBeNull(
                    column="not_classifiable_reason", row_condition=Column("who_cns5_class") == NOT_CLASSIFIABLE
                ),
                WARNING,
                "'not classifiable' names the missing marker",
            ),
            # WHO CNS5 grades by type: IDH-wildtype glioblastoma is grade 4 by definition, and the
            # oligodendroglioma type has no grade 4. (A missing histological grade legitimately leaves the
            # grade of an IDH-mutant type null, so there is no not-null rule for those.)
            _tag(
                gxe.ExpectColumnValuesToBeInSet(
                    column="who_cns5_grade",
                    value_set=[4],
                    row_condition=Column("who_cns5_class") == GLIOBLASTOMA_IDH_WILDTYPE,
                ),
                BLOCKING,
                "glioblastoma, IDH-wildtype is CNS WHO grade 4",
            ),
            _tag(
                gxe.ExpectColumnValuesToNotBeNull(
                    column="who_cns5_grade", row_condition=Column("who_cns5_class") == GLIOBLASTOMA_IDH_WILDTYPE
                ),
                BLOCKING,
                "glioblastoma, IDH-wildtype always has its grade 4",
            ),
            _tag(
                gxe.ExpectColumnValuesToBeInSet(
                    column="who_cns5_grade",
                    value_set=[2, 3],
                    row_condition=Column("who_cns5_class") == OLIGODENDROGLIOMA,
                ),
                BLOCKING,
                "oligodendroglioma, IDH-mutant and 1p/19q-codeleted is CNS WHO grade 2 or 3",
            ),
        ],
        with_row_count_change,
    )


def harmonised_quarantine_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    # A quarantined record may be there *because* its ids are bad, so no barcode/id-shape rules here.
    return _suite(
        "harmonised/quarantine",
        [
            _release_is_partition(),
            _not_null("table", why="the raw table the record came from"),
            _in_set("table", RAW_TABLES + HARMONISED_TABLES, WARNING, "a known lake table"),
            _not_null("reason", why="a machine-stable reason code is required"),
            _regex("reason", r"^[a-z0-9_]+$", WARNING, "reason codes are snake_case"),
            _not_null("detail", why="a human sentence naming case, field and value"),
            _not_null("record", why="the whole raw document is kept so nothing is lost"),
        ],
        with_row_count_change,
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
