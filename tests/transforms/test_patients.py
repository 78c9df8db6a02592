"""harmonise_patients on hand-built GDC case documents of every release profile, and its error paths."""

from __future__ import annotations

import copy
import json
import zlib
from typing import Any

import polars as pl
import pytest

from contracts.schemas import PATIENTS_SCHEMA, QUARANTINE_SCHEMA
from transforms import patients as P
from transforms import vocabularies as vocab
from transforms.patients import harmonise_patients, reconcile_case_counts
from transforms.raw_tables import raw_cases_table

PROFILES = ("pre_dr17", "dr17", "dr42", "dr43", "dr45", "api85")


def case_document(
    profile: str, *, barcode: str = "TCGA-06-0001", project: str = "TCGA-GBM", dead: bool = True, grade: str = "G4"
) -> dict[str, Any]:
    """A /cases hit shaped as the given release returned it (GDC_API_FACTS 2.4, 2.5)."""
    case_id = f"c0ffee00-0000-4000-8000-{zlib.crc32(barcode.encode()):012d}"
    tumor_grade = grade if profile in ("dr42", "dr43", "dr45", "api85") else "Not Reported"
    demographic: dict[str, Any] = {
        "submitter_id": f"{barcode}_demographic",
        "race": "white",
        "ethnicity": "not hispanic or latino",
        "year_of_birth": 1943,
    }
    if profile in ("pre_dr17", "dr17", "dr42", "dr43", "dr45"):
        demographic["gender"] = "male"
    if profile in ("dr45", "api85"):
        demographic["sex_at_birth"] = "male"
    diagnosis: dict[str, Any] = {
        "submitter_id": f"{barcode}_diagnosis",
        "primary_diagnosis": "Glioblastoma",
        "morphology": "9440/3",
        "age_at_diagnosis": 22894,
        "tumor_grade": tumor_grade,
        "classification_of_tumor": "not reported",
        "treatments": [
            {"treatment_type": "Radiation Therapy, NOS", "treatment_or_therapy": "yes"},
            {
                "treatment_type": "Pharmaceutical Therapy, NOS",
                "treatment_or_therapy": "yes",
                "therapeutic_agents": "Temozolomide",
            },
        ],
    }
    if profile != "dr42":  # DR42 moved it to follow_ups only; DR43 moved it back
        diagnosis["days_to_last_follow_up"] = 320.0
    survival_holder = diagnosis if profile == "pre_dr17" else demographic
    survival_holder["vital_status"] = (
        ("dead" if profile == "pre_dr17" else "Dead") if dead else ("alive" if profile == "pre_dr17" else "Alive")
    )
    survival_holder["days_to_death"] = 345 if dead else None
    if profile != "pre_dr17":
        demographic["age_at_index"] = 62
    document: dict[str, Any] = {
        "id": case_id,
        "case_id": case_id,
        "submitter_id": barcode,
        "project": {"project_id": project},
        "disease_type": "Gliomas",
        "primary_site": "Brain",
        "demographic": demographic,
        "diagnoses": [diagnosis],
    }
    if profile != "pre_dr17":  # follow_up entity exists since API v1.10 / 2017; TCGA used it after DR17
        document["follow_ups"] = [
            {"submitter_id": f"{barcode}_follow_up", "days_to_follow_up": 320, "karnofsky_performance_status": "80"}
        ]
    if profile in ("dr42", "api85"):
        document["diagnoses"].append(
            {
                "submitter_id": f"{barcode}_diagnosis2",
                "primary_diagnosis": "Glioblastoma",
                "classification_of_tumor": "recurrence",
                "diagnosis_is_primary_disease": False,
                "age_at_diagnosis": 23100,
                "tumor_grade": "G4",
                "days_to_last_follow_up": 330.0,
                "treatments": [{"treatment_type": "Surgery, NOS", "treatment_or_therapy": "yes"}],
            }
        )
        document["diagnoses"][0]["diagnosis_is_primary_disease"] = True
        document["diagnoses"].reverse()  # list order is not a signal
    return document


def harmonise(documents: list[dict[str, Any]], release: str = "45.0") -> P.HarmonisedPatients:
    raw = raw_cases_table(documents, release)
    result = harmonise_patients(raw)
    counts = reconcile_case_counts(raw, result.patients, result.quarantine)
    assert counts["reconciles"], counts
    return result


def one_patient(document: dict[str, Any]) -> dict[str, Any]:
    result = harmonise([document])
    assert result.quarantine.height == 0, result.quarantine.get_column("detail").to_list()
    return result.patients.row(0, named=True)


def rejection(document: dict[str, Any]) -> dict[str, Any]:
    result = harmonise([document])
    assert result.patients.height == 0
    assert result.quarantine.height >= 1
    return result.quarantine.row(0, named=True)


# --- release profiles ----------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_every_release_profile_gives_the_same_patient(profile: str) -> None:
    patient = one_patient(case_document(profile))
    assert patient["sex"] == "male"
    assert patient["race"] == "white"
    assert patient["vital_status"] == "Dead"
    assert patient["death_observed"] is True
    assert patient["overall_survival_days"] == 345.0
    assert patient["age_at_diagnosis_years"] == pytest.approx(22894 / 365.25)
    assert patient["histology_family"] == "glioblastoma"
    assert patient["who_grade"] == 4
    assert (patient["received_radiation"], patient["received_chemotherapy"], patient["received_temozolomide"]) == (
        True,
        True,
        True,
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_alive_case_is_censored_at_last_follow_up_in_every_profile(profile: str) -> None:
    patient = one_patient(case_document(profile, dead=False))
    assert patient["vital_status"] == "Alive"
    assert patient["death_observed"] is False
    expected = 330.0 if profile in ("dr42", "api85") else 320.0  # the recurrence diagnosis has a later day
    assert patient["overall_survival_days"] == expected


def test_vital_status_moved_to_demographic_in_dr17_is_read_from_both() -> None:
    before, after = one_patient(case_document("pre_dr17")), one_patient(case_document("dr17"))
    assert before["vital_status"] == after["vital_status"] == "Dead"
    assert before["overall_survival_days"] == after["overall_survival_days"] == 345.0


def test_sex_comes_from_sex_at_birth_else_gender() -> None:
    document = case_document("dr45")
    document["demographic"]["sex_at_birth"] = "female"  # the newer field wins
    assert one_patient(document)["sex"] == "female"
    document["demographic"]["sex_at_birth"] = "unknown"
    assert one_patient(document)["sex"] == "male"
    assert one_patient(case_document("api85"))["sex"] == "male"


def test_tumor_grade_not_reported_before_dr42_uses_the_gbm_project_and_explains_lgg() -> None:
    gbm = one_patient(case_document("dr17"))
    assert (gbm["who_grade"], gbm["who_grade_source"], gbm["who_grade_missing_reason"]) == (4, "project_gbm", None)
    lgg = one_patient(case_document("dr17", barcode="TCGA-DU-0001", project="TCGA-LGG"))
    assert lgg["who_grade"] is None and lgg["who_grade_source"] is None
    assert "Not Reported" in lgg["who_grade_missing_reason"] and "TCGA-LGG" in lgg["who_grade_missing_reason"]


@pytest.mark.parametrize(("grade", "expected"), [("G2", 2), ("G3", 3), ("g3", 3), ("G4", 4)])
def test_tumor_grade_after_dr42_gives_the_who_grade(grade: str, expected: int) -> None:
    patient = one_patient(case_document("dr43", barcode="TCGA-DU-0002", project="TCGA-LGG", grade=grade))
    assert (patient["who_grade"], patient["who_grade_source"]) == (expected, "tumor_grade")


def test_non_who_tumor_grade_is_recognised_but_gives_no_grade() -> None:
    patient = one_patient(case_document("dr43", barcode="TCGA-DU-0003", project="TCGA-LGG", grade="GX"))
    assert patient["who_grade"] is None
    assert "GX" in patient["who_grade_missing_reason"]


def test_primary_diagnosis_is_picked_by_flag_not_list_order() -> None:
    document = case_document("dr42")
    document["diagnoses"][0]["primary_diagnosis"] = "Astrocytoma, anaplastic"  # the recurrence (listed first)
    patient = one_patient(document)
    assert patient["primary_diagnosis"] == "Glioblastoma"
    assert patient["age_at_diagnosis_years"] == pytest.approx(22894 / 365.25)
    assert patient["received_radiation"] is True  # treatments of the primary, not the recurrence's surgery


def test_primary_diagnosis_without_flag_falls_back_to_plain_diagnosis_submitter_id() -> None:
    document = case_document("dr42")
    for diagnosis in document["diagnoses"]:
        diagnosis.pop("diagnosis_is_primary_disease")
        diagnosis["classification_of_tumor"] = "not reported"
    document["diagnoses"][0]["primary_diagnosis"] = "Oligodendroglioma, NOS"  # the `_diagnosis2` one
    assert one_patient(document)["primary_diagnosis"] == "Glioblastoma"
    index, how = P.pick_primary_diagnosis(document["diagnoses"])
    assert document["diagnoses"][index]["submitter_id"].endswith("_diagnosis") and how == "submitter_id"


# --- vocabulary and values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "not reported",
        "Not Reported",
        "NOT REPORTED",
        "Unknown",
        "unknown",
        "not allowed to collect",
        "Not Applicable",
        "'--",
        "[Not Available]",
    ],
)
def test_sentinels_in_any_casing_become_null(spelling: str) -> None:
    document = case_document("dr45")
    document["demographic"]["race"] = spelling
    document["demographic"]["ethnicity"] = spelling
    patient = one_patient(document)
    assert patient["race"] is None and patient["ethnicity"] is None


def test_unmapped_value_is_quarantined_naming_case_field_and_value() -> None:
    document = case_document("dr45")
    document["demographic"]["race"] = "martian"
    row = rejection(document)
    assert (row["field"], row["value"], row["reason"]) == ("demographic.race", "martian", P.UNMAPPED_VALUE)
    assert "TCGA-06-0001" in row["detail"] and "demographic.race" in row["detail"] and "martian" in row["detail"]
    assert json.loads(row["record"])["demographic"]["race"] == "martian"
    assert row["table"] == "raw/gdc_cases"


def test_explicit_null_and_absent_key_are_the_same() -> None:
    absent, explicit = case_document("dr45"), case_document("dr45")
    del absent["demographic"]["race"]
    explicit["demographic"]["race"] = None
    assert one_patient(absent)["race"] is one_patient(explicit)["race"] is None


def test_age_falls_back_to_age_at_index_and_rejects_impossible_ages() -> None:
    document = case_document("dr45")
    del document["diagnoses"][0]["age_at_diagnosis"]
    assert one_patient(document)["age_at_diagnosis_years"] == 62.0
    document["diagnoses"][0]["age_at_diagnosis"] = 365.25 * 130
    row = rejection(document)
    assert (row["field"], row["reason"]) == ("diagnoses.age_at_diagnosis", P.AGE_OUT_OF_RANGE)
    document["diagnoses"][0]["age_at_diagnosis"] = -10
    assert rejection(document)["reason"] == P.AGE_OUT_OF_RANGE


def test_karnofsky_string_becomes_an_integer_and_garbage_is_quarantined() -> None:
    document = case_document("dr45")
    assert one_patient(document)["karnofsky_score"] == 80
    document["follow_ups"][0]["karnofsky_performance_status"] = "eighty"
    row = rejection(document)
    assert (row["field"], row["value"], row["reason"]) == (
        "follow_ups.karnofsky_performance_status",
        "eighty",
        P.INVALID_KARNOFSKY_SCORE,
    )


def test_float_days_and_numeric_strings_are_read_as_days() -> None:
    document = case_document("dr45", dead=False)
    document["diagnoses"][0]["days_to_last_follow_up"] = "839.0"
    document["follow_ups"][0]["days_to_follow_up"] = 12
    assert one_patient(document)["overall_survival_days"] == 839.0


def test_garbage_in_a_day_field_is_quarantined_as_not_a_number() -> None:
    document = case_document("dr45", dead=False)
    document["follow_ups"][0]["days_to_follow_up"] = "soon"
    row = rejection(document)
    assert (row["field"], row["value"], row["reason"]) == ("follow_ups.days_to_follow_up", "soon", P.INVALID_NUMBER)


def test_boolean_in_a_day_field_is_not_a_number() -> None:
    document = case_document("dr45")
    document["demographic"]["days_to_death"] = True
    assert rejection(document)["reason"] == P.INVALID_NUMBER


def test_treatment_flags_are_null_when_nothing_is_recorded_and_false_when_recorded_no() -> None:
    document = case_document("dr45")
    del document["diagnoses"][0]["treatments"]
    patient = one_patient(document)
    assert (patient["received_radiation"], patient["received_chemotherapy"], patient["received_temozolomide"]) == (
        None,
        None,
        None,
    )
    document["diagnoses"][0]["treatments"] = [
        {"treatment_type": "Radiation Therapy, NOS", "treatment_or_therapy": "no"},
        {"treatment_type": "Pharmaceutical Therapy, NOS", "treatment_or_therapy": "no"},
    ]
    patient = one_patient(document)
    assert (patient["received_radiation"], patient["received_chemotherapy"], patient["received_temozolomide"]) == (
        False,
        False,
        False,
    )


def test_chemotherapy_with_another_named_agent_means_no_temozolomide_and_unnamed_means_unknown() -> None:
    document = case_document("dr45")
    document["diagnoses"][0]["treatments"][1]["therapeutic_agents"] = "Lomustine"
    patient = one_patient(document)
    assert (patient["received_chemotherapy"], patient["received_temozolomide"]) == (True, False)
    del document["diagnoses"][0]["treatments"][1]["therapeutic_agents"]
    patient = one_patient(document)
    assert (patient["received_chemotherapy"], patient["received_temozolomide"]) == (True, None)


def test_unknown_treatment_type_is_quarantined() -> None:
    document = case_document("dr45")
    document["diagnoses"][0]["treatments"][0]["treatment_type"] = "Leeches"
    row = rejection(document)
    assert (row["field"], row["value"]) == ("diagnoses.treatments.treatment_type", "Leeches")


def test_icdo_topography_in_primary_diagnosis_uses_morphology_and_notes_it() -> None:
    document = case_document("pre_dr17")
    document["diagnoses"][0]["primary_diagnosis"] = "c71.9"
    result = harmonise([document])
    assert result.patients.row(0, named=True)["histology_family"] == "glioblastoma"
    assert "topography" in result.notes.filter(pl.col("field") == "diagnoses.primary_diagnosis")["note"][0]
    del document["diagnoses"][0]["morphology"]
    assert one_patient(document)["histology_family"] is None


def test_vocabulary_maps_never_map_a_sentinel() -> None:
    for vocabulary in vocab.ALL_VOCABULARIES:
        assert not vocab.SENTINELS.intersection(vocabulary.mapping), vocabulary.family
        assert vocabulary.lookup("Not Reported").kind is vocab.ValueKind.SENTINEL
        assert vocabulary.lookup("zzz-not-a-value").kind is vocab.ValueKind.UNMAPPED


# --- structure, duplicates, reconciliation -------------------------------------------------------


def test_malformed_child_collection_is_quarantined_not_raised() -> None:
    document = case_document("dr45")
    document["diagnoses"] = "garbage"
    row = rejection(document)
    assert (row["field"], row["reason"]) == ("diagnoses", P.MALFORMED_DOCUMENT)


def test_invalid_json_document_is_quarantined() -> None:
    raw = raw_cases_table([case_document("dr45")], "45.0").with_columns(pl.lit("{not json").alias("document"))
    result = harmonise_patients(raw)
    assert result.patients.height == 0
    assert result.quarantine.row(0, named=True)["reason"] == P.INVALID_JSON
    assert reconcile_case_counts(raw, result.patients, result.quarantine)["reconciles"]


def test_identical_duplicate_documents_collapse_into_one_patient_with_a_note() -> None:
    document = case_document("dr45")
    result = harmonise([document, copy.deepcopy(document)])
    assert result.patients.height == 1 and result.quarantine.height == 0
    assert result.notes.filter(pl.col("note").str.contains("duplicate")).height == 1


def test_conflicting_duplicate_documents_quarantine_the_case_with_every_document() -> None:
    first, second = case_document("dr45"), case_document("dr45")
    second["demographic"]["days_to_death"] = 999
    raw = raw_cases_table([first, second, case_document("dr45", barcode="TCGA-06-0002")], "45.0")
    result = harmonise_patients(raw)
    counts = reconcile_case_counts(raw, result.patients, result.quarantine)
    assert counts["reconciles"] and counts["raw_rows"] == 3 and counts["raw_cases"] == 2
    assert counts["patients"] == 1 and counts["quarantined_cases"] == 1 and counts["quarantine_rows"] == 2
    assert set(result.quarantine.get_column("reason")) == {P.CONFLICTING_DUPLICATE_DOCUMENTS}


def test_case_without_any_id_is_quarantined_and_counted() -> None:
    document = case_document("dr45")
    del document["case_id"], document["id"]
    raw = raw_cases_table([document, case_document("dr45", barcode="TCGA-06-0002")], "45.0")
    result = harmonise_patients(raw)
    counts = reconcile_case_counts(raw, result.patients, result.quarantine)
    assert counts["reconciles"] and counts["raw_cases"] == 2 and counts["quarantined_cases"] == 1
    assert result.quarantine.row(0, named=True)["reason"] == P.MISSING_CASE_ID


def test_reconciliation_fails_when_a_case_is_dropped_or_in_both() -> None:
    documents = [case_document("dr45", barcode=f"TCGA-06-{i:04d}") for i in range(3)]
    raw = raw_cases_table(documents, "45.0")
    result = harmonise_patients(raw)
    dropped = reconcile_case_counts(raw, result.patients.head(2), result.quarantine)
    assert not dropped["reconciles"] and dropped["cases_in_neither"] == 1
    both = reconcile_case_counts(
        raw,
        result.patients,
        pl.concat(
            [
                result.quarantine,
                result.quarantine.clear(1).with_columns(
                    pl.lit(result.patients["case_id"][0]).alias("case_id"),
                    pl.lit("45.0").alias("release"),
                    pl.lit("raw/gdc_cases").alias("table"),
                ),
            ]
        ),
    )
    assert not both["reconciles"] and both["cases_in_both"] == 1


def test_output_tables_follow_the_contract_schemas() -> None:
    result = harmonise([case_document(p, barcode=f"TCGA-06-{i:04d}") for i, p in enumerate(PROFILES)])
    assert dict(result.patients.schema) == PATIENTS_SCHEMA
    assert dict(result.quarantine.schema) == QUARANTINE_SCHEMA
    assert result.patients.height == len(PROFILES)


def test_several_problems_in_one_case_give_one_row_each_but_one_quarantined_case() -> None:
    document = case_document("dr45")
    document["demographic"]["race"] = "martian"
    document["demographic"]["days_to_death"] = -5
    raw = raw_cases_table([document], "45.0")
    result = harmonise_patients(raw)
    assert set(result.quarantine.get_column("field")) == {"demographic.race", "demographic.days_to_death"}
    assert reconcile_case_counts(raw, result.patients, result.quarantine)["quarantined_cases"] == 1


@pytest.mark.parametrize("barcode", ["TCGA_06_0001", "tcga-06-0001", "TCGA-06-000", "TCGA-06-0001-01A-XX"])
def test_malformed_tcga_barcode_is_quarantined(barcode: str) -> None:
    row = rejection(case_document("dr45", barcode=barcode))
    assert (row["field"], row["value"], row["reason"]) == ("submitter_id", barcode, P.INVALID_BARCODE)


def test_missing_submitter_id_is_quarantined() -> None:
    document = case_document("dr45")
    del document["submitter_id"]
    row = rejection(document)
    assert (row["field"], row["value"], row["reason"]) == ("submitter_id", None, P.MISSING_REQUIRED_FIELD)
    assert "submitter_id = missing" in row["detail"]
