"""Harmonised suites on hand-built frames: valid frames pass; each defect fails exactly its expectation(s),
with the right unexpected count, examples and offending row keys. Real GX validations throughout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl
import pytest
from _quality_frames import (
    BARCODES,
    CASE_IDS,
    HAND_FRAMES,
    RELEASE,
    set_value,
    valid_molecular_markers,
    valid_patients,
    valid_quarantine,
    valid_who_cns5_class,
)

from quality.runner import QualityReport, validate_table


def failed(report: QualityReport) -> set[tuple[str, tuple[str, ...], str | None]]:
    return {
        (row["expectation_type"], tuple(row["columns"]), row["row_condition"])
        for row in report.results
        if not row["success"]
    }


def only_failure(report: QualityReport) -> dict[str, Any]:
    (row,) = [row for row in report.results if not row["success"]]
    return row


@pytest.mark.parametrize("table_name", sorted(HAND_FRAMES))
def test_valid_hand_built_frame_passes_every_expectation(table_name: str) -> None:
    report = validate_table(table_name, HAND_FRAMES[table_name](), release=RELEASE)
    assert report.success
    assert [row for row in report.results if not row["success"]] == []
    assert report.blocking_failures == [] and report.warning_failures == []
    assert len(report.results) >= 5


@dataclass(frozen=True)
class Defect:
    name: str
    table: str
    make: Callable[[], pl.DataFrame]
    expectation_type: str
    columns: tuple[str, ...]
    row_condition: str | None
    severity: str
    unexpected_count: int
    examples: list[Any]
    row_keys: list[dict[str, Any]]


def _duplicate_first_case(frame: pl.DataFrame) -> pl.DataFrame:
    return set_value(frame, 1, "case_id", CASE_IDS[0])


DEFECTS = [
    Defect(
        "duplicate_case_id",
        "harmonised/patients",
        # The duplicate row also carries row 0's barcode so only the key rule is broken.
        lambda: set_value(_duplicate_first_case(valid_patients()), 1, "submitter_id", BARCODES[0]),
        "expect_column_values_to_be_unique",
        ("case_id",),
        None,
        "blocking",
        2,
        [CASE_IDS[0]],
        [{"case_id": CASE_IDS[0]}],
    ),
    Defect(
        "malformed_barcode",
        "harmonised/patients",
        lambda: set_value(valid_patients(), 2, "submitter_id", "TCGA-CS-4938-01A"),
        "expect_column_values_to_match_regex",
        ("submitter_id",),
        None,
        "blocking",
        1,
        ["TCGA-CS-4938-01A"],
        [{"case_id": CASE_IDS[2]}],
    ),
    Defect(
        "project_outside_scope",
        "harmonised/patients",
        lambda: set_value(valid_patients(), 0, "project_id", "TCGA-BRCA"),
        "expect_column_values_to_be_in_set",
        ("project_id",),
        None,
        "blocking",
        1,
        ["TCGA-BRCA"],
        [{"case_id": CASE_IDS[0]}],
    ),
    Defect(
        "age_in_days_not_years",
        "harmonised/patients",
        lambda: set_value(valid_patients(), 1, "age_at_diagnosis_years", 27387.0),
        "expect_column_values_to_be_between",
        ("age_at_diagnosis_years",),
        None,
        "blocking",
        1,
        [27387.0],
        [{"case_id": CASE_IDS[1]}],
    ),
    Defect(
        "negative_survival_time",
        "harmonised/patients",
        lambda: set_value(valid_patients(), 1, "overall_survival_days", -1.0),
        "expect_column_values_to_be_between",
        ("overall_survival_days",),
        None,
        "blocking",
        1,
        [-1.0],
        [{"case_id": CASE_IDS[1]}],
    ),
    Defect(
        "karnofsky_above_100",
        "harmonised/patients",
        lambda: set_value(valid_patients(), 0, "karnofsky_score", 110),
        "expect_column_values_to_be_between",
        ("karnofsky_score",),
        None,
        "blocking",
        1,
        [110],
        [{"case_id": CASE_IDS[0]}],
    ),
    Defect(
        "who_grade_1",
        "harmonised/patients",
        lambda: set_value(valid_patients(), 1, "who_grade", 1),
        "expect_column_values_to_be_in_set",
        ("who_grade",),
        None,
        "blocking",
        1,
        [1],
        [{"case_id": CASE_IDS[1]}],
    ),
    Defect(
        "survival_time_without_event_flag",
        "harmonised/patients",
        lambda: set_value(valid_patients(), 1, "death_observed", None),
        "expect_column_values_to_not_be_null",
        ("death_observed",),
        "overall_survival_days is not null",
        "blocking",
        1,
        [None],
        [{"case_id": CASE_IDS[1]}],
    ),
    Defect(
        "event_flag_without_survival_time",
        "harmonised/patients",
        lambda: set_value(valid_patients(), 1, "overall_survival_days", None),
        "expect_column_values_to_not_be_null",
        ("overall_survival_days",),
        "death_observed is not null",
        "blocking",
        1,
        [None],
        [{"case_id": CASE_IDS[1]}],
    ),
    Defect(
        "observed_death_but_alive",
        "harmonised/patients",
        lambda: set_value(valid_patients(), 3, "vital_status", "Alive"),
        "expect_column_values_to_be_in_set",
        ("vital_status",),
        "death_observed == True",
        "blocking",
        1,
        ["Alive"],
        [{"case_id": CASE_IDS[3]}],
    ),
    Defect(
        "sex_sentinel_not_mapped",
        "harmonised/patients",
        lambda: set_value(valid_patients(), 2, "sex", "not reported"),
        "expect_column_values_to_be_in_set",
        ("sex",),
        None,
        "warning",
        1,
        ["not reported"],
        [{"case_id": CASE_IDS[2]}],
    ),
    Defect(
        "race_sentinel_not_mapped",
        "harmonised/patients",
        lambda: set_value(valid_patients(), 2, "race", "Unknown"),
        "expect_column_values_to_be_in_set",
        ("race",),
        None,
        "warning",
        1,
        ["Unknown"],
        [{"case_id": CASE_IDS[2]}],
    ),
    Defect(
        "partition_mismatch",
        "harmonised/patients",
        lambda: set_value(valid_patients(), 0, "release", "44.0"),
        "expect_column_values_to_be_in_set",
        ("release",),
        None,
        "blocking",
        1,
        ["44.0"],
        [{"case_id": CASE_IDS[0]}],
    ),
    Defect(
        "idh_status_unmapped",
        "harmonised/molecular_markers",
        lambda: set_value(valid_molecular_markers(), 1, "idh_status", "Mutant"),
        "expect_column_values_to_be_in_set",
        ("idh_status",),
        None,
        "blocking",
        1,
        ["Mutant"],
        [{"case_id": CASE_IDS[1]}],
    ),
    Defect(
        "mgmt_probability_above_1",
        "harmonised/molecular_markers",
        lambda: set_value(valid_molecular_markers(), 0, "mgmt_stp27_probability", 1.2),
        "expect_column_values_to_be_between",
        ("mgmt_stp27_probability",),
        None,
        "blocking",
        1,
        [1.2],
        [{"case_id": CASE_IDS[0]}],
    ),
    Defect(
        "gene_mutation_vocabulary_drift",
        "harmonised/molecular_markers",
        lambda: set_value(valid_molecular_markers(), 0, "mutation_tp53", "MUTATED"),
        "expect_column_values_to_be_in_set",
        ("mutation_tp53",),
        None,
        "warning",
        1,
        ["MUTATED"],
        [{"case_id": CASE_IDS[0]}],
    ),
    Defect(
        "duplicate_case_in_markers",
        "harmonised/molecular_markers",
        lambda: set_value(_duplicate_first_case(valid_molecular_markers()), 1, "submitter_id", BARCODES[0]),
        "expect_column_values_to_be_unique",
        ("case_id",),
        None,
        "blocking",
        2,
        [CASE_IDS[0]],
        [{"case_id": CASE_IDS[0]}],
    ),
    Defect(
        "markers_keep_a_case_quarantined_for_its_barcode",
        "harmonised/molecular_markers",
        lambda: set_value(valid_molecular_markers(), 2, "submitter_id", "TCGA-XX"),
        "expect_column_values_to_match_regex",
        ("submitter_id",),
        None,
        "warning",
        1,
        ["TCGA-XX"],
        [{"case_id": CASE_IDS[2]}],
    ),
    Defect(
        "unknown_who_class",
        "harmonised/who_cns5_class",
        lambda: set_value(valid_who_cns5_class(), 0, "who_cns5_class", "glioblastoma"),
        "expect_column_values_to_be_in_set",
        ("who_cns5_class",),
        None,
        "blocking",
        1,
        ["glioblastoma"],
        [{"case_id": CASE_IDS[0]}],
    ),
    Defect(
        "not_classifiable_without_reason",
        "harmonised/who_cns5_class",
        lambda: set_value(valid_who_cns5_class(), 3, "not_classifiable_reason", None),
        "expect_column_values_to_not_be_null",
        ("not_classifiable_reason",),
        "who_cns5_class == 'not classifiable'",
        "warning",
        1,
        [None],
        [{"case_id": CASE_IDS[3]}],
    ),
    Defect(
        "cns5_grade_1",
        "harmonised/who_cns5_class",
        lambda: set_value(valid_who_cns5_class(), 1, "who_cns5_grade", 1),
        "expect_column_values_to_be_in_set",
        ("who_cns5_grade",),
        None,
        "blocking",
        1,
        [1],
        [{"case_id": CASE_IDS[1]}],
    ),
    Defect(
        "idh_wildtype_glioblastoma_not_grade_4",
        "harmonised/who_cns5_class",
        lambda: set_value(valid_who_cns5_class(), 0, "who_cns5_grade", 3),
        "expect_column_values_to_be_in_set",
        ("who_cns5_grade",),
        "who_cns5_class == 'glioblastoma, IDH-wildtype'",
        "blocking",
        1,
        [3],
        [{"case_id": CASE_IDS[0]}],
    ),
    Defect(
        "idh_wildtype_glioblastoma_without_grade",
        "harmonised/who_cns5_class",
        lambda: set_value(valid_who_cns5_class(), 0, "who_cns5_grade", None),
        "expect_column_values_to_not_be_null",
        ("who_cns5_grade",),
        "who_cns5_class == 'glioblastoma, IDH-wildtype'",
        "blocking",
        1,
        [None],
        [{"case_id": CASE_IDS[0]}],
    ),
    Defect(
        "oligodendroglioma_grade_4",
        "harmonised/who_cns5_class",
        lambda: set_value(valid_who_cns5_class(), 2, "who_cns5_grade", 4),
        "expect_column_values_to_be_in_set",
        ("who_cns5_grade",),
        "who_cns5_class == 'oligodendroglioma, IDH-mutant and 1p/19q-codeleted'",
        "blocking",
        1,
        [4],
        [{"case_id": CASE_IDS[2]}],
    ),
    Defect(
        "quarantine_row_without_record",
        "harmonised/quarantine",
        lambda: set_value(valid_quarantine(), 0, "record", None),
        "expect_column_values_to_not_be_null",
        ("record",),
        None,
        "blocking",
        1,
        [None],
        [{"case_id": "b7f2a1c0-0000-4000-8000-0000000000ff", "field": "demographic.days_to_death"}],
    ),
]


@pytest.mark.parametrize("defect", DEFECTS, ids=[defect.name for defect in DEFECTS])
def test_each_harmonised_defect_fails_exactly_its_expectation(defect: Defect) -> None:
    report = validate_table(defect.table, defect.make(), release=RELEASE)

    assert failed(report) == {(defect.expectation_type, defect.columns, defect.row_condition)}
    row = only_failure(report)
    assert row["severity"] == defect.severity
    assert row["unexpected_count"] == defect.unexpected_count
    assert row["unexpected_examples"] == defect.examples
    assert row["unexpected_row_keys"] == defect.row_keys
    # Only a blocking failure fails the check; a warning is reported but lets the run go on.
    assert report.success is (defect.severity == "warning")
    assert len(report.blocking_failures) == (defect.severity == "blocking")
    assert len(report.warning_failures) == (defect.severity == "warning")


def test_several_defects_are_all_reported_with_their_counts() -> None:
    frame = valid_patients()
    frame = set_value(frame, 0, "age_at_diagnosis_years", 150.0)
    frame = set_value(frame, 1, "age_at_diagnosis_years", -2.0)
    frame = set_value(frame, 1, "karnofsky_score", -10)

    report = validate_table("harmonised/patients", frame, release=RELEASE)

    by_column = {row["columns"][0]: row for row in report.results if not row["success"]}
    assert set(by_column) == {"age_at_diagnosis_years", "karnofsky_score"}
    assert by_column["age_at_diagnosis_years"]["unexpected_count"] == 2
    assert sorted(by_column["age_at_diagnosis_years"]["unexpected_examples"]) == [-2.0, 150.0]
    assert by_column["karnofsky_score"]["unexpected_examples"] == [-10]
    assert not report.success


def test_empty_quarantine_passes() -> None:
    report = validate_table("harmonised/quarantine", valid_quarantine().clear(), release=RELEASE)
    assert report.success
    assert report.row_count == 0
