"""Range rules for the numeric clinical fields the harmoniser reads: a value no patient can have (a survival time of
1e12 days, a NaN age) goes to the quarantine with case, field and value, and the rest of the release goes on."""

from __future__ import annotations

import io
import json
import math

import polars as pl
import pytest

from tests.transforms.test_patients import case_document, harmonise, one_patient
from transforms import patients as P
from transforms import survival as surv
from transforms.raw_tables import raw_cases_table
from transforms.survival import survival_endpoint

DIAGNOSIS_FU = "diagnoses.days_to_last_follow_up"
FOLLOW_UP_FU = "follow_ups.days_to_follow_up"
IMPOSSIBLE_DAYS = [1e12, 1e308, float(2**70), math.inf, math.nan, surv.MAX_SURVIVAL_DAYS + 1]


@pytest.mark.parametrize("days", IMPOSSIBLE_DAYS)
def test_a_death_day_no_patient_can_have_is_out_of_range(days: float) -> None:
    out = survival_endpoint("Dead", days, {FOLLOW_UP_FU: [10]})
    assert out["survival_rejection"] == surv.SURVIVAL_TIME_OUT_OF_RANGE
    assert out["survival_rejection_field"] == "demographic.days_to_death"
    assert float(out["survival_rejection_value"]) == days or math.isnan(days)
    assert out["overall_survival_days"] is None and out["death_observed"] is None


@pytest.mark.parametrize("days", IMPOSSIBLE_DAYS)
def test_a_follow_up_day_no_patient_can_have_is_out_of_range(days: float) -> None:
    out = survival_endpoint("Alive", None, {DIAGNOSIS_FU: [300.0], FOLLOW_UP_FU: [days]})
    assert out["survival_rejection"] == surv.SURVIVAL_TIME_OUT_OF_RANGE
    assert out["survival_rejection_field"] == FOLLOW_UP_FU


def test_the_dictionary_maximum_itself_is_accepted() -> None:
    out = survival_endpoint("Alive", None, {FOLLOW_UP_FU: [surv.MAX_SURVIVAL_DAYS]})
    assert (out["survival_rejection"], out["overall_survival_days"]) == (None, surv.MAX_SURVIVAL_DAYS)


@pytest.mark.parametrize("days", [1e12, 1e308, 2**70])
def test_an_impossible_days_to_death_is_quarantined_naming_case_field_and_value_and_the_rest_goes_on(days) -> None:
    bad = case_document("dr45", barcode="TCGA-06-0002")
    bad["demographic"]["days_to_death"] = days
    good = case_document("dr45", barcode="TCGA-06-0003")
    result = harmonise([bad, good])
    assert result.patients["submitter_id"].to_list() == ["TCGA-06-0003"]
    row = result.quarantine.row(0, named=True)
    assert (row["submitter_id"], row["field"], row["reason"]) == (
        "TCGA-06-0002",
        "demographic.days_to_death",
        surv.SURVIVAL_TIME_OUT_OF_RANGE,
    )
    assert float(row["value"]) == float(days)
    assert "32872" in row["detail"] and "TCGA-06-0002" in row["detail"]


def test_a_nan_age_is_quarantined_like_an_impossible_one() -> None:
    document = case_document("dr45")
    document["diagnoses"][0]["age_at_diagnosis"] = "NaN"
    result = harmonise([document])
    assert result.patients.height == 0
    assert result.quarantine.row(0, named=True)["reason"] in {P.AGE_OUT_OF_RANGE, P.INVALID_NUMBER}


def test_an_ordinary_case_is_untouched_by_the_range_rules() -> None:
    assert one_patient(case_document("dr45"))["overall_survival_days"] == 345.0


def test_a_lone_surrogate_in_a_case_document_quarantines_that_case_by_name_and_the_rest_goes_on() -> None:
    bad = case_document("dr45", barcode="TCGA-06-0004")
    bad["diagnoses"][0]["primary_diagnosis"] = "Glio\ud800blastoma"  # valid JSON, not encodable as UTF-8
    good = case_document("dr45", barcode="TCGA-06-0005")
    raw = raw_cases_table([bad, good], "45.0")
    raw.write_parquet(io.BytesIO())  # the raw table is writable: the document is kept, escaped
    assert json.loads(raw["document"][0])["diagnoses"][0]["primary_diagnosis"] == "Glio\ud800blastoma"
    result = harmonise([bad, good])
    assert result.patients["submitter_id"].to_list() == ["TCGA-06-0005"]
    row = result.quarantine.row(0, named=True)
    assert (row["submitter_id"], row["reason"]) == ("TCGA-06-0004", P.UNENCODABLE_TEXT)
    assert "\\ud800" in row["value"] and "TCGA-06-0004" in row["detail"]
    result.quarantine.write_parquet(io.BytesIO())


def test_two_cases_under_one_barcode_are_both_quarantined_with_the_reason() -> None:
    first = case_document("dr45", barcode="TCGA-06-0006")
    second = case_document("dr45", barcode="TCGA-06-0007")
    second["submitter_id"] = "TCGA-06-0006"
    other = case_document("dr45", barcode="TCGA-06-0008")
    result = harmonise([first, second, other])
    assert result.patients["submitter_id"].to_list() == ["TCGA-06-0008"]
    rejected = result.quarantine.filter(pl.col("reason") == P.DUPLICATE_SUBMITTER_ID)
    assert sorted(rejected["case_id"].to_list()) == sorted([first["case_id"], second["case_id"]])
    assert set(rejected["field"]) == {"submitter_id"} and set(rejected["value"]) == {"TCGA-06-0006"}
