"""Quality suites of the raw tables (quality.suites): what GDC sent, as the raw assets wrote it.

A bad *record* that the harmonising transforms quarantine is a warning here and blocking on the
harmonised table (see the comment above `_QUARANTINED_DOWNSTREAM`).
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from contracts.panels import MGMT_STP27_PROBES
from quality.expectations import (
    CNV_CHANGE_5_CATEGORIES,
    CNV_CHANGES,
    GDC_CNV_CHROMOSOME,
    ISO_DATETIME,
    MD5_HEX,
    METHYLATION_PLATFORMS,
    TCGA_SAMPLE_BARCODE,
    TUMOUR_SAMPLE_TYPES,
    barcode,
    between,
    expectation_suite,
    file_documents,
    in_set,
    matches_regex,
    not_null,
    project,
    release_is_partition,
    tag,
    unique,
)
from quality.tables import BLOCKING, WARNING

# Raw tables keep what GDC sent. A bad *record* there (no case id, a malformed barcode, a duplicated or
# unparseable case document, a beta outside [0, 1], a conflicting probe beta) is what the harmonising
# transforms quarantine, reason by reason; blocking on it in raw would stop the very step that
# quarantines it, and the whole release for one record. So those rules are warnings on raw tables and
# blocking on the harmonised tables, where quarantine must have removed them. Raw rules stay blocking
# where nothing downstream can repair the table: wrong partition, out-of-scope project (a broken fetch
# filter), duplicate occurrence / file ids (a paging bug), a lost document, md5 / size integrity.
_QUARANTINED_DOWNSTREAM = "; quarantined by the harmonising transforms, blocking on the harmonised table"
_NOT_THE_JOIN_KEY = "; the marker calls join on case_id (the case's own barcode is checked on raw/gdc_cases)"


def raw_gdc_cases_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return expectation_suite(
        "raw/gdc_cases",
        [
            release_is_partition(),
            not_null("case_id", WARNING, "case_id is the join key of every layer" + _QUARANTINED_DOWNSTREAM),
            unique(
                "case_id",
                "one document per case (duplicates: paging bug or GDC duplicate)" + _QUARANTINED_DOWNSTREAM,
                WARNING,
            ),
            *barcode(WARNING, _QUARANTINED_DOWNSTREAM),
            project(),
            not_null("document", why="the raw layer keeps every GDC document losslessly"),
            tag(
                gxe.ExpectColumnValuesToBeJsonParseable(column="document"),
                WARNING,
                "document is the hit as JSON text" + _QUARANTINED_DOWNSTREAM,
            ),
            matches_regex("updated_datetime", ISO_DATETIME, WARNING, "GDC timestamps are ISO-8601 (null when omitted)"),
        ],
        with_row_count_change,
    )


def raw_gdc_ssm_occurrences_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return expectation_suite(
        "raw/gdc_ssm_occurrences",
        [
            release_is_partition(),
            not_null("ssm_occurrence_id", why="the occurrence id is the raw key"),
            unique("ssm_occurrence_id", "one row per ssm occurrence"),
            not_null("case_id", WARNING, "an occurrence without a case cannot be attributed" + _QUARANTINED_DOWNSTREAM),
            *barcode(WARNING, _NOT_THE_JOIN_KEY),
            project(),
            not_null("ssm_id"),
            not_null("document", why="the raw layer keeps every GDC document losslessly"),
        ],
        with_row_count_change,
    )


def raw_gdc_cnv_occurrences_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return expectation_suite(
        "raw/gdc_cnv_occurrences",
        [
            release_is_partition(),
            not_null("cnv_occurrence_id", why="the occurrence id is the raw key"),
            unique("cnv_occurrence_id", "one row per cnv occurrence"),
            not_null("case_id", WARNING, "an occurrence without a case cannot be attributed" + _QUARANTINED_DOWNSTREAM),
            *barcode(WARNING, _NOT_THE_JOIN_KEY),
            project(),
            not_null("cnv_id"),
            not_null("cnv_change", why="1p/19q, 7+/10-, EGFR and CDKN2A calls read the change"),
            in_set("cnv_change", CNV_CHANGES, WARNING, "GDC vocabulary: Gain / Loss"),
            in_set("cnv_change_5_category", CNV_CHANGE_5_CATEGORIES, WARNING, "GDC five-category vocabulary"),
            matches_regex("chromosome", GDC_CNV_CHROMOSOME, WARNING, "GDC cnv chromosome names carry no chr prefix"),
            not_null("document", why="the raw layer keeps every GDC document losslessly"),
        ],
        with_row_count_change,
    )


def raw_gdc_methylation_files_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return expectation_suite(
        "raw/gdc_methylation_files",
        [
            *file_documents("an empty methylation file holds no betas"),
            not_null("file_name"),
            not_null("case_id", WARNING, "a file without a case cannot be attributed" + _QUARANTINED_DOWNSTREAM),
            *barcode(WARNING, _NOT_THE_JOIN_KEY),
            project(),
            in_set("platform", METHYLATION_PLATFORMS, WARNING, "MGMT-STP27 is defined for the 450k/27k arrays"),
            matches_regex(
                "sample_submitter_id", TCGA_SAMPLE_BARCODE, WARNING, "TCGA sample barcode, e.g. TCGA-06-0125-01A"
            ),
            in_set("sample_type", TUMOUR_SAMPLE_TYPES, WARNING, "MGMT status is read on tumour samples"),
            not_null("document", why="the raw layer keeps every GDC document losslessly"),
        ],
        with_row_count_change,
    )


def raw_mgmt_probe_betas_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return expectation_suite(
        "raw/mgmt_probe_betas",
        [
            release_is_partition(),
            not_null("file_id", why="betas are keyed by file and probe"),
            not_null("probe_id", why="betas are keyed by file and probe"),
            tag(
                gxe.ExpectCompoundColumnsToBeUnique(column_list=["file_id", "probe_id"]),
                WARNING,
                "one beta per file and probe" + _QUARANTINED_DOWNSTREAM,
            ),
            in_set("probe_id", MGMT_STP27_PROBES, BLOCKING, "only the MGMT-STP27 probes are extracted"),
            between(
                "beta",
                0.0,
                1.0,
                WARNING,
                "a beta is a methylated fraction in [0, 1] (null for NA)" + _QUARANTINED_DOWNSTREAM,
            ),
            matches_regex("md5sum", MD5_HEX, BLOCKING, "md5 of the file the beta came from"),
            not_null("case_id", WARNING, "a beta without a case cannot be attributed" + _QUARANTINED_DOWNSTREAM),
            *barcode(WARNING, _NOT_THE_JOIN_KEY),
            in_set("platform", METHYLATION_PLATFORMS, WARNING, "MGMT-STP27 is defined for the 450k/27k arrays"),
        ],
        with_row_count_change,
    )
