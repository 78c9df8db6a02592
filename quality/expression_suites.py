"""Quality suites of the gene expression tables (quality.suites). They check files, not gene rows: every
file-level fact (header, gene model, counts non-negative integers, TPM sum, duplicate genes, the gene set) is
computed once while the file is parsed (raw/expression_file_qc) and checked here, so the checks cost the same
at 10,000 samples as at 400. Unusable files are quarantined by the harmonising step: a warning on raw, blocking
on harmonised/expression_samples (where only usable files may be `used`).
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.row_conditions import Column

from contracts.schemas import EXPECTED_GENE_MODEL, MAX_GENES_PER_FILE
from quality.expectations import (
    TCGA_SAMPLE_BARCODE,
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

# TPM is rounded to 4 decimals per gene by GDC: 60,660 genes round to within ~3 of 10^6; 0.5 % allows more
# than rounding and still catches a file with lost genes or a wrong column.
TPM_SUM_RELATIVE_TOLERANCE = 0.005
_QUARANTINED = "; unusable files are quarantined by harmonise_expression, blocking on harmonised/expression_samples"
_USED = Column("used") == True  # noqa: E712 (a GX row condition, not a Python comparison)


def _used(expectation_class: type, severity: str, why: str, **kwargs) -> gxe.Expectation:
    return tag(expectation_class(row_condition=_USED, **kwargs), severity, why)  # type: ignore[arg-type]


def raw_gdc_expression_files_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return expectation_suite(
        "raw/gdc_expression_files",
        [
            *file_documents("an empty expression file holds no genes"),
            not_null("case_id", WARNING, "a file without a case cannot be attributed" + _QUARANTINED),
            *barcode(WARNING, "; the expression samples join on case_id"),
            project(),
            matches_regex("sample_submitter_id", TCGA_SAMPLE_BARCODE, WARNING, "TCGA sample barcode"),
            not_null("document", why="the raw layer keeps every GDC document losslessly"),
        ],
        with_row_count_change,
    )


def raw_expression_file_qc_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    return expectation_suite(
        "raw/expression_file_qc",
        [
            release_is_partition(),
            not_null("file_id", why="one QC row per file"),
            unique("file_id", "one QC row per file"),
            not_null("parsed", why="whether the file's rows are in raw/expression_counts"),
            tag(
                gxe.ExpectColumnValuesToBeNull(column="problem_reason"),
                WARNING,
                "every file follows GDC's STAR counts format" + _QUARANTINED,
            ),
            in_set(
                "gene_model",
                (EXPECTED_GENE_MODEL,),
                WARNING,
                f"GDC quantifies on {EXPECTED_GENE_MODEL} since DR32: another model is a GENCODE change, reported here "
                "and never mixed with the release's (harmonised/expression_samples)",
            ),
            between("gene_rows", 1, MAX_GENES_PER_FILE, WARNING, "at most the 60,660 GENCODE v36 genes" + _QUARANTINED),
            between("min_count", 0, None, WARNING, "counts are non-negative" + _QUARANTINED),
        ],
        with_row_count_change,
    )


def harmonised_expression_samples_suite(with_row_count_change: bool = True) -> gx.ExpectationSuite:
    tpm_low, tpm_high = 1e6 * (1 - TPM_SUM_RELATIVE_TOLERANCE), 1e6 * (1 + TPM_SUM_RELATIVE_TOLERANCE)
    return expectation_suite(
        "harmonised/expression_samples",
        [
            release_is_partition(),
            not_null("file_id", why="one row per expression file"),
            unique("file_id", "one row per expression file"),
            not_null("used", why="every file is used or set aside"),
            _used(gxe.ExpectColumnValuesToBeUnique, BLOCKING, "one expression sample per patient", column="case_id"),
            _used(
                gxe.ExpectColumnValuesToBeNull,
                BLOCKING,
                "a used file has no set-aside reason",
                column="set_aside_reason",
            ),
            tag(
                gxe.ExpectColumnValuesToNotBeNull(column="set_aside_reason", row_condition=Column("used") == False),  # noqa: E712
                BLOCKING,
                "a set-aside file says why (and is in the quarantine)",
            ),
            _used(
                gxe.ExpectColumnUniqueValueCountToBeBetween,
                BLOCKING,
                "one gene model across the release's used files: GENCODE versions are never mixed",
                column="gene_model",
                min_value=0,
                max_value=1,
            ),
            _used(
                gxe.ExpectColumnValuesToBeInSet,
                WARNING,
                f"the release is quantified on {EXPECTED_GENE_MODEL} (another model: a GENCODE change)",
                column="gene_model",
                value_set=[EXPECTED_GENE_MODEL],
            ),
            _used(
                gxe.ExpectColumnValuesToBeInSet,
                BLOCKING,
                "every used file lists exactly the release's genes",
                column="gene_set_matches_release",
                value_set=[True],
            ),
            _used(
                gxe.ExpectColumnValuesToBeInSet,
                BLOCKING,
                "every used file's case is a harmonised patient",
                column="case_in_patients",
                value_set=[True],
            ),
            _used(
                gxe.ExpectColumnValuesToBeBetween,
                BLOCKING,
                "counts are non-negative integers",
                column="min_count",
                min_value=0,
            ),
            _used(
                gxe.ExpectColumnValuesToBeBetween,
                BLOCKING,
                f"TPM sums to 10^6 per file (within {TPM_SUM_RELATIVE_TOLERANCE:.1%})",
                column="tpm_sum",
                min_value=tpm_low,
                max_value=tpm_high,
            ),
            _used(
                gxe.ExpectColumnValuesToBeBetween,
                BLOCKING,
                "a size factor is a positive number",
                column="size_factor",
                min_value=0,
                strict_min=True,
            ),
            _used(
                gxe.ExpectColumnValuesToBeBetween,
                WARNING,
                "a library of fewer than 1 million reads is too shallow to compare",
                column="library_size",
                min_value=1_000_000,
            ),
            _used(
                gxe.ExpectColumnValuesToBeBetween,
                WARNING,
                "size factors beyond 10x from the release's typical sample suggest a failed library",
                column="size_factor",
                min_value=0.1,
                max_value=10,
            ),
            _used(
                gxe.ExpectColumnValuesToBeBetween,
                WARNING,
                "most reads are unmapped: a failed library",
                column="n_unmapped_share",
                min_value=0,
                max_value=0.5,
            ),
        ],
        with_row_count_change,
    )
