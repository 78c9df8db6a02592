"""The building blocks of the quality suites (quality.suites): the patterns and vocabularies the expectations
check, and the helpers that build an expectation tagged with its severity and why.

Every expectation carries its severity twice: `meta["severity"]` (`blocking` / `warning`, what the runner
and the Dagster asset checks read) and GX's own `severity` field (`critical` / `warning`, what Data Docs
shows); `tag` sets both. `expectation_suite` adds the row-count-change expectation (GX suite parameters
`min_row_count` / `max_row_count`) unless the suite is built without a previous release.
"""

from __future__ import annotations

from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.metadata_types import FailureSeverity

from contracts.panels import GLIOMA_PROJECTS
from quality.tables import (
    BLOCKING,
    MAX_ROW_COUNT_PARAMETER,
    MIN_ROW_COUNT_PARAMETER,
    RELEASE_PARAMETER,
    WARNING,
    Severity,
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


def tag(expectation: Expectation, severity: Severity, why: str) -> Expectation:
    expectation.meta = {"severity": severity, "why": why}
    expectation.severity = _GX_SEVERITY[severity]
    expectation.notes = f"[{severity}] {why}"
    return expectation


def release_is_partition(why: str = "every row belongs to the release partition being validated") -> Expectation:
    # The release is a suite parameter: one cached suite validates every partition.
    return tag(
        gxe.ExpectColumnValuesToBeInSet(column="release", value_set={"$PARAMETER": RELEASE_PARAMETER}),
        BLOCKING,
        why,
    )


def not_null(column: str, severity: Severity = BLOCKING, why: str | None = None) -> Expectation:
    return tag(
        gxe.ExpectColumnValuesToNotBeNull(column=column), severity, why or f"{column} is an id or required field"
    )


def unique(column: str, why: str, severity: Severity = BLOCKING) -> Expectation:
    return tag(gxe.ExpectColumnValuesToBeUnique(column=column), severity, why)


def in_set(column: str, values: tuple[Any, ...], severity: Severity, why: str) -> Expectation:
    return tag(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(values)), severity, why)


def matches_regex(column: str, regex: str, severity: Severity, why: str) -> Expectation:
    return tag(gxe.ExpectColumnValuesToMatchRegex(column=column, regex=regex), severity, why)


def between(
    column: str,
    min_value: float | None,
    max_value: float | None,
    severity: Severity,
    why: str,
    *,
    strict_min: bool = False,
) -> Expectation:
    return tag(
        gxe.ExpectColumnValuesToBeBetween(
            column=column, min_value=min_value, max_value=max_value, strict_min=strict_min
        ),
        severity,
        why,
    )


def file_documents(empty_file_why: str) -> list[Expectation]:
    """What every raw table of GDC file documents keeps: the partition, one row per file id, an md5 and a size the
    download is checked against (a suite of one file type adds its own rules)."""
    return [
        release_is_partition(),
        not_null("file_id", why="downloads are keyed by file id"),
        unique("file_id", "one row per file (a duplicate is a paging bug)"),
        not_null("md5sum", why="every download is verified against its md5"),
        matches_regex("md5sum", MD5_HEX, BLOCKING, "md5 is 32 lowercase hex digits"),
        not_null("file_size", why="file_size is checked against the downloaded bytes"),
        between("file_size", 0, None, BLOCKING, empty_file_why, strict_min=True),
    ]


def barcode(severity: Severity = BLOCKING, why: str = "") -> list[Expectation]:
    return [
        not_null("submitter_id", severity, f"the TCGA barcode identifies the patient{why}"),
        matches_regex("submitter_id", TCGA_PATIENT_BARCODE, severity, f"12-character TCGA patient barcode{why}"),
    ]


def project() -> Expectation:
    return in_set("project_id", PROJECT_IDS, BLOCKING, "only the glioma projects TCGA-GBM and TCGA-LGG are in scope")


def case_keys(barcode_severity: Severity = BLOCKING, barcode_why: str = "") -> list[Expectation]:
    return [
        release_is_partition(),
        not_null("case_id", why="case_id is the join key of every layer"),
        unique("case_id", "one row per case and release"),
        *barcode(barcode_severity, barcode_why),
        project(),
    ]


def _row_count_change() -> Expectation:
    return tag(
        gxe.ExpectTableRowCountToBeBetween(
            min_value={"$PARAMETER": MIN_ROW_COUNT_PARAMETER}, max_value={"$PARAMETER": MAX_ROW_COUNT_PARAMETER}
        ),
        WARNING,
        "row count within the configured relative bound of the previous release's count",
    )


def expectation_suite(
    table_name: str, expectations: list[Expectation], with_row_count_change: bool
) -> gx.ExpectationSuite:
    if with_row_count_change:
        expectations = [*expectations, _row_count_change()]
    return gx.ExpectationSuite(
        name=suite_name_for(table_name),
        expectations=expectations,
        meta={"table": table_name, "row_count_change_checked": with_row_count_change},
    )
