"""Raw suites on the real dev bundle (built with transforms/raw_tables.py): the real tables pass; the same
tables with one injected defect fail exactly the expectation that guards against it."""

from __future__ import annotations

import polars as pl
import pytest
from _quality_frames import RELEASE, set_value

from quality.runner import validate_table
from quality.suites import RAW_TABLES

pytestmark = pytest.mark.realdata


def failed(report) -> set[tuple[str, tuple[str, ...]]]:
    return {(row["expectation_type"], tuple(row["columns"])) for row in report.results if not row["success"]}


@pytest.mark.parametrize("table_name", RAW_TABLES)
def test_real_dev_bundle_raw_table_passes_its_suite(table_name: str, real_raw_frames: dict[str, pl.DataFrame]) -> None:
    frame = real_raw_frames[table_name]
    report = validate_table(table_name, frame, release=RELEASE, previous_row_count=frame.height)

    assert [row for row in report.results if not row["success"]] == []
    assert report.success
    assert report.row_count == frame.height > 0
    # The real bundle's counts (realdata/README.md): the suites really looked at every row.
    expected_rows = {
        "raw/gdc_cases": 777,
        "raw/gdc_ssm_occurrences": 1385,
        "raw/gdc_cnv_occurrences": 10200,
        "raw/gdc_methylation_files": 645,
        "raw/mgmt_probe_betas": 1290,
        "raw/gdc_expression_files": 410,  # the RNA bundle's expression files (realdata/README.md)
        "raw/expression_file_qc": 410,
    }[table_name]
    assert report.row_count == expected_rows
    id_not_null = [row for row in report.results if row["expectation_type"] == "expect_column_values_to_not_be_null"]
    assert id_not_null and all(row["element_count"] == expected_rows for row in id_not_null)


def test_duplicated_real_case_fails_uniqueness_as_a_warning_with_its_case_id(
    real_raw_frames: dict[str, pl.DataFrame],
) -> None:
    cases = real_raw_frames["raw/gdc_cases"]
    duplicated = pl.concat([cases, cases.slice(10, 1)])
    case_id = cases["case_id"][10]

    report = validate_table("raw/gdc_cases", duplicated, release=RELEASE)

    assert failed(report) == {("expect_column_values_to_be_unique", ("case_id",))}
    # harmonised/patients collapses or quarantines duplicate documents, so raw only warns (suites.py).
    assert report.success and report.blocking_failures == []
    (row,) = report.warning_failures
    assert row["unexpected_count"] == 2
    assert row["unexpected_examples"] == [case_id]
    assert row["unexpected_row_keys"] == [{"case_id": case_id}]


def test_truncated_case_document_fails_json_parse_as_a_warning(real_raw_frames: dict[str, pl.DataFrame]) -> None:
    cases = real_raw_frames["raw/gdc_cases"]
    document = cases["document"][3]
    broken = set_value(cases, 3, "document", document[:40])

    report = validate_table("raw/gdc_cases", broken, release=RELEASE)

    assert failed(report) == {("expect_column_values_to_be_json_parseable", ("document",))}
    assert report.success  # quarantined downstream (invalid_json)
    (row,) = report.warning_failures
    assert row["unexpected_count"] == 1
    assert row["unexpected_examples"] == [document[:40]]
    assert row["unexpected_row_keys"] == [{"case_id": cases["case_id"][3]}]


def test_missing_occurrence_id_is_blocking(real_raw_frames: dict[str, pl.DataFrame]) -> None:
    ssm = real_raw_frames["raw/gdc_ssm_occurrences"]
    broken = set_value(set_value(ssm, 0, "ssm_occurrence_id", None), 5, "ssm_occurrence_id", None)

    report = validate_table("raw/gdc_ssm_occurrences", broken, release=RELEASE)

    assert failed(report) == {("expect_column_values_to_not_be_null", ("ssm_occurrence_id",))}
    (row,) = report.blocking_failures
    assert row["unexpected_count"] == 2
    assert row["unexpected_examples"] == [None]


def test_chr_prefixed_chromosome_is_a_warning_only(real_raw_frames: dict[str, pl.DataFrame]) -> None:
    cnv = real_raw_frames["raw/gdc_cnv_occurrences"]
    broken = cnv.with_columns(
        pl.when(pl.int_range(pl.len()) < 3)
        .then(pl.lit("chr") + pl.col("chromosome"))
        .otherwise(pl.col("chromosome"))
        .alias("chromosome")
    )

    report = validate_table("raw/gdc_cnv_occurrences", broken, release=RELEASE)

    assert failed(report) == {("expect_column_values_to_match_regex", ("chromosome",))}
    assert report.success  # warning: reported, not blocking
    (row,) = report.warning_failures
    assert row["unexpected_count"] == 3
    assert set(row["unexpected_examples"]) <= {f"chr{value}" for value in cnv["chromosome"].head(3).to_list()}
    assert row["unexpected_row_keys"] == [{"cnv_occurrence_id": value} for value in cnv["cnv_occurrence_id"].head(3)]


@pytest.mark.parametrize(
    ("column", "value", "expectation_type", "severity"),
    [
        ("md5sum", "ZZ" * 16, "expect_column_values_to_match_regex", "blocking"),
        ("file_size", 0, "expect_column_values_to_be_between", "blocking"),
        ("submitter_id", "TCGA-06-0125-01A", "expect_column_values_to_match_regex", "warning"),
        ("project_id", "TCGA-BRCA", "expect_column_values_to_be_in_set", "blocking"),
    ],
)
def test_methylation_file_defect_fails_its_expectation(
    column: str, value: object, expectation_type: str, severity: str, real_raw_frames: dict[str, pl.DataFrame]
) -> None:
    files = real_raw_frames["raw/gdc_methylation_files"]
    broken = set_value(files, 7, column, value)

    report = validate_table("raw/gdc_methylation_files", broken, release=RELEASE)

    assert failed(report) == {(expectation_type, (column,))}
    (row,) = report.blocking_failures + report.warning_failures
    assert row["severity"] == severity
    assert report.success is (severity == "warning")
    assert row["unexpected_count"] == 1
    assert row["unexpected_examples"] == [value]
    assert row["unexpected_row_keys"] == [{"file_id": files["file_id"][7]}]


def test_beta_outside_unit_interval_and_duplicate_probe_fail_as_warnings(
    real_raw_frames: dict[str, pl.DataFrame],
) -> None:
    betas = real_raw_frames["raw/mgmt_probe_betas"]
    broken = pl.concat([set_value(betas, 0, "beta", 1.5), betas.slice(4, 1)])
    file_id, probe_id = betas["file_id"][4], betas["probe_id"][4]

    report = validate_table("raw/mgmt_probe_betas", broken, release=RELEASE)

    assert failed(report) == {
        ("expect_column_values_to_be_between", ("beta",)),
        ("expect_compound_columns_to_be_unique", ("file_id", "probe_id")),
    }
    # The marker calls quarantine both (beta_out_of_range, conflicting_probe_beta): raw only warns.
    assert report.success and report.blocking_failures == []
    rows = {row["expectation_type"]: row for row in report.warning_failures}
    assert rows["expect_column_values_to_be_between"]["unexpected_examples"] == [1.5]
    assert rows["expect_column_values_to_be_between"]["unexpected_count"] == 1
    unique = rows["expect_compound_columns_to_be_unique"]
    assert unique["unexpected_count"] == 2
    assert unique["unexpected_examples"] == [{"file_id": file_id, "probe_id": probe_id}]
    assert unique["unexpected_row_keys"] == [{"file_id": file_id, "probe_id": probe_id}]
