"""The runner's contract: severities, row-count bounds, misuse errors, Dagster metadata, Data Docs, speed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
import pytest
from _quality_frames import RELEASE, set_value, valid_patients, valid_quarantine, valid_who_cns5_class

from quality import runner
from quality.runner import MissingColumnError, results_markdown, validate_table
from quality.suites import (
    SUITE_BUILDERS,
    UnknownTableError,
    build_suite,
    row_count_bounds,
    severity_of,
    suite_name_for,
)

ROW_COUNT = "expect_table_row_count_to_be_between"


# --- suites -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table_name", sorted(SUITE_BUILDERS))
def test_every_expectation_is_tagged_blocking_or_warning(table_name: str) -> None:
    suite = build_suite(table_name)
    severities = [severity_of(expectation) for expectation in suite.expectations]
    assert "blocking" in severities
    # The row-count-change expectation is a warning in every suite.
    (row_count,) = [e for e in suite.expectations if e.expectation_type == ROW_COUNT]
    assert severity_of(row_count) == "warning"
    assert suite.name == suite_name_for(table_name) and "/" not in suite.name
    for expectation in suite.expectations:
        assert expectation.severity.value == {"blocking": "critical", "warning": "warning"}[severity_of(expectation)]


def test_suite_without_previous_release_has_no_row_count_expectation() -> None:
    suite = build_suite("harmonised/patients", with_row_count_change=False)
    assert ROW_COUNT not in {e.expectation_type for e in suite.expectations}


def test_unknown_table_is_named_in_the_error() -> None:
    with pytest.raises(UnknownTableError, match=r"no quality suite for table 'harmonised/patient'"):
        validate_table("harmonised/patient", valid_patients(), release=RELEASE)


def test_missing_column_names_table_and_column() -> None:
    frame = valid_patients().drop("overall_survival_days")
    with pytest.raises(
        MissingColumnError, match=r"table harmonised/patients: column\(s\) 'overall_survival_days' missing"
    ):
        validate_table("harmonised/patients", frame, release=RELEASE)


def test_wrongly_typed_column_fails_with_gx_error_instead_of_raising() -> None:
    frame = valid_patients().with_columns(pl.col("age_at_diagnosis_years").cast(pl.String))
    report = validate_table("harmonised/patients", frame, release=RELEASE)
    assert not report.success
    (row,) = report.blocking_failures
    assert row["columns"] == ["age_at_diagnosis_years"]
    assert "must either be None or of the same type" in row["error"]
    assert "| ERROR | blocking | expect_column_values_to_be_between | age_at_diagnosis_years |" in results_markdown(
        report.results
    )


# --- row-count change ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "bound", "expected"),
    [(100, 0.25, (75, 125)), (777, 0.25, (582, 972)), (3, 0.25, (2, 4)), (0, 0.25, (0, 0)), (10, 0.0, (10, 10))],
)
def test_row_count_bounds_are_previous_count_plus_minus_relative_bound(
    previous: int, bound: float, expected: tuple[int, int]
) -> None:
    assert row_count_bounds(previous, bound) == expected


def test_row_count_bounds_reject_negative_counts() -> None:
    with pytest.raises(ValueError, match="previous_row_count must be >= 0"):
        row_count_bounds(-1)


def test_row_count_within_bound_of_previous_release_passes() -> None:
    report = validate_table("harmonised/patients", valid_patients(), release=RELEASE, previous_row_count=5)
    (row,) = [r for r in report.results if r["expectation_type"] == ROW_COUNT]
    assert row["success"] and row["observed_value"] == 4
    assert report.row_count_bounds == (3, 7)
    assert report.notes == []


def test_row_count_drop_beyond_bound_is_a_warning_failure() -> None:
    report = validate_table("harmonised/patients", valid_patients(), release=RELEASE, previous_row_count=10)
    assert report.success  # a warning does not block
    (row,) = report.warning_failures
    assert row["expectation_type"] == ROW_COUNT
    assert row["observed_value"] == 4
    assert row["parameters"] == {"min_value": 7, "max_value": 13}
    assert report.row_count_bounds == (7, 13)


def test_relative_bound_is_configurable() -> None:
    report = validate_table(
        "harmonised/patients", valid_patients(), release=RELEASE, previous_row_count=10, row_count_relative_bound=0.6
    )
    assert report.warning_failures == []
    assert report.row_count_bounds == (4, 16)


def test_first_release_skips_row_count_change_with_a_note() -> None:
    report = validate_table("harmonised/patients", valid_patients(), release=RELEASE)
    assert ROW_COUNT not in {r["expectation_type"] for r in report.results}
    assert report.notes == [
        f"row-count change of harmonised/patients not checked for release {RELEASE}: no previous release to compare with"
    ]
    assert report.to_metadata()["notes"] == report.notes


# --- metadata ------------------------------------------------------------------------------------------------


def test_metadata_is_json_and_tabulates_every_expectation_with_examples() -> None:
    frame = set_value(set_value(valid_patients(), 1, "overall_survival_days", -3.0), 2, "sex", "Unknown")
    report = validate_table("harmonised/patients", frame, release=RELEASE, previous_row_count=4)

    metadata = report.to_metadata()
    assert json.loads(json.dumps(metadata)) == metadata
    assert metadata["success"] is False
    assert metadata["blocking_failed"] == 1 and metadata["warnings_failed"] == 1
    assert (
        metadata["expectations_evaluated"]
        == len(report.results)
        == len(build_suite("harmonised/patients").expectations)
    )
    markdown = metadata["results_markdown"]
    table_rows = [line for line in markdown.splitlines() if line.startswith("| ")][1:]
    assert len(table_rows) == len(report.results)
    (survival_row,) = [line for line in table_rows if "overall_survival_days |  |" in line and "FAIL" in line]
    assert "| 1 (33.33 %) |" in survival_row  # GX: percent of the non-null values
    assert "-3.0" in survival_row and "b7f2a1c0-0000-4000-8000-000000000002" in survival_row
    assert any("'Unknown'" in line and "warning" in line for line in table_rows)
    assert all(isinstance(item, str) for item in metadata["failed_expectations"])


def test_validation_result_rows_are_plain_values() -> None:
    frame = set_value(valid_who_cns5_class(), 1, "who_cns5_grade", 9)
    report = validate_table("harmonised/who_cns5_class", frame, release=RELEASE)
    (row,) = report.blocking_failures
    assert row["unexpected_examples"] == [9] and type(row["unexpected_examples"][0]) is int
    json.dumps(report.results)


# --- Data Docs -------------------------------------------------------------------------------------------


def test_data_docs_site_is_written_and_lists_tables_validated_by_every_process(tmp_path: Path) -> None:
    docs_dir = tmp_path / "reports" / RELEASE / "gx"
    patients = validate_table("harmonised/patients", valid_patients(), release=RELEASE, data_docs_dir=docs_dir)
    # Dagster runs each check in its own process, with its own GX context: drop this process's one.
    runner._WORKSPACES.pop(docs_dir.resolve())
    bad_quarantine = set_value(valid_quarantine(), 1, "reason", None)
    quarantine = validate_table("harmonised/quarantine", bad_quarantine, release=RELEASE, data_docs_dir=docs_dir)

    assert patients.success and not quarantine.success
    assert patients.data_docs_index == quarantine.data_docs_index == docs_dir.resolve() / "index.html"
    index = quarantine.data_docs_index.read_text(encoding="utf-8")
    assert "harmonised.patients" in index and "harmonised.quarantine" in index
    pages = sorted((docs_dir / "validations").rglob("*.html"))
    assert len(pages) == 2
    quarantine_page = next(page for page in pages if "quarantine" in str(page)).read_text(encoding="utf-8")
    assert "harmonised.quarantine" in quarantine_page and "release-45.0" in quarantine_page
    assert "reason" in quarantine_page and "Failed" in quarantine_page
    assert quarantine.to_metadata()["data_docs_index"] == str(docs_dir.resolve() / "index.html")


# --- speed ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_100k_row_table_validates_in_seconds() -> None:
    cases = 100_000
    base = valid_patients()
    frame = pl.concat([base] * (cases // base.height)).with_columns(
        pl.format("case-{}", pl.int_range(pl.len())).alias("case_id")
    )
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 1000 == 0)
        .then(pl.lit(-1.0))
        .otherwise(pl.col("overall_survival_days"))
        .alias("overall_survival_days")
    )

    started = time.perf_counter()
    report = validate_table("harmonised/patients", frame, release=RELEASE, previous_row_count=cases)
    elapsed = time.perf_counter() - started

    print(f"validated {frame.height} rows x {len(report.results)} expectations in {elapsed:.2f} s")
    (row,) = report.blocking_failures
    assert row["unexpected_count"] == 100
    assert row["unexpected_row_keys"][:2] == [{"case_id": "case-0"}, {"case_id": "case-1000"}]
    assert elapsed < 20.0
